// scheduler.h: hands work items (shared jobs and runs) to groups of ranks as they free up.
//
// The world is split into groups of ranks_per_run ranks; each group runs one item at a time,
// data-parallel over its own communicator. Items may depend on others (a run on its original
// model, retrained model and EC modules); an item is handed out only when its dependencies
// are done, and fails without running when one of them failed.
//
// Dispatch is dynamic: a group's first rank asks world rank 0 for the next item whenever it is
// free, so fast groups take more items than slow ones and no rank idles while work is left.
// World rank 0 answers from a coordinator thread (MPI_THREAD_MULTIPLE), which also receives
// each finished item's result row and hands it to a callback there (the results file has one
// writer). With one group there is nothing to coordinate: that group runs everything in order.
// Without MPI_THREAD_MULTIPLE, rank 0's group coordinates and does not compute.
#pragma once

#include <mpi.h>
#include <pthread.h>
#include <stdbool.h>

#include "err.h"
#include "results.h"

typedef struct {
  int n_deps;
  const int *deps;  // indices of items that must be done first
} SchedItem;

// Runs item `item` on the calling group (every rank of `group` calls it with the same item).
// On the group's first rank it fills row (status "ok" or "failed: ..."); it returns 0 when the
// item succeeded, non-zero when it failed (the row says why). has_row: whether row is a result
// row to record (shared jobs without a row of their own set it to false).
typedef int (*SchedRunFn)(void *ctx, int item, MPI_Comm group, ResultRow *row, bool *has_row);
// Called on world rank 0 for each finished item, in the order they finish: records the row
// (has_row) and reports progress. done/total count items.
typedef void (*SchedDoneFn)(void *ctx, int item, int status, const ResultRow *row, bool has_row,
                            int done, int total);
// Called on world rank 0 for an item that fails because a dependency failed (never run);
// fills row's status. Returns whether the item has a row to record.
typedef bool (*SchedSkipFn)(void *ctx, int item, int failed_dep, ResultRow *row);
// Polled by rank 0's coordinator; true once the sweep should stop handing out items (a
// preemption signal). Items in flight finish.
typedef bool (*SchedStopFn)(void *ctx);

typedef struct {
  int n_items;
  const SchedItem *items;
  const bool *already_done;  // [n_items] or NULL: items to treat as done without running
  int ranks_per_run;
  SchedRunFn run;
  SchedDoneFn done;
  SchedSkipFn skip;
  SchedStopFn stop;  // may be NULL
  void *ctx;
  // Held by rank 0's coordinator thread while it calls done and skip. HDF5 is not thread-safe:
  // run must hold it too around its own HDF5 calls on rank 0 (checkpoints). May be NULL.
  pthread_mutex_t *io_lock;
} Sched;

// Where the groups' time went besides running items, summed over the groups' first ranks
// (filled on world rank 0): asking for and receiving the next item, and idling because no
// item was ready (waiting for a shared job another group is computing).
typedef struct {
  double dispatch_s, idle_s;
} SchedStats;

// Runs every item over MPI_COMM_WORLD (collective: every rank calls it). The world size must
// be a multiple of ranks_per_run. Returns 0 when every item that ran succeeded, 3 when some
// failed, 1 on an error (e), 4 when stopped early by sched->stop.
int sched_run(const Sched *sched, SchedStats *stats, Err *e);
