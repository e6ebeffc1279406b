// blas_info.h: which BLAS computes, for the provenance of results (the kernel and the thread
// count change the float rounding of every matrix product, hence the numbers).
#pragma once

#include <stddef.h>

typedef struct {
  char build[128];    // "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=64", or
                      // "a CBLAS other than OpenBLAS"
  char kernel[64];    // the kernels OpenBLAS selected for this CPU ("Haswell"); "" if unknown
  int threads;        // BLAS threads of this process (OPENBLAS_NUM_THREADS); 0 if unknown
  char coretype[64];  // OPENBLAS_CORETYPE, which forces a kernel, or "unset"
} BlasInfo;

// The BLAS of this process.
void blas_info(BlasInfo *b);
// "OpenBLAS 0.3.21 ... Haswell MAX_THREADS=64; kernel Haswell; 1 thread(s) per rank;
// OPENBLAS_CORETYPE unset" for this process.
void blas_describe(char *out, size_t size);
