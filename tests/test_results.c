// test_results.c: the results file, merge and report.
//   test_results                     unit tests in a fresh temporary directory
//   test_results --write-sample PATH writes a small results file (for test_results_h5py.py)
//   test_results --cli ECORE         exit codes of `ecore merge` and `ecore report`
#include <fcntl.h>
#include <hdf5.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "claims.h"
#include "git_commit.h"  // ECORE_GIT_COMMIT, written at build time
#include "plot.h"        // scale_fit
#include "results.h"
#include "testutil.h"

static void join(char *out, const char *dir, const char *name) {
  snprintf(out, 512, "%s/%s", dir, name);
}

static bool exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

// The whole file (NUL-terminated), or NULL; *n its size.

static bool same_bytes(const char *a, const char *b) {
  size_t na, nb;
  char *x = test_slurp(a, &na), *y = test_slurp(b, &nb);
  bool same = x && y && na == nb && !memcmp(x, y, na);
  free(x), free(y);
  return same;
}

static ResultsSchema make_schema(const char *sweep_id) {
  ResultsSchema s = {.n_axes = 2, .n_points = 4};
  snprintf(s.sweep_id, sizeof s.sweep_id, "%s", sweep_id);
  strcpy(s.axes[0], "ec.temperature");
  strcpy(s.axes[1], "forget.classes");
  for (int p = 0; p < 4; p++) snprintf(s.points[p], RESULTS_NAME_LEN, "layer%d", p + 1);
  return s;
}

static const ResultsMeta META = {
    .config_text = "data:\n  name: synthetic\nec:\n  temperature: 0.7  # τ\n",
    .config_expanded = "data.name: synthetic\nec.temperature: 0.7\n",
    .config_path = "configs/quickstart.yaml",
    .hosts = "node1,node2",
    .world_size = 2,
};

// The training trace of make_row(.., i): 3 * (i % 5) entries (none when i % 5 == 0). Each
// epoch 1..i % 5 has a whole-model entry (point "", values at points NaN) and entries at
// layer1 and layer3 (loss and forget_acc NaN); phase "ec" in odd epochs, "scrub-max" in even.
// The same values are in test_results_h5py.py.
enum { TRACE_KINDS = 5, MAX_TRACE = 3 * (TRACE_KINDS - 1) };
static const ResultTrace *make_trace(int i, int *n) {
  static ResultTrace traces[TRACE_KINDS][MAX_TRACE];
  static bool filled = false;
  for (int k = 0; !filled && k < TRACE_KINDS; k++)
    for (int ep = 1, j = 0; ep <= k; ep++)
      for (int p = 0; p < 3; p++, j++) {
        ResultTrace *t = &traces[k][j];
        snprintf(t->phase, sizeof t->phase, "%s", ep % 2 ? "ec" : "scrub-max");
        t->epoch = ep;
        snprintf(t->point, sizeof t->point, "%s", p == 0 ? "" : p == 1 ? "layer1" : "layer3");
        t->loss = t->forget_acc = t->cu = t->ce = t->cos_fr = t->spread = t->weight = NAN;
        if (p == 0) {
          t->loss = k + 0.1 * ep;
          t->forget_acc = 1.0 / (ep + 1);
        } else {
          t->cu = 0.5 * p + 0.01 * ep;
          t->ce = 0.25 * k;
          t->cos_fr = -0.1 * ep;
          t->spread = 1.0 / (ep + p);
          t->weight = p == 1 ? 0.5 : 1.0;
        }
      }
  filled = true;
  *n = 3 * (i % TRACE_KINDS);
  return *n ? traces[i % TRACE_KINDS] : NULL;
}

// A row whose every value follows from i (so a reader can check it whole).
static ResultRow make_row(const ResultsSchema *s, const char *prefix, int i) {
  static const char *const methods[] = {"ft", "rl", "retrain", "original"};
  ResultRow r;
  results_row_init(&r);
  snprintf(r.run_id, sizeof r.run_id, "%s%05d", prefix, i);
  strcpy(r.method, methods[i % 4]);
  r.ec = i % 2;
  r.seed = i % 3;
  char temp[32];
  snprintf(temp, sizeof temp, "%.1f", 0.1 * (i % 5));
  results_row_set_axis(&r, s, "ec.temperature", temp, NULL);
  results_row_set_axis(&r, s, "forget.classes", "[0, 1]", NULL);
  r.forget_acc = (i % 10) / 10.0;
  r.retain_acc = 0.9 + (i % 7) / 100.0;
  r.test_retain_acc = 0.85;
  r.test_forget_acc = (i % 3) / 10.0;
  r.mia_efficacy = 0.5;
  r.wall_s = 1.5 * i;  // avg_gap stays NaN: "not computed"
  for (int p = 0; p < s->n_points; p++) {
    r.cka_original[p] = 1.0 - 0.1 * p - 0.001 * i;
    r.cka_retrain[p] = 0.5 + 0.05 * p;
    r.knn_forget_acc[p] = 0.2 * p;
  }
  r.trace = make_trace(i, &r.n_trace);
  // Provenance: how varies with i, the models with the seed (rows of one seed and reference
  // setting name the same models).
  snprintf(r.ecore_version, sizeof r.ecore_version, "0.%d", i % 2);
  snprintf(r.git_commit, sizeof r.git_commit, "%040d%s", i, i % 2 ? "-dirty" : "");
  snprintf(r.hosts, sizeof r.hosts, "node%d,node%d", i, i + 1);
  r.ranks = 1 + i % 4;
  snprintf(r.blas, sizeof r.blas, "OpenBLAS 0.3.%d", i % 5);
  snprintf(r.blas_kernel, sizeof r.blas_kernel, "%s", i % 2 ? "Haswell" : "SkylakeX");
  r.blas_threads = i % 3 ? 1 + i % 3 : -1;
  snprintf(r.original_fingerprint, sizeof r.original_fingerprint, "%016x", 0xa0 + r.seed);
  snprintf(r.retrain_fingerprint, sizeof r.retrain_fingerprint, "%016x", 0xb0 + r.seed);
  return r;
}

// Every provenance field equal; the first that differs named on stderr.
static bool same_provenance(const ResultRow *a, const ResultRow *b) {
  const char *f = NULL;
  if (strcmp(a->ecore_version, b->ecore_version)) f = "ecore_version";
  if (!f && strcmp(a->git_commit, b->git_commit)) f = "git_commit";
  if (!f && strcmp(a->hosts, b->hosts)) f = "hosts";
  if (!f && a->ranks != b->ranks) f = "ranks";
  if (!f && strcmp(a->blas, b->blas)) f = "blas";
  if (!f && strcmp(a->blas_kernel, b->blas_kernel)) f = "blas_kernel";
  if (!f && a->blas_threads != b->blas_threads) f = "blas_threads";
  if (!f && strcmp(a->original_fingerprint, b->original_fingerprint)) f = "original_fingerprint";
  if (!f && strcmp(a->retrain_fingerprint, b->retrain_fingerprint)) f = "retrain_fingerprint";
  if (f) fprintf(stderr, "  run %s: provenance differs in %s\n", a->run_id, f);
  return !f;
}

static bool no_provenance(const ResultRow *r) {
  ResultRow none;
  results_row_init(&none);
  snprintf(none.run_id, sizeof none.run_id, "%s", r->run_id);
  return same_provenance(r, &none);
}

// The `row` and `run_id` of each /trace entry of PATH, read with HDF5 alone (not through
// results_read, which checks them): at most max; the number of entries, or -1.
typedef struct {
  long long row;
  char run_id[RESULTS_RUN_ID_LEN];
} TraceKey;
static int read_trace_keys(const char *path, TraceKey *keys, int max) {
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  hid_t d =
      f >= 0 && H5Lexists(f, "trace", H5P_DEFAULT) > 0 ? H5Dopen2(f, "trace", H5P_DEFAULT) : -1;
  hid_t sp = d < 0 ? -1 : H5Dget_space(d);
  hssize_t n = sp < 0 ? -1 : H5Sget_simple_extent_npoints(sp);
  hid_t str = H5Tcopy(H5T_C_S1), mt = H5Tcreate(H5T_COMPOUND, sizeof(TraceKey));
  H5Tset_size(str, RESULTS_RUN_ID_LEN);
  H5Tset_cset(str, H5T_CSET_UTF8);  // as stored: HDF5 converts no ASCII to UTF-8
  H5Tinsert(mt, "row", offsetof(TraceKey, row), H5T_NATIVE_LLONG);
  H5Tinsert(mt, "run_id", offsetof(TraceKey, run_id), str);
  TraceKey *all = n > 0 ? malloc(sizeof *all * (size_t)n) : NULL;
  if (n > 0 && (!all || H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, all) < 0)) n = -1;
  int kept = 0;  // the entries, without the filler (row -1) of appends in place
  for (hssize_t k = 0; k < n; k++)
    if (all[k].row != -1 && kept++ < max) keys[kept - 1] = all[k];
  if (n >= 0) n = kept > max ? -1 : kept;
  free(all);
  H5Tclose(mt), H5Tclose(str);
  if (sp >= 0) H5Sclose(sp);
  if (d >= 0) H5Dclose(d);
  if (f >= 0) H5Fclose(f);
  return (int)n;
}

// Removes /trace from PATH: what a file written before the trace existed looks like.
static bool drop_trace(const char *path) {
  hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
  bool ok = f >= 0 && H5Ldelete(f, "trace", H5P_DEFAULT) >= 0;
  if (f >= 0) H5Fclose(f);
  return ok;
}

