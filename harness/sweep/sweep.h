// sweep.h: `ecore sweep`: a config's plan run over the MPI world into one results file.
//
// The work items, in the order they are handed out:
//   original   train θ_o (per data set, model, recipe, seed) → cache/original-<id>.h5
//   ec_modules pretrain EC's auxiliary modules on θ_o     → cache/ec_modules-<id>.h5
//   retrain    train θ_rt on D_r (per original and forget set) → cache/retrain-<id>.h5, and
//              evaluate it: the row with method "retrain"
//   original row  evaluate θ_o against θ_rt for that forget set: the row with method "original"
//   run        unlearn θ_o into θ_u and evaluate it: one row per run of the plan
// A shared job whose checkpoint is in the cache is not trained again (it is loaded), so reruns,
// shards and other sweeps with the same settings share them. Rows land in the results file as
// items finish; a rerun skips the rows already there (resume).
#pragma once

#include <pthread.h>
#include <stdbool.h>

#include "err.h"

typedef struct {
  const char *config_path;
  int n_sets;
  const char *const *sets;  // --set K=V arguments
  const char *out;          // --out, or NULL: output.file
  int shard_i, shard_n;     // --shard I/N (0-based I); shard_n 0: the whole sweep
  bool quiet;
  // Set asynchronously (a preemption signal) to stop handing out runs; runs in flight finish.
  volatile int *stop_flag;
} SweepArgs;

// Runs the sweep (collective over MPI_COMM_WORLD; MPI initialised with MPI_THREAD_MULTIPLE
// where available). Prints progress and the summary on world rank 0 (stdout) and errors
// (stderr). Returns the exit code: 0 all ok, 1 runtime error, 2 config error (nothing
// written), 3 some runs failed, 4 stopped early by the stop flag (rerun to resume).
int sweep_main(const SweepArgs *a);
