// trace.c: the /trace dataset of the results file, the per-epoch training trace of each row.
// Layout: results.h. The rows' own datasets are results.c's.
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "results_internal.h"

// Entries per chunk (about 38 kB before compression), and the deflate level: the strings are
// mostly NUL padding, so a trace compresses several times over. An append in place starts a
// chunk of its own (trace_append): its filler entries (row -1) compress to almost nothing.
enum { TRACE_CHUNK = 128, TRACE_DEFLATE = 4 };

// One /trace entry in memory: the index of its row in /runs, the row's run_id, the entry.
typedef struct {
  int64_t row;
  char run_id[RESULTS_RUN_ID_LEN];
  ResultTrace t;
} TraceRecord;

// The float64 fields, in column order.
enum { N_VALUES = 7 };
static const struct {
  const char *name, *field;  // column name; name in results_rows_equal's `field`
  size_t offset;
} VALUES[N_VALUES] = {
    {"loss", "trace.loss", offsetof(ResultTrace, loss)},
    {"forget_acc", "trace.forget_acc", offsetof(ResultTrace, forget_acc)},
    {"cu", "trace.cu", offsetof(ResultTrace, cu)},
    {"ce", "trace.ce", offsetof(ResultTrace, ce)},
    {"cos_fr", "trace.cos_fr", offsetof(ResultTrace, cos_fr)},
    {"spread", "trace.spread", offsetof(ResultTrace, spread)},
    {"weight", "trace.weight", offsetof(ResultTrace, weight)},
};

static double value(const ResultTrace *t, int i) {
  return *(const double *)((const char *)t + VALUES[i].offset);
}

// The /trace compound type, as stored (file) or as TraceRecord in memory.
static hid_t trace_type(bool file) {
  size_t file_size =
      8 + RESULTS_RUN_ID_LEN + RESULTS_PHASE_LEN + 4 + RESULTS_NAME_LEN + 8 * N_VALUES;
  hid_t t = H5Tcreate(H5T_COMPOUND, file ? file_size : sizeof(TraceRecord));
  size_t off = 0, at = offsetof(TraceRecord, t);
  add_member(t, file, &off, "row", offsetof(TraceRecord, row), H5T_STD_I64LE, H5T_NATIVE_INT64);
  add_str(t, file, &off, "run_id", offsetof(TraceRecord, run_id), RESULTS_RUN_ID_LEN);
  add_str(t, file, &off, "phase", at + offsetof(ResultTrace, phase), RESULTS_PHASE_LEN);
  add_member(t, file, &off, "epoch", at + offsetof(ResultTrace, epoch), H5T_STD_I32LE,
             H5T_NATIVE_INT);
  add_str(t, file, &off, "point", at + offsetof(ResultTrace, point), RESULTS_NAME_LEN);
  for (int i = 0; i < N_VALUES; i++)
    add_member(t, file, &off, VALUES[i].name, at + VALUES[i].offset, H5T_IEEE_F64LE,
               H5T_NATIVE_DOUBLE);
  return t;
}

int trace_check(const ResultRow *r, const char *path, Err *e) {
  if (r->n_trace < 0 || (r->n_trace > 0 && !r->trace))
    return errf(e, ERR_CONFIG, "%s: run %s: %d trace entries%s", path, r->run_id, r->n_trace,
                r->trace ? "" : " but no trace");
  for (int i = 0; i < r->n_trace; i++) {
    const ResultTrace *t = &r->trace[i];
    if (!memchr(t->phase, '\0', sizeof t->phase) || !memchr(t->point, '\0', sizeof t->point))
      return errf(e, ERR_CONFIG, "%s: run %s: trace entry %d: phase or point name unterminated",
                  path, r->run_id, i);
  }
  return 0;
}

static bool same_double(double a, double b) {
  return a == b || (isnan(a) && isnan(b));
}

