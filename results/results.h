// results.h: the results file of a sweep (HDF5), its merge and its report. The whole
// interface: nothing outside results/ knows the file's layout.
//
// Layout (schema_version 1), readable with h5py alone:
//   /runs            compound [rows], chunked, maxdims unlimited, one row per finished run, in
//                    the order the runs finished. Fields in this order:
//                      run_id S128, method S64, ec int32, seed int32, status S256,
//                      one field per grid axis named by its dotted key ("ec.temperature"),
//                      S128 holding the value's canonical text,
//                      forget_acc, retain_acc, test_retain_acc, test_forget_acc,
//                      mia_efficacy, avg_gap, wall_s float64 (NaN: not computed),
//                    then the row's provenance: how it was computed and against which models
//                    (see ResultRow; "" and 0 where not recorded):
//                      ecore_version S32, git_commit S64 (of the binary that computed the row,
//                      read at build time, "-dirty" when the tree had changes), hosts S256
//                      (the host names of the ranks that computed it, "a,b"), ranks int32 (its
//                      ranks per run), blas S128 (the BLAS build), blas_kernel S64 (the kernels
//                      OpenBLAS selected, "Haswell"), blas_threads int32 (BLAS threads per
//                      rank; -1: its ranks differed; 0: not known), original_fingerprint S17,
//                      retrain_fingerprint S17 (the original and retrained models it was
//                      measured against: model_fingerprint, solver/fingerprint.c; the original
//                      row names its own model as original, the retrain row its own as
//                      retrained).
//                    Files written before the provenance existed (still schema_version 1) lack
//                    these fields: they read as "" and 0, and the next append rewrites the
//                    file with them (the old rows keep "" and 0).
//                    Strings are fixed-length, NUL-padded, UTF-8: numpy reads them as bytes
//                    ('S128'), so pandas.DataFrame(f['runs'][:]) works and .str.decode()
//                    turns them into text.
//   /cka_original, /cka_retrain, /knn_forget_acc
//                    float64 [rows x points], chunked, rows aligned with /runs; attribute
//                    `points` (strings) names the supervision points. After a writer was
//                    killed they may have one append's rows more than /runs: the first
//                    len(/runs) rows count (the next append cuts the others).
//   /trace           compound [entries], chunked, maxdims unlimited: the per-epoch training
//                    trace of the runs, one entry per (row, phase, epoch, point), each row's
//                    entries together and in the order given. Fields in this order:
//                      row int64 (the index in /runs of the row the entry belongs to: a
//                      rerun's entries never mix with those of the row it supersedes),
//                      run_id S128, phase S32, epoch int32, point S64 ("": the whole model),
//                      loss, forget_acc, cu, ce, cos_fr, spread, weight float64 (NaN: not
//                      defined there; see ResultTrace). Stored with shuffle + deflate, which
//                      h5py reads as it is. Entries with row -1 are filler (each append in
//                      place starts a chunk of its own, see append.c) and entries of rows
//                      beyond /runs are what a killed writer left: readers skip both
//                      (numpy: t[(t["row"] >= 0) & (t["row"] < len(runs))]). Files written
//                      before the trace existed have no /trace (still schema_version 1):
//                      they read as rows without entries, and the next append rewrites the
//                      file with it.
//   /config          group: scalar string datasets `given` (the config text as given) and
//                    `expanded` (the expanded, defaulted config); attribute `path`; and
//                    `added_1`, `added_2`, ...: the expanded configs of sweeps that extended
//                    the file or joined it in a merge (files from before have none).
//   /                attributes: format "ecore-results", schema_version 1, sweep_id (what
//                    the sweep's runs share, harness/plan/plan.h; in files written before,
//                    a hash of their run ids),
//                    ecore_version, git_commit, created (UTC, ISO 8601), mpi_world_size,
//                    hosts, shard ("I/N" or ""), axes (names, in column order),
//                    merged_from (input files of a merge, or ""), and reference_axes (the
//                    axes that determine the retrained reference model, in column order; a
//                    subset of axes, possibly empty), axis_types (the type of each axis's
//                    values, in column order: "bool", "int", "float" or "string"; lists
//                    are strings of their YAML text, "[3, 8]"). Attributes and /config are
//                    variable-length UTF-8 strings (h5py gives str), numbers int32. Files
//                    written before reference_axes existed (still schema_version 1) lack it:
//                    the report then takes the axes under data., model., train. and forget.
//                    Files written before axis_types existed lack it (readers then infer).
//
// Duplicates: a run that failed is rerun on resume and appends a new row with the same run_id;
// the latest row of a run_id wins (pandas: df.drop_duplicates("run_id", keep="last")). Runs
// whose status is "ok" are never rerun, so an ok row is never duplicated. Merge and report use
// the latest row of each run_id only. The trace of the latest row: the /trace entries whose
// `row` is its index in /runs (not all entries of its run_id).
//
// Durability and cost (append.c has the details): rows are appended in place, in HDF5's
// single-writer/multiple-reader (SWMR) mode, the latest file format: an append costs O(rows
// appended), not O(file). Writers take turns under an exclusive flock on PATH; readers
// (results_read) take a shared one, so they never see half an append. An append is durable
// when results_append returns (fsync). A SIGKILL at any instant leaves a file that reads with
// every acknowledged row (tested with 200 kills at random instants). The file is not held open
// between appends. h5py: open it with h5py.File(path, "r", swmr=True) while a sweep may be
// appending to it, or if its writer may have been killed during an append (HDF5 then refuses a
// plain open as "already open for write"; `h5clear -s PATH`, from hdf5-tools, or the sweep's
// next append clears that mark). A file written in an older format is rewritten once, at its
// next append. Whole files (results_write: merge, the rewrite) are written to PATH.tmp and
// renamed over PATH.
#pragma once

