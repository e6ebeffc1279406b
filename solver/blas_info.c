// blas_info.c: see blas_info.h.
#include "blas_info.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>

void blas_info(BlasInfo *b) {
  const char *core = getenv("OPENBLAS_CORETYPE");
  snprintf(b->coretype, sizeof b->coretype, "%s", core ? core : "unset");
#ifdef OPENBLAS_VERSION
  snprintf(b->build, sizeof b->build, "%s", openblas_get_config());
  snprintf(b->kernel, sizeof b->kernel, "%s", openblas_get_corename());
  b->threads = openblas_get_num_threads();
#else
  const char *threads = getenv("OPENBLAS_NUM_THREADS");
  snprintf(b->build, sizeof b->build, "a CBLAS other than OpenBLAS");
  b->kernel[0] = '\0';
  b->threads = threads ? atoi(threads) : 0;
#endif
}

void blas_describe(char *out, size_t size) {
  BlasInfo b;
  blas_info(&b);
#ifdef OPENBLAS_VERSION
  snprintf(out, size, "%s; kernel %s; %d thread(s) per rank; OPENBLAS_CORETYPE %s", b.build,
           b.kernel, b.threads, b.coretype);
#else
  const char *threads = getenv("OPENBLAS_NUM_THREADS");
  snprintf(out, size, "%s; OPENBLAS_NUM_THREADS %s; OPENBLAS_CORETYPE %s", b.build,
           threads ? threads : "unset", b.coretype);
#endif
}
