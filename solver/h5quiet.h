// h5quiet.h: HDF5 prints its own error stack by default; library code reports through Err
// instead, so each entry point that calls HDF5 silences the stack and restores the caller's
// setting on the way out.
#pragma once

#include <hdf5.h>

typedef struct {
  H5E_auto2_t func;
  void *data;
} Quiet;

static inline Quiet quiet_on(void) {
  Quiet q;
  H5Eget_auto2(H5E_DEFAULT, &q.func, &q.data);
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  return q;
}

static inline void quiet_off(Quiet q) {
  H5Eset_auto2(H5E_DEFAULT, q.func, q.data);
}