static void test_create_append_reopen(const char *dir) {
  char path[512];
  join(path, dir, "basic.h5");
  ResultsSchema s = make_schema("0123456789abcdef");
  Err e = {0};
  CHECK(results_create(path, &s, &META, &e) == 0);
  CHECK(results_create(path, &s, &META, &e) == ERR_CONFIG);  // never over an existing file
  TraceKey none[1];
  CHECK(read_trace_keys(path, none, 1) == 0);  // an empty /trace comes with every new file
  ResultsFile *f = NULL;
  CHECK(results_open(path, &s, &f, &e) == 0);
  if (!f) return;
  ResultRow rows[3];
  for (int i = 0; i < 3; i++) rows[i] = make_row(&s, "run", i);
  strcpy(rows[1].status, "failed: loss is NaN at step 12");
  CHECK(results_append(f, rows, 1, &e) == 0);
  CHECK(results_append(f, rows + 1, 2, &e) == 0);
  CHECK(results_n_rows(f) == 3);

  // A run the file already records as ok keeps its row: appending it again adds nothing.
  CHECK(results_append(f, rows, 1, &e) == 0);
  CHECK(results_n_rows(f) == 3);
  results_close(f);

  ResultsTable t;
  CHECK(results_read(path, &t, &e) == 0);
  CHECK(t.n_rows == 3);
  CHECK(results_schema_equal(&t.schema, &s));
  for (int i = 0; i < t.n_rows && i < 3; i++) {
    const char *field = NULL;
    CHECK(results_rows_equal(&t.rows[i], &rows[i], &s, &field));
    if (field) fprintf(stderr, "  row %d differs in %s\n", i, field);
    CHECK(same_provenance(&t.rows[i], &rows[i]));
  }
  CHECK(t.n_rows == 3 && isnan(t.rows[0].avg_gap));
  // The traces came back (results_rows_equal compared them), each with its row.
  CHECK(t.n_traces == 3 + 6 && t.n_rows == 3 && t.rows[0].n_trace == 0 && !t.rows[0].trace);
  if (t.n_rows == 3 && t.rows[2].n_trace == 6) {
    const ResultTrace *tr = &t.rows[2].trace[4];  // epoch 2 at layer1
    CHECK(!strcmp(tr->phase, "scrub-max") && tr->epoch == 2 && !strcmp(tr->point, "layer1"));
    CHECK(isnan(tr->loss) && isnan(tr->forget_acc) && tr->weight == 0.5);
    CHECK_CLOSE(tr->cu, 0.52, 0, 1e-15);
    CHECK(t.rows[1].trace == t.traces && t.rows[2].trace == t.traces + 3);
  }
  CHECK(t.config_text && !strcmp(t.config_text, META.config_text));
  CHECK(t.config_expanded && !strcmp(t.config_expanded, META.config_expanded));
  CHECK(t.config_path && !strcmp(t.config_path, META.config_path));
  CHECK(t.hosts && !strcmp(t.hosts, "node1,node2"));
  CHECK(t.world_size == 2);
  CHECK(t.ecore_version && !strcmp(t.ecore_version, ECORE_VERSION));
  CHECK(t.git_commit && !strcmp(t.git_commit, ECORE_GIT_COMMIT));
  CHECK(t.created && strlen(t.created) == 20);
  results_table_free(&t);

  // A sweep without grid axes (only seeds) round-trips too.
  char plain[512];
  join(plain, dir, "noaxes.h5");
  ResultsSchema s0 = s;
  s0.n_axes = 0;
  ResultRow r0 = make_row(&s0, "only", 0);
  memset(r0.axis, 0, sizeof r0.axis);
  CHECK(results_write(plain, &s0, NULL, &r0, 1, &e) == 0);
  CHECK(results_read(plain, &t, &e) == 0);
  CHECK(t.n_rows == 1 && t.schema.n_axes == 0 && results_schema_equal(&t.schema, &s0));
  CHECK(t.n_rows == 1 && results_rows_equal(&t.rows[0], &r0, &s0, NULL));
  CHECK(t.config_text && t.config_text[0] == '\0');  // NULL meta: empty strings
  results_table_free(&t);

  // Bad rows and schemas are refused before anything is written.
  ResultsSchema bad = s;
  strcpy(bad.axes[1], "seed");
  CHECK(results_schema_check(&bad, &e) == ERR_CONFIG);
  bad = s;
  bad.n_points = 0;
  CHECK(results_schema_check(&bad, &e) == ERR_CONFIG);
  ResultRow r = make_row(&s, "run", 9);
  CHECK(results_row_set_axis(&r, &s, "ec.tau", "1", &e) == ERR_CONFIG);
  CHECK(results_open(path, &s, &f, &e) == 0);
  r.ec = 7;
  CHECK(f && results_append(f, &r, 1, &e) == ERR_CONFIG);
  r = make_row(&s, "run", 9);  // 12 trace entries
  r.trace = NULL;
  CHECK(f && results_append(f, &r, 1, &e) == ERR_CONFIG);
  r.trace = make_trace(9, &r.n_trace);
  r.n_trace = -1;
  CHECK(f && results_append(f, &r, 1, &e) == ERR_CONFIG);
  ResultTrace unterminated = {.epoch = 1};
  memset(unterminated.point, 'x', sizeof unterminated.point);
  r.trace = &unterminated, r.n_trace = 1;
  CHECK(f && results_append(f, &r, 1, &e) == ERR_CONFIG && strstr(e.msg, "unterminated"));
  CHECK(f && results_n_rows(f) == 3);
  results_close(f);
}

// results_rows_equal (merge's test for conflicting duplicates) compares the traces: their
// lengths, then every field of every entry, NaN equal to NaN.
static void test_trace_equal(void) {
  ResultsSchema s = make_schema("0123456789abcdef");
  ResultRow a = make_row(&s, "run", 2), b = a;
  ResultTrace copy[MAX_TRACE];
  memcpy(copy, a.trace, sizeof *copy * (size_t)a.n_trace);
  b.trace = copy;
  const char *field = "unset";
  CHECK(results_rows_equal(&a, &b, &s, &field) && field == NULL);  // NaNs at the same places
  // One change at a time (entry 5: epoch 2 at layer3), each undone before the next.
  for (int c = 0; c < 6; c++) {
    static const char *const want[] = {"trace.phase", "trace.epoch",  "trace.point",
                                       "trace.loss",  "trace.spread", "trace.weight"};
    ResultTrace *t = &copy[5];
    if (c == 0) strcpy(t->phase, "rl");
    if (c == 1) t->epoch = 3;
    if (c == 2) strcpy(t->point, "layer4");
    if (c == 3) t->loss = 0;  // NaN at a point: a number differs from it
    if (c == 4) t->spread += 1e-12;
    if (c == 5) t->weight = NAN;
    field = NULL;
    CHECK(!results_rows_equal(&a, &b, &s, &field) && field && !strcmp(field, want[c]));
    *t = a.trace[5];
  }
  b.n_trace = 5;
  CHECK(!results_rows_equal(&a, &b, &s, &field) && field && !strcmp(field, "trace"));
  b.n_trace = 0;
  CHECK(!results_rows_equal(&a, &b, &s, &field) && field && !strcmp(field, "trace"));
}

static void test_resume(const char *dir) {
  char path[512];
  join(path, dir, "resume.h5");
  ResultsSchema s = make_schema("feedfacecafebeef");
  Err e = {0};
  ResultsFile *f = NULL;
  CHECK(results_open_or_create(path, &s, &META, &f, &e) == 0);
  if (!f) return;
  ResultRow rows[4];
  for (int i = 0; i < 4; i++) rows[i] = make_row(&s, "r", i);
  strcpy(rows[2].status, "failed: diverged");
  CHECK(results_append(f, rows, 4, &e) == 0);
  results_close(f);

  // A resumed sweep skips ok runs and reruns the failed one.
  CHECK(results_open_or_create(path, &s, &META, &f, &e) == 0);
  if (!f) return;
  CHECK(results_n_finished(f) == 3);
  CHECK(results_is_finished(f, "r00000") && results_is_finished(f, "r00001"));
  CHECK(!results_is_finished(f, "r00002"));
  CHECK(!results_is_finished(f, "nope"));
  CHECK(!strcmp(results_finished_id(f, 0), "r00000"));
  int appended = 0;
  ResultRow rerun;
  for (int i = 0; i < 4; i++) {
    if (results_is_finished(f, rows[i].run_id)) continue;
    rerun = rows[i];
    strcpy(rerun.status, "ok");
    rerun.trace = make_trace(4, &rerun.n_trace);  // another trace than the failed run's 6
    CHECK(results_append(f, &rerun, 1, &e) == 0);
    appended++;
  }
  CHECK(appended == 1);
  CHECK(results_is_finished(f, "r00002") && results_n_finished(f) == 4);
  results_close(f);

  // Nothing is duplicated: one latest row per run, all ok; the failed row is kept, superseded.
  ResultsTable t;
  CHECK(results_read(path, &t, &e) == 0);
  CHECK(t.n_rows == 5);
  int *idx = NULL, n = 0;
  CHECK(results_latest_rows(&t, &idx, &n, &e) == 0);
  CHECK(n == 4);
  for (int i = 0; i < n; i++) CHECK(results_row_ok(&t.rows[idx[i]]));
  CHECK(n == 4 && idx[2] == 4);  // r00002's latest row is the rerun, appended last
  free(idx);
  // Each of r00002's rows has its own trace: /trace's `row` tells them apart, not run_id.
  CHECK(t.n_rows == 5 && results_rows_equal(&t.rows[2], &rows[2], &s, NULL));
  CHECK(t.n_rows == 5 && results_rows_equal(&t.rows[4], &rerun, &s, NULL));
  CHECK(t.n_rows == 5 && t.rows[2].n_trace == 6 && t.rows[4].n_trace == 12);
  results_table_free(&t);
  TraceKey keys[64];
  int n_keys = read_trace_keys(path, keys, 64), of_row[5] = {0};
  CHECK(n_keys == 0 + 3 + 6 + 9 + 12);
  for (int k = 0; k < n_keys; k++)
    if (keys[k].row >= 0 && keys[k].row < 5) of_row[keys[k].row]++;
  CHECK(of_row[0] == 0 && of_row[1] == 3 && of_row[2] == 6 && of_row[3] == 9 && of_row[4] == 12);

  // A merge keeps the latest row's trace only, renumbered: r00002's rerun is its row 2.
  char merged[512];
  join(merged, dir, "resume_merged.h5");
  const char *inputs[1] = {path};
  CHECK(results_merge(merged, inputs, 1, &n, &e) == 0 && n == 4);
  CHECK(results_read(merged, &t, &e) == 0);
  CHECK(t.n_rows == 4 && t.n_traces == 0 + 3 + 12 + 9);
  CHECK(t.n_rows == 4 && results_rows_equal(&t.rows[2], &rerun, &s, NULL));
  results_table_free(&t);
  n_keys = read_trace_keys(merged, keys, 64);
  CHECK(n_keys == 24);
  for (int k = 0; k < n_keys; k++)
    CHECK(keys[k].row == (k < 3 ? 1 : k < 15 ? 2 : 3));  // each row's entries together

  // A second resume appends nothing.
  CHECK(results_open_or_create(path, &s, &META, &f, &e) == 0);
  if (f) {
    for (int i = 0; i < 4; i++) CHECK(results_is_finished(f, rows[i].run_id));
    results_close(f);
  }
}

