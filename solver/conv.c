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
// Where conv_gemm.c's AVX-512 micro-kernel serves the shape (groups 1, at most 16 taps, O a
// multiple of 16; for the input gradient C one too), the im2col products run on it instead of
// OpenBLAS: a little faster than OpenBLAS's SkylakeX kernel, twice its Haswell one (which
// OPENBLAS_CORETYPE=Haswell selects on this AVX-512 machine). The weight layouts then differ
// (see "the products on conv_gemm.c's micro-kernel" below).
//
// 3x3 pad-1 convs of stride 1 or 2 with groups 1 and at least 16 channels in and out go to
// Winograd instead (conv_winograd.c), product by product, where measured faster (conv_algo).
//
// Scratch layout (general case): wt [O*K] | dwt [O*K] | col [chunk*P*G*K]; Winograd's
// (wg_scratch_floats) where larger.
#include <cblas.h>
#include <string.h>

#include "conv_gemm.h"
#include "conv_winograd.h"
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
  size_t n = 2 * wt + (size_t)conv_chunk_samples(s) * col_floats_per_sample(s);
  if (wg_applicable(s, 2) && wg_scratch_floats(s, 2) > n) n = wg_scratch_floats(s, 2);
  if (wg_applicable(s, 4) && wg_scratch_floats(s, 4) > n) n = wg_scratch_floats(s, 4);
  return n;
}

// ----------------------------------------------------------------------------------------------
// algorithm choice

static int tile_size(ConvAlgo algo) {
  return algo == CONV_WINOGRAD2 ? 2 : 4;
}

int conv_winograd_applicable(const ConvShape *s, ConvAlgo algo) {
  return (algo == CONV_WINOGRAD2 || algo == CONV_WINOGRAD4) && wg_applicable(s, tile_size(algo));
}

int conv_winograd_block_tiles(const ConvShape *s, ConvAlgo algo, ConvPass pass) {
  return wg_block_tiles(s, algo == CONV_WINOGRAD2 ? 2 : 4, pass == CONV_PASS_WEIGHT);
}

// Measured per shape on this machine (AMD Zen 5, one core and two at once, batch 32-64): the
// F(2x2) forward beats im2col by 1.2-2x wherever C and O are at least 16; the F(4x4) gradients
// beat it by 2-3x, except the input gradient on tiny images with wide layers (4x4, 512
// channels), where F(2x2)'s smaller transformed kernels (16*C*O floats, against 36*C*O, made
// and read once per call) make it as fast or faster. Stride 2 (F(2x2) only) beats im2col by
// 1.15-1.4x on each product of ResNet's downsampling convs. On AMD Zen 4 (ResNet-18's shapes,
// batch 32, one core) the same choices hold: F(2x2) forward 1.7-2x, F(4x4) gradients 2.5-3x,
// stride 2 1.1-1.4x (its 8x8x256->512 conv within noise of im2col).
ConvAlgo conv_algo(const ConvShape *s, ConvPass pass) {
  // Without AVX-512 the micro-kernel is the portable one, slower than OpenBLAS.
  if (!wg_applicable(s, 2) || !cg_fast()) return CONV_IM2COL;
  if (s->C < 16 || s->O < 16) return CONV_IM2COL;  // mostly padding in the 16-channel vectors
  if (pass == CONV_PASS_FORWARD || s->stride == 2) return CONV_WINOGRAD2;
  if (pass == CONV_PASS_DATA && s->OH * s->OW <= 16 && (long)s->C * s->O >= 256L * 256)
    return CONV_WINOGRAD2;
  return CONV_WINOGRAD4;
}

double conv_product_flops(const ConvShape *s, ConvPass pass) {
  const ConvAlgo algo = conv_algo(s, pass);
  if (algo != CONV_IM2COL) return wg_product_flops(s, tile_size(algo), pass == CONV_PASS_FORWARD);
  return 2.0 * s->B * s->OH * s->OW * s->O * (s->C / s->groups) * s->KH * s->KW;
}

