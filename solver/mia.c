// mia.c: the features of the membership-inference attacks, their samples, and the default
// attack, a logistic regression (see metrics.h); SalUn's RBF SVM is mia_svm.c.
//
// Why logistic regression by default: with two features the decision is close to a threshold
// on confidence either way, a Newton fit in double is exact and deterministic in a few
// iterations, and it needs no kernel matrix over thousands of samples (docs/methods.md gives
// the SVM's cost).
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "rng.h"

enum { MIA_MAX_ITER = 100 };
static const double MIA_L2 = 1e-4;  // on the weights only: keeps separable sets finite

void mia_features(double *feat, const float *logits, const int32_t *labels, int B, int K) {
  for (int b = 0; b < B; b++) {
    const float *z = logits + (size_t)b * K;
    double mx = z[0];
    for (int k = 1; k < K; k++)
      if (z[k] > mx) mx = z[k];
    double sum = 0, wsum = 0;  // Σ e^(z-mx), Σ (z-mx) e^(z-mx)
    for (int k = 0; k < K; k++) {
      double t = exp(z[k] - mx);
      sum += t;
      wsum += (z[k] - mx) * t;
    }
    // p_k = t_k/sum; entropy = -Σ p_k log p_k = log(sum) - wsum/sum (no log of 0).
    feat[2 * b] = exp(z[labels[b]] - mx) / sum;
    feat[2 * b + 1] = log(sum) - wsum / sum;
  }
}

static double sigmoid(double t) {
  return t >= 0 ? 1 / (1 + exp(-t)) : exp(t) / (1 + exp(t));
}

// log(1 + e^t) without overflow.
static double softplus(double t) {
  return t > 0 ? t + log1p(exp(-t)) : log1p(exp(t));
}

typedef struct {
  const double *f[2];  // members, non-members
  int64_t n[2];
  const MiaAttack *a;
} FitSet;

// z-scored features of sample i of group g, with the constant 1 first: x [3].
static void design(double *x, const FitSet *s, int g, int64_t i) {
  x[0] = 1;
  for (int j = 0; j < 2; j++) x[1 + j] = (s->f[g][2 * i + j] - s->a->mean[j]) / s->a->std[j];
}

// Mean log-loss plus the L2 term at theta [3]; with grad [3] and hess [3][3] when not NULL.
static double objective(const FitSet *s, const double *theta, double *grad, double hess[3][3]) {
  double loss = 0, x[3];
  if (grad) memset(grad, 0, 3 * sizeof(double)), memset(hess, 0, 9 * sizeof(double));
  int64_t total = s->n[0] + s->n[1];
  for (int g = 0; g < 2; g++) {
    double y = g == 0;  // members are label 1
    for (int64_t i = 0; i < s->n[g]; i++) {
      design(x, s, g, i);
      double t = theta[0] + theta[1] * x[1] + theta[2] * x[2];
      loss += softplus(t) - y * t;
      if (!grad) continue;
      double p = sigmoid(t), w = p * (1 - p);
      for (int j = 0; j < 3; j++) {
        grad[j] += (p - y) * x[j];
        for (int k = 0; k < 3; k++) hess[j][k] += w * x[j] * x[k];
      }
    }
  }
  loss /= total;
  loss += 0.5 * MIA_L2 * (theta[1] * theta[1] + theta[2] * theta[2]);
  if (grad) {
    for (int j = 0; j < 3; j++) {
      grad[j] /= total;
      for (int k = 0; k < 3; k++) hess[j][k] /= total;
    }
    for (int j = 1; j < 3; j++) grad[j] += MIA_L2 * theta[j], hess[j][j] += MIA_L2;
  }
  return loss;
}

// Solves h x = g (3x3, symmetric positive definite) by Gaussian elimination with pivoting.
static int solve3(double h[3][3], double *g, double *x) {
  double a[3][4];
  for (int i = 0; i < 3; i++) {
    memcpy(a[i], h[i], 3 * sizeof(double));
    a[i][3] = g[i];
  }
  for (int c = 0; c < 3; c++) {
    int piv = c;
    for (int r = c + 1; r < 3; r++)
      if (fabs(a[r][c]) > fabs(a[piv][c])) piv = r;
    if (fabs(a[piv][c]) < 1e-300) return -1;
    for (int k = 0; k < 4; k++) {
      double t = a[c][k];
      a[c][k] = a[piv][k], a[piv][k] = t;
    }
    for (int r = c + 1; r < 3; r++) {
      double f = a[r][c] / a[c][c];
      for (int k = c; k < 4; k++) a[r][k] -= f * a[c][k];
    }
  }
  for (int c = 2; c >= 0; c--) {
    double s = a[c][3];
    for (int k = c + 1; k < 3; k++) s -= a[c][k] * x[k];
    x[c] = s / a[c][c];
  }
  return 0;
}

