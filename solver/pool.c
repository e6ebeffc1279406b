// pool.c: max pooling (kernel k, stride s, padding p, floor mode) and global average pooling.
//
// Shapes: maxpool in, din [B, H, W, C]; out, dout, argmax [B, OH, OW, C] with
// OH = (H + 2p - k)/s + 1, OW = (W + 2p - k)/s + 1; avgpool in, din [B, HW, C]; out, dout [B, C].
// Padded cells are outside the image and never win (PyTorch pads with -inf); p <= k/2, as
// PyTorch requires, so every window holds at least one pixel of the image.
// The loops run over output pixels with the inner loop over contiguous channels.
#include "layers.h"

void maxpool_forward(float *out, int32_t *argmax, const float *in, int B, int H, int W, int C,
                     int k, int s, int p) {
  const int OH = (H + 2 * p - k) / s + 1, OW = (W + 2 * p - k) / s + 1;
  for (int b = 0; b < B; b++) {
    const float *img = in + (size_t)b * H * W * C;
    for (int oh = 0; oh < OH; oh++) {
      // the window's rows and columns inside the image: [h0, h1) x [w0, w1)
      const int h0 = oh * s - p < 0 ? 0 : oh * s - p;
      const int h1 = oh * s - p + k > H ? H : oh * s - p + k;
      for (int ow = 0; ow < OW; ow++) {
        const int w0 = ow * s - p < 0 ? 0 : ow * s - p;
        const int w1 = ow * s - p + k > W ? W : ow * s - p + k;
        const size_t at = (((size_t)b * OH + oh) * OW + ow) * C;
        float *restrict best = out + at;
        int32_t *restrict arg = argmax + at;
        // Start from the window's first pixel in the image; later ones replace it only when
        // strictly larger, so ties keep the first maximum (as PyTorch does). A NaN replaces
        // anything, so it propagates (also as PyTorch).
        const int32_t first = (int32_t)(h0 * W + w0);
        const float *x0 = img + (size_t)first * C;
        for (int c = 0; c < C; c++) {
          best[c] = x0[c];
          arg[c] = first;
        }
        for (int i = h0; i < h1; i++) {
          for (int j = w0; j < w1; j++) {
            if (i == h0 && j == w0) continue;
            const int32_t idx = (int32_t)(i * W + j);
            const float *restrict x = img + (size_t)idx * C;
            for (int c = 0; c < C; c++) {
              const int take = x[c] > best[c] || x[c] != x[c];
              best[c] = take ? x[c] : best[c];
              arg[c] = take ? idx : arg[c];
            }
          }
        }
      }
    }
  }
}

void maxpool_backward(float *din, const float *dout, const int32_t *argmax, int B, int H, int W,
                      int C, int k, int s, int p) {
  const int OH = (H + 2 * p - k) / s + 1, OW = (W + 2 * p - k) / s + 1;
  for (int b = 0; b < B; b++) {
    float *img = din + (size_t)b * H * W * C;
    for (size_t o = 0; o < (size_t)OH * OW; o++) {
      const size_t at = ((size_t)b * OH * OW + o) * C;
      const float *d = dout + at;
      const int32_t *arg = argmax + at;
      for (int c = 0; c < C; c++) img[(size_t)arg[c] * C + c] += d[c];
    }
  }
}

void avgpool_forward(float *out, const float *in, int B, int HW, int C) {
  const float inv = 1.0f / (float)HW;
  for (int b = 0; b < B; b++) {
    float *restrict o = out + (size_t)b * C;
    const float *x = in + (size_t)b * HW * C;
    for (int c = 0; c < C; c++) o[c] = 0.0f;
    for (int p = 0; p < HW; p++) {
      const float *restrict xr = x + (size_t)p * C;
      for (int c = 0; c < C; c++) o[c] += xr[c];
    }
    for (int c = 0; c < C; c++) o[c] *= inv;
  }
}

void avgpool_backward(float *din, const float *dout, int B, int HW, int C) {
  const float inv = 1.0f / (float)HW;
  for (int b = 0; b < B; b++) {
    const float *restrict d = dout + (size_t)b * C;
    float *dx = din + (size_t)b * HW * C;
    for (int p = 0; p < HW; p++) {
      float *restrict dr = dx + (size_t)p * C;
      for (int c = 0; c < C; c++) dr[c] += d[c] * inv;
    }
  }
}
