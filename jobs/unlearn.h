// unlearn.h: the unlearning methods (docs/methods.md), and EC alone or plugged into any of them.
// The whole public interface of jobs/unlearn*.c, jobs/run.c, jobs/methods.c, jobs/m_*.c, jobs/ec*.c
// and jobs/train_recipe.c (aux.h holds the auxiliary modules' own interface).
//
// Inside jobs/: each method is one file m_<name>.c holding its descriptor (method.h: name, usual
// settings, phases, loss, hooks, its own state); methods.c lists them by UnlearnMethod; run.c
// runs the step and the epoch every method shares; unlearn.c turns a descriptor into a run.
//
// One call, unlearn_run, turns a copy of the original model θ_o into the unlearned θ_u. It runs
// data-parallel over the communicator it is given: every step's global forget and retain batch
// is split across the ranks (dist_share), gradients are summed over the group, BatchNorm is
// synchronised, and the contrastive losses gather the embeddings of the whole global batch on
// every rank. The same seed gives the same run on 1, 2 or 4 ranks (up to float rounding).
//
// How a method walks the data (so that its documented hyper-parameters mean one thing):
// - forget-driven (ga, bs, cu, SCRUB's max passes, EC alone): an epoch is one pass over D_f in
//   global batches of B forget images; each step adds retain_per_forget·B retain images from a
//   reshuffled, endlessly cycled D_r when the method or EC needs retain images.
// - retain-driven (ft, l1sparse, neggrad+, SCRUB's min passes): an epoch is one pass over D_r
//   in batches of B; neggrad+ adds B forget images per step from a cycled D_f; with EC, ft and
//   l1sparse add max(1, B/retain_per_forget) cycled forget images per step (SCRUB's min passes
//   need none: L_cu joins the max passes).
// - union-driven (rl, salun): an epoch is one pass over D_f ∪ D_r, shuffled together, batches
//   of B; with EC, the batch's forget images are the anchors and its retain images the
//   candidates of the contrastive loss.
// B is unlearn.batch_size (UnlearnSpec.batch_size); EC alone uses EcSpec.batch_size.
// Every step is one forward of the concatenated local batch [forget rows; retain rows] in
// training mode (BatchNorm over the concatenated batch), L_total = L_base + L_EC, one backward,
// one optimiser step for the backbone (SalUn's mask applies to it alone) and one for the
// auxiliary modules (same lr, momentum and weight decay, never masked).
#pragma once

#include <mpi.h>
#include <stdbool.h>
#include <stdint.h>

#include "aux.h"
#include "data.h"
#include "err.h"
#include "lists.h"
#include "model.h"
#include "optim.h"
#include "train.h"

typedef enum {
  UNLEARN_ORIGINAL,  // no-op: θ_u = θ_o (EC ignored)
  UNLEARN_RETRAIN,   // from scratch on D_r with UnlearnSpec.retrain (EC ignored)
  UNLEARN_NONE,      // no base method: EC alone when ec.enabled, else a no-op
  UNLEARN_FT,
  UNLEARN_GA,
  UNLEARN_NEGGRAD_PLUS,
  UNLEARN_RL,
  UNLEARN_SALUN,
  UNLEARN_L1SPARSE,
  UNLEARN_SCRUB,
  UNLEARN_BS,
  UNLEARN_CU,
  UNLEARN_BAD_TEACHER,
  UNLEARN_SSD,
  UNLEARN_UNSIR,
  UNLEARN_BE,
  UNLEARN_METHOD_COUNT
} UnlearnMethod;

// "original", "retrain", "none", "ft", "ga", "neggrad+", "rl", "salun", "l1sparse", "scrub",
// "bs", "cu", "bad_teacher", "ssd", "unsir", "be" <-> enum; unlearn_method_from_name returns -1
// for an unknown name.
int unlearn_method_from_name(const char *name);
const char *unlearn_method_name(UnlearnMethod m);
// The method's usual lr and epochs (where its code gives a range, the lower end): what
// unlearn.lr 0 and unlearn.epochs 0 stand for. 0 and 0 for original, retrain and none.
void unlearn_method_usual(UnlearnMethod m, double *lr, int *epochs);

typedef enum { EC_LOSS_CU, EC_LOSS_FORGET_ONLY } EcLoss;
// How the positives P(i) of an anchor pull it (contrastive.h): all alike (the mean of the EC
// paper), or by their softmax weight at temperature τ (the nearest most).
typedef enum { EC_PULL_MEAN, EC_PULL_NEAREST } EcPull;
typedef enum {
  EC_WEIGHTS_UNIFORM,     // w_l = 1
  EC_WEIGHTS_INCREASING,  // ∝ l (1-based), scaled to mean 1
  EC_WEIGHTS_DECREASING,  // ∝ L + 1 - l, scaled to mean 1
  EC_WEIGHTS_CKA,         // ∝ current CKA(θ_u, θ_o) at the point, scaled to mean 1
  EC_WEIGHTS_LIST         // list, as given
} EcWeights;
// ec.layer_weights: a scheme, or (EC_WEIGHTS_LIST) one weight per module in AuxSpec order.
typedef struct {
  EcWeights scheme;
  FloatList list;
} LayerWeights;

