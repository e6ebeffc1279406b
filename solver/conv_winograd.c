// conv_winograd.c: Winograd F(m x m, 3x3), m = 2 or 4, for 3x3 pad-1 convs with groups 1,
// NHWC: stride 1, and stride 2 with m = 2 (see "Stride 2" below).
//
// Each m x m block of outputs ("tile") is computed from the n x n block of inputs around it
// (n = m + 2):
//   Y = Aᵀ [ U ⊙ V ] A,   V = Bᵀ d B (per input channel),   U = G g Gᵀ (per (o, c) kernel),
// where the elementwise product summed over input channels is, for each of the n² "frequencies"
// ξ, one matrix product over the tiles:  M_ξ [tiles, O] = V_ξ [tiles, C] · U_ξ [C, O].
// Multiplications per output and input channel: 9 direct, 4 with F(2x2), 2.25 with F(4x4).
// The matrices (Lavin & Gray), interpolation points 0, ±1, ∞ (m = 2) and 0, ±1, ±2, ∞ (m = 4):
//   m = 2: Bᵀ = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
//          G  = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]
//          Aᵀ = [1 1 1 0; 0 1 -1 -1]
//   m = 4: Bᵀ = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0;
//                0 4 0 -5 0 1]
//          G  = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1]
//          Aᵀ = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]
// Accuracy (float32, relative to the output's largest magnitude; tests/test_layers.c checks
// both against a double reference): F(2x2) is as accurate as the direct method (rms ~5e-8),
// F(4x4) about 5x less (rms ~3e-7 at C = 64, ~8e-7 at C = 512; largest errors ~1.5e-5). conv.c
// uses F(2x2) for the forward pass, whose values feed the discrete decisions of ReLU masks and
// max-pool argmaxes (an F(4x4) forward moves one BN output 1.5e-6 from a ReLU's kink to the
// other side in the cnn4 fixture, whose gradients then miss PyTorch's by 1%), and F(4x4) for
// the gradients, which only sum (all fixtures within 1e-4).
//
// Backward, data: the gradient of a 3x3 stride-1 pad-1 conv with respect to its input is the
// same conv of dout with the kernel rotated by 180° and its channels transposed, so it is the
// forward algorithm with U'_ξ [O, C] = G rot(g) Gᵀ, accumulated into din.
// Backward, weights: with dM = A dY Aᵀ (the adjoint of the output transform, per tile),
//   dU_ξ [O, C] = Σ_tiles dM_ξᵀ V_ξ    and    dg = Gᵀ dU G.
//
// Stride 2: a 2x2 output tile reads a 5x5 input window (windows overlap by one). Along each
// dimension the window splits into an even phase, which meets only the kernel's middle tap (2
// "frequencies", the identity), and an odd phase, which meets its outer two taps (F(2, 2), 3
// frequencies, all coefficients ±1: as accurate as the direct sum); see bt() for the
// matrices. 25 products per 2x2 outputs and input channel against 36. Forward and weight
// gradient as above (n = 5); the input gradient is not a conv of dout here, but the adjoint of
// the forward: din += B (dM U'ᵀ) Bᵀ over the (overlapping) input windows, dM = A dY Aᵀ.
//
// Layouts. Channels stay innermost everywhere, so each transform works on vectors of 16
// channels (Cp, Op: C, O rounded up to 16; padding channels hold zeros). The tiles are taken
// in blocks of consecutive tiles (t = (b*TH + th)*TW + tw over the whole batch; a block may
// split a sample), and a block's transformed tiles are frequency-major, one row-major matrix
// per frequency: V [n²][nt][Kp]. The products run on conv_gemm.c's micro-kernel, which reads
// the transformed kernels in panels of up to 64 columns, laid out [n²][panel][K][width] (K the
// summed dimension), so that no product packs anything:
//   forward  U  [n²][C][Op panels] | V [n²][tb][Cp] | M [n²][tb][Op]
//   data     U' [n²][O][Cp panels] | X [n²][tb][Op] | Y [n²][tb][Cp]
//   weight   dU [n²][O][Cp]        | X [n²][tw][Cp] | dM [n²][tw][Op]
// (each plane of n² skewed by a cache line, see skew()). Block sizes: tb tiles keep a block's V
// and M within the L2 cache with U's current panel; the weight pass sums over tw tiles, a
// larger block, in registers, between two updates of dU, the first of which sets it. Where the
// transformed kernels are too large for the caches (n²*C*O >= 2M floats: ResNet's last stage,
// 4x4 images by 512 channels) and all the tiles fit into one block, the forward and data
// products are "fused": the kernels are transformed 64 output channels at a time and used at
// once for all the tiles, rather than transformed whole into memory and read back (1.3x faster
// there).
#include "conv_winograd.h"

#include <stddef.h>
#include <string.h>
#ifdef __AVX512F__
#include <immintrin.h>
#endif

#include "conv_gemm.h"

#define WG_BLOCK_FLOATS ((size_t)1 << 17)   // V + M of a forward/data block
#define WG_BLOCK_MIN_TILES 32               // ... but at least this many tiles
#define WG_WBLOCK_FLOATS ((size_t)1 << 19)  // X + dM of a weight block
#define VL 16                               // channels per vector
#define NMAX 6                              // largest input tile
#define PANEL CG_PANEL                      // columns per panel of transformed kernels
#define MR CG_MR                            // rows per micro-kernel call
#define INLINE static inline __attribute__((always_inline))

#if !defined(__AVX512F__) && defined(__GNUC__) && !defined(__clang__)
// Without AVX-512, GCC warns that passing 64-byte vectors by value changes the ABI; they only
// pass between this file's inlined functions.
#pragma GCC diagnostic ignored "-Wpsabi"
#endif
// 16 floats; GCC/Clang vector extension (one zmm register with AVX-512, else several).
typedef float vf __attribute__((vector_size(VL * sizeof(float))));

