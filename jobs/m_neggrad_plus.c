// m_neggrad_plus.c: NegGrad+, α·CE(retain) − (1−α)·CE(forget). An epoch is one pass over D_r,
// each step adding B cycled forget images.
#include "dist.h"
#include "run.h"

static int neggrad_plus_loss(Run *r, double *loss, Err *e) {
  (void)e;
  const int nf = r->rs.nf, nr = r->rs.nr;
  const float inv_f = inv_rows(r->rs.gf), inv_r = inv_rows(r->rs.gr);
  const float a = r->spec->neggrad_plus.alpha;
  double lf = ce_rows(r, 0, nf, r->y, -(1.0f - a) * inv_f);
  double lr = ce_rows(r, nf, nr, r->y, a * inv_r);
  sum2_ranks(r->comm, &lf, &lr);
  *loss = a * lr * inv_r - (1.0 - a) * lf * inv_f;
  return 0;
}

static int neggrad_plus_check(const UnlearnSpec *s, Err *e) {
  if (!(s->neggrad_plus.alpha >= 0 && s->neggrad_plus.alpha <= 1))
    return errf(e, ERR_CONFIG, "unlearn.neggrad+.alpha must be in [0, 1]");
  return 0;
}

const UnlearnMethodDef method_neggrad_plus = {
    .name = "neggrad+",
    .usual_lr = 0.01,
    .usual_epochs = 5,
    .n_phases = 1,
    .phase = {{.drive = DRIVE_RETAIN,
               .extra = EXTRA_B,
               .ec_cu = 1,
               .ec_ce = 1,
               .loss = neggrad_plus_loss}},
    .check = neggrad_plus_check,
};
