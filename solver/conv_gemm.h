// conv_gemm.h: the matrix products of conv.c and conv_winograd.c on their own AVX-512
// micro-kernel (internal to the conv files and to `ecore bench --convs`, which measures its
// peak; layers.h has the API). Where the compiler does not
// target AVX-512, a portable version of the same kernel runs (correct, but slower than
// OpenBLAS), and cg_fast() is 0 so that conv.c keeps to OpenBLAS.
#pragma once

#include <stddef.h>
#ifdef __AVX512F__
#include <immintrin.h>
#endif

#define CG_PANEL 64  // columns of B per panel (four vectors of 16)
#define CG_MR 6      // rows of C per micro-kernel call

// 1 if the micro-kernel is the AVX-512 one (the products below then beat OpenBLAS's).
int cg_fast(void);

// C [rows][N] (+)= A [rows][K] · B [K][N], N a multiple of 16; A's rows lda apart, C's ldc.
// B is read in panels of up to CG_PANEL columns: packed = 0: B is row-major with rows ldb
// apart; packed = 1: panel p (columns 64p..) is stored alone at B + 64p*K as [K][width] (the
// last panel narrower), and ldb is unused. accumulate: C += instead of C =.
void cg_gemm_nn(float *C, ptrdiff_t ldc, const float *A, ptrdiff_t lda, const float *B,
                ptrdiff_t ldb, int packed, int rows, int K, int N, int accumulate);

// D [R][N] (+)= Aᵀ B over K: A [K][R] (rows lda apart), B [K][N] (rows ldb apart), D's rows
// ldd apart; N a multiple of 16. accumulate: D += instead of D =.
void cg_gemm_tn(float *D, ptrdiff_t ldd, const float *A, ptrdiff_t lda, const float *B,
                ptrdiff_t ldb, int K, int R, int N, int accumulate);

// dst[k*dld + l] (+)= src[l*sld + k] for l < rows, k < cols (both <= 16): a block transposed
// (accumulate: added into dst).
void cg_transpose(float *dst, ptrdiff_t dld, const float *src, ptrdiff_t sld, int rows, int cols,
                  int accumulate);

#ifdef __AVX512F__
// In-register transpose of 16 x 16 floats.
static inline void cg_transpose16(__m512 r[16]) {
  __m512 t[16];
  for (int i = 0; i < 8; i++) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; i++) {
    const __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 1]);
    const __m512d c = _mm512_castps_pd(t[4 * i + 2]), d = _mm512_castps_pd(t[4 * i + 3]);
    r[4 * i + 0] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
    r[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
    r[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
    r[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
  }
  for (int q = 0; q < 4; q++) {
    t[q] = _mm512_shuffle_f32x4(r[q], r[4 + q], 0x88);
    t[4 + q] = _mm512_shuffle_f32x4(r[q], r[4 + q], 0xdd);
    t[8 + q] = _mm512_shuffle_f32x4(r[8 + q], r[12 + q], 0x88);
    t[12 + q] = _mm512_shuffle_f32x4(r[8 + q], r[12 + q], 0xdd);
  }
  for (int q = 0; q < 8; q++) {
    r[q] = _mm512_shuffle_f32x4(t[q], t[8 + q], 0x88);
    r[8 + q] = _mm512_shuffle_f32x4(t[q], t[8 + q], 0xdd);
  }
}

#endif
