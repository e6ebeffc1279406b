// fuzz_results.c: the results-file reader (results_read, what report, status, export and merge
// read a file with), then results_latest_rows on what it read.
//
// Input: the HDF5 results file.
#include <stdlib.h>

#include "fuzz.h"
#include "results.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = fuzz_file("results.h5", data, size);
  if (!path) return 0;
  ResultsTable t;
  Err e = {0};
  if (!results_read(path, &t, &e)) {
    int *idx = NULL, n = 0;
    if (!results_latest_rows(&t, &idx, &n, &e)) free(idx);
    results_table_free(&t);
  }
  return 0;
}
