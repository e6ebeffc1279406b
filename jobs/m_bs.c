// m_bs.c: Boundary Shrink's labels (Chen et al. 2023). For each forget image x with label y, one
// FGSM step against the frozen original, x_adv = clip(x + ε·sign(∇_x CE(θ_o(x), y))), finds the
// nearest decision boundary; the label θ_o gives x_adv (the best class other than y, so that the
// label is always a wrong one) is what the student is then trained to predict on x.
//
// ε is in [0,1] pixel units; inputs are normalised per channel, (p − mean)/std, so the step in
// channel c is ε/std_c and x_adv is clipped to the normalised image of [0,1], [−mean/std,
// (1 − mean)/std]. θ_o runs in eval mode: no collective, each rank labels its own rows.
//
// The loss is CE(forget) to those labels. An epoch is one pass over D_f; with EC, each step adds
// retain_per_forget·B cycled retain images.
#include <stdlib.h>
#include <string.h>

#include "dist.h"
#include "run.h"

typedef struct {
  float *dl;             // [cap, K] d(CE)/d(logits) of θ_o
  float *dinput, *xadv;  // [cap, c, h, w] its gradient in the input, the FGSM images
} BsState;

// The FGSM labels of the step's forget rows into r->target[0, nf).
static void bs_targets(Run *r) {
  BsState *st = r->ms;
  Model *o = &r->orig;
  const int nf = r->rs.nf, K = o->spec.num_classes;
  if (nf == 0) return;
  const ImageSet *s = &r->d->train;
  const int C = s->c, HW = s->h * s->w;
  const size_t n = (size_t)nf * C * HW;
  model_forward(o, r->x, nf, 0);
  // d(CE)/d(logits) = p − onehot(y); its scale does not matter to the sign.
  float *dl = st->dl;
  memset(dl, 0, (size_t)nf * K * sizeof(float));
  softmax_xent_forward(r->probs, model_logits(o), r->y, nf, K);
  softmax_xent_backward(dl, r->probs, r->y, nf, K, 1.0f);
  model_zero_grads(o);  // θ_o's gradient arena is scratch here; θ_o never takes a step
  model_backward(o, dl, NULL, st->dinput);
  const float eps = r->spec->bs.eps;
  for (size_t t = 0; t < n; t++) {
    const int c = (int)((t / HW) % C);
    const float lo = -r->d->mean[c] / r->d->std[c], hi = (1.0f - r->d->mean[c]) / r->d->std[c];
    const float g = st->dinput[t], step = eps / r->d->std[c];
    float v = r->x[t] + (g > 0 ? step : g < 0 ? -step : 0.0f);
    st->xadv[t] = v < lo ? lo : v > hi ? hi : v;
  }
  model_forward(o, st->xadv, nf, 0);
  const float *logits = model_logits(o);
  for (int i = 0; i < nf; i++) {
    int best = -1;
    for (int k = 0; k < K; k++)
      if (k != r->y[i] && (best < 0 || logits[i * K + k] > logits[i * K + best])) best = k;
    r->target[i] = best;
  }
}

static int bs_loss(Run *r, double *loss, Err *e) {
  (void)e;
  const float inv_f = inv_rows(r->rs.gf);
  const double lf = ce_rows(r, 0, r->rs.nf, r->target, inv_f);
  *loss = dist_sum(r->comm, lf) * inv_f;
  return 0;
}

static int bs_init(Run *r, Err *e) {
  const ImageSet *s = &r->d->train;
  const size_t cap = (size_t)r->cap, img = (size_t)s->c * s->h * s->w;
  BsState *st = r->ms = calloc(1, sizeof *st);
  if (!st) return errf(e, ERR_RUNTIME, "bs: out of memory");
  st->dl = malloc(cap * r->m.spec.num_classes * sizeof(float));
  st->dinput = malloc(cap * img * sizeof(float));
  st->xadv = malloc(cap * img * sizeof(float));
  if (!st->dl || !st->dinput || !st->xadv)
    return errf(e, ERR_RUNTIME, "bs: out of memory for %d rows", r->cap);
  return 0;
}

static void bs_free(Run *r) {
  BsState *st = r->ms;
  if (st) free(st->dl), free(st->dinput), free(st->xadv);
  free(st);
}

static int bs_check(const UnlearnSpec *s, Err *e) {
  if (!(s->bs.eps > 0)) return errf(e, ERR_CONFIG, "unlearn.bs.eps must be positive");
  return 0;
}

const UnlearnMethodDef method_bs = {
    .name = "bs",
    .usual_lr = 1e-5,
    .usual_epochs = 10,
    .needs_original = 1,
    .n_phases = 1,
    .phase =
        {{.drive = DRIVE_FORGET, .extra = EXTRA_EC_RPF_B, .ec_cu = 1, .ec_ce = 1, .loss = bs_loss}},
    .check = bs_check,
    .init = bs_init,
    .free = bs_free,
    .step = bs_targets,
};