int mia_fit(MiaAttack *a, const double *members, int64_t n_member, const double *nonmembers,
            int64_t n_nonmember, Err *e) {
  memset(a, 0, sizeof *a);
  if (n_member <= 0 || n_nonmember <= 0)
    return errf(e, ERR_RUNTIME, "MIA needs members and non-members (got %lld and %lld)",
                (long long)n_member, (long long)n_nonmember);
  FitSet s = {{members, nonmembers}, {n_member, n_nonmember}, a};
  // Standardise over the whole fitting set; a constant feature keeps std 1 (weight ~0).
  int64_t total = n_member + n_nonmember;
  for (int j = 0; j < 2; j++) {
    double sum = 0, ss = 0;
    for (int g = 0; g < 2; g++)
      for (int64_t i = 0; i < s.n[g]; i++) sum += s.f[g][2 * i + j];
    a->mean[j] = sum / total;
    for (int g = 0; g < 2; g++)
      for (int64_t i = 0; i < s.n[g]; i++) {
        double d = s.f[g][2 * i + j] - a->mean[j];
        ss += d * d;
      }
    double sd = sqrt(ss / total);
    a->std[j] = sd > 1e-12 ? sd : 1;
  }
  // Damped Newton: halve the step until the objective does not rise.
  double theta[3] = {0, 0, 0}, grad[3], hess[3][3], step[3];
  double loss = objective(&s, theta, grad, hess);
  for (a->iterations = 0; a->iterations < MIA_MAX_ITER; a->iterations++) {
    if (solve3(hess, grad, step)) break;
    double t = 1, next[3], trial = loss;
    for (int h = 0; h < 40; h++, t *= 0.5) {
      for (int j = 0; j < 3; j++) next[j] = theta[j] - t * step[j];
      trial = objective(&s, next, NULL, NULL);
      if (trial <= loss) break;
    }
    if (!(trial <= loss)) break;
    double moved = 0;
    for (int j = 0; j < 3; j++) moved += fabs(theta[j] - next[j]), theta[j] = next[j];
    loss = objective(&s, theta, grad, hess);
    if (moved < 1e-10) break;
  }
  a->b = theta[0], a->w[0] = theta[1], a->w[1] = theta[2];
  if (!isfinite(a->b) || !isfinite(a->w[0]) || !isfinite(a->w[1]))
    return errf(e, ERR_RUNTIME, "MIA attack fit diverged");
  return 0;
}

double mia_member_prob(const MiaAttack *a, const double *feat) {
  double t = a->b;
  for (int j = 0; j < 2; j++) t += a->w[j] * (feat[j] - a->mean[j]) / a->std[j];
  return sigmoid(t);
}

double mia_efficacy(const MiaAttack *a, const double *feat, int64_t n) {
  if (n <= 0) return NAN;
  int64_t non = 0;
  for (int64_t i = 0; i < n; i++) non += mia_member_prob(a, feat + 2 * i) < 0.5;
  return (double)non / n;
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

int64_t mia_draw(int64_t *idx, int64_t n, int64_t cap, uint64_t seed, uint64_t tag) {
  int64_t N = cap > 0 && cap < n ? cap : n;
  // Partial Fisher-Yates over 0..n-1: the first N of a seeded permutation.
  int64_t *perm = malloc((size_t)(n ? n : 1) * sizeof(int64_t));
  if (!perm) return -1;
  for (int64_t i = 0; i < n; i++) perm[i] = i;
  Rng r = rng_derive(seed, RNG_METHOD, tag);
  for (int64_t i = 0; i < N; i++) {
    int64_t j = i + (int64_t)((rng_u64(&r) >> 11) * (double)(n - i) * (1.0 / 9007199254740992.0));
    if (j >= n) j = n - 1;
    int64_t t = perm[i];
    perm[i] = perm[j], perm[j] = t;
  }
  memcpy(idx, perm, (size_t)N * sizeof(int64_t));
  free(perm);
  qsort(idx, (size_t)N, sizeof(int64_t), cmp_i64);
  return N;
}
