// m_scrub.c: SCRUB (Kurmanji et al. 2023), the student θ_u against the frozen teacher θ_o. Each
// epoch runs a max pass (the first max_epochs epochs only), then a min pass:
//   max  −KL(teacher‖student) on forget rows, at temperature T, × T²: one pass over D_f; with EC
//        (L_cu only), each step adds retain_per_forget·B cycled retain images
//   min  γ·CE(retain) + α·KL(teacher‖student)(retain) × T²: one pass over D_r (EC's CE only)
// The KL is SCRUB's DistillKL: Σ_k p_t (log p_t − log p_s) with p = softmax(logits/T), times T²,
// averaged over rows; its gradient in the student's logits is T·(p_s − p_t) per row.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"
#include "run.h"

typedef struct {
  float *tlogits;  // [cap, K] the teacher's logits of the step's rows
} ScrubState;

// Local Σ T²·KL(teacher‖student) over rows [a, a+cnt); adds scale·T·(p_s − p_t) into dlogits.
static double kl_rows(Run *r, int a, int cnt, float T, float scale) {
  const ScrubState *st = r->ms;
  const int K = r->m.spec.num_classes;
  double total = 0.0;
  for (int i = a; i < a + cnt; i++) {
    const float *s = model_logits(&r->m) + (size_t)i * K, *t = st->tlogits + (size_t)i * K;
    double ms = -INFINITY, mt = -INFINITY, zs = 0.0, zt = 0.0;
    for (int k = 0; k < K; k++) ms = fmax(ms, s[k] / T), mt = fmax(mt, t[k] / T);
    for (int k = 0; k < K; k++) zs += exp(s[k] / T - ms), zt += exp(t[k] / T - mt);
    const double lzs = ms + log(zs), lzt = mt + log(zt);
    float *d = r->dlogits + (size_t)i * K;
    for (int k = 0; k < K; k++) {
      const double lps = s[k] / T - lzs, lpt = t[k] / T - lzt, pt = exp(lpt);
      total += pt * (lpt - lps);
      d[k] += (float)(scale * T * (exp(lps) - pt));
    }
  }
  return total * (double)T * T;
}

static int scrub_max_loss(Run *r, double *loss, Err *e) {
  (void)e;
  const float inv_f = inv_rows(r->rs.gf);
  const double lf = kl_rows(r, 0, r->rs.nf, r->spec->scrub.temperature, -inv_f);
  *loss = -dist_sum(r->comm, lf) * inv_f;
  return 0;
}

static int scrub_min_loss(Run *r, double *loss, Err *e) {
  (void)e;
  const UnlearnSpec *s = r->spec;
  const int nf = r->rs.nf, nr = r->rs.nr;
  const float inv_r = inv_rows(r->rs.gr);
  const float gamma = (float)s->scrub.gamma, alpha = (float)s->scrub.alpha;
  double lr = ce_rows(r, nf, nr, r->y, gamma * inv_r);
  double lf = kl_rows(r, nf, nr, s->scrub.temperature, alpha * inv_r);  // retain rows
  sum2_ranks(r->comm, &lr, &lf);
  *loss = (gamma * lr + alpha * lf) * inv_r;
  return 0;
}

static int scrub_max_active(const Run *r, int epoch) {
  return epoch < r->spec->scrub.max_epochs;
}

// The teacher's logits of every row of the step.
static void scrub_step(Run *r) {
  ScrubState *st = r->ms;
  const int n = r->rs.nf + r->rs.nr, K = r->m.spec.num_classes;
  model_forward(&r->orig, r->x, n, 0);
  memcpy(st->tlogits, model_logits(&r->orig), (size_t)n * K * sizeof(float));
}

static int scrub_init(Run *r, Err *e) {
  ScrubState *st = r->ms = calloc(1, sizeof *st);
  if (st) st->tlogits = malloc((size_t)r->cap * r->m.spec.num_classes * sizeof(float));
  if (!st || !st->tlogits) return errf(e, ERR_RUNTIME, "scrub: out of memory for %d rows", r->cap);
  return 0;
}

static void scrub_free(Run *r) {
  ScrubState *st = r->ms;
  if (st) free(st->tlogits);
  free(st);
}

static int scrub_check(const UnlearnSpec *s, Err *e) {
  if (!(s->scrub.temperature > 0))
    return errf(e, ERR_CONFIG, "unlearn.scrub.temperature must be positive");
  if (s->scrub.max_epochs < 0) return errf(e, ERR_CONFIG, "unlearn.scrub.max_epochs must be >= 0");
  return 0;
}

const UnlearnMethodDef method_scrub = {
    .name = "scrub",
    .usual_lr = 5e-4,
    .usual_epochs = 3,
    .needs_original = 1,
    .n_phases = 2,
    .phase = {{.name = "scrub-max",
               .drive = DRIVE_FORGET,
               .extra = EXTRA_EC_RPF_B,
               .ec_cu = 1,
               .loss = scrub_max_loss,
               .active = scrub_max_active},
              {.name = "scrub-min", .drive = DRIVE_RETAIN, .ec_ce = 1, .loss = scrub_min_loss}},
    .check = scrub_check,
    .init = scrub_init,
    .free = scrub_free,
    .step = scrub_step,
};
