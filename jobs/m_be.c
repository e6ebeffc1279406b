// m_be.c: Boundary Expanding (Chen et al., "Boundary Unlearning: Rapid Forgetting of Deep
// Networks via Shifting the Decision Space", CVPR 2023). Their code widens the last linear layer
// to K+1 outputs (the K rows θ_o's, the new shadow row Xavier-normal, its bias 0), fine-tunes
// the whole widened network on D_f alone with every label the shadow class K, then prunes the
// shadow row: the network keeps its K classes and the forget images fall to their nearest other
// class.
//
// Here the K rows stay the network's own head (fc) and only the shadow row lives in this
// method's state: w_s [F] and b_s, F the head's input (the pooled last supervision point: every
// architecture's head is fc(gap(last point)), checked at init). A row's widened logits are
// [logits | w_s·f + b_s], and
//   L = CE(forget rows, the shadow class K) over the K+1 logits
// Its gradient goes into dlogits (the K logits) and, through w_s and the pooling, into the last
// point; w_s and b_s take their own SGD step (the run's lr, momentum and weight decay) on their
// gradient summed over the ranks. Pruning is dropping them at the end. Forget-driven; with EC,
// r·B cycled retain rows per step and L_cu and L_ce, as bs.
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
  float *f, *df;        // [cap, F] the forget rows' pooled features and their gradient
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
  const int nf = r->rs.nf, L = m->n_points - 1, K = m->spec.num_classes;
  int h, w, c;
  const float *x = model_point(m, L, &h, &w, &c);
  avgpool_forward(st->f, x, nf, h * w, c);  // the forget rows [0, nf)
  memset(st->df, 0, (size_t)nf * c * sizeof(float));
  memset(st->dw, 0, (size_t)(c + 1) * sizeof(float));
  const float inv = inv_rows(r->rs.gf);
  const double l = be_shadow_ce(model_logits(m), st->f, st->w, nf, K, c, inv, st->wide, st->probs,
                                st->target, r->dlogits, st->df, st->dw);
  avgpool_backward(r->dpoints[L], st->df, nf, h * w, c);
  *loss = dist_sum(r->comm, l) * inv;
  return 0;
}

// The shadow row's step, on its gradient summed over the ranks.
static void be_grad(Run *r) {
  BeState *st = r->ms;
  if (r->size > 1) MPI_Allreduce(MPI_IN_PLACE, st->dw, st->F + 1, MPI_FLOAT, MPI_SUM, r->comm);
  sgd_step(&st->opt, st->w, st->dw, r->step_lr, NULL);
}

// Whether the head reads the last supervision point, pooled or as it is (mlp).
static int head_reads_last_point(const Model *m) {
  for (int i = 0; i < m->n_ops; i++) {
    const Op *op = &m->ops[i];
    if (op->out != m->logits_value) continue;
    int in = op->in;
    const int p = m->values[in].producer;
    if (p >= 0 && m->ops[p].kind == OP_GAP) in = m->ops[p].in;
    return op->kind == OP_LINEAR && m->n_points > 0 && in == m->points[m->n_points - 1];
  }
  return 0;
}

// The shadow row, Xavier-normal from the run's seed (std √(2/(F + K+1)) of the widened
// [K+1, F] layer), bias 0, and the buffers.
static int be_init(Run *r, Err *e) {
  BeState *st = r->ms = calloc(1, sizeof *st);
  if (!st) return errf(e, ERR_RUNTIME, "be: out of memory");
  const Model *m = &r->m;
  if (!head_reads_last_point(m))
    return errf(e, ERR_CONFIG, "be: the %s head does not read the last supervision point",
                arch_name(m->spec.arch));
  int h, w;
  model_point(m, m->n_points - 1, &h, &w, &st->F);
  const int F = st->F, K1 = m->spec.num_classes + 1;
  const size_t cap = (size_t)r->cap;
  st->w = malloc((size_t)(F + 1) * sizeof(float));
  st->dw = malloc((size_t)(F + 1) * sizeof(float));
  st->f = malloc(cap * F * sizeof(float));
  st->df = malloc(cap * F * sizeof(float));
  st->wide = malloc(cap * K1 * sizeof(float));
  st->probs = malloc(cap * K1 * sizeof(float));
  st->target = malloc(cap * sizeof(int32_t));
  if (!st->w || !st->dw || !st->f || !st->df || !st->wide || !st->probs || !st->target)
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
    free(st->w), free(st->dw), free(st->f), free(st->df), free(st->wide), free(st->probs);
    free(st->target), sgd_free(&st->opt);
  }
  free(st);
}

const UnlearnMethodDef method_be = {
    .name = "be",
    .usual_lr = 1e-5,  // their code: SGD, momentum 0.9, 10 epochs over D_f
    .usual_epochs = 10,
    .n_phases = 1,
    .phase = {{.drive = DRIVE_FORGET,
               .extra = EXTRA_EC_RPF_B,
               .ec_cu = 1,
               .ec_ce = 1,
               .points = 1,
               .loss = be_loss}},
    .init = be_init,
    .free = be_free,
    .grad = be_grad,
};