// The algorithm to run: algo, or conv_algo's choice for CONV_AUTO, or im2col where Winograd
// cannot serve the shape.
static ConvAlgo resolve(ConvAlgo algo, const ConvShape *s, ConvPass pass) {
  if (algo == CONV_AUTO) return conv_algo(s, pass);
  return conv_winograd_applicable(s, algo) ? algo : CONV_IM2COL;
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
// the products on conv_gemm.c's micro-kernel (where it is the AVX-512 one) instead of OpenBLAS:
// groups 1 and at most 16 taps; the forward and weight products have the O outputs as their
// vector side (O a multiple of 16), the data product the K = T*C columns (C a multiple of 16).
// The weight layouts they read and write, made with 16 x 16 transposes:
//   forward: wp = w as [K][O] (k = t*C + c), in panels of 64 columns ([O/64][K][64]);
//   data:    wt = w as [O][K] (weight_to_taps's layout);
//   weight:  dwt = dw as [K][O].

static int own_gemm(const ConvShape *s) {
  return cg_fast() && s->groups == 1 && s->O % 16 == 0 && s->KH * s->KW <= 16;
}

static int own_gemm_data(const ConvShape *s) {
  return own_gemm(s) && s->C % 16 == 0;
}

static void weight_panels(float *wp, const float *w, int O, int C, int T) {
  const int K = T * C;
  for (int o0 = 0; o0 < O; o0 += 16) {
    const int p = o0 / CG_PANEL, width = O - p * CG_PANEL < CG_PANEL ? O - p * CG_PANEL : CG_PANEL;
    float *panel = wp + (size_t)p * CG_PANEL * K + (o0 - p * CG_PANEL);
    // row k = t*C + c of the panel gets w[o0..o0+15, c, t]
    for (int c = 0; c < C; c++)
      cg_transpose(panel + (size_t)c * width, (ptrdiff_t)C * width, w + ((size_t)o0 * C + c) * T,
                   (ptrdiff_t)C * T, 16, T, 0);
  }
}

static void weight_rows(float *wt, const float *w, int O, int C, int T) {
  const size_t K = (size_t)T * C;
  for (int o = 0; o < O; o++)
    for (int c0 = 0; c0 < C; c0 += 16)  // wt[o, t*C + c0 + l] = w[o, c0 + l, t]
      cg_transpose(wt + o * K + c0, C, w + ((size_t)o * C + c0) * T, T, 16, T, 0);
}

// dw [O, C, T] += dwk [T*C, O], the weight gradient as the product makes it: K = T*C rows by
// O columns, so that the micro-kernel's vectors run along O and its blocks of 6 rows along K
// (9C rows: no partial block for an even C).
static void weight_cols_grad_add(float *dw, const float *dwk, int O, int C, int T) {
  for (int o0 = 0; o0 < O; o0 += 16)
    for (int c = 0; c < C; c++)  // dw[o0 + k, c, t] += dwk[t*C + c, o0 + k]
      cg_transpose(dw + ((size_t)o0 * C + c) * T, (ptrdiff_t)C * T, dwk + (size_t)c * O + o0,
                   (ptrdiff_t)C * O, T, 16, 1);
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
  conv_forward_algo(out, in, w, bias, s, scratch, CONV_AUTO);
}

void conv_forward_algo(float *out, const float *in, const float *w, const float *bias,
                       const ConvShape *s, float *scratch, ConvAlgo algo) {
  algo = resolve(algo, s, CONV_PASS_FORWARD);
  if (algo != CONV_IM2COL) {
    wg_forward(out, in, w, bias, s, scratch, tile_size(algo));
    return;
  }
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
  const int own = own_gemm(s);
  if (own)
    weight_panels(wt, w, s->O, s->C, T);
  else
    weight_to_taps(wt, w, s->O, Cg, T);
  const int chunk = conv_chunk_samples(s);
  for (int b0 = 0; b0 < s->B; b0 += chunk) {
    const int nb = s->B - b0 < chunk ? s->B - b0 : chunk;
    float *out_chunk = out + (size_t)b0 * P * s->O;
    im2col(col, in + (size_t)b0 * s->H * s->W * s->C, nb, s);
    if (own)
      cg_gemm_nn(out_chunk, s->O, col, K, wt, 0, 1, nb * (int)P, K, s->O, 0);
    else
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
  conv_backward_algo(din, dw, dbias, dout, in, w, s, scratch, CONV_AUTO, CONV_AUTO);
}

// The im2col backward: din (may be NULL) and dw (may be NULL) together, one im2col per chunk.
static void im2col_backward(float *din, float *dw, const float *dout, const float *in,
                            const float *w, const ConvShape *s, float *scratch);

void conv_backward_algo(float *din, float *dw, float *dbias, const float *dout, const float *in,
                        const float *w, const ConvShape *s, float *scratch, ConvAlgo data_algo,
                        ConvAlgo weight_algo) {
  const size_t P = (size_t)s->OH * s->OW;
  if (dbias) {
    // dbias [O] += Σ_rows dout; the inner loop runs over contiguous channels.
    for (size_t r = 0; r < (size_t)s->B * P; r++) {
      const float *d = dout + r * s->O;
      for (int o = 0; o < s->O; o++) dbias[o] += d[o];
    }
  }
  data_algo = resolve(data_algo, s, CONV_PASS_DATA);
  weight_algo = resolve(weight_algo, s, CONV_PASS_WEIGHT);
  const int wg_data = din && data_algo != CONV_IM2COL, wg_weight = dw && weight_algo != CONV_IM2COL;
  if (wg_weight) wg_backward_weight(dw, dout, in, s, scratch, tile_size(weight_algo));
  if (wg_data) wg_backward_data(din, dout, w, s, scratch, tile_size(data_algo));
  if ((dw && !wg_weight) || (din && !wg_data))
    im2col_backward(wg_data ? NULL : din, wg_weight ? NULL : dw, dout, in, w, s, scratch);
}

static void im2col_backward(float *din, float *dw, const float *dout, const float *in,
                            const float *w, const ConvShape *s, float *scratch) {
  const int T = s->KH * s->KW, Cg = s->C / s->groups, K = T * Cg;
  const size_t P = (size_t)s->OH * s->OW;
  if (is_pointwise(s)) {
    const int rows = s->B * s->H * s->W;
    if (dw) gemm_groups_dweight(dw, dout, in, s->C, rows, K, s);
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
    if (dw)
      for (int c = 0; c < C; c++)
        for (int t = 0; t < T; t++) dw[(size_t)c * T + t] += dwt[(size_t)t * C + c];
    return;
  }
  float *wt = scratch, *dwt = scratch + (size_t)s->O * K, *col = scratch + 2 * (size_t)s->O * K;
  const int own = own_gemm(s), own_data = own_gemm_data(s);
  if (din) {
    if (own_data)
      weight_rows(wt, w, s->O, s->C, T);
    else
      weight_to_taps(wt, w, s->O, Cg, T);
  }
  if (dw) memset(dwt, 0, sizeof(float) * s->O * K);
  const int chunk = conv_chunk_samples(s);
  for (int b0 = 0; b0 < s->B; b0 += chunk) {
    const int nb = s->B - b0 < chunk ? s->B - b0 : chunk;
    const int rows = nb * (int)P;
    const size_t in_off = (size_t)b0 * s->H * s->W * s->C;
    const float *dout_chunk = dout + (size_t)b0 * P * s->O;
    if (dw) {
      im2col(col, in + in_off, nb, s);
      if (own)
        cg_gemm_tn(dwt, s->O, col, K, dout_chunk, s->O, rows, K, s->O, 1);  // dwt [K, O]
      else
        gemm_groups_dweight(dwt, dout_chunk, col, T * s->C, rows, K, s);
    }
    if (din) {  // col := dcol
      if (own_data)
        cg_gemm_nn(col, K, dout_chunk, s->O, wt, K, 0, rows, s->O, K, 0);
      else
        gemm_groups_dinput(col, T * s->C, 0.0f, dout_chunk, wt, rows, K, s);
      col2im_add(din + in_off, col, nb, s);
    }
  }
  if (dw) {
    if (own)
      weight_cols_grad_add(dw, dwt, s->O, s->C, T);
    else
      taps_grad_add(dw, dwt, s->O, Cg, T);
  }
}
