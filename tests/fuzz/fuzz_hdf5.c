// fuzz_hdf5.c: the HDF5 data-set reader (data.name hdf5) through data_load_hdf5.
//
// Input: 1 byte max_train (0: all), then the HDF5 file.
#include <string.h>

#include "data.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  const char *path = fuzz_file("data.h5", data + 1, size - 1);
  if (!path) return 0;
  DataSpec spec;
  data_spec_init(&spec);
  strcpy(spec.name, "hdf5");
  strcpy(spec.file, path);
  spec.max_train = data[0];
  ImageSet train, test;
  Err e = {0};
  if (!data_load_hdf5(&train, &test, &spec, &e)) {
    imageset_free(&train);
    imageset_free(&test);
  }
  return 0;
}