bool trace_equal(const ResultRow *a, const ResultRow *b, const char **field) {
  const char *f = a->n_trace != b->n_trace ? "trace" : NULL;
  for (int i = 0; !f && i < a->n_trace; i++) {
    const ResultTrace *x = &a->trace[i], *y = &b->trace[i];
    if (strcmp(x->phase, y->phase))
      f = "trace.phase";
    else if (x->epoch != y->epoch)
      f = "trace.epoch";
    else if (strcmp(x->point, y->point))
      f = "trace.point";
    for (int v = 0; !f && v < N_VALUES; v++)
      if (!same_double(value(x, v), value(y, v))) f = VALUES[v].field;
  }
  if (field) *field = f;
  return f == NULL;
}

int trace_create(hid_t f, const char *path, Err *e) {
  hid_t t = trace_type(true), mt = trace_type(false), d = -1;
  hsize_t dims[1] = {0}, chunk[1] = {TRACE_CHUNK};
  TraceRecord filler = {.row = -1};  // what unwritten entries read as
  int rc = create_dataset(f, "trace", t, 1, dims, chunk, TRACE_DEFLATE, mt, &filler, &d, path, e);
  h5close(d), h5close(t), h5close(mt);
  return rc;
}

// Writes buf[n] at entry `start` (at or after the end: the entries between read as filler).
static int write_at(hid_t f, hsize_t start, const TraceRecord *buf, hsize_t n, const char *path,
                    Err *e) {
  hid_t d = H5Dopen2(f, "trace", H5P_DEFAULT), fs = -1, ms = -1, mt = trace_type(false);
  hsize_t end = start + n;
  int rc =
      (d < 0 || H5Dset_extent(d, &end) < 0 || (fs = H5Dget_space(d)) < 0 ||
       H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, NULL, &n, NULL) < 0 ||
       (ms = H5Screate_simple(1, &n, NULL)) < 0 || H5Dwrite(d, mt, ms, fs, H5P_DEFAULT, buf) < 0)
          ? h5fail(e, path, "cannot append to /trace")
          : 0;
  h5close(ms), h5close(fs), h5close(mt), h5close(d);
  return rc;
}

int trace_append(hid_t f, const ResultRow *rows, int n, long long first_row, bool in_place,
                 const char *path, Err *e) {
  htri_t has = H5Lexists(f, "trace", H5P_DEFAULT);
  if (has < 0) return h5fail(e, path, "cannot look for /trace");
  int rc = has ? 0 : trace_create(f, path, e);  // a file from before the trace
  size_t total = 0;
  for (int r = 0; r < n; r++) total += (size_t)rows[r].n_trace;
  if (rc || total == 0) return rc;
  if (total > INT_MAX) return errf(e, ERR_CONFIG, "%s: %zu trace entries at once", path, total);
  TraceRecord *buf = malloc(sizeof *buf * total);  // [total]
  if (!buf) return errf(e, ERR_RUNTIME, "out of memory");
  size_t k = 0;
  for (int r = 0; r < n; r++)
    for (int i = 0; i < rows[r].n_trace; i++, k++) {
      buf[k].row = first_row + r;
      strcpy(buf[k].run_id, rows[r].run_id);
      buf[k].t = rows[r].trace[i];
    }
  hsize_t start = 0;
  rc = dataset_rows(f, "trace", 0, &start, path, e);
  if (in_place) start = (start + TRACE_CHUNK - 1) / TRACE_CHUNK * TRACE_CHUNK;
  if (!rc) rc = write_at(f, start, buf, total, path, e);
  free(buf);
  return rc;
}

