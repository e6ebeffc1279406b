// aux_io.c: the auxiliary modules in checkpoints, under /aux/ (see aux.h).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aux.h"

void aux_tensors(const AuxModules *a, CkptTensor *out) {
  for (int i = 0; i < a->net.n_params; i++) {
    const ParamInfo *p = &a->net.params[i];
    out[i].name = p->name;
    out[i].data = (p->is_buffer ? a->net.buffer_mem : a->net.param_mem) + p->offset;
    out[i].ndim = p->ndim;
    memcpy(out[i].shape, p->shape, sizeof out[i].shape);
  }
}

int aux_save(const char *path, const AuxModules *a, const Model *original, const float *mean,
             const float *std, Err *e) {
  CkptTensor *t = malloc((size_t)(a->net.n_params ? a->net.n_params : 1) * sizeof(CkptTensor));
  if (!t) return errf(e, ERR_RUNTIME, "out of memory saving the EC modules");
  aux_tensors(a, t);
  CkptMeta meta = {0};
  snprintf(meta.role, sizeof meta.role, "ec_modules");
  for (int c = 0; c < original->spec.in_c && c < 4; c++)
    meta.mean[c] = mean[c], meta.std[c] = std[c];
  int rc = ckpt_save(path, original, &meta, NULL, t, a->net.n_params, e);
  free(t);
  return rc;
}

int aux_load(const char *path, AuxModules *a, Err *e) {
  for (int i = 0; i < a->net.n_params; i++) {
    int rc =
        ckpt_load_aux(path, a->net.params[i].name, aux_param_data(a, i), a->net.params[i].size, e);
    if (rc) return err_context(e, "EC modules");
  }
  return 0;
}
