// results.c: the results file: schema, rows, create/open/append/read. Layout: results.h; the
// trace's part is in trace.c.
#include "results.h"
#include "git_commit.h"  // ECORE_GIT_COMMIT, written at build time

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "results_internal.h"

#define FORMAT_NAME "ecore-results"
enum { CHUNK_ROWS = 64 };

static const struct {
  const char *name;
  size_t offset;
} SCALARS[RESULTS_N_SCALARS] = {
    {"forget_acc", offsetof(ResultRow, forget_acc)},
    {"retain_acc", offsetof(ResultRow, retain_acc)},
    {"test_retain_acc", offsetof(ResultRow, test_retain_acc)},
    {"test_forget_acc", offsetof(ResultRow, test_forget_acc)},
    {"mia_efficacy", offsetof(ResultRow, mia_efficacy)},
    {"avg_gap", offsetof(ResultRow, avg_gap)},
    {"wall_s", offsetof(ResultRow, wall_s)},
};

static const struct {
  const char *name, *title;
  size_t offset;
} CURVES[RESULTS_N_CURVES] = {
    {"cka_original", "linear CKA to the original model", offsetof(ResultRow, cka_original)},
    {"cka_retrain", "linear CKA to the retrained model", offsetof(ResultRow, cka_retrain)},
    {"knn_forget_acc", "k-NN probe accuracy on the forgotten classes",
     offsetof(ResultRow, knn_forget_acc)},
};

// The provenance fields, after the scalars: strings of `len` bytes, or int32 (len 0). Files
// from before them lack them (they read as "" and 0).
enum { N_PROVENANCE = 9 };
static const struct {
  const char *name;
  size_t offset, len;
} PROVENANCE[N_PROVENANCE] = {
    {"ecore_version", offsetof(ResultRow, ecore_version), RESULTS_VERSION_LEN},
    {"git_commit", offsetof(ResultRow, git_commit), RESULTS_COMMIT_LEN},
    {"hosts", offsetof(ResultRow, hosts), RESULTS_HOSTS_LEN},
    {"ranks", offsetof(ResultRow, ranks), 0},
    {"blas", offsetof(ResultRow, blas), RESULTS_BLAS_LEN},
    {"blas_kernel", offsetof(ResultRow, blas_kernel), RESULTS_NAME_LEN},
    {"blas_threads", offsetof(ResultRow, blas_threads), 0},
    {"original_fingerprint", offsetof(ResultRow, original_fingerprint), RESULTS_FINGERPRINT_LEN},
    {"retrain_fingerprint", offsetof(ResultRow, retrain_fingerprint), RESULTS_FINGERPRINT_LEN},
};

// Column names an axis may not take (besides the scalars' and the provenance's).
static const char *const FIXED_FIELDS[] = {"run_id", "method", "ec", "seed", "status"};

const char *results_scalar_name(int i) {
  return SCALARS[i].name;
}
double results_row_scalar(const ResultRow *row, int i) {
  return *(const double *)((const char *)row + SCALARS[i].offset);
}
const char *results_curve_name(int i) {
  return CURVES[i].name;
}
const char *results_curve_title(int i) {
  return CURVES[i].title;
}
const double *results_row_curve(const ResultRow *row, int i) {
  return (const double *)((const char *)row + CURVES[i].offset);
}

static const char *const TYPE_NAMES[] = {"string", "bool", "int", "float"};

const char *results_type_name(ResultsType t) {
  return TYPE_NAMES[t];
}

// ---------------------------------------------------------------- rows and schema

void results_row_init(ResultRow *row) {
  memset(row, 0, sizeof *row);
  strcpy(row->status, "ok");
  for (int i = 0; i < RESULTS_N_SCALARS; i++) *(double *)((char *)row + SCALARS[i].offset) = NAN;
  for (int p = 0; p < RESULTS_MAX_POINTS; p++)
    row->cka_original[p] = row->cka_retrain[p] = row->knn_forget_acc[p] = NAN;
}

static int axis_index(const ResultsSchema *s, const char *axis) {
  for (int i = 0; i < s->n_axes; i++)
    if (!strcmp(s->axes[i], axis)) return i;
  return -1;
}

int results_row_set_axis(ResultRow *row, const ResultsSchema *s, const char *axis,
                         const char *value, Err *e) {
  int i = axis_index(s, axis);
  if (i < 0) return errf(e, ERR_CONFIG, "'%s' is not a grid axis of sweep %s", axis, s->sweep_id);
  if (strlen(value) >= RESULTS_VALUE_LEN)
    return errf(e, ERR_CONFIG, "value of axis '%s' is longer than %d bytes: %s", axis,
                RESULTS_VALUE_LEN - 1, value);
  strcpy(row->axis[i], value);
  return 0;
}

bool results_row_ok(const ResultRow *row) {
  return !strcmp(row->status, "ok");
}

static bool same_double(double a, double b) {
  return a == b || (isnan(a) && isnan(b));
}

// Fingerprints a and b do not tell two models apart: equal, or one of them not known ("").
static bool same_model(const char *a, const char *b) {
  return !*a || !*b || !strcmp(a, b);
}

bool results_rows_equal(const ResultRow *a, const ResultRow *b, const ResultsSchema *s,
                        const char **field) {
  const char *f = NULL;
  if (strcmp(a->run_id, b->run_id))
    f = "run_id";
  else if (strcmp(a->method, b->method))
    f = "method";
  else if (a->ec != b->ec)
    f = "ec";
  else if (a->seed != b->seed)
    f = "seed";
  else if (strcmp(a->status, b->status))
    f = "status";
  for (int i = 0; !f && i < s->n_axes; i++)
    if (strcmp(a->axis[i], b->axis[i])) f = s->axes[i];
  for (int i = 0; !f && i < RESULTS_N_SCALARS; i++)  // wall_s says how, not what
    if (strcmp(SCALARS[i].name, "wall_s") &&
        !same_double(results_row_scalar(a, i), results_row_scalar(b, i)))
      f = SCALARS[i].name;
  for (int c = 0; !f && c < RESULTS_N_CURVES; c++)
    for (int p = 0; !f && p < s->n_points; p++)
      if (!same_double(results_row_curve(a, c)[p], results_row_curve(b, c)[p])) f = CURVES[c].name;
  // Of the provenance, the models it was measured against are part of the result (where both
  // rows name them: "" is not known); the rest (version, commit, hosts, ranks, BLAS) says how
  // it was computed.
  if (!f && !same_model(a->original_fingerprint, b->original_fingerprint))
    f = "original_fingerprint";
  if (!f && !same_model(a->retrain_fingerprint, b->retrain_fingerprint)) f = "retrain_fingerprint";
  if (!f) trace_equal(a, b, &f);
  if (field) *field = f;
  return f == NULL;
}

static bool terminated(const char *s, size_t cap) {
  return memchr(s, '\0', cap) != NULL;
}

static bool reserved_name(const char *name) {
  for (size_t i = 0; i < sizeof FIXED_FIELDS / sizeof *FIXED_FIELDS; i++)
    if (!strcmp(name, FIXED_FIELDS[i])) return true;
  for (int i = 0; i < RESULTS_N_SCALARS; i++)
    if (!strcmp(name, SCALARS[i].name)) return true;
  for (int i = 0; i < N_PROVENANCE; i++)
    if (!strcmp(name, PROVENANCE[i].name)) return true;
  return false;
}