// Pretraining of the auxiliary modules (θ_o frozen, eval mode) on the full training set with
// Σ_l CE(c_l(h_l), y), optionally + SupCon on z_l.
typedef struct {
  int epochs, batch_size;        // 5, 128
  double lr;                     // 0.01; cosine schedule
  float momentum, weight_decay;  // 0.9, 5e-4 (not config keys)
  bool supcon;                   // false
  float supcon_temperature;      // 0.1 (SupCon's usual; not a config key)
} EcPretrainSpec;

// The config's ec section: its keys fill these fields (docs/config.md says what each does). The
// hyper-parameters are doubles as the config gives them; the float maths converts them once.
typedef struct {
  bool enabled;                 // false
  double temperature;           // τ = 0.7
  double lambda_cu, lambda_ce;  // 3, 1
  double log_eps;               // ε inside the log of L_cu: 1e-8
  EcLoss variant;               // cu
  EcPull pull;                  // mean
  bool push_original;           // false: add θ_o's embedding of the same image as a negative
  bool freeze_bn;               // false: the backbone's BatchNorm in training mode (batch
                                // statistics of the step's forget + retain rows, running
                                // statistics updated); true: in eval mode (θ_o's running
                                // statistics, kept; γ and β still learn). With EC, for the
                                // whole step, base method's loss included.
  bool detach_retain;           // true: L_cu moves the forget embeddings only (the retain
                                // embeddings are its fixed targets)
  LayerWeights layer_weights;   // uniform
  int cka_every;                // EC_WEIGHTS_CKA: steps between CKA measurements (20)
  int cka_probe;                // forget images in the CKA probe batch (128, at most |D_f|; not
                                // a config key)
  int batch_size;               // EC alone: forget images per step (64)
  int retain_per_forget;        // retain batches per forget batch (4): forget-driven methods and
                                // EC alone add rpf·B retain images per step, ft/l1sparse add
                                // B/rpf forget images; rl/salun: unused
  int epochs;                   // EC alone: epochs over D_f (5)
  double lr, momentum, weight_decay;  // EC alone: 0.01, 0.9, 5e-4
  AuxSpec aux;  // the modules (points, summariser, projection size); must match the pretrained
                // modules given to unlearn_run (ERR_CONFIG otherwise)
  EcPretrainSpec pretrain;
} EcSpec;

// The config's unlearn section (its keys fill these fields; docs/config.md), then what the run
// adds: the retraining recipe and EC's section.
typedef struct {
  UnlearnMethod method;
  // The optimiser and schedule of the base method: SGD, constant or cosine lr per step.
  int epochs, batch_size;  // epochs over the driving set (see the top), global batch
  double lr, momentum, weight_decay;
  SchedKind schedule;  // SCHED_CONSTANT (default) or SCHED_COSINE over `epochs`
  struct {
    double alpha;  // α·CE(retain) − (1−α)·CE(forget): 0.99
  } neggrad_plus;
  struct {
    double q;  // fraction of backbone parameters in the saliency mask: 0.5
  } salun;
  struct {
    double alpha;  // initial L1 weight α_0: 5e-5; α_e = α_0·(1 − e/epochs) in epoch e
  } l1sparse;
  struct {
    double temperature;  // T = 4
    double gamma;        // weight of the retain CE in min passes: 0.99
    double alpha;        // weight of the KL in min passes: 0.001
    int max_epochs;      // the first max_epochs epochs start with a max pass: 2 (of 3)
  } scrub;
  struct {
    double eps;  // FGSM step in [0,1] pixel units: 0.1
  } bs;
  struct {
    double temperature;          // 0.7
    float lambda_cu, lambda_ce;  // 3, 1 (not config keys)
  } cu;
  struct {
    double temperature;      // T of the KL to either teacher: 1
    double retain_fraction;  // of D_r distilled from θ_o beside D_f: 0.3
  } bad_teacher;
  struct {
    double alpha;   // selection: I_f > α·I_D: 10
    double lambda;  // dampening: × min(λ·I_D/I_f, 1): 1
  } ssd;
  struct {
    double lambda;           // weight of the noise's L2 regulariser: 0.1
    int noise_steps;         // Adam steps on the noise: 40
    double noise_lr;         // their Adam lr: 0.1
    int noise_per_class;     // noise images per forget class: 256
    double retain_fraction;  // of D_r in the impair and repair phases: 0.2
    double repair_lr_scale;  // the repair phase's lr / the impair phase's: 0.5
  } unsir;
  TrainRecipe retrain;  // method retrain
  EcSpec ec;
} UnlearnSpec;

