// run.h: the machinery every unlearning method shares (internal to jobs/): data streams, the
// assembly of a step's local batch [forget rows; retain rows], one training step with the base
// method's loss plus EC's, and an epoch of a phase. unlearn.h describes the semantics.
#pragma once

#include "ec.h"
#include "gather.h"
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
// The next `count` images of the stream, this rank's share of them into x, y; returns how many.
int cycle_take(Cycle *c, int count, int rank, int size, const Dataset *d, float *x, int32_t *y);

typedef enum { DRIVE_FORGET, DRIVE_RETAIN, DRIVE_UNION } Drive;
typedef enum {
  BASE_NONE,          // EC alone
  BASE_CE_RETAIN,     // ft, l1sparse: CE on retain rows
  BASE_GA,            // −CE on forget rows
  BASE_NEGGRAD_PLUS,  // α CE(retain) − (1−α) CE(forget)
  BASE_CE_TARGETS,    // rl, salun: CE on every row, forget rows with random labels
  BASE_BS,            // CE on forget rows to the FGSM labels
  BASE_CU,            // λ_cu L_cu at the last features + λ_ce CE(retain)
  BASE_SCRUB_MAX,     // −KL(teacher‖student) on forget rows
  BASE_SCRUB_MIN,     // γ CE + α KL on retain rows
} BaseLoss;

typedef struct {
  const char *name;  // progress phase name
  Drive drive;
  BaseLoss loss;
  int batch;         // global batch of the driving set
  int extra;         // rows per step from the other set (cycled)
  int ec_cu, ec_ce;  // which EC parts join this phase
  int index;         // order stream: TAG_PHASE + index
} Phase;

typedef struct {
  Model m;     // the working backbone (θ_u), capacity cap
  Model orig;  // θ_o (eval), when needed
  int has_orig;
  const Dataset *d;
  const ForgetSplit *fs;
  const UnlearnSpec *spec;
  EcState ec;
  int ec_on;
  Sgd opt;
  float *mask;  // SalUn's saliency mask over the backbone's parameters, or NULL
  MPI_Comm comm;
  int rank, size;
  uint64_t seed;
  float lr;  // base lr of the run's schedule
  int epochs;
  uint8_t *is_forget;  // [n_train]
  int32_t *union_idx;  // D_f ∪ D_r, for DRIVE_UNION
  Cycle forget_cycle, retain_cycle;
  RowSplit rs;
  // step buffers: [cap] local rows, [gcap] global rows
  int cap, gcap;
  float *x;                                    // [cap, c, h, w]
  int32_t *y, *target;                         // true labels, base-loss targets
  float *probs, *dlogits, *tlogits;            // [cap, K]
  float *dpoints[MODEL_MAX_POINTS];            // [cap, h, w, c] per point
  float *dinput, *xadv;                        // bs: [cap, c, h, w]
  float *cz, *cnorm, *chs, *cdz, *czg, *cdzg;  // cu base: last-point embeddings
  int32_t *cyg;
  float l1_alpha;  // l1sparse: this epoch's α
  int64_t steps;
  double last_loss;
  const UnlearnProgress *progress;
} Run;

// One epoch (`epoch` of r->epochs) of phase ph; *ep = what it did (loss, forget accuracy, EC's
// parts and diagnostics). Collective.
int run_phase_epoch(Run *r, const Phase *ph, int epoch, UnlearnEpoch *ep, Err *e);

// m_losses.c: the base method's loss on the step's logits (and last features for cu): adds into
// r->dlogits / r->dpoints and returns the global loss.
int base_loss(Run *r, const Phase *ph, double *loss, Err *e);
// m_bs.c: the FGSM labels of the step's forget rows into r->target[0, nf).
void bs_targets(Run *r);
// m_salun.c: SalUn's saliency mask at θ_o (r->m before any step) into r->mask.
int salun_mask(Run *r, Err *e);
