// data_cifar.c: the CIFAR-10 / CIFAR-100 "binary version" files.
//
// A file is a sequence of fixed-size records: the label byte(s) (CIFAR-10: the class;
// CIFAR-100: the coarse then the fine class), then 3072 pixel bytes: 1024 red, 1024 green,
// 1024 blue, each plane 32 rows of 32. So a record's pixels are already [c, h, w].
// The files are plain (the official tarballs hold them uncompressed), which lets us check a
// file's size against the record size before reading it.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data.h"

enum { CIFAR_C = 3, CIFAR_SIDE = 32, CIFAR_PIXELS = 3 * 32 * 32, CIFAR_CHUNK = 512 };

typedef struct {
  int label_bytes;  // 1 (cifar10) or 2 (cifar100: coarse, fine)
  int classes;      // of the label used: 10, or 100 (fine)
  int coarse;       // cifar100: classes of the coarse label (checked too), else 0
} CifarFormat;

static CifarFormat cifar_format(const DataSpec *spec) {
  CifarFormat f = {1, 10, 0};
  if (!strcmp(spec->name, "cifar100")) f = (CifarFormat){2, 100, 20};
  return f;
}

int data_cifar_paths(char paths[2 * DATA_MAX_FILES][DATA_PATH_MAX], int *n_train, int *n_test,
                     const DataSpec *spec, Err *e) {
  static const char *const c10_train[] = {"data_batch_1.bin", "data_batch_2.bin",
                                          "data_batch_3.bin", "data_batch_4.bin",
                                          "data_batch_5.bin"};
  static const char *const c10_test[] = {"test_batch.bin"}, *const c100_train[] = {"train.bin"},
                           *const c100_test[] = {"test.bin"};
  int c100 = !strcmp(spec->name, "cifar100");
  const char *subdir = c100 ? "cifar-100-binary" : "cifar-10-batches-bin";  // tarball folders
  const char *train[DATA_MAX_FILES], *test[DATA_MAX_FILES];
  *n_train = spec->n_train_files ? spec->n_train_files : (c100 ? 1 : 5);
  *n_test = spec->n_test_files ? spec->n_test_files : 1;
  for (int i = 0; i < *n_train; i++)
    train[i] = spec->n_train_files ? spec->train_files[i] : (c100 ? c100_train : c10_train)[i];
  for (int i = 0; i < *n_test; i++)
    test[i] = spec->n_test_files ? spec->test_files[i] : (c100 ? c100_test : c10_test)[i];
  for (int i = 0; i < *n_train + *n_test; i++) {
    int is_test = i >= *n_train, given = is_test ? spec->n_test_files : spec->n_train_files;
    const char *name = is_test ? test[i - *n_train] : train[i];
    int rc = data_find(paths[i], spec->root, name, 0, given ? NULL : &subdir, given ? 0 : 1, e);
    if (rc) return rc;
  }
  return 0;
}

// Number of whole records in the file; an empty or cut file is an error.
static int count_records(const char *path, int64_t rec, int64_t *n, Err *e) {
  struct stat st;
  if (stat(path, &st) != 0)
    return errf(e, ERR_CONFIG, "%s: cannot stat (%s)", path, strerror(errno));
  int64_t size = st.st_size;
  if (size == 0 || size % rec)
    return errf(e, ERR_RUNTIME,
                "%s: truncated or not a CIFAR binary file: size %lld bytes, expected a non-zero "
                "multiple of the %lld-byte record",
                path, (long long)size, (long long)rec);
  *n = size / rec;
  return 0;
}

// Unpacks k records from buf into s at position at; checks labels.
static int unpack(ImageSet *s, int64_t at, const uint8_t *buf, int64_t k, CifarFormat f,
                  const char *path, int64_t first, Err *e) {
  int64_t rec = f.label_bytes + CIFAR_PIXELS;
  for (int64_t r = 0; r < k; r++) {
    const uint8_t *p = buf + r * rec;
    int label = p[f.label_bytes - 1];
    if (f.coarse && p[0] >= f.coarse)
      return errf(e, ERR_RUNTIME, "%s: coarse label %d in record %lld out of range [0, %d)", path,
                  p[0], (long long)(first + r), f.coarse);
    if (label >= f.classes)
      return errf(e, ERR_RUNTIME, "%s: label %d in record %lld out of range [0, %d)", path, label,
                  (long long)(first + r), f.classes);
    s->labels[at + r] = label;
    memcpy(s->images + (at + r) * CIFAR_PIXELS, p + f.label_bytes, CIFAR_PIXELS);
  }
  return 0;
}