#include <stdbool.h>
#include <stdio.h>

#include "err.h"

enum {
  RESULTS_SCHEMA_VERSION = 1,
  RESULTS_SWEEP_ID_LEN = 64,  // bytes, including the NUL
  RESULTS_RUN_ID_LEN = 128,
  RESULTS_NAME_LEN = 64,  // method, axis and point names
  RESULTS_STATUS_LEN = 256,
  RESULTS_VALUE_LEN = 128,  // an axis value's canonical text
  RESULTS_MAX_AXES = 16,
  RESULTS_MAX_POINTS = 16,
  RESULTS_PHASE_LEN = 32,  // a trace entry's phase name
  RESULTS_VERSION_LEN = 32,
  RESULTS_COMMIT_LEN = 64,       // a commit hash, maybe with "-dirty"
  RESULTS_HOSTS_LEN = 256,       // host names, comma-separated
  RESULTS_BLAS_LEN = 128,        // the BLAS build
  RESULTS_FINGERPRINT_LEN = 17,  // 16 hex digits (MODEL_FINGERPRINT_LEN)
};

// The type of a value: an axis's, or a field's of /runs (results_row_fields).
typedef enum { RESULTS_TEXT, RESULTS_BOOL, RESULTS_INT, RESULTS_FLOAT } ResultsType;
const char *results_type_name(ResultsType t);  // "string", "bool", "int", "float"

// What must match for a resume or a merge.
typedef struct {
  char sweep_id[RESULTS_SWEEP_ID_LEN];
  int n_axes;
  char axes[RESULTS_MAX_AXES][RESULTS_NAME_LEN];  // dotted config keys, in column order
  int n_points;                                   // 1..RESULTS_MAX_POINTS
  char points[RESULTS_MAX_POINTS][RESULTS_NAME_LEN];
  // Which axes determine the retrained reference model (its original model or its forget
  // set): reference_axis[i] for axes[i]. has_reference_axes false: not known (a file written
  // before files said so, or a writer that does not say); the report then goes by the axis
  // names (results/groups.c, legacy_reference_axis).
  bool has_reference_axes;
  bool reference_axis[RESULTS_MAX_AXES];
  // The type of each axis's values (its config key's), for readers that want typed columns:
  // axis_type[i] for axes[i]. has_axis_types false: not known (a file written before files
  // said so); readers then take the axis's config key's type, or the text.
  bool has_axis_types;
  ResultsType axis_type[RESULTS_MAX_AXES];
} ResultsSchema;

