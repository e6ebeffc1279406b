// m_common.c: loss helpers the base methods share (see method.h).
#include "dist.h"
#include "rng.h"
#include "run.h"

double ce_rows(Run *r, int a, int cnt, const int32_t *t, float scale) {
  if (cnt <= 0) return 0.0;
  const int K = r->m.spec.num_classes;
  const float *logits = model_logits(&r->m) + (size_t)a * K;
  double s = softmax_xent_forward(r->probs, logits, t + a, cnt, K);
  softmax_xent_backward(r->dlogits + (size_t)a * K, r->probs, t + a, cnt, K, scale);
  return s;
}

double kl_rows(Run *r, int a, int cnt, const float *t, float T, float scale) {
  const size_t K = (size_t)r->m.spec.num_classes;
  return distill_kl(model_logits(&r->m) + a * K, t + a * K, cnt, (int)K, T, scale,
                    r->dlogits + a * K);
}

void retain_subset(Run *r, double fraction) {
  const int64_t nf = r->fs->n_train_forget, nr = r->fs->n_train_retain;
  int64_t keep = (int64_t)(fraction * (double)nr + 0.5);
  if (keep < 1) keep = 1;
  if (keep > nr) keep = nr;
  Rng g = rng_derive(r->seed, RNG_METHOD, TAG_RETAIN_SUBSET);
  rng_shuffle(&g, r->union_idx + nf, nr);
  r->n_union = nf + keep;
}

void sum2_ranks(MPI_Comm comm, double *a, double *b) {
  double v[2] = {*a, *b};
  int n = 1;
  if (comm != MPI_COMM_NULL) MPI_Comm_size(comm, &n);
  if (n > 1) MPI_Allreduce(MPI_IN_PLACE, v, 2, MPI_DOUBLE, MPI_SUM, comm);
  *a = v[0], *b = v[1];
}

int loss_ce_retain(Run *r, double *loss, Err *e) {
  (void)e;
  const float inv_r = inv_rows(r->rs.gr);
  const double lr = ce_rows(r, r->rs.nf, r->rs.nr, r->y, inv_r);
  *loss = dist_sum(r->comm, lr) * inv_r;
  return 0;
}

int loss_ce_targets(Run *r, double *loss, Err *e) {
  (void)e;
  const float inv = 1.0f / (float)(r->rs.gf + r->rs.gr);
  const double l = ce_rows(r, 0, r->rs.nf + r->rs.nr, r->target, inv);
  *loss = dist_sum(r->comm, l) * inv;
  return 0;
}

void random_label_targets(Run *r) {
  const uint64_t seed = run_seed(r->seed, TAG_RANDOM_LABELS);
  for (int i = 0; i < r->rs.nf; i++) {
    Rng g = rng_derive(seed, (uint64_t)r->epoch, (uint64_t)r->idx[i]);
    r->target[i] = (int32_t)rng_below(&g, (uint32_t)r->m.spec.num_classes);
  }
}
