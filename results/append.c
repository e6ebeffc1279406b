// append.c: a sweep's open results file: which of its runs are finished, and appends of rows
// in place.
//
// An append costs O(rows appended), not O(file). Rows are written into PATH in place, under
// HDF5's single-writer/multiple-reader (SWMR) mode, whose writer orders its metadata writes so
// that the file on disk is consistent at every instant. An append, in this order:
//   1. lock: an exclusive flock on PATH itself (lock_file). Writers take turns, and readers
//      (results_read, which takes a shared one) never see an append half done.
//   2. open PATH for SWMR writing, clearing the "open for writing" mark a killed writer left.
//   3. repair: cut the per-point datasets and /trace back to /runs' row count. An append that
//      was cut short may have written them; never /runs, which comes last.
//   4. news: the statuses of the rows other writers appended since f last looked.
//   5. append the /trace entries and the per-point rows; flush; append the /runs rows; flush;
//      fsync; close. The append is durable (acknowledged) when it returns 0.
// Data chunks that hold acknowledged rows are never rewritten with other bytes, so a write
// torn by a kill cannot damage them: /runs and the per-point datasets are stored as they are
// (a chunk rewritten keeps its old rows' bytes), and /trace, which is compressed, gets each
// append's entries in chunks of their own (trace.c). A write torn by a kill is cut at a 4 KiB
// page boundary (the kernel checks for a fatal signal between pages), so the metadata every
// append rewrites in place, the datasets' object headers, each start on a page of their own
// (results_write creates them so); a header that straddled a page was cut in two about once in
// 3,000-4,000 kills, and its dataset failed its checksum for good.
// Readers count /runs' rows and ignore what lies beyond them (results_read), so a SIGKILL at any
// instant leaves a file that holds every acknowledged row, and nothing of a row cut short. A reader
// opens the file for SWMR reading: h5py users do the same (h5py.File(path, "r", swmr=True)) to read
// a file that is being written, or was being written when its writer was killed (else HDF5 refuses
// it as "already open for write"). A file from before in-place appends (an older HDF5 format) is
// rewritten once, under the lock, in the latest format, with its header kept.
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "results_internal.h"

struct ResultsFile {
  char *path;
  ResultsSchema schema;
  int n_rows;  // rows of the file f knows the statuses of
  int n_ok, cap_ok;
  char **ok;  // run ids whose latest row is "ok", sorted
  dev_t dev;  // the file f knows: in-place appends keep it, a rewrite replaces it
  ino_t ino;
};

