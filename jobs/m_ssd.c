// m_ssd.c: Selective Synaptic Dampening (Foster et al. 2024), no training. At θ_o, in eval mode
// (BatchNorm's running statistics, unchanged), the diagonal Fisher importance of every trainable
// parameter on a set S, as their calc_importance computes it:
//   I_S = mean over the global batches b of S of (∇ mean_{x∈b} CE(θ(x), y))²
// (batches of unlearn.batch_size in data-set order, no augmentation; summed in double), on D_f and
// on the whole training set D = D_f ∪ D_r. Then each parameter with I_f > α·I_D is multiplied by
// min(λ·I_D/I_f, 1); the others are left alone.
//
// Every rank computes the whole of both passes alone (no split, no all-reduce): the selection is
// a threshold on ratios of small squared gradients, and global batches split over ranks gave
// gradients different enough to flip it (1 and 2 ranks then dampened different parameters), so
// the importances must not depend on the number of ranks. The cost is two eval passes over D per
// rank, about one training epoch.
//
// With EC, the dampened model then runs EC alone's schedule (ec.batch_size, ec.epochs, ec.lr, ...:
// the phase below, active only with EC).
#include <stdlib.h>
#include <string.h>

#include "run.h"

typedef struct {
  Model fm;                // θ_o with the Fisher batches' capacity, alone (no communicator)
  float *probs, *dlogits;  // [B, K]
  double *imp_f, *imp_d;   // [n_param_floats] I_f, I_D (double: squares of tiny gradients
                           // would underflow in float)
} SsdState;

// I_S into imp [n_param_floats] over subset [n] of the training set.
static int importance(Run *r, const int32_t *subset, int64_t n, double *imp, Err *e) {
  SsdState *st = r->ms;
  Model *m = &st->fm;
  const int K = m->spec.num_classes;
  Batches b;
  int rc = batches_init(&b, &r->d->train, r->d->mean, r->d->std, NULL, subset, n,
                        r->spec->batch_size, 0, MPI_COMM_NULL, e);
  if (rc) return rc;
  memset(imp, 0, (size_t)m->n_param_floats * sizeof(double));
  int64_t nb = 0;
  batches_start(&b, 0, 0, 0);
  while (batches_next(&b)) {
    const int B = b.local_batch;
    model_forward(m, b.x, B, 0);
    memset(st->dlogits, 0, (size_t)B * K * sizeof(float));
    softmax_xent_forward(st->probs, model_logits(m), b.y, B, K);
    softmax_xent_backward(st->dlogits, st->probs, b.y, B, K, 1.0f / (float)b.this_global);
    model_zero_grads(m);
    model_backward(m, st->dlogits, NULL, NULL);
    for (int64_t i = 0; i < m->n_param_floats; i++)
      imp[i] += (double)m->grad_mem[i] * m->grad_mem[i];
    nb++;
  }
  batches_free(&b);
  for (int64_t i = 0; nb > 0 && i < m->n_param_floats; i++) imp[i] /= (double)nb;
  return 0;
}

// The importances at θ_o (r->m before any step), then the dampening of r->m.
static int ssd_dampen(Run *r, Err *e) {
  SsdState *st = r->ms;
  int rc = importance(r, r->fs->train_forget, r->fs->n_train_forget, st->imp_f, e);
  if (rc || (rc = importance(r, r->union_idx, r->n_union, st->imp_d, e))) return rc;
  const double alpha = r->spec->ssd.alpha, lambda = r->spec->ssd.lambda;
  for (int64_t i = 0; i < r->m.n_param_floats; i++) {
    const double f = st->imp_f[i], d = st->imp_d[i];
    if (!(f > alpha * d)) continue;
    const double beta = lambda * d / f;
    if (beta < 1.0) r->m.param_mem[i] = (float)(r->m.param_mem[i] * beta);
  }
  if (r->progress && r->progress->fn) r->progress->fn(r->progress->user, "ssd", 1, 1, 0.0);
  return 0;
}

static int ssd_init(Run *r, Err *e) {
  SsdState *st = r->ms = calloc(1, sizeof *st);
  if (!st) return errf(e, ERR_RUNTIME, "ssd: out of memory");
  const int B = r->spec->batch_size;
  int rc = clone_model_for(&st->fm, &r->m, B, MPI_COMM_NULL, e);
  if (rc) return rc;
  const size_t K = (size_t)r->m.spec.num_classes, np = (size_t)r->m.n_param_floats;
  st->probs = malloc((size_t)B * K * sizeof(float));
  st->dlogits = malloc((size_t)B * K * sizeof(float));
  st->imp_f = malloc(np * sizeof(double));
  st->imp_d = malloc(np * sizeof(double));
  if (!st->probs || !st->dlogits || !st->imp_f || !st->imp_d)
    return errf(e, ERR_RUNTIME, "ssd: out of memory for the importances of %zu parameters", np);
  return 0;
}

static void ssd_free(Run *r) {
  SsdState *st = r->ms;
  if (st) {
    model_free(&st->fm);
    free(st->probs), free(st->dlogits), free(st->imp_f), free(st->imp_d);
  }
  free(st);
}

static int ssd_check(const UnlearnSpec *s, Err *e) {
  if (!(s->ssd.alpha > 0)) return errf(e, ERR_CONFIG, "unlearn.ssd.alpha must be positive");
  if (!(s->ssd.lambda > 0)) return errf(e, ERR_CONFIG, "unlearn.ssd.lambda must be positive");
  return 0;
}

static int with_ec(const Run *r, int epoch) {
  (void)epoch;
  return r->ec_on;
}

const UnlearnMethodDef method_ssd = {
    .name = "ssd",
    .ec_alone = 1,
    .n_phases = 1,
    .phase = {{.name = "ec",
               .drive = DRIVE_FORGET,
               .extra = EXTRA_RPF_B,
               .ec_cu = 1,
               .ec_ce = 1,
               .active = with_ec}},
    .check = ssd_check,
    .init = ssd_init,
    .free = ssd_free,
    .before = ssd_dampen,
};
