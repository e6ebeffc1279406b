// pool.c: max pooling (kernel k, stride s, no padding, floor mode) and global average pooling.
//
// Shapes: maxpool in, din [B, H, W, C]; out, dout, argmax [B, OH, OW, C] with
// OH = (H - k)/s + 1, OW = (W - k)/s + 1; avgpool in, din [B, HW, C]; out, dout [B, C].
// The loops run over output pixels with the inner loop over contiguous channels.
#include "layers.h"

void maxpool_forward(float *out, int32_t *argmax, const float *in, int B, int H, int W, int C,
                     int k, int s) {
  const int OH = (H - k) / s + 1, OW = (W - k) / s + 1;
  for (int b = 0; b < B; b++) {
    const float *img = in + (size_t)b * H * W * C;
    for (int oh = 0; oh < OH; oh++) {
      for (int ow = 0; ow < OW; ow++) {
        const size_t at = (((size_t)b * OH + oh) * OW + ow) * C;
        float *restrict best = out + at;
        int32_t *restrict arg = argmax + at;
        // Start from the window's first element; later ones replace it only when strictly
        // larger, so ties keep the first maximum (as PyTorch does). A NaN replaces anything,
        // so it propagates (also as PyTorch).
        const int32_t first = (int32_t)(oh * s * W + ow * s);
        const float *x0 = img + (size_t)first * C;
        for (int c = 0; c < C; c++) {
          best[c] = x0[c];
          arg[c] = first;
        }
        for (int i = 0; i < k; i++) {
          for (int j = 0; j < k; j++) {
            if (i == 0 && j == 0) continue;
            const int32_t idx = (int32_t)((oh * s + i) * W + ow * s + j);
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
                      int C, int k, int s) {
  const int OH = (H - k) / s + 1, OW = (W - k) / s + 1;
  for (int b = 0; b < B; b++) {
    float *img = din + (size_t)b * H * W * C;
    for (size_t p = 0; p < (size_t)OH * OW; p++) {
      const size_t at = ((size_t)b * OH * OW + p) * C;
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
