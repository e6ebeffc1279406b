// fuzz_idx.c: the idx reader (mnist, fashion-mnist; gzip or raw) through data_load_idx.
//
// Input: 1 byte max_train (0: all), a little-endian u32 n, then n bytes of the images file
// (idx3) and the rest, the labels file (idx1). Both are written to temp files and named as
// the train and the test files.
#include <string.h>

#include "data.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 5) return 0;
  uint32_t n = (uint32_t)data[1] | (uint32_t)data[2] << 8 | (uint32_t)data[3] << 16 |
               (uint32_t)data[4] << 24;
  size_t rest = size - 5;
  if (n > rest) n = (uint32_t)rest;
  const char *img = fuzz_file("images", data + 5, n);
  const char *lab = fuzz_file("labels", data + 5 + n, rest - n);
  if (!img || !lab) return 0;
  DataSpec spec;
  data_spec_init(&spec);
  strcpy(spec.name, "mnist");
  strcpy(spec.train_files[0], img), strcpy(spec.train_files[1], lab);
  strcpy(spec.test_files[0], img), strcpy(spec.test_files[1], lab);
  spec.n_train_files = spec.n_test_files = 2;
  spec.max_train = data[0];
  ImageSet train, test;
  Err e = {0};
  if (!data_load_idx(&train, &test, &spec, &e)) {
    imageset_free(&train);
    imageset_free(&test);
  }
  return 0;
}