INLINE vf vload(const float *p) {
  vf v;
  memcpy(&v, p, sizeof v);
  return v;
}
INLINE void vstore(float *p, vf v) {
  memcpy(p, &v, sizeof v);
}
// The first n (< VL) lanes from p, the others zero.
static inline vf vload_n(const float *p, int n) {
  vf v = {0};
  memcpy(&v, p, sizeof(float) * (size_t)n);
  return v;
}
static inline void vstore_n(float *p, vf v, int n) {
  memcpy(p, &v, sizeof(float) * (size_t)n);
}

static int round16(int n) {
  return (n + VL - 1) / VL * VL;
}

static int imin(int a, int b) {
  return a < b ? a : b;
}

// The stride between the n² frequency planes of a buffer holding `floats` per plane (a multiple
// of 16): made an odd number of cache lines, so that the n² vectors a transform reads or writes
// at one position of every plane fall into different L1 sets (with a stride of a multiple of
// 4 KB they would all fall into one, and evict each other).
static size_t skew(size_t floats) {
  return floats / VL % 2 ? floats : floats + VL;
}

// ----------------------------------------------------------------------------------------------
// shapes, blocks and scratch

int wg_applicable(const ConvShape *s, int m) {
  return s->KH == 3 && s->KW == 3 && s->pad == 1 && s->groups == 1 &&
         (s->stride == 1 || (s->stride == 2 && m == 2));
}

// The input window of a tile, and the number of frequencies along each dimension: n = m + 2
// (stride 1), n = 2m + 1 (stride 2).
static int window(const ConvShape *s, int m) {
  return s->stride == 1 ? m + 2 : 2 * m + 1;
}

static size_t freqs(const ConvShape *s, int m) {
  return (size_t)window(s, m) * window(s, m);
}

static int tiles_per_sample(const ConvShape *s, int m) {
  return ((s->OH + m - 1) / m) * ((s->OW + m - 1) / m);
}

static size_t total_tiles(const ConvShape *s, int m) {
  return (size_t)(s->B > 0 ? s->B : 1) * tiles_per_sample(s, m);
}

// The forward and data products are "fused" (see the header) when their transformed kernels
// (n²*C*O floats) are too large to stay in cache while a block of tiles streams past, and all
// the tiles fit into one block.
#define WG_FUSE_KERNEL_FLOATS ((size_t)1 << 21)
#define WG_FUSE_MAX_FLOATS ((size_t)1 << 23)

static int wg_fused(const ConvShape *s, int m) {
  const size_t nf = freqs(s, m), ch = (size_t)round16(s->C) + round16(s->O);
  return nf * s->C * s->O >= WG_FUSE_KERNEL_FLOATS &&
         total_tiles(s, m) * nf * ch <= WG_FUSE_MAX_FLOATS;
}

// The weight product is fused likewise when dU is that large and the transformed tiles of the
// whole batch small (it reads them once per panel of 64 input channels).
#define WG_FUSE_WEIGHT_TILE_FLOATS ((size_t)1 << 20)

static int wg_fused_weight(const ConvShape *s, int m) {
  const size_t nf = freqs(s, m);
  return nf * s->C * s->O >= WG_FUSE_KERNEL_FLOATS &&
         total_tiles(s, m) * nf * round16(s->O) <= WG_FUSE_WEIGHT_TILE_FLOATS;
}

// Tiles per block when not fused (at most all of them): a block's V and M within the budget.
static size_t unfused_block(const ConvShape *s, int m, int weight) {
  const size_t nf = freqs(s, m), ch = (size_t)round16(s->C) + round16(s->O);
  size_t budget = weight ? WG_WBLOCK_FLOATS : WG_BLOCK_FLOATS;
  // The weight pass adds each block's sums into dU: blocks at least dU's size amortise that.
  if (weight && nf * s->O * round16(s->C) > budget) budget = nf * s->O * round16(s->C);
  size_t n = budget / (nf * ch);
  if (n < WG_BLOCK_MIN_TILES) n = WG_BLOCK_MIN_TILES;
  if (!weight && n > MR) n -= n % MR;  // whole micro-kernel rows
  return n < total_tiles(s, m) ? n : total_tiles(s, m);
}

double wg_product_flops(const ConvShape *s, int m, int forward) {
  const double K = forward ? s->C : s->O, N = round16(forward ? s->O : s->C);
  return 2.0 * (double)total_tiles(s, m) * (double)freqs(s, m) * K * N;
}

int wg_block_tiles(const ConvShape *s, int m, int weight) {
  if (weight ? wg_fused_weight(s, m) : wg_fused(s, m)) return (int)total_tiles(s, m);
  return (int)unfused_block(s, m, weight);
}

size_t wg_scratch_floats(const ConvShape *s, int m) {
  const size_t Cp = (size_t)round16(s->C), Op = (size_t)round16(s->O);
  const size_t nf = freqs(s, m);
  const size_t tb = unfused_block(s, m, 0), tw = unfused_block(s, m, 1);
  size_t fwd = nf * (skew(s->C * Op) + skew(tb * Cp) + skew(tb * Op));
  size_t data = nf * (skew(s->O * Cp) + skew(tb * Op) + skew(tb * Cp));
  if (nf * s->C * s->O >= WG_FUSE_KERNEL_FLOATS) {
    // A call with fewer samples than s->B may be fused where this one is not: cover the most
    // tiles any fused call up to this batch can have.
    size_t ft = WG_FUSE_MAX_FLOATS / (nf * (Cp + Op));
    if (ft > total_tiles(s, m)) ft = total_tiles(s, m);
    const size_t blocks = skew(ft * Cp) + skew(ft * Op);
    const size_t ffwd = nf * (skew(s->C * (size_t)PANEL) + blocks);
    const size_t fdata = nf * (skew(s->O * (size_t)PANEL) + blocks);
    if (ffwd > fwd) fwd = ffwd;
    if (fdata > data) data = fdata;
  }
  size_t weight = nf * (skew(s->O * Cp) + skew(tw * Cp) + skew(tw * Op));
  if (nf * s->C * s->O >= WG_FUSE_KERNEL_FLOATS) {  // as above, for the fused weight product
    size_t ft = WG_FUSE_WEIGHT_TILE_FLOATS / (nf * Op);
    if (ft > total_tiles(s, m)) ft = total_tiles(s, m);
    const size_t fweight = nf * (skew(s->O * (size_t)PANEL) + skew(ft * Cp) + skew(ft * Op));
    if (fweight > weight) weight = fweight;
  }
  const size_t n = fwd > data ? fwd : data;
  return n > weight ? n : weight;
}

