// train.h: data-parallel batches, the cross-entropy training step and epoch, and accuracy.
//
// A global batch is a slice of the epoch's seeded order; rank r of a group of P assembles its
// share (dist_share) of it. Augmentation depends on a sample's global position, not on the
// rank, so the same seed and global batch give the same training on 1, 2 or 4 ranks.
#pragma once

#include <mpi.h>

#include "data.h"
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