static int find_ok(const ResultsFile *f, const char *id, bool *found) {
  int lo = 0, hi = f->n_ok;
  while (lo < hi) {
    int mid = (lo + hi) / 2, c = strcmp(f->ok[mid], id);
    if (c == 0) return *found = true, mid;
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  *found = false;
  return lo;
}

// Records that run_id's latest row is now `ok` or not.
static int note_status(ResultsFile *f, const char *id, bool ok, Err *e) {
  bool found;
  int at = find_ok(f, id, &found);
  if (found && !ok) {
    free(f->ok[at]);
    memmove(f->ok + at, f->ok + at + 1, sizeof *f->ok * (size_t)(f->n_ok - at - 1));
    f->n_ok--;
  } else if (!found && ok) {
    if (f->n_ok == f->cap_ok) {
      int cap = f->cap_ok ? 2 * f->cap_ok : 64;
      char **grown = realloc(f->ok, sizeof *grown * (size_t)cap);
      if (!grown) return errf(e, ERR_RUNTIME, "out of memory");
      f->ok = grown, f->cap_ok = cap;
    }
    char *copy = strdup(id);
    if (!copy) return errf(e, ERR_RUNTIME, "out of memory");
    memmove(f->ok + at + 1, f->ok + at, sizeof *f->ok * (size_t)(f->n_ok - at));
    f->ok[at] = copy;
    f->n_ok++;
  }
  return 0;
}

// Takes f's view of the finished runs from t, the whole file, which is the file st.
static int take_statuses(ResultsFile *f, const ResultsTable *t, const struct stat *st, Err *e) {
  for (int i = 0; i < f->n_ok; i++) free(f->ok[i]);
  f->n_ok = 0;
  f->n_rows = t->n_rows;
  f->dev = st->st_dev, f->ino = st->st_ino;
  int rc = 0;
  for (int i = 0; !rc && i < t->n_rows; i++)  // file order: the latest row decides
    rc = note_status(f, t->rows[i].run_id, results_row_ok(&t->rows[i]), e);
  return rc;
}

int results_open(const char *path, const ResultsSchema *expect, ResultsFile **out, Err *e) {
  *out = NULL;
  ResultsTable t;
  struct stat st;
  int rc = read_table(path, &t, false, false, &st, e);  // the statuses are all it needs
  if (rc) return rc;
  if (expect && strcmp(expect->sweep_id, t.schema.sweep_id))
    rc = errf(e, ERR_CONFIG,
              "%s: holds sweep %s, not this sweep %s (its config differs); choose another "
              "--out file",
              path, t.schema.sweep_id, expect->sweep_id);
  else if (expect && !results_schema_equal(expect, &t.schema))
    rc = errf(e, ERR_CONFIG,
              "%s: sweep %s, but its grid axes, reference axes or supervision points differ "
              "from this sweep's",
              path, t.schema.sweep_id);
  ResultsFile *f = rc ? NULL : calloc(1, sizeof *f);
  if (!rc && (!f || !(f->path = strdup(path)))) rc = errf(e, ERR_RUNTIME, "out of memory");
  if (!rc) f->schema = t.schema;
  if (!rc) rc = take_statuses(f, &t, &st, e);
  results_table_free(&t);
  if (rc)
    results_close(f);
  else
    *out = f;
  return rc;
}

int results_open_or_create(const char *path, const ResultsSchema *s, const ResultsMeta *m,
                           ResultsFile **out, Err *e) {
  if (!file_exists(path)) {
    int rc = results_create(path, s, m, e);
    if (rc) return rc;
  }
  return results_open(path, s, out, e);
}

// Whether the file must be rewritten before appends in place: written in an older HDF5 format
// (SWMR needs superblock version 3 or above), without /trace (a file from before the trace), or
// with a /runs that lacks some fields (a file from before the provenance fields): SWMR writers
// cannot create or change datasets, only extend them.
static int needs_rewrite(const char *path, bool *yes, Err *e) {
  hid_t fapl = results_fapl(), f = H5Fopen(path, H5F_ACC_RDONLY | H5F_ACC_SWMR_READ, fapl);
  H5F_info2_t info;
  htri_t trace = f < 0 ? -1 : H5Lexists(f, "trace", H5P_DEFAULT);
  int rc = (f < 0 || trace < 0 || H5Fget_info2(f, &info) < 0) ? h5fail(e, path, "cannot open") : 0;
  if (!rc) *yes = info.super.version < 3 || !trace || !runs_current(f);
  h5close(f), h5close(fapl);
  return rc;
}

// Rewrites PATH in the latest format (rows, traces, header and configs as they are), with
// `add` (may be NULL) among its added configs; nothing is written when PATH holds `add` already.
static int rewrite(const char *path, const char *add, Err *e) {
  ResultsTable t;
  int rc = read_table(path, &t, true, true, NULL, e);  // under the writer's lock
  if (rc) return rc;
  bool held = add && !strcmp(add, t.config_expanded);
  for (int i = 0; add && i < t.n_config_added; i++) held = held || !strcmp(add, t.config_added[i]);
  const char **added = malloc(sizeof *added * (size_t)(t.n_config_added + 1));
  if (!added) rc = errf(e, ERR_RUNTIME, "out of memory");
  for (int i = 0; !rc && i < t.n_config_added; i++) added[i] = t.config_added[i];
  ResultsMeta m = {.config_text = t.config_text,
                   .config_expanded = t.config_expanded,
                   .config_added = added,
                   .n_config_added = t.n_config_added + (add && !held),
                   .config_path = t.config_path,
                   .hosts = t.hosts,
                   .world_size = t.world_size,
                   .compute = t.compute,
                   .shard = t.shard,
                   .merged_from = t.merged_from,
                   .ecore_version = t.ecore_version,
                   .git_commit = t.git_commit,
                   .created = t.created};
  if (!rc && add && !held) added[t.n_config_added] = add;
  if (!rc && !held) rc = results_write(path, &t.schema, &m, t.rows, t.n_rows, e);
  free(added);
  results_table_free(&t);
  return rc;
}

// 2. Opens PATH for SWMR writing, rewriting it first when it must be (then *relock: PATH is
// another file).
static int open_writer(const char *path, hid_t *h, bool *relock, Err *e) {
  hid_t fapl = results_fapl();
  hbool_t clear = 1;  // the mark a killed writer left; our flock says no writer is alive
  H5Pset(fapl, "clear_status_flags", &clear);
  *h = H5Fopen(path, H5F_ACC_RDWR | H5F_ACC_SWMR_WRITE, fapl);  // fails on an older format
  h5close(fapl);
  *relock = false;
  if (*h < 0 || H5Lexists(*h, "trace", H5P_DEFAULT) <= 0 || !runs_current(*h)) {
    int rc = *h < 0
                 ? h5fail(e, path, "cannot open for appending")
                 : errf(e, ERR_RUNTIME, "%s: cannot append: /trace or a /runs field missing", path);
    h5close(*h), *h = -1;
    bool upgrade = false;
    Err why = {0};
    if (needs_rewrite(path, &upgrade, &why) == 0 && upgrade) {
      rc = rewrite(path, NULL, e);
      if (rc) err_context(e, "rewriting it in the format of in-place appends");
    }
    *relock = upgrade && !rc;
    return rc;
  }
  // A killed writer may have left data past the end of file its superblock records (EOA): a
  // chunk whose index entry reached the disk before the superblock did. The EOA moves up to
  // the file's real end, so that nothing is truncated (HDF5 cuts a file to its EOA when it
  // flushes) and nothing new is written over that data.
  haddr_t eoa = 0;
  hsize_t eof = 0;
  if (H5Fget_eoa(*h, &eoa) < 0 || H5Fget_filesize(*h, &eof) < 0 ||
      (eof > eoa && H5Fincrement_filesize(*h, 0) < 0))
    return h5fail(e, path, "cannot read or move the end of the file");
  return 0;
}

// 3. Cuts the per-point datasets and /trace back to n_rows rows, and flushes the cut: the
// space it frees may hold the next chunks written, which the file on disk must no longer
// point at by then.
static int repair(hid_t h, hsize_t n_rows, const ResultsSchema *s, const char *path, Err *e) {
  bool cut = false;
  for (int c = 0; c < RESULTS_N_CURVES; c++) {
    hsize_t m = 0;
    int rc = dataset_rows(h, results_curve_name(c), s->n_points, &m, path, e);
    if (rc) return rc;
    if (m == n_rows) continue;
    hid_t d = H5Dopen2(h, results_curve_name(c), H5P_DEFAULT);
    hsize_t dims[2] = {n_rows, (hsize_t)s->n_points};
    rc = (d < 0 || m < n_rows || H5Dset_extent(d, dims) < 0)
             ? errf(e, ERR_RUNTIME, "%s: /%s has %llu rows, /runs %llu", path,
                    results_curve_name(c), (unsigned long long)m, (unsigned long long)n_rows)
             : 0;
    h5close(d);
    if (rc) return rc;
    cut = true;
  }
  int rc = trace_cut(h, (long long)n_rows, &cut, path, e);
  if (!rc && cut && H5Fflush(h, H5F_SCOPE_LOCAL) < 0) rc = h5fail(e, path, "cannot flush");
  return rc;
}

// 4. Notes the statuses of rows [f->n_rows, n) that other writers appended.
static int read_news(ResultsFile *f, hid_t h, hsize_t n, Err *e) {
  typedef struct {
    char run_id[RESULTS_RUN_ID_LEN];
    char status[RESULTS_STATUS_LEN];
  } Status;
  hsize_t start = (hsize_t)f->n_rows, count = n - start;
  Status *buf = malloc(sizeof *buf * count);
  if (!buf) return errf(e, ERR_RUNTIME, "out of memory");
  hid_t mt = H5Tcreate(H5T_COMPOUND, sizeof(Status));
  size_t off = 0;
  add_str(mt, false, &off, "run_id", offsetof(Status, run_id), RESULTS_RUN_ID_LEN);
  add_str(mt, false, &off, "status", offsetof(Status, status), RESULTS_STATUS_LEN);
  hid_t d = H5Dopen2(h, "runs", H5P_DEFAULT), fs = H5Dget_space(d);
  hid_t ms = H5Screate_simple(1, &count, NULL);
  int rc = (H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, NULL, &count, NULL) < 0 ||
            H5Dread(d, mt, ms, fs, H5P_DEFAULT, buf) < 0)
               ? h5fail(e, f->path, "cannot read /runs")
               : 0;
  h5close(ms), h5close(fs), h5close(d), h5close(mt);
  for (hsize_t i = 0; !rc && i < count; i++)  // file order: the latest row decides
    rc = note_status(f, buf[i].run_id, !strcmp(buf[i].status, "ok"), e);
  if (!rc) f->n_rows = (int)n;
  free(buf);
  return rc;
}