// The specs' defaults are the config schema's: harness/config/runspec.h fills them
// (unlearn_spec_defaults and the like) for callers without a config.
// Checks the spec against the model it will run on (ranges, the weight list's length, the
// modules' points): ERR_CONFIG naming the field.
int unlearn_spec_check(const UnlearnSpec *s, const Model *m, Err *e);
// Whether the run uses EC (needs pretrained modules): ec.enabled and a method that unlearns.
int unlearn_uses_ec(const UnlearnSpec *s);
// Whether the run needs θ_o itself besides the starting copy (scrub, bs, EC push_original).
int unlearn_needs_original(const UnlearnSpec *s);

// Progress lines: called on every rank after each epoch of each phase (phase names: the
// method's name, "scrub-max", "scrub-min", "salun-mask", "ec", "ec-pretrain", "train").
// What one epoch of an unlearning phase did (means over its steps; NaN where not computed).
typedef struct {
  double loss;        // mean total loss
  double forget_acc;  // fraction of the epoch's forget rows the network classified as their
                      // true class, in the training-mode forward of their step (NaN: none seen)
  int n_points;       // EC modules (0 without EC), in AuxSpec order, named point[]
  const char *point[MODEL_MAX_POINTS];
  double cu[MODEL_MAX_POINTS], ce[MODEL_MAX_POINTS];  // EC's loss parts per module
  double cos_fr[MODEL_MAX_POINTS];  // mean cosine between forget and retain embeddings
  double spread[MODEL_MAX_POINTS];  // 1 − ‖mean embedding‖² (0: the embeddings collapsed)
  double weight[MODEL_MAX_POINTS];  // the layer weight in force at the end of the epoch
} UnlearnEpoch;

typedef struct {
  void (*fn)(void *user, const char *phase, int epoch /*1-based*/, int epochs, double loss);
  void *user;
  // Optional (NULL: none): called by unlearn_run before fn after each epoch of each phase
  // (not for retrain, salun-mask or the pretraining), on every rank, with the same values.
  void (*epoch_fn)(void *user, const char *phase, int epoch, int epochs, const UnlearnEpoch *ep);
} UnlearnProgress;

// The per-epoch lines of p (NULL: none) for train_recipe_run.
static inline TrainProgress unlearn_train_progress(const UnlearnProgress *p) {
  return p ? (TrainProgress){p->fn, p->user} : (TrainProgress){0};
}

// What a run reports besides the model.
typedef struct {
  int64_t steps;                        // optimiser steps taken
  double last_loss;                     // mean total loss of the last epoch
  double ec_weights[MODEL_MAX_POINTS];  // the layer weights in force at the end
  int n_ec_weights;
} UnlearnStats;

// Unlearns: model starts as a copy of θ_o (any batch capacity, same arch) and ends as θ_u
// (parameters and BN statistics; the auxiliary modules are dropped). original is θ_o, frozen,
// used in eval mode and never written (it may be NULL unless unlearn_needs_original). pretrained:
// the modules from ec_pretrain (NULL when EC is off); they are copied, not changed. All random
// choices derive from seed (rng_derive(seed, RNG_METHOD, ...)). Every rank of comm calls this
// with the same arguments. progress and stats may be NULL. ERR_RUNTIME if the loss becomes
// non-finite ("diverged: ..."), ERR_CONFIG for a bad spec.
int unlearn_run(Model *model, const Model *original, const Dataset *d, const ForgetSplit *fs,
                const UnlearnSpec *spec, const AuxModules *pretrained, uint64_t seed, MPI_Comm comm,
                const UnlearnProgress *progress, UnlearnStats *stats, Err *e);

// Pretrains aux (created with aux_create for original's arch and initialised with aux_init) on
// the full training set with original frozen. The result is the same on any number of ranks.
int ec_pretrain(AuxModules *aux, const Model *original, const Dataset *d, const EcPretrainSpec *ps,
                uint64_t seed, MPI_Comm comm, const UnlearnProgress *progress, Err *e);
// Fraction of the test images each module's classifier gets right (θ_o features, eval mode):
// acc [aux->n_modules] (the network's own head where own_head_last).
int ec_aux_accuracy(const AuxModules *aux, const Model *original, const Dataset *d, MPI_Comm comm,
                    double *acc, Err *e);

// Saves θ_u in ecore's checkpoint format (README "Checkpoints") (role "unlearned", run_id, d's
// normalisation); no auxiliary modules.
int unlearn_save_model(const char *path, const Model *m, const Dataset *d, const char *run_id,
                       Err *e);