int results_schema_check(const ResultsSchema *s, Err *e) {
  if (!terminated(s->sweep_id, sizeof s->sweep_id) || !s->sweep_id[0])
    return errf(e, ERR_CONFIG, "results schema: empty or unterminated sweep id");
  if (s->n_axes < 0 || s->n_axes > RESULTS_MAX_AXES)
    return errf(e, ERR_CONFIG, "results schema: %d grid axes (at most %d)", s->n_axes,
                RESULTS_MAX_AXES);
  if (s->n_points < 1 || s->n_points > RESULTS_MAX_POINTS)
    return errf(e, ERR_CONFIG, "results schema: %d supervision points (1 to %d)", s->n_points,
                RESULTS_MAX_POINTS);
  for (int i = 0; i < s->n_axes; i++) {
    if (!terminated(s->axes[i], RESULTS_NAME_LEN) || !s->axes[i][0])
      return errf(e, ERR_CONFIG, "results schema: axis %d has an empty or too long name", i);
    if (reserved_name(s->axes[i]))
      return errf(e, ERR_CONFIG, "results schema: axis '%s' clashes with a fixed column",
                  s->axes[i]);
    for (int j = 0; j < i; j++)
      if (!strcmp(s->axes[i], s->axes[j]))
        return errf(e, ERR_CONFIG, "results schema: axis '%s' given twice", s->axes[i]);
  }
  for (int i = 0; i < s->n_points; i++) {
    if (!terminated(s->points[i], RESULTS_NAME_LEN) || !s->points[i][0])
      return errf(e, ERR_CONFIG, "results schema: point %d has an empty or too long name", i);
    for (int j = 0; j < i; j++)
      if (!strcmp(s->points[i], s->points[j]))
        return errf(e, ERR_CONFIG, "results schema: point '%s' given twice", s->points[i]);
  }
  return 0;
}

bool results_schema_equal(const ResultsSchema *a, const ResultsSchema *b) {
  if (strcmp(a->sweep_id, b->sweep_id) || a->n_axes != b->n_axes || a->n_points != b->n_points)
    return false;
  for (int i = 0; i < a->n_axes; i++)
    if (strcmp(a->axes[i], b->axes[i])) return false;
  for (int i = 0; i < a->n_points; i++)
    if (strcmp(a->points[i], b->points[i])) return false;
  for (int i = 0; a->has_reference_axes && b->has_reference_axes && i < a->n_axes; i++)
    if (a->reference_axis[i] != b->reference_axis[i]) return false;
  return true;
}

int row_check(const ResultRow *r, const char *path, Err *e) {
  if (!terminated(r->run_id, sizeof r->run_id) || !r->run_id[0])
    return errf(e, ERR_CONFIG, "%s: a row has an empty or unterminated run_id", path);
  if (!terminated(r->method, sizeof r->method) || !terminated(r->status, sizeof r->status) ||
      !r->status[0])
    return errf(e, ERR_CONFIG, "%s: run %s: bad method or status text", path, r->run_id);
  if (r->ec != 0 && r->ec != 1)
    return errf(e, ERR_CONFIG, "%s: run %s: ec is %d (0 or 1)", path, r->run_id, r->ec);
  for (int i = 0; i < RESULTS_MAX_AXES; i++)
    if (!terminated(r->axis[i], RESULTS_VALUE_LEN))
      return errf(e, ERR_CONFIG, "%s: run %s: axis value %d unterminated", path, r->run_id, i);
  for (int i = 0; i < N_PROVENANCE; i++)
    if (PROVENANCE[i].len && !terminated((const char *)r + PROVENANCE[i].offset, PROVENANCE[i].len))
      return errf(e, ERR_CONFIG, "%s: run %s: %s unterminated", path, r->run_id,
                  PROVENANCE[i].name);
  return trace_check(r, path, e);
}

// ---------------------------------------------------------------- HDF5 helpers

Quiet quiet_begin(void) {
  Quiet q = {NULL, NULL};
  H5Eget_auto2(H5E_DEFAULT, &q.fn, &q.data);
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  return q;
}
void quiet_end(Quiet q) {
  H5Eset_auto2(H5E_DEFAULT, q.fn, q.data);
}

static herr_t innermost(unsigned n, const H5E_error2_t *err, void *out) {
  (void)n;
  snprintf((char *)out, 256, "%s", err->desc);  // walked downward: the last is the root cause
  return 0;
}

int h5fail(Err *e, const char *path, const char *what) {
  char reason[256] = "";
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, innermost, reason);
  if (reason[0]) return errf(e, ERR_RUNTIME, "%s: %s (%s)", path, what, reason);
  return errf(e, ERR_RUNTIME, "%s: %s", path, what);
}

void h5close(hid_t id) {
  if (id < 0) return;
  switch (H5Iget_type(id)) {
    case H5I_FILE:
      H5Fclose(id);
      break;
    case H5I_GROUP:
      H5Gclose(id);
      break;
    case H5I_DATATYPE:
      H5Tclose(id);
      break;
    case H5I_DATASPACE:
      H5Sclose(id);
      break;
    case H5I_DATASET:
      H5Dclose(id);
      break;
    case H5I_ATTR:
      H5Aclose(id);
      break;
    case H5I_GENPROP_LST:
      H5Pclose(id);
      break;
    default:
      break;
  }
}

static hid_t fixed_str(size_t size, H5T_str_t pad) {
  hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, size);
  H5Tset_strpad(t, pad);
  H5Tset_cset(t, H5T_CSET_UTF8);
  return t;
}

static hid_t vlen_str(void) {
  hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, H5T_VARIABLE);
  H5Tset_cset(t, H5T_CSET_UTF8);
  return t;
}

// File types: NUL-padded strings and little endian numbers.
void add_member(hid_t t, bool file, size_t *offset, const char *name, size_t mem_offset,
                hid_t file_type, hid_t mem_type) {
  if (file) {
    H5Tinsert(t, name, *offset, file_type);
    *offset += H5Tget_size(file_type);
  } else {
    H5Tinsert(t, name, mem_offset, mem_type);
  }
}

void add_str(hid_t t, bool file, size_t *off, const char *name, size_t mem_off, size_t size) {
  hid_t ft = fixed_str(size, H5T_STR_NULLPAD), mt = fixed_str(size, H5T_STR_NULLTERM);
  add_member(t, file, off, name, mem_off, ft, mt);
  H5Tclose(ft);
  H5Tclose(mt);
}

static size_t runs_file_size(const ResultsSchema *s) {
  size_t n = RESULTS_RUN_ID_LEN + RESULTS_NAME_LEN + 4 + 4 + RESULTS_STATUS_LEN +
             (size_t)s->n_axes * RESULTS_VALUE_LEN + 8 * RESULTS_N_SCALARS;
  for (int i = 0; i < N_PROVENANCE; i++) n += PROVENANCE[i].len ? PROVENANCE[i].len : 4;
  return n;
}

// Whether compound type t has a field called name.
static bool has_field(hid_t t, const char *name) {
  return H5Tget_member_index(t, name) >= 0;
}

