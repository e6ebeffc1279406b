// m_be.c: Boundary Expanding (Chen et al., "Boundary Unlearning: Rapid Forgetting of Deep
// Networks via Shifting the Decision Space", CVPR 2023). Their code widens the last linear layer
// to K+1 outputs (the K rows θ_o's, the new shadow row Xavier-normal, its bias 0), fine-tunes
// the whole widened network on D_f alone with every label the shadow class K, then prunes the
// shadow row: the network keeps its K classes and the forget images fall to their nearest other
// class.
//
// Here the K rows stay the network's own head and only the shadow row lives in this method's
// state: w_s [F] and b_s, F the features the head reads (model_head_input). A row's widened
// logits are [logits | w_s·f + b_s], and
//   L = CE(forget rows, the shadow class K) over the K+1 logits
// Its gradient goes into dlogits (the K logits) and, through w_s, into the head's input
// (Model.dhead_input, added there by the backward); w_s and b_s take their own SGD step (the
// run's lr, momentum and weight decay) on their gradient summed over the ranks. Pruning is
// dropping them at the end. Forget-driven; with EC, r·B cycled retain rows per step and L_cu and
// L_ce, as bs.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"
#include "rng.h"
#include "run.h"

typedef struct {
  int F;                // the head's input features
  float *w, *dw;        // [F+1] the shadow row (w_s, then b_s) and its gradient
  Sgd opt;              // its momentum
  float *df;            // [cap, F] the gradient at the head's input (retain rows 0)
  float *wide, *probs;  // [cap, K+1] the widened logits, their softmax
  int32_t *target;      // [cap] the shadow class
} BeState;

double be_shadow_ce(const float *logits, const float *f, const float *w, int n, int K, int F,
                    float scale, float *wide, float *probs, int32_t *target, float *dlogits,
                    float *df, float *dw) {
  const int K1 = K + 1;
  for (int b = 0; b < n; b++) {
    const float *fb = f + (size_t)b * F;
    float *row = wide + (size_t)b * K1;
    memcpy(row, logits + (size_t)b * K, (size_t)K * sizeof(float));
    double s = w[F];
    for (int j = 0; j < F; j++) s += (double)w[j] * fb[j];
    row[K] = (float)s;
    target[b] = K;
  }
  const double ce = softmax_xent_forward(probs, wide, target, n, K1);
  memset(wide, 0, (size_t)n * K1 * sizeof(float));  // now ∂L/∂(widened logits)
  softmax_xent_backward(wide, probs, target, n, K1, scale);
  for (int b = 0; b < n; b++) {
    const float *g = wide + (size_t)b * K1, *fb = f + (size_t)b * F;
    float *dl = dlogits + (size_t)b * K, *dfb = df + (size_t)b * F;
    for (int k = 0; k < K; k++) dl[k] += g[k];
    for (int j = 0; j < F; j++) dfb[j] += g[K] * w[j], dw[j] += g[K] * fb[j];
    dw[F] += g[K];
  }
  return ce;
}

static int be_loss(Run *r, double *loss, Err *e) {
  (void)e;
  BeState *st = r->ms;
  Model *m = &r->m;
  const int nf = r->rs.nf, n = nf + r->rs.nr, K = m->spec.num_classes;
  int F;
  const float *f = model_head_input(m, &F);  // the forget rows first, [0, nf)
  memset(st->df, 0, (size_t)n * F * sizeof(float));
  memset(st->dw, 0, (size_t)(F + 1) * sizeof(float));
  const float inv = inv_rows(r->rs.gf);
  const double l = be_shadow_ce(model_logits(m), f, st->w, nf, K, F, inv, st->wide, st->probs,
                                st->target, r->dlogits, st->df, st->dw);
  m->dhead_input = st->df;  // for this step's backward
  *loss = dist_sum(r->comm, l) * inv;
  return 0;
}

// After the backward: the shadow row's step, on its gradient summed over the ranks.
static void be_grad(Run *r) {
  BeState *st = r->ms;
  r->m.dhead_input = NULL;
  if (r->size > 1) MPI_Allreduce(MPI_IN_PLACE, st->dw, st->F + 1, MPI_FLOAT, MPI_SUM, r->comm);
  sgd_step(&st->opt, st->w, st->dw, r->step_lr, NULL);
}

// The shadow row, Xavier-normal from the run's seed (std √(2/(F + K+1)) of the widened
// [K+1, F] layer), bias 0, and the buffers.
static int be_init(Run *r, Err *e) {
  BeState *st = r->ms = calloc(1, sizeof *st);
  if (!st) return errf(e, ERR_RUNTIME, "be: out of memory");
  const Model *m = &r->m;
  if (!model_head_input(m, &st->F))
    return errf(e, ERR_CONFIG, "be: the network has no linear head to widen");
  const int F = st->F, K1 = m->spec.num_classes + 1;
  const size_t cap = (size_t)r->cap;
  st->w = malloc((size_t)(F + 1) * sizeof(float));
  st->dw = malloc((size_t)(F + 1) * sizeof(float));
  st->df = malloc(cap * F * sizeof(float));
  st->wide = malloc(cap * K1 * sizeof(float));
  st->probs = malloc(cap * K1 * sizeof(float));
  st->target = malloc(cap * sizeof(int32_t));
  if (!st->w || !st->dw || !st->df || !st->wide || !st->probs || !st->target)
    return errf(e, ERR_RUNTIME, "be: out of memory for %d rows", r->cap);
  Rng g = rng_derive(r->seed, RNG_METHOD, TAG_SHADOW);
  const float std = sqrtf(2.0f / (float)(F + K1));
  for (int j = 0; j < F; j++) st->w[j] = std * rng_normal(&g);
  st->w[F] = 0;
  return sgd_init(&st->opt, F + 1, r->opt.momentum, r->opt.weight_decay, 0, e);
}

static void be_free(Run *r) {
  BeState *st = r->ms;
  if (st) {
    free(st->w), free(st->dw), free(st->df), free(st->wide), free(st->probs);
    free(st->target), sgd_free(&st->opt);
  }
  free(st);
}

const UnlearnMethodDef method_be = {
    .name = "be",
    .usual_lr = 1e-5,  // their code: SGD, momentum 0.9, 10 epochs over D_f
    .usual_epochs = 10,
    .n_phases = 1,
    .phase =
        {{.drive = DRIVE_FORGET, .extra = EXTRA_EC_RPF_B, .ec_cu = 1, .ec_ce = 1, .loss = be_loss}},
    .init = be_init,
    .free = be_free,
    .grad = be_grad,
};
