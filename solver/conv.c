// conv.c: 2-D convolution, NHWC activations, OIHW weights, any kernel, stride, padding, groups.
//
// Shapes (T = KH*KW taps, G = groups, Cg = C/G, Og = O/G, K = T*Cg, P = OH*OW):
//   in   [B, H, W, C]      out  [B, OH, OW, O]      w [O, Cg, KH, KW]      bias [O]
//
// Lowering: im2col over a chunk of samples, then one sgemm per group. The column matrix of a
// chunk has one row per output pixel (b, oh, ow), laid out [g][kh][kw][cg]:
//   col [nb*P, G*K]
// so that, NHWC being channels-last, each tap of a row is a contiguous copy of Cg input floats
// (with groups = 1, a whole kernel row of KW taps is one contiguous copy of KW*C floats). The
// weight is permuted once per call into the same order, wt [O, KH, KW, Cg] = [G][Og, K], so that
//   out[:, g*Og:(g+1)*Og] = col[:, g*K:(g+1)*K] · wt[g]ᵀ
// is one sgemm (ldc = O: the output lands in NHWC directly). Backward reuses the chunk's
// column buffer: first for dwt[g] += dout[:, g]ᵀ · col[:, g], then overwritten by
// dcol[:, g] = dout[:, g] · wt[g], which col2im adds into din.
//
// Two special cases skip im2col: pointwise convs (1x1, stride 1, no padding), whose input
// already is the column matrix [B*H*W, C] and whose weight already is [G][Og, Cg]; and
// depthwise convs (groups = C = O), done directly with the inner loops over channels.
//
// Scratch layout (general case): wt [O*K] | dwt [O*K] | col [chunk*P*G*K].
#include <cblas.h>
#include <string.h>

#include "layers.h"

// Chunk size: as many samples as keep the column matrix within CONV_COL_FLOATS (4 MB, so that
// im2col's output is still in cache when sgemm packs it), but at least CONV_MIN_ROWS rows of
// output pixels (so that late layers with tiny images still give sgemm a tall matrix), and at
// least one sample. Measured on ResNet-18/CIFAR shapes, 1 thread: 4 MB beat 16 MB and 32 MB
// chunks by up to 1.4x on the 32x32 layers; the row floor helps the 4x4 layers.
#define CONV_COL_FLOATS ((size_t)1 << 20)
#define CONV_MIN_ROWS 512

ConvShape conv_shape(int B, int H, int W, int C, int O, int KH, int KW, int stride, int pad,
                     int groups) {
  ConvShape s = {.B = B,
                 .H = H,
                 .W = W,
                 .C = C,
                 .O = O,
                 .KH = KH,
                 .KW = KW,
                 .stride = stride,
                 .pad = pad,
                 .groups = groups};
  s.OH = (H + 2 * pad - KH) / stride + 1;
  s.OW = (W + 2 * pad - KW) / stride + 1;
  return s;
}

static int is_pointwise(const ConvShape *s) {
  return s->KH == 1 && s->KW == 1 && s->stride == 1 && s->pad == 0;
}

static int is_depthwise(const ConvShape *s) {
  return s->groups > 1 && s->groups == s->C && s->groups == s->O;
}

// Floats of one sample's column matrix: P rows of T*C.
static size_t col_floats_per_sample(const ConvShape *s) {
  return (size_t)s->OH * s->OW * s->KH * s->KW * s->C;
}

int conv_chunk_samples(const ConvShape *s) {
  if (is_pointwise(s) || is_depthwise(s)) return s->B > 0 ? s->B : 1;
  const size_t rows = (size_t)s->OH * s->OW;
  size_t n = CONV_COL_FLOATS / col_floats_per_sample(s);
  if (n * rows < CONV_MIN_ROWS) n = (CONV_MIN_ROWS + rows - 1) / rows;
  if (s->B > 0 && n > (size_t)s->B) n = (size_t)s->B;
  return (int)n;
}

size_t conv_scratch_floats(const ConvShape *s) {
  size_t taps = (size_t)s->KH * s->KW;
  if (is_pointwise(s)) return 0;
  if (is_depthwise(s)) return 2 * taps * s->C;  // wt [T, C] | dwt [T, C]
  size_t wt = (size_t)s->O * taps * (s->C / s->groups);
  return 2 * wt + (size_t)conv_chunk_samples(s) * col_floats_per_sample(s);
}

// ----------------------------------------------------------------------------------------------
// weight permutations

