// m_cu.c: contrastive unlearning as a base method, λ_cu·L_cu + λ_ce·CE(retain), where L_cu is the
// contrastive loss of contrastive.h on z = normalise(avgpool(h_L)), the network's pooled last
// features, forget rows the anchors and retain rows the candidates, over the gathered global
// batch. An epoch is one pass over D_f, each step adding retain_per_forget·B cycled retain
// images (B without EC).
#include <stdlib.h>
#include <string.h>

#include "contrastive.h"
#include "dist.h"
#include "run.h"

typedef struct {
  float *z, *norm, *hs, *dz;  // [cap, c] local rows (norm [cap]): z, ‖pooled‖, pooled, dL/dz
  float *zg, *dzg;            // [gcap, c] the global batch's z and dL/dz
  int32_t *yg;                // [gcap] its labels
} CuState;

// L_cu at the last point into *loss; its gradient goes back through the normalisation and the
// pooling into dpoints[L].
static int cu_last(Run *r, double *loss, Err *e) {
  CuState *st = r->ms;
  Model *m = &r->m;
  const RowSplit *rs = &r->rs;
  const int L = m->n_points - 1, n = rs->nf + rs->nr;
  int h, w, c;
  const float *x = model_point(m, L, &h, &w, &c);
  avgpool_forward(st->hs, x, n, h * w, c);
  l2norm_forward(st->z, st->norm, st->hs, n, c);
  gather_rows(rs, st->z, c, st->zg);
  gather_labels(rs, r->y, st->yg);
  memset(st->dzg, 0, (size_t)(rs->gf + rs->gr) * c * sizeof(float));
  ContrastiveSpec cs = {.tau = r->spec->cu.temperature, .eps = r->spec->ec.log_eps};
  const size_t off = (size_t)rs->gf * c;
  int rc = contrastive_loss(st->zg, st->yg, rs->gf, st->zg + off, st->yg + rs->gf, rs->gr, NULL, c,
                            &cs, r->spec->cu.lambda_cu, loss, st->dzg, st->dzg + off, NULL, e);
  if (rc) return rc;
  memset(st->dz, 0, (size_t)n * c * sizeof(float));
  add_own_rows(rs, st->dzg, c, st->dz);
  float *dhs = st->hs;  // the pooled features are no longer needed: reuse for their gradient
  memset(dhs, 0, (size_t)n * c * sizeof(float));
  l2norm_backward(dhs, st->dz, st->z, st->norm, n, c);
  avgpool_backward(r->dpoints[L], dhs, n, h * w, c);
  return 0;
}

static int cu_loss(Run *r, double *loss, Err *e) {
  const UnlearnSpec *s = r->spec;
  const float inv_r = inv_rows(r->rs.gr);
  double lcu = 0.0;
  if (r->rs.gf > 0 && r->rs.gr > 0) {
    int rc = cu_last(r, &lcu, e);
    if (rc) return rc;
  }
  const double lr = ce_rows(r, r->rs.nf, r->rs.nr, r->y, s->cu.lambda_ce * inv_r);
  *loss = s->cu.lambda_cu * lcu + s->cu.lambda_ce * dist_sum(r->comm, lr) * inv_r;
  return 0;
}

static int cu_init(Run *r, Err *e) {
  CuState *st = r->ms = calloc(1, sizeof *st);
  if (!st) return errf(e, ERR_RUNTIME, "cu: out of memory");
  int c;
  model_point(&r->m, r->m.n_points - 1, NULL, NULL, &c);
  const size_t cap = (size_t)r->cap, g = (size_t)r->gcap;
  st->z = malloc(cap * c * sizeof(float));
  st->norm = malloc(cap * sizeof(float));
  st->hs = malloc(cap * c * sizeof(float));
  st->dz = malloc(cap * c * sizeof(float));
  st->zg = malloc(g * c * sizeof(float));
  st->dzg = malloc(g * c * sizeof(float));
  st->yg = malloc(g * sizeof(int32_t));
  if (!st->z || !st->norm || !st->hs || !st->dz || !st->zg || !st->dzg || !st->yg)
    return errf(e, ERR_RUNTIME, "cu: out of memory for %d rows", r->gcap);
  return 0;
}

static void cu_free(Run *r) {
  CuState *st = r->ms;
  if (st) {
    free(st->z), free(st->norm), free(st->hs), free(st->dz);
    free(st->zg), free(st->dzg), free(st->yg);
  }
  free(st);
}

static int cu_check(const UnlearnSpec *s, Err *e) {
  if (!(s->cu.temperature > 0))
    return errf(e, ERR_CONFIG, "unlearn.cu.temperature must be positive");
  return 0;
}

const UnlearnMethodDef method_cu = {
    .name = "cu",
    .usual_lr = 1e-3,
    .usual_epochs = 5,
    .n_phases = 1,
    .phase = {{.drive = DRIVE_FORGET,
               .extra = EXTRA_RPF_B,
               .ec_cu = 1,
               .ec_ce = 1,
               .points = 1,
               .loss = cu_loss}},
    .check = cu_check,
    .init = cu_init,
    .free = cu_free,
};
