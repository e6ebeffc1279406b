// batchnorm.c: BatchNorm2d over NHWC rows, optionally fused with the ReLU after it.
//
// Shapes: x, out, dout, din [N, C] (N = B*H*W rows); gamma, beta, mean, rstd, running stats [C];
// sums [2C] (double).
//
// Training mode is split so that the batch may be spread over ranks:
//   bn_stats -> (allreduce sums) -> bn_forward_train
//   bn_backward_stats -> (allreduce sums) -> bn_backward_apply
// Every loop over the data runs over rows with an inner loop over contiguous channels, which
// vectorises. Per-channel constants are precomputed into small stack tiles of channels (no heap
// allocation); wide layers (C > BN_TILE) simply take several passes over the rows.
#include <math.h>
#include <string.h>

#include "layers.h"

#define BN_TILE 256

// g = dout, or dout where the (post-ReLU) output is positive when the ReLU is fused.
static inline float bn_grad(float dout, float out, int relu) {
  return relu ? (out > 0.0f ? dout : 0.0f) : dout;
}

// out[n, c0+j] = (x[n, c0+j] - center[j])*scale[j] + shift[j], then ReLU if relu, j < nc.
// ReLU as "v < 0 ? 0 : v" keeps NaNs visible (as PyTorch does), so divergence is not masked.
static void normalize_rows(float *out, const float *x, const float *center, const float *scale,
                           const float *shift, int N, int C, int c0, int nc, int relu) {
  for (int n = 0; n < N; n++) {
    const float *xr = x + (size_t)n * C + c0;
    float *o = out + (size_t)n * C + c0;
    if (relu) {
      for (int j = 0; j < nc; j++) {
        const float v = (xr[j] - center[j]) * scale[j] + shift[j];
        o[j] = v < 0.0f ? 0.0f : v;
      }
    } else {
      for (int j = 0; j < nc; j++) o[j] = (xr[j] - center[j]) * scale[j] + shift[j];
    }
  }
}

// ----------------------------------------------------------------------------------------------
// training mode: forward

// The sums over rows stay in double (so that the sums of row ranges add up to the whole's, as
// data parallelism needs); the loops are written so that they vectorise.
void bn_stats(double *sums, const float *x, int N, int C) {
  double *restrict sx = sums, *restrict sxx = sums + C;
  memset(sums, 0, sizeof(double) * 2 * C);
  for (int n = 0; n < N; n++) {
    const float *restrict xr = x + (size_t)n * C;
    for (int c = 0; c < C; c++) {
      const double v = xr[c];
      sx[c] += v;
      sxx[c] += v * v;
    }
  }
}

void bn_forward_train(float *out, float *mean, float *rstd, float *running_mean, float *running_var,
                      const float *x, const float *gamma, const float *beta, const double *sums,
                      long n_total, int N, int C, float momentum, float eps, int relu) {
  const double n = (double)n_total;
  for (int c = 0; c < C; c++) {
    const double m = sums[c] / n;
    double var = sums[C + c] / n - m * m;  // biased; rounding can make it slightly negative
    if (var < 0.0) var = 0.0;
    mean[c] = (float)m;
    rstd[c] = (float)(1.0 / sqrt(var + (double)eps));
    if (running_mean) running_mean[c] = (float)((1.0 - momentum) * running_mean[c] + momentum * m);
    if (running_var) {
      const double unbiased = n_total > 1 ? var * n / (n - 1.0) : var;
      running_var[c] = (float)((1.0 - momentum) * running_var[c] + momentum * unbiased);
    }
  }
  for (int c0 = 0; c0 < C; c0 += BN_TILE) {
    const int nc = C - c0 < BN_TILE ? C - c0 : BN_TILE;
    float scale[BN_TILE];
    for (int j = 0; j < nc; j++) scale[j] = gamma[c0 + j] * rstd[c0 + j];
    normalize_rows(out, x, mean + c0, scale, beta + c0, N, C, c0, nc, relu);
  }
}

// ----------------------------------------------------------------------------------------------
// eval mode: forward

void bn_forward_eval(float *out, const float *x, const float *gamma, const float *beta,
                     const float *running_mean, const float *running_var, int N, int C, float eps,
                     int relu) {
  for (int c0 = 0; c0 < C; c0 += BN_TILE) {
    const int nc = C - c0 < BN_TILE ? C - c0 : BN_TILE;
    float scale[BN_TILE];
    for (int j = 0; j < nc; j++)
      scale[j] = (float)(gamma[c0 + j] / sqrt((double)running_var[c0 + j] + (double)eps));
    normalize_rows(out, x, running_mean + c0, scale, beta + c0, N, C, c0, nc, relu);
  }
}

// ----------------------------------------------------------------------------------------------
// training mode: backward