// w [O, Cg, T] -> wt [O, T, Cg].
static void weight_to_taps(float *wt, const float *w, int O, int Cg, int T) {
  for (int o = 0; o < O; o++) {
    const float *src = w + (size_t)o * Cg * T;
    float *dst = wt + (size_t)o * T * Cg;
    for (int cg = 0; cg < Cg; cg++)
      for (int t = 0; t < T; t++) dst[(size_t)t * Cg + cg] = src[(size_t)cg * T + t];
  }
}

// dw [O, Cg, T] += dwt [O, T, Cg].
static void taps_grad_add(float *dw, const float *dwt, int O, int Cg, int T) {
  for (int o = 0; o < O; o++) {
    float *dst = dw + (size_t)o * Cg * T;
    const float *src = dwt + (size_t)o * T * Cg;
    for (int cg = 0; cg < Cg; cg++)
      for (int t = 0; t < T; t++) dst[(size_t)cg * T + t] += src[(size_t)t * Cg + cg];
  }
}

// ----------------------------------------------------------------------------------------------
// im2col / col2im over a chunk of nb samples: in [nb, H, W, C] <-> col [nb*P, G*K]

// Range of kernel columns [*lo, *hi) whose input column iw0 + kw lies inside [0, W).
static void tap_range(int iw0, int KW, int W, int *lo, int *hi) {
  *lo = iw0 < 0 ? -iw0 : 0;
  *hi = W - iw0 < KW ? W - iw0 : KW;
  if (*hi < *lo) *hi = *lo;
}

static void im2col(float *col, const float *in, int nb, const ConvShape *s) {
  const int H = s->H, W = s->W, C = s->C, KH = s->KH, KW = s->KW, G = s->groups, Cg = C / G;
  const size_t row_len = (size_t)KH * KW * C, K = (size_t)KH * KW * Cg;
  float *row = col;
  for (int b = 0; b < nb; b++) {
    const float *img = in + (size_t)b * H * W * C;
    for (int oh = 0; oh < s->OH; oh++) {
      const int ih0 = oh * s->stride - s->pad;
      for (int ow = 0; ow < s->OW; ow++, row += row_len) {
        const int iw0 = ow * s->stride - s->pad;
        int lo, hi;
        tap_range(iw0, KW, W, &lo, &hi);
        for (int kh = 0; kh < KH; kh++) {
          const int ih = ih0 + kh;
          const int row_inside = ih >= 0 && ih < H;
          if (G == 1) {
            // The kernel row's KW taps are KW*C consecutive floats in both in and col.
            float *dst = row + (size_t)kh * KW * C;
            if (!row_inside) {
              memset(dst, 0, sizeof(float) * KW * C);
              continue;
            }
            memset(dst, 0, sizeof(float) * lo * C);
            if (hi > lo)
              memcpy(dst + (size_t)lo * C, img + ((size_t)ih * W + iw0 + lo) * C,
                     sizeof(float) * (hi - lo) * C);
            memset(dst + (size_t)hi * C, 0, sizeof(float) * (KW - hi) * C);
          } else {
            for (int kw = 0; kw < KW; kw++) {
              float *dst = row + (size_t)(kh * KW + kw) * Cg;
              if (!row_inside || kw < lo || kw >= hi) {
                for (int g = 0; g < G; g++) memset(dst + g * K, 0, sizeof(float) * Cg);
                continue;
              }
              const float *src = img + ((size_t)ih * W + iw0 + kw) * C;
              for (int g = 0; g < G; g++)
                memcpy(dst + g * K, src + (size_t)g * Cg, sizeof(float) * Cg);
            }
          }
        }
      }
    }
  }
}

// din [nb, H, W, C] += col2im(dcol).
static void col2im_add(float *din, const float *dcol, int nb, const ConvShape *s) {
  const int H = s->H, W = s->W, C = s->C, KH = s->KH, KW = s->KW, G = s->groups, Cg = C / G;
  const size_t row_len = (size_t)KH * KW * C, K = (size_t)KH * KW * Cg;
  const float *row = dcol;
  for (int b = 0; b < nb; b++) {
    float *img = din + (size_t)b * H * W * C;
    for (int oh = 0; oh < s->OH; oh++) {
      const int ih0 = oh * s->stride - s->pad;
      for (int ow = 0; ow < s->OW; ow++, row += row_len) {
        const int iw0 = ow * s->stride - s->pad;
        int lo, hi;
        tap_range(iw0, KW, W, &lo, &hi);
        for (int kh = 0; kh < KH; kh++) {
          const int ih = ih0 + kh;
          if (ih < 0 || ih >= H) continue;
          if (G == 1) {
            float *dst = img + ((size_t)ih * W + iw0 + lo) * C;
            const float *src = row + ((size_t)kh * KW + lo) * C;
            const size_t n = (size_t)(hi - lo) * C;
            for (size_t i = 0; i < n; i++) dst[i] += src[i];
          } else {
            for (int kw = lo; kw < hi; kw++) {
              float *dst = img + ((size_t)ih * W + iw0 + kw) * C;
              const float *src = row + (size_t)(kh * KW + kw) * Cg;
              for (int g = 0; g < G; g++)
                for (int cg = 0; cg < Cg; cg++) dst[g * Cg + cg] += src[g * K + cg];
            }
          }
        }
      }
    }
  }
}