// The /runs compound type, as stored (file) or as ResultRow in memory. stored >= 0 (memory
// only): the type of a file's /runs, whose provenance fields may be missing (a file from before
// them): the memory type then leaves out those it lacks.
static hid_t runs_type_of(const ResultsSchema *s, bool file, hid_t stored) {
  hid_t t = H5Tcreate(H5T_COMPOUND, file ? runs_file_size(s) : sizeof(ResultRow));
  size_t off = 0;
  add_str(t, file, &off, "run_id", offsetof(ResultRow, run_id), RESULTS_RUN_ID_LEN);
  add_str(t, file, &off, "method", offsetof(ResultRow, method), RESULTS_NAME_LEN);
  add_member(t, file, &off, "ec", offsetof(ResultRow, ec), H5T_STD_I32LE, H5T_NATIVE_INT);
  add_member(t, file, &off, "seed", offsetof(ResultRow, seed), H5T_STD_I32LE, H5T_NATIVE_INT);
  add_str(t, file, &off, "status", offsetof(ResultRow, status), RESULTS_STATUS_LEN);
  for (int i = 0; i < s->n_axes; i++)
    add_str(t, file, &off, s->axes[i], offsetof(ResultRow, axis) + (size_t)i * RESULTS_VALUE_LEN,
            RESULTS_VALUE_LEN);
  for (int i = 0; i < RESULTS_N_SCALARS; i++)
    add_member(t, file, &off, SCALARS[i].name, SCALARS[i].offset, H5T_IEEE_F64LE,
               H5T_NATIVE_DOUBLE);
  for (int i = 0; i < N_PROVENANCE; i++) {
    if (stored >= 0 && !has_field(stored, PROVENANCE[i].name)) continue;
    if (PROVENANCE[i].len)
      add_str(t, file, &off, PROVENANCE[i].name, PROVENANCE[i].offset, PROVENANCE[i].len);
    else
      add_member(t, file, &off, PROVENANCE[i].name, PROVENANCE[i].offset, H5T_STD_I32LE,
                 H5T_NATIVE_INT);
  }
  return t;
}

hid_t runs_type(const ResultsSchema *s, bool file) {
  return runs_type_of(s, file, -1);
}

// Whether a file's /runs type has every provenance field.
static bool has_provenance(hid_t stored) {
  for (int i = 0; i < N_PROVENANCE; i++)
    if (!has_field(stored, PROVENANCE[i].name)) return false;
  return true;
}

bool runs_current(hid_t f) {
  hid_t d = H5Dopen2(f, "runs", H5P_DEFAULT), t = d < 0 ? -1 : H5Dget_type(d);
  bool yes = t >= 0 && has_provenance(t);
  h5close(t), h5close(d);
  return yes;
}

int results_row_fields(const ResultsSchema *s, ResultsField *fields, int *n, Err *e) {
  hid_t t = runs_type(s, false);
  int m = H5Tget_nmembers(t), rc = 0;
  *n = 0;
  if (m + RESULTS_N_CURVES * s->n_points > RESULTS_MAX_FIELDS)
    rc = errf(e, ERR_RUNTIME, "a row has %d fields (at most %d)",
              m + RESULTS_N_CURVES * s->n_points, RESULTS_MAX_FIELDS);
  for (int i = 0; !rc && i < m; i++) {
    ResultsField *f = &fields[(*n)++];
    char *name = H5Tget_member_name(t, (unsigned)i);
    hid_t mt = H5Tget_member_type(t, (unsigned)i);
    snprintf(f->name, sizeof f->name, "%s", name);
    f->offset = H5Tget_member_offset(t, (unsigned)i);
    f->size = H5Tget_size(mt);
    f->axis = axis_index(s, name);
    f->is_signed = false;
    switch (H5Tget_class(mt)) {
      case H5T_STRING:
        f->type = RESULTS_TEXT;
        break;
      case H5T_INTEGER:
        f->type = RESULTS_INT;
        f->is_signed = H5Tget_sign(mt) == H5T_SGN_2;
        break;
      case H5T_FLOAT:
        f->type = RESULTS_FLOAT;
        break;
      default:
        rc = errf(e, ERR_RUNTIME, "/runs field '%s' is neither text nor a number", name);
    }
    if (!rc && f->type != RESULTS_TEXT && f->size != 1 && f->size != 2 && f->size != 4 &&
        f->size != 8)
      rc = errf(e, ERR_RUNTIME, "/runs field '%s' is a number of %zu bytes", name, f->size);
    if (!rc && f->type == RESULTS_FLOAT && f->size != 4 && f->size != 8)
      rc = errf(e, ERR_RUNTIME, "/runs field '%s' is a float of %zu bytes", name, f->size);
    H5free_memory(name);
    h5close(mt);
  }
  h5close(t);
  for (int c = 0; !rc && c < RESULTS_N_CURVES; c++)
    for (int p = 0; p < s->n_points; p++) {
      ResultsField *f = &fields[(*n)++];
      snprintf(f->name, sizeof f->name, "%s.%s", CURVES[c].name, s->points[p]);
      f->type = RESULTS_FLOAT, f->axis = -1, f->is_signed = false;
      f->offset = CURVES[c].offset + (size_t)p * sizeof(double);
      f->size = sizeof(double);
    }
  return rc;
}

const char *results_field_text(const ResultRow *row, const ResultsField *f) {
  return (const char *)row + f->offset;
}

long long results_field_int(const ResultRow *row, const ResultsField *f) {
  const char *p = (const char *)row + f->offset;
  if (f->is_signed) switch (f->size) {
      case 1:
        return *(const int8_t *)p;
      case 2:
        return *(const int16_t *)p;
      case 4:
        return *(const int32_t *)p;
      default:
        return *(const int64_t *)p;
    }
  switch (f->size) {
    case 1:
      return *(const uint8_t *)p;
    case 2:
      return *(const uint16_t *)p;
    case 4:
      return *(const uint32_t *)p;
    default:
      return (long long)*(const uint64_t *)p;
  }
}

unsigned long long results_field_uint(const ResultRow *row, const ResultsField *f) {
  if (f->is_signed || f->size < 8) return (unsigned long long)results_field_int(row, f);
  return *(const uint64_t *)((const char *)row + f->offset);
}

double results_field_float(const ResultRow *row, const ResultsField *f) {
  const char *p = (const char *)row + f->offset;
  return f->size == 4 ? *(const float *)p : *(const double *)p;
}

// Text is stored as fixed-length strings, sized to the text (NUL-padded, UTF-8), never as
// variable-length ones: those live in HDF5's global heap, which has no checksum, and HDF5 1.10
// crashes or hangs reading a damaged one (docs/fuzzing.md). Everything else of the file's
// metadata is checksummed, so damage reads as an error. Readers take both (older files).
static hid_t text_type(const char *v) {
  size_t n = strlen(v);
  return fixed_str(n ? n : 1, H5T_STR_NULLPAD);  // HDF5 has no 0-byte string
}

static int attr_write_str(hid_t obj, const char *name, const char *value, const char *path,
                          Err *e) {
  const char *v = value ? value : "";
  hid_t t = text_type(v), sp = H5Screate(H5S_SCALAR), a = -1;
  a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
  int rc = (a < 0 || H5Awrite(a, t, *v ? v : "\0") < 0)
               ? h5fail(e, path, "cannot write an attribute")
               : 0;
  h5close(a), h5close(sp), h5close(t);
  if (rc) err_context(e, "attribute '%s'", name);
  return rc;
}

static int attr_write_int(hid_t obj, const char *name, int value, const char *path, Err *e) {
  hid_t sp = H5Screate(H5S_SCALAR);
  hid_t a = H5Acreate2(obj, name, H5T_STD_I32LE, sp, H5P_DEFAULT, H5P_DEFAULT);
  int rc = (a < 0 || H5Awrite(a, H5T_NATIVE_INT, &value) < 0)
               ? h5fail(e, path, "cannot write an attribute")
               : 0;
  h5close(a), h5close(sp);
  return rc;
}