int trace_read(hid_t f, ResultsTable *t, const char *path, Err *e) {
  htri_t has = H5Lexists(f, "trace", H5P_DEFAULT);
  if (has < 0) return h5fail(e, path, "cannot look for /trace");
  if (!has) return 0;  // a file from before the trace: no row has entries
  hsize_t n = 0;
  int rc = dataset_rows(f, "trace", 0, &n, path, e);
  if (rc) return rc;
  if (n > INT32_MAX / 2) return errf(e, ERR_RUNTIME, "%s: too many trace entries", path);
  TraceRecord *buf = malloc(sizeof *buf * (n ? n : 1));   // [n] file order
  int *end = calloc((size_t)t->n_rows + 1, sizeof *end);  // [n_rows + 1]
  t->traces = malloc(sizeof *t->traces * (n ? n : 1));    // [n] row by row
  if (!buf || !end || !t->traces) rc = errf(e, ERR_RUNTIME, "out of memory");
  hid_t d = rc ? -1 : H5Dopen2(f, "trace", H5P_DEFAULT), mt = trace_type(false);
  if (!rc) rc = check_fields(d, mt, "trace", path, e);
  if (!rc && n > 0 && H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
    rc = h5fail(e, path, "cannot read /trace");
  h5close(mt), h5close(d);
  // Entries of rows beyond /runs at the end: an append cut short left them (see append.c).
  while (!rc && n > 0 && buf[n - 1].row >= t->n_rows) n--;
  // Filler entries (row -1) go; every other entry belongs to a row that exists and has its
  // run_id; end[r + 1] counts row r's.
  hsize_t kept = 0;
  for (hsize_t k = 0; !rc && k < n; k++) {
    int64_t r = buf[k].row;
    if (r == -1) continue;
    buf[kept++] = buf[k];
    if (r < 0 || r >= t->n_rows)
      rc = errf(e, ERR_RUNTIME, "%s: /trace entry %llu belongs to row %lld; /runs has %d rows",
                path, (unsigned long long)k, (long long)r, t->n_rows);
    else if (strcmp(buf[k].run_id, t->rows[r].run_id))
      rc = errf(e, ERR_RUNTIME, "%s: /trace entry %llu is of run %s but row %lld is run %s", path,
                (unsigned long long)k, buf[k].run_id, (long long)r, t->rows[r].run_id);
    else
      end[r + 1]++;
  }
  // Counting sort, stable: row r's entries go to [end[r], end[r + 1]) in file order.
  for (int r = 0; !rc && r < t->n_rows; r++) end[r + 1] += end[r];
  for (hsize_t k = 0; !rc && k < kept; k++) t->traces[end[buf[k].row]++] = buf[k].t;
  for (int r = 0; !rc && r < t->n_rows; r++) {  // now end[r] is where row r's entries end
    int begin = r ? end[r - 1] : 0;
    t->rows[r].n_trace = end[r] - begin;
    t->rows[r].trace = end[r] > begin ? t->traces + begin : NULL;
  }
  if (!rc) t->n_traces = (int)kept;
  free(end), free(buf);
  return rc;
}

int trace_cut(hid_t f, long long n_rows, bool *cut, const char *path, Err *e) {
  enum { BLOCK = TRACE_CHUNK };  // one chunk: all it takes unless a writer was killed
  hsize_t n = 0;
  int rc = dataset_rows(f, "trace", 0, &n, path, e);
  if (rc) return rc;
  hid_t d = H5Dopen2(f, "trace", H5P_DEFAULT), mt = H5Tcreate(H5T_COMPOUND, sizeof(int64_t));
  H5Tinsert(mt, "row", 0, H5T_NATIVE_INT64);
  int64_t rows[BLOCK];
  hsize_t keep = n;  // entries [0, keep) stay: read backwards by blocks to the last one kept
  bool found = false;
  while (!rc && !found && keep > 0) {
    hsize_t count = keep < BLOCK ? keep : BLOCK, start = keep - count;
    hid_t fs = H5Dget_space(d), ms = H5Screate_simple(1, &count, NULL);
    if (H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, NULL, &count, NULL) < 0 ||
        H5Dread(d, mt, ms, fs, H5P_DEFAULT, rows) < 0)
      rc = h5fail(e, path, "cannot read /trace");
    h5close(ms), h5close(fs);
    for (hsize_t i = count; !rc && i > 0 && !found; i--)
      if (rows[i - 1] >= 0 && rows[i - 1] < n_rows)
        found = true;
      else
        keep--;
  }
  // Up to the end of the last kept entry's chunk: a chunk cut in the middle would be written
  // again, and the entries cut belong to an append in place, which started a chunk of its own.
  keep = (keep + TRACE_CHUNK - 1) / TRACE_CHUNK * TRACE_CHUNK;
  if (!rc && keep < n && H5Dset_extent(d, &keep) < 0) rc = h5fail(e, path, "cannot cut /trace");
  if (!rc && keep < n) *cut = true;
  h5close(mt), h5close(d);
  return rc;
}
