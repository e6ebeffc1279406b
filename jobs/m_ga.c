// m_ga.c: gradient ascent on D_f, −CE(forget). An epoch is one pass over D_f; with EC, each step
// adds retain_per_forget·B cycled retain images.
#include "dist.h"
#include "run.h"

static int ga_loss(Run *r, double *loss, Err *e) {
  (void)e;
  const float inv_f = inv_rows(r->rs.gf);
  const double lf = ce_rows(r, 0, r->rs.nf, r->y, -inv_f);
  *loss = -dist_sum(r->comm, lf) * inv_f;
  return 0;
}

const UnlearnMethodDef method_ga = {
    .name = "ga",
    .usual_lr = 1e-4,
    .usual_epochs = 5,
    .n_phases = 1,
    .phase =
        {{.drive = DRIVE_FORGET, .extra = EXTRA_EC_RPF_B, .ec_cu = 1, .ec_ce = 1, .loss = ga_loss}},
};
