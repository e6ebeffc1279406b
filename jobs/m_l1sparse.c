// m_l1sparse.c: ℓ1-sparse fine-tuning (Jia et al. 2023), CE(retain) + α_e‖θ‖₁ with
// α_e = α_0·(1 − e/epochs) in epoch e (0-based). The ℓ1 term enters as its subgradient α·sign(θ)
// over every parameter, added to the summed gradient; the loss reported is CE(retain) alone.
// The data as ft's (m_ft.c).
#include <stdlib.h>

#include "run.h"

typedef struct {
  float alpha;  // this epoch's α
} L1State;

static int l1sparse_init(Run *r, Err *e) {
  L1State *st = r->ms = calloc(1, sizeof *st);
  if (!st) return errf(e, ERR_RUNTIME, "out of memory for l1sparse");
  return 0;
}

static void l1sparse_free(Run *r) {
  free(r->ms);
}

static void l1sparse_epoch(Run *r, int epoch) {
  L1State *st = r->ms;
  st->alpha = (float)r->spec->l1sparse.alpha * (1.0f - (float)epoch / (float)r->epochs);
}

static void l1sparse_grad(Run *r) {
  const L1State *st = r->ms;
  Model *m = &r->m;
  if (st->alpha > 0)
    for (int64_t i = 0; i < m->n_param_floats; i++) {
      const float p = m->param_mem[i];
      m->grad_mem[i] += p > 0 ? st->alpha : p < 0 ? -st->alpha : 0.0f;
    }
}

static int l1sparse_check(const UnlearnSpec *s, Err *e) {
  if (!(s->l1sparse.alpha >= 0)) return errf(e, ERR_CONFIG, "unlearn.l1sparse.alpha must be >= 0");
  return 0;
}

const UnlearnMethodDef method_l1sparse = {
    .name = "l1sparse",
    .usual_lr = 0.01,
    .usual_epochs = 10,
    .n_phases = 1,
    .phase = {{.drive = DRIVE_RETAIN,
               .extra = EXTRA_EC_B_RPF,
               .ec_cu = 1,
               .ec_ce = 1,
               .loss = loss_ce_retain}},
    .check = l1sparse_check,
    .init = l1sparse_init,
    .free = l1sparse_free,
    .epoch = l1sparse_epoch,
    .grad = l1sparse_grad,
};