// An array of names (rows of `stride` bytes, NUL-terminated) as a 1-D string attribute of
// the longest name's length.
static int attr_write_names(hid_t obj, const char *name, const char *names, int n, size_t stride,
                            const char *path, Err *e) {
  size_t len = 1;
  for (int i = 0; i < n; i++) {
    size_t l = strnlen(names + (size_t)i * stride, stride);
    if (l > len) len = l;
  }
  hsize_t dims[1] = {(hsize_t)n};
  char *buf = calloc(n > 0 ? (size_t)n : 1, len);
  if (!buf) return errf(e, ERR_RUNTIME, "out of memory");
  for (int i = 0; i < n; i++)
    memcpy(buf + (size_t)i * len, names + (size_t)i * stride,
           strnlen(names + (size_t)i * stride, len));
  hid_t t = fixed_str(len, H5T_STR_NULLPAD), sp = H5Screate_simple(1, dims, NULL);
  hid_t a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
  int rc = (a < 0 || (n > 0 && H5Awrite(a, t, buf) < 0))
               ? h5fail(e, path, "cannot write an attribute")
               : 0;
  h5close(a), h5close(sp), h5close(t);
  free(buf);
  return rc;
}

static int write_text_dataset(hid_t group, const char *name, const char *text, const char *path,
                              Err *e) {
  const char *v = text ? text : "";
  hid_t t = text_type(v), sp = H5Screate(H5S_SCALAR);
  hid_t d = H5Dcreate2(group, name, t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  int rc = (d < 0 || H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, *v ? v : "\0") < 0)
               ? h5fail(e, path, "cannot write /config")
               : 0;
  h5close(d), h5close(sp), h5close(t);
  return rc;
}

// The longest text a reader takes: a damaged file may declare any string size.
enum { TEXT_MAX = 64 << 20 };

// Reads the scalar string of attribute (is_attr) or dataset `obj`, of file type ft, variable
// or fixed length, into a malloc'd string.
static int read_scalar_text(hid_t obj, bool is_attr, hid_t ft, char **out, const char *path,
                            Err *e) {
  hid_t mt = -1;
  int rc = 0;
  *out = NULL;
  if (H5Tis_variable_str(ft) > 0) {
    char *v = NULL;
    mt = vlen_str();
    if ((is_attr ? H5Aread(obj, mt, &v) : H5Dread(obj, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, &v)) < 0)
      rc = h5fail(e, path, "cannot read a string");
    else if (!(*out = strdup(v ? v : "")))
      rc = errf(e, ERR_RUNTIME, "out of memory");
    H5free_memory(v);
  } else {
    size_t n = H5Tget_size(ft);
    if (n == 0 || n > TEXT_MAX) {
      rc = errf(e, ERR_RUNTIME, "%s: a string of %zu bytes (at most %d)", path, n, TEXT_MAX);
    } else if (!(*out = calloc(n + 1, 1))) {
      rc = errf(e, ERR_RUNTIME, "out of memory");
    } else {
      mt = fixed_str(n + 1, H5T_STR_NULLTERM);
      if ((is_attr ? H5Aread(obj, mt, *out)
                   : H5Dread(obj, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, *out)) < 0)
        rc = h5fail(e, path, "cannot read a string");
    }
  }
  h5close(mt);
  if (rc) free(*out), *out = NULL;
  return rc;
}

// Whether attribute a holds one value (scalar, or a list of one).
static bool attr_single(hid_t a) {
  hid_t sp = H5Aget_space(a);
  bool one = sp >= 0 && H5Sget_simple_extent_npoints(sp) == 1;
  h5close(sp);
  return one;
}

// Reads a scalar string attribute (variable or fixed length) into a malloc'd string.
static int attr_read_str(hid_t obj, const char *name, char **out, const char *path, Err *e) {
  *out = NULL;
  hid_t a = H5Aopen(obj, name, H5P_DEFAULT), ft = -1;
  int rc = 0;
  if (a < 0) return errf(e, ERR_RUNTIME, "%s: attribute '%s' is missing", path, name);
  ft = H5Aget_type(a);
  if (H5Tget_class(ft) != H5T_STRING || !attr_single(a))
    rc = errf(e, ERR_RUNTIME, "%s: attribute '%s' is not one string", path, name);
  else
    rc = read_scalar_text(a, true, ft, out, path, e);
  h5close(ft), h5close(a);
  if (rc) err_context(e, "attribute '%s'", name);
  return rc;
}

static int attr_read_int(hid_t obj, const char *name, int *out, const char *path, Err *e) {
  hid_t a = H5Aopen(obj, name, H5P_DEFAULT), ft = a < 0 ? -1 : H5Aget_type(a);
  if (a < 0) return errf(e, ERR_RUNTIME, "%s: attribute '%s' is missing", path, name);
  int rc = 0;
  if (H5Tget_class(ft) != H5T_INTEGER || !attr_single(a))
    rc = errf(e, ERR_RUNTIME, "%s: attribute '%s' is not one integer", path, name);
  else if (H5Aread(a, H5T_NATIVE_INT, out) < 0)
    rc = h5fail(e, path, "cannot read an attribute");
  h5close(ft), h5close(a);
  return rc;
}

// Copies name i of n (at most stride - 1 bytes) into its row of names; the caller's message
// names the attribute.
static int put_name(char *names, size_t stride, int i, const char *v, size_t len, const char *path,
                    Err *e) {
  if (len >= stride) return errf(e, ERR_RUNTIME, "%s: a name is too long", path);
  memcpy(names + (size_t)i * stride, v, len);
  names[(size_t)i * stride + len] = '\0';
  return 0;
}

// Reads a 1-D string attribute (variable or fixed length) into rows of `stride` bytes (at
// most max).
static int attr_read_names(hid_t obj, const char *name, char *names, int *n, int max, size_t stride,
                           const char *path, Err *e) {
  hid_t a = H5Aopen(obj, name, H5P_DEFAULT), sp = -1, ft = -1, t = -1;
  hsize_t dims[1] = {0};
  int rc = 0;
  if (a < 0) return errf(e, ERR_RUNTIME, "%s: attribute '%s' is missing", path, name);
  sp = H5Aget_space(a);
  ft = H5Aget_type(a);
  if (H5Sget_simple_extent_ndims(sp) != 1 || H5Sget_simple_extent_dims(sp, dims, NULL) < 0 ||
      dims[0] > (hsize_t)max || H5Tget_class(ft) != H5T_STRING) {
    rc = errf(e, ERR_RUNTIME, "%s: attribute '%s' is not a list of at most %d names", path, name,
              max);
  } else if (dims[0] > 0 && H5Tis_variable_str(ft) > 0) {
    char *ptrs[RESULTS_MAX_AXES + RESULTS_MAX_POINTS];
    t = vlen_str();
    if (H5Aread(a, t, ptrs) < 0) {
      rc = h5fail(e, path, "cannot read an attribute");
    } else {
      for (hsize_t i = 0; i < dims[0] && !rc; i++)
        rc = put_name(names, stride, (int)i, ptrs[i], strlen(ptrs[i]), path, e);
      H5Dvlen_reclaim(t, sp, H5P_DEFAULT, ptrs);
    }
  } else if (dims[0] > 0) {
    size_t len = H5Tget_size(ft);
    char *buf = len > 0 && len < stride ? calloc(dims[0], len) : NULL;
    t = fixed_str(len, H5T_STR_NULLPAD);
    if (!buf)
      rc = errf(e, ERR_RUNTIME, "%s: names of %zu bytes (at most %zu)", path, len, stride - 1);
    else if (H5Aread(a, t, buf) < 0)
      rc = h5fail(e, path, "cannot read an attribute");
    for (hsize_t i = 0; i < dims[0] && !rc; i++)
      rc = put_name(names, stride, (int)i, buf + i * len, strnlen(buf + i * len, len), path, e);
    free(buf);
  }
  *n = (int)dims[0];
  h5close(t), h5close(ft), h5close(sp), h5close(a);
  if (rc) err_context(e, "attribute '%s'", name);
  return rc;
}

