// layercheck.h: the checks test_layers.c and test_layers_swin.c share: float results against
// double references, analytic gradients against central finite differences, accumulation.
// (Static helpers for one test binary each; see test_layers.c's top comment for the method.)
#pragma once

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"
#include "testutil.h"

#define FD_RTOL 1e-3
#define FD_ATOL 1e-4  // times the largest |reference| in the tensor
#define FWD_RTOL 1e-4
#define FWD_ATOL 1e-5
#define FD_MAX_CHECKS 300

static uint64_t test_seed = 20240611;

// ----------------------------------------------------------------------------------------------
// helpers

static inline void *xcalloc(size_t n, size_t size) {
  void *p = calloc(n ? n : 1, size);
  if (!p) {
    fprintf(stderr, "out of memory\n");
    abort();
  }
  return p;
}
static inline float *falloc(size_t n) {
  return xcalloc(n, sizeof(float));
}
static inline double *dalloc(size_t n) {
  return xcalloc(n, sizeof(double));
}

static inline Rng test_rng(uint64_t which) {
  return rng_derive(test_seed, RNG_SYNTH, which);
}

static inline void fill_normal(float *x, size_t n, Rng *r, float scale) {
  for (size_t i = 0; i < n; i++) x[i] = scale * rng_normal(r);
}

static inline double *to_double(const float *f, size_t n) {
  double *d = dalloc(n);
  for (size_t i = 0; i < n; i++) d[i] = f[i];
  return d;
}

static inline float *copy_floats(const float *f, size_t n) {
  float *c = falloc(n);
  memcpy(c, f, sizeof(float) * n);
  return c;
}

static inline double dot_dd(const double *a, const double *b, size_t n) {
  double s = 0.0;
  for (size_t i = 0; i < n; i++) s += a[i] * b[i];
  return s;
}

// got [n] against want [n]: |got - want| <= rtol*|want| + atol*max|want| (+ a denormal floor).
// Prints the first few mismatches under label; counts one failure per array.
static inline void check_array(const char *label, const float *got, const double *want, size_t n,
                               double rtol, double atol) {
  double maxabs = 0.0;
  for (size_t i = 0; i < n; i++) maxabs = fmax(maxabs, fabs(want[i]));
  const double abs_tol = atol * maxabs + 1e-30;
  size_t bad = 0;
  for (size_t i = 0; i < n; i++) {
    const double err = fabs((double)got[i] - want[i]);
    if (!(err <= abs_tol + rtol * fabs(want[i]))) {
      if (bad < 5)
        fprintf(stderr, "%s[%zu]: got %.9g, want %.9g (max|want| %.3g)\n", label, i, got[i],
                want[i], maxabs);
      bad++;
    }
  }
  if (bad) {
    fprintf(stderr, "%s: %zu of %zu entries differ\n", label, bad, n);
    test_failures++;
  }
}

static inline void check_array_f(const char *label, const float *got, const float *want, size_t n,
                                 double rtol, double atol) {
  double *w = to_double(want, n);
  check_array(label, got, w, n, rtol, atol);
  free(w);
}

// g := g - base (the gradient a backward added to buffers that started as base).
static inline void subtract(float *g, const float *base, size_t n) {
  for (size_t i = 0; i < n; i++) g[i] -= base[i];
}

// The double-precision reference loss of one test case, with its inputs in ctx.
typedef double (*RefLoss)(void *ctx);

// Central differences of loss(ctx) with respect to x [n] (perturbed in place and restored) at
// every entry if n <= FD_MAX_CHECKS, else at a seeded random subset, against the analytic g [n].
static inline void check_grad(const char *label, RefLoss loss, void *ctx, double *x, size_t n,
                              const float *g, double h) {
  const size_t m = n <= FD_MAX_CHECKS ? n : FD_MAX_CHECKS;
  double *fd = dalloc(m);
  float *ga = falloc(m);
  Rng r = test_rng(0x6d + n);
  for (size_t k = 0; k < m; k++) {
    const size_t i = n <= FD_MAX_CHECKS ? k : rng_below(&r, (uint32_t)n);
    const double saved = x[i];
    x[i] = saved + h;
    const double lp = loss(ctx);
    x[i] = saved - h;
    const double lm = loss(ctx);
    x[i] = saved;
    fd[k] = (lp - lm) / (2.0 * h);
    ga[k] = g[i];
  }
  check_array(label, ga, fd, m, FD_RTOL, FD_ATOL);
  free(fd);
  free(ga);
}

// Two backward calls into zeroed buffers must give twice the gradient of one (g1). Not bitwise:
// g1 came back as (base + g) - base, and a second call rounds its sums onto a nonzero start;
// overwriting instead of accumulating would be off by half.
static inline void check_doubled(const char *label, const float *g2, const float *g1, size_t n) {
  float *twice = falloc(n);
  for (size_t i = 0; i < n; i++) twice[i] = 2.0f * g1[i];
  check_array_f(label, g2, twice, n, 1e-5, 1e-5);
  free(twice);
}

// One line per case; the failures themselves were printed where they were found.
static inline void case_done(const char *label, int failures_at_start) {
  printf("%s: %s\n", label, test_failures == failures_at_start ? "ok" : "FAILED");
}