// ----------------------------------------------------------------------------------------------
// depthwise (groups = C = O): out[b,oh,ow,c] = Σ_taps in[b,ih,iw,c] * wt[t,c]

static void depthwise_forward(float *out, const float *in, const float *wt, const float *bias,
                              const ConvShape *s) {
  const int H = s->H, W = s->W, C = s->C, KH = s->KH, KW = s->KW;
  float *o = out;
  for (int b = 0; b < s->B; b++) {
    const float *img = in + (size_t)b * H * W * C;
    for (int oh = 0; oh < s->OH; oh++) {
      const int ih0 = oh * s->stride - s->pad;
      for (int ow = 0; ow < s->OW; ow++, o += C) {
        const int iw0 = ow * s->stride - s->pad;
        int lo, hi;
        tap_range(iw0, KW, W, &lo, &hi);
        for (int c = 0; c < C; c++) o[c] = bias ? bias[c] : 0.0f;
        for (int kh = 0; kh < KH; kh++) {
          const int ih = ih0 + kh;
          if (ih < 0 || ih >= H) continue;
          for (int kw = lo; kw < hi; kw++) {
            const float *x = img + ((size_t)ih * W + iw0 + kw) * C;
            const float *wr = wt + (size_t)(kh * KW + kw) * C;
            for (int c = 0; c < C; c++) o[c] += x[c] * wr[c];
          }
        }
      }
    }
  }
}

static void depthwise_backward(float *din, float *dwt, const float *dout, const float *in,
                               const float *wt, const ConvShape *s) {
  const int H = s->H, W = s->W, C = s->C, KH = s->KH, KW = s->KW;
  const float *d = dout;
  for (int b = 0; b < s->B; b++) {
    const size_t img_off = (size_t)b * H * W * C;
    for (int oh = 0; oh < s->OH; oh++) {
      const int ih0 = oh * s->stride - s->pad;
      for (int ow = 0; ow < s->OW; ow++, d += C) {
        const int iw0 = ow * s->stride - s->pad;
        int lo, hi;
        tap_range(iw0, KW, W, &lo, &hi);
        for (int kh = 0; kh < KH; kh++) {
          const int ih = ih0 + kh;
          if (ih < 0 || ih >= H) continue;
          for (int kw = lo; kw < hi; kw++) {
            const size_t at = img_off + ((size_t)ih * W + iw0 + kw) * C;
            const size_t t = (size_t)(kh * KW + kw) * C;
            const float *x = in + at;
            float *dwr = dwt + t;
            for (int c = 0; c < C; c++) dwr[c] += d[c] * x[c];
            if (din) {
              float *dx = din + at;
              const float *wr = wt + t;
              for (int c = 0; c < C; c++) dx[c] += d[c] * wr[c];
            }
          }
        }
      }
    }
  }
}

// ----------------------------------------------------------------------------------------------
// forward

// out [rows, O] = A [rows, G*K] (row stride lda) · wt [G][Og, K]ᵀ, group by group.
static void gemm_groups_forward(float *out, const float *A, int lda, const float *wt, int rows,
                                int K, const ConvShape *s) {
  const int G = s->groups, Og = s->O / G;
  for (int g = 0; g < G; g++)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, Og, K, 1.0f, A + (size_t)g * K, lda,
                wt + (size_t)g * Og * K, K, 0.0f, out + (size_t)g * Og, s->O);
}

static void add_bias(float *out, const float *bias, size_t rows, int O) {
  for (size_t r = 0; r < rows; r++) {
    float *o = out + r * O;
    for (int j = 0; j < O; j++) o[j] += bias[j];
  }
}

