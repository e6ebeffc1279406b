// patchmerge.c: the gather of Swin's patch merging (torchvision's PatchMerging before its
// LayerNorm and reduction): each 2x2 neighbourhood of tokens concatenated into one token.
//
// Shapes: in, din [B, H, W, C]; out, dout [B, OH, OW, 4C] with OH = ceil(H/2), OW = ceil(W/2)
// (an odd H or W is padded with zeros at the bottom or right, as torchvision's F.pad). Output
// channels are [x0, x1, x2, x3] with x0 = (2i, 2j), x1 = (2i+1, 2j), x2 = (2i, 2j+1),
// x3 = (2i+1, 2j+1): torchvision's order (rows before columns).
#include <string.h>

#include "layers.h"

static const int merge_dh[4] = {0, 1, 0, 1}, merge_dw[4] = {0, 0, 1, 1};

void patch_merge_forward(float *out, const float *in, int B, int H, int W, int C) {
  const int OH = (H + 1) / 2, OW = (W + 1) / 2;
  for (int b = 0; b < B; b++)
    for (int i = 0; i < OH; i++)
      for (int j = 0; j < OW; j++) {
        float *o = out + (((size_t)b * OH + i) * OW + j) * 4 * C;
        for (int q = 0; q < 4; q++) {
          const int h = 2 * i + merge_dh[q], w = 2 * j + merge_dw[q];
          if (h < H && w < W)
            memcpy(o + q * C, in + (((size_t)b * H + h) * W + w) * C, (size_t)C * sizeof(float));
          else
            memset(o + q * C, 0, (size_t)C * sizeof(float));
        }
      }
}

// din [B, H, W, C] += dout routed back to each token (padding gets nothing).
void patch_merge_backward(float *din, const float *dout, int B, int H, int W, int C) {
  const int OH = (H + 1) / 2, OW = (W + 1) / 2;
  for (int b = 0; b < B; b++)
    for (int i = 0; i < OH; i++)
      for (int j = 0; j < OW; j++) {
        const float *d = dout + (((size_t)b * OH + i) * OW + j) * 4 * C;
        for (int q = 0; q < 4; q++) {
          const int h = 2 * i + merge_dh[q], w = 2 * j + merge_dw[q];
          if (h >= H || w >= W) continue;
          float *di = din + (((size_t)b * H + h) * W + w) * C;
          for (int c = 0; c < C; c++) di[c] += d[q * C + c];
        }
      }
}
