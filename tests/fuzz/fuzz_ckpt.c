// fuzz_ckpt.c: the checkpoint reader (solver/ckpt.c) as `ecore eval` and model.original use it:
// eval_load_model (ckpt_peek, the width from the file, model_create, ckpt_load); then, on a
// model it loaded, the resume path (ckpt_load with the optimiser state) and ckpt_load_aux.
//
// Input (fuzz_ckpt): the HDF5 checkpoint. Input (fuzz_ckpt_edit, built with FUZZ_H5EDIT):
// h5edit.c's edits to a checkpoint as ecore writes it, with optimiser state and an aux tensor
// (a cnn4 of width 4, made on the first call).
#include <stdlib.h>

#include "ckpt.h"
#include "fuzz.h"
#include "metrics.h"

#ifdef FUZZ_H5EDIT
static const char *input_file(const uint8_t *data, size_t size) {
  static uint8_t *tmpl;  // the template's bytes [n], made once per process
  static size_t n;
  if (!tmpl) {
    const char *path = fuzz_file("template.h5", (const uint8_t *)"", 0);
    ModelSpec s = {.arch = ARCH_CNN4,
                   .in_c = 1,
                   .in_h = 12,
                   .in_w = 12,
                   .num_classes = 10,
                   .batch_capacity = 4,
                   .width = 4};
    Model m;
    Sgd opt;
    Err e = {0};
    float aux[16] = {1, 2, 3};
    CkptTensor t = {.name = "fuzz", .data = aux, .ndim = 2, .shape = {4, 4}};
    CkptMeta meta = {.role = "original", .has_progress = 1, .seed = 1, .epoch = 2, .step = 3};
    meta.mean[0] = 0.5f, meta.std[0] = 0.25f;
    if (!path || model_create(&m, &s, &e)) return NULL;
    model_init(&m, 1);
    int rc = sgd_init(&opt, m.n_param_floats, 0.9f, 5e-4f, 1, &e);
    if (!rc) rc = ckpt_save(path, &m, &meta, &opt, &t, 1, &e), sgd_free(&opt);
    model_free(&m);
    if (rc || !(tmpl = fuzz_read(path, &n))) return NULL;
  }
  const char *path = fuzz_file("ckpt.h5", tmpl, n);
  return path && !h5edit_apply(path, data, size) ? path : NULL;
}
#else
static const char *input_file(const uint8_t *data, size_t size) {
  return fuzz_file("ckpt.h5", data, size);
}
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = input_file(data, size);
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