// Provenance written once, when the file is created. NULL strings are stored as "".
typedef struct {
  const char *config_text;      // the config as given
  const char *config_expanded;  // the expanded, defaulted config
  // The expanded configs of the sweeps that extended the file since (results_add_config) or
  // joined it in a merge: /config/added_1, ... Runs of every one of them may be in /runs.
  const char *const *config_added;
  int n_config_added;
  const char *config_path;  // where the config came from
  const char *hosts;        // host names of the ranks, e.g. "node1,node2"
  int world_size;           // MPI world size
  const char *compute;      // how the numbers were computed: ranks per run, the BLAS, its
                            // kernel and threads (rank 0's), e.g. "2 rank(s) per run; ..."
  const char *shard;        // "I/N" for a shard's file, else NULL
  const char *merged_from;  // set by merge
  // Kept from an older file when it is rewritten (NULL: this build's, and now).
  const char *ecore_version, *git_commit, *created;
} ResultsMeta;

// One epoch of one phase of a run, at one supervision point or for the whole model.
typedef struct {
  char phase[RESULTS_PHASE_LEN];  // "ec", "rl", "scrub-max", ...
  int epoch;                      // 1-based
  char point[RESULTS_NAME_LEN];   // a supervision point name ("layer3"), or "" for the whole model
  double loss;                    // whole model: the epoch's mean total loss; NaN at a point
  double forget_acc;  // whole model: fraction of the epoch's forget rows the network classified
                      // as their true class (training mode); NaN at a point
  double cu, ce;      // at a point: the epoch's mean contrastive and retain-CE losses of EC
  double cos_fr;      // at a point: mean cosine between forget and retain embeddings
  double spread;      // at a point: 1 − ‖mean embedding‖² over the batch (0: collapsed)
  double weight;      // at a point: the layer weight w_l in force at the end of the epoch
} ResultTrace;

// One finished run. Start from results_row_init(); strings must be NUL-terminated.
typedef struct {
  char run_id[RESULTS_RUN_ID_LEN];
  char method[RESULTS_NAME_LEN];  // base method: "original", "retrain", "ft", "none", ...
  int ec;                         // 0 or 1
  int seed;
  char status[RESULTS_STATUS_LEN];                 // "ok" or "failed: reason"
  char axis[RESULTS_MAX_AXES][RESULTS_VALUE_LEN];  // value per schema axis, same order
  double forget_acc, retain_acc, test_retain_acc, test_forget_acc, mia_efficacy, avg_gap, wall_s;
  double cka_original[RESULTS_MAX_POINTS];  // per schema point
  double cka_retrain[RESULTS_MAX_POINTS];
  double knn_forget_acc[RESULTS_MAX_POINTS];
  // Provenance: how the row was computed (its numbers compare exactly only under the same
  // ones) and against which models. "" / 0: not recorded (rows of older files; rows of runs
  // that failed before the step that knows it).
  char ecore_version[RESULTS_VERSION_LEN];  // of the binary that computed it
  char git_commit[RESULTS_COMMIT_LEN];      // of that binary, "-dirty" when built from changes
  char hosts[RESULTS_HOSTS_LEN];            // the hosts of its ranks, "node1,node2"
  int ranks;                                // ranks that computed it (ranks per run)
  char blas[RESULTS_BLAS_LEN];              // the BLAS build ("OpenBLAS 0.3.21 ...")
  char blas_kernel[RESULTS_NAME_LEN];       // the kernels selected ("Haswell"; "a,b": differed)
  int blas_threads;  // BLAS threads per rank; -1: its ranks differed; 0: not known (not OpenBLAS)
  char original_fingerprint[RESULTS_FINGERPRINT_LEN];  // θ_o it was measured against
  char retrain_fingerprint[RESULTS_FINGERPRINT_LEN];   // θ_rt it was measured against
  // The run's training trace [n_trace], in the order it is to be stored. Writing: the
  // caller's memory, only read (phase and point NUL-terminated). Read back: points into the
  // ResultsTable's `traces`, freed by results_table_free.
  int n_trace;
  const ResultTrace *trace;
} ResultRow;

// Everything a file holds, as read back. Owned strings; free with results_table_free.
typedef struct {
  ResultsSchema schema;
  char *ecore_version, *git_commit, *created, *hosts, *shard, *merged_from;
  char *compute;  // "" in files written before it was recorded
  char *config_text, *config_expanded, *config_path;
  char **config_added;  // [n_config_added] (ResultsMeta.config_added)
  int n_config_added;
  int world_size;
  int n_rows;
  ResultRow *rows;  // file order
  int n_traces;
  ResultTrace *traces;  // [n_traces] every row's trace, row by row; rows[i].trace points in here
} ResultsTable;