// ----------------------------------------------------------------------------------------------
// 1-D transforms on vectors of channels (n = m + 2 points)

// Stride 2 (m = 2 only): output i of a window x[0..4] (x[0] at input 2*o0 - 1) is
//   y_i = w0 x[2i] + w1 x[2i+1] + w2 x[2i+2],
// the sum of an even phase E_i = x[2i+1] with the single tap w1 (two "frequencies", the
// identity) and an odd phase O_j = x[2j] with the taps (w0, w2), done with F(2, 2) (points 0,
// 1, ∞: three frequencies, every coefficient ±1, so as accurate as the direct sum):
//   Bᵀ x = [x1, x3, x0 - x2, x2, x4 - x2],   G w = [w1, w1, w0, w0 + w2, w2],
//   Aᵀ M = [M0 + M2 + M3, M1 + M3 + M4].
// Per output and input channel: 25/4 multiplications against 9.

// t = Bᵀ d (n -> n).
INLINE void bt(vf *t, const vf *d, int m, const int st) {
  if (st == 2) {
    t[0] = d[1];
    t[1] = d[3];
    t[2] = d[0] - d[2];
    t[3] = d[2];
    t[4] = d[4] - d[2];
    return;
  }
  if (m == 2) {
    t[0] = d[0] - d[2];
    t[1] = d[1] + d[2];
    t[2] = d[2] - d[1];
    t[3] = d[1] - d[3];
    return;
  }
  const vf a = d[4] - 4.0f * d[2], b = d[3] - 4.0f * d[1];
  const vf c = d[4] - d[2], e = 2.0f * (d[3] - d[1]);
  t[0] = 4.0f * d[0] - 5.0f * d[2] + d[4];
  t[1] = a + b;
  t[2] = a - b;
  t[3] = c + e;
  t[4] = c - e;
  t[5] = 4.0f * d[1] - 5.0f * d[3] + d[5];
}

// d = B t (n -> n), the adjoint of bt (stride 2 only: the input gradient of a window).
INLINE void b_(vf *d, const vf *t) {
  d[0] = t[2];
  d[1] = t[0];
  d[2] = t[3] - t[2] - t[4];
  d[3] = t[1];
  d[4] = t[4];
}

// y = Aᵀ x (n -> m).
INLINE void at(vf *y, const vf *x, int m, const int st) {
  if (st == 2) {
    y[0] = x[0] + x[2] + x[3];
    y[1] = x[1] + x[3] + x[4];
    return;
  }
  if (m == 2) {
    y[0] = x[0] + x[1] + x[2];
    y[1] = x[1] - x[2] - x[3];
    return;
  }
  const vf s12 = x[1] + x[2], d12 = x[1] - x[2], s34 = x[3] + x[4], d34 = x[3] - x[4];
  y[0] = x[0] + s12 + s34;
  y[1] = d12 + 2.0f * d34;
  y[2] = s12 + 4.0f * s34;
  y[3] = d12 + 8.0f * d34 + x[5];
}

// x = A y (m -> n), the adjoint of at.
INLINE void a_(vf *x, const vf *y, int m, const int st) {
  if (st == 2) {
    x[0] = y[0];
    x[1] = y[1];
    x[2] = y[0];
    x[3] = y[0] + y[1];
    x[4] = y[1];
    return;
  }
  if (m == 2) {
    x[0] = y[0];
    x[1] = y[0] + y[1];
    x[2] = y[0] - y[1];
    x[3] = -y[1];
    return;
  }
  const vf s02 = y[0] + y[2], s13 = y[1] + y[3];
  const vf p = y[0] + 4.0f * y[2], q = 2.0f * y[1] + 8.0f * y[3];
  x[0] = y[0];
  x[1] = s02 + s13;
  x[2] = s02 - s13;
  x[3] = p + q;
  x[4] = p - q;
  x[5] = y[3];
}

// u = G g (3 -> n).
INLINE void gmul(vf *u, const vf *g, int m, const int st) {
  if (st == 2) {
    u[0] = g[1];
    u[1] = g[1];
    u[2] = g[0];
    u[3] = g[0] + g[2];
    u[4] = g[2];
    return;
  }
  if (m == 2) {
    const vf s = g[0] + g[2];
    u[0] = g[0];
    u[1] = (s + g[1]) * 0.5f;
    u[2] = (s - g[1]) * 0.5f;
    u[3] = g[2];
    return;
  }
  const vf s = g[0] + g[2], p = g[0] * (1.0f / 24) + g[2] * (1.0f / 6), q = g[1] * (1.0f / 12);
  u[0] = g[0] * 0.25f;
  u[1] = (s + g[1]) * (-1.0f / 6);
  u[2] = (s - g[1]) * (-1.0f / 6);
  u[3] = p + q;
  u[4] = p - q;
  u[5] = g[2];
}