// Reads the first k records of path into s from position at.
static int read_file(ImageSet *s, int64_t at, int64_t k, const char *path, CifarFormat f,
                     uint8_t *buf, Err *e) {
  FILE *fp = fopen(path, "rb");
  if (!fp) return errf(e, ERR_RUNTIME, "%s: cannot open (%s)", path, strerror(errno));
  int64_t rec = f.label_bytes + CIFAR_PIXELS;
  int rc = 0;
  for (int64_t done = 0; !rc && done < k;) {
    int64_t want = k - done < CIFAR_CHUNK ? k - done : CIFAR_CHUNK;
    size_t got = fread(buf, (size_t)rec, (size_t)want, fp);
    if ((int64_t)got < want)
      rc = errf(e, ERR_RUNTIME, "%s: truncated: read %lld of %lld records", path,
                (long long)(done + (int64_t)got), (long long)k);
    else
      rc = unpack(s, at + done, buf, want, f, path, done, e);
    done += want;
  }
  fclose(fp);
  return rc;
}

static int load_set(ImageSet *s, char (*paths)[DATA_PATH_MAX], int n_files, CifarFormat f,
                    int64_t max, Err *e) {
  int64_t rec = f.label_bytes + CIFAR_PIXELS, counts[DATA_MAX_FILES], total = 0;
  for (int i = 0; i < n_files; i++) {
    int rc = count_records(paths[i], rec, &counts[i], e);
    if (rc) return rc;
    total += counts[i];
  }
  *s = (ImageSet){.n = (max > 0 && max < total) ? max : total,
                  .c = CIFAR_C,
                  .h = CIFAR_SIDE,
                  .w = CIFAR_SIDE,
                  .num_classes = f.classes};
  s->images = malloc((size_t)s->n * CIFAR_PIXELS);
  s->labels = malloc((size_t)s->n * sizeof *s->labels);
  uint8_t *buf = malloc((size_t)(CIFAR_CHUNK * rec));
  int rc = (!s->images || !s->labels || !buf) ? errf(e, ERR_RUNTIME, "out of memory") : 0;
  for (int64_t i = 0, at = 0; !rc && i < n_files && at < s->n; i++) {
    int64_t k = s->n - at < counts[i] ? s->n - at : counts[i];
    rc = read_file(s, at, k, paths[i], f, buf, e);
    at += k;
  }
  free(buf);
  if (rc) imageset_free(s);
  return rc;
}

int data_cifar_peek(const DataSpec *spec, Err *e) {
  char(*paths)[DATA_PATH_MAX] = malloc(2 * DATA_MAX_FILES * sizeof *paths);
  if (!paths) return errf(e, ERR_RUNTIME, "out of memory");
  int n_train = 0, n_test = 0;
  CifarFormat f = cifar_format(spec);
  int64_t n;
  int rc = data_cifar_paths(paths, &n_train, &n_test, spec, e);
  for (int i = 0; !rc && i < n_train + n_test; i++)
    rc = count_records(paths[i], f.label_bytes + CIFAR_PIXELS, &n, e);
  free(paths);
  return rc;
}

int data_load_cifar(ImageSet *train, ImageSet *test, const DataSpec *spec, Err *e) {
  memset(train, 0, sizeof *train);
  memset(test, 0, sizeof *test);
  char(*paths)[DATA_PATH_MAX] = malloc(2 * DATA_MAX_FILES * sizeof *paths);
  if (!paths) return errf(e, ERR_RUNTIME, "out of memory");
  int n_train, n_test;
  CifarFormat f = cifar_format(spec);
  int rc = data_cifar_paths(paths, &n_train, &n_test, spec, e);
  if (!rc) rc = load_set(train, paths, n_train, f, spec->max_train, e);
  if (!rc) rc = load_set(test, paths + n_train, n_test, f, spec->max_test, e);
  free(paths);
  if (rc) {
    imageset_free(train);
    imageset_free(test);
  }
  return rc;
}