// Steps 2 to 5 on the locked file (st: its identity); *relock when PATH was replaced by an
// upgrade and the append is to be started again.
static int append_locked(ResultsFile *f, const struct stat *st, const ResultRow *rows, int n,
                         bool *relock, Err *e) {
  hid_t h = -1;
  int rc = open_writer(f->path, &h, relock, e);
  if (rc || *relock) return rc;
  hsize_t n_now = 0;
  rc = dataset_rows(h, "runs", 0, &n_now, f->path, e);
  if (!rc) rc = repair(h, n_now, &f->schema, f->path, e);
  if (!rc && (st->st_dev != f->dev || st->st_ino != f->ino || n_now < (hsize_t)f->n_rows)) {
    ResultsTable t;  // another file than f knew: read it whole
    rc = read_table(f->path, &t, false, true, NULL, e);
    if (!rc) rc = take_statuses(f, &t, st, e);
    results_table_free(&t);
  } else if (!rc && n_now > (hsize_t)f->n_rows) {
    rc = read_news(f, h, n_now, e);
  }
  // A run already recorded ok keeps its row (an ok row is never appended twice, and a later
  // failure of the same run does not hide it).
  ResultRow *fresh = rc ? NULL : malloc(sizeof *fresh * (size_t)n);
  int m = 0;
  if (!rc && !fresh) rc = errf(e, ERR_RUNTIME, "out of memory");
  for (int i = 0; !rc && i < n; i++)
    if (!results_is_finished(f, rows[i].run_id)) fresh[m++] = rows[i];
  if (!rc && m > 0) rc = append_rows_h5(h, &f->schema, fresh, m, true, f->path, e);
  if (!rc && m > 0 && H5Fflush(h, H5F_SCOPE_LOCAL) < 0) rc = h5fail(e, f->path, "cannot flush");
  void *handle = NULL;
  if (!rc && m > 0 && H5Fget_vfd_handle(h, H5P_DEFAULT, &handle) >= 0 && handle &&
      fsync(*(int *)handle) < 0)
    rc = errf(e, ERR_RUNTIME, "%s: cannot sync: %s", f->path, strerror(errno));
  if (H5Fclose(h) < 0 && !rc) rc = h5fail(e, f->path, "cannot close");
  if (!rc) f->n_rows += m;
  for (int i = 0; !rc && i < m; i++)
    rc = note_status(f, fresh[i].run_id, results_row_ok(&fresh[i]), e);
  free(fresh);
  return rc;
}

