// fuzz_file.c: the temp files of fuzz.h, one per tag and process under $TMPDIR (or /tmp),
// removed at exit; and the sanitizer settings of every harness (libFuzzer's and the replay's).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"

enum { FUZZ_TAGS = 4, FUZZ_PATH = 512 };

static char paths[FUZZ_TAGS][FUZZ_PATH];  // a process's own temp files (a harness, not library)
static const char *tags[FUZZ_TAGS];

static void remove_files(void) {
  for (int i = 0; i < FUZZ_TAGS; i++)
    if (tags[i]) unlink(paths[i]);
}

const char *fuzz_file(const char *tag, const uint8_t *data, size_t size) {
  int i = 0;
  while (i < FUZZ_TAGS && tags[i] && strcmp(tags[i], tag)) i++;
  if (i == FUZZ_TAGS) return NULL;
  if (!tags[i]) {
    const char *dir = getenv("TMPDIR");
    snprintf(paths[i], FUZZ_PATH, "%s/ecore_fuzz_%ld_%s", dir && *dir ? dir : "/tmp",
             (long)getpid(), tag);
    if (i == 0) atexit(remove_files);
    tags[i] = tag;
  }
  FILE *f = fopen(paths[i], "wb");
  if (!f) return NULL;
  int ok = fwrite(data, 1, size, f) == size;
  ok = !fclose(f) && ok;
  return ok ? paths[i] : NULL;
}

uint8_t *fuzz_read(const char *path, size_t *size) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  rewind(f);
  uint8_t *buf = n >= 0 ? malloc(n > 0 ? (size_t)n : 1) : NULL;  // [n]
  if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) free(buf), buf = NULL;
  fclose(f);
  *size = buf ? (size_t)n : 0;
  return buf;
}

// Debian's HDF5 1.10 is not instrumented and has bugs of its own on damaged files
// (docs/fuzzing.md): it mallocs sizes read from damaged metadata (terabytes) and handles the NULL,
// so allocations ASan cannot serve return NULL (libFuzzer's -malloc_limit_mb still reports any
// above 2 GB that succeed); and it leaks some of its blocks, so leaks allocated inside libhdf5 are
// not reported (ours have the ecore function that called malloc on their stack).
const char *__asan_default_options(void);
const char *__asan_default_options(void) {
  return "allocator_may_return_null=1";
}
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) {
  return "leak:libhdf5\n";
}
