// bench_convs.h: `ecore bench --convs` (cmd_bench.c parses, bench_convs.c measures), and the
// sgemm timing of `ecore bench --sgemm` it shares.
#pragma once

#include "model.h"

// GFLOP/s of cblas_sgemm on n x n matrices (cmd_bench.c); 0 if out of memory.
double bench_sgemm_gflops(int n);

// Times each distinct convolution of m (its shape at this batch) alone, forward, input gradient
// (where the model needs it) and weight gradient, the median of `steps` calls after `warmup`,
// and prints a line each, then the totals per training step (key=value): the convolutions' ms,
// the GFLOP of their matrix products, the conv micro-kernel's peak GFLOP/s here, and the ms
// those products would take at that peak. Returns the exit code.
int bench_convs(const Model *m, int batch, int warmup, int steps);
