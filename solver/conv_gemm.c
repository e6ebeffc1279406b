// conv_gemm.c: see conv_gemm.h. One micro-kernel computes a block of up to CG_MR rows by up to
// CG_PANEL columns of C = A·B, summing over K with its CG_MR x 4 vector accumulators in
// registers (24 of the 32 AVX-512 registers, 4 more for a row of B): per step of the sum, 4
// vector loads of B, CG_MR broadcasts of A and 24 fused multiply-adds. A is read in place (any
// row and column strides, so Aᵀ too) and B in rows of up to 64 floats, so nothing is packed.
// Measured (one core): on AMD Zen 5, 215-230 GFLOP/s on the Winograd shapes with B's panel in
// L1/L2, against OpenBLAS 0.3.21's sgemm on the same shapes 175-200 with
// OPENBLAS_CORETYPE=SkylakeX and ~105 with Haswell (AVX2); on AMD Zen 4, which runs a 512-bit
// FMA as two 256-bit halves, 106-111: its peak of one vector FMA per cycle, where OpenBLAS's
// sgemm reaches 94-103. `ecore bench --convs` measures it (conv_kernel_peak_gflops).
#include "conv_gemm.h"

#include <string.h>
#ifdef __AVX512F__
#include <immintrin.h>
#endif

#define VL 16
#define INLINE static inline __attribute__((always_inline))

#if !defined(__AVX512F__) && defined(__GNUC__) && !defined(__clang__)
// Without AVX-512, GCC warns that passing 64-byte vectors by value changes the ABI; they only
// pass between this file's inlined functions.
#pragma GCC diagnostic ignored "-Wpsabi"
#endif
typedef float vf __attribute__((vector_size(VL * sizeof(float))));

static int imin(int a, int b) {
  return a < b ? a : b;
}

int cg_fast(void) {
#ifdef __AVX512F__
  return 1;
#else
  return 0;
#endif
}

// C [rows][NV*16] (+)= Σ_k A(r, k) · B [k][NV*16], rows <= CG_MR, where A(r, k) = A[r*ars +
// k*aks] and B's rows are ldb apart.
#ifdef __AVX512F__
INLINE void micro(float *restrict Cm, ptrdiff_t ldc, const float *restrict A, ptrdiff_t ars,
                  ptrdiff_t aks, const float *restrict B, ptrdiff_t ldb, int K, int accumulate,
                  const int rows, const int NV) {
  __m512 acc[CG_MR][4];
  for (int r = 0; r < rows; r++)
    for (int v = 0; v < NV; v++) acc[r][v] = _mm512_setzero_ps();
  for (int k = 0; k < K; k++) {
    __m512 b[4];
    for (int v = 0; v < NV; v++) {
      b[v] = _mm512_loadu_ps(B + (ptrdiff_t)k * ldb + v * VL);
      // Keep b in a register: left alone, GCC folds the load into every row's FMA, which with
      // few rows makes the loop load-bound (4 rows: 20 loads per 16 FMAs instead of 8).
      __asm__("" : "+v"(b[v]));
    }
    for (int r = 0; r < rows; r++) {
      const __m512 a = _mm512_set1_ps(A[r * ars + k * aks]);
      for (int v = 0; v < NV; v++) acc[r][v] = _mm512_fmadd_ps(a, b[v], acc[r][v]);
    }
  }
  for (int r = 0; r < rows; r++)
    for (int v = 0; v < NV; v++) {
      float *c = Cm + r * ldc + v * VL;
      _mm512_storeu_ps(c, accumulate ? _mm512_add_ps(acc[r][v], _mm512_loadu_ps(c)) : acc[r][v]);
    }
}
#else
// Portable version (vector extension; no fused multiply-adds in ISO C mode).
INLINE vf vload(const float *p) {
  vf v;
  memcpy(&v, p, sizeof v);
  return v;
}
INLINE void vstore(float *p, vf v) {
  memcpy(p, &v, sizeof v);
}

INLINE void micro(float *restrict Cm, ptrdiff_t ldc, const float *restrict A, ptrdiff_t ars,
                  ptrdiff_t aks, const float *restrict B, ptrdiff_t ldb, int K, int accumulate,
                  const int rows, const int NV) {
  vf acc[CG_MR][4];
  for (int r = 0; r < rows; r++)
    for (int v = 0; v < NV; v++) acc[r][v] = (vf){0};
  for (int k = 0; k < K; k++) {
    vf b[4];
    for (int v = 0; v < NV; v++) b[v] = vload(B + (ptrdiff_t)k * ldb + v * VL);
    for (int r = 0; r < rows; r++) {
      const float a = A[r * ars + k * aks];
      for (int v = 0; v < NV; v++) acc[r][v] += a * b[v];
    }
  }
  for (int r = 0; r < rows; r++)
    for (int v = 0; v < NV; v++) {
      float *c = Cm + r * ldc + v * VL;
      vstore(c, accumulate ? acc[r][v] + vload(c) : acc[r][v]);
    }
}
#endif

