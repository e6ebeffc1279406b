// method.h: an unlearning method is one descriptor (internal to jobs/). Each base method is one
// file m_<name>.c defining one const UnlearnMethodDef: its name, usual lr and epochs, the phases
// it walks the data in, the loss of a step of each phase, and the hooks it needs; its own
// buffers live in its own state struct (Run.ms), made by its init hook. methods.c lists the
// descriptors once, indexed by UnlearnMethod. The step, the epoch loop and EC are run.c's and
// unlearn.c's, the same for every method (see run.h).
//
// Adding a method: its m_<name>.c, its UnlearnMethod value and knob struct in unlearn.h, and its
// line in methods.c (and, outside jobs/, its name and knobs in the harness's schema).
#pragma once

#include "err.h"
#include "unlearn.h"

typedef struct Run Run;  // run.h

// Which set an epoch walks: one pass over D_f, D_r, or D_f ∪ D_r shuffled together.
typedef enum { DRIVE_FORGET, DRIVE_RETAIN, DRIVE_UNION } Drive;

// The rows a step adds from the other set (an endless cycle of it), for a phase batch of B and
// rpf = ec.retain_per_forget with EC, 1 without.
typedef enum {
  EXTRA_NONE,      // none (union-driven, SCRUB's min passes)
  EXTRA_B,         // B rows (neggrad+: B forget rows)
  EXTRA_RPF_B,     // rpf·B retain rows (cu, EC alone)
  EXTRA_EC_RPF_B,  // with EC rpf·B retain rows, without none (ga, bs, SCRUB's max passes)
  EXTRA_EC_B_RPF,  // with EC max(1, B/rpf) forget rows, without none (ft, l1sparse)
} Extra;

typedef struct {
  const char *name;  // progress phase name; NULL: the method's
  Drive drive;
  Extra extra;
  int ec_cu, ec_ce;  // which EC parts join this phase
  int points;        // the loss writes into r->dpoints (cu's contrastive part)
  // The base loss of a step on r->m's logits: adds its gradient into r->dlogits [n, K] (and
  // r->dpoints when points) and sets *loss to the global loss. NULL: none (EC alone).
  int (*loss)(Run *r, double *loss, Err *e);
  // Whether the phase runs in epoch (0-based); NULL: every epoch.
  int (*active)(const Run *r, int epoch);
  // The phase's lr as a multiple of the run's (unlearn.lr and its schedule); NULL: 1.
  double (*lr_scale)(const UnlearnSpec *s);
} MethodPhase;

#define METHOD_MAX_PHASES 2

typedef struct {
  const char *name;  // as in configurations and progress lines
  double usual_lr;   // the method's usual setting (where its code gives a range, the lower end)
  int usual_epochs;
  int ec_alone;        // batch, lr, epochs, momentum and weight decay come from EcSpec
  int needs_original;  // θ_o itself is used besides the starting copy (r->orig)
  int n_phases;        // 0: not an unlearning method run by phases (original, retrain)
  MethodPhase phase[METHOD_MAX_PHASES];  // in the order they run within an epoch
  // Every hook is optional (NULL: nothing to do).
  int (*check)(const UnlearnSpec *s, Err *e);  // its knobs' ranges: ERR_CONFIG naming the field
  int (*init)(Run *r, Err *e);                 // its state into r->ms (after the step buffers)
  void (*free)(Run *r);                        // frees r->ms (also after a failed init)
  int (*before)(Run *r, Err *e);               // once, before the first epoch (θ_u = θ_o)
  void (*epoch)(Run *r, int epoch);            // at the start of each epoch (0-based)
  void (*step)(Run *r);                        // after the step's rows are assembled, before
                                               // the forward: targets, teacher logits
  void (*grad)(Run *r);                        // after the gradient's all-reduce, before the
                                               // update (r->step_lr: the step's lr)
} UnlearnMethodDef;

// methods.c: the registry, indexed by UnlearnMethod (every entry set).
extern const UnlearnMethodDef *const unlearn_methods[UNLEARN_METHOD_COUNT];
// The descriptor of m, or NULL when m is out of range.
const UnlearnMethodDef *unlearn_method_def(UnlearnMethod m);

// m_common.c: loss helpers shared by the methods.
// Local Σ CE over rows [a, a+cnt) of r->m's logits to targets t [n]; adds scale·(p − onehot)
// into r->dlogits (r->probs is scratch).
double ce_rows(Run *r, int a, int cnt, const int32_t *t, float scale);
// Local Σ KL(teacher‖student) over rows [a, a+cnt) of r->m's logits, p = softmax(logits/T), the
// teacher's logits t [rows, K] indexed like the step's rows; adds its gradient in the student's
// logits times scale, scale·(p_s − p_t)/T per row, into r->dlogits (scrub, bad_teacher).
double kl_rows(Run *r, int a, int cnt, const float *t, float T, float scale);
// CE(retain) over the step's retain rows, r->y (ft, l1sparse): a MethodPhase loss.
int loss_ce_retain(Run *r, double *loss, Err *e);
// CE over every row of the step to r->target (rl, salun: forget rows relabelled).
int loss_ce_targets(Run *r, double *loss, Err *e);
// rl's step hook (rl, salun): each forget row [0, nf) of the step gets a random label as its
// target, drawn per (epoch, image), the same whichever rank draws it.
void random_label_targets(Run *r);
// Shortens the retain part of r->union_idx to a seeded subset of round(fraction·|D_r|) images (at
// least 1), the same on every rank (bad_teacher, unsir): the union and retain-driven phases then
// walk D_f ∪ that subset and that subset.
void retain_subset(Run *r, double fraction);
// Sums *a and *b over the ranks of comm (one all-reduce).
void sum2_ranks(MPI_Comm comm, double *a, double *b);
// 1/g as a float, 0 for g = 0: the weight of one row of a global part of g rows.
static inline float inv_rows(int g) {
  return g ? 1.0f / g : 0.0f;
}

// The methods' own gradients, exposed for their finite-difference tests (tests/test_baselines.c).
// m_unsir.c: UNSIR's noise objective on n noise images x [n, c, h, w] of class cls at m (eval
// mode, capacity >= n): returns this chunk's part of
//   L = −(1/N) Σ_b CE(m(x_b), cls) + λ·(1/N) Σ_b ‖x_b‖²
// (N the class's noise images, every chunk together) and writes ∂L/∂x into dx [n, c, h, w]
// (overwritten); probs, dlogits [n, K] and labels [n] are scratch. m's gradients are clobbered.
double unsir_noise_loss(Model *m, const float *x, int n, int cls, int N, double lambda,
                        float *probs, float *dlogits, int32_t *labels, float *dx);
// m_be.c: Σ over n rows of the CE to the shadow class K of the widened logits
// [logits | f·w_s + b_s], logits [n, K], features f [n, F], w [F+1] (w_s, then b_s); adds scale
// times its gradient into dlogits [n, K], df [n, F] and dw [F+1]. wide, probs [n, K+1] and
// target [n] are scratch.
double be_shadow_ce(const float *logits, const float *f, const float *w, int n, int K, int F,
                    float scale, float *wide, float *probs, int32_t *target, float *dlogits,
                    float *df, float *dw);
