// m_losses.c: the base methods' losses on a step's logits (EC.md "Base methods"), each a mean
// over the global rows it covers, its gradient added into r->dlogits [n, K].
//
//   ft, l1sparse  CE(retain)                      (l1sparse's α‖θ‖₁ is added in the step)
//   ga            −CE(forget)
//   neggrad+      α·CE(retain) − (1−α)·CE(forget)
//   rl, salun     CE over the batch, forget rows with their random labels (r->target)
//   bs            CE(forget) to the FGSM labels (r->target)
//   cu            λ_cu·L_cu(normalised pooled last features) + λ_ce·CE(retain)
//   scrub max     −KL(teacher‖student) on forget rows, at temperature T, × T²
//   scrub min     γ·CE(retain) + α·KL(teacher‖student)(retain) × T²
// SCRUB's KL is its DistillKL: Σ_k p_t (log p_t − log p_s) with p = softmax(logits/T), times T²,
// averaged over rows; its gradient in the student's logits is T·(p_s − p_t) per row.
#include <math.h>
#include <string.h>

#include "contrastive.h"
#include "dist.h"
#include "run.h"

// Local Σ CE over rows [a, a+cnt) to targets t; adds scale·(p − onehot) into dlogits.
static double ce_rows(Run *r, int a, int cnt, const int32_t *t, float scale) {
  if (cnt <= 0) return 0.0;
  const int K = r->m.spec.num_classes;
  const float *logits = model_logits(&r->m) + (size_t)a * K;
  double s = softmax_xent_forward(r->probs, logits, t + a, cnt, K);
  softmax_xent_backward(r->dlogits + (size_t)a * K, r->probs, t + a, cnt, K, scale);
  return s;
}

// Local Σ T²·KL(teacher‖student) over rows [a, a+cnt); adds scale·T·(p_s − p_t) into dlogits.
static double kl_rows(Run *r, int a, int cnt, float T, float scale) {
  const int K = r->m.spec.num_classes;
  double total = 0.0;
  for (int i = a; i < a + cnt; i++) {
    const float *s = model_logits(&r->m) + (size_t)i * K, *t = r->tlogits + (size_t)i * K;
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

static void sum2(MPI_Comm comm, double *a, double *b) {
  double v[2] = {*a, *b};
  int n = 1;
  if (comm != MPI_COMM_NULL) MPI_Comm_size(comm, &n);
  if (n > 1) MPI_Allreduce(MPI_IN_PLACE, v, 2, MPI_DOUBLE, MPI_SUM, comm);
  *a = v[0], *b = v[1];
}

// cu's contrastive part at the last point: z = normalise(avgpool(h_L)) of every row, gathered;
// its gradient goes back through the normalisation and the pooling into dpoints[L].
static int cu_last(Run *r, double *loss, Err *e) {
  Model *m = &r->m;
  const RowSplit *rs = &r->rs;
  const int L = m->n_points - 1, n = rs->nf + rs->nr;
  int h, w, c;
  const float *x = model_point(m, L, &h, &w, &c);
  avgpool_forward(r->chs, x, n, h * w, c);
  l2norm_forward(r->cz, r->cnorm, r->chs, n, c);
  gather_rows(rs, r->cz, c, r->czg);
  gather_labels(rs, r->y, r->cyg);
  memset(r->cdzg, 0, (size_t)(rs->gf + rs->gr) * c * sizeof(float));
  ContrastiveSpec cs = {.tau = r->spec->cu.temperature, .eps = r->spec->ec.log_eps};
  const size_t off = (size_t)rs->gf * c;
  int rc = contrastive_loss(r->czg, r->cyg, rs->gf, r->czg + off, r->cyg + rs->gf, rs->gr, NULL, c,
                            &cs, r->spec->cu.lambda_cu, loss, r->cdzg, r->cdzg + off, NULL, e);
  if (rc) return rc;
  memset(r->cdz, 0, (size_t)n * c * sizeof(float));
  add_own_rows(rs, r->cdzg, c, r->cdz);
  float *dhs = r->chs;  // the pooled features are no longer needed: reuse for their gradient
  memset(dhs, 0, (size_t)n * c * sizeof(float));
  l2norm_backward(dhs, r->cdz, r->cz, r->cnorm, n, c);
  avgpool_backward(r->dpoints[L], dhs, n, h * w, c);
  return 0;
}

int base_loss(Run *r, const Phase *ph, double *loss, Err *e) {
  const UnlearnSpec *s = r->spec;
  const int nf = r->rs.nf, nr = r->rs.nr, gf = r->rs.gf, gr = r->rs.gr;
  const float inv_f = gf ? 1.0f / gf : 0.0f, inv_r = gr ? 1.0f / gr : 0.0f;
  double lf = 0.0, lr = 0.0;  // local sums, then global
  *loss = 0.0;
  switch (ph->loss) {
    case BASE_NONE:
      return 0;
    case BASE_CE_RETAIN:
      lr = ce_rows(r, nf, nr, r->y, inv_r);
      *loss = dist_sum(r->comm, lr) * inv_r;
      return 0;
    case BASE_GA:
      lf = ce_rows(r, 0, nf, r->y, -inv_f);
      *loss = -dist_sum(r->comm, lf) * inv_f;
      return 0;
    case BASE_NEGGRAD_PLUS: {
      const float a = s->neggrad_plus.alpha;
      lf = ce_rows(r, 0, nf, r->y, -(1.0f - a) * inv_f);
      lr = ce_rows(r, nf, nr, r->y, a * inv_r);
      sum2(r->comm, &lf, &lr);
      *loss = a * lr * inv_r - (1.0 - a) * lf * inv_f;
      return 0;
    }
    case BASE_CE_TARGETS: {
      const float inv = 1.0f / (float)(gf + gr);
      lf = ce_rows(r, 0, nf + nr, r->target, inv);
      *loss = dist_sum(r->comm, lf) * inv;
      return 0;
    }
    case BASE_BS:
      lf = ce_rows(r, 0, nf, r->target, inv_f);
      *loss = dist_sum(r->comm, lf) * inv_f;
      return 0;
    case BASE_SCRUB_MAX:
      lf = kl_rows(r, 0, nf, s->scrub.temperature, -inv_f);
      *loss = -dist_sum(r->comm, lf) * inv_f;
      return 0;
    case BASE_SCRUB_MIN:
      lr = ce_rows(r, nf, nr, r->y, s->scrub.gamma * inv_r);
      lf = kl_rows(r, nf, nr, s->scrub.temperature, s->scrub.alpha * inv_r);  // on retain rows
      sum2(r->comm, &lr, &lf);
      *loss = (s->scrub.gamma * lr + s->scrub.alpha * lf) * inv_r;
      return 0;
    case BASE_CU: {
      double lcu = 0.0;
      if (gf > 0 && gr > 0) {
        int rc = cu_last(r, &lcu, e);
        if (rc) return rc;
      }
      lr = ce_rows(r, nf, nr, r->y, s->cu.lambda_ce * inv_r);
      *loss = s->cu.lambda_cu * lcu + s->cu.lambda_ce * dist_sum(r->comm, lr) * inv_r;
      return 0;
    }
  }
  return 0;
}
