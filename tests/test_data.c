// test_data.c: the dataset layer (solver/data.h): idx, CIFAR and HDF5 loaders with every error
// kind, batches and augmentation, epoch order, forget splits, synthetic data; then the real
// MNIST and CIFAR-10 sample from the folder given as argv[1] (exit 77 if it is absent).
#define _XOPEN_SOURCE 700  // nftw, to remove the temporary folder
#include <ftw.h>
#include <hdf5.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "data.h"
#include "rng.h"
#include "testutil.h"

// ----------------------------------------------------------------------------------------------
// helpers

static char tmp_dir[256];

static const char *tpath(char *out, const char *name) {
  snprintf(out, DATA_PATH_MAX, "%s/%s", tmp_dir, name);
  return out;
}

static void write_raw(const char *name, const void *buf, size_t n) {
  char p[DATA_PATH_MAX];
  FILE *f = fopen(tpath(p, name), "wb");
  if (!f || fwrite(buf, 1, n, f) != n) {
    fprintf(stderr, "cannot write %s\n", p);
    exit(1);
  }
  fclose(f);
}

static void write_gz(const char *name, const void *buf, size_t n) {
  char p[DATA_PATH_MAX];
  gzFile f = gzopen(tpath(p, name), "wb");
  if (!f || gzwrite(f, buf, (unsigned)n) != (int)n) {
    fprintf(stderr, "cannot write %s\n", p);
    exit(1);
  }
  gzclose(f);
}

static size_t read_raw(const char *name, uint8_t *buf, size_t cap) {
  char p[DATA_PATH_MAX];
  FILE *f = fopen(tpath(p, name), "rb");
  if (!f) return 0;
  size_t n = fread(buf, 1, cap, f);
  fclose(f);
  return n;
}

static void put_be32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

static uint8_t pixel(int64_t i, int64_t j) {
  return (uint8_t)((i * 37 + j * 7 + (j >> 3)) & 255);
}

// idx images file [16 + n*h*w] and labels file [8 + n]; label i = (i*3) % 10.
static size_t idx_images(uint8_t *buf, uint32_t magic, int n, int h, int w) {
  put_be32(buf, magic), put_be32(buf + 4, (uint32_t)n), put_be32(buf + 8, (uint32_t)h);
  put_be32(buf + 12, (uint32_t)w);
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j < h * w; j++) buf[16 + i * h * w + j] = pixel(i, j);
  return 16 + (size_t)n * h * w;
}

static size_t idx_labels(uint8_t *buf, uint32_t magic, int n) {
  put_be32(buf, magic), put_be32(buf + 4, (uint32_t)n);
  for (int i = 0; i < n; i++) buf[8 + i] = (uint8_t)((i * 3) % 10);
  return 8 + (size_t)n;
}

// Checks a failure: its code, and that its message holds both substrings (NULL: skip).
#define CHECK_ERR(rc_, e_, code_, sub1_, sub2_) \
  check_err_at(__FILE__, __LINE__, (rc_), &(e_), (code_), (sub1_), (sub2_))
static void check_err_at(const char *file, int line, int rc, const Err *e, int code,
                         const char *sub1, const char *sub2) {
  int ok = rc == code && e->code == code && (!sub1 || strstr(e->msg, sub1)) &&
           (!sub2 || strstr(e->msg, sub2));
  if (ok && getenv("TEST_VERBOSE")) printf("  expected error: %s\n", e->msg);
  if (!ok) {
    fprintf(stderr, "%s:%d: expected error %d with \"%s\" and \"%s\", got rc %d: %s\n", file, line,
            code, sub1 ? sub1 : "", sub2 ? sub2 : "", rc, rc ? e->msg : "(success)");
    test_failures++;
  }
}

static DataSpec idx_spec(const char *name, const char *tr_img, const char *tr_lab,
                         const char *te_img, const char *te_lab) {
  DataSpec s;
  data_spec_init(&s);
  snprintf(s.name, sizeof s.name, "%s", name);
  snprintf(s.root, sizeof s.root, "%s", tmp_dir);
  if (tr_img) {
    snprintf(s.train_files[0], DATA_PATH_MAX, "%s", tr_img);
    snprintf(s.train_files[1], DATA_PATH_MAX, "%s", tr_lab);
    snprintf(s.test_files[0], DATA_PATH_MAX, "%s", te_img);
    snprintf(s.test_files[1], DATA_PATH_MAX, "%s", te_lab);
    s.n_train_files = s.n_test_files = 2;
  }
  return s;
}

static int sets_equal(const ImageSet *a, const ImageSet *b) {
  if (a->n != b->n || a->c != b->c || a->h != b->h || a->w != b->w) return 0;
  size_t size = (size_t)a->n * a->c * a->h * a->w;
  return !memcmp(a->images, b->images, size) &&
         !memcmp(a->labels, b->labels, (size_t)a->n * sizeof(int32_t));
}

// ----------------------------------------------------------------------------------------------
// idx

static uint8_t big[1 << 16], big2[1 << 16];

static void write_idx_set(void) {
  // Default names, raw train and gz test: 12 train, 5 test images of 3x4.
  write_raw("train-images-idx3-ubyte", big, idx_images(big, 0x803, 12, 3, 4));
  write_raw("train-labels-idx1-ubyte", big, idx_labels(big, 0x801, 12));
  write_gz("t10k-images-idx3-ubyte.gz", big, idx_images(big, 0x803, 5, 3, 4));
  write_gz("t10k-labels-idx1-ubyte.gz", big, idx_labels(big, 0x801, 5));
  // The same training set gzipped, under other names, for explicit lists.
  write_gz("tr-img.gz", big, idx_images(big, 0x803, 12, 3, 4));
  write_gz("tr-lab.gz", big, idx_labels(big, 0x801, 12));
}

