// data_hdf5.c: a data set in one HDF5 file (layout in data.h):
//   /train/images uint8 [N,C,H,W] (or [N,H,W]), /train/labels integer [N], same under /test,
//   optional integer attribute num_classes on "/".
// HDF5 prints its own error stacks by default; we silence that while we work and turn every
// failure into an Err that names the file and the dataset.
#include <hdf5.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data.h"
#include "h5quiet.h"

enum { H5_MAX_SIDE = 4096 };

int data_hdf5_path(char *path, const DataSpec *spec, Err *e) {
  if (spec->file[0]) return data_find(path, spec->root, spec->file, 0, NULL, 0, e);
  if (!spec->root[0]) return errf(e, ERR_CONFIG, "hdf5: set data.root (the .h5 file) or data.file");
  struct stat st;
  if (stat(spec->root, &st) == 0 && S_ISDIR(st.st_mode))
    return errf(e, ERR_CONFIG, "%s: is a folder; name the .h5 file in data.file or data.root",
                spec->root);
  return data_find(path, "", spec->root, 0, NULL, 0, e);
}

// The handles one dataset read needs, closed together on every path.
typedef struct {
  hid_t ds, type, space, mem;
} H5Read;

static void h5read_close(H5Read *r) {
  if (r->mem >= 0) H5Sclose(r->mem);
  if (r->space >= 0) H5Sclose(r->space);
  if (r->type >= 0) H5Tclose(r->type);
  if (r->ds >= 0) H5Dclose(r->ds);
}

static void describe_type(char *out, size_t len, hid_t type) {
  H5T_class_t cls = H5Tget_class(type);
  size_t size = H5Tget_size(type);
  if (cls == H5T_INTEGER)
    snprintf(out, len, "%zu-byte %s integer", size,
             H5Tget_sign(type) == H5T_SGN_NONE ? "unsigned" : "signed");
  else if (cls == H5T_FLOAT)
    snprintf(out, len, "%zu-byte float", size);
  else
    snprintf(out, len, "a non-numeric type (class %d)", (int)cls);
}

// Opens group/leaf as name, checks it is an integer dataset (of 1 unsigned byte if want_u8) with
// rank in [rank_lo, rank_hi]; fills dims [rank] and *rank.
static int open_dataset(H5Read *r, char *name, hid_t f, const char *path, const char *group,
                        const char *leaf, int want_u8, int rank_lo, int rank_hi, hsize_t *dims,
                        int *rank, Err *e) {
  const char *expect = want_u8 ? "uint8 [N,C,H,W]" : "integer [N]";
  snprintf(name, 64, "%s/%s", group, leaf);
  // H5Lexists fails on a path whose group is missing: ask level by level.
  if (H5Lexists(f, group, H5P_DEFAULT) <= 0 || H5Lexists(f, name, H5P_DEFAULT) <= 0 ||
      (r->ds = H5Dopen2(f, name, H5P_DEFAULT)) < 0)
    return errf(e, ERR_RUNTIME, "%s: no dataset %s (expected %s)", path, name, expect);
  r->type = H5Dget_type(r->ds);
  r->space = H5Dget_space(r->ds);
  if (r->type < 0 || r->space < 0) return errf(e, ERR_RUNTIME, "%s: %s: unreadable", path, name);
  int ok = H5Tget_class(r->type) == H5T_INTEGER;
  if (want_u8) ok = ok && H5Tget_size(r->type) == 1 && H5Tget_sign(r->type) == H5T_SGN_NONE;
  if (!ok) {
    char found[64];
    describe_type(found, sizeof found, r->type);
    return errf(e, ERR_RUNTIME, "%s: %s: expected %s, found %s", path, name,
                want_u8 ? "uint8" : "an integer type", found);
  }
  *rank = H5Sget_simple_extent_ndims(r->space);
  if (*rank < rank_lo || *rank > rank_hi)
    return errf(e, ERR_RUNTIME, "%s: %s: rank %d, expected %s", path, name, *rank, expect);
  H5Sget_simple_extent_dims(r->space, dims, NULL);
  return 0;
}

