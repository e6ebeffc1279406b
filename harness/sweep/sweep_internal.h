// sweep_internal.h: the state of a sweep shared by sweep.c (setup, progress, results) and
// sweep_items.c (what each work item does). Not an interface outside harness/.
#pragma once

#include <pthread.h>

#include "config.h"
#include "pipeline.h"
#include "plan.h"
#include "results.h"
#include "runspec.h"
#include "status.h"
#include "sweep.h"

typedef enum { ITEM_ORIGINAL, ITEM_EC_MODULES, ITEM_RETRAIN, ITEM_ORIGINAL_ROW, ITEM_RUN } ItemKind;

// One work item as the estimate of the time left sees it (status.c).
typedef struct {
  int kind;       // index into SweepStatus.kinds
  int epochs;     // its training epochs (0: evaluation only)
  double wall_s;  // measured, NaN if not
  int row;        // its latest row in the results table it was read from, -1: none
} StatusItem;

typedef struct {
  ItemKind kind;
  int index;  // plan->jobs index (shared jobs and original rows: the retrain job) or plan->runs
  int n_deps;
  int deps[3];
  char label[96];  // for progress lines
} Item;

enum { SWEEP_MAX_DATA = 4 };

typedef struct {
  DataSpec spec;
  Dataset d;
} DataSlot;

typedef struct {
  const SweepArgs *args;
  int world_rank, world_size;
  const ConfigFile *cf;
  Plan *plan;
  Item *items;
  int n_items;
  const char *out_path, *cache_dir;
  ResultsSchema schema;
  ResultsFile *results;  // world rank 0
  pthread_mutex_t io_lock;
  DataSlot data[SWEEP_MAX_DATA];  // data sets loaded by this process
  int n_data;
  double t0;
  int n_ok, n_failed;
  double setup_s, write_s;  // world rank 0: planning and setup; appending rows
  // World rank 0, progress lines: the estimate of the time left (status.c), its items measured
  // as they finish. eta_items NULL: no estimate (--quiet, or it could not be set up).
  SweepStatus eta;
  StatusItem *eta_items;
  bool *eta_done;  // [n_items] finished, before this sweep or in it
  // The trace of the item this process runs (group leaders; only unlearning runs add entries),
  // emptied as each item starts: its row points here until the scheduler has passed the row
  // on, before the next item starts.
  ResultTrace *trace;
  int n_trace, trace_cap;
} Sweep;

// The sweep's work items (s->items, s->n_items) from s->plan and the shard in s->args: runs i
// with i % N == I, the retrain/original rows of retrain jobs j with j % N == I, and the shared
// jobs these need. Order: originals, EC modules, retrains, original rows, runs, so that what
// others wait for is handed out first.
int sweep_build_items(Sweep *s, Err *e);
// Which items are done [n_items] (malloc'd; NULL: out of memory): shared models in the cache
// (or not needed: every item using them is done), rows recorded ok in s->results. What a
// resume runs is the rest; `ecore status` counts the same way.
bool *sweep_items_done(const Sweep *s);
// <cache_dir>/<kind>-<id>.<ext>
void sweep_cache_path(const Sweep *s, const char *kind, uint64_t id, const char *ext, char *out,
                      size_t size);
int sweep_file_exists(const char *path);
// The wall seconds a shared job without a row of its own (original training, EC module
// pretraining) took, kept beside its checkpoint in <cache_dir>/<kind>-<id>.wall_s; NaN when not
// recorded (not run yet, run by an older ecore, or a training resumed from a partial
// checkpoint, whose last session saw only part of it).
double sweep_job_wall(const Sweep *s, const char *kind, uint64_t id);
// Fills the row's id, method, seed and axis values for an item that has a row; false if the
// item has none (shared jobs).
bool sweep_item_row(const Sweep *s, int item, ResultRow *row);
// SchedRunFn: runs item on the group.
int sweep_run_item(void *ctx, int item, MPI_Comm g, ResultRow *row, bool *has_row);

// The estimate of the time left (status.c; the rule: status.h), shared by `ecore status` and
// the sweep's progress lines. status_items: st's kinds (st->kinds, allocated: free with
// sweep_status_free) and each item's kind, training epochs and measured wall time (*items
// [n_items], malloc'd) from t, the results file's table, and the cache.
int status_items(SweepStatus *st, const Sweep *s, const ResultsTable *t, StatusItem **items,
                 Err *e);
// An item finished: its measured wall time from its row (NULL: none) or, for a shared job, from
// the cache.
void status_item_finished(const Sweep *s, StatusItem *items, int item, const ResultRow *row);
// Per kind: n_measured, mean_s, left_s, basis; then work_s, n_left, n_borrowed, n_unestimated
// and eta_s (over st->groups) for the items not done.
void status_estimate(SweepStatus *st, const StatusItem *items, int n, const bool *done);
