// l2norm.c: L2 normalisation of rows, PyTorch's F.normalize(in, dim=1, eps=1e-12).
//
// Shapes: in, out, din, dout [B, D]; norms [B] (the plain norm ‖in‖, not clamped).
// out = in / max(‖in‖, eps). Where ‖in‖ >= eps, d out/d in = (I - out outᵀ)/‖in‖; below eps the
// denominator is the constant eps, so the gradient is dout/eps (PyTorch's clamp_min passes no
// gradient there). Sums of squares and dot products are taken in double, so that tiny rows
// neither underflow nor lose their direction.
#include <math.h>

#include "layers.h"

#define L2NORM_EPS 1e-12

void l2norm_forward(float *out, float *norms, const float *in, int B, int D) {
  for (int b = 0; b < B; b++) {
    const float *x = in + (size_t)b * D;
    float *o = out + (size_t)b * D;
    double ss = 0.0;
    for (int d = 0; d < D; d++) ss += (double)x[d] * x[d];
    // The float-rounded norm, so that backward sees exactly the denominator used here.
    const double norm = (float)sqrt(ss);
    norms[b] = (float)norm;
    const double inv = 1.0 / (norm > L2NORM_EPS ? norm : L2NORM_EPS);
    for (int d = 0; d < D; d++) o[d] = (float)(x[d] * inv);
  }
}

// din [B,D] += (dout - out*<out, dout>) / max(‖in‖, eps) (just dout/eps where ‖in‖ < eps).
void l2norm_backward(float *din, const float *dout, const float *out, const float *norms, int B,
                     int D) {
  for (int b = 0; b < B; b++) {
    const float *o = out + (size_t)b * D, *g = dout + (size_t)b * D;
    float *dx = din + (size_t)b * D;
    const double norm = norms[b];
    if (norm < L2NORM_EPS) {
      const float inv = (float)(1.0 / L2NORM_EPS);
      for (int d = 0; d < D; d++) dx[d] += g[d] * inv;
      continue;
    }
    double dot = 0.0;
    for (int d = 0; d < D; d++) dot += (double)o[d] * g[d];
    const double inv = 1.0 / norm;
    for (int d = 0; d < D; d++) dx[d] += (float)((g[d] - o[d] * dot) * inv);
  }
}
