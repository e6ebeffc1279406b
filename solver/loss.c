// loss.c: softmax cross-entropy over rows of logits, and the distillation KL between two sets.
//
// Shapes: logits, probs, dlogits [B, K]; labels [B] in [0, K).
// The softmax subtracts each row's maximum before exponentiating, and the loss is taken as
// log Σ exp(z - max) - (z_y - max) in double rather than -log(probs[y]), so it stays finite and
// exact even when probs[y] underflows to 0 in float.
#include <math.h>

#include "layers.h"

int argmax_row(const float *v, int K) {
  int best = 0;
  for (int k = 1; k < K; k++)
    if (v[k] > v[best]) best = k;
  return best;
}

int count_correct(const float *logits, const int32_t *y, int B, int K) {
  int right = 0;
  for (int i = 0; i < B; i++) right += argmax_row(logits + (size_t)i * K, K) == y[i];
  return right;
}

double softmax_xent_forward(float *probs, const float *logits, const int32_t *labels, int B,
                            int K) {
  double loss = 0.0;
  for (int b = 0; b < B; b++) {
    const float *z = logits + (size_t)b * K;
    float *p = probs + (size_t)b * K;
    float zmax = z[0];
    for (int k = 1; k < K; k++) zmax = z[k] > zmax ? z[k] : zmax;
    double sum = 0.0;
    for (int k = 0; k < K; k++) {
      p[k] = expf(z[k] - zmax);
      sum += p[k];
    }
    const float inv = (float)(1.0 / sum);
    for (int k = 0; k < K; k++) p[k] *= inv;
    loss += log(sum) - ((double)z[labels[b]] - zmax);
  }
  return loss;
}

// dlogits [B,K] += scale*(probs - onehot(labels)).
void softmax_xent_backward(float *dlogits, const float *probs, const int32_t *labels, int B, int K,
                           float scale) {
  for (int b = 0; b < B; b++) {
    const float *p = probs + (size_t)b * K;
    float *d = dlogits + (size_t)b * K;
    for (int k = 0; k < K; k++) d[k] += scale * p[k];
    d[labels[b]] -= scale;
  }
}

double distill_kl(const float *s, const float *t, int B, int K, float T, float scale,
                  float *dlogits) {
  double total = 0.0;
  for (int i = 0; i < B; i++) {
    const float *si = s + (size_t)i * K, *ti = t + (size_t)i * K;
    double ms = -INFINITY, mt = -INFINITY, zs = 0.0, zt = 0.0;
    for (int k = 0; k < K; k++) ms = fmax(ms, si[k] / T), mt = fmax(mt, ti[k] / T);
    for (int k = 0; k < K; k++) zs += exp(si[k] / T - ms), zt += exp(ti[k] / T - mt);
    const double lzs = ms + log(zs), lzt = mt + log(zt);
    float *d = dlogits + (size_t)i * K;
    for (int k = 0; k < K; k++) {
      const double lps = si[k] / T - lzs, lpt = ti[k] / T - lzt, pt = exp(lpt);
      total += pt * (lpt - lps);
      d[k] += (float)(scale / T * (exp(lps) - pt));
    }
  }
  return total;
}
