// fuzz_hdf5.c: the HDF5 data-set reader (data.name hdf5) through data_load_hdf5.
//
// Input (fuzz_hdf5): 1 byte max_train (0: all), then the HDF5 file. Input (fuzz_hdf5_edit,
// built with FUZZ_H5EDIT and FUZZ_TEMPLATE, an input of fuzz_hdf5): 1 byte max_train, then
// h5edit.c's edits to the template's file.
#include <stdlib.h>
#include <string.h>

#include "data.h"
#include "fuzz.h"

#ifdef FUZZ_H5EDIT
static const char *input_file(const uint8_t *data, size_t size) {
  static uint8_t *tmpl;  // the template's bytes [n], read once per process
  static size_t n;
  if (!tmpl && !(tmpl = fuzz_read(FUZZ_TEMPLATE, &n))) return NULL;
  const char *path = n > 1 ? fuzz_file("data.h5", tmpl + 1, n - 1) : NULL;
  return path && !h5edit_apply(path, data, size) ? path : NULL;
}
#else
static const char *input_file(const uint8_t *data, size_t size) {
  return fuzz_file("data.h5", data, size);
}
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  const char *path = input_file(data + 1, size - 1);
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
