// fuzz_ckpt.c: the checkpoint reader (solver/ckpt.c) as `ecore eval` and model.original use it:
// eval_load_model (ckpt_peek, the width from the file, model_create, ckpt_load); then, on a
// model it loaded, the resume path (ckpt_load with the optimiser state) and ckpt_load_aux.
//
// Input: the HDF5 checkpoint.
#include "ckpt.h"
#include "fuzz.h"
#include "metrics.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = fuzz_file("ckpt.h5", data, size);
  if (!path) return 0;
  Model m;
  CkptMeta meta;
  Err e = {0};
  if (eval_load_model(&m, path, 0, 1, &meta, &e)) return 0;
  Sgd opt;
  if (!sgd_init(&opt, m.n_param_floats, 0.9f, 5e-4f, 1, &e)) {
    ckpt_load(path, &m, &meta, &opt, &e);
    sgd_free(&opt);
  }
  float aux[16];
  ckpt_load_aux(path, "fuzz", aux, 16, &e);
  model_free(&m);
  return 0;
}
