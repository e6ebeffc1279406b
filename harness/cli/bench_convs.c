// bench_convs.c: `ecore bench --convs`: each distinct convolution of a model timed alone, pass by
// pass, against the matrix products its algorithm runs and the peak of the kernel that runs
// them, so that a step's convolution time splits into the products' floor and the rest
// (transforms, layout, memory).
#include "bench_convs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "conv_gemm.h"
#include "rng.h"

typedef struct {
  ConvShape s;
  int op, count, data;  // first op of this shape, how many, whether the model needs din
} ConvKind;

static int cmp_double(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static float *random_floats(size_t n, Rng *r) {
  float *p = malloc(n * sizeof(float) + 1);
  if (p)
    for (size_t i = 0; i < n; i++) p[i] = rng_normal(r);
  return p;
}

// The GFLOP/s of the kernel that runs the convolutions' products: ecore's AVX-512 micro-kernel
// (conv_gemm.c) on a block that stays in cache (rows 96, K 128, N 64, B packed as the Winograd
// products read it; the best of 5 rounds), or, where it is not built for AVX-512 (cg_fast() 0:
// every convolution is im2col + OpenBLAS), cblas_sgemm on 1024 x 1024 matrices.
static double kernel_peak_gflops(void) {
  if (!cg_fast()) return bench_sgemm_gflops(1024);
  enum { ROWS = 96, K = 128, N = CG_PANEL };
  float *A = malloc(ROWS * K * sizeof(float)), *B = malloc(K * N * sizeof(float));
  float *C = malloc(ROWS * N * sizeof(float));
  double best = 0;
  if (A && B && C) {
    Rng r = rng_derive(1, RNG_SYNTH, 7);
    for (int i = 0; i < ROWS * K; i++) A[i] = rng_normal(&r);
    for (int i = 0; i < K * N; i++) B[i] = rng_normal(&r);
    const int reps = 2000;
    for (int round = 0; round < 5; round++) {
      double t0 = clock_now();
      for (int i = 0; i < reps; i++) cg_gemm_nn(C, N, A, K, B, N, 1, ROWS, K, N, 0);
      const double gf = 2.0 * ROWS * K * N * reps / (clock_now() - t0) / 1e9;
      if (gf > best) best = gf;
    }
  }
  free(A), free(B), free(C);
  return best;
}

static const char *algo_name(ConvAlgo a) {
  return a == CONV_WINOGRAD2 ? "winograd2" : a == CONV_WINOGRAD4 ? "winograd4" : "im2col";
}

// Median seconds of `steps` calls of one pass after `warmup`.
static double time_pass(ConvPass pass, const ConvShape *s, float *out, float *din, float *dw,
                        const float *in, const float *w, const float *dout, float *scratch,
                        int warmup, int steps, double *times) {
  for (int i = 0; i < warmup + steps; i++) {
    double t0 = clock_now();
    if (pass == CONV_PASS_FORWARD)
      conv_forward(out, in, w, NULL, s, scratch);
    else
      conv_backward(pass == CONV_PASS_DATA ? din : NULL, pass == CONV_PASS_WEIGHT ? dw : NULL, NULL,
                    dout, in, w, s, scratch);
    if (i >= warmup) times[i - warmup] = clock_now() - t0;
  }
  qsort(times, (size_t)steps, sizeof *times, cmp_double);
  return times[steps / 2];
}

int bench_convs(const Model *m, int batch, int warmup, int steps) {
  ConvKind *kinds = calloc((size_t)m->n_ops, sizeof *kinds);
  double *times = malloc((size_t)steps * sizeof *times);
  if (!kinds || !times) {
    free(kinds), free(times);
    fprintf(stderr, "ecore bench: out of memory\n");
    return 1;
  }
  int n = 0;
  for (int i = 0; i < m->n_ops; i++) {
    if (m->ops[i].kind != OP_CONV) continue;
    ConvShape s = m->ops[i].conv;
    s.B = batch;
    const int data = m->ops[i].in != m->input_value;  // training takes no input gradient
    int k = 0;
    while (k < n && !(memcmp(&kinds[k].s, &s, sizeof s) == 0 && kinds[k].data == data)) k++;
    if (k == n) kinds[n++] = (ConvKind){.s = s, .op = i, .data = data};
    kinds[k].count++;
  }
  const double peak = kernel_peak_gflops();
  if (!(peak > 0)) {
    free(kinds), free(times);
    fprintf(stderr, "ecore bench: out of memory for the kernel's peak\n");
    return 1;
  }
  printf(
      "convs: batch %d, one process; ms per call (median of %d after %d), GFLOP/s of the\n"
      "direct method's operations (2*B*OH*OW*O*C/g*KH*KW) and of the products the algorithm "
      "runs\n",
      batch, steps, warmup);
  printf("  %-22s %-24s %5s %-8s %-9s %8s %7s %7s\n", "first layer", "shape", "count", "pass",
         "algo", "ms", "direct", "product");
  static const char *pass_names[] = {"forward", "data", "weight"};
  double total_ms = 0, total_product = 0;
  int rc = 0;
  for (int k = 0; k < n && !rc; k++) {
    const ConvShape *s = &kinds[k].s;
    Rng r = rng_derive(1, RNG_SYNTH, (uint64_t)k);
    const size_t nin = (size_t)s->B * s->H * s->W * s->C,
                 nout = (size_t)s->B * s->OH * s->OW * s->O;
    const size_t nw = (size_t)s->O * (s->C / s->groups) * s->KH * s->KW;
    float *in = random_floats(nin, &r), *w = random_floats(nw, &r), *dout = random_floats(nout, &r);
    float *out = malloc(nout * sizeof(float) + 1), *din = calloc(nin + 1, sizeof(float));
    float *dw = calloc(nw + 1, sizeof(float));
    float *scratch = malloc(conv_scratch_floats(s) * sizeof(float) + 1);
    if (!in || !w || !dout || !out || !din || !dw || !scratch) {
      fprintf(stderr, "ecore bench: out of memory for the convolution %s\n",
              m->params[m->ops[kinds[k].op].w].name);
      rc = 1;
    }
    char shape[64], layer[64];
    snprintf(shape, sizeof shape, "%dx%dx%d->%d %dx%d/%d", s->H, s->W, s->C, s->O, s->KH, s->KW,
             s->stride);
    snprintf(layer, sizeof layer, "%s", m->params[m->ops[kinds[k].op].w].name);
    char *dot = strrchr(layer, '.');  // "layer1.0.conv1.weight" -> "layer1.0.conv1"
    if (dot) *dot = 0;
    const double direct = 2.0 * s->B * s->OH * s->OW * s->O * (s->C / s->groups) * s->KH * s->KW;
    for (int p = 0; p < 3 && !rc; p++) {
      if (p == CONV_PASS_DATA && !kinds[k].data) continue;  // the model's input needs no din
      const double t =
          time_pass((ConvPass)p, s, out, din, dw, in, w, dout, scratch, warmup, steps, times);
      const double product = conv_product_flops(s, (ConvPass)p);
      printf("  %-22s %-24s %5d %-8s %-9s %8.3f %7.1f %7.1f\n", layer, shape, kinds[k].count,
             pass_names[p], algo_name(conv_algo(s, (ConvPass)p)), 1e3 * t, direct / t / 1e9,
             product / t / 1e9);
      total_ms += 1e3 * t * kinds[k].count;
      total_product += product * kinds[k].count;
    }
    free(in), free(w), free(dout), free(out), free(din), free(dw), free(scratch);
  }
  if (!rc) {
    printf("conv_ms_per_step=%.2f\n", total_ms);
    printf("conv_product_gflop_per_step=%.3f\n", total_product / 1e9);
    printf("conv_kernel=%s\n", cg_fast() ? "ecore_avx512" : "openblas_sgemm");
    printf("conv_kernel_peak_gflops=%.1f\n", peak);
    printf("conv_ms_at_kernel_peak=%.2f\n", 1e3 * total_product / (peak * 1e9));
  }
  free(kinds), free(times);
  return rc;
}