static void test_idx_roundtrip(void) {
  write_idx_set();
  Err e = {0};
  Dataset d, g;
  DataSpec s = idx_spec("mnist", NULL, NULL, NULL, NULL);
  int rc = dataset_load(&d, &s, &e);
  CHECK(rc == 0);
  if (rc) {
    fprintf(stderr, "  %s\n", e.msg);
    return;
  }
  CHECK(d.train.n == 12 && d.test.n == 5 && d.train.c == 1 && d.train.h == 3 && d.train.w == 4);
  CHECK(d.train.num_classes == 10);
  int ok = 1;
  for (int64_t i = 0; i < 12; i++) {
    ok &= d.train.labels[i] == (i * 3) % 10;
    for (int j = 0; j < 12; j++) ok &= d.train.images[i * 12 + j] == pixel(i, j);
  }
  for (int64_t i = 0; i < 5; i++)
    for (int j = 0; j < 12; j++) ok &= d.test.images[i * 12 + j] == pixel(i, j);
  CHECK(ok);
  CHECK_CLOSE(d.mean[0], 0.1307, 0, 1e-6);  // auto: mnist's published statistics
  CHECK_CLOSE(d.std[0], 0.3081, 0, 1e-6);
  CHECK(d.aug.crop_pad == 0 && d.aug.hflip == 0);
  // gz vs raw: the same training set through explicit gz files.
  s = idx_spec("fashion-mnist", "tr-img.gz", "tr-lab.gz", "t10k-images-idx3-ubyte.gz",
               "t10k-labels-idx1-ubyte.gz");
  rc = dataset_load(&g, &s, &e);
  CHECK(rc == 0);
  if (!rc) {
    CHECK(sets_equal(&d.train, &g.train) && sets_equal(&d.test, &g.test));
    CHECK_CLOSE(g.mean[0], 0.2860, 0, 1e-6);
    dataset_free(&g);
  }
  // A prefix.
  s = idx_spec("mnist", NULL, NULL, NULL, NULL);
  s.max_train = 4, s.max_test = 2;
  rc = dataset_load(&g, &s, &e);
  CHECK(rc == 0 && g.train.n == 4 && g.test.n == 2);
  if (!rc) {
    CHECK(!memcmp(g.train.images, d.train.images, 4 * 12));
    CHECK(!memcmp(g.test.labels, d.test.labels, 2 * sizeof(int32_t)));
    dataset_free(&g);
  }
  // Computed normalisation: the training set's own statistics.
  s.norm = DATA_NORM_COMPUTE, s.max_train = 0;
  rc = dataset_load(&g, &s, &e);
  CHECK(rc == 0);
  if (!rc) {
    double sum = 0, sum2 = 0;
    for (int i = 0; i < 12 * 12; i++) {
      double v = g.train.images[i] / 255.0;
      sum += v, sum2 += v * v;
    }
    double m = sum / 144, sd = sqrt(sum2 / 144 - m * m);
    CHECK_CLOSE(g.mean[0], m, 1e-5, 1e-6);
    CHECK_CLOSE(g.std[0], sd, 1e-4, 1e-6);
    dataset_free(&g);
  }
  dataset_free(&d);
}

// Loads train images `img` with good labels etc., expecting an error naming img.
static void expect_idx_error(const char *img, const char *lab, int code, const char *what) {
  Err e = {0};
  Dataset d;
  char p[DATA_PATH_MAX];
  DataSpec s =
      idx_spec("mnist", img, lab, "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz");
  int rc = dataset_load(&d, &s, &e);
  const char *named = strstr(what, "label") && !strstr(what, "images") ? lab : img;
  CHECK_ERR(rc, e, code, tpath(p, named), what);
  CHECK(d.train.images == NULL && d.test.images == NULL);  // zeroed on failure
}

static void test_idx_errors(void) {
  size_t n_img = idx_images(big, 0x803, 12, 3, 4), n_lab = idx_labels(big2, 0x801, 12);
  // Bad magic: a labels file where images belong, and zeros.
  write_raw("magic-img", big2, n_lab);
  expect_idx_error("magic-img", "tr-lab.gz", ERR_RUNTIME,
                   "bad magic 0x00000801, expected 0x00000803");
  uint8_t zeros[64] = {0};
  write_raw("zero-img", zeros, sizeof zeros);
  expect_idx_error("zero-img", "tr-lab.gz", ERR_RUNTIME, "bad magic 0x00000000");
  // Truncated: raw (found by its size, before reading), gz (while reading), in the header.
  write_raw("trunc-img", big, n_img - 5);
  expect_idx_error("trunc-img", "tr-lab.gz", ERR_RUNTIME,
                   "155 bytes, but its header declares 160 (truncated)");
  write_gz("trunc-img.gz", big, n_img - 5);
  expect_idx_error("trunc-img.gz", "tr-lab.gz", ERR_RUNTIME, "found 139");
  write_raw("head-img", big, 10);
  expect_idx_error("head-img", "tr-lab.gz", ERR_RUNTIME, "truncated header");
  // A gzip header that declares far more than the file holds (2^31-1 images of 4096x4096, 20
  // bytes of them; its size is not known before reading): "truncated", as any cut file, not a
  // refused allocation of 32 PB.
  put_be32(big + 4, 0x7fffffff), put_be32(big + 8, 4096), put_be32(big + 12, 4096);
  write_gz("huge-img.gz", big, 36);
  put_be32(big2 + 4, 0x7fffffff);
  write_gz("huge-lab.gz", big2, 8);
  expect_idx_error("huge-img.gz", "huge-lab.gz", ERR_RUNTIME,
                   "truncated: expected 36028797002186752 bytes of images after the 16-byte "
                   "header, found 20");
  idx_images(big, 0x803, 12, 3, 4), idx_labels(big2, 0x801, 12);
  // Trailing data after the declared images: raw (by its size), gz (after reading).
  write_raw("long-img", big, n_img + 3);
  expect_idx_error("long-img", "tr-lab.gz", ERR_RUNTIME,
                   "163 bytes, but its header declares 160 (extra bytes at the end)");
  write_gz("long-img.gz", big, n_img + 3);
  expect_idx_error("long-img.gz", "tr-lab.gz", ERR_RUNTIME, "trailing data");
  // Label out of range.
  big2[8 + 7] = 10;
  write_raw("bad-lab", big2, n_lab);
  expect_idx_error("tr-img.gz", "bad-lab", ERR_RUNTIME, "label 10 at index 7 out of range [0, 10)");
  // Count mismatch.
  write_raw("short-lab", big2, idx_labels(big2, 0x801, 11));
  expect_idx_error("tr-img.gz", "short-lab", ERR_RUNTIME, "12 images, but");
  // Wrong dims: zero rows.
  idx_images(big, 0x803, 12, 3, 4);
  put_be32(big + 8, 0);
  write_raw("dims-img", big, 16);
  expect_idx_error("dims-img", "tr-lab.gz", ERR_RUNTIME, "expected sides in 1..");
  // Test images whose size differs from the training images'.
  {
    Err e = {0};
    Dataset d;
    char p[DATA_PATH_MAX];
    write_raw("t-img-5x5", big, idx_images(big, 0x803, 5, 5, 5));
    DataSpec s =
        idx_spec("mnist", "tr-img.gz", "tr-lab.gz", "t-img-5x5", "t10k-labels-idx1-ubyte.gz");
    CHECK_ERR(dataset_load(&d, &s, &e), e, ERR_RUNTIME, tpath(p, "t-img-5x5"), "5x5 pixels");
  }
  // Missing file: a config error naming the path.
  expect_idx_error("no-such-file", "tr-lab.gz", ERR_CONFIG, "no such file");
  // Corrupt gzip: a wrong CRC (the trailer) and a damaged deflate stream.
  uint8_t gz[1 << 16];
  char p[DATA_PATH_MAX];
  size_t n_gz = read_raw("tr-img.gz", gz, sizeof gz);
  CHECK(n_gz > 20);
  gz[n_gz - 8] ^= 0xff;
  write_raw("crc-img.gz", gz, n_gz);
  expect_idx_error("crc-img.gz", "tr-lab.gz", ERR_RUNTIME, "bad gzip stream");
  gz[n_gz - 8] ^= 0xff;
  write_raw("half-img.gz", gz, n_gz / 2);  // the gzip stream itself cut short
  {
    Err e = {0};
    Dataset d;
    DataSpec s = idx_spec("mnist", "half-img.gz", "tr-lab.gz", "t10k-images-idx3-ubyte.gz",
                          "t10k-labels-idx1-ubyte.gz");
    CHECK_ERR(dataset_load(&d, &s, &e), e, ERR_RUNTIME, tpath(p, "half-img.gz"), "truncated");
  }
  for (size_t i = 12; i < n_gz - 8; i += 3) gz[i] ^= 0x5a;
  write_raw("bad-img.gz", gz, n_gz);
  {
    Err e = {0};
    Dataset d;
    DataSpec s = idx_spec("mnist", "bad-img.gz", "tr-lab.gz", "t10k-images-idx3-ubyte.gz",
                          "t10k-labels-idx1-ubyte.gz");
    CHECK_ERR(dataset_load(&d, &s, &e), e, ERR_RUNTIME, tpath(p, "bad-img.gz"), NULL);
  }
  // A data root that does not exist.
  {
    Err e = {0};
    Dataset d;
    DataSpec s = idx_spec("mnist", NULL, NULL, NULL, NULL);
    snprintf(s.root, sizeof s.root, "%s/nope", tmp_dir);
    CHECK_ERR(dataset_load(&d, &s, &e), e, ERR_CONFIG, s.root, "does not exist");
    snprintf(s.root, sizeof s.root, "%s", tmp_dir);
    snprintf(s.name, sizeof s.name, "mnits");
    CHECK_ERR(data_spec_check(&s, &e), e, ERR_CONFIG, "unknown data set 'mnits'", NULL);
  }
}