// g = Gᵀ u (n -> 3), the adjoint of gmul.
INLINE void gtmul(vf *g, const vf *u, int m, const int st) {
  if (st == 2) {
    g[0] = u[2] + u[3];
    g[1] = u[0] + u[1];
    g[2] = u[3] + u[4];
    return;
  }
  if (m == 2) {
    const vf h = (u[1] + u[2]) * 0.5f;
    g[0] = u[0] + h;
    g[1] = (u[1] - u[2]) * 0.5f;
    g[2] = h + u[3];
    return;
  }
  const vf s12 = u[1] + u[2], d12 = u[1] - u[2], s34 = u[3] + u[4], d34 = u[3] - u[4];
  g[0] = u[0] * 0.25f - s12 * (1.0f / 6) + s34 * (1.0f / 24);
  g[1] = d34 * (1.0f / 12) - d12 * (1.0f / 6);
  g[2] = (s34 - s12) * (1.0f / 6) + u[5];
}

// ----------------------------------------------------------------------------------------------
// tile transforms over a block of nt tiles from tile t0 (ξ = i*n + j). Each has an always-inline
// body for a constant m and a dispatching wrapper.

// The tile grid over the output: tile t is sample t / P, row th, column tw of TH x TW tiles,
// TH = ceil(OH/m), TW = ceil(OW/m). Its outputs start at (m*th, m*tw), its input window at
// (st*m*th - 1, st*m*tw - 1) (pad 1).
typedef struct {
  int b, th, tw, TH, TW;
} TileIter;

static TileIter tile_iter(int t0, int OH, int OW, int m) {
  TileIter it = {.TH = (OH + m - 1) / m, .TW = (OW + m - 1) / m};
  const int P = it.TH * it.TW;
  it.b = t0 / P;
  it.th = t0 % P / it.TW;
  it.tw = t0 % P % it.TW;
  return it;
}

static void tile_next(TileIter *it) {
  if (++it->tw < it->TW) return;
  it->tw = 0;
  if (++it->th < it->TH) return;
  it->th = 0;
  it->b++;
}

// V [n²][nt][Kp] = Bᵀ d B for the n x n input window of every tile of x [B, H, W, K] (zero
// outside the image); the padding channels K..Kp-1 get zeros.
INLINE void input_transform_m(float *V, const float *x, int t0, int nt, int H, int W, int OH,
                              int OW, int K, int Kp, const int m, const int st) {
  const int n = st == 1 ? m + 2 : 2 * m + 1, step = st * m;
  const size_t plane = skew((size_t)nt * Kp);
  TileIter it = tile_iter(t0, OH, OW, m);
  TileIter ahead = tile_iter(t0, OH, OW, m);
  tile_next(&ahead);
  for (int t = 0; t < nt; t++, tile_next(&it), tile_next(&ahead)) {
    const float *img = x + (size_t)it.b * H * W * K;
    const int ih0 = step * it.th - 1, iw0 = step * it.tw - 1;
    const int inside = ih0 >= 0 && iw0 >= 0 && ih0 + n <= H && iw0 + n <= W;
    float *vt = V + (size_t)t * Kp;
    if (t + 1 < nt) {  // the next tile's input, whose rows the hardware prefetchers miss
      const int ah0 = step * ahead.th - 1, aw0 = step * ahead.tw - 1;
      const float *aimg = x + (size_t)ahead.b * H * W * K;
      for (int i = 0; i < n; i++) {
        const int ih = ah0 + i;
        if (ih < 0 || ih >= H) continue;
        const int jlo = aw0 < 0 ? 0 : aw0, jhi = imin(aw0 + n, W);
        const char *row = (const char *)(aimg + ((size_t)ih * W + jlo) * K);
        const size_t bytes = (size_t)(jhi - jlo) * K * sizeof(float);
        for (size_t off = 0; off < bytes; off += 64) __builtin_prefetch(row + off);
      }
    }
    for (int c0 = 0; c0 < K; c0 += VL) {
      const int nc = K - c0 < VL ? K - c0 : VL;
      vf tmp[NMAX][NMAX];
      for (int j = 0; j < n; j++) {
        const int iw = iw0 + j;
        vf d[NMAX], u[NMAX];
        for (int i = 0; i < n; i++) {
          const int ih = ih0 + i;
          if (!inside && (ih < 0 || ih >= H || iw < 0 || iw >= W)) {
            d[i] = (vf){0};
            continue;
          }
          const float *p = img + ((size_t)ih * W + iw) * K + c0;
          d[i] = nc == VL ? vload(p) : vload_n(p, nc);
        }
        bt(u, d, m, st);
        for (int i = 0; i < n; i++) tmp[i][j] = u[i];
      }
      for (int i = 0; i < n; i++) {
        vf r[NMAX];
        bt(r, tmp[i], m, st);
        for (int j = 0; j < n; j++) vstore(vt + (size_t)(i * n + j) * plane + c0, r[j]);
      }
    }
  }
}

static void input_transform(float *V, const float *x, int t0, int nt, int H, int W, int OH, int OW,
                            int K, int Kp, int m, int st) {
  if (st == 2)
    input_transform_m(V, x, t0, nt, H, W, OH, OW, K, Kp, 2, 2);
  else if (m == 2)
    input_transform_m(V, x, t0, nt, H, W, OH, OW, K, Kp, 2, 1);
  else
    input_transform_m(V, x, t0, nt, H, W, OH, OW, K, Kp, 4, 1);
}