// An open results file of a sweep. Nothing is held open on disk between calls.
typedef struct ResultsFile ResultsFile;

// ---- rows and schema
// Zeroes the row (no trace), sets status "ok" and every metric to NaN.
void results_row_init(ResultRow *row);
// Sets the value of axis `axis` (a name in s); ERR_CONFIG if unknown or too long.
int results_row_set_axis(ResultRow *row, const ResultsSchema *s, const char *axis,
                         const char *value, Err *e);
bool results_row_ok(const ResultRow *row);  // status is "ok"
// The same result: same values (NaN equals NaN) in every field but those that say how it was
// computed (wall_s, ecore_version, git_commit, hosts, ranks, blas, blas_kernel, blas_threads),
// the fingerprints of its models (where both rows name one: "" is not known) and the trace
// included (same count, then every field of every entry); the first differing field's name in
// `field` ("trace", "trace.loss", ...). A run computed twice, on other hosts or by another
// build, that gave the same numbers against the same models is one result: merge keeps it once.
bool results_rows_equal(const ResultRow *a, const ResultRow *b, const ResultsSchema *s,
                        const char **field);
// Checks names, counts and lengths; ERR_CONFIG with what is wrong.
int results_schema_check(const ResultsSchema *s, Err *e);
// Same sweep id, axes and points; the reference axes too when both schemas say which they are.
bool results_schema_equal(const ResultsSchema *a, const ResultsSchema *b);

// The scalar metrics, in column order: forget_acc ... wall_s.
enum { RESULTS_N_SCALARS = 7 };
const char *results_scalar_name(int i);
double results_row_scalar(const ResultRow *row, int i);
// The per-point metrics: cka_original, cka_retrain, knn_forget_acc.
enum { RESULTS_N_CURVES = 3 };
const char *results_curve_name(int i);
const double *results_row_curve(const ResultRow *row, int i);
const char *results_curve_title(int i);  // e.g. "linear CKA to the original model"

// Every value a row holds, in column order: the fields of /runs as the file stores them (run_id,
// method, ec, seed, status, the axes, the scalar metrics, and any field added to /runs), then
// the per-point metrics as "cka_original.layer1", ... (curve by curve, point by point). Made
// from the /runs record type itself, so that a reader going through this list (ecore export)
// shows a new field without knowing it. The trace is not a field.
enum { RESULTS_MAX_FIELDS = 64 + RESULTS_N_CURVES * RESULTS_MAX_POINTS };
typedef struct {
  char name[2 * RESULTS_NAME_LEN];
  ResultsType type;  // RESULTS_TEXT, RESULTS_INT or RESULTS_FLOAT (a row stores no bool)
  int axis;          // the axis's index in the schema, or -1
  size_t offset;     // in ResultRow
  size_t size;       // bytes: the text's capacity, or the number's size
  bool is_signed;    // an integer's
} ResultsField;
// Fills fields[*n]; ERR_RUNTIME when /runs has a field of another kind or there are more than
// RESULTS_MAX_FIELDS.
int results_row_fields(const ResultsSchema *s, ResultsField *fields, int *n, Err *e);
// A field's value in a row: the text (RESULTS_TEXT), or the number.
const char *results_field_text(const ResultRow *row, const ResultsField *f);
long long results_field_int(const ResultRow *row, const ResultsField *f);  // a signed integer
unsigned long long results_field_uint(const ResultRow *row, const ResultsField *f);  // unsigned
double results_field_float(const ResultRow *row, const ResultsField *f);

// ---- writing a sweep's file
// Creates PATH with no rows; ERR_CONFIG if it exists.
int results_create(const char *path, const ResultsSchema *s, const ResultsMeta *m, Err *e);
// Opens PATH for appending. `expect` (may be NULL) must match the file's sweep id and schema,
// else ERR_CONFIG naming both sweep ids. Missing or not a results file: ERR_CONFIG.
int results_open(const char *path, const ResultsSchema *expect, ResultsFile **out, Err *e);
// results_open if PATH exists, else results_create then open: what `ecore sweep` needs.
int results_open_or_create(const char *path, const ResultsSchema *s, const ResultsMeta *m,
                           ResultsFile **out, Err *e);
