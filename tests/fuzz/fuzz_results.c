// fuzz_results.c: the results-file reader (results_read, what report, status, export and merge
// read a file with), then results_latest_rows on what it read.
//
// Input (fuzz_results): the HDF5 results file. Input (fuzz_results_edit, built with
// FUZZ_H5EDIT and FUZZ_TEMPLATE, a results file ecore wrote): h5edit.c's edits to that file.
#include <stdlib.h>

#include "fuzz.h"
#include "results.h"

#ifdef FUZZ_H5EDIT
static const char *input_file(const uint8_t *data, size_t size) {
  static uint8_t *tmpl;  // the template's bytes [n], read once per process
  static size_t n;
  if (!tmpl && !(tmpl = fuzz_read(FUZZ_TEMPLATE, &n))) return NULL;
  const char *path = fuzz_file("results.h5", tmpl, n);
  return path && !h5edit_apply(path, data, size) ? path : NULL;
}
#else
static const char *input_file(const uint8_t *data, size_t size) {
  return fuzz_file("results.h5", data, size);
}
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = input_file(data, size);
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