typedef void (*MicroFn)(float *restrict, ptrdiff_t, const float *restrict, ptrdiff_t, ptrdiff_t,
                        const float *restrict, ptrdiff_t, int, int);

// One instance per (rows, vectors): the accumulators must be compile-time sized to stay in
// registers.
#define MICRO_FN(R, V)                                                                    \
  static void micro_##R##_##V(float *restrict Cm, ptrdiff_t ldc, const float *restrict A, \
                              ptrdiff_t ars, ptrdiff_t aks, const float *restrict B,      \
                              ptrdiff_t ldb, int K, int accumulate) {                     \
    micro(Cm, ldc, A, ars, aks, B, ldb, K, accumulate, R, V);                             \
  }
#define MICRO_ROWS(V) \
  MICRO_FN(1, V) MICRO_FN(2, V) MICRO_FN(3, V) MICRO_FN(4, V) MICRO_FN(5, V) MICRO_FN(6, V)
MICRO_ROWS(1)
MICRO_ROWS(2)
MICRO_ROWS(3)
MICRO_ROWS(4)
#define MICRO_ROW_TABLE(V) \
  { micro_1_##V, micro_2_##V, micro_3_##V, micro_4_##V, micro_5_##V, micro_6_##V }
static const MicroFn micro_table[4][CG_MR] = {MICRO_ROW_TABLE(1), MICRO_ROW_TABLE(2),
                                              MICRO_ROW_TABLE(3), MICRO_ROW_TABLE(4)};

void cg_gemm_nn(float *C, ptrdiff_t ldc, const float *A, ptrdiff_t lda, const float *B,
                ptrdiff_t ldb, int packed, int rows, int K, int N, int accumulate) {
  // Panel by panel, so that the panel (K x 64 floats) stays in cache for all the rows.
  for (int c0 = 0; c0 < N; c0 += CG_PANEL) {
    const int width = imin(CG_PANEL, N - c0);
    const MicroFn *fn = micro_table[width / VL - 1];
    const float *panel = packed ? B + (size_t)c0 * K : B + c0;
    const ptrdiff_t pld = packed ? width : ldb;
    for (int r0 = 0; r0 < rows; r0 += CG_MR)
      fn[imin(CG_MR, rows - r0) - 1](C + r0 * ldc + c0, ldc, A + r0 * lda, lda, 1, panel, pld, K,
                                     accumulate);
  }
}

void cg_gemm_tn(float *D, ptrdiff_t ldd, const float *A, ptrdiff_t lda, const float *B,
                ptrdiff_t ldb, int K, int R, int N, int accumulate) {
  for (int c0 = 0; c0 < N; c0 += CG_PANEL) {
    const MicroFn *fn = micro_table[imin(CG_PANEL, N - c0) / VL - 1];
    for (int r0 = 0; r0 < R; r0 += CG_MR)
      fn[imin(CG_MR, R - r0) - 1](D + r0 * ldd + c0, ldd, A + r0, 1, lda, B + c0, ldb, K,
                                  accumulate);
  }
}

void cg_transpose(float *dst, ptrdiff_t dld, const float *src, ptrdiff_t sld, int rows, int cols,
                  int accumulate) {
#ifdef __AVX512F__
  const __mmask16 cmask = (__mmask16)((1u << cols) - 1), rmask = (__mmask16)((1u << rows) - 1);
  __m512 r[16];
  for (int l = 0; l < 16; l++)  // masked loads: the lanes past cols are neither read nor faulted
    r[l] = l < rows ? _mm512_maskz_loadu_ps(cmask, src + l * sld) : _mm512_setzero_ps();
  cg_transpose16(r);
  for (int k = 0; k < cols; k++) {
    float *p = dst + k * dld;
    const __m512 v = accumulate ? _mm512_add_ps(r[k], _mm512_maskz_loadu_ps(rmask, p)) : r[k];
    _mm512_mask_storeu_ps(p, rmask, v);
  }
#else
  for (int k = 0; k < cols; k++)
    for (int l = 0; l < rows; l++)
      dst[k * dld + l] = (accumulate ? dst[k * dld + l] : 0.0f) + src[l * sld + k];
#endif
}