// x [B, H, W, K] += B Y Bᵀ for the n x n input window of every tile (the part inside the image;
// windows overlap), Y [n²][nt][Kp]: the input gradient of the stride-2 forward.
INLINE void input_adjoint_m(float *x, const float *Y, int t0, int nt, int H, int W, int OH, int OW,
                            int K, int Kp, const int m) {
  const int n = 2 * m + 1, step = 2 * m;
  const size_t plane = skew((size_t)nt * Kp);
  TileIter it = tile_iter(t0, OH, OW, m);
  for (int t = 0; t < nt; t++, tile_next(&it)) {
    float *img = x + (size_t)it.b * H * W * K;
    const int ih0 = step * it.th - 1, iw0 = step * it.tw - 1;
    const float *yt = Y + (size_t)t * Kp;
    for (int c0 = 0; c0 < K; c0 += VL) {
      const int nc = K - c0 < VL ? K - c0 : VL;
      vf tmp[NMAX][NMAX];  // [i][j] = (B Y)[i][j], Y's frequency rows taken back to input rows
      for (int j = 0; j < n; j++) {
        vf y[NMAX], u[NMAX];
        for (int i = 0; i < n; i++) y[i] = vload(yt + (size_t)(i * n + j) * plane + c0);
        b_(u, y);
        for (int i = 0; i < n; i++) tmp[i][j] = u[i];
      }
      for (int i = 0; i < n; i++) {
        const int ih = ih0 + i;
        if (ih < 0 || ih >= H) continue;
        vf d[NMAX];
        b_(d, tmp[i]);
        for (int j = 0; j < n; j++) {
          const int iw = iw0 + j;
          if (iw < 0 || iw >= W) continue;
          float *p = img + ((size_t)ih * W + iw) * K + c0;
          if (nc == VL)
            vstore(p, vload(p) + d[j]);
          else
            vstore_n(p, vload_n(p, nc) + d[j], nc);
        }
      }
    }
  }
}

// y [B, OH, OW, K] (+)= Aᵀ M A for the m x m output block of every tile (the part inside the
// image), plus bias [K] if not NULL (store mode only). M [n²][nt][Kp].
INLINE void output_transform_m(float *y, const float *M, int t0, int nt, int OH, int OW, int K,
                               int Kp, const float *bias, int accumulate, const int m,
                               const int st) {
  const int n = st == 1 ? m + 2 : 2 * m + 1;
  const size_t plane = skew((size_t)nt * Kp);
  TileIter it = tile_iter(t0, OH, OW, m);
  for (int t = 0; t < nt; t++, tile_next(&it)) {
    float *img = y + (size_t)it.b * OH * OW * K;
    const int oh0 = m * it.th, nh = imin(OH - oh0, m), ow0 = m * it.tw, nw = imin(OW - ow0, m);
    const float *mt = M + (size_t)t * Kp;
    for (int c0 = 0; c0 < K; c0 += VL) {
      const int nc = K - c0 < VL ? K - c0 : VL;
      vf tmp[NMAX][NMAX];  // [r][j]
      for (int j = 0; j < n; j++) {
        vf x[NMAX], u[NMAX];
        for (int i = 0; i < n; i++) x[i] = vload(mt + (size_t)(i * n + j) * plane + c0);
        at(u, x, m, st);
        for (int r = 0; r < m; r++) tmp[r][j] = u[r];
      }
      const vf bv = bias ? (nc == VL ? vload(bias + c0) : vload_n(bias + c0, nc)) : (vf){0};
      for (int r = 0; r < nh; r++) {
        vf o[NMAX];
        at(o, tmp[r], m, st);
        float *p = img + ((size_t)(oh0 + r) * OW + ow0) * K + c0;
        for (int s = 0; s < nw; s++, p += K) {
          if (nc == VL)
            vstore(p, accumulate ? o[s] + vload(p) : o[s] + bv);
          else
            vstore_n(p, accumulate ? o[s] + vload_n(p, nc) : o[s] + bv, nc);
        }
      }
    }
  }
}

static void output_transform(float *y, const float *M, int t0, int nt, int OH, int OW, int K,
                             int Kp, const float *bias, int accumulate, int m, int st) {
  if (st == 2)
    output_transform_m(y, M, t0, nt, OH, OW, K, Kp, bias, accumulate, 2, 2);
  else if (m == 2)
    output_transform_m(y, M, t0, nt, OH, OW, K, Kp, bias, accumulate, 2, 1);
  else
    output_transform_m(y, M, t0, nt, OH, OW, K, Kp, bias, accumulate, 4, 1);
}

// dM [n²][nt][Kp] = A dY Aᵀ for the m x m block of every tile of dy [B, OH, OW, K] (zero
// outside the image; the padding channels get zeros).
INLINE void grad_transform_m(float *dM, const float *dy, int t0, int nt, int OH, int OW, int K,
                             int Kp, const int m, const int st) {
  const int n = st == 1 ? m + 2 : 2 * m + 1;
  const size_t plane = skew((size_t)nt * Kp);
  TileIter it = tile_iter(t0, OH, OW, m);
  for (int t = 0; t < nt; t++, tile_next(&it)) {
    const float *img = dy + (size_t)it.b * OH * OW * K;
    const int oh0 = m * it.th, nh = imin(OH - oh0, m), ow0 = m * it.tw, nw = imin(OW - ow0, m);
    float *mt = dM + (size_t)t * Kp;
    for (int c0 = 0; c0 < K; c0 += VL) {
      const int nc = K - c0 < VL ? K - c0 : VL;
      vf tmp[NMAX][NMAX];  // [i][s]
      for (int s = 0; s < m; s++) {
        vf yv[NMAX], x[NMAX];
        for (int r = 0; r < m; r++) {
          if (r >= nh || s >= nw) {
            yv[r] = (vf){0};
            continue;
          }
          const float *p = img + ((size_t)(oh0 + r) * OW + ow0 + s) * K + c0;
          yv[r] = nc == VL ? vload(p) : vload_n(p, nc);
        }
        a_(x, yv, m, st);
        for (int i = 0; i < n; i++) tmp[i][s] = x[i];
      }
      for (int i = 0; i < n; i++) {
        vf x[NMAX];
        a_(x, tmp[i], m, st);
        for (int j = 0; j < n; j++) vstore(mt + (size_t)(i * n + j) * plane + c0, x[j]);
      }
    }
  }
}

static void grad_transform(float *dM, const float *dy, int t0, int nt, int OH, int OW, int K,
                           int Kp, int m, int st) {
  if (st == 2)
    grad_transform_m(dM, dy, t0, nt, OH, OW, K, Kp, 2, 2);
  else if (m == 2)
    grad_transform_m(dM, dy, t0, nt, OH, OW, K, Kp, 2, 1);
  else
    grad_transform_m(dM, dy, t0, nt, OH, OW, K, Kp, 4, 1);
}