// ----------------------------------------------------------------------------------------------
// cifar

enum { REC10 = 3073, REC100 = 3074 };

// n records of cifar10 (label_bytes 1) or cifar100 (2), record r of file-wide index base + r.
static size_t cifar_records(uint8_t *buf, int n, int label_bytes, int base) {
  size_t rec = (size_t)label_bytes + 3072;
  for (int r = 0; r < n; r++) {
    uint8_t *p = buf + r * rec;
    int i = base + r;
    if (label_bytes == 2)
      p[0] = (uint8_t)(i % 20), p[1] = (uint8_t)((i * 7) % 100);
    else
      p[0] = (uint8_t)(i % 10);
    for (int j = 0; j < 3072; j++) p[label_bytes + j] = pixel(i, j);
  }
  return (size_t)n * rec;
}

static DataSpec cifar_spec(const char *name, int n_tr, const char *const *tr, int n_te,
                           const char *const *te) {
  DataSpec s;
  data_spec_init(&s);
  snprintf(s.name, sizeof s.name, "%s", name);
  snprintf(s.root, sizeof s.root, "%s", tmp_dir);
  for (int i = 0; i < n_tr; i++) snprintf(s.train_files[i], DATA_PATH_MAX, "%s", tr[i]);
  for (int i = 0; i < n_te; i++) snprintf(s.test_files[i], DATA_PATH_MAX, "%s", te[i]);
  s.n_train_files = n_tr, s.n_test_files = n_te;
  return s;
}

static int check_cifar_set(const ImageSet *s, int64_t n, int c100) {
  int ok =
      s->n == n && s->c == 3 && s->h == 32 && s->w == 32 && s->num_classes == (c100 ? 100 : 10);
  for (int64_t i = 0; ok && i < n; i++) {
    ok &= s->labels[i] == (c100 ? (i * 7) % 100 : i % 10);
    for (int j = 0; j < 3072; j += 97) ok &= s->images[i * 3072 + j] == pixel(i, j);
  }
  return ok;
}