// Reads the first count[0] rows of r's dataset into buf as mem_type.
static int read_prefix(H5Read *r, const char *path, const char *name, int rank,
                       const hsize_t *count, hid_t mem_type, void *buf, Err *e) {
  hsize_t start[4] = {0, 0, 0, 0};
  r->mem = H5Screate_simple(rank, count, NULL);
  if (r->mem < 0 || H5Sselect_hyperslab(r->space, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
      H5Dread(r->ds, mem_type, r->mem, r->space, H5P_DEFAULT, buf) < 0)
    return errf(e, ERR_RUNTIME, "%s: %s: read failed (corrupt or truncated file?)", path, name);
  return 0;
}

static int check_image_dims(const char *path, const char *name, int rank, const hsize_t *d,
                            Err *e) {
  hsize_t c = rank == 4 ? d[1] : 1, h = d[rank - 2], w = d[rank - 1];
  if (d[0] < 1 || d[0] > INT32_MAX || c < 1 || c > DATA_MAX_CHANNELS || h < 1 || h > H5_MAX_SIDE ||
      w < 1 || w > H5_MAX_SIDE)
    return errf(e, ERR_RUNTIME,
                "%s: %s: shape [%llu,%llu,%llu,%llu], expected N in 1..2^31-1, C in 1..%d, H and "
                "W in 1..%d",
                path, name, (unsigned long long)d[0], (unsigned long long)c, (unsigned long long)h,
                (unsigned long long)w, DATA_MAX_CHANNELS, H5_MAX_SIDE);
  return 0;
}

// Reads group/images (prefix of max rows); *n_file = the rows the file holds.
static int read_images(ImageSet *s, hsize_t *n_file, hid_t f, const char *path, const char *group,
                       int64_t max, Err *e) {
  H5Read r = {-1, -1, -1, -1};
  hsize_t d[4];
  char name[64];
  int rank = 0;
  int rc = open_dataset(&r, name, f, path, group, "images", 1, 3, 4, d, &rank, e);
  if (!rc) rc = check_image_dims(path, name, rank, d, e);
  if (!rc) {
    *n_file = d[0];
    s->n = (max > 0 && (hsize_t)max < d[0]) ? max : (int64_t)d[0];
    s->c = rank == 4 ? (int)d[1] : 1, s->h = (int)d[rank - 2], s->w = (int)d[rank - 1];
    s->images = malloc((size_t)s->n * s->c * s->h * s->w);
    if (!s->images) rc = errf(e, ERR_RUNTIME, "%s: %s: out of memory", path, name);
    d[0] = (hsize_t)s->n;
  }
  if (!rc) rc = read_prefix(&r, path, name, rank, d, H5T_NATIVE_UINT8, s->images, e);
  h5read_close(&r);
  return rc;
}

// Reads group/labels (as int32: HDF5 converts any integer type); there must be one per image.
static int read_labels(ImageSet *s, hsize_t n_images, hid_t f, const char *path, const char *group,
                       Err *e) {
  H5Read r = {-1, -1, -1, -1};
  hsize_t d[1];
  char name[64];
  int rank = 0;
  int rc = open_dataset(&r, name, f, path, group, "labels", 0, 1, 1, d, &rank, e);
  if (!rc && d[0] != n_images)
    rc = errf(e, ERR_RUNTIME, "%s: %s has %llu labels, but %s/images has %llu images", path, name,
              (unsigned long long)d[0], group, (unsigned long long)n_images);
  if (!rc) {
    s->labels = malloc((size_t)s->n * sizeof *s->labels);
    if (!s->labels) rc = errf(e, ERR_RUNTIME, "%s: %s: out of memory", path, name);
    d[0] = (hsize_t)s->n;
  }
  if (!rc) rc = read_prefix(&r, path, name, 1, d, H5T_NATIVE_INT32, s->labels, e);
  h5read_close(&r);
  return rc;
}

// The attribute num_classes on "/", or 0 if there is none.
static int read_num_classes(hid_t f, const char *path, int *k, Err *e) {
  *k = 0;
  htri_t has = H5Aexists(f, "num_classes");
  if (has <= 0) return 0;
  hid_t a = H5Aopen(f, "num_classes", H5P_DEFAULT), t = a >= 0 ? H5Aget_type(a) : -1;
  int rc = 0;
  hid_t sp = a >= 0 ? H5Aget_space(a) : -1;
  hssize_t n = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
  if (sp >= 0) H5Sclose(sp);
  if (t < 0 || H5Tget_class(t) != H5T_INTEGER || n != 1 || H5Aread(a, H5T_NATIVE_INT, k) < 0)
    rc = errf(e, ERR_RUNTIME, "%s: attribute num_classes: expected an integer scalar", path);
  else if (*k < 2)
    rc = errf(e, ERR_RUNTIME, "%s: attribute num_classes = %d, expected >= 2", path, *k);
  if (t >= 0) H5Tclose(t);
  if (a >= 0) H5Aclose(a);
  return rc;
}

// Checks labels against k (from the attribute), or finds k = 1 + max label when k is 0.
static int check_labels(ImageSet *tr, ImageSet *te, const char *path, int k, Err *e) {
  ImageSet *sets[2] = {tr, te};
  int max_label = -1;
  for (int t = 0; t < 2; t++)
    for (int64_t i = 0; i < sets[t]->n; i++) {
      int32_t y = sets[t]->labels[i];
      if (y < 0 || y >= (k ? k : INT32_MAX))  // without k: 1 + max is the classes
        return errf(e, ERR_RUNTIME, "%s: /%s/labels: label %d at index %lld out of range [0, %d)%s",
                    path, t ? "test" : "train", y, (long long)i, k ? k : INT32_MAX,
                    k ? " (attribute num_classes)" : "");
      if (y > max_label) max_label = y;
    }
  tr->num_classes = te->num_classes = k ? k : max_label + 1;
  return 0;
}

static int load_file(ImageSet *tr, ImageSet *te, const char *path, const DataSpec *spec, Err *e) {
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) return errf(e, ERR_RUNTIME, "%s: not an HDF5 file, or unreadable", path);
  hsize_t n_train, n_test;
  int k, rc = read_num_classes(f, path, &k, e);
  if (!rc) rc = read_images(tr, &n_train, f, path, "/train", spec->max_train, e);
  if (!rc) rc = read_labels(tr, n_train, f, path, "/train", e);
  if (!rc) rc = read_images(te, &n_test, f, path, "/test", spec->max_test, e);
  if (!rc) rc = read_labels(te, n_test, f, path, "/test", e);
  if (!rc && (te->c != tr->c || te->h != tr->h || te->w != tr->w))
    rc = errf(e, ERR_RUNTIME, "%s: /test/images are [%d,%d,%d] per image, /train/images [%d,%d,%d]",
              path, te->c, te->h, te->w, tr->c, tr->h, tr->w);
  if (!rc) rc = check_labels(tr, te, path, k, e);
  H5Fclose(f);
  return rc;
}

