// data_idx.c: MNIST-style idx files (mnist, fashion-mnist), gzip-compressed or raw.
// zlib's gzread reads uncompressed files transparently, so one reader serves both.
//
// idx: big-endian u32 magic (0x00000803 for 3-d ubyte images, 0x00000801 for 1-d ubyte
// labels), one big-endian u32 per dimension, then the bytes, row-major.
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "data.h"

enum { IDX_IMAGES = 0x00000803, IDX_LABELS = 0x00000801, IDX_CLASSES = 10, IDX_MAX_SIDE = 4096 };

int data_idx_paths(char paths[4][DATA_PATH_MAX], const DataSpec *spec, Err *e) {
  static const char *const defaults[4] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                          "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};
  static const char *const subdirs[1] = {"raw"};  // torchvision's MNIST/raw
  for (int i = 0; i < 4; i++) {
    int test = i >= 2, n = test ? spec->n_test_files : spec->n_train_files;
    const char *explicit = n ? (test ? spec->test_files[i - 2] : spec->train_files[i]) : NULL;
    int rc = explicit ? data_find(paths[i], spec->root, explicit, 0, NULL, 0, e)
                      : data_find(paths[i], spec->root, defaults[i], 1, subdirs, 1, e);
    if (rc) return rc;
  }
  return 0;
}

// zlib's message without the "path: " it puts in front (ours names the file already).
static const char *gz_reason(const char *msg, const char *path) {
  size_t n = strlen(path);
  return (!strncmp(msg, path, n) && !strncmp(msg + n, ": ", 2)) ? msg + n + 2 : msg;
}

// Reads exactly n bytes (in chunks: gzread takes an unsigned int). *got = bytes read.
// A gzip error is reported here; a short read is left to the caller, who knows what was expected.
static int gz_read(gzFile f, const char *path, void *buf, int64_t n, int64_t *got, Err *e) {
  *got = 0;
  while (*got < n) {
    int64_t chunk = n - *got < (1 << 28) ? n - *got : (1 << 28);
    int r = gzread(f, (uint8_t *)buf + *got, (unsigned)chunk);
    int errnum = Z_OK;
    const char *msg = gzerror(f, &errnum);
    if (r < 0 || (errnum != Z_OK && errnum != Z_BUF_ERROR))
      return errf(e, ERR_RUNTIME, "%s: bad gzip stream (%s)", path, gz_reason(msg, path));
    if (r == 0) break;  // end of file (Z_BUF_ERROR: the gzip stream was cut short)
    *got += r;
  }
  return 0;
}

// After the last expected byte: the file must end there, and (for gzip) its checksum be right.
static int gz_expect_end(gzFile f, const char *path, Err *e) {
  uint8_t extra;
  int64_t got;
  int rc = gz_read(f, path, &extra, 1, &got, e);
  if (rc) return rc;
  if (got) return errf(e, ERR_RUNTIME, "%s: trailing data after the declared contents", path);
  int errnum = Z_OK;
  const char *msg = gzerror(f, &errnum);
  if (errnum != Z_OK)
    return errf(e, ERR_RUNTIME, "%s: truncated gzip stream (%s)", path, gz_reason(msg, path));
  return 0;
}

static int gz_open(gzFile *f, const char *path, Err *e) {
  errno = 0;
  *f = gzopen(path, "rb");
  if (!*f)
    return errf(e, ERR_RUNTIME, "%s: cannot open (%s)", path, errno ? strerror(errno) : "zlib");
  gzbuffer(*f, 1 << 17);
  return 0;
}

static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