static void test_cifar(void) {
  static uint8_t buf[8 * REC100];
  write_raw("c10-a.bin", buf, cifar_records(buf, 3, 1, 0));
  write_raw("c10-b.bin", buf, cifar_records(buf, 2, 1, 3));
  write_raw("c10-t.bin", buf, cifar_records(buf, 4, 1, 0));
  const char *tr[] = {"c10-a.bin", "c10-b.bin"}, *te[] = {"c10-t.bin"};
  Err e = {0};
  Dataset d;
  DataSpec s = cifar_spec("cifar10", 2, tr, 1, te);
  int rc = dataset_load(&d, &s, &e);
  CHECK(rc == 0);
  if (!rc) {
    CHECK(check_cifar_set(&d.train, 5, 0) && check_cifar_set(&d.test, 4, 0));
    CHECK(d.aug.crop_pad == 4 && d.aug.hflip == 1);  // auto: on for cifar
    CHECK_CLOSE(d.mean[2], 0.4465, 0, 1e-6);
    CHECK_CLOSE(d.std[1], 0.2435, 0, 1e-6);
    dataset_free(&d);
  }
  // A prefix that ends inside the first file; augmentation explicitly off.
  s.max_train = 2, s.aug.crop_pad = 0, s.aug.hflip = 0;
  rc = dataset_load(&d, &s, &e);
  CHECK(rc == 0);
  if (!rc) {
    CHECK(check_cifar_set(&d.train, 2, 0) && d.aug.crop_pad == 0 && d.aug.hflip == 0);
    dataset_free(&d);
  }
  // cifar100: coarse then fine label; the fine one is used. Default names in the tarball folder.
  char p[DATA_PATH_MAX];
  mkdir(tpath(p, "cifar-100-binary"), 0755);
  write_raw("cifar-100-binary/train.bin", buf, cifar_records(buf, 6, 2, 0));
  write_raw("cifar-100-binary/test.bin", buf, cifar_records(buf, 3, 2, 0));
  s = cifar_spec("cifar100", 0, NULL, 0, NULL);
  rc = dataset_load(&d, &s, &e);
  CHECK(rc == 0);
  if (!rc) {
    CHECK(check_cifar_set(&d.train, 6, 1) && check_cifar_set(&d.test, 3, 1));
    dataset_free(&d);
  }
  // Errors: truncated, label out of range (cifar10 and cifar100 coarse), missing file.
  size_t n = cifar_records(buf, 3, 1, 0);
  write_raw("c10-cut.bin", buf, n - 100);
  const char *cut[] = {"c10-a.bin", "c10-cut.bin"};
  s = cifar_spec("cifar10", 2, cut, 1, te);
  CHECK_ERR(dataset_load(&d, &s, &e), e, ERR_RUNTIME, tpath(p, "c10-cut.bin"),
            "multiple of the 3073-byte record");
  buf[2 * REC10] = 10;
  write_raw("c10-lab.bin", buf, n);
  const char *lab[] = {"c10-lab.bin"};
  s = cifar_spec("cifar10", 1, lab, 1, te);
  CHECK_ERR(dataset_load(&d, &s, &e), e, ERR_RUNTIME, tpath(p, "c10-lab.bin"),
            "label 10 in record 2 out of range [0, 10)");
  n = cifar_records(buf, 3, 2, 0);
  buf[REC100] = 20;
  write_raw("c100-lab.bin", buf, n);
  s = cifar_spec("cifar100", 1, lab, 1, te);
  snprintf(s.train_files[0], DATA_PATH_MAX, "c100-lab.bin");
  snprintf(s.test_files[0], DATA_PATH_MAX, "c100-lab.bin");
  CHECK_ERR(dataset_load(&d, &s, &e), e, ERR_RUNTIME, tpath(p, "c100-lab.bin"),
            "coarse label 20 in record 1");
  const char *missing[] = {"c10-a.bin", "c10-none.bin"};
  s = cifar_spec("cifar10", 2, missing, 1, te);
  CHECK_ERR(dataset_load(&d, &s, &e), e, ERR_CONFIG, tpath(p, "c10-none.bin"), "no such file");
  s = cifar_spec("cifar10", 0, NULL, 0, NULL);  // defaults: data_batch_1.bin is not there
  CHECK_ERR(data_spec_check(&s, &e), e, ERR_CONFIG, "data_batch_1.bin", "cifar-10-batches-bin");
  CHECK(d.train.images == NULL);
}

// ----------------------------------------------------------------------------------------------
// hdf5

typedef struct {
  int rank;            // 3 or 4
  hid_t img_type;      // H5T_STD_U8LE unless testing a wrong type
  int n_train_labels;  // default n_train
  int bad_label;       // 1: train label 3 = 99
  int num_classes;     // > 0: write the attribute
  int no_test;         // 1: leave out /test
} H5Case;

