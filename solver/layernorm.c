// layernorm.c: LayerNorm over the channels of each row (PyTorch's nn.LayerNorm(C)), as Swin
// applies it to every token of an NHWC activation: N = B*H*W rows of C channels.
//
// Shapes: x, out, dout, din [N, C]; gamma, beta, dgamma, dbeta [C]; mean, rstd [N] (saved by
// the forward for the backward). Statistics in double, the variance biased (PyTorch's).
#include <math.h>

#include "layers.h"

// out = gamma*(x - mean)*rstd + beta per row, rstd = 1/sqrt(var + eps).
void layernorm_forward(float *out, float *mean, float *rstd, const float *x, const float *gamma,
                       const float *beta, int N, int C, float eps) {
  for (int n = 0; n < N; n++) {
    const float *xr = x + (size_t)n * C;
    float *o = out + (size_t)n * C;
    double s = 0.0, s2 = 0.0;
    for (int c = 0; c < C; c++) s += xr[c];
    const double mu = s / C;
    for (int c = 0; c < C; c++) s2 += (xr[c] - mu) * (xr[c] - mu);
    const float m = (float)mu, r = (float)(1.0 / sqrt(s2 / C + eps));
    mean[n] = m, rstd[n] = r;
    for (int c = 0; c < C; c++) o[c] = gamma[c] * (xr[c] - m) * r + beta[c];
  }
}

// With xhat = (x - mean)*rstd and g = dout*gamma:
// din += rstd*(g - mean_c(g) - xhat*mean_c(g*xhat)); dgamma += Σ_n dout*xhat; dbeta += Σ_n dout.
// din may be NULL.
void layernorm_backward(float *din, float *dgamma, float *dbeta, const float *dout, const float *x,
                        const float *mean, const float *rstd, const float *gamma, int N, int C) {
  for (int n = 0; n < N; n++) {
    const float *xr = x + (size_t)n * C, *d = dout + (size_t)n * C;
    const float m = mean[n], r = rstd[n];
    double sg = 0.0, sgx = 0.0;
    for (int c = 0; c < C; c++) {
      const float xhat = (xr[c] - m) * r, g = d[c] * gamma[c];
      dgamma[c] += d[c] * xhat;
      dbeta[c] += d[c];
      sg += g, sgx += g * xhat;
    }
    if (!din) continue;
    const float mg = (float)(sg / C), mgx = (float)(sgx / C);
    float *di = din + (size_t)n * C;
    for (int c = 0; c < C; c++) di[c] += r * (d[c] * gamma[c] - mg - (xr[c] - m) * r * mgx);
  }
}