// Reads the magic and n_dims dimensions into dims.
static int idx_header(gzFile f, const char *path, uint32_t magic, int n_dims, uint32_t *dims,
                      Err *e) {
  uint8_t head[16];
  int64_t want = 4 + 4 * (int64_t)n_dims, got;
  int rc = gz_read(f, path, head, want, &got, e);
  if (rc) return rc;
  if (got < 4 || be32(head) != magic)
    return errf(e, ERR_RUNTIME, "%s: bad magic 0x%08x, expected 0x%08x (%s)", path,
                got < 4 ? 0u : be32(head), magic,
                magic == IDX_IMAGES ? "idx3 images" : "idx1 labels");
  if (got < want)
    return errf(e, ERR_RUNTIME, "%s: truncated header: expected %lld bytes, found %lld", path,
                (long long)want, (long long)got);
  for (int i = 0; i < n_dims; i++) dims[i] = be32(head + 4 + 4 * i);
  return 0;
}

// Reads the n bytes of a body into *buf (malloc'd; NULL after an error); whole = these are all
// the declared bytes, so the file must end here. The buffer grows as the bytes arrive, so a
// header that declares more than the file holds costs no more memory than the file.
static int idx_body(gzFile f, const char *path, uint8_t **buf, int64_t n, int whole,
                    const char *what, int64_t header, Err *e) {
  int64_t got = 0, cap = 0, k;
  int rc = 0;
  *buf = NULL;
  while (!rc && got == cap && cap < n) {
    cap = cap ? (2 * cap < n ? 2 * cap : n) : (n < (1 << 20) ? n : (1 << 20));
    uint8_t *grown = realloc(*buf, (size_t)cap);
    if (!grown) rc = errf(e, ERR_RUNTIME, "%s: out of memory", path);
    if (!rc) *buf = grown, rc = gz_read(f, path, *buf + got, cap - got, &k, e);
    if (!rc) got += k;
  }
  if (!rc && got < n)
    rc = errf(e, ERR_RUNTIME,
              "%s: truncated: expected %lld bytes of %s after the %lld-byte header, found %lld",
              path, (long long)n, what, (long long)header, (long long)got);
  if (!rc && whole) rc = gz_expect_end(f, path, e);
  if (rc) free(*buf), *buf = NULL;
  return rc;
}

// The open files of one set, so that every exit closes both.
typedef struct {
  gzFile img, lab;
} IdxFiles;

static void idx_close(IdxFiles *fs) {
  if (fs->img) gzclose(fs->img);
  if (fs->lab) gzclose(fs->lab);
}

static int check_dims(const char *img_path, const char *lab_path, const uint32_t *idims,
                      uint32_t n_labels, Err *e) {
  if (idims[0] != n_labels)
    return errf(e, ERR_RUNTIME, "%s: %u images, but %s has %u labels", img_path, idims[0], lab_path,
                n_labels);
  if (idims[0] == 0 || idims[0] > INT32_MAX)
    return errf(e, ERR_RUNTIME, "%s: %u images, expected 1 .. 2^31-1", img_path, idims[0]);
  if (idims[1] < 1 || idims[1] > IDX_MAX_SIDE || idims[2] < 1 || idims[2] > IDX_MAX_SIDE)
    return errf(e, ERR_RUNTIME, "%s: images of %ux%u pixels, expected sides in 1..%d", img_path,
                idims[1], idims[2], IDX_MAX_SIDE);
  return 0;
}

// Labels: bytes, widened to int32 and checked against the 10 classes.
static int idx_labels(ImageSet *s, gzFile f, const char *path, int whole, Err *e) {
  uint8_t *bytes;  // [s->n]
  int rc = idx_body(f, path, &bytes, s->n, whole, "labels", 8, e);
  if (rc) return rc;
  s->labels = malloc((size_t)s->n * sizeof *s->labels);
  if (!s->labels) rc = errf(e, ERR_RUNTIME, "%s: out of memory", path);
  for (int64_t i = 0; !rc && i < s->n; i++) {
    if (bytes[i] >= IDX_CLASSES)
      rc = errf(e, ERR_RUNTIME, "%s: label %u at index %lld out of range [0, %d)", path, bytes[i],
                (long long)i, IDX_CLASSES);
    s->labels[i] = bytes[i];
  }
  free(bytes);
  return rc;
}

