// elementwise.c: ReLU, GELU, residual add (optionally fused with a ReLU), and the NCHW <-> NHWC
// layout changes.
//
// ReLU is written "v < 0 ? 0 : v" rather than fmaxf(v, 0): it compiles to the same max
// instruction, but keeps NaNs (as PyTorch does), so that a diverged run shows up in its loss
// instead of being masked to zeros.
#include <math.h>

#include "layers.h"

// ----------------------------------------------------------------------------------------------
// layout: per sample, a [C, HW] <-> [HW, C] transpose, done in square tiles so that both the
// reads and the writes stay within a few cache lines per row.

#define TRANSPOSE_TILE 32

// dst [rows, cols] = src [cols, rows]ᵀ, one sample.
static void transpose(float *restrict dst, const float *restrict src, int rows, int cols) {
  for (int r0 = 0; r0 < rows; r0 += TRANSPOSE_TILE) {
    const int r1 = rows - r0 < TRANSPOSE_TILE ? rows : r0 + TRANSPOSE_TILE;
    for (int c0 = 0; c0 < cols; c0 += TRANSPOSE_TILE) {
      const int c1 = cols - c0 < TRANSPOSE_TILE ? cols : c0 + TRANSPOSE_TILE;
      for (int r = r0; r < r1; r++)
        for (int c = c0; c < c1; c++) dst[(size_t)r * cols + c] = src[(size_t)c * rows + r];
    }
  }
}

// in [B, C, H, W] -> out [B, H, W, C].
void nchw_to_nhwc(float *out, const float *in, int B, int C, int H, int W) {
  const size_t n = (size_t)C * H * W;
  for (int b = 0; b < B; b++) transpose(out + b * n, in + b * n, H * W, C);
}

// in [B, H, W, C] -> out [B, C, H, W].
void nhwc_to_nchw(float *out, const float *in, int B, int C, int H, int W) {
  const size_t n = (size_t)C * H * W;
  for (int b = 0; b < B; b++) transpose(out + b * n, in + b * n, C, H * W);
}

// ----------------------------------------------------------------------------------------------
// relu: out [n] = max(in, 0); out may equal in.

void relu_forward(float *out, const float *in, size_t n) {
  for (size_t i = 0; i < n; i++) out[i] = in[i] < 0.0f ? 0.0f : in[i];
}

// din [n] += dout where out > 0.
void relu_backward(float *din, const float *dout, const float *out, size_t n) {
  for (size_t i = 0; i < n; i++) din[i] += out[i] > 0.0f ? dout[i] : 0.0f;
}

// ----------------------------------------------------------------------------------------------
// add: out [n] = a + b (then ReLU); out may equal a or b.

void add_forward(float *out, const float *a, const float *b, size_t n, int relu) {
  if (relu) {
    for (size_t i = 0; i < n; i++) {
      const float v = a[i] + b[i];
      out[i] = v < 0.0f ? 0.0f : v;
    }
  } else {
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
  }
}

// dst [n] += g, g = relu ? dout*(out > 0) : dout.
static void add_grad(float *dst, const float *dout, const float *out, size_t n, int relu) {
  if (relu)
    for (size_t i = 0; i < n; i++) dst[i] += out[i] > 0.0f ? dout[i] : 0.0f;
  else
    for (size_t i = 0; i < n; i++) dst[i] += dout[i];
}

// da [n] += g; db [n] += g (da, db may be NULL; out is only read when relu).
void add_backward(float *da, float *db, const float *dout, const float *out, size_t n, int relu) {
  if (da) add_grad(da, dout, out, n, relu);
  if (db) add_grad(db, dout, out, n, relu);
}

// ----------------------------------------------------------------------------------------------
// gelu, the exact (erf) form of PyTorch's nn.GELU(): out [n] = x Φ(x), Φ the normal CDF.

void gelu_forward(float *out, const float *in, size_t n) {
  for (size_t i = 0; i < n; i++)
    out[i] = 0.5f * in[i] * (1.0f + erff(in[i] * 0.70710678118654752f));
}

// din [n] += dout * (Φ(x) + x φ(x)), x = in, φ the normal density.
void gelu_backward(float *din, const float *dout, const float *in, size_t n) {
  const float inv_sqrt_2pi = 0.3989422804014327f;
  for (size_t i = 0; i < n; i++) {
    const float x = in[i];
    const float cdf = 0.5f * (1.0f + erff(x * 0.70710678118654752f));
    din[i] += dout[i] * (cdf + x * inv_sqrt_2pi * expf(-0.5f * x * x));
  }
}