// Appends rows and their traces (one copy-and-rename for all n); durable when it returns 0.
// Writers of one file take turns (a lock held from reading the file to replacing it), so rows
// of concurrent writers all land; a row of a run the file already records as ok is dropped (an
// ok row is never appended twice, nor hidden by a later one). f's view of the finished runs is
// refreshed from the file at each append.
int results_append(ResultsFile *f, const ResultRow *rows, int n, Err *e);
// Adds `expanded`, the config of a sweep that extends the file (one that plans runs its
// configs do not), to its configs as /config/added_N, unless it holds that text already: the
// whole file is rewritten (PATH.tmp renamed over PATH) under the writers' lock, rows kept.
int results_add_config(ResultsFile *f, const char *expanded, Err *e);
// Whether run_id's latest row is "ok": such runs are skipped on resume.
bool results_is_finished(const ResultsFile *f, const char *run_id);
int results_n_finished(const ResultsFile *f);
const char *results_finished_id(const ResultsFile *f, int i);  // sorted by run_id
int results_n_rows(const ResultsFile *f);                      // every row, superseded too
const ResultsSchema *results_file_schema(const ResultsFile *f);
void results_close(ResultsFile *f);

// Writes a whole file (rows in the given order, with their traces) to PATH atomically,
// replacing it.
int results_write(const char *path, const ResultsSchema *s, const ResultsMeta *m,
                  const ResultRow *rows, int n, Err *e);

// ---- reading
// Reads the whole file, traces included (a file without /trace: no row has entries).
int results_read(const char *path, ResultsTable *t, Err *e);
void results_table_free(ResultsTable *t);
// Indices of the latest row of each run_id, sorted by run_id; *idx is malloc'd (free it).
int results_latest_rows(const ResultsTable *t, int **idx, int *n, Err *e);

// ---- merge (merge.c)
// Joins the files t (read from inputs) into OUT. The caller has checked that they hold one
// sweep (ecore merge: plan_same_stored, which compares the settings their runs share); they
// must have one schema: the same grid axes in the same order and supervision points (else
// ERR_CONFIG). A run_id in two inputs must have latest rows with the same result
// (results_rows_equal; kept once, as the first input holding it has it, or the first that
// names its models), else ERR_CONFIG naming the run, the field, both files and how each was
// computed when that differs; OUT must not be an input. OUT has the first input's sweep id and
// config, every other config an input holds as an added one (each text once), and the latest
// row of each run_id, sorted by run_id, each with its trace; it is written atomically: on
// failure OUT and the inputs are untouched.
int results_merge_tables(const char *out, const ResultsTable *t, const char *const *inputs,
                         int n_inputs, int *n_rows, Err *e);
// Reads the inputs and merges them as results_merge_tables when they have one sweep id (else
// ERR_CONFIG naming both): the shards of one `ecore sweep --shard`.
int results_merge(const char *out, const char *const *inputs, int n_inputs, int *n_rows, Err *e);

// ---- report (report.c, plot_svg.c)
typedef enum { REPORT_MARKDOWN, REPORT_CSV } ReportFormat;
// Groups the latest ok rows that differ only by seed (same method, ec and axis values) and
// writes mean ± std (sample std, n) of every metric, the gap to the retrained model and the
// avg gap; see report.c for the retrain reference. ERR_RUNTIME if the table has no rows;
// ERR_CONFIG if rows of one seed and reference setting name different models (groups.c).
int results_report(const ResultsTable *t, ReportFormat fmt, FILE *out, Err *e);
// Writes (creating DIR) DIR/cka_original.svg, DIR/cka_retrain.svg, DIR/knn_forget_acc.svg
// (the metric per supervision point, one line per group of runs that differ only by seed, mean
// ± std over the seeds) and DIR/tradeoff_test_retain_acc.svg, DIR/tradeoff_cka_original.svg
// (forget accuracy against test_retain_acc and against CKA to the original at each point, one
// marker per group); the original and retrained models as references. See plot_svg.c.
int results_plot_svg(const ResultsTable *t, const char *dir, Err *e);