static void h5_write(hid_t f, const char *name, hid_t type, hid_t mem_type, int rank,
                     const hsize_t *dims, const void *buf) {
  hid_t sp = H5Screate_simple(rank, dims, NULL);
  hid_t ds = H5Dcreate2(f, name, type, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5Dwrite(ds, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
  H5Dclose(ds);
  H5Sclose(sp);
}

// train: 9 images [3,2,5], labels i % 4 (int64); test: 4 images.
static void write_h5(const char *name, H5Case c) {
  char p[DATA_PATH_MAX];
  hid_t f = H5Fcreate(tpath(p, name), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  int n[2] = {9, 4};
  for (int t = 0; t < 2 - c.no_test; t++) {
    const char *g = t ? "/test" : "/train";
    hid_t grp = H5Gcreate2(f, g, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Gclose(grp);
    uint8_t img[9 * 30];
    int64_t lab[9];
    for (int i = 0; i < n[t] * 30; i++) img[i] = pixel(i / 30, i % 30);
    for (int i = 0; i < 9; i++) lab[i] = i % 4;
    if (c.bad_label && !t) lab[3] = 99;
    hsize_t d4[4] = {(hsize_t)n[t], 3, 2, 5}, d3[3] = {(hsize_t)n[t], 6, 5};
    char nm[64];
    snprintf(nm, sizeof nm, "%s/images", g);
    h5_write(f, nm, c.img_type ? c.img_type : H5T_STD_U8LE, H5T_NATIVE_UINT8, c.rank,
             c.rank == 4 ? d4 : d3, img);
    hsize_t nl = (hsize_t)(t == 0 && c.n_train_labels ? c.n_train_labels : n[t]);
    snprintf(nm, sizeof nm, "%s/labels", g);
    h5_write(f, nm, H5T_STD_I64LE, H5T_NATIVE_INT64, 1, &nl, lab);
  }
  if (c.num_classes) {
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(f, "num_classes", H5T_STD_I32LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, H5T_NATIVE_INT, &c.num_classes);
    H5Aclose(a);
    H5Sclose(sp);
  }
  H5Fclose(f);
}

static DataSpec h5_spec(const char *file) {
  DataSpec s;
  data_spec_init(&s);
  snprintf(s.name, sizeof s.name, "hdf5");
  snprintf(s.root, sizeof s.root, "%s", tmp_dir);
  snprintf(s.file, sizeof s.file, "%s", file);
  return s;
}

static void test_hdf5(void) {
  write_h5("ok.h5", (H5Case){.rank = 4});
  write_h5("ok3.h5", (H5Case){.rank = 3, .num_classes = 7});
  Err e = {0};
  Dataset d;
  DataSpec s = h5_spec("ok.h5");
  int rc = dataset_load(&d, &s, &e);
  CHECK(rc == 0);
  if (rc) fprintf(stderr, "  %s\n", e.msg);
  if (!rc) {
    CHECK(d.train.n == 9 && d.test.n == 4 && d.train.c == 3 && d.train.h == 2 && d.train.w == 5);
    CHECK(d.train.num_classes == 4);  // no attribute: 1 + max label
    int ok = 1;
    for (int i = 0; i < 9 * 30; i++) ok &= d.train.images[i] == pixel(i / 30, i % 30);
    for (int i = 0; i < 9; i++) ok &= d.train.labels[i] == i % 4;
    CHECK(ok);
    float m[3], sd[3];
    data_channel_stats(&d.train, m, sd);  // auto normalisation computes these for hdf5
    CHECK(m[0] == d.mean[0] && m[2] == d.mean[2] && sd[1] == d.std[1]);
    dataset_free(&d);
  }
  // Rank 3 images (C = 1), the attribute, a prefix; and root naming the file itself.
  s = h5_spec("");
  snprintf(s.root, sizeof s.root, "%s/ok3.h5", tmp_dir);
  s.max_train = 5;
  rc = dataset_load(&d, &s, &e);
  CHECK(rc == 0);
  if (!rc) {
    CHECK(d.train.n == 5 && d.train.c == 1 && d.train.h == 6 && d.train.num_classes == 7);
    CHECK(d.train.images[4 * 30 + 29] == pixel(4, 29));
    dataset_free(&d);
  }
  char p[DATA_PATH_MAX];
  // Errors.
  write_h5("float.h5", (H5Case){.rank = 4, .img_type = H5T_IEEE_F32LE});
  s = h5_spec("float.h5");
  CHECK_ERR(dataset_load(&d, &s, &e), e, ERR_RUNTIME, tpath(p, "float.h5"),
            "/train/images: expected uint8, found 4-byte float");
  write_h5("count.h5", (H5Case){.rank = 4, .n_train_labels = 8});
  s = h5_spec("count.h5");
  CHECK_ERR(dataset_load(&d, &s, &e), e, ERR_RUNTIME, tpath(p, "count.h5"),
            "/train/labels has 8 labels, but /train/images has 9 images");
  write_h5("label.h5", (H5Case){.rank = 4, .bad_label = 1, .num_classes = 10});
  s = h5_spec("label.h5");
  CHECK_ERR(dataset_load(&d, &s, &e), e, ERR_RUNTIME, tpath(p, "label.h5"),
            "label 99 at index 3 out of range [0, 10)");
  write_h5("notest.h5", (H5Case){.rank = 4, .no_test = 1});
  s = h5_spec("notest.h5");
  CHECK_ERR(dataset_load(&d, &s, &e), e, ERR_RUNTIME, tpath(p, "notest.h5"),
            "no dataset /test/images");
  write_raw("junk.h5", "not hdf5 at all", 15);
  s = h5_spec("junk.h5");
  CHECK_ERR(dataset_load(&d, &s, &e), e, ERR_RUNTIME, tpath(p, "junk.h5"), "not an HDF5 file");
  // Truncated: the first half of a good file.
  static uint8_t h5buf[1 << 16];
  size_t n = read_raw("ok.h5", h5buf, sizeof h5buf);
  write_raw("cut.h5", h5buf, n / 2);
  s = h5_spec("cut.h5");
  CHECK_ERR(dataset_load(&d, &s, &e), e, ERR_RUNTIME, tpath(p, "cut.h5"), NULL);
  s = h5_spec("none.h5");
  CHECK_ERR(dataset_load(&d, &s, &e), e, ERR_CONFIG, tpath(p, "none.h5"), "no such file");
  s = h5_spec("");
  CHECK_ERR(dataset_load(&d, &s, &e), e, ERR_CONFIG, tmp_dir, "is a folder");
}

// ----------------------------------------------------------------------------------------------
// batches and augmentation

// A small set: n images [c, h, w] with distinct-ish pixels.
static ImageSet small_set(int n, int c, int h, int w) {
  ImageSet s = {.n = n, .c = c, .h = h, .w = w, .num_classes = 10};
  s.images = malloc((size_t)n * c * h * w);
  s.labels = malloc((size_t)n * sizeof *s.labels);
  for (int64_t i = 0; i < (int64_t)n * c * h * w; i++) s.images[i] = (uint8_t)(1 + (i * 13) % 251);
  for (int i = 0; i < n; i++) s.labels[i] = i % 10;
  return s;
}

// Is out [c,h,w] some crop (pad p) + optional flip of image img of s? (brute force)
static int is_augmentation_of(const float *out, const ImageSet *s, int img, int p,
                              const float *mean, const float *std) {
  for (int flip = 0; flip < 2; flip++)
    for (int oy = 0; oy <= 2 * p; oy++)
      for (int ox = 0; ox <= 2 * p; ox++) {
        int ok = 1;
        for (int ch = 0; ok && ch < s->c; ch++)
          for (int y = 0; ok && y < s->h; y++)
            for (int x = 0; ok && x < s->w; x++) {
              int sy = y + oy - p, sx = (flip ? s->w - 1 - x : x) + ox - p;
              int v = (sy < 0 || sy >= s->h || sx < 0 || sx >= s->w)
                          ? 0
                          : s->images[(((int64_t)img * s->c + ch) * s->h + sy) * s->w + sx];
              float want = (v / 255.0f - mean[ch]) / std[ch];
              ok = fabsf(out[(ch * s->h + y) * s->w + x] - want) < 1e-5f;
            }
        if (ok) return 1;
      }
  return 0;
}

static void test_batch(void) {
  ImageSet s = small_set(20, 3, 6, 5);
  float mean[3] = {0.5f, 0.4f, 0.3f}, std[3] = {0.2f, 0.25f, 0.3f};
  int32_t idx[6] = {3, 7, 0, 19, 7, 11}, y[6];
  int64_t pos[6] = {0, 1, 2, 3, 4, 5};
  int size = 3 * 6 * 5;
  float *x = malloc(6 * size * sizeof *x), *x2 = malloc(6 * size * sizeof *x2);
  // No augmentation: exactly the normalised pixels.
  data_batch(x, y, &s, mean, std, idx, 6, NULL, 1, 0, NULL);
  int ok = 1;
  for (int b = 0; b < 6; b++) {
    ok &= y[b] == idx[b] % 10;
    for (int j = 0; j < size; j++) {
      int ch = j / 30;
      float want = (s.images[idx[b] * size + j] / 255.0f - mean[ch]) / std[ch];
      ok &= fabsf(x[b * size + j] - want) < 1e-6f;
    }
  }
  CHECK(ok);
  // Augmentation: every output is a crop/flip of its image; the same (seed, epoch, pos) gives
  // the same pixels in any batch composition; other epochs and positions differ.
  Augment aug = {2, 1};
  data_batch(x, y, &s, mean, std, idx, 6, &aug, 42, 3, pos);
  for (int b = 0; b < 6; b++) CHECK(is_augmentation_of(x + b * size, &s, idx[b], 2, mean, std));
  // Samples 4 and 1 alone and in reverse order, as another rank would assemble them.
  int32_t idx2[2] = {idx[4], idx[1]};
  int64_t pos2[2] = {pos[4], pos[1]};
  data_batch(x2, y, &s, mean, std, idx2, 2, &aug, 42, 3, pos2);
  CHECK(!memcmp(x2, x + 4 * size, size * sizeof *x) &&
        !memcmp(x2 + size, x + size, size * sizeof *x));
  // Sample 7 occurs at positions 1 and 4: two draws (with 50 choices, equal only by chance).
  int differ = 0, same = 0;
  for (int e2 = 0; e2 < 8; e2++) {
    float a[90], b2[90];
    int32_t one = 7;
    int64_t p1 = 1, p4 = 4;
    data_batch(a, y, &s, mean, std, &one, 1, &aug, 42, (uint64_t)e2, &p1);
    data_batch(b2, y, &s, mean, std, &one, 1, &aug, 42, (uint64_t)e2, &p4);
    differ += memcmp(a, b2, sizeof a) != 0;
    data_batch(b2, y, &s, mean, std, &one, 1, &aug, 42, (uint64_t)e2 + 100, &p1);
    same += memcmp(a, b2, sizeof a) == 0;
  }
  CHECK(differ >= 6 && same <= 2);
  // Crop only: some output has padding (a zero pixel normalised) somewhere over many draws; flip
  // only with pad 0: each output is the image or its mirror.
  Augment flip_only = {0, 1};
  int flipped = 0;
  for (int64_t p = 0; p < 32; p++) {
    int32_t one = 5;
    data_batch(x2, y, &s, mean, std, &one, 1, &flip_only, 9, 0, &p);
    CHECK(is_augmentation_of(x2, &s, 5, 0, mean, std));
    flipped += fabsf(x2[0] - (s.images[5 * size] / 255.0f - mean[0]) / std[0]) > 1e-6f;
  }
  CHECK(flipped > 4 && flipped < 28);
  free(x);
  free(x2);
  imageset_free(&s);
}

static void test_epoch_order(void) {
  enum { N = 1000 };
  int32_t a[N], b[N], seen[N] = {0};
  data_epoch_order(a, NULL, N, 5, 2);
  data_epoch_order(b, NULL, N, 5, 2);
  CHECK(!memcmp(a, b, sizeof a));
  int perm = 1, moved = 0;
  for (int i = 0; i < N; i++) {
    perm &= a[i] >= 0 && a[i] < N && !seen[a[i]]++;
    moved += a[i] != i;
  }
  CHECK(perm && moved > N / 2);
  data_epoch_order(b, NULL, N, 5, 3);
  CHECK(memcmp(a, b, sizeof a) != 0);
  data_epoch_order(b, NULL, N, 6, 2);
  CHECK(memcmp(a, b, sizeof a) != 0);
  // A subset: a permutation of exactly its elements.
  int32_t sub[300], o[300];
  for (int i = 0; i < 300; i++) sub[i] = 3 * i + 1;
  data_epoch_order(o, sub, 300, 5, 0);
  int64_t sum = 0, in = 1;
  for (int i = 0; i < 300; i++) sum += o[i], in &= o[i] % 3 == 1;
  int64_t want = 0;
  for (int i = 0; i < 300; i++) want += sub[i];
  CHECK(in && sum == want);
}

// ----------------------------------------------------------------------------------------------
// forget splits

static int disjoint_cover(const int32_t *a, int64_t na, const int32_t *b, int64_t nb, int64_t n) {
  if (na + nb != n) return 0;
  uint8_t *seen = calloc((size_t)n, 1);
  int ok = 1;
  for (int64_t i = 0; i < na; i++) ok &= !seen[a[i]]++ && (i == 0 || a[i] > a[i - 1]);
  for (int64_t i = 0; i < nb; i++) ok &= !seen[b[i]]++ && (i == 0 || b[i] > b[i - 1]);
  free(seen);
  return ok;
}

static void test_split(void) {
  ImageSet tr = small_set(100, 1, 2, 2), te = small_set(30, 1, 2, 2);  // labels i % 10
  Err e = {0};
  ForgetSplit fs, fs2;
  ForgetSpec sp = {.classes = {2, (const int[]){3, 7}}};
  int rc = forget_split_make(&fs, &sp, &tr, &te, 1, &e);
  CHECK(rc == 0);
  if (!rc) {
    CHECK(fs.n_train_forget == 20 && fs.n_train_retain == 80);
    CHECK(fs.n_test_forget == 6 && fs.n_test_retain == 24);
    CHECK(fs.forget_class[3] && fs.forget_class[7] && !fs.forget_class[0]);
    CHECK(disjoint_cover(fs.train_forget, fs.n_train_forget, fs.train_retain, fs.n_train_retain,
                         100));
    CHECK(disjoint_cover(fs.test_forget, fs.n_test_forget, fs.test_retain, fs.n_test_retain, 30));
    int ok = 1;
    for (int64_t i = 0; i < fs.n_train_forget; i++)
      ok &= fs.forget_class[tr.labels[fs.train_forget[i]]];
    for (int64_t i = 0; i < fs.n_test_retain; i++)
      ok &= !fs.forget_class[te.labels[fs.test_retain[i]]];
    CHECK(ok);
    forget_split_free(&fs);
  }
  // random_classes: k classes, the same for the same seed, not always the same across seeds.
  sp = (ForgetSpec){.random_classes = 3};
  int differs = 0;
  for (uint64_t seed = 0; seed < 5; seed++) {
    rc = forget_split_make(&fs, &sp, &tr, &te, seed, &e);
    int rc2 = forget_split_make(&fs2, &sp, &tr, &te, seed, &e);
    CHECK(rc == 0 && rc2 == 0);
    if (rc || rc2) break;
    int k = 0;
    for (int c = 0; c < 10; c++) k += fs.forget_class[c];
    CHECK(k == 3 && fs.n_train_forget == 30 && fs.n_test_forget == 9);
    CHECK(!memcmp(fs.forget_class, fs2.forget_class, 10));
    CHECK(!memcmp(fs.train_forget, fs2.train_forget, 30 * sizeof(int32_t)));
    forget_split_free(&fs2);
    rc = forget_split_make(&fs2, &sp, &tr, &te, seed + 100, &e);
    differs += rc == 0 && memcmp(fs.forget_class, fs2.forget_class, 10) != 0;
    forget_split_free(&fs);
    forget_split_free(&fs2);
  }
  CHECK(differs >= 3);
  // random_fraction: round(f n) samples, no class, whole test set retained.
  sp = (ForgetSpec){.random_fraction = 0.1};
  rc = forget_split_make(&fs, &sp, &tr, &te, 7, &e);
  int rc2 = forget_split_make(&fs2, &sp, &tr, &te, 7, &e);
  CHECK(rc == 0 && rc2 == 0);
  if (!rc && !rc2) {
    CHECK(fs.n_train_forget == 10 && fs.n_train_retain == 90);
    CHECK(fs.n_test_forget == 0 && fs.n_test_retain == 30);
    CHECK(disjoint_cover(fs.train_forget, 10, fs.train_retain, 90, 100));
    CHECK(!memcmp(fs.train_forget, fs2.train_forget, 10 * sizeof(int32_t)));
    int k = 0;
    for (int c = 0; c < 10; c++) k += fs.forget_class[c];
    CHECK(k == 0);
  }
  forget_split_free(&fs);
  forget_split_free(&fs2);
  // Errors.
  sp = (ForgetSpec){.classes = {2, (const int[]){3, 10}}};
  CHECK_ERR(forget_split_make(&fs, &sp, &tr, &te, 1, &e), e, ERR_CONFIG, "forget.classes",
            "class 10 out of range [0, 10)");
  sp = (ForgetSpec){.classes = {3, (const int[]){3, 4, 3}}};
  CHECK_ERR(forget_split_make(&fs, &sp, &tr, &te, 1, &e), e, ERR_CONFIG, "class 3 given twice",
            NULL);
  sp = (ForgetSpec){.classes = {0, NULL}};
  CHECK_ERR(forget_split_make(&fs, &sp, &tr, &te, 1, &e), e, ERR_CONFIG, "empty", NULL);
  sp = (ForgetSpec){.random_classes = 10};
  CHECK_ERR(forget_split_make(&fs, &sp, &tr, &te, 1, &e), e, ERR_CONFIG,
            "forget.random_classes: 10, expected 1..9", NULL);
  sp = (ForgetSpec){.random_fraction = 1.0};
  CHECK_ERR(forget_split_make(&fs, &sp, &tr, &te, 1, &e), e, ERR_CONFIG,
            "forget.random_fraction: 1, expected a fraction in (0, 1)", NULL);
  // random_fraction 0 is not a random split: the classes are asked for, and there are none.
  sp.random_fraction = 0;
  CHECK_ERR(forget_spec_check(&sp, 10, &e), e, ERR_CONFIG, "forget.classes: empty", NULL);
  // random_fraction wins over random_classes, random_classes over classes.
  sp = (ForgetSpec){.classes = {1, (const int[]){3}}, .random_classes = 2};
  CHECK(forget_mode(&sp) == FORGET_RANDOM_CLASSES);
  sp.random_fraction = 0.5;
  CHECK(forget_mode(&sp) == FORGET_RANDOM_FRACTION);
  // A class with no training sample: nothing to forget.
  for (int i = 0; i < 100; i++) tr.labels[i] = tr.labels[i] == 9 ? 8 : tr.labels[i];
  sp = (ForgetSpec){.classes = {1, (const int[]){9}}};
  CHECK_ERR(forget_split_make(&fs, &sp, &tr, &te, 1, &e), e, ERR_CONFIG, "no training sample",
            NULL);
  CHECK(fs.forget_class == NULL && fs.train_forget == NULL);
  imageset_free(&tr);
  imageset_free(&te);
}

// ----------------------------------------------------------------------------------------------
// synthetic

static double seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

// Accuracy on test of the nearest class mean (of train's raw pixels).
static double ncm_accuracy(const ImageSet *tr, const ImageSet *te) {
  int K = tr->num_classes;
  int64_t D = (int64_t)tr->c * tr->h * tr->w;
  double *mu = calloc((size_t)K * D, sizeof *mu);
  int64_t *cnt = calloc((size_t)K, sizeof *cnt);
  for (int64_t i = 0; i < tr->n; i++) {
    cnt[tr->labels[i]]++;
    for (int64_t j = 0; j < D; j++) mu[tr->labels[i] * D + j] += tr->images[i * D + j];
  }
  for (int k = 0; k < K; k++)
    for (int64_t j = 0; j < D; j++) mu[k * D + j] /= cnt[k] ? cnt[k] : 1;
  int64_t right = 0;
  for (int64_t i = 0; i < te->n; i++) {
    int best = 0;
    double best_d = INFINITY;
    for (int k = 0; k < K; k++) {
      double d = 0;
      for (int64_t j = 0; j < D; j++) {
        double t = te->images[i * D + j] - mu[k * D + j];
        d += t * t;
      }
      if (d < best_d) best_d = d, best = k;
    }
    right += best == te->labels[i];
  }
  free(mu);
  free(cnt);
  return (double)right / (double)te->n;
}

static void test_synthetic(void) {
  DataSpec s;
  data_spec_init(&s);  // the quickstart default: 10000 + 2000 of 1x28x28, 10 classes
  Err e = {0};
  Dataset a, b;
  double t0 = seconds();
  int rc = dataset_load(&a, &s, &e);
  double t1 = seconds();
  CHECK(rc == 0);
  if (rc) {
    fprintf(stderr, "  %s\n", e.msg);
    return;
  }
  printf("synthetic 10000+2000 x 1x28x28: %.3f s\n", t1 - t0);
  CHECK(a.train.n == 10000 && a.test.n == 2000 && a.train.c == 1 && a.train.num_classes == 10);
  rc = dataset_load(&b, &s, &e);
  CHECK(rc == 0 && sets_equal(&a.train, &b.train) && sets_equal(&a.test, &b.test));
  CHECK(a.mean[0] == b.mean[0] && a.mean[0] > 0.2f && a.mean[0] < 0.8f && a.std[0] > 0.1f);
  int64_t per[10] = {0};
  for (int64_t i = 0; i < a.train.n; i++) per[a.train.labels[i]]++;
  CHECK(per[0] == 1000 && per[9] == 1000);
  double acc = ncm_accuracy(&a.train, &a.test);
  printf("synthetic: nearest-class-mean test accuracy %.3f (chance 0.1)\n", acc);
  CHECK(acc > 0.3 && acc < 0.9);  // learnable, not trivially
  dataset_free(&b);
  // A prefix of a bigger set; another seed gives other images.
  s.synth.n_train = 20000, s.max_test = 100;
  rc = dataset_load(&b, &s, &e);
  CHECK(rc == 0 && b.train.n == 20000 && b.test.n == 100);
  if (!rc) CHECK(!memcmp(b.train.images, a.train.images, (size_t)a.train.n * 784));
  if (!rc) CHECK(!memcmp(b.test.images, a.test.images, 100 * 784));
  dataset_free(&b);
  s.synth.seed = 1;
  rc = dataset_load(&b, &s, &e);
  CHECK(rc == 0 && memcmp(b.train.images, a.train.images, 784) != 0);
  dataset_free(&b);
  dataset_free(&a);
  // Colour, CIFAR-sized.
  data_spec_init(&s);
  s.synth.c = 3, s.synth.h = s.synth.w = 32;
  t0 = seconds();
  rc = dataset_load(&a, &s, &e);
  printf("synthetic 10000+2000 x 3x32x32: %.3f s\n", seconds() - t0);
  CHECK(rc == 0 && a.train.c == 3 && a.train.h == 32);
  if (!rc) {
    acc = ncm_accuracy(&a.train, &a.test);
    printf("synthetic 3x32x32: nearest-class-mean test accuracy %.3f\n", acc);
    CHECK(acc > 0.3);
    dataset_free(&a);
  }
  // Bad parameters are config errors.
  data_spec_init(&s);
  s.synth.classes = 1;
  CHECK_ERR(dataset_load(&a, &s, &e), e, ERR_CONFIG, "synthetic: classes must be in 2..1000", NULL);
  data_spec_init(&s);
  s.aug.crop_pad = -3;
  CHECK_ERR(data_spec_check(&s, &e), e, ERR_CONFIG, "crop padding", NULL);
  data_spec_init(&s);
  s.norm = DATA_NORM_EXPLICIT;  // std left 0
  CHECK_ERR(data_spec_check(&s, &e), e, ERR_CONFIG, "std[0] = 0 must be > 0", NULL);
  s.mean[0] = 0.5f, s.std[0] = s.std[1] = s.std[2] = 0.25f, s.max_train = 10;
  rc = dataset_load(&a, &s, &e);
  CHECK(rc == 0 && a.mean[0] == 0.5f && a.std[0] == 0.25f);
  if (!rc) dataset_free(&a);
}

// ----------------------------------------------------------------------------------------------
// real data

static void test_real(const char *root) {
  char dir[DATA_PATH_MAX];
  Err e = {0};
  Dataset d;
  DataSpec s;
  data_spec_init(&s);
  snprintf(s.name, sizeof s.name, "mnist");
  snprintf(dir, sizeof dir, "%s/mnist", root);
  snprintf(s.root, sizeof s.root, "%s", dir);
  double t0 = seconds();
  int rc = dataset_load(&d, &s, &e);
  printf("mnist: %.3f s\n", seconds() - t0);
  CHECK(rc == 0);
  if (rc) fprintf(stderr, "  %s\n", e.msg);
  if (!rc) {
    CHECK(d.train.n == 60000 && d.test.n == 10000 && d.train.h == 28 && d.train.w == 28);
    int32_t tr[5] = {5, 0, 4, 1, 9}, te[4] = {7, 2, 1, 0};
    CHECK(!memcmp(d.train.labels, tr, sizeof tr) && !memcmp(d.test.labels, te, sizeof te));
    int ok = 1;
    for (int64_t i = 0; i < d.train.n; i++) ok &= d.train.labels[i] >= 0 && d.train.labels[i] < 10;
    CHECK(ok);
    float m[1], sd[1];
    data_channel_stats(&d.train, m, sd);  // the published statistics are MNIST's own
    CHECK_CLOSE(m[0], 0.1307, 0, 1e-4);
    CHECK_CLOSE(sd[0], 0.3081, 0, 1e-4);
    dataset_free(&d);
  }
  const char *tr[] = {"data_batch_1.first4000.bin"}, *te[] = {"test_batch.first1000.bin"};
  data_spec_init(&s);
  snprintf(s.name, sizeof s.name, "cifar10");
  snprintf(s.root, sizeof s.root, "%s/cifar-10-sample", root);
  snprintf(s.train_files[0], DATA_PATH_MAX, "%s", tr[0]);
  snprintf(s.test_files[0], DATA_PATH_MAX, "%s", te[0]);
  s.n_train_files = s.n_test_files = 1;
  rc = dataset_load(&d, &s, &e);
  CHECK(rc == 0);
  if (rc) fprintf(stderr, "  %s\n", e.msg);
  if (!rc) {
    CHECK(d.train.n == 4000 && d.test.n == 1000 && d.train.c == 3 && d.train.h == 32);
    CHECK(d.train.labels[0] == 6 && d.train.labels[1] == 9);  // frog, truck
    CHECK(d.test.labels[0] == 3 && d.test.labels[1] == 8);    // cat, ship
    float m[3], sd[3];
    data_channel_stats(&d.train, m, sd);
    CHECK_CLOSE(m[0], 0.4914, 0, 0.02);
    dataset_free(&d);
  }
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  return remove(path);
}

int main(int argc, char **argv) {
  snprintf(tmp_dir, sizeof tmp_dir, "/tmp/ecore_test_data_XXXXXX");
  if (!mkdtemp(tmp_dir)) {
    perror("mkdtemp");
    return 1;
  }
  test_idx_roundtrip();
  test_idx_errors();
  test_cifar();
  test_hdf5();
  test_batch();
  test_epoch_order();
  test_split();
  test_synthetic();
  nftw(tmp_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  struct stat st;
  const char *root = argc > 1 ? argv[1] : NULL;
  if (!root || stat(root, &st) != 0 || !S_ISDIR(st.st_mode)) {
    if (test_failures) return test_finish("test_data");
    TEST_SKIP("real data folder %s is absent; unit checks passed", root ? root : "(not given)");
  }
  test_real(root);
  return test_finish("test_data");
}
