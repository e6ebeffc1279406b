// results_internal.h: what the files of results/ share. Not part of the interface: nothing
// outside results/ includes it.
#pragma once

#include <hdf5.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/stat.h>

#include "results.h"

// HDF5 before 1.10.7 cannot turn its own file locks off, and they would collide with the
// writers' flock: there, writers go without it.
#define WRITER_LOCK H5_VERSION_GE(1, 10, 7)

// ---- HDF5 helpers (results.c)
// HDF5 prints its error stack by default; library code must not print, so each entry point
// silences it and restores the caller's setting on the way out.
typedef struct {
  H5E_auto2_t fn;
  void *data;
} Quiet;
Quiet quiet_begin(void);
void quiet_end(Quiet q);
// File access for every results file: the latest file format (which in-place appends under
// SWMR need) and no HDF5 file locks (writers are kept apart by flock, see append.c).
hid_t results_fapl(void);
bool file_exists(const char *path);
// Waits for the exclusive flock on fd (EINTR retried); -1 with errno on failure.
int lock_wait(int fd);
// Opens PATH and waits for flock `op` (LOCK_SH, LOCK_EX) on it; checks that the locked file
// is still PATH (else another writer replaced it meanwhile: locks the new one). *fd holds the
// lock (close it to release), -1 on a file system without locks, where everyone goes
// unprotected as they must; *st is the locked file.
int lock_file(const char *path, int op, int *fd, struct stat *st, Err *e);
// The /runs compound type, as stored (file) or as ResultRow in memory.
hid_t runs_type(const ResultsSchema *s, bool file);
// Whether the file's /runs has every field of runs_type (false: a file from before some).
bool runs_current(hid_t f);
// The row is well formed (ids, texts terminated, ec 0/1, its trace).
int row_check(const ResultRow *r, const char *path, Err *e);
// results_read, with the traces or (what results_open needs) without. Takes a shared lock on
// the file while it reads, unless the caller is the writer holding the exclusive one (writer);
// *id (may be NULL): the file read.
int read_table(const char *path, ResultsTable *t, bool trace, bool writer, struct stat *id, Err *e);
// Appends rows to an open file: /trace by their entries and each per-point dataset by n rows,
// flushed, then /runs by n rows (the rows that count them come last: see append.c). in_place:
// the file is PATH itself, not a staged copy (see trace_append).
int append_rows_h5(hid_t f, const ResultsSchema *s, const ResultRow *rows, int n, bool in_place,
                   const char *path, Err *e);
// Fills e with "PATH: WHAT: <HDF5's innermost reason>"; call right after the failing call.
int h5fail(Err *e, const char *path, const char *what);
void h5close(hid_t id);  // any kind of id; ignores id < 0
// Adds a member to a compound type: in the file type (file) packed one after another at
// *offset (advanced), in the memory type at mem_offset.
void add_member(hid_t t, bool file, size_t *offset, const char *name, size_t mem_offset,
                hid_t file_type, hid_t mem_type);
// The same for a fixed-length string of `size` bytes: NUL-padded in the file, NUL-terminated
// in memory.
void add_str(hid_t t, bool file, size_t *offset, const char *name, size_t mem_offset, size_t size);
// Creates an empty extendable dataset [0] (rank 1) or [0 x dims[1]] (rank 2) with chunks of
// `chunk`; deflate > 0 adds shuffle and deflate at that level; fill (of fill_type; may be
// NULL) is what unwritten elements read as.
int create_dataset(hid_t f, const char *name, hid_t type, int rank, const hsize_t *dims,
                   const hsize_t *chunk, int deflate, hid_t fill_type, const void *fill, hid_t *out,
                   const char *path, Err *e);
// Extends dataset `name` by n rows and writes buf (n rows of `type`) into them.
int extend_and_write(hid_t f, const char *name, hid_t type, int n, const void *buf,
                     const char *path, Err *e);
// Rows in dataset `name` (its first dimension) in *rows; checks the second against `cols` when
// cols > 0 (rank 2), else that it has rank 1.
int dataset_rows(hid_t f, const char *name, int cols, hsize_t *rows, const char *path, Err *e);
// ERR_RUNTIME unless every member of the memory type mt is a field of the dataset d's type
// (HDF5 matches compound fields by name and would silently leave a missing one untouched).
int check_fields(hid_t d, hid_t mt, const char *name, const char *path, Err *e);