// group/images and group/labels: types, shapes, one label per image; *img: [C,H,W] per image.
static int peek_group(hid_t f, const char *path, const char *group, hsize_t *img, Err *e) {
  H5Read r = {-1, -1, -1, -1};
  hsize_t d[4] = {0, 0, 0, 0}, n_labels = 0;
  char name[64];
  int rank = 0, rank1 = 0;
  int rc = open_dataset(&r, name, f, path, group, "images", 1, 3, 4, d, &rank, e);
  if (!rc) rc = check_image_dims(path, name, rank, d, e);
  h5read_close(&r);
  if (!rc) rc = open_dataset(&r, name, f, path, group, "labels", 0, 1, 1, &n_labels, &rank1, e);
  h5read_close(&r);
  if (!rc && n_labels != d[0])
    rc = errf(e, ERR_RUNTIME, "%s: %s has %llu labels, but %s/images has %llu images", path, name,
              (unsigned long long)n_labels, group, (unsigned long long)d[0]);
  if (!rc) img[0] = rank == 4 ? d[1] : 1, img[1] = d[rank - 2], img[2] = d[rank - 1];
  return rc;
}

// /train and /test checked (peek_group), and their images of one shape.
static int peek_file(const char *path, Err *e) {
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  hsize_t tr[3], te[3];
  int rc = f < 0 ? errf(e, ERR_RUNTIME, "%s: not an HDF5 file, or unreadable", path) : 0;
  if (!rc) rc = peek_group(f, path, "/train", tr, e);
  if (!rc) rc = peek_group(f, path, "/test", te, e);
  if (!rc && (tr[0] != te[0] || tr[1] != te[1] || tr[2] != te[2]))
    rc = errf(e, ERR_RUNTIME,
              "%s: /test/images are [%llu,%llu,%llu] per image, /train/images [%llu,%llu,%llu]",
              path, (unsigned long long)te[0], (unsigned long long)te[1], (unsigned long long)te[2],
              (unsigned long long)tr[0], (unsigned long long)tr[1], (unsigned long long)tr[2]);
  if (f >= 0) H5Fclose(f);
  return rc;
}

int data_hdf5_peek(const DataSpec *spec, Err *e) {
  char path[DATA_PATH_MAX];
  int rc = data_hdf5_path(path, spec, e);
  if (rc) return rc;
  Quiet q = quiet_on();
  rc = peek_file(path, e);
  quiet_off(q);
  return rc;
}

int data_load_hdf5(ImageSet *train, ImageSet *test, const DataSpec *spec, Err *e) {
  memset(train, 0, sizeof *train);
  memset(test, 0, sizeof *test);
  char path[DATA_PATH_MAX];
  int rc = data_hdf5_path(path, spec, e);
  if (rc) return rc;
  Quiet q = quiet_on();
  rc = load_file(train, test, path, spec, e);
  quiet_off(q);
  if (rc) {
    imageset_free(train);
    imageset_free(test);
  }
  return rc;
}