void bn_backward_stats(double *sums, float *dgamma, float *dbeta, const float *dout,
                       const float *out, const float *x, const float *mean, const float *rstd,
                       int N, int C, int relu) {
  double *restrict sg = sums, *restrict sgx = sums + C;
  memset(sums, 0, sizeof(double) * 2 * C);
  for (int c0 = 0; c0 < C; c0 += BN_TILE) {
    const int nc = C - c0 < BN_TILE ? C - c0 : BN_TILE;
    const float *restrict m = mean + c0, *restrict rs = rstd + c0;
    for (int n = 0; n < N; n++) {
      const size_t r = (size_t)n * C + c0;
      const float *restrict d = dout + r, *restrict xr = x + r;
      // g and g*xhat in float first (the masked select vectorises only without the doubles),
      // then the double sums.
      float g[BN_TILE], gx[BN_TILE];
      if (relu) {
        const float *restrict o = out + r;
        for (int j = 0; j < nc; j++) {
          const float dv = d[j];  // loaded unconditionally
          g[j] = o[j] > 0.0f ? dv : 0.0f;
        }
      } else {
        for (int j = 0; j < nc; j++) g[j] = d[j];
      }
      for (int j = 0; j < nc; j++) gx[j] = g[j] * ((xr[j] - m[j]) * rs[j]);
      for (int j = 0; j < nc; j++) {
        sg[c0 + j] += g[j];
        sgx[c0 + j] += (double)gx[j];
      }
    }
  }
  for (int c = 0; c < C; c++) {
    if (dgamma) dgamma[c] += (float)sgx[c];
    if (dbeta) dbeta[c] += (float)sg[c];
  }
}

void bn_backward_apply(float *din, const float *dout, const float *out, const float *x,
                       const float *mean, const float *rstd, const float *gamma, const double *sums,
                       long n_total, int N, int C, int relu) {
  if (!relu) out = dout;  // out is only read with the ReLU fused; any valid pointer will do
  if (!din) return;
  const double n = (double)n_total;
  for (int c0 = 0; c0 < C; c0 += BN_TILE) {
    const int nc = C - c0 < BN_TILE ? C - c0 : BN_TILE;
    float k[BN_TILE], mean_g[BN_TILE], mean_gx[BN_TILE];
    for (int j = 0; j < nc; j++) {
      k[j] = gamma[c0 + j] * rstd[c0 + j];
      mean_g[j] = (float)(sums[c0 + j] / n);
      mean_gx[j] = (float)(sums[C + c0 + j] / n);
    }
    const float *m = mean + c0, *rs = rstd + c0;
    for (int i = 0; i < N; i++) {
      const size_t r = (size_t)i * C + c0;
      const float *d = dout + r, *o = out + r, *xr = x + r;
      float *dx = din + r;
      for (int j = 0; j < nc; j++) {
        const float g = bn_grad(d[j], relu ? o[j] : 0.0f, relu);
        const float xhat = (xr[j] - m[j]) * rs[j];
        dx[j] += k[j] * (g - mean_g[j] - xhat * mean_gx[j]);
      }
    }
  }
}

// ----------------------------------------------------------------------------------------------
// eval mode: backward

void bn_backward_eval(float *din, float *dgamma, float *dbeta, const float *dout, const float *out,
                      const float *x, const float *gamma, const float *running_mean,
                      const float *running_var, int N, int C, float eps, int relu) {
  if (!relu) out = dout;  // out is only read with the ReLU fused; any valid pointer will do
  for (int c0 = 0; c0 < C; c0 += BN_TILE) {
    const int nc = C - c0 < BN_TILE ? C - c0 : BN_TILE;
    float istd[BN_TILE], k[BN_TILE];
    double sg[BN_TILE], sgx[BN_TILE];
    for (int j = 0; j < nc; j++) {
      istd[j] = (float)(1.0 / sqrt((double)running_var[c0 + j] + (double)eps));
      k[j] = gamma[c0 + j] * istd[j];
      sg[j] = sgx[j] = 0.0;
    }
    const float *m = running_mean + c0;
    for (int i = 0; i < N; i++) {
      const size_t r = (size_t)i * C + c0;
      const float *d = dout + r, *o = out + r, *xr = x + r;
      for (int j = 0; j < nc; j++) {
        const float g = bn_grad(d[j], relu ? o[j] : 0.0f, relu);
        sg[j] += g;
        sgx[j] += (double)g * ((xr[j] - m[j]) * istd[j]);
      }
      if (din) {
        float *dx = din + r;
        for (int j = 0; j < nc; j++) dx[j] += bn_grad(d[j], relu ? o[j] : 0.0f, relu) * k[j];
      }
    }
    for (int j = 0; j < nc; j++) {
      if (dgamma) dgamma[c0 + j] += (float)sgx[j];
      if (dbeta) dbeta[c0 + j] += (float)sg[j];
    }
  }
}