// ----------------------------------------------------------------------------------------------
// kernel transforms. The transformed kernels of the two products that read them are laid out
// for the micro-kernel: [n²][panel][K][width] over the product's summed dimension K and its
// N columns (panels of PANEL columns, the last one narrower).

// 16 kernels of 9 taps, one per lane: the kernel of lane l is the 9 floats at base + l*stride.
// load_kernels: g[k] lane l = kernel l's tap k (tap 8 - k if rot: rotated 180°), for l < rows
// (other lanes zero). add_kernels: kernel l's tap k += g[k] lane l, for l < rows.
#ifdef __AVX512F__
INLINE void load_kernels(vf g[9], const float *base, ptrdiff_t stride, int rows, int rot) {
  __m512 r[16];
  for (int l = 0; l < 16; l++)  // masked loads of 9 floats (the rest neither read nor faulted)
    r[l] = l < rows ? _mm512_maskz_loadu_ps(0x1ff, base + l * stride) : _mm512_setzero_ps();
  cg_transpose16(r);
  for (int k = 0; k < 9; k++) g[k] = (vf)r[rot ? 8 - k : k];
}

INLINE void add_kernels(float *base, ptrdiff_t stride, const vf g[9], int rows) {
  __m512 r[16];
  for (int k = 0; k < 16; k++) r[k] = k < 9 ? (__m512)g[k] : _mm512_setzero_ps();
  cg_transpose16(r);
  for (int l = 0; l < rows; l++) {
    float *p = base + l * stride;
    _mm512_mask_storeu_ps(p, 0x1ff, _mm512_add_ps(_mm512_maskz_loadu_ps(0x1ff, p), r[l]));
  }
}
#else
INLINE void load_kernels(vf g[9], const float *base, ptrdiff_t stride, int rows, int rot) {
  float lanes[9][VL] = {{0}};
  for (int l = 0; l < rows; l++)
    for (int k = 0; k < 9; k++) lanes[rot ? 8 - k : k][l] = base[l * stride + k];
  for (int k = 0; k < 9; k++) g[k] = vload(lanes[k]);
}

INLINE void add_kernels(float *base, ptrdiff_t stride, const vf g[9], int rows) {
  float lanes[9][VL];
  for (int k = 0; k < 9; k++) vstore(lanes[k], g[k]);
  for (int l = 0; l < rows; l++)
    for (int k = 0; k < 9; k++) base[l * stride + k] += lanes[k][l];
}
#endif

// Offset of element (k, col) in one frequency's [K][N] panels.
static size_t panel_at(int K, int N, int k, int col) {
  const int p = col / PANEL, width = imin(PANEL, N - p * PANEL);
  return (size_t)p * PANEL * K + (size_t)k * width + (col - p * PANEL);
}

// The 3x3 -> n x n transform G g Gᵀ of 16 kernels at once: u [n²] from g [9] (k = kh*3 + kw).
INLINE void kernel_transform(vf *u, const vf *g, const int m, const int st) {
  const int n = st == 1 ? m + 2 : 2 * m + 1;
  vf tmp[NMAX][3];
  for (int kw = 0; kw < 3; kw++) {  // columns: tmp = G g
    vf col[3] = {g[kw], g[3 + kw], g[6 + kw]}, t[NMAX];
    gmul(t, col, m, st);
    for (int i = 0; i < n; i++) tmp[i][kw] = t[i];
  }
  for (int i = 0; i < n; i++) gmul(u + i * n, tmp[i], m, st);  // rows: U = tmp Gᵀ
}

// Forward: columns n0..n0+N-1 of U_ξ [C][Op] (K = C; columns o >= O zero), as panels of that
// range, frequency planes fstride floats apart; vectors over 16 outputs, whose kernels for one
// input channel are 9C floats apart.
INLINE void weight_transform_fwd_m(float *U, size_t fstride, const float *w, int O, int C, int n0,
                                   int N, const int m, const int st) {
  const int n = st == 1 ? m + 2 : 2 * m + 1;
  for (int o0 = n0; o0 < n0 + N; o0 += VL) {  // 16 rows of w, read sequentially
    for (int c = 0; c < C; c++) {
      vf g[9], u[NMAX * NMAX];
      load_kernels(g, w + ((size_t)o0 * C + c) * 9, (ptrdiff_t)9 * C, imin(O - o0, VL), 0);
      kernel_transform(u, g, m, st);
      float *dst = U + panel_at(C, N, c, o0 - n0);
      for (int f = 0; f < n * n; f++) vstore(dst + f * fstride, u[f]);
    }
  }
}

// Data: columns n0..n0+N-1 of U'_ξ [O][Cp] (K = O), likewise, from the kernels rotated by 180°
// (stride 1: the input gradient is a conv of dout with them) or as they are (stride 2: it is
// the transposed product, Y = dM U'); vectors over 16 input channels, whose kernels are 144
// consecutive floats of w.
INLINE void weight_transform_data_m(float *U, size_t fstride, const float *w, int O, int C, int n0,
                                    int N, const int m, const int st) {
  const int n = st == 1 ? m + 2 : 2 * m + 1;
  for (int o = 0; o < O; o++) {
    for (int c0 = n0; c0 < n0 + N; c0 += VL) {
      vf g[9], u[NMAX * NMAX];
      load_kernels(g, w + ((size_t)o * C + c0) * 9, 9, imin(C - c0, VL), st == 1);
      kernel_transform(u, g, m, st);
      float *dst = U + panel_at(O, N, o, c0 - n0);
      for (int f = 0; f < n * n; f++) vstore(dst + f * fstride, u[f]);
    }
  }
}

