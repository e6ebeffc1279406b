// export.h: a results file as a table of one line per run (`ecore export`): CSV or JSON lines.
//
// Lines: the latest row of each run_id (results_latest_rows), sorted by run_id. Columns, in
// this order:
//   - the fields of /runs, as results_row_fields lists them (run_id, method, ec, seed, status,
//     the grid axes, ...), every field the file has, new ones included;
//   - right after the axes, the run's other settings: every config key that applies to the run
//     and is part of run ids (not KF_NOID: paths, performance knobs, sweep and output), named by
//     its dotted key, with its resolved value (the method's usual lr, data.augment auto, ... as
//     the run used them). An original or retrained model's row has the keys that determine it
//     (those of its axes: data, model, train, forget). A key that applies to no run is no
//     column; where it does not apply to a run, the cell is empty;
//   - after the scalar metrics, the per-point metrics as "cka_original.layer1", ...
// `method` stands for unlearn.method and `ec` for ec.enabled, which are not repeated (not even
// as grid axes): method is the unlearning method's name, or "original" / "retrain" for the
// models' rows; ec is 1 when the run used EC.
//
// Types: numbers as numbers (the shortest decimal that reads back as the same double), bools
// true / false, lists as their YAML text ("[3, 8]"), text as it is. A grid axis and a setting
// take its config key's type. NaN (not computed), and a value that does not apply: an empty CSV
// cell, null in JSON lines. CSV: RFC 4180 (a field with a comma, quote or line break is quoted,
// quotes doubled), a header line. JSON lines: one object per run, keys in column order.
//
// Settings are recomputed, not stored: the file's /config/expanded is loaded and expanded into
// its runs (plan_load_stored, STORED_SETTINGS: without looking for the data) and each row is found
// by its run id among the runs and the original and retrained models. The ids hash the settings, so
// a row that is found has exactly these settings; its axis values are checked against them too.
// When the stored config no longer loads, or expands to another sweep (an ecore whose keys or
// defaults changed since the file was written), the rows are exported without their other
// settings (axes as stored), and ExportInfo says how many and why.
#pragma once

#include <stdio.h>

#include "config.h"
#include "err.h"
#include "results.h"

typedef enum { EXPORT_CSV, EXPORT_JSONL } ExportFormat;

typedef struct {
  int n_runs;       // lines written
  int n_unmatched;  // runs exported without their settings
  char why[1024];   // why, when n_unmatched > 0
} ExportInfo;

// Writes t as export.h says to out. ERR_RUNTIME on a write error.
int export_table(const ResultsTable *t, const char *path, ExportFormat fmt, FILE *out,
                 ExportInfo *info, Err *e);
// Reads the results file at in and exports it to out_path (replaced atomically: written to
// OUT.tmp, then renamed; NULL: stdout). ERR_CONFIG when in is not a results file, or when
// out_path is the results file itself.
int export_file(const char *in, const char *out_path, ExportFormat fmt, ExportInfo *info, Err *e);
// The type a grid axis over config key `key` has in a results file (axis_types).
ResultsType export_key_type(int key);
