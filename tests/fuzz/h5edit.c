// h5edit.c: structured fuzzing of the HDF5 readers. The byte-level harnesses mutate a file's
// bytes, and since ecore writes files whose whole structure is checksummed (HDF5 1.8's format
// and later), almost every mutation stops at HDF5's checksum: HDF5 is fuzzed, ecore's checks of
// what a valid file holds are not. Here the input is a list of edits made through the HDF5 API
// to a valid file ecore wrote (the template), so the file stays valid HDF5 and the reader's own
// checks meet every kind of content: attributes and datasets missing, of other types, shapes
// and sizes, of other values (any bytes: NaN, huge counts, strings without a NUL, ...), and
// datasets grown or shrunk.
//
// Input: edits, each a target byte (an index into the file's datasets, groups and attributes,
// modulo their count, listed in HDF5's name order), an operation byte (modulo 4), then the
// operation's bytes; missing bytes read as 0. At most H5EDIT_MAX_EDITS edits.
//   0 delete       the attribute, dataset or group
//   1 retype       replace an attribute or dataset (a group: by a dataset) with one of type
//                  t (byte % 10: i8 u8 i32 i64 f32 f64 f32be i32be, fixed string of
//                  1 + byte % 40 bytes, variable-length string), rank byte % 5, each dimension
//                  byte % 40 (at most 65536 values), then its values from the input's bytes
//   2 patch        overwrite len (1 + byte % 16) bytes of its values at offset (u16 LE, modulo
//                  their size) with the next bytes, keeping type and shape
//   3 resize       a chunked dataset's first dimension to u16 LE % (2 * dims[0] + 9)
#include <hdf5.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

enum { H5EDIT_MAX_EDITS = 8, MAX_TARGETS = 512, NAME = 256, MAX_VALUES = 65536 };
enum { DELETE, RETYPE, PATCH, RESIZE, OPS };
typedef enum { GROUP, DATASET, ATTRIBUTE } Kind;

typedef struct {
  Kind kind;
  char obj[NAME];   // the object's path, "." for the root
  char attr[NAME];  // the attribute's name (ATTRIBUTE)
} Target;

typedef struct {
  Target t[MAX_TARGETS];
  int n;
} Targets;

typedef struct {
  const uint8_t *p;
  size_t n;
} Input;

static uint8_t take(Input *in) {
  if (!in->n) return 0;
  in->n--;
  return *in->p++;
}

static unsigned take16(Input *in) {
  unsigned lo = take(in);
  return lo | (unsigned)take(in) << 8;
}

static void add(Targets *ts, Kind kind, const char *obj, const char *attr) {
  if (ts->n == MAX_TARGETS || strlen(obj) >= NAME || strlen(attr) >= NAME) return;
  Target *t = &ts->t[ts->n++];
  t->kind = kind;
  strcpy(t->obj, obj);
  strcpy(t->attr, attr);
}

typedef struct {
  Targets *ts;
  const char *obj;
} AttrWalk;

static herr_t on_attr(hid_t loc, const char *name, const H5A_info_t *info, void *op) {
  (void)loc, (void)info;
  AttrWalk *w = op;
  add(w->ts, ATTRIBUTE, w->obj, name);
  return 0;
}

static void add_attrs(hid_t f, Targets *ts, const char *obj) {
  AttrWalk w = {ts, obj};
  H5Aiterate_by_name(f, obj, H5_INDEX_NAME, H5_ITER_NATIVE, NULL, on_attr, &w, H5P_DEFAULT);
}

static herr_t on_link(hid_t g, const char *name, const H5L_info_t *info, void *op) {
  (void)info;
  H5O_info_t oi;
  if (H5Oget_info_by_name(g, name, &oi, H5P_DEFAULT) < 0) return 0;
  if (oi.type == H5O_TYPE_GROUP || oi.type == H5O_TYPE_DATASET)
    add(op, oi.type == H5O_TYPE_GROUP ? GROUP : DATASET, name, "");
  return 0;
}

// Every group, dataset and attribute of the file, in name order.
static void list_targets(hid_t f, Targets *ts) {
  ts->n = 0;
  add_attrs(f, ts, ".");
  int objects = ts->n;
  H5Lvisit(f, H5_INDEX_NAME, H5_ITER_NATIVE, on_link, ts);
  int end = ts->n;
  for (int i = objects; i < end; i++) add_attrs(f, ts, ts->t[i].obj);
}

// Whether values of type t hold pointers (variable-length data), which raw bytes cannot be.
static bool has_pointers(hid_t t) {
  H5T_class_t c = H5Tget_class(t);
  if (c == H5T_VLEN || H5Tis_variable_str(t) > 0) return true;
  if (c == H5T_COMPOUND) {
    for (int i = 0; i < H5Tget_nmembers(t); i++) {
      hid_t m = H5Tget_member_type(t, (unsigned)i);
      bool p = has_pointers(m);
      H5Tclose(m);
      if (p) return true;
    }
  }
  if (c == H5T_ARRAY) {
    hid_t b = H5Tget_super(t);
    bool p = has_pointers(b);
    H5Tclose(b);
    return p;
  }
  return false;
}

static void delete_target(hid_t f, const Target *t) {
  if (t->kind == ATTRIBUTE)
    H5Adelete_by_name(f, t->obj, t->attr, H5P_DEFAULT);
  else if (strcmp(t->obj, "."))
    H5Ldelete(f, t->obj, H5P_DEFAULT);
}

