// linear.c: fully connected layer, PyTorch's nn.Linear. One sgemm per product.
//
// Shapes: in, din [B, D]; w, dw [O, D]; bias, dbias [O]; out, dout [B, O].
#include <cblas.h>

#include "layers.h"

// (The input width is D here, not the header's I: cblas.h pulls in complex.h, which defines I.)

// out [B,O] = in [B,D] · w [O,D]ᵀ + bias [O].
void linear_forward(float *out, const float *in, const float *w, const float *bias, int B, int D,
                    int O) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, O, D, 1.0f, in, D, w, D, 0.0f, out, O);
  if (!bias) return;
  for (int b = 0; b < B; b++) {
    float *o = out + (size_t)b * O;
    for (int j = 0; j < O; j++) o[j] += bias[j];
  }
}

// din [B,D] += dout [B,O] · w [O,D]; dw [O,D] += doutᵀ · in; dbias [O] += Σ_b dout.
void linear_backward(float *din, float *dw, float *dbias, const float *dout, const float *in,
                     const float *w, int B, int D, int O) {
  if (din)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, D, O, 1.0f, dout, O, w, D, 1.0f, din,
                D);
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, O, D, B, 1.0f, dout, O, in, D, 1.0f, dw, D);
  if (!dbias) return;
  for (int b = 0; b < B; b++) {
    const float *d = dout + (size_t)b * O;
    for (int j = 0; j < O; j++) dbias[j] += d[j];
  }
}
