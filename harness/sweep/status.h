// status.h: `ecore status`: how far a sweep's results file has got, what a resume would run,
// and an estimate of the time it would take.
//
// The sweep's work items come from the same planning as `ecore sweep` (plan_expand, then the
// sweep's items and its rule for what is done: sweep_build_items, sweep_items_done), so the
// counts are those of a resume from here: shared models count as done when cached (in the
// config's output.cache_dir, as the sweep sees it from the current directory) or no longer
// needed. The data set need not be reachable (the plan does not look for its files). The file
// is read once and not held open: a sweep may be appending to it.
//
// Estimate: per kind of item, the mean measured wall time (wall_s of the kind's latest ok rows;
// for the shared jobs that have no row, original training and EC module pretraining, the
// time the sweep keeps beside their checkpoint: sweep_job_wall). A kind with nothing measured
// borrows (see `basis`): an unlearning run its epochs × the seconds per epoch of the measured
// runs; the original's training the retrain rows' mean (the same recipe, on D_r, with an
// evaluation) and retraining the original's; EC pretraining its epochs × the original's
// training seconds per epoch (an upper bound: the backbone only runs forward); the original's
// evaluation rows nothing. The sum over the items a resume runs, divided by the parallel
// groups of ranks (the MPI ranks of the process that created the file / its ranks per run, from
// the file's compute attribute, else sweep.ranks_per_run), is the ETA: it assumes the groups
// stay busy (items waiting for shared models make it longer).
//
// The same estimate gives the ETA of the sweep's own progress lines (sweep.c), from the same
// functions (sweep_internal.h: status_items, status_item_finished, status_estimate), the items
// finished in the sweep measured as they finish.
#pragma once

#include <stdbool.h>

#include "err.h"
#include "results.h"

typedef struct {
  char name[80];           // "original (train)", "retrain", "ft", "ft+EC", "none+EC", ...
  bool has_rows;           // its items record rows (only rows can say a failure's reason)
  int done, failed, todo;  // items: done (recorded ok; shared models cached or no longer
                           // needed), latest row failed, not run yet
  int n_measured;          // items with a measured wall time
  double mean_s;           // their mean wall seconds (NaN: none)
  double left_s;           // estimated seconds of its failed and to-do items (NaN: no basis)
  char basis[200];         // how left_s was estimated
} StatusKind;

typedef struct {
  char run_id[RESULTS_RUN_ID_LEN];
  char kind[80];
  int seed;
  char status[RESULTS_STATUS_LEN];  // "failed: reason"
} StatusFailure;

typedef struct {
  char sweep_id[RESULTS_SWEEP_ID_LEN];  // the file's
  int n_new;                            // runs CONFIG adds to the file's configs
  char config_from[300];                // "the file's /config/expanded" (or given), or CONFIG
  char shard[32];                       // the file's shard "I/N", "" for a whole or merged file
  char cache_dir[300];                  // output.cache_dir, where shared models are looked for
  bool cache_found;                     // it exists (else shared models count as to do)
  int n_runs;                           // unlearning runs in the plan
  int n_kinds;
  StatusKind *kinds;  // shared kinds first, then methods in the plan's order
  int n_failures;
  StatusFailure *failures;
  int done, failed, todo;                 // all items
  int world_size, ranks_per_run, groups;  // groups 0: not known (the ETA is then the serial sum)
  double work_s;                          // Σ left_s over the kinds with a basis
  int n_left;                             // items a resume runs (failed and to do)
  int n_borrowed;     // of these, estimated from other kinds (theirs has nothing measured)
  int n_unestimated;  // of these, without a basis (not in work_s)
  double eta_s;       // work_s / groups
} SweepStatus;

// Fills st for the results file `file`, with the sweep of config_path (NULL: the config stored
// in the file, as expanded, else as given: the one whose plan is the file's sweep;
// plan_load_stored, STORED_IDS). ERR_CONFIG: not
// a results file, a config error, or a config of another sweep (one of the file's runs is not among
// its runs).
int sweep_status(SweepStatus *st, const char *file, const char *config_path, Err *e);
void sweep_status_free(SweepStatus *st);
