// contrastive.c: see contrastive.h.
//
// Shapes: A [na, D], C [nc, D] (the embeddings in double), S and G [na, nc] (similarities and
// d(loss)/d(similarity)), go [na] (the same for the extra negative zo).
#include "contrastive.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>

static int in_pos(const ContrastiveSpec *cs, int32_t yi, int32_t yj) {
  return (yi == yj) == (cs->pos_same_class != 0);
}

int contrastive_loss(const float *za, const int32_t *ya, int na, const float *zc, const int32_t *yc,
                     int nc, const float *zo, int D, const ContrastiveSpec *cs, float scale,
                     double *loss, float *dza, float *dzc, int *n_valid, Err *e) {
  *loss = 0.0;
  if (n_valid) *n_valid = 0;
  // Anchors with positives: the denominator of the mean.
  int valid = 0;
  for (int i = 0; i < na; i++) {
    int npos = 0;
    for (int j = 0; j < nc && !npos; j++)
      npos += !(cs->exclude_self && j == i) && in_pos(cs, ya[i], yc[j]);
    valid += npos > 0;
  }
  if (n_valid) *n_valid = valid;
  if (valid == 0) return 0;

  const size_t nA = (size_t)na * D, nC = (size_t)nc * D, nS = (size_t)na * nc;
  double *A = malloc(nA * sizeof(double)), *C = malloc(nC * sizeof(double));
  double *S = malloc(nS * sizeof(double)), *G = calloc(nS, sizeof(double));
  double *go = calloc((size_t)na, sizeof(double));
  double *dA = malloc(nA * sizeof(double)), *dC = malloc(nC * sizeof(double));
  if (!A || !C || !S || !G || !go || !dA || !dC) {
    free(A), free(C), free(S), free(G), free(go), free(dA), free(dC);
    return errf(e, ERR_RUNTIME, "contrastive loss: out of memory for %d x %d embeddings", na, nc);
  }
  for (size_t t = 0; t < nA; t++) A[t] = za[t];
  for (size_t t = 0; t < nC; t++) C[t] = zc[t];
  const double inv_tau = 1.0 / cs->tau, eps = cs->eps, inv_valid = 1.0 / valid;
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, na, nc, D, inv_tau, A, D, C, D, 0.0, S, nc);

  double total = 0.0;
  for (int i = 0; i < na; i++) {
    const double *s = S + (size_t)i * nc;
    double *g = G + (size_t)i * nc;
    int npos = 0, nneg = 0;
    double m = -INFINITY, so = 0.0;
    if (zo) {
      for (int t = 0; t < D; t++) so += (double)za[(size_t)i * D + t] * zo[(size_t)i * D + t];
      so *= inv_tau;
      m = so;
    }
    for (int j = 0; j < nc; j++) {
      if (cs->exclude_self && j == i) continue;
      if (in_pos(cs, ya[i], yc[j])) npos++;
      if (s[j] > m) m = s[j];
    }
    if (npos == 0) continue;
    // Σ over N(i) of e^{a_in}: every exponent is <= 0, so nothing overflows whatever τ.
    // pos_lse: Σ over P(i) of e^{s_ip − mp}, mp the largest s_ip (its own shift: with N(i)
    // non-empty the overall max m may lie in N(i) and every e^{a_ip} underflow).
    double sum_neg = 0.0, sum_pos = 0.0, mp = -INFINITY, sum_pos_exp = 0.0;
    for (int j = 0; j < nc; j++) {
      if (cs->exclude_self && j == i) continue;
      int pos = in_pos(cs, ya[i], yc[j]);
      if (pos) sum_pos += s[j] - m, mp = fmax(mp, s[j]);
      if (cs->neg_all || !pos) sum_neg += exp(s[j] - m), nneg++;
    }
    if (zo) sum_neg += exp(so - m), nneg++;
    for (int j = 0; cs->pos_lse && j < nc; j++)
      if (!(cs->exclude_self && j == i) && in_pos(cs, ya[i], yc[j])) sum_pos_exp += exp(s[j] - mp);
    const double lse = nneg ? log(sum_neg + eps) : 0.0;
    total += (cs->pos_lse ? -(mp + log(sum_pos_exp / npos) - m) : -sum_pos / npos) + lse;
    // d(L)/d(s_ij), already divided by the number of valid anchors: −1/|P(i)| per positive,
    // or with pos_lse −(the positive's softmax weight e^{s_ip − mp}/Σ_P).
    const double gp = -inv_valid / npos, gn = nneg ? inv_valid / (sum_neg + eps) : 0.0;
    for (int j = 0; j < nc; j++) {
      if (cs->exclude_self && j == i) continue;
      int pos = in_pos(cs, ya[i], yc[j]);
      if (pos) g[j] += cs->pos_lse ? -inv_valid * exp(s[j] - mp) / sum_pos_exp : gp;
      if (cs->neg_all || !pos) g[j] += gn * exp(s[j] - m);
    }
    if (zo) go[i] = gn * exp(so - m);
  }
  *loss = total * inv_valid;

  // dA = G·C/τ (+ go·zo/τ), dC = Gᵀ·A/τ.
  const double k = scale * inv_tau;
  if (dza) {
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, na, D, nc, k, G, nc, C, D, 0.0, dA, D);
    for (int i = 0; i < na; i++)
      for (int t = 0; zo && t < D; t++) dA[(size_t)i * D + t] += k * go[i] * zo[(size_t)i * D + t];
  }
  if (dzc)
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, nc, D, na, k, G, nc, A, D, 0.0, dC, D);
  // Added only now: with exclude_self, dza and dzc may be the same buffer.
  if (dza)
    for (size_t t = 0; t < nA; t++) dza[t] += (float)dA[t];
  if (dzc)
    for (size_t t = 0; t < nC; t++) dzc[t] += (float)dC[t];
  free(A), free(C), free(S), free(G), free(go), free(dA), free(dC);
  return 0;
}