static int read_text_dataset(hid_t group, const char *name, char **out, const char *path, Err *e) {
  hid_t d = H5Dopen2(group, name, H5P_DEFAULT), ft = d < 0 ? -1 : H5Dget_type(d);
  hid_t sp = d < 0 ? -1 : H5Dget_space(d);
  int rc = 0;
  if (ft < 0 || sp < 0 || H5Tget_class(ft) != H5T_STRING ||
      H5Sget_simple_extent_type(sp) != H5S_SCALAR)
    rc = errf(e, ERR_RUNTIME, "%s: /config/%s is missing or not a text", path, name);
  else if ((rc = read_scalar_text(d, false, ft, out, path, e)))
    err_context(e, "/config/%s", name);
  h5close(sp), h5close(ft), h5close(d);
  return rc;
}

// /config/added_1, added_2, ... while they exist (files from before extensions have none).
static int read_added(hid_t g, ResultsTable *t, const char *path, Err *e) {
  for (int i = 1;; i++) {
    char name[32];
    snprintf(name, sizeof name, "added_%d", i);
    if (H5Lexists(g, name, H5P_DEFAULT) <= 0) return 0;
    char **grown = realloc(t->config_added, sizeof *grown * (size_t)i);
    if (!grown) return errf(e, ERR_RUNTIME, "out of memory");
    t->config_added = grown;
    int rc = read_text_dataset(g, name, &t->config_added[i - 1], path, e);
    if (rc) return rc;
    t->n_config_added = i;
  }
}

// The names of the reference axes [k <= n_axes], in column order, as attribute reference_axes.
static int write_reference_axes(hid_t f, const ResultsSchema *s, const char *path, Err *e) {
  char names[RESULTS_MAX_AXES][RESULTS_NAME_LEN];
  int n = 0;
  for (int i = 0; i < s->n_axes; i++)
    if (s->reference_axis[i]) memcpy(names[n++], s->axes[i], RESULTS_NAME_LEN);
  return attr_write_names(f, "reference_axes", &names[0][0], n, RESULTS_NAME_LEN, path, e);
}

// Sets s->reference_axis from attribute reference_axes (after the axes are read); a file
// without it leaves has_reference_axes false.
static int read_reference_axes(hid_t f, ResultsSchema *s, const char *path, Err *e) {
  s->has_reference_axes = false;
  htri_t has = H5Aexists(f, "reference_axes");
  if (has < 0) return h5fail(e, path, "cannot look for attribute 'reference_axes'");
  if (!has) return 0;
  char names[RESULTS_MAX_AXES][RESULTS_NAME_LEN];
  int n = 0;
  int rc = attr_read_names(f, "reference_axes", &names[0][0], &n, RESULTS_MAX_AXES,
                           RESULTS_NAME_LEN, path, e);
  if (rc) return rc;
  for (int i = 0; i < s->n_axes; i++) s->reference_axis[i] = false;
  for (int k = 0; k < n; k++) {
    int i = 0;
    while (i < s->n_axes && strcmp(s->axes[i], names[k])) i++;
    if (i == s->n_axes)
      return errf(e, ERR_RUNTIME, "%s: reference axis '%s' is not one of the axes", path, names[k]);
    s->reference_axis[i] = true;
  }
  s->has_reference_axes = true;
  return 0;
}

// The type of each axis, by name in column order, as attribute axis_types.
static int write_axis_types(hid_t f, const ResultsSchema *s, const char *path, Err *e) {
  char names[RESULTS_MAX_AXES][RESULTS_NAME_LEN];
  for (int i = 0; i < s->n_axes; i++)
    snprintf(names[i], RESULTS_NAME_LEN, "%s", TYPE_NAMES[s->axis_type[i]]);
  return attr_write_names(f, "axis_types", &names[0][0], s->n_axes, RESULTS_NAME_LEN, path, e);
}

// Sets s->axis_type from attribute axis_types (after the axes are read); a file without it
// leaves has_axis_types false.
static int read_axis_types(hid_t f, ResultsSchema *s, const char *path, Err *e) {
  s->has_axis_types = false;
  htri_t has = H5Aexists(f, "axis_types");
  if (has < 0) return h5fail(e, path, "cannot look for attribute 'axis_types'");
  if (!has) return 0;
  char names[RESULTS_MAX_AXES][RESULTS_NAME_LEN];
  int n = 0;
  int rc = attr_read_names(f, "axis_types", &names[0][0], &n, RESULTS_MAX_AXES, RESULTS_NAME_LEN,
                           path, e);
  if (rc) return rc;
  if (n != s->n_axes)
    return errf(e, ERR_RUNTIME, "%s: attribute 'axis_types' has %d names for %d axes", path, n,
                s->n_axes);
  for (int i = 0; i < n; i++) {
    int t = 0;
    while (t < 4 && strcmp(names[i], TYPE_NAMES[t])) t++;
    if (t == 4)
      return errf(e, ERR_RUNTIME,
                  "%s: attribute 'axis_types': '%s' (axis '%s') is not string, bool, int or float",
                  path, names[i], s->axes[i]);
    s->axis_type[i] = (ResultsType)t;
  }
  s->has_axis_types = true;
  return 0;
}

// ---------------------------------------------------------------- file contents