void conv_forward(float *out, const float *in, const float *w, const float *bias,
                  const ConvShape *s, float *scratch) {
  const int T = s->KH * s->KW, Cg = s->C / s->groups, K = T * Cg;
  const size_t P = (size_t)s->OH * s->OW;
  if (is_pointwise(s)) {
    gemm_groups_forward(out, in, s->C, w, s->B * s->H * s->W, K, s);
    if (bias) add_bias(out, bias, (size_t)s->B * P, s->O);
    return;
  }
  if (is_depthwise(s)) {
    float *wt = scratch;  // [T, C]
    for (int c = 0; c < s->C; c++)
      for (int t = 0; t < T; t++) wt[(size_t)t * s->C + c] = w[(size_t)c * T + t];
    depthwise_forward(out, in, wt, bias, s);
    return;
  }
  float *wt = scratch, *col = scratch + 2 * (size_t)s->O * K;
  weight_to_taps(wt, w, s->O, Cg, T);
  const int chunk = conv_chunk_samples(s);
  for (int b0 = 0; b0 < s->B; b0 += chunk) {
    const int nb = s->B - b0 < chunk ? s->B - b0 : chunk;
    float *out_chunk = out + (size_t)b0 * P * s->O;
    im2col(col, in + (size_t)b0 * s->H * s->W * s->C, nb, s);
    gemm_groups_forward(out_chunk, col, T * s->C, wt, nb * (int)P, K, s);
    if (bias) add_bias(out_chunk, bias, nb * P, s->O);
  }
}

// ----------------------------------------------------------------------------------------------
// backward

// dwt [G][Og, K] += dout [rows, O]ᵀ · A [rows, G*K] (row stride lda), group by group.
static void gemm_groups_dweight(float *dwt, const float *dout, const float *A, int lda, int rows,
                                int K, const ConvShape *s) {
  const int G = s->groups, Og = s->O / G;
  for (int g = 0; g < G; g++)
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Og, K, rows, 1.0f, dout + (size_t)g * Og,
                s->O, A + (size_t)g * K, lda, 1.0f, dwt + (size_t)g * Og * K, K);
}

// dA [rows, G*K] (row stride lda) = beta*dA + dout [rows, O] · wt [G][Og, K], group by group.
static void gemm_groups_dinput(float *dA, int lda, float beta, const float *dout, const float *wt,
                               int rows, int K, const ConvShape *s) {
  const int G = s->groups, Og = s->O / G;
  for (int g = 0; g < G; g++)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, K, Og, 1.0f, dout + (size_t)g * Og,
                s->O, wt + (size_t)g * Og * K, K, beta, dA + (size_t)g * K, lda);
}

void conv_backward(float *din, float *dw, float *dbias, const float *dout, const float *in,
                   const float *w, const ConvShape *s, float *scratch) {
  const int T = s->KH * s->KW, Cg = s->C / s->groups, K = T * Cg;
  const size_t P = (size_t)s->OH * s->OW;
  if (dbias) {
    // dbias [O] += Σ_rows dout; the inner loop runs over contiguous channels.
    for (size_t r = 0; r < (size_t)s->B * P; r++) {
      const float *d = dout + r * s->O;
      for (int o = 0; o < s->O; o++) dbias[o] += d[o];
    }
  }
  if (is_pointwise(s)) {
    const int rows = s->B * s->H * s->W;
    gemm_groups_dweight(dw, dout, in, s->C, rows, K, s);
    if (din) gemm_groups_dinput(din, s->C, 1.0f, dout, w, rows, K, s);
    return;
  }
  if (is_depthwise(s)) {
    const int C = s->C;
    float *wt = scratch, *dwt = scratch + (size_t)T * C;  // [T, C] each
    for (int c = 0; c < C; c++)
      for (int t = 0; t < T; t++) wt[(size_t)t * C + c] = w[(size_t)c * T + t];
    memset(dwt, 0, sizeof(float) * T * C);
    depthwise_backward(din, dwt, dout, in, wt, s);
    for (int c = 0; c < C; c++)
      for (int t = 0; t < T; t++) dw[(size_t)c * T + t] += dwt[(size_t)t * C + c];
    return;
  }
  float *wt = scratch, *dwt = scratch + (size_t)s->O * K, *col = scratch + 2 * (size_t)s->O * K;
  weight_to_taps(wt, w, s->O, Cg, T);
  memset(dwt, 0, sizeof(float) * s->O * K);
  const int chunk = conv_chunk_samples(s);
  for (int b0 = 0; b0 < s->B; b0 += chunk) {
    const int nb = s->B - b0 < chunk ? s->B - b0 : chunk;
    const int rows = nb * (int)P;
    const size_t in_off = (size_t)b0 * s->H * s->W * s->C;
    const float *dout_chunk = dout + (size_t)b0 * P * s->O;
    im2col(col, in + in_off, nb, s);
    gemm_groups_dweight(dwt, dout_chunk, col, T * s->C, rows, K, s);
    if (din) {
      gemm_groups_dinput(col, T * s->C, 0.0f, dout_chunk, wt, rows, K, s);  // col := dcol
      col2im_add(din + in_off, col, nb, s);
    }
  }
  taps_grad_add(dw, dwt, s->O, Cg, T);
}