// ---- the trace (trace.c)
// The row's trace is well formed: n_trace >= 0, entries given, strings terminated.
int trace_check(const ResultRow *r, const char *path, Err *e);
// Same traces (NaN equals NaN); else the first differing field in *field.
bool trace_equal(const ResultRow *a, const ResultRow *b, const char **field);
// Creates the empty /trace of a new file.
int trace_create(hid_t f, const char *path, Err *e);
// Appends the traces of rows [n], whose indices in /runs are first_row.., to /trace (creating
// it in a file from before the trace).
// in_place: the entries start a new chunk (after filler entries, row -1, up to the chunk's
// end), so that no chunk holding earlier entries is compressed and written again.
int trace_append(hid_t f, const ResultRow *rows, int n, long long first_row, bool in_place,
                 const char *path, Err *e);
// Reads /trace into t->traces and points t->rows[i].trace at each row's entries (none when the
// file has no /trace). Checks that every entry's row exists and carries its run_id; entries
// of rows beyond /runs at the end (an append cut short by a kill) are left out.
int trace_read(hid_t f, ResultsTable *t, const char *path, Err *e);
// Cuts /trace back to the entries of rows below n_rows (what an append cut short left), to the
// end of the last kept entry's chunk; sets *cut when it cut anything.
int trace_cut(hid_t f, long long n_rows, bool *cut, const char *path, Err *e);

// ---- groups (groups.c): rows grouped for report.c and claims.c
// A group: the latest rows of the run_ids that differ only by seed (same method, ec and axis
// values).
typedef struct {
  const ResultRow *key;  // a row of the group: its method, ec and axis values
  int n_ok, n_failed;    // its latest rows by status
} Group;

typedef struct {
  const ResultsTable *t;
  const ResultsSchema *s;  // &t->schema
  const ResultRow **rows;  // [n_rows] the latest row of each run_id (ok or not), by run_id
  int n_rows, n_ok;        // n_ok: of those, the ok rows
  Group *groups;           // [n_groups] sorted: see groups_build
  int n_groups;
} Groups;

// A metric: scalar `index` (curve < 0), or point `index` of per-point curve `curve`; index -1:
// no such metric (its values are NaN).
typedef struct {
  int curve, index;
} GroupMetric;

// Mean and sample std of a metric over selected rows.
typedef struct {
  double mean, std;  // NaN when n = 0; std NaN when n < 2
  double lo, hi;     // smallest and largest value (+inf, -inf when n = 0)
  int n;             // selected rows with a value (not NaN)
  int rows;          // selected rows
} GroupStat;

// Whether axis i of s determines the retrained reference model: as the file says, else (a file
// from before it said) by the axis name.
bool groups_reference_axis(const ResultsSchema *s, int i);
// Whether axis i only restates a row's method or ec (unlearn.method, ec.enabled): tables leave
// it out.
bool groups_restated_axis(const ResultsSchema *s, int i);
// Axis values: numbers compare as numbers ("2" < "10"), anything else as text.
int groups_cmp_value(const char *a, const char *b);
// Sort rank of a method: original 0, retrain 1, then (none_first) none 2, every other method
// after.
int groups_method_rank(const char *method, bool none_first);
// Same method, ec and axis values.
bool groups_same(const ResultsSchema *s, const ResultRow *a, const ResultRow *b);
// a and b agree on every reference axis: exactly, or (loose) wherever both are set (not "").
bool groups_agree_reference(const ResultsSchema *s, const ResultRow *a, const ResultRow *b,
                            bool loose);
// Metrics by the names results_scalar_name and results_curve_name give.
GroupMetric groups_scalar(const char *name);
GroupMetric groups_curve(const char *name, int point);
double groups_value(const ResultRow *r, GroupMetric m);
// Groups the latest rows of t, sorted by method (groups_method_rank, then name), ec, then axis
// values in column order (groups_cmp_value). Free with groups_free. ERR_CONFIG (nothing to
// free) when rows of one seed and reference axis values were measured against different
// original or retrained models (their fingerprints differ): the message names the setting, the
// fingerprints and runs of each.
int groups_build(const ResultsTable *t, bool none_first, Groups *g, Err *e);
void groups_free(Groups *g);
// Metric m over the latest ok rows of key's group (method NULL), or over those of `method`
// whose reference axes agree with key's (exactly, or loosely: see groups_agree_reference); in
// row order.
GroupStat groups_stat(const Groups *g, const ResultRow *key, const char *method, bool loose,
                      GroupMetric m);

// Appends printf-style text to the string in buf [cap], truncating (groups.c).
void text_append(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

// ---- report helpers (report.c), also used by claims.c
// A CSV field: quoted (with "" for ") when it holds a comma, quote or line break.
void report_csv_text(FILE *out, const char *s);
// ",v" with v in %.9g, or "," alone for NaN.
void report_csv_num(FILE *out, double v);
