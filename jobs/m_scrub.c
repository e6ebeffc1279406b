// m_scrub.c: SCRUB (Kurmanji et al. 2023), the student θ_u against the frozen teacher θ_o. Each
// epoch runs a max pass (the first max_epochs epochs only), then a min pass:
//   max  −KL(teacher‖student) on forget rows, at temperature T, × T²: one pass over D_f; with EC
//        (L_cu only), each step adds retain_per_forget·B cycled retain images
//   min  γ·CE(retain) + α·KL(teacher‖student)(retain) × T²: one pass over D_r (EC's CE only)
// The KL is SCRUB's DistillKL: Σ_k p_t (log p_t − log p_s) with p = softmax(logits/T), times T²,
// averaged over rows; its gradient in the student's logits is T·(p_s − p_t) per row.
#include <stdlib.h>
#include <string.h>

#include "dist.h"
#include "run.h"

typedef struct {
  float *tlogits;  // [cap, K] the teacher's logits of the step's rows
} ScrubState;

static int scrub_max_loss(Run *r, double *loss, Err *e) {
  (void)e;
  const ScrubState *st = r->ms;
  const float inv_f = inv_rows(r->rs.gf), T = (float)r->spec->scrub.temperature;
  const double lf = kl_rows(r, 0, r->rs.nf, st->tlogits, T, -inv_f * T * T);
  *loss = -dist_sum(r->comm, lf) * inv_f * T * T;
  return 0;
}

static int scrub_min_loss(Run *r, double *loss, Err *e) {
  (void)e;
  const UnlearnSpec *s = r->spec;
  const ScrubState *st = r->ms;
  const int nf = r->rs.nf, nr = r->rs.nr;
  const float inv_r = inv_rows(r->rs.gr), T = (float)s->scrub.temperature;
  const float gamma = (float)s->scrub.gamma, alpha = (float)s->scrub.alpha;
  double lr = ce_rows(r, nf, nr, r->y, gamma * inv_r);
  double lf = kl_rows(r, nf, nr, st->tlogits, T, alpha * inv_r * T * T) * T * T;  // retain rows
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