// A type chosen by the input (the caller closes it).
static hid_t input_type(Input *in) {
  int k = take(in) % 10;
  hid_t t = k == 0   ? H5T_STD_I8LE
            : k == 1 ? H5T_STD_U8LE
            : k == 2 ? H5T_STD_I32LE
            : k == 3 ? H5T_STD_I64LE
            : k == 4 ? H5T_IEEE_F32LE
            : k == 5 ? H5T_IEEE_F64LE
            : k == 6 ? H5T_IEEE_F32BE
            : k == 7 ? H5T_STD_I32BE
                     : H5T_C_S1;
  t = H5Tcopy(t);
  if (k >= 8) H5Tset_size(t, k == 8 ? (size_t)(1 + take(in) % 40) : H5T_VARIABLE);
  return t;
}

// Values of type t [n] from the input's bytes: raw bytes, or for variable-length strings
// pointers to NUL-terminated pieces of strs [n * 16].
static void *input_values(Input *in, hid_t t, size_t n, char *strs) {
  if (H5Tis_variable_str(t) > 0) {
    char **v = calloc(n ? n : 1, sizeof *v);
    for (size_t i = 0; v && i < n; i++) {
      v[i] = strs + i * 16;
      size_t len = take(in) % 16;
      for (size_t j = 0; j < len; j++) v[i][j] = (char)(take(in) | 1);  // no NUL inside
    }
    return v;
  }
  size_t bytes = n * H5Tget_size(t);
  uint8_t *v = calloc(bytes ? bytes : 1, 1);
  for (size_t i = 0; v && i < bytes; i++) v[i] = take(in);
  return v;
}

static void retype(hid_t f, const Target *t, Input *in) {
  hid_t type = input_type(in);
  int rank = take(in) % 5;
  hsize_t dims[4];
  size_t n = 1;
  for (int i = 0; i < rank; i++) {
    dims[i] = take(in) % 40;
    if (n * dims[i] > MAX_VALUES) dims[i] = 1;
    n *= dims[i];
  }
  char *strs = calloc(n ? n : 1, 16);
  void *v = strs ? input_values(in, type, n, strs) : NULL;
  hid_t sp = rank ? H5Screate_simple(rank, dims, NULL) : H5Screate(H5S_SCALAR);
  delete_target(f, t);
  if (v && t->kind == ATTRIBUTE) {
    hid_t a =
        H5Acreate_by_name(f, t->obj, t->attr, type, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (a >= 0) H5Awrite(a, type, v), H5Aclose(a);
  } else if (v && strcmp(t->obj, ".")) {
    hid_t d = H5Dcreate2(f, t->obj, type, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (d >= 0) H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, v), H5Dclose(d);
  }
  H5Sclose(sp), H5Tclose(type);
  free(v), free(strs);
}

static void patch(hid_t f, const Target *t, Input *in) {
  unsigned offset = take16(in), len = 1 + take(in) % 16;
  hid_t id = t->kind == ATTRIBUTE ? H5Aopen_by_name(f, t->obj, t->attr, H5P_DEFAULT, H5P_DEFAULT)
             : t->kind == DATASET ? H5Dopen2(f, t->obj, H5P_DEFAULT)
                                  : -1;
  if (id < 0) return;
  bool attr = t->kind == ATTRIBUTE;
  hid_t type = attr ? H5Aget_type(id) : H5Dget_type(id);
  hid_t sp = attr ? H5Aget_space(id) : H5Dget_space(id);
  hssize_t n = H5Sget_simple_extent_npoints(sp);
  size_t bytes = n > 0 ? (size_t)n * H5Tget_size(type) : 0;
  uint8_t *v = bytes && bytes <= (4u << 20) && !has_pointers(type) ? malloc(bytes) : NULL;
  if (v &&
      (attr ? H5Aread(id, type, v) : H5Dread(id, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, v)) >= 0) {
    for (unsigned i = 0; i < len; i++) v[(offset + i) % bytes] = take(in);
    attr ? H5Awrite(id, type, v) : H5Dwrite(id, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
  }
  free(v);
  H5Sclose(sp), H5Tclose(type);
  attr ? H5Aclose(id) : H5Dclose(id);
}

static void resize(hid_t f, const Target *t, Input *in) {
  unsigned k = take16(in);
  hid_t d = t->kind == DATASET ? H5Dopen2(f, t->obj, H5P_DEFAULT) : -1;
  if (d < 0) return;
  hid_t sp = H5Dget_space(d);
  hsize_t dims[H5S_MAX_RANK];
  int rank = H5Sget_simple_extent_dims(sp, dims, NULL);
  if (rank >= 1) {
    dims[0] = k % (2 * dims[0] + 9);
    H5Dset_extent(d, dims);  // refused unless chunked and within the maximum
  }
  H5Sclose(sp), H5Dclose(d);
}

int h5edit_apply(const char *path, const uint8_t *data, size_t size) {
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
  if (f < 0) return -1;
  Targets *ts = malloc(sizeof *ts);
  Input in = {data, size};
  for (int k = 0; ts && k < H5EDIT_MAX_EDITS && in.n; k++) {
    list_targets(f, ts);  // again after each edit: a delete or retype changes the list
    if (!ts->n) break;
    const Target *t = &ts->t[take(&in) % ts->n];
    switch (take(&in) % OPS) {
      case DELETE:
        delete_target(f, t);
        break;
      case RETYPE:
        retype(f, t, &in);
        break;
      case PATCH:
        patch(f, t, &in);
        break;
      default:
        resize(f, t, &in);
        break;
    }
  }
  free(ts);
  return H5Fclose(f) < 0 ? -1 : 0;
}
