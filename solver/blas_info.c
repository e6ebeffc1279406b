// blas_info.c: see blas_info.h.
#include "blas_info.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>

void blas_describe(char *out, size_t size) {
  const char *core = getenv("OPENBLAS_CORETYPE");
#ifdef OPENBLAS_VERSION
  snprintf(out, size, "%s; kernel %s; %d thread(s) per rank; OPENBLAS_CORETYPE %s",
           openblas_get_config(), openblas_get_corename(), openblas_get_num_threads(),
           core ? core : "unset");
#else
  const char *threads = getenv("OPENBLAS_NUM_THREADS");
  snprintf(out, size, "a CBLAS other than OpenBLAS; OPENBLAS_NUM_THREADS %s; OPENBLAS_CORETYPE %s",
           threads ? threads : "unset", core ? core : "unset");
#endif
}