// The transformed kernels of the forward (data = 0) or data (1) product, columns n0..n0+N-1.
static void weight_transform(float *U, size_t fstride, const float *w, int O, int C, int data,
                             int n0, int N, int m, int st) {
  if (data) {
    if (st == 2)
      weight_transform_data_m(U, fstride, w, O, C, n0, N, 2, 2);
    else if (m == 2)
      weight_transform_data_m(U, fstride, w, O, C, n0, N, 2, 1);
    else
      weight_transform_data_m(U, fstride, w, O, C, n0, N, 4, 1);
  } else {
    if (st == 2)
      weight_transform_fwd_m(U, fstride, w, O, C, n0, N, 2, 2);
    else if (m == 2)
      weight_transform_fwd_m(U, fstride, w, O, C, n0, N, 2, 1);
    else
      weight_transform_fwd_m(U, fstride, w, O, C, n0, N, 4, 1);
  }
}

// dw [O, C, 3, 3] += Gᵀ dU G for the input channels n0..n0+N-1, from dU_ξ [O][N] (rows ldu
// floats apart, planes `plane` apart) holding those channels' columns.
INLINE void weight_grad_transform_m(float *dw, const float *dU, size_t plane, int ldu, int O, int C,
                                    int n0, int N, const int m, const int st) {
  const int n = st == 1 ? m + 2 : 2 * m + 1;
  for (int o = 0; o < O; o++) {
    for (int c0 = n0; c0 < n0 + N && c0 < C; c0 += VL) {
      const float *u = dU + (size_t)o * ldu + (c0 - n0);
      vf tmp[3][NMAX];
      for (int j = 0; j < n; j++) {  // columns: tmp = Gᵀ dU
        vf col[NMAX], t[3];
        for (int i = 0; i < n; i++) col[i] = vload(u + (size_t)(i * n + j) * plane);
        gtmul(t, col, m, st);
        for (int r = 0; r < 3; r++) tmp[r][j] = t[r];
      }
      vf g[9];
      for (int r = 0; r < 3; r++) gtmul(g + r * 3, tmp[r], m, st);  // rows: dg = tmp G
      add_kernels(dw + ((size_t)o * C + c0) * 9, 9, g, imin(C - c0, VL));
    }
  }
}

static void weight_grad_transform(float *dw, const float *dU, size_t plane, int ldu, int O, int C,
                                  int n0, int N, int m, int st) {
  if (st == 2)
    weight_grad_transform_m(dw, dU, plane, ldu, O, C, n0, N, 2, 2);
  else if (m == 2)
    weight_grad_transform_m(dw, dU, plane, ldu, O, C, n0, N, 2, 1);
  else
    weight_grad_transform_m(dw, dU, plane, ldu, O, C, n0, N, 4, 1);
}

// ----------------------------------------------------------------------------------------------
// the products, one per frequency

// C_ξ [nt][N] = A_ξ [nt][K] (row stride lda) · B_ξ (packed panels) for every frequency ξ; the
// planes of A, B and C are skew(nt*lda), skew(K*N) and skew(nt*N) floats apart.
static void gemm_panels(float *Cm, const float *A, int lda, const float *Bp, int nf, int nt, int K,
                        int N) {
  for (int f = 0; f < nf; f++)
    cg_gemm_nn(Cm + f * skew((size_t)nt * N), N, A + f * skew((size_t)nt * lda), lda,
               Bp + f * skew((size_t)K * N), 0, 1, nt, K, N, 0);
}

// D_ξ [R][N] (+)= Σ_t A_ξ [t][R]ᵀ B_ξ [t][N] over nt tiles, for every frequency ξ (A's rows lda
// apart, B's ldb; the planes of A, B and D skew(nt*lda), skew(nt*ldb) and skew(R*N) apart).
static void gemm_tn(float *D, const float *A, int lda, const float *Bm, int ldb, int nf, int nt,
                    int R, int N, int accumulate) {
  for (int f = 0; f < nf; f++)
    cg_gemm_tn(D + f * skew((size_t)R * N), N, A + f * skew((size_t)nt * lda), lda,
               Bm + f * skew((size_t)nt * ldb), ldb, nt, R, N, accumulate);
}

// ----------------------------------------------------------------------------------------------
// forward and backward

// The forward and data products (the data product for stride 1: Y += conv(dout, rotated
// kernels); stride 2 has its own, wg_backward_data_s2): Y (+)= conv(X, kernels) with K input
// and N output channels (forward: X = in, K = C, N = O; data: X = dout, K = O, N = C).
static void wg_product(float *y, const float *x, const float *w, const float *bias,
                       const ConvShape *s, float *scratch, int m, int data) {
  const int K = data ? s->O : s->C, N = data ? s->C : s->O, Kp = round16(K), Np = round16(N);
  const int st = s->stride, nf = (int)freqs(s, m), total = (int)total_tiles(s, m);
  const int tb = wg_block_tiles(s, m, 0);
  // The input and output images: forward H x W -> OH x OW; data (stride 1) OH x OW -> H x W.
  const int IH = data ? s->OH : s->H, IW = data ? s->OW : s->W;
  const int YH = data ? s->H : s->OH, YW = data ? s->W : s->OW;
  if (!wg_fused(s, m)) {
    const size_t uplane = skew((size_t)K * Np);
    float *U = scratch, *X = U + nf * uplane, *Y = X + nf * skew((size_t)tb * Kp);
    weight_transform(U, uplane, w, s->O, s->C, data, 0, Np, m, st);
    for (int t0 = 0; t0 < total; t0 += tb) {
      const int nt = imin(tb, total - t0);
      input_transform(X, x, t0, nt, IH, IW, YH, YW, K, Kp, m, st);
      gemm_panels(Y, X, Kp, U, nf, nt, K, Np);
      output_transform(y, Y, t0, nt, YH, YW, N, Np, bias, data, m, st);
    }
    return;
  }
  // Fused: one block of all the tiles; the transformed kernels made a panel of 64 output
  // channels at a time, and used at once, while they are in cache.
  const size_t gplane = skew((size_t)K * PANEL), xplane = skew((size_t)total * Kp);
  const size_t yplane = skew((size_t)total * Np);
  float *U = scratch, *X = U + nf * gplane, *Y = X + nf * xplane;
  input_transform(X, x, 0, total, IH, IW, YH, YW, K, Kp, m, st);
  for (int n0 = 0; n0 < Np; n0 += PANEL) {
    const int width = imin(PANEL, Np - n0);
    const size_t uplane = skew((size_t)K * width);
    weight_transform(U, uplane, w, s->O, s->C, data, n0, width, m, st);
    for (int f = 0; f < nf; f++)
      cg_gemm_nn(Y + f * yplane + n0, Np, X + f * xplane, Kp, U + f * uplane, 0, 1, total, K, width,
                 0);
  }
  output_transform(y, Y, 0, total, YH, YW, N, Np, bias, data, m, st);
}

