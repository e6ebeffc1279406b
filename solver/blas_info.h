// blas_info.h: which BLAS computes, for the provenance of results (the kernel and the thread
// count change the float rounding of every matrix product, hence the numbers).
#pragma once

#include <stddef.h>

// "OpenBLAS 0.3.21 ... Haswell MAX_THREADS=64; kernel Haswell; 1 thread(s) per rank;
// OPENBLAS_CORETYPE unset" for this process.
void blas_describe(char *out, size_t size);