int results_append(ResultsFile *f, const ResultRow *rows, int n, Err *e) {
  int rc = 0;
  for (int i = 0; !rc && i < n; i++) rc = row_check(&rows[i], f->path, e);
  if (rc || n == 0) return rc;
  Quiet q = quiet_begin();
  bool relock = true;
  for (int attempt = 0; !rc && relock && attempt < 3; attempt++) {
    int fd = -1;
    struct stat st;
    rc = lock_file(f->path, LOCK_EX, &fd, &st, e);
    if (!rc) rc = append_locked(f, &st, rows, n, &relock, e);
    if (fd >= 0) close(fd);  // releases the lock
  }
  quiet_end(q);
  return rc ? err_context(e, "appending %d row(s)", n) : 0;
}

int results_add_config(ResultsFile *f, const char *expanded, Err *e) {
  int fd = -1;
  struct stat st;
  Quiet q = quiet_begin();
  int rc = lock_file(f->path, LOCK_EX, &fd, &st, e);
  if (!rc) rc = rewrite(f->path, expanded, e);
  if (fd >= 0) close(fd);  // releases the lock
  quiet_end(q);
  return rc ? err_context(e, "adding this sweep's config to it") : 0;
}

bool results_is_finished(const ResultsFile *f, const char *run_id) {
  bool found;
  find_ok(f, run_id, &found);
  return found;
}
int results_n_finished(const ResultsFile *f) {
  return f->n_ok;
}
const char *results_finished_id(const ResultsFile *f, int i) {
  return f->ok[i];
}
int results_n_rows(const ResultsFile *f) {
  return f->n_rows;
}
const ResultsSchema *results_file_schema(const ResultsFile *f) {
  return &f->schema;
}

void results_close(ResultsFile *f) {
  if (!f) return;
  for (int i = 0; i < f->n_ok; i++) free(f->ok[i]);
  free(f->ok), free(f->path), free(f);
}