static void test_wrong_files(const char *dir) {
  char path[512], other[512];
  join(path, dir, "resume.h5");  // from test_resume
  ResultsSchema s = make_schema("0000000000000001");
  Err e = {0};
  ResultsFile *f = NULL;
  CHECK(results_open(path, &s, &f, &e) == ERR_CONFIG);
  CHECK(strstr(e.msg, "feedfacecafebeef") && strstr(e.msg, "0000000000000001"));
  CHECK(results_open_or_create(path, &s, &META, &f, &e) == ERR_CONFIG && !f);
  s = make_schema("feedfacecafebeef");
  strcpy(s.points[3], "fc");
  CHECK(results_open(path, &s, &f, &e) == ERR_CONFIG);
  CHECK(results_open(path, NULL, &f, &e) == 0);  // no expectation: any results file
  results_close(f);

  ResultsTable t;
  join(other, dir, "missing.h5");
  CHECK(results_read(other, &t, &e) == ERR_CONFIG && strstr(e.msg, "missing.h5"));
  join(other, dir, "notes.txt");
  FILE *txt = fopen(other, "w");
  fputs("not HDF5\n", txt);
  fclose(txt);
  CHECK(results_read(other, &t, &e) == ERR_CONFIG && strstr(e.msg, "not an HDF5 file"));
  join(other, dir, "empty.h5");
  fclose(fopen(other, "w"));
  CHECK(results_read(other, &t, &e) == ERR_CONFIG && strstr(e.msg, "empty"));
  join(other, dir, "plain.h5");
  hid_t h = H5Fcreate(other, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  H5Fclose(h);
  CHECK(results_read(other, &t, &e) == ERR_CONFIG && strstr(e.msg, "not an ecore results file"));
}

// A file written before the trace existed (no /trace) reads, its rows without entries, and
// takes appends: the first creates /trace, whose `row` then counts the old rows too.
static void test_file_without_trace(const char *dir) {
  char path[512];
  join(path, dir, "old.h5");
  ResultsSchema s = make_schema("01d01d01d01d01d0");
  Err e = {0};
  ResultRow rows[3];
  for (int i = 0; i < 3; i++) {
    rows[i] = make_row(&s, "old", i);
    rows[i].n_trace = 0, rows[i].trace = NULL;
  }
  CHECK(results_write(path, &s, &META, rows, 3, &e) == 0);
  TraceKey keys[64];
  CHECK(read_trace_keys(path, keys, 64) == 0);  // every new file has /trace, empty here
  CHECK(drop_trace(path));
  CHECK(read_trace_keys(path, keys, 64) == -1);
  ResultsTable t;
  CHECK(results_read(path, &t, &e) == 0);
  CHECK(t.n_rows == 3 && t.n_traces == 0 && !t.traces);
  for (int i = 0; i < t.n_rows; i++) CHECK(results_rows_equal(&t.rows[i], &rows[i], &s, NULL));
  results_table_free(&t);

  ResultsFile *f = NULL;
  CHECK(results_open_or_create(path, &s, &META, &f, &e) == 0);
  ResultRow next[2] = {make_row(&s, "old", 4), make_row(&s, "old", 5)};  // 12 and 0 entries
  CHECK(f && results_append(f, next, 2, &e) == 0);
  results_close(f);
  CHECK(results_read(path, &t, &e) == 0);
  CHECK(t.n_rows == 5 && t.n_traces == 12);
  for (int i = 0; i < t.n_rows && i < 5; i++)
    CHECK(results_rows_equal(&t.rows[i], i < 3 ? &rows[i] : &next[i - 3], &s, NULL));
  results_table_free(&t);
  int n = read_trace_keys(path, keys, 64);
  CHECK(n == 12);
  for (int k = 0; k < n; k++) CHECK(keys[k].row == 3 && !strcmp(keys[k].run_id, "old00004"));
}

// Sets the `row` of /trace's first entry in PATH to `row` (HDF5 alone; the other fields stay).
static bool set_trace_row(const char *path, long long row) {
  hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
  hid_t d = f < 0 ? -1 : H5Dopen2(f, "trace", H5P_DEFAULT);
  hid_t fs = d < 0 ? -1 : H5Dget_space(d), ms = H5Screate_simple(1, (hsize_t[]){1}, NULL);
  hid_t mt = H5Tcreate(H5T_COMPOUND, sizeof row);
  H5Tinsert(mt, "row", 0, H5T_NATIVE_LLONG);
  bool ok =
      fs >= 0 &&
      H5Sselect_hyperslab(fs, H5S_SELECT_SET, (hsize_t[]){0}, NULL, (hsize_t[]){1}, NULL) >= 0 &&
      H5Dwrite(d, mt, ms, fs, H5P_DEFAULT, &row) >= 0;
  H5Tclose(mt), H5Sclose(ms);
  if (fs >= 0) H5Sclose(fs);
  if (d >= 0) H5Dclose(d);
  if (f >= 0) H5Fclose(f);
  return ok;
}

// A /trace entry whose row is not in /runs, or is another run's, is an error on reading.
static void test_bad_trace(const char *dir) {
  char path[512];
  join(path, dir, "badtrace.h5");
  ResultsSchema s = make_schema("bad0bad0bad0bad0");
  ResultRow rows[3] = {make_row(&s, "b", 1), make_row(&s, "b", 2), make_row(&s, "b", 3)};
  Err e = {0};
  ResultsTable t;
  CHECK(results_write(path, &s, &META, rows, 3, &e) == 0);
  CHECK(results_read(path, &t, &e) == 0);
  results_table_free(&t);
  CHECK(set_trace_row(path, 3));
  CHECK(results_read(path, &t, &e) == ERR_RUNTIME && strstr(e.msg, "belongs to row 3"));
  CHECK(set_trace_row(path, 1));
  CHECK(results_read(path, &t, &e) == ERR_RUNTIME && strstr(e.msg, "is of run b00001"));
  CHECK(set_trace_row(path, 0));  // back where it was
  CHECK(results_read(path, &t, &e) == 0 && t.n_traces == 3 + 6 + 9);
  results_table_free(&t);
}

// Rows of the "unsharded sweep": 30 runs; shards take run i when i % 3 == shard.
static void write_shards(const char *dir, const ResultsSchema *s, ResultRow *all, int n) {
  char path[512];
  Err e = {0};
  for (int i = 0; i < n; i++) all[i] = make_row(s, "m", i);
  join(path, dir, "whole.h5");
  CHECK(results_write(path, s, &META, all, n, &e) == 0);
  for (int k = 0; k < 3; k++) {
    char name[32], shard[8];
    snprintf(name, sizeof name, "shard%d.h5", k);
    snprintf(shard, sizeof shard, "%d/3", k + 1);
    join(path, dir, name);
    ResultsMeta m = META;
    m.shard = shard;
    ResultsFile *f = NULL;
    CHECK(results_open_or_create(path, s, &m, &f, &e) == 0);
    for (int i = n - 1; f && i >= 0; i--)  // reverse order: merge must not depend on it
      if (i % 3 == k) CHECK(results_append(f, &all[i], 1, &e) == 0);
    results_close(f);
  }
}

static void test_merge(const char *dir) {
  ResultsSchema s = make_schema("5eed5eed5eed5eed");
  ResultRow all[30];
  write_shards(dir, &s, all, 30);
  char out[512], in[3][512], whole[512];
  join(out, dir, "merged.h5");
  join(whole, dir, "whole.h5");
  for (int k = 0; k < 3; k++) {
    char name[32];
    snprintf(name, sizeof name, "shard%d.h5", k);
    join(in[k], dir, name);
  }
  const char *inputs[3] = {in[0], in[1], in[2]};
  Err e = {0};
  int n = 0;
  CHECK(results_merge(out, inputs, 3, &n, &e) == 0);
  CHECK(n == 30);

  // Shards merged equal the unsharded sweep, as sets of rows; merged rows sorted by run_id.
  ResultsTable merged, ref;
  CHECK(results_read(out, &merged, &e) == 0);
  CHECK(results_read(whole, &ref, &e) == 0);
  CHECK(merged.n_rows == ref.n_rows);
  for (int i = 0; i < merged.n_rows && i < ref.n_rows; i++) {
    CHECK(results_rows_equal(&merged.rows[i], &ref.rows[i], &s, NULL));  // traces too
    if (i) CHECK(strcmp(merged.rows[i - 1].run_id, merged.rows[i].run_id) < 0);
  }
  CHECK(merged.n_traces == ref.n_traces && merged.n_traces == 6 * (0 + 3 + 6 + 9 + 12));
  // /trace's `row` renumbered: a shard holds its runs in reverse order (shard0's row 0 is
  // m00027), the merged file sorted by run_id (m00027 is row 27).
  TraceKey keys[30 * MAX_TRACE];
  int n_keys = read_trace_keys(in[0], keys, 30 * MAX_TRACE);
  CHECK(n_keys > 0 && keys[0].row == 0 && !strcmp(keys[0].run_id, "m00027"));
  n_keys = read_trace_keys(out, keys, 30 * MAX_TRACE);
  CHECK(n_keys == merged.n_traces);
  for (int k = 0; k < n_keys; k++) {
    CHECK(keys[k].row >= 0 && keys[k].row < 30 && !strcmp(keys[k].run_id, all[keys[k].row].run_id));
    if (k) CHECK(keys[k - 1].row <= keys[k].row);
  }
  CHECK(results_schema_equal(&merged.schema, &s));
  CHECK(merged.shard && merged.shard[0] == '\0');
  CHECK(merged.merged_from && strstr(merged.merged_from, "shard2.h5"));
  CHECK(merged.hosts && !strcmp(merged.hosts, "node1,node2"));
  char tmp[600];
  snprintf(tmp, sizeof tmp, "%s.tmp", out);
  CHECK(!exists(tmp));
  results_table_free(&merged);
  results_table_free(&ref);

  // An identical overlap is kept once; the same input twice too.
  const char *twice[4] = {in[0], in[1], in[0], whole};
  CHECK(results_merge(out, twice, 4, &n, &e) == 0);
  CHECK(n == 30);
}

static void test_merge_refusals(const char *dir) {
  ResultsSchema s = make_schema("5eed5eed5eed5eed");
  Err e = {0};
  char out[512], in0[512], in1[512], diff[512], alien[512];
  join(out, dir, "merged.h5");  // from test_merge: must survive every failed merge
  join(in0, dir, "shard0.h5");
  join(in1, dir, "shard1.h5");
  char keep[512];
  join(keep, dir, "merged.copy");
  size_t n_out;
  char *before = test_slurp(out, &n_out);
  FILE *k = fopen(keep, "wb");
  fwrite(before, 1, n_out, k);
  fclose(k);
  free(before);

  // The same run with a different value in two inputs.
  join(diff, dir, "diff.h5");
  ResultRow r = make_row(&s, "m", 0);  // shard0 holds m00000
  r.retain_acc += 0.01;
  CHECK(results_write(diff, &s, &META, &r, 1, &e) == 0);
  const char *conflict[2] = {in0, diff};
  CHECK(results_merge(out, conflict, 2, NULL, &e) == ERR_CONFIG);
  CHECK(strstr(e.msg, "m00000") && strstr(e.msg, "retain_acc") && strstr(e.msg, "diff.h5"));
  CHECK(same_bytes(out, keep));

  // The same run with another trace: one weight differs.
  r = make_row(&s, "m", 3);  // shard0 holds m00003: 9 entries
  ResultTrace other_trace[MAX_TRACE];
  memcpy(other_trace, r.trace, sizeof *other_trace * (size_t)r.n_trace);
  other_trace[7].weight = 0.75;
  r.trace = other_trace;
  CHECK(results_write(diff, &s, &META, &r, 1, &e) == 0);
  CHECK(results_merge(out, conflict, 2, NULL, &e) == ERR_CONFIG);
  CHECK(strstr(e.msg, "m00003") && strstr(e.msg, "trace.weight"));
  CHECK(same_bytes(out, keep));

  // Another sweep.
  ResultsSchema other = make_schema("0ther0ther0ther0");
  join(alien, dir, "alien.h5");
  ResultRow a = make_row(&other, "z", 1);
  CHECK(results_write(alien, &other, &META, &a, 1, &e) == 0);
  const char *mixed[2] = {in0, alien};
  CHECK(results_merge(out, mixed, 2, NULL, &e) == ERR_CONFIG);
  CHECK(strstr(e.msg, "5eed5eed5eed5eed") && strstr(e.msg, "0ther0ther0ther0"));
  CHECK(same_bytes(out, keep));

  // The output among the inputs; a missing input.
  char in1_copy[512];
  join(in1_copy, dir, "shard1.copy");
  size_t n1;
  char *b1 = test_slurp(in1, &n1);
  k = fopen(in1_copy, "wb");
  fwrite(b1, 1, n1, k);
  fclose(k);
  free(b1);
  const char *self[2] = {in0, in1};
  CHECK(results_merge(in1, self, 2, NULL, &e) == ERR_CONFIG);
  CHECK(same_bytes(in1, in1_copy));
  char missing[512];
  join(missing, dir, "nope.h5");
  const char *gone[2] = {in0, missing};
  CHECK(results_merge(out, gone, 2, NULL, &e) == ERR_CONFIG && strstr(e.msg, "nope.h5"));
  CHECK(same_bytes(out, keep));
  char tmp[600];
  snprintf(tmp, sizeof tmp, "%s.tmp", out);
  CHECK(!exists(tmp));
}

// A child appends rows in a loop and is killed at some moment; the file must open and hold
// complete rows 0..n-1, and a resume must be able to append to it.
// Two writers of one file at once (two processes, their own handles, interleaved appends):
// every row of both lands, each run once; a writer that finds the lock held waits for it.
static void test_concurrent_writers(const char *dir) {
  char path[512];
  join(path, dir, "two_writers.h5");
  ResultsSchema s = make_schema("c0c0c0c0c0c0c0c0");
  Err e = {0};
  CHECK(results_create(path, &s, &META, &e) == 0);
  enum { ROWS = 25 };
  pid_t pid[2];
  fflush(NULL);
  for (int w = 0; w < 2; w++) {
    if ((pid[w] = fork()) != 0) continue;
    ResultsFile *f = NULL;
    if (results_open(path, &s, &f, &e)) {
      fprintf(stderr, "  writer %d: %s\n", w, e.msg);
      _exit(3);
    }
    for (int i = 0; i < ROWS; i++) {
      ResultRow own = make_row(&s, w ? "b" : "a", i), shared = make_row(&s, "both", i);
      if (results_append(f, &own, 1, &e) || results_append(f, &shared, 1, &e)) {
        fprintf(stderr, "  writer %d: %s\n", w, e.msg);
        _exit(4);
      }
    }
    results_close(f);
    _exit(0);
  }
  for (int w = 0; w < 2; w++) {
    int status = -1;
    waitpid(pid[w], &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  ResultsTable t;
  CHECK(results_read(path, &t, &e) == 0);
  int a = 0, b = 0, both = 0;
  for (int i = 0; i < t.n_rows; i++) {
    a += !strncmp(t.rows[i].run_id, "a", 1);
    b += !strncmp(t.rows[i].run_id, "b", 1) && strncmp(t.rows[i].run_id, "both", 4);
    both += !strncmp(t.rows[i].run_id, "both", 4);
  }
  CHECK(a == ROWS && b == ROWS && both == ROWS && t.n_rows == 3 * ROWS);
  if (t.n_rows != 3 * ROWS)
    fprintf(stderr, "  %d rows: a %d, b %d, both %d\n", t.n_rows, a, b, both);
  results_table_free(&t);
  // A writer that finds the lock held waits for it, then appends.
  fflush(NULL);
  pid_t holder = fork();
  if (holder == 0) {
    int fd = open(path, O_RDONLY);
    if (fd < 0 || flock(fd, LOCK_EX) != 0) _exit(3);
    struct timespec hold = {0, 300 * 1000000L};
    nanosleep(&hold, NULL);
    _exit(0);  // the lock dies with the process
  }
  struct timespec start = {0, 100 * 1000000L};
  nanosleep(&start, NULL);
  ResultsFile *f = NULL;
  CHECK(results_open(path, &s, &f, &e) == 0);
  ResultRow late = make_row(&s, "late", 0);
  if (f) CHECK(results_append(f, &late, 1, &e) == 0 && results_n_rows(f) == 3 * ROWS + 1);
  results_close(f);
  int status = -1;
  waitpid(holder, &status, 0);
}

// One file, 200 writers in turn, each SIGKILLed at a random instant: odd trials 1..40 ms after
// it starts (while it opens and repairs the file, or during an append), even trials 1..40 ms
// after its first row is acknowledged (during an append; so the file grows by at least one row
// every second trial however slow the machine is). A child reports each row through a pipe once
// results_append returned (acknowledged); after each kill the file must read, hold every
// acknowledged row (and nothing else but, possibly, the one row whose append was cut short,
// complete), and take the next writer's appends.
static void test_sigkill(const char *dir) {
  enum { TRIALS = 200 };
  ResultsSchema s = make_schema("dead00dead00dead");
  char path[512];
  join(path, dir, "kill.h5");
  Err e = {0};
  CHECK(results_create(path, &s, &META, &e) == 0);
  uint64_t rng = 88172645463325252ull;
  int n = 0, cut_short = 0;  // rows in the file; kills that left an unacknowledged row
  for (int trial = 0; trial < TRIALS; trial++) {
    int acks[2];
    CHECK(pipe(acks) == 0);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
      close(acks[0]);
      ResultsFile *f = NULL;
      if (results_open(path, &s, &f, &e)) _exit(3);
      for (int i = results_n_rows(f);; i++) {
        ResultRow r = make_row(&s, "k", i);
        if (results_append(f, &r, 1, &e)) _exit(4);
        if (write(acks[1], &i, sizeof i) != sizeof i) _exit(5);
      }
    }
    close(acks[1]);
    int status = 0, acked = -1, i;
    if (trial % 2 == 0 && read(acks[0], &i, sizeof i) == sizeof i) acked = i;
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    struct timespec delay = {0, (long)(1 + rng % 40) * 1000000L};
    nanosleep(&delay, NULL);
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    while (read(acks[0], &i, sizeof i) == sizeof i) acked = i;
    close(acks[0]);

    ResultsTable t;
    int rc = results_read(path, &t, &e);
    CHECK(rc == 0);
    if (rc) {
      fprintf(stderr, "  trial %d: %s\n", trial, e.msg);
      break;
    }
    int want = acked >= 0 ? acked + 1 : n;  // every acknowledged row, and the earlier ones
    CHECK(t.n_rows == want || t.n_rows == want + 1);
    if (t.n_rows != want && t.n_rows != want + 1)
      fprintf(stderr, "  trial %d: %d rows, %d acknowledged\n", trial, t.n_rows, want);
    cut_short += t.n_rows == want + 1;
    for (int r = 0; r < t.n_rows; r++) {
      ResultRow row = make_row(&s, "k", r);
      const char *field = NULL;
      CHECK(results_rows_equal(&t.rows[r], &row, &s, &field));
      if (field) fprintf(stderr, "  trial %d row %d: %s differs\n", trial, r, field);
    }
    n = t.n_rows;
    results_table_free(&t);
  }
  ResultsFile *f = NULL;  // and the file takes appends after all that
  CHECK(results_open(path, &s, &f, &e) == 0);
  if (f) {
    CHECK(results_n_finished(f) == n);
    ResultRow next = make_row(&s, "k", n);
    CHECK(results_append(f, &next, 1, &e) == 0 && results_n_rows(f) == n + 1);
    results_close(f);
  }
  printf(
      "sigkill: %d kills, %d rows, every acknowledged row there; %d kills left an "
      "unacknowledged row\n",
      TRIALS, n, cut_short);
  CHECK(n >= TRIALS / 2);
}

// ---------------------------------------------------------------- provenance

// results_rows_equal: how a row was computed does not make another result; its models do.
static void test_rows_equal_provenance(void) {
  ResultsSchema s = make_schema("0123456789abcdef");
  ResultRow a = make_row(&s, "run", 2), b = make_row(&s, "run", 2);
  const char *field = "unset";
  strcpy(b.hosts, "elsewhere"), strcpy(b.git_commit, "feed"), strcpy(b.ecore_version, "9.9");
  strcpy(b.blas, "another"), strcpy(b.blas_kernel, "Zen"), b.ranks = 8, b.blas_threads = 4;
  b.wall_s = 99;
  CHECK(results_rows_equal(&a, &b, &s, &field) && field == NULL);
  strcpy(b.original_fingerprint, "0123456789abcdef");
  CHECK(!results_rows_equal(&a, &b, &s, &field) && field && !strcmp(field, "original_fingerprint"));
  b = a;
  strcpy(b.retrain_fingerprint, "0123456789abcdef");
  CHECK(!results_rows_equal(&a, &b, &s, &field) && field && !strcmp(field, "retrain_fingerprint"));
  b.retrain_fingerprint[0] = b.original_fingerprint[0] = '\0';  // not known: no difference
  CHECK(results_rows_equal(&a, &b, &s, &field) && results_rows_equal(&b, &a, &s, &field));
}

// Rewrites PATH's /runs without the provenance fields, as ecore wrote it before them (HDF5
// alone: the other fields and their values stay).
static bool strip_provenance(const char *path) {
  static const char *const prov[] = {"ecore_version",
                                     "git_commit",
                                     "hosts",
                                     "ranks",
                                     "blas",
                                     "blas_kernel",
                                     "blas_threads",
                                     "original_fingerprint",
                                     "retrain_fingerprint"};
  hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
  hid_t d = f < 0 ? -1 : H5Dopen2(f, "runs", H5P_DEFAULT);
  if (d < 0) return false;
  hid_t ft = H5Dget_type(d), sp = H5Dget_space(d);
  hssize_t n = H5Sget_simple_extent_npoints(sp);
  size_t size = 0;
  for (int pass = 0; pass < 2; pass++) {  // the size of the kept fields, then the type
    hid_t old = pass ? H5Tcreate(H5T_COMPOUND, size) : -1;
    size_t off = 0;
    for (int i = 0; i < H5Tget_nmembers(ft); i++) {
      char *name = H5Tget_member_name(ft, (unsigned)i);
      bool drop = false;
      for (size_t k = 0; k < sizeof prov / sizeof *prov; k++) drop |= !strcmp(name, prov[k]);
      hid_t mt = H5Tget_member_type(ft, (unsigned)i);
      if (!drop && pass) H5Tinsert(old, name, off, mt);
      if (!drop) off += H5Tget_size(mt);
      H5Tclose(mt);
      H5free_memory(name);
    }
    size = off;
    if (!pass) continue;
    char *buf = malloc(size * (size_t)(n ? n : 1));
    bool ok = buf && (n == 0 || H5Dread(d, old, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0);
    H5Dclose(d);
    ok = ok && H5Ldelete(f, "runs", H5P_DEFAULT) >= 0;
    hsize_t dims[1] = {(hsize_t)n}, maxdims[1] = {H5S_UNLIMITED}, chunk[1] = {64};
    hid_t nsp = H5Screate_simple(1, dims, maxdims), pl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(pl, 1, chunk);
    d = ok ? H5Dcreate2(f, "runs", old, nsp, H5P_DEFAULT, pl, H5P_DEFAULT) : -1;
    ok = d >= 0 && (n == 0 || H5Dwrite(d, old, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0);
    H5Sclose(nsp), H5Pclose(pl), H5Tclose(old);
    free(buf);
    if (!ok) size = 0;
  }
  bool ok = size > 0;
  if (d >= 0) H5Dclose(d);
  H5Tclose(ft), H5Sclose(sp), H5Fclose(f);
  return ok;
}

// Whether PATH's /runs has a field called name (HDF5 alone).
static bool runs_has_field(const char *path, const char *name) {
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT), d = H5Dopen2(f, "runs", H5P_DEFAULT);
  hid_t t = H5Dget_type(d);
  bool has = H5Tget_member_index(t, name) >= 0;
  H5Tclose(t), H5Dclose(d), H5Fclose(f);
  return has;
}

// A file from before the provenance reads with empty provenance and takes appends: the first
// adds the fields to /runs (old rows "" and 0, new rows theirs), traces still with their rows.
static void test_file_without_provenance(const char *dir) {
  char path[512];
  join(path, dir, "noprov.h5");
  ResultsSchema s = make_schema("0bb0bb0bb0bb0bb0");
  Err e = {0};
  ResultRow rows[3];
  for (int i = 0; i < 3; i++) rows[i] = make_row(&s, "np", i + 1);
  CHECK(results_write(path, &s, &META, rows, 3, &e) == 0);
  CHECK(strip_provenance(path) && !runs_has_field(path, "hosts"));
  ResultsTable t;
  CHECK(results_read(path, &t, &e) == 0);
  CHECK(t.n_rows == 3);
  for (int i = 0; i < t.n_rows && i < 3; i++) {
    CHECK(no_provenance(&t.rows[i]));
    ResultRow want = rows[i];
    want.original_fingerprint[0] = want.retrain_fingerprint[0] = '\0';
    CHECK(results_rows_equal(&t.rows[i], &want, &s, NULL));  // everything else as written
  }
  results_table_free(&t);

  ResultsFile *f = NULL;
  CHECK(results_open_or_create(path, &s, &META, &f, &e) == 0);
  ResultRow next = make_row(&s, "np", 9);  // 12 trace entries
  CHECK(f && results_append(f, &next, 1, &e) == 0);
  results_close(f);
  CHECK(runs_has_field(path, "hosts") && runs_has_field(path, "retrain_fingerprint"));
  CHECK(results_read(path, &t, &e) == 0);
  CHECK(t.n_rows == 4 && t.n_traces == 3 + 6 + 9 + 12);
  for (int i = 0; i < t.n_rows && i < 3; i++) CHECK(no_provenance(&t.rows[i]));
  if (t.n_rows == 4) {
    CHECK(results_rows_equal(&t.rows[3], &next, &s, NULL) && same_provenance(&t.rows[3], &next));
    ResultRow want = rows[1];
    want.original_fingerprint[0] = want.retrain_fingerprint[0] = '\0';
    CHECK(results_rows_equal(&t.rows[1], &want, &s, NULL));  // trace of an old row still its own
  }
  results_table_free(&t);
}

// Merge: a run in two shards computed on other hosts with the same numbers and models is kept
// once (the first input's row); with other models, or other numbers, it is refused, the
// message saying how each was computed when that differs.
static void test_merge_provenance(const char *dir) {
  ResultsSchema s = make_schema("9a9a9a9a9a9a9a9a");
  Err e = {0};
  char a[512], b[512], out[512];
  join(a, dir, "prov_a.h5"), join(b, dir, "prov_b.h5"), join(out, dir, "prov_out.h5");
  ResultRow ra[2] = {make_row(&s, "p", 1), make_row(&s, "p", 2)};
  ResultRow rb = ra[1];  // run p00002, elsewhere
  strcpy(rb.hosts, "gpu7"), strcpy(rb.blas_kernel, "Zen"), strcpy(rb.git_commit, "feed");
  rb.ranks = 4, rb.wall_s = 123;
  CHECK(results_write(a, &s, &META, ra, 2, &e) == 0);
  CHECK(results_write(b, &s, &META, &rb, 1, &e) == 0);
  const char *in[2] = {a, b};
  int n = 0;
  CHECK(results_merge(out, in, 2, &n, &e) == 0 && n == 2);
  ResultsTable t;
  CHECK(results_read(out, &t, &e) == 0);
  CHECK(t.n_rows == 2 && same_provenance(&t.rows[1], &ra[1]) && t.rows[1].wall_s == ra[1].wall_s);
  results_table_free(&t);
  const char *swapped[2] = {b, a};  // the first input's row is kept
  CHECK(results_merge(out, swapped, 2, &n, &e) == 0);
  CHECK(results_read(out, &t, &e) == 0);
  CHECK(t.n_rows == 2 && same_provenance(&t.rows[1], &rb));
  results_table_free(&t);

  // An input from before the fingerprints first: the row that names its models is kept, and a
  // third naming other models is refused (compared with the kept row, not the one before).
  char c[512];
  join(c, dir, "prov_c.h5");
  ResultRow unknown = ra[1], other = ra[1];
  unknown.original_fingerprint[0] = unknown.retrain_fingerprint[0] = '\0';
  strcpy(other.original_fingerprint, "00000000deadbeef");
  CHECK(results_write(c, &s, &META, &unknown, 1, &e) == 0);
  const char *old_first[2] = {c, a};
  CHECK(results_merge(out, old_first, 2, &n, &e) == 0 && n == 2);
  CHECK(results_read(out, &t, &e) == 0);
  CHECK(t.n_rows == 2 && same_provenance(&t.rows[1], &ra[1]));
  results_table_free(&t);
  CHECK(results_write(b, &s, &META, &other, 1, &e) == 0);
  const char *three[3] = {c, a, b};
  CHECK(results_merge(out, three, 3, NULL, &e) == ERR_CONFIG);
  CHECK(strstr(e.msg, "original_fingerprint") && strstr(e.msg, "prov_a.h5") &&
        strstr(e.msg, "prov_b.h5"));

  rb = ra[1];
  strcpy(rb.retrain_fingerprint, "00000000deadbeef");  // against another retrained model
  CHECK(results_write(b, &s, &META, &rb, 1, &e) == 0);
  CHECK(results_merge(out, in, 2, NULL, &e) == ERR_CONFIG);
  CHECK(strstr(e.msg, "p00002") && strstr(e.msg, "retrain_fingerprint"));
  rb = ra[1];
  rb.forget_acc += 0.25;  // other numbers, same hosts: no word on how
  CHECK(results_write(b, &s, &META, &rb, 1, &e) == 0);
  CHECK(results_merge(out, in, 2, NULL, &e) == ERR_CONFIG);
  CHECK(strstr(e.msg, "forget_acc") && !strstr(e.msg, "computed"));
  strcpy(rb.hosts, "gpu7"), strcpy(rb.blas_kernel, "Zen");  // other numbers from elsewhere
  CHECK(results_write(b, &s, &META, &rb, 1, &e) == 0);
  CHECK(results_merge(out, in, 2, NULL, &e) == ERR_CONFIG);
  CHECK(strstr(e.msg, "forget_acc") && strstr(e.msg, "computed on node2,node3") &&
        strstr(e.msg, "on gpu7") && strstr(e.msg, "Zen"));
}

// ---------------------------------------------------------------- report

static ResultRow report_row(const ResultsSchema *s, const char *id, const char *method, int ec,
                            int seed, const char *temp, const char *classes, double forget,
                            double retain, double test, double mia, double cka1) {
  ResultRow r;
  results_row_init(&r);
  snprintf(r.run_id, sizeof r.run_id, "%s", id);
  snprintf(r.method, sizeof r.method, "%s", method);
  r.ec = ec, r.seed = seed;
  results_row_set_axis(&r, s, "ec.temperature", temp, NULL);
  results_row_set_axis(&r, s, "forget.classes", classes, NULL);
  r.forget_acc = forget, r.retain_acc = retain, r.test_retain_acc = test, r.mia_efficacy = mia;
  r.test_forget_acc = forget;
  r.wall_s = 10;
  r.cka_original[0] = cka1, r.cka_original[1] = 0.5;
  r.cka_retrain[0] = r.cka_retrain[1] = 0.6;
  r.knn_forget_acc[0] = 0.3, r.knn_forget_acc[1] = 0.1;
  return r;
}

static void report_file(const char *path, ResultsSchema *s) {
  *s = make_schema("00000000000000aa");
  s->n_points = 2;
  ResultRow rows[] = {
      report_row(s, "rt1", "retrain", 0, 1, "", "[0]", 0.0, 0.9, 0.8, 0.5, 0.4),
      report_row(s, "rt2", "retrain", 0, 2, "", "[0]", 0.1, 0.9, 0.8, 0.7, 0.4),
      report_row(s, "rtx", "retrain", 0, 1, "", "[1]", 0.9, 0.1, 0.1, 0.9, 0.4),
      report_row(s, "a1", "ft", 0, 1, "0.5", "[0]", 0.1, 0.95, 0.85, 0.2, 0.9),
      report_row(s, "a2", "ft", 0, 2, "0.5", "[0]", 0.2, 0.95, 0.85, 0.3, 0.8),
      report_row(s, "a3", "ft", 0, 3, "0.5", "[0]", 0.3, 0.95, 0.85, 0.4, 0.7),
      report_row(s, "a4", "ft", 0, 4, "0.5", "[0]", 0.9, 0.9, 0.9, 0.9, 0.9),
      report_row(s, "b1", "ft", 1, 1, "0.5", "[0]", 0.0, 0.9, 0.8, 0.5, 0.2),
      report_row(s, "b2", "ft", 1, 2, "0.5", "[0]", 0.0, 0.9, 0.8, 0.5, 0.3),
  };
  strcpy(rows[6].status, "failed: loss is NaN");
  Err e = {0};
  CHECK(results_write(path, s, &META, rows, (int)(sizeof rows / sizeof *rows), &e) == 0);
}

// Splits one CSV line (RFC 4180 quoting) into at most max fields; returns the count.
static int csv_split(const char *line, char fields[][128], int max) {
  int n = 0;
  const char *p = line;
  while (n < max) {
    int len = 0;
    bool quoted = *p == '"';
    if (quoted) p++;
    while (*p && (quoted ? !(*p == '"' && p[1] != '"') : *p != ',')) {
      if (quoted && *p == '"') p++;
      if (len < 127) fields[n][len++] = *p;
      p++;
    }
    if (quoted && *p == '"') p++;
    fields[n++][len] = '\0';
    if (*p != ',') break;
    p++;
  }
  return n;
}

static void test_report(const char *dir) {
  char path[512];
  join(path, dir, "report.h5");
  ResultsSchema s;
  report_file(path, &s);
  ResultsTable t;
  Err e = {0};
  CHECK(results_read(path, &t, &e) == 0);

  char *text = NULL;
  size_t size = 0;
  FILE *out = open_memstream(&text, &size);
  CHECK(results_report(&t, REPORT_CSV, out, &e) == 0);
  fclose(out);
  // Groups: retrain [0], retrain [1], ft ec0, ft ec1; each 7 scalars + 3x2 points + avg gap.
  int lines = 0, checked = 0;
  char f[16][128];
  for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"), lines++) {
    int n = csv_split(line, f, 16);
    CHECK(n == 12);
    if (lines == 0) {
      CHECK(!strcmp(f[0], "method") && !strcmp(f[2], "ec.temperature") && !strcmp(f[5], "point") &&
            !strcmp(f[7], "mean") && !strcmp(f[10], "gap"));
      continue;
    }
    if (strcmp(f[0], "ft") || strcmp(f[1], "0")) continue;
    CHECK(!strcmp(f[3], "[0]") && !strcmp(f[11], "1"));  // one failed run, not averaged
    if (!strcmp(f[4], "forget_acc")) {
      CHECK(!strcmp(f[6], "3"));
      CHECK_CLOSE(atof(f[7]), 0.2, 1e-9, 1e-12);
      CHECK_CLOSE(atof(f[8]), 0.1, 1e-9, 1e-12);
      CHECK_CLOSE(atof(f[9]), 0.05, 1e-9, 1e-12);  // retrain of forget set [0] only
      CHECK_CLOSE(atof(f[10]), 0.15, 1e-9, 1e-12);
      checked++;
    } else if (!strcmp(f[4], "mia_efficacy")) {
      CHECK_CLOSE(atof(f[7]), 0.3, 1e-9, 1e-12);
      CHECK_CLOSE(atof(f[9]), 0.6, 1e-9, 1e-12);
      checked++;
    } else if (!strcmp(f[4], "cka_original") && !strcmp(f[5], "layer1")) {
      CHECK_CLOSE(atof(f[7]), 0.8, 1e-9, 1e-12);
      CHECK_CLOSE(atof(f[8]), 0.1, 1e-9, 1e-12);
      CHECK_CLOSE(atof(f[10]), 0.4, 1e-9, 1e-12);
      checked++;
    } else if (!strcmp(f[4], "avg_gap_vs_retrain")) {
      CHECK_CLOSE(atof(f[7]), (0.15 + 0.05 + 0.05 + 0.3) / 4, 1e-9, 1e-12);
      checked++;
    } else if (!strcmp(f[4], "avg_gap")) {
      CHECK(f[6][0] == '0' && f[7][0] == '\0');  // not computed in any run
    }
  }
  CHECK(lines == 1 + 4 * (7 + 3 * 2 + 1));
  CHECK(checked == 4);
  free(text);

  out = open_memstream(&text, &size);
  CHECK(results_report(&t, REPORT_MARKDOWN, out, &e) == 0);
  fclose(out);
  CHECK(strstr(text, "| ft | 0 | 0.5 | [0] | 3 (+1 failed) | 0.2000 ± 0.1000 (Δ 0.1500) |"));
  CHECK(strstr(text, "## cka_original"));
  CHECK(strstr(text, "| layer1 | layer2 |"));
  CHECK(strstr(text, " 0.1375 |"));  // avg gap of ft ec0
  free(text);

  ResultsTable empty = {0};
  empty.schema = s;
  CHECK(results_report(&empty, REPORT_MARKDOWN, stdout, &e) == ERR_RUNTIME);
  results_table_free(&t);
}

// The retrain reference of a file that names its reference axes, against one that does not.
// Axes: world.size (a reference axis in the new file, though no config prefix says so) and
// forget.classes (not one in the new file, though its prefix says so in an old one).
// retrain rows: (A, [0]) 0.0, (A, [1]) 0.2, (B, [0]) 0.8; ft (A, [0]) 0.5.
static void reference_file(const char *path, bool has_flags) {
  ResultsSchema s = {.n_axes = 2, .n_points = 1, .has_reference_axes = has_flags};
  snprintf(s.sweep_id, sizeof s.sweep_id, "00000000000000bb");
  strcpy(s.axes[0], "world.size");
  strcpy(s.axes[1], "forget.classes");
  strcpy(s.points[0], "layer1");
  s.reference_axis[0] = true;
  const char *ids[] = {"rt1", "rt2", "rt3", "a1"};
  const char *methods[] = {"retrain", "retrain", "retrain", "ft"};
  const char *world[] = {"A", "A", "B", "A"}, *classes[] = {"[0]", "[1]", "[0]", "[0]"};
  const double forget[] = {0.0, 0.2, 0.8, 0.5};
  ResultRow rows[4];
  Err e = {0};
  for (int i = 0; i < 4; i++) {
    results_row_init(&rows[i]);
    snprintf(rows[i].run_id, sizeof rows[i].run_id, "%s", ids[i]);
    snprintf(rows[i].method, sizeof rows[i].method, "%s", methods[i]);
    CHECK(results_row_set_axis(&rows[i], &s, "world.size", world[i], &e) == 0);
    CHECK(results_row_set_axis(&rows[i], &s, "forget.classes", classes[i], &e) == 0);
    rows[i].forget_acc = forget[i];
  }
  CHECK(results_write(path, &s, &META, rows, 4, &e) == 0);
}

// The retrain column of ft's forget_acc line in the CSV report of path.
static double ft_retrain_forget(const char *path, ResultsTable *t) {
  Err e = {0};
  CHECK(results_read(path, t, &e) == 0);
  char *text = NULL, f[16][128];
  size_t size = 0;
  FILE *out = open_memstream(&text, &size);
  CHECK(results_report(t, REPORT_CSV, out, &e) == 0);
  fclose(out);
  double ref = NAN;
  for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
    if (csv_split(line, f, 16) == 12 && !strcmp(f[0], "ft") && !strcmp(f[4], "forget_acc"))
      ref = atof(f[9]);
  free(text);
  return ref;
}

static void test_reference_axes(const char *dir) {
  char path[512];
  ResultsTable t;
  join(path, dir, "reference_new.h5");
  reference_file(path, true);
  CHECK_CLOSE(ft_retrain_forget(path, &t), 0.1, 1e-9, 1e-12);  // rt1, rt2: world.size A
  CHECK(t.schema.has_reference_axes && t.schema.reference_axis[0] && !t.schema.reference_axis[1]);
  results_table_free(&t);

  join(path, dir, "reference_old.h5");  // no attribute: by the prefixes, forget.classes only
  reference_file(path, false);
  CHECK_CLOSE(ft_retrain_forget(path, &t), 0.4, 1e-9, 1e-12);  // rt1, rt3: forget.classes [0]
  CHECK(!t.schema.has_reference_axes);
  results_table_free(&t);

  // Resuming: the reference axes must match when both say them, and an old file opens.
  ResultsSchema s = {.n_axes = 2, .n_points = 1, .has_reference_axes = true};
  snprintf(s.sweep_id, sizeof s.sweep_id, "00000000000000bb");
  strcpy(s.axes[0], "world.size");
  strcpy(s.axes[1], "forget.classes");
  strcpy(s.points[0], "layer1");
  s.reference_axis[0] = true;
  ResultsFile *f = NULL;
  Err e = {0};
  CHECK(results_open(path, &s, &f, &e) == 0);
  results_close(f);
  join(path, dir, "reference_new.h5");
  CHECK(results_open(path, &s, &f, &e) == 0);
  results_close(f);
  s.reference_axis[1] = true;
  CHECK(results_open(path, &s, &f, &e) == ERR_CONFIG);

  // A merge of an old and a new file keeps the new one's reference axes, in either order.
  char old_path[512], out[512];
  join(old_path, dir, "reference_old.h5");
  for (int order = 0; order < 2; order++) {
    const char *in[] = {order ? path : old_path, order ? old_path : path};
    join(out, dir, order ? "reference_merged1.h5" : "reference_merged0.h5");
    CHECK(results_merge(out, in, 2, NULL, &e) == 0);
    CHECK_CLOSE(ft_retrain_forget(out, &t), 0.1, 1e-9, 1e-12);
    CHECK(t.schema.has_reference_axes && t.schema.reference_axis[0]);
    results_table_free(&t);
  }
}

// The figures of report_file's table: every file, its series and legend (the rendering and the
// geometry are checked on real sweeps by test_plots.py).
static void test_svg(const char *dir) {
  char path[512], plots[512], svg[600];
  join(path, dir, "report.h5");
  join(plots, dir, "plots");
  ResultsTable t;
  Err e = {0};
  CHECK(results_read(path, &t, &e) == 0);
  CHECK(results_plot_svg(&t, plots, &e) == 0);
  const char *names[] = {"cka_original", "cka_retrain", "knn_forget_acc",
                         "tradeoff_test_retain_acc", "tradeoff_cka_original"};
  for (int i = 0; i < 5; i++) {
    snprintf(svg, sizeof svg, "%s/%s.svg", plots, names[i]);
    size_t n = 0;
    char *text = test_slurp(svg, &n);
    CHECK(text != NULL);
    if (!text) continue;
    CHECK(strstr(text, "<svg") && strstr(text, "</svg>"));
    CHECK(strstr(text, ">ft + EC</text>") && strstr(text, ">retrain</text>"));
    // The legend names the axis that tells the two retrained references apart, and its values.
    CHECK(strstr(text, ">forget.classes</text>") && strstr(text, ">[1]</text>"));
    CHECK(strstr(text, "stroke-dasharray=\"6 4\""));       // ft without EC
    if (i == 0 || i > 2) CHECK(strstr(text, "<path d="));  // error bars: ft's seeds differ
    int polylines = 0, frames = 0;
    for (char *p = text; (p = strstr(p, "<polyline")); p++) polylines++;
    for (char *p = text; (p = strstr(p, "class=\"frame\"")); p++) frames++;
    if (i < 3) {
      CHECK(strstr(text, ">layer2</text>") && strstr(text, "supervision point"));
      CHECK(polylines == 3);  // retrain (forget.classes [0], ft's), ft, ft + EC
      CHECK(frames == 1);
    } else {
      CHECK(polylines == 0 && strstr(text, "forget_acc"));
      CHECK(frames == (i == 3 ? 1 : 2));  // trade-off with CKA: a panel per point
    }
    free(text);
  }
  results_table_free(&t);
}

// Scales fitted to the data: a margin, nice ticks, never a fixed [0, 1].
static void test_scale(void) {
  Scale s = scale_fit(0.88, 1.0, 400, 100);
  CHECK(s.lo > 0.86 && s.lo < 0.88 && s.hi > 1.0 && s.hi < 1.01);
  CHECK_CLOSE(s.step, 0.02, 1e-12, 1e-12);
  CHECK(s.decimals == 2);
  CHECK_CLOSE(scale_px(&s, s.lo), 400, 1e-9, 1e-9);
  CHECK_CLOSE(scale_px(&s, s.hi), 100, 1e-9, 1e-9);
  s = scale_fit(0, 1, 0, 100);
  CHECK_CLOSE(s.lo, -0.06, 1e-12, 1e-12);
  CHECK_CLOSE(s.step, 0.2, 1e-12, 1e-12);
  s = scale_fit(0.5, 0.5, 0, 100);  // one value: ± 5%
  CHECK_CLOSE(s.lo, 0.475, 1e-12, 1e-12);
  CHECK_CLOSE(s.hi, 0.525, 1e-12, 1e-12);
  s = scale_fit(INFINITY, -INFINITY, 0, 100);  // no data
  CHECK(s.lo < 0 && s.hi > 1 && s.step > 0);
  s = scale_fit(1234, 5678, 0, 100);
  CHECK(s.step == 1000 && s.decimals == 0);
}

// ---------------------------------------------------------------- models of a reference group

// A file whose rows name their original and retrained models: seeds 1 and 2 have their own
// (O1, R1 and O2, R2), forget set [1] its own retrained model (R3), a failed row and a row
// without fingerprints name none that counts. mix: 0 none mixed; 1 run b1 was measured against
// another retrained model (R1x); 2 that and run b2 against another original (O2x).
enum { O1 = 0x1, R1 = 0x11, O2 = 0x2, R2 = 0x22, R3 = 0x33, R1X = 0xee, O2X = 0xdd, O9 = 0x99 };
static void models_file(const char *path, int mix) {
  ResultsSchema s = make_schema("0000000000000f1d");
  s.n_points = 2;
  ResultRow rows[] = {
      report_row(&s, "o1", "original", 0, 1, "", "[0]", 0.9, 0.9, 0.9, 0.9, 1),
      report_row(&s, "r1", "retrain", 0, 1, "", "[0]", 0.0, 0.9, 0.8, 0.5, 0.4),
      report_row(&s, "o2", "original", 0, 2, "", "[0]", 0.9, 0.9, 0.9, 0.9, 1),
      report_row(&s, "r2", "retrain", 0, 2, "", "[0]", 0.1, 0.9, 0.8, 0.5, 0.4),
      report_row(&s, "a1", "ft", 0, 1, "0.5", "[0]", 0.1, 0.95, 0.85, 0.2, 0.9),
      report_row(&s, "a2", "ft", 0, 2, "0.5", "[0]", 0.2, 0.95, 0.85, 0.3, 0.8),
      report_row(&s, "b1", "ft", 1, 1, "0.5", "[0]", 0.0, 0.9, 0.8, 0.5, 0.2),
      report_row(&s, "b2", "ft", 1, 2, "0.5", "[0]", 0.0, 0.9, 0.8, 0.5, 0.3),
      report_row(&s, "c1", "ft", 0, 1, "0.5", "[1]", 0.1, 0.9, 0.8, 0.5, 0.3),
      report_row(&s, "x1", "ft", 0, 1, "0.7", "[0]", 0.1, 0.9, 0.8, 0.5, 0.3),
      report_row(&s, "y1", "ft", 0, 1, "0.9", "[0]", 0.1, 0.9, 0.8, 0.5, 0.3),
  };
  enum { N = sizeof rows / sizeof *rows };
  const int orig[N] = {O1, O1, O2, O2, O1, O2, O1, mix > 1 ? O2X : O2, O1, O9, 0};
  const int rt[N] = {R1, R1, R2, R2, R1, R2, mix ? R1X : R1, R2, R3, O9, 0};
  for (int i = 0; i < N; i++) {
    if (orig[i]) snprintf(rows[i].original_fingerprint, RESULTS_FINGERPRINT_LEN, "%016x", orig[i]);
    if (rt[i]) snprintf(rows[i].retrain_fingerprint, RESULTS_FINGERPRINT_LEN, "%016x", rt[i]);
  }
  strcpy(rows[9].status, "failed: out of memory");
  Err e = {0};
  CHECK(results_write(path, &s, &META, rows, N, &e) == 0);
}

// Report and claims refuse a file whose rows of one seed and reference setting were measured
// against different models, naming the setting, the fingerprints and their runs; different
// models per seed or per forget set are what a sweep makes and pass.
static void test_mixed_models(const char *dir) {
  char path[512];
  join(path, dir, "models.h5");
  FILE *sink = fopen("/dev/null", "w");
  Err e = {0};
  int n_failed = 0;
  ResultsTable t;
  for (int mix = 0; mix < 3; mix++) {
    models_file(path, mix);
    CHECK(results_read(path, &t, &e) == 0);
    int rc = results_report(&t, REPORT_MARKDOWN, sink, &e);
    int rc_claims = results_claims(&t, REPORT_CSV, sink, &n_failed, &e);
    results_table_free(&t);
    if (mix == 0) {
      CHECK(rc == 0 && rc_claims == 0);
      continue;
    }
    CHECK(rc == ERR_CONFIG && rc_claims == ERR_CONFIG);
    char r1[17], r1x[17];
    snprintf(r1, sizeof r1, "%016x", R1), snprintf(r1x, sizeof r1x, "%016x", R1X);
    CHECK(strstr(e.msg, "seed 1, forget.classes=[0]") && strstr(e.msg, "2 different retrained"));
    CHECK(strstr(e.msg, r1) && strstr(e.msg, r1x) && strstr(e.msg, "b1") && strstr(e.msg, "a1"));
    CHECK(!strstr(e.msg, "x1") && !strstr(e.msg, "y1") && !strstr(e.msg, "c1"));
    CHECK(mix == 1 ? !strstr(e.msg, "more setting") : !!strstr(e.msg, "(1 more setting(s)"));
    if (!rc) fprintf(stderr, "  mix %d: %s\n", mix, e.msg);
  }
  // The original of seed 2's runs only: the message says original.
  models_file(path, 2);
  CHECK(results_read(path, &t, &e) == 0);
  for (int i = 0; i < t.n_rows; i++)
    if (!strcmp(t.rows[i].run_id, "b1")) snprintf(t.rows[i].retrain_fingerprint, 17, "%016x", R1);
  CHECK(results_report(&t, REPORT_CSV, sink, &e) == ERR_CONFIG);
  char o2x[17];
  snprintf(o2x, sizeof o2x, "%016x", O2X);
  CHECK(strstr(e.msg, "seed 2") && strstr(e.msg, "different original") && strstr(e.msg, o2x));
  results_table_free(&t);
  fclose(sink);
}

// ---------------------------------------------------------------- modes

static int write_sample(const char *path) {
  ResultsSchema s = make_schema("a1b2c3d4e5f60718");
  Err e = {0};
  ResultsFile *f = NULL;
  unlink(path);
  if (results_open_or_create(path, &s, &META, &f, &e)) {
    fprintf(stderr, "%s\n", e.msg);
    return 1;
  }
  ResultRow rows[8];
  for (int i = 0; i < 8; i++) rows[i] = make_row(&s, "run", i);
  strcpy(rows[5].status, "failed: loss is NaN");
  int rc = results_append(f, rows, 8, &e);
  results_close(f);
  if (rc) fprintf(stderr, "%s\n", e.msg);
  return rc ? 1 : 0;
}

static int run(const char *cmd) {
  char full[2048];
  snprintf(full, sizeof full, "%s >/dev/null 2>&1", cmd);
  int status = system(full);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_cli(const char *ecore, const char *dir) {
  char cmd[2048], a[512], b[512], out[512], other[512], empty[512], txt[512], plots[512];
  join(a, dir, "a.h5"), join(b, dir, "b.h5"), join(out, dir, "out.h5");
  join(other, dir, "other.h5"), join(empty, dir, "empty.h5"), join(txt, dir, "notes.txt");
  join(plots, dir, "plots");
  ResultsSchema s = make_schema("c11c11c11c11c11c"), s2 = make_schema("0ther0ther0ther0");
  ResultRow rows[6];
  for (int i = 0; i < 6; i++) rows[i] = make_row(&s, "c", i);
  Err e = {0};
  CHECK(results_write(a, &s, &META, rows, 3, &e) == 0);
  CHECK(results_write(b, &s, &META, rows + 3, 3, &e) == 0);
  CHECK(results_write(other, &s2, &META, rows, 1, &e) == 0);
  CHECK(results_write(empty, &s, &META, NULL, 0, &e) == 0);
  FILE *t = fopen(txt, "w");
  fputs("hello\n", t);
  fclose(t);

#define EXPECT(code, ...) EXPECT_EXIT(run, code, __VA_ARGS__)
  EXPECT(0, "'%s' merge --help", ecore);
  EXPECT(0, "'%s' report --help", ecore);
  EXPECT(2, "'%s' merge", ecore);
  EXPECT(2, "'%s' merge '%s'", ecore, out);
  EXPECT(2, "'%s' merge --force '%s' '%s'", ecore, out, a);
  EXPECT(2, "'%s' merge '%s' '%s' '%s'", ecore, out, a, other);  // another sweep
  CHECK(!exists(out));
  EXPECT(2, "'%s' merge '%s' '%s' '%s'", ecore, a, a, b);  // output is an input
  EXPECT(0, "'%s' merge '%s' '%s' '%s'", ecore, out, a, b);
  CHECK(exists(out));
  EXPECT(2, "'%s' report", ecore);
  EXPECT(2, "'%s' report '%s' --format xml", ecore, out);
  EXPECT(2, "'%s' report '%s' --plots", ecore, out);
  EXPECT(2, "'%s' report '%s'", ecore, txt);
  EXPECT(2, "'%s' report '%s/nope.h5'", ecore, dir);
  EXPECT(1, "'%s' report '%s'", ecore, empty);
  EXPECT(0, "'%s' report '%s'", ecore, out);
  EXPECT(0, "'%s' report '%s' --format csv", ecore, out);
  EXPECT(0, "'%s' report '%s' --format md --plots '%s'", ecore, out, plots);
  char svg[600];
  snprintf(svg, sizeof svg, "%s/cka_retrain.svg", plots);
  CHECK(exists(svg));
  char mixed[512], fine[512];  // rows of one reference setting against different models
  join(mixed, dir, "mixed.h5"), join(fine, dir, "fine.h5");
  models_file(mixed, 1), models_file(fine, 0);
  EXPECT(0, "'%s' report '%s'", ecore, fine);
  EXPECT(0, "'%s' report '%s' --claims", ecore, fine);
  EXPECT(2, "'%s' report '%s'", ecore, mixed);
  EXPECT(2, "'%s' report '%s' --claims --format csv", ecore, mixed);
  char mixed_plots[600];
  snprintf(mixed_plots, sizeof mixed_plots, "%s/mixed_plots", dir);
  EXPECT(2, "'%s' report '%s' --plots '%s'", ecore, mixed, mixed_plots);
  CHECK(!exists(mixed_plots));
#undef EXPECT
}

int main(int argc, char **argv) {
  if (argc == 3 && !strcmp(argv[1], "--write-sample")) return write_sample(argv[2]);
  char dir[] = "/tmp/ecore_test_results_XXXXXX";
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 1;
  }
  if (argc == 3 && !strcmp(argv[1], "--cli")) {
    test_cli(argv[2], dir);
  } else {
    test_create_append_reopen(dir);
    test_trace_equal();
    test_resume(dir);
    test_file_without_trace(dir);
    test_bad_trace(dir);
    test_wrong_files(dir);
    test_merge(dir);
    test_merge_refusals(dir);
    test_sigkill(dir);
    test_concurrent_writers(dir);
    test_report(dir);
    test_rows_equal_provenance();
    test_file_without_provenance(dir);
    test_merge_provenance(dir);
    test_mixed_models(dir);
    test_reference_axes(dir);
    test_svg(dir);
    test_scale();
  }
  int rc = test_finish(argv[0]);
  if (rc == 0) {  // keep the files of a failed run for a look
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
  } else {
    fprintf(stderr, "files kept in %s\n", dir);
  }
  return rc;
}
