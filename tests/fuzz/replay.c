// replay.c: feeds every file named on the command line (a folder: every file in it) to the
// harness it is linked with, once, in the order given; no libFuzzer needed, so the corpus runs
// under CTest in every build. Prints how many inputs ran; exits 1 if one cannot be read (a
// crash or a sanitizer report ends the process on its own).
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

// Runs the file at path; 0, or 1 if it cannot be read.
static int run_file(const char *path) {
  size_t n;
  uint8_t *buf = fuzz_read(path, &n);
  if (!buf) return fprintf(stderr, "%s: cannot read\n", path), 1;
  LLVMFuzzerTestOneInput(buf, n);
  free(buf);
  return 0;
}

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

// Runs every regular file of dir, sorted by name; adds them to *count.
static int run_dir(const char *dir, int *count) {
  DIR *d = opendir(dir);
  if (!d) return fprintf(stderr, "%s: cannot open the folder\n", dir), 1;
  char **names = NULL;
  int n = 0, rc = 0;
  for (struct dirent *de; (de = readdir(d));) {
    if (de->d_name[0] == '.') continue;
    char **grown = realloc(names, (size_t)(n + 1) * sizeof *names);
    if (!grown) break;
    names = grown;
    size_t len = strlen(dir) + strlen(de->d_name) + 2;
    if (!(names[n] = malloc(len))) break;
    snprintf(names[n++], len, "%s/%s", dir, de->d_name);
  }
  closedir(d);
  qsort(names, (size_t)n, sizeof *names, by_name);
  for (int i = 0; i < n; i++) {
    struct stat st;
    if (!stat(names[i], &st) && S_ISREG(st.st_mode)) rc |= run_file(names[i]), ++*count;
    free(names[i]);
  }
  free(names);
  return rc;
}

int main(int argc, char **argv) {
  int rc = 0, count = 0;
  for (int i = 1; i < argc; i++) {
    struct stat st;
    if (!stat(argv[i], &st) && S_ISDIR(st.st_mode))
      rc |= run_dir(argv[i], &count);
    else
      rc |= run_file(argv[i]), count++;
  }
  printf("%d inputs run\n", count);
  return rc || count == 0;
}
