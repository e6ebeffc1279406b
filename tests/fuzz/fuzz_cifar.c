// fuzz_cifar.c: the CIFAR binary reader (cifar10 and cifar100 records) through data_load_cifar.
//
// Input: 1 byte (bit 0: cifar100, else cifar10; bits 1..7: max_train, 0: all), then the file,
// named as the one train and the one test file.
#include <string.h>

#include "data.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  const char *path = fuzz_file("cifar", data + 1, size - 1);
  if (!path) return 0;
  DataSpec spec;
  data_spec_init(&spec);
  strcpy(spec.name, data[0] & 1 ? "cifar100" : "cifar10");
  strcpy(spec.train_files[0], path), strcpy(spec.test_files[0], path);
  spec.n_train_files = spec.n_test_files = 1;
  spec.max_train = data[0] >> 1;
  ImageSet train, test;
  Err e = {0};
  if (!data_load_cifar(&train, &test, &spec, &e)) {
    imageset_free(&train);
    imageset_free(&test);
  }
  return 0;
}
