// run.h: the machinery every unlearning method shares (internal to jobs/): data streams, the
// assembly of a step's local batch [forget rows; retain rows], one training step with the base
// method's loss plus EC's, and an epoch of a phase. unlearn.h describes the semantics, method.h
// what a method brings (its descriptor, called from here and unlearn.c at fixed points).
//
// A step (run.c): assemble the rows → the method's step hook (targets, teacher logits) → θ_o's
// embeddings (EC push_original) → forward → the phase's loss + EC's losses into dlogits /
// dpoints → backward → all-reduce → the method's grad hook → SGD step (masked by r->mask) and
// EC's modules' step. A run (unlearn.c): init hook → EC → before hook → per epoch: epoch hook,
// then each active phase's epoch.
#pragma once

#include "ec.h"
#include "gather.h"
#include "method.h"
#include "train.h"
#include "unlearn.h"

// Sub-purposes of RNG_METHOD streams.
enum {
  TAG_PHASE = 1,  // + phase index: the driving set's order
  TAG_CYCLE_FORGET = 16,
  TAG_CYCLE_RETAIN = 17,
  TAG_RANDOM_LABELS = 18,
  TAG_PROBE = 19,
  TAG_PRETRAIN = 20,
  TAG_BAD_TEACHER = 21,    // bad_teacher's incompetent teacher
  TAG_RETAIN_SUBSET = 22,  // the retain subset of bad_teacher and unsir
  TAG_NOISE = 23,          // unsir's initial noise
  TAG_SHADOW = 24,         // be's shadow neuron
};
// A seed for one purpose of a run: rng_hash(rng_hash(seed, RNG_METHOD), tag).
uint64_t run_seed(uint64_t seed, uint64_t tag);
// A model of src's spec with its own batch capacity and communicator, holding src's parameters
// and BN statistics (a working copy, or a frozen θ_o that forwards can write activations into).
int clone_model_for(Model *dst, const Model *src, int capacity, MPI_Comm comm, Err *e);

// An endless stream over a subset: the concatenation of seeded permutations. Every rank walks
// the same global sequence and takes its share of each request.
typedef struct {
  const int32_t *subset;
  int64_t n;
  uint64_t seed;
  int32_t *order;         // [n], the current permutation
  int64_t cycle, cursor;  // which permutation, position in it
  int32_t *gidx;          // [max] scratch: the request's global indices
  int64_t *gpos;          // [max] and positions (augmentation streams)
} Cycle;

int cycle_init(Cycle *c, const int32_t *subset, int64_t n, uint64_t seed, int max, Err *e);
void cycle_free(Cycle *c);
// The next `count` images of the stream, this rank's share of them into x, y and their indices
// in d->train into idx; returns how many.
int cycle_take(Cycle *c, int count, int rank, int size, const Dataset *d, float *x, int32_t *y,
               int32_t *idx);

// A phase of the run's method, resolved for this run's spec.
typedef struct {
  const MethodPhase *def;  // its loss, EC parts and epochs
  const char *name;        // progress phase name
  Drive drive;
  int batch;        // global batch of the driving set
  int extra;        // rows per step from the other set (cycled)
  int index;        // order stream: TAG_PHASE + index
  double lr_scale;  // its lr relative to the run's schedule
} Phase;

struct Run {
  const UnlearnMethodDef *def;  // the method
  void *ms;                     // the method's own state (its init hook's), or NULL
  Model m;                      // the working backbone (θ_u), capacity cap
  Model orig;                   // θ_o (eval), when needed
  int has_orig;
  const Dataset *d;
  const ForgetSplit *fs;
  const UnlearnSpec *spec;
  EcState ec;
  int ec_on;
  Sgd opt;
  const float *mask;  // the backbone's update mask [n_param_floats], or NULL: set by a method's
                      // hook (SalUn's), owned by its state
  MPI_Comm comm;
  int rank, size;
  uint64_t seed;
  float lr;  // base lr of the run's schedule
  int epochs;
  int epoch;           // the current one (0-based)
  int phase;           // the index of the phase running
  float step_lr;       // the lr of the step running (schedule and phase scale applied)
  uint8_t *is_forget;  // [n_train]
  int32_t *union_idx;  // D_f ∪ D_r, for DRIVE_UNION: [n_union] (a method's init hook may
                       // reorder the retain part and shorten it to a subset: retain_subset);
                       // DRIVE_RETAIN walks its retain part
  int64_t n_union;
  Cycle forget_cycle, retain_cycle;
  RowSplit rs;
  // step buffers: [cap] local rows, [gcap] global rows
  int cap, gcap;
  float *x;                          // [cap, c, h, w]
  int32_t *y, *target;               // true labels, base-loss targets (y unless a hook sets them)
  int32_t *idx;                      // [cap] each row's index in d->train
  float *probs, *dlogits;            // [cap, K]
  float *dpoints[MODEL_MAX_POINTS];  // [cap, h, w, c] per point
  int64_t steps;
  double last_loss;
  const UnlearnProgress *progress;
};

// One epoch (`epoch` of r->epochs) of phase ph; *ep = what it did (loss, forget accuracy, EC's
// parts and diagnostics). Collective.
int run_phase_epoch(Run *r, const Phase *ph, int epoch, UnlearnEpoch *ep, Err *e);