// Opens a set's two files and reads their headers: idims = [N, H, W], *n_labels; checked.
static int open_set(IdxFiles *fs, const char *img_path, const char *lab_path, uint32_t *idims,
                    uint32_t *n_labels, Err *e) {
  int rc = gz_open(&fs->img, img_path, e);
  if (!rc) rc = gz_open(&fs->lab, lab_path, e);
  if (!rc) rc = idx_header(fs->img, img_path, IDX_IMAGES, 3, idims, e);
  if (!rc) rc = idx_header(fs->lab, lab_path, IDX_LABELS, 1, n_labels, e);
  if (!rc) rc = check_dims(img_path, lab_path, idims, *n_labels, e);
  return rc;
}

static int load_set(ImageSet *s, const char *img_path, const char *lab_path, int64_t max, Err *e) {
  IdxFiles fs = {0};
  uint32_t idims[3] = {0, 0, 0}, n_labels = 0;
  int rc = open_set(&fs, img_path, lab_path, idims, &n_labels, e);
  if (!rc) {
    s->n = (max > 0 && max < idims[0]) ? max : idims[0];
    s->c = 1, s->h = (int)idims[1], s->w = (int)idims[2], s->num_classes = IDX_CLASSES;
  }
  int whole = !rc && s->n == (int64_t)idims[0];
  if (!rc) rc = idx_body(fs.img, img_path, &s->images, s->n * s->h * s->w, whole, "images", 16, e);
  if (!rc) rc = idx_labels(s, fs.lab, lab_path, whole, e);
  idx_close(&fs);
  if (rc) imageset_free(s);
  return rc;
}

// A file read directly (not gzip) must hold exactly its header and body.
static int check_size(const char *path, int64_t want, Err *e) {
  struct stat st;
  if (stat(path, &st) != 0)
    return errf(e, ERR_RUNTIME, "%s: cannot stat (%s)", path, strerror(errno));
  if ((int64_t)st.st_size != want)
    return errf(e, ERR_RUNTIME, "%s: %lld bytes, but its header declares %lld (%s)", path,
                (long long)st.st_size, (long long)want,
                st.st_size < want ? "truncated" : "extra bytes at the end");
  return 0;
}

static int peek_set(const char *img_path, const char *lab_path, Err *e) {
  IdxFiles fs = {0};
  uint32_t idims[3] = {0, 0, 0}, n_labels = 0;
  int rc = open_set(&fs, img_path, lab_path, idims, &n_labels, e);
  if (!rc && gzdirect(fs.img))
    rc = check_size(img_path, 16 + (int64_t)idims[0] * idims[1] * idims[2], e);
  if (!rc && gzdirect(fs.lab)) rc = check_size(lab_path, 8 + (int64_t)n_labels, e);
  idx_close(&fs);
  return rc;
}

int data_idx_peek(const DataSpec *spec, Err *e) {
  char paths[4][DATA_PATH_MAX];
  int rc = data_idx_paths(paths, spec, e);
  if (!rc) rc = peek_set(paths[0], paths[1], e);
  if (!rc) rc = peek_set(paths[2], paths[3], e);
  return rc;
}

int data_load_idx(ImageSet *train, ImageSet *test, const DataSpec *spec, Err *e) {
  memset(train, 0, sizeof *train);
  memset(test, 0, sizeof *test);
  char paths[4][DATA_PATH_MAX];
  int rc = data_idx_paths(paths, spec, e);
  if (!rc) rc = load_set(train, paths[0], paths[1], spec->max_train, e);
  if (!rc) rc = load_set(test, paths[2], paths[3], spec->max_test, e);
  if (!rc && (test->h != train->h || test->w != train->w))
    rc = errf(e, ERR_RUNTIME, "%s: images of %dx%d pixels, but the training images (%s) are %dx%d",
              paths[2], test->h, test->w, paths[0], train->h, train->w);
  if (rc) {
    imageset_free(train);
    imageset_free(test);
  }
  return rc;
}
