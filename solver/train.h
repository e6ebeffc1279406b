// train.h: data-parallel batches, the cross-entropy training step and epoch, accuracy, and a
// training from scratch with a recipe (resumable).
//
// A global batch is a slice of the epoch's seeded order; rank r of a group of P assembles its
// share (dist_share) of it. Augmentation depends on a sample's global position, not on the
// rank, so the same seed and global batch give the same training on 1, 2 or 4 ranks.
#pragma once

#include <mpi.h>
#include <stdbool.h>

#include "data.h"
#include "lists.h"
#include "model.h"
#include "optim.h"

typedef struct {
  const ImageSet *set;
  const float *mean, *std;  // normalisation [c]
  Augment aug;              // all zero: none
  const int32_t *subset;    // the samples to iterate (indices into set); NULL: all of set
  int64_t n;                // how many
  int global_batch;
  uint64_t seed;
  MPI_Comm comm;  // the rank group (MPI_COMM_NULL: alone)
  int rank, size;
  // per epoch
  int32_t *order;  // [n] this epoch's permutation
  uint64_t epoch;
  int shuffle;     // training order (and the one-sample rule below) or as given
  int64_t cursor;  // position of the next global batch in order
  // the current local batch
  float *x;      // [local capacity, c, h, w]
  int32_t *y;    // [local capacity]
  int64_t *pos;  // [local capacity] global positions (augmentation streams)
  int32_t *idx;  // [local capacity]
  int local_batch, this_global;
} Batches;

// shuffle = 0 keeps the subset's order (evaluation); 1 draws a seeded order per epoch.
int batches_init(Batches *b, const ImageSet *set, const float *mean, const float *std,
                 const Augment *aug, const int32_t *subset, int64_t n, int global_batch,
                 uint64_t seed, MPI_Comm comm, Err *e);
void batches_free(Batches *b);
// Starts epoch `epoch` (shuffled from (seed, epoch) when shuffle) at global batch `skip`
// (resuming mid-epoch).
void batches_start(Batches *b, uint64_t epoch, int shuffle, int64_t skip);
// Assembles the next local share; 0 when the epoch is done. In a shuffled (training) epoch a
// trailing global batch of one sample is dropped (BatchNorm cannot normalise one sample),
// whatever the number of ranks. A rank may get an empty share; it still takes part.
int batches_next(Batches *b);
// Global batches in one epoch.
int64_t batches_per_epoch(const Batches *b);

// Scratch for the loss of one local batch.
typedef struct {
  float *probs, *dlogits;  // [capacity, K]
  int capacity, classes;
} LossBuf;

int lossbuf_init(LossBuf *l, int capacity, int classes, Err *e);
void lossbuf_free(LossBuf *l);

// One SGD step of mean cross-entropy over a global batch of `global` samples, of which this
// rank holds (x, y, B). Gradients are summed over m->comm. Returns the global mean loss.
double train_step_ce(Model *m, Sgd *opt, float lr, const float *x, const int32_t *y, int B,
                     int global, LossBuf *l);

// Fraction of the samples of b's subset that m (eval mode) classifies correctly; over the
// whole group. Also returns the mean loss if loss != NULL.
double eval_accuracy(Model *m, Batches *b, double *loss);

// Epochs [from, to) of cross-entropy training over b's subset (shuffled per epoch), the
// learning rate from sched per step. Returns the mean loss of the last epoch.
double train_ce_epochs(Model *m, Sgd *opt, Batches *b, const LrSchedule *sched, int from, int to,
                       LossBuf *l);

// ---------------------------------------------------------------------------------------------
// Training from scratch with a recipe (train_recipe.c).

// Resumable checkpoints of one training from scratch, so that a preempted or killed job loses
// little of it (see train_recipe_run). All zero: none.
typedef struct {
  const char *path;  // the partial checkpoint (NULL: none); it must belong to this one recipe,
                     // data subset and seed (the sweep names it by the job's id)
  int every;         // epochs between saves (0: never saved; an existing file is still resumed)
  int stop_after;    // for tests and preemption drills: after this many epochs (counted from
                     // the start of training), save the checkpoint and return ERR_RUNTIME
                     // "stopped after epoch K"; 0: train to the end
  // Called with begin 1 before and 0 after every read or write of path: the caller's lock when
  // other threads of the process use HDF5, which is not thread-safe. NULL: none.
  void (*io)(void *user, int begin);
  void *io_user;
} TrainCheckpoint;

// How a model is trained from scratch: the original on D, the retrained model on D_r. The
// config's train section: its keys fill these fields (docs/config.md).
typedef struct {
  int epochs, batch_size;  // global batch
  double lr, momentum, weight_decay;
  bool nesterov;
  SchedKind schedule;  // the lr over the epochs
  IntList milestones;  // multistep: epochs at which the lr is multiplied by gamma (at most 8);
                       // empty: half and three quarters of the epochs
  int step_size;       // step: every step_size epochs; 0: a third of the epochs, rounded up
  double gamma;        // step and multistep
  int warmup_epochs;   // linear warm-up from 0 over these epochs (0: none)
  TrainCheckpoint checkpoint;  // every: train.checkpoint_every; the rest is the caller's (not
                               // part of what the recipe trains)
} TrainRecipe;

// Progress: fn(user, phase, epoch (1-based), epochs, loss) after each epoch ("train"), and once
// with phase "resume" when training continues from a partial checkpoint (epoch = the epochs
// already done, loss NaN). fn NULL: none.
typedef struct {
  void (*fn)(void *user, const char *phase, int epoch, int epochs, double loss);
  void *user;
} TrainProgress;

// The learning-rate schedule of r (base lr, epochs, step_size's and milestones' defaults).
LrSchedule train_recipe_schedule(const TrainRecipe *r);
// ERR_CONFIG unless m takes d's images (channels, height, width) and has d's classes.
int model_check_data(const Model *m, const Dataset *d, Err *e);
// Trains m from scratch (model_init(m, seed) first) on the training images subset [n] (NULL: all
// of d->train) with d's augmentation: the original model on D, the retrained one on D_r.
// With r->checkpoint.path: if the file exists, every rank can read it, and it holds a resumable
// checkpoint of this seed at an epoch boundary of this recipe (its optimiser step count fits),
// training continues after that epoch with the saved parameters, BN statistics and momentum;
// otherwise (no file, unreadable, another seed) it starts from scratch and the file is
// overwritten at the next save. Every r->checkpoint.every epochs (but not after the last) the
// group's first rank saves the model, the SGD state and the epoch there (ckpt_save with
// progress, role "partial", d's normalisation); the other ranks wait for it. The data order and
// augmentation are functions of (seed, epoch, position), so a resumed run on the same number of
// ranks ends bit-identical to the uninterrupted one (on another number, up to float rounding).
// The caller deletes the file once it has the final model.
int train_recipe_run(Model *m, const Dataset *d, const int32_t *subset, int64_t n,
                     const TrainRecipe *r, uint64_t seed, MPI_Comm comm,
                     const TrainProgress *progress, Err *e);
