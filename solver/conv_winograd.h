// conv_winograd.h: Winograd F(2x2, 3x3) and F(4x4, 3x3) convolution, the fast paths of conv.c
// for 3x3 pad-1 convs with groups 1, stride 1 or 2 (internal to conv.c; layers.h has the API).
// m is the output tile size: 2 or 4 (stride 2: 2).
#pragma once

#include <stddef.h>

#include "layers.h"

// 1 if Winograd with m x m output tiles can serve this shape: 3x3 kernel, pad 1, groups 1, and
// stride 1 (m = 2, 4) or stride 2 (m = 2).
int wg_applicable(const ConvShape *s, int m);
// Floats of scratch the three functions below need for this shape and tile size.
size_t wg_scratch_floats(const ConvShape *s, int m);
// Floating-point operations (2 per multiply-add) of the matrix products of wg_forward (forward
// = 1: tiles x n² x C x Op) or of one backward product (0: tiles x n² x O x Cp; Cp, Op: C, O
// rounded up to 16).
double wg_product_flops(const ConvShape *s, int m, int forward);
// Tiles per block: of wg_forward and wg_backward_data (weight = 0), of wg_backward_weight (1).
int wg_block_tiles(const ConvShape *s, int m, int weight);
// out [B,H,W,O] = conv(in, w) + bias (bias may be NULL).
void wg_forward(float *out, const float *in, const float *w, const float *bias, const ConvShape *s,
                float *scratch, int m);
// din [B,H,W,C] += the input gradient of Σ out·dout.
void wg_backward_data(float *din, const float *dout, const float *w, const ConvShape *s,
                      float *scratch, int m);
// dw [O,C,3,3] += the weight gradient of Σ out·dout.
void wg_backward_weight(float *dw, const float *dout, const float *in, const ConvShape *s,
                        float *scratch, int m);