static void utc_now(char *buf, size_t n) {
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int create_dataset(hid_t f, const char *name, hid_t type, int rank, const hsize_t *dims,
                   const hsize_t *chunk, int deflate, hid_t fill_type, const void *fill, hid_t *out,
                   const char *path, Err *e) {
  hsize_t maxdims[2] = {H5S_UNLIMITED, rank > 1 ? dims[1] : 0};
  hid_t sp = H5Screate_simple(rank, dims, maxdims), pl = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_chunk(pl, rank, chunk);
  if (deflate > 0 && H5Zfilter_avail(H5Z_FILTER_DEFLATE) > 0)  // else stored as it is
    H5Pset_shuffle(pl), H5Pset_deflate(pl, (unsigned)deflate);
  if (fill) H5Pset_fill_value(pl, fill_type, fill);
  *out = H5Dcreate2(f, name, type, sp, H5P_DEFAULT, pl, H5P_DEFAULT);
  h5close(pl), h5close(sp);
  if (*out < 0) return h5fail(e, path, "cannot create a dataset");
  return 0;
}

// Writes everything but the rows: attributes, /config, empty /runs, per-point datasets and
// /trace.
static int write_skeleton(hid_t f, const ResultsSchema *s, const ResultsMeta *m, const char *path,
                          Err *e) {
  char created[32];
  utc_now(created, sizeof created);
  int rc = attr_write_str(f, "format", FORMAT_NAME, path, e);
  if (!rc) rc = attr_write_int(f, "schema_version", RESULTS_SCHEMA_VERSION, path, e);
  if (!rc) rc = attr_write_str(f, "sweep_id", s->sweep_id, path, e);
  if (!rc)
    rc = attr_write_str(f, "ecore_version", m->ecore_version ? m->ecore_version : ECORE_VERSION,
                        path, e);
  if (!rc)
    rc = attr_write_str(f, "git_commit", m->git_commit ? m->git_commit : ECORE_GIT_COMMIT, path, e);
  if (!rc) rc = attr_write_str(f, "created", m->created ? m->created : created, path, e);
  if (!rc) rc = attr_write_int(f, "mpi_world_size", m->world_size, path, e);
  if (!rc) rc = attr_write_str(f, "hosts", m->hosts, path, e);
  if (!rc) rc = attr_write_str(f, "compute", m->compute, path, e);
  if (!rc) rc = attr_write_str(f, "shard", m->shard, path, e);
  if (!rc) rc = attr_write_str(f, "merged_from", m->merged_from, path, e);
  if (!rc) rc = attr_write_names(f, "axes", &s->axes[0][0], s->n_axes, RESULTS_NAME_LEN, path, e);
  if (!rc && s->has_reference_axes) rc = write_reference_axes(f, s, path, e);
  if (!rc && s->has_axis_types) rc = write_axis_types(f, s, path, e);
  if (rc) return rc;

  hid_t g = H5Gcreate2(f, "config", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  if (g < 0) return h5fail(e, path, "cannot create /config");
  rc = write_text_dataset(g, "given", m->config_text, path, e);
  if (!rc) rc = write_text_dataset(g, "expanded", m->config_expanded, path, e);
  for (int i = 0; !rc && i < m->n_config_added; i++) {
    char name[32];
    snprintf(name, sizeof name, "added_%d", i + 1);
    rc = write_text_dataset(g, name, m->config_added[i], path, e);
  }
  if (!rc) rc = attr_write_str(g, "path", m->config_path, path, e);
  h5close(g);
  if (rc) return rc;

  hid_t d = -1, t = runs_type(s, true);
  hsize_t dims[2] = {0, (hsize_t)s->n_points}, chunk[2] = {CHUNK_ROWS, (hsize_t)s->n_points};
  rc = create_dataset(f, "runs", t, 1, dims, chunk, 0, -1, NULL, &d, path, e);
  double nan = NAN;  // an unwritten cell reads as NaN, "not computed"
  h5close(d), h5close(t);
  for (int c = 0; !rc && c < RESULTS_N_CURVES; c++) {
    rc = create_dataset(f, CURVES[c].name, H5T_IEEE_F64LE, 2, dims, chunk, 0, H5T_NATIVE_DOUBLE,
                        &nan, &d, path, e);
    if (!rc)
      rc = attr_write_names(d, "points", &s->points[0][0], s->n_points, RESULTS_NAME_LEN, path, e);
    h5close(d);
  }
  if (!rc) rc = trace_create(f, path, e);
  return rc;
}

int extend_and_write(hid_t f, const char *name, hid_t type, int n, const void *buf,
                     const char *path, Err *e) {
  hid_t d = H5Dopen2(f, name, H5P_DEFAULT), fs = -1, ms = -1;
  hsize_t dims[H5S_MAX_RANK] = {0}, start[2] = {0, 0}, count[2] = {(hsize_t)n, 0};
  int rc = 0, rank = 0;
  if (d < 0) return h5fail(e, path, "cannot open a dataset");
  fs = H5Dget_space(d);
  rank = H5Sget_simple_extent_dims(fs, dims, NULL);
  h5close(fs);
  if (rank < 1 || rank > 2) {
    h5close(d);
    return errf(e, ERR_RUNTIME, "%s: dataset /%s has the wrong shape", path, name);
  }
  start[0] = dims[0];
  count[1] = dims[1];
  dims[0] += (hsize_t)n;
  if (H5Dset_extent(d, dims) < 0 || (fs = H5Dget_space(d)) < 0 ||
      H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
      (ms = H5Screate_simple(rank, count, NULL)) < 0 ||
      H5Dwrite(d, type, ms, fs, H5P_DEFAULT, buf) < 0)
    rc = h5fail(e, path, "cannot append to a dataset");
  h5close(ms), h5close(fs), h5close(d);
  if (rc) err_context(e, "/%s", name);
  return rc;
}

int append_rows_h5(hid_t f, const ResultsSchema *s, const ResultRow *rows, int n, bool in_place,
                   const char *path, Err *e) {
  if (n == 0) return 0;
  int P = s->n_points, rc = 0;
  hsize_t first = 0;  // the index in /runs of rows[0]
  if ((rc = dataset_rows(f, "runs", 0, &first, path, e))) return rc;
  if ((rc = trace_append(f, rows, n, (long long)first, in_place, path, e))) return rc;
  double *buf = malloc(sizeof(double) * (size_t)n * (size_t)P);  // [n x P]
  if (!buf) return errf(e, ERR_RUNTIME, "out of memory");
  for (int c = 0; !rc && c < RESULTS_N_CURVES; c++) {
    for (int r = 0; r < n; r++)
      memcpy(buf + (size_t)r * P, results_row_curve(&rows[r], c), sizeof(double) * P);
    rc = extend_and_write(f, CURVES[c].name, H5T_NATIVE_DOUBLE, n, buf, path, e);
  }
  free(buf);
  // The entries and curves reach the disk before the rows that count them (see append.c).
  if (!rc && H5Fflush(f, H5F_SCOPE_LOCAL) < 0) rc = h5fail(e, path, "cannot flush");
  if (rc) return rc;
  hid_t t = runs_type(s, false);
  rc = extend_and_write(f, "runs", t, n, rows, path, e);
  h5close(t);
  return rc;
}

// ---------------------------------------------------------------- files on disk

// A whole new file in progress: PATH.tmp, opened and flock'ed by this writer until it is
// renamed over PATH or dropped (the lock keeps two writers of PATH.tmp apart; it dies with its
// process, so a stale PATH.tmp left by a kill is simply reused).
typedef struct {
  const char *path;
  char *tmp;
  int fd;
} Staging;

static void stage_drop(Staging *st) {
  if (st->fd >= 0) unlink(st->tmp), close(st->fd);
  free(st->tmp);
  st->tmp = NULL, st->fd = -1;
}

int lock_wait(int fd) {
  int r;
  while ((r = flock(fd, LOCK_EX)) < 0 && errno == EINTR) continue;
  return r;
}

int lock_file(const char *path, int op, int *fd, struct stat *st, Err *e) {
  for (int attempt = 0; attempt < 10; attempt++) {
    *fd = open(path, O_RDONLY);
    if (*fd < 0) return errf(e, ERR_RUNTIME, "%s: cannot open: %s", path, strerror(errno));
    int r = 0;
    while (WRITER_LOCK && (r = flock(*fd, op)) < 0 && errno == EINTR) continue;
    if (WRITER_LOCK && r < 0) {
      if (errno != ENOLCK && errno != EOPNOTSUPP) {
        int rc = errf(e, ERR_RUNTIME, "%s: cannot lock: %s", path, strerror(errno));
        close(*fd), *fd = -1;
        return rc;
      }
    }
    struct stat now;
    if (fstat(*fd, st) == 0 && stat(path, &now) == 0 && st->st_dev == now.st_dev &&
        st->st_ino == now.st_ino)
      return 0;
    close(*fd), *fd = -1;  // replaced by another writer while we waited: lock the new file
  }
  return errf(e, ERR_RUNTIME, "%s: cannot lock: the file keeps being replaced", path);
}

static int stage_begin(Staging *st, const char *path, Err *e) {
  size_t n = strlen(path);
  st->path = path, st->fd = -1, st->tmp = malloc(n + 5);
  if (!st->tmp) return errf(e, ERR_RUNTIME, "out of memory");
  memcpy(st->tmp, path, n), memcpy(st->tmp + n, ".tmp", 5);
  int rc = 0;
  for (int attempt = 0; !rc && attempt < 5; attempt++) {
    int fd = open(st->tmp, O_RDWR | O_CREAT, 0666);
    if (fd < 0) {
      rc = errf(e, ERR_RUNTIME, "%s: cannot create: %s", st->tmp, strerror(errno));
    } else if (WRITER_LOCK && lock_wait(fd) < 0 && errno != ENOLCK && errno != EOPNOTSUPP) {
      rc = errf(e, ERR_RUNTIME, "%s: cannot lock %s: %s", path, st->tmp, strerror(errno));
    } else {  // locked, or a file system without locks: go on unprotected
      struct stat a, b;
      if (fstat(fd, &a) == 0 && stat(st->tmp, &b) == 0 && a.st_dev == b.st_dev &&
          a.st_ino == b.st_ino) {
        st->fd = fd;
        return 0;
      }  // else the writer we raced renamed it over PATH meanwhile: take a fresh one
    }
    if (fd >= 0) close(fd);
  }
  if (!rc) rc = errf(e, ERR_RUNTIME, "%s: cannot lock %s", path, st->tmp);
  free(st->tmp);
  st->tmp = NULL;
  return rc;
}

// Makes the staged file durable, moves it over PATH, then makes the rename durable.
static int stage_commit(Staging *st, Err *e) {
  if (fsync(st->fd) < 0 || rename(st->tmp, st->path) < 0) {
    int rc = errf(e, ERR_RUNTIME, "%s: cannot replace it with %s: %s", st->path, st->tmp,
                  strerror(errno));
    stage_drop(st);
    return rc;
  }
  close(st->fd);
  st->fd = -1;
  char *slash = strrchr(st->tmp, '/');  // the directory: PATH.tmp cut after its last '/'
  if (slash) slash[slash == st->tmp ? 1 : 0] = '\0';
  int dir = open(slash ? st->tmp : ".", O_RDONLY | O_DIRECTORY);
  if (dir >= 0) fsync(dir), close(dir);  // best effort: some file systems refuse
  free(st->tmp);
  st->tmp = NULL;
  return 0;
}

hid_t results_fapl(void) {
  hid_t p = H5Pcreate(H5P_FILE_ACCESS);
  H5Pset_libver_bounds(p, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST);
  // A SWMR read retries a metadata block whose checksum fails (by default 100 times, HDF5 1.10
  // sleeping 1 ns, 2 ns, 4 ns, ... between tries: hours on a damaged file). Our readers hold the
  // shared flock, so no append is half done while they read: a bad checksum is damage, at once.
  H5Pset_metadata_read_attempts(p, 1);
#if WRITER_LOCK
  H5Pset_file_locking(p, 0, 1);
#endif
  return p;
}

bool file_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

int results_write(const char *path, const ResultsSchema *s, const ResultsMeta *m,
                  const ResultRow *rows, int n, Err *e) {
  int rc = results_schema_check(s, e);
  for (int i = 0; !rc && i < n; i++) rc = row_check(&rows[i], path, e);
  Staging st;
  if (rc || (rc = stage_begin(&st, path, e))) return rc;
  ResultsMeta none = {0};
  Quiet q = quiet_begin();
  // File space is never reused: in-place appends (append.c) must not write over space that
  // the file on disk may still point at (freed, but not yet flushed as free).
  // Each object's metadata written here (the datasets' object headers above all, which every
  // append rewrites in place) starts on a 4 KiB page: the kernel may cut a write short at a
  // page boundary when a SIGKILL arrives, and a header cut in two fails its checksum for good
  // (found by test_sigkill: /trace's header straddled a page, about 1 kill in 3,000).
  hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
  H5Pset_file_space_strategy(fcpl, H5F_FSPACE_STRATEGY_NONE, 0, 1);
  hid_t fapl = results_fapl(), f = -1;
  H5Pset_alignment(fapl, 1, 4096);
  f = H5Fcreate(st.tmp, H5F_ACC_TRUNC, fcpl, fapl);
  h5close(fcpl);
  if (f < 0) rc = h5fail(e, st.tmp, "cannot create");
  if (!rc) rc = write_skeleton(f, s, m ? m : &none, st.tmp, e);
  if (!rc) rc = append_rows_h5(f, s, rows, n, false, st.tmp, e);
  if (f >= 0 && H5Fclose(f) < 0 && !rc) rc = h5fail(e, st.tmp, "cannot close");
  h5close(fapl);
  quiet_end(q);
  if (rc)
    stage_drop(&st);
  else
    rc = stage_commit(&st, e);
  return rc;
}

int results_create(const char *path, const ResultsSchema *s, const ResultsMeta *m, Err *e) {
  if (file_exists(path))
    return errf(e, ERR_CONFIG, "%s: exists already; not creating a results file over it", path);
  return results_write(path, s, m, NULL, 0, e);
}

// ---------------------------------------------------------------- reading

static int read_header(hid_t f, ResultsTable *t, const char *path, Err *e) {
  char *format = NULL, *sweep = NULL;
  int version = 0;
  hid_t d = -1, g = -1;
  if (attr_read_str(f, "format", &format, path, e) || strcmp(format, FORMAT_NAME)) {
    free(format);
    return errf(e, ERR_CONFIG, "%s: not an ecore results file (no format=\"%s\" attribute)", path,
                FORMAT_NAME);
  }
  free(format);
  int rc = attr_read_int(f, "schema_version", &version, path, e);
  if (!rc && version != RESULTS_SCHEMA_VERSION)
    rc = errf(e, ERR_CONFIG, "%s: results schema version %d; this ecore reads version %d", path,
              version, RESULTS_SCHEMA_VERSION);
  if (!rc) rc = attr_read_str(f, "sweep_id", &sweep, path, e);
  if (!rc && strlen(sweep) >= RESULTS_SWEEP_ID_LEN)
    rc = errf(e, ERR_RUNTIME, "%s: sweep id too long", path);
  if (!rc) strcpy(t->schema.sweep_id, sweep);
  free(sweep);
  if (!rc)
    rc = attr_read_names(f, "axes", &t->schema.axes[0][0], &t->schema.n_axes, RESULTS_MAX_AXES,
                         RESULTS_NAME_LEN, path, e);
  if (!rc) rc = read_reference_axes(f, &t->schema, path, e);
  if (!rc) rc = read_axis_types(f, &t->schema, path, e);
  if (!rc && (d = H5Dopen2(f, CURVES[0].name, H5P_DEFAULT)) < 0)
    rc = errf(e, ERR_RUNTIME, "%s: dataset /%s is missing", path, CURVES[0].name);
  if (!rc)
    rc = attr_read_names(d, "points", &t->schema.points[0][0], &t->schema.n_points,
                         RESULTS_MAX_POINTS, RESULTS_NAME_LEN, path, e);
  h5close(d);
  if (!rc) rc = attr_read_str(f, "ecore_version", &t->ecore_version, path, e);
  if (!rc) rc = attr_read_str(f, "git_commit", &t->git_commit, path, e);
  if (!rc) rc = attr_read_str(f, "created", &t->created, path, e);
  if (!rc) rc = attr_read_str(f, "hosts", &t->hosts, path, e);
  if (!rc && H5Aexists(f, "compute") > 0) rc = attr_read_str(f, "compute", &t->compute, path, e);
  if (!rc && !t->compute && !(t->compute = strdup(""))) rc = errf(e, ERR_RUNTIME, "out of memory");
  if (!rc) rc = attr_read_str(f, "shard", &t->shard, path, e);
  if (!rc) rc = attr_read_str(f, "merged_from", &t->merged_from, path, e);
  if (!rc) rc = attr_read_int(f, "mpi_world_size", &t->world_size, path, e);
  if (!rc && (g = H5Gopen2(f, "config", H5P_DEFAULT)) < 0)
    rc = errf(e, ERR_RUNTIME, "%s: group /config is missing", path);
  if (!rc) rc = read_text_dataset(g, "given", &t->config_text, path, e);
  if (!rc) rc = read_text_dataset(g, "expanded", &t->config_expanded, path, e);
  if (!rc) rc = read_added(g, t, path, e);
  if (!rc) rc = attr_read_str(g, "path", &t->config_path, path, e);
  h5close(g);
  if (!rc && results_schema_check(&t->schema, e)) rc = err_context(e, "%s: bad schema", path);
  return rc;
}

int dataset_rows(hid_t f, const char *name, int cols, hsize_t *rows, const char *path, Err *e) {
  hid_t d = H5Dopen2(f, name, H5P_DEFAULT), sp = -1;
  hsize_t dims[H5S_MAX_RANK] = {0};
  int rc = 0;
  if (d < 0) {
    char what[96];
    snprintf(what, sizeof what, "dataset /%s is damaged", name);
    rc = h5fail(e, path, what);  // HDF5's reason, before the next call clears it
    return H5Lexists(f, name, H5P_DEFAULT) > 0
               ? rc  // there, but its header cannot be read
               : errf(e, ERR_RUNTIME, "%s: dataset /%s is missing", path, name);
  }
  sp = H5Dget_space(d);
  int rank = H5Sget_simple_extent_dims(sp, dims, NULL);
  if (rank != (cols ? 2 : 1) || (cols && dims[1] != (hsize_t)cols))
    rc = errf(e, ERR_RUNTIME, "%s: dataset /%s has the wrong shape", path, name);
  *rows = dims[0];
  h5close(sp), h5close(d);
  return rc;
}

int check_fields(hid_t d, hid_t mt, const char *name, const char *path, Err *e) {
  hid_t ft = H5Dget_type(d);
  int rc = 0;
  for (int i = 0; !rc && i < H5Tget_nmembers(mt); i++) {
    char *field = H5Tget_member_name(mt, (unsigned)i);
    if (H5Tget_member_index(ft, field) < 0)
      rc = errf(e, ERR_RUNTIME, "%s: /%s has no field '%s'", path, name, field);
    H5free_memory(field);
  }
  h5close(ft);
  return rc;
}

static int read_rows(hid_t f, ResultsTable *t, const char *path, Err *e) {
  const ResultsSchema *s = &t->schema;
  hsize_t n = 0, m = 0;
  int rc = dataset_rows(f, "runs", 0, &n, path, e);
  // The per-point datasets may have more rows (an append cut short): the first n count.
  for (int c = 0; !rc && c < RESULTS_N_CURVES; c++) {
    rc = dataset_rows(f, CURVES[c].name, s->n_points, &m, path, e);
    if (!rc && m < n)
      rc = errf(e, ERR_RUNTIME, "%s: /%s has %llu rows but /runs has %llu", path, CURVES[c].name,
                (unsigned long long)m, (unsigned long long)n);
  }
  if (rc) return rc;
  if (n > INT32_MAX / 2) return errf(e, ERR_RUNTIME, "%s: too many rows", path);
  t->n_rows = (int)n;
  t->rows = calloc(n ? n : 1, sizeof(ResultRow));
  double *buf = malloc(sizeof(double) * (n ? n : 1) * (size_t)s->n_points);  // [n x P]
  if (!t->rows || !buf) {
    free(buf);
    return errf(e, ERR_RUNTIME, "out of memory");
  }
  for (hsize_t r = 0; r < n; r++) results_row_init(&t->rows[r]);
  hid_t d = H5Dopen2(f, "runs", H5P_DEFAULT), ft = H5Dget_type(d);
  hid_t mt = runs_type_of(s, false, ft);  // without the provenance fields the file lacks
  h5close(ft);
  rc = check_fields(d, mt, "runs", path, e);
  if (!rc && n > 0 && H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, t->rows) < 0)
    rc = h5fail(e, path, "cannot read /runs");
  h5close(mt), h5close(d);
  for (int c = 0; !rc && n > 0 && c < RESULTS_N_CURVES; c++) {
    d = H5Dopen2(f, CURVES[c].name, H5P_DEFAULT);
    hsize_t start[2] = {0, 0}, count[2] = {n, (hsize_t)s->n_points};
    hid_t fs = H5Dget_space(d), ms = H5Screate_simple(2, count, NULL);
    if (H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
        H5Dread(d, H5T_NATIVE_DOUBLE, ms, fs, H5P_DEFAULT, buf) < 0)
      rc = h5fail(e, path, "cannot read a per-point dataset");
    for (hsize_t r = 0; !rc && r < n; r++)
      memcpy((double *)results_row_curve(&t->rows[r], c), buf + r * s->n_points,
             sizeof(double) * s->n_points);
    h5close(ms), h5close(fs), h5close(d);
  }
  free(buf);
  return rc;
}

int read_table(const char *path, ResultsTable *t, bool trace, bool writer, struct stat *id,
               Err *e) {
  memset(t, 0, sizeof *t);
  struct stat st;
  if (stat(path, &st) < 0) return errf(e, ERR_CONFIG, "%s: cannot open: %s", path, strerror(errno));
  if (!S_ISREG(st.st_mode)) return errf(e, ERR_CONFIG, "%s: not a regular file", path);
  int fd = -1;  // the shared lock: no append is half done while the file is read
  int rc = writer ? 0 : lock_file(path, LOCK_SH, &fd, &st, e);
  if (rc) return rc;
  if (id) *id = st;
  Quiet q = quiet_begin();
  hid_t f = -1, fapl = results_fapl();
  if (st.st_size == 0)
    rc = errf(e, ERR_CONFIG, "%s: empty file, not an ecore results file", path);
  else if (H5Fis_hdf5(path) <= 0)
    rc = errf(e, ERR_CONFIG, "%s: not an HDF5 file (expected an ecore results file)", path);
  else if ((f = H5Fopen(path, H5F_ACC_RDONLY | H5F_ACC_SWMR_READ, fapl)) < 0)
    rc = h5fail(e, path, "cannot open");
  if (!rc) rc = read_header(f, t, path, e);
  if (!rc) rc = read_rows(f, t, path, e);
  if (!rc && trace) rc = trace_read(f, t, path, e);
  h5close(f), h5close(fapl);
  quiet_end(q);
  if (fd >= 0) close(fd);
  if (rc) results_table_free(t);
  return rc;
}

int results_read(const char *path, ResultsTable *t, Err *e) {
  return read_table(path, t, true, false, NULL, e);
}

void results_table_free(ResultsTable *t) {
  free(t->ecore_version), free(t->git_commit), free(t->created), free(t->hosts);
  free(t->shard), free(t->merged_from), free(t->config_text), free(t->config_expanded);
  free(t->compute);
  for (int i = 0; i < t->n_config_added; i++) free(t->config_added[i]);
  free(t->config_added);
  free(t->config_path), free(t->rows), free(t->traces);
  memset(t, 0, sizeof *t);
}

typedef struct {
  const char *id;
  int index;
} IdIndex;

static int cmp_id_index(const void *a, const void *b) {
  const IdIndex *x = a, *y = b;
  int c = strcmp(x->id, y->id);
  return c ? c : (x->index > y->index) - (x->index < y->index);
}

int results_latest_rows(const ResultsTable *t, int **idx, int *n, Err *e) {
  IdIndex *all = malloc(sizeof *all * (size_t)(t->n_rows ? t->n_rows : 1));
  *idx = malloc(sizeof **idx * (size_t)(t->n_rows ? t->n_rows : 1));
  if (!all || !*idx) {
    free(all), free(*idx), *idx = NULL;
    return errf(e, ERR_RUNTIME, "out of memory");
  }
  for (int i = 0; i < t->n_rows; i++) all[i] = (IdIndex){t->rows[i].run_id, i};
  qsort(all, (size_t)t->n_rows, sizeof *all, cmp_id_index);
  *n = 0;
  for (int i = 0; i < t->n_rows; i++)  // the last of each run of equal ids is the latest row
    if (i + 1 == t->n_rows || strcmp(all[i].id, all[i + 1].id)) (*idx)[(*n)++] = all[i].index;
  free(all);
  return 0;
}