// The stride-2 data product: din += B (dM U'ᵀ) Bᵀ over the tiles' overlapping input windows,
// dM = A dY Aᵀ (the adjoints of the forward's input and output transforms).
static void wg_backward_data_s2(float *din, const float *dout, const float *w, const ConvShape *s,
                                float *scratch) {
  const int m = 2, C = s->C, O = s->O, Cp = round16(C), Op = round16(O);
  const int nf = (int)freqs(s, m), total = (int)total_tiles(s, m), tb = wg_block_tiles(s, m, 0);
  if (!wg_fused(s, m)) {
    const size_t uplane = skew((size_t)O * Cp);
    float *U = scratch, *X = U + nf * uplane, *Y = X + nf * skew((size_t)tb * Op);
    weight_transform(U, uplane, w, O, C, 1, 0, Cp, m, 2);
    for (int t0 = 0; t0 < total; t0 += tb) {
      const int nt = imin(tb, total - t0);
      grad_transform(X, dout, t0, nt, s->OH, s->OW, O, Op, m, 2);
      gemm_panels(Y, X, Op, U, nf, nt, O, Cp);
      input_adjoint_m(din, Y, t0, nt, s->H, s->W, s->OH, s->OW, C, Cp, m);
    }
    return;
  }
  const size_t gplane = skew((size_t)O * PANEL), xplane = skew((size_t)total * Op);
  const size_t yplane = skew((size_t)total * Cp);
  float *U = scratch, *X = U + nf * gplane, *Y = X + nf * xplane;
  grad_transform(X, dout, 0, total, s->OH, s->OW, O, Op, m, 2);
  for (int n0 = 0; n0 < Cp; n0 += PANEL) {
    const int width = imin(PANEL, Cp - n0);
    const size_t uplane = skew((size_t)O * width);
    weight_transform(U, uplane, w, O, C, 1, n0, width, m, 2);
    for (int f = 0; f < nf; f++)
      cg_gemm_nn(Y + f * yplane + n0, Cp, X + f * xplane, Op, U + f * uplane, 0, 1, total, O, width,
                 0);
  }
  input_adjoint_m(din, Y, 0, total, s->H, s->W, s->OH, s->OW, C, Cp, m);
}

void wg_forward(float *out, const float *in, const float *w, const float *bias, const ConvShape *s,
                float *scratch, int m) {
  wg_product(out, in, w, bias, s, scratch, m, 0);
}

void wg_backward_data(float *din, const float *dout, const float *w, const ConvShape *s,
                      float *scratch, int m) {
  if (s->stride == 2)
    wg_backward_data_s2(din, dout, w, s, scratch);
  else
    wg_product(din, dout, w, NULL, s, scratch, m, 1);
}

void wg_backward_weight(float *dw, const float *dout, const float *in, const ConvShape *s,
                        float *scratch, int m) {
  const int C = s->C, O = s->O, Cp = round16(C), Op = round16(O), st = s->stride;
  const int nf = (int)freqs(s, m), total = (int)total_tiles(s, m);
  const int tw = wg_block_tiles(s, m, 1);
  if (wg_fused_weight(s, m)) {
    // Fused: dU made for 64 input channels at a time over all the tiles (one block) and turned
    // into their kernel gradients at once, while in cache, rather than written whole (n²*O*C
    // floats) and read back; the transformed tiles, small here, are read once per panel.
    const size_t gplane = skew((size_t)O * PANEL), xplane = skew((size_t)total * Cp);
    const size_t mplane = skew((size_t)total * Op);
    float *dU = scratch, *X = dU + nf * gplane, *dM = X + nf * xplane;
    input_transform(X, in, 0, total, s->H, s->W, s->OH, s->OW, C, Cp, m, st);
    grad_transform(dM, dout, 0, total, s->OH, s->OW, O, Op, m, st);
    for (int c0 = 0; c0 < Cp; c0 += PANEL) {
      const int width = imin(PANEL, Cp - c0);
      const size_t uplane = skew((size_t)O * width);
      for (int f = 0; f < nf; f++)
        cg_gemm_tn(dU + f * uplane, width, dM + f * mplane, Op, X + f * xplane + c0, Cp, total, O,
                   width, 0);
      weight_grad_transform(dw, dU, uplane, width, O, C, c0, width, m, st);
    }
    return;
  }
  const size_t uplane = skew((size_t)O * Cp);
  float *dU = scratch, *X = dU + nf * uplane, *dM = X + nf * skew((size_t)tw * Cp);
  for (int t0 = 0; t0 < total; t0 += tw) {  // the first block sets dU, the others add to it
    const int nt = imin(tw, total - t0);
    input_transform(X, in, t0, nt, s->H, s->W, s->OH, s->OW, C, Cp, m, st);
    grad_transform(dM, dout, t0, nt, s->OH, s->OW, O, Op, m, st);
    gemm_tn(dU, dM, Op, X, Cp, nf, nt, O, Cp, t0 > 0);
  }
  weight_grad_transform(dw, dU, uplane, Cp, O, C, 0, Cp, m, st);
}
