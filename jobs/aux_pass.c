// aux_pass.c: forward and backward of the auxiliary modules (see aux.h): module k's graph model,
// run by the solver on a point activation x [B, h, w, c] (NHWC):
//   blocks:     relu(bn(conv3x3(in)))                      [B, OH, OW, O]
//   summary:    hs = gap(last block's output, or x)        [B, d]
//   classifier: logits = hs·Wcᵀ + bc                       [B, K]
//   projection: z = l2norm(relu(hs·W1ᵀ + b1)·W2ᵀ + b2)     [B, P]
//   (no head:   z = l2norm(hs)                             [B, d])
#include <string.h>

#include "aux.h"

int aux_work_init(AuxWork *w, const AuxModules *a, int capacity, Err *e) {
  memset(w, 0, sizeof *w);
  w->capacity = capacity;
  for (int k = 0; k < a->n_modules; k++) {
    Model *m = &w->m[k];
    AuxModule md = a->mod[k];  // the same graph, its indices and offsets local to m
    int rc = model_graph_begin(m, e);
    if (!rc) {
      aux_describe(m, a, &md);
      m->shared_arenas = 1;  // bound to a->net's at each call
      rc = model_graph_finish(m, capacity > 0 ? capacity : 1, e);
    }
    if (rc) {
      aux_work_free(w);
      return err_context(e, "the EC modules' activations");
    }
  }
  return 0;
}

void aux_work_free(AuxWork *w) {
  for (int k = 0; k < MODEL_MAX_POINTS; k++) model_free(&w->m[k]);
  memset(w, 0, sizeof *w);
}

// Module k's model with its arenas the module's part of a->net's, on a->comm.
static Model *bind(AuxModules *a, AuxWork *w, int k) {
  Model *m = &w->m[k];
  const AuxModule *md = &a->mod[k];
  m->param_mem = a->net.param_mem + md->param_off;
  m->grad_mem = a->net.grad_mem + md->param_off;
  m->buffer_mem = a->net.buffer_mem + md->buffer_off;
  m->comm = a->comm;
  return m;
}

void aux_forward(AuxModules *a, AuxWork *w, int k, const float *x, int B, int train) {
  model_forward(bind(a, w, k), x, B, train);
}

const float *aux_z(const AuxWork *w, int k) {
  const Model *m = &w->m[k];
  return m->values[m->outputs[0]].act;
}

const float *aux_logits(const AuxWork *w, int k) {
  const Model *m = &w->m[k];
  return m->n_outputs > 1 ? m->values[m->outputs[1]].act : NULL;
}

void aux_backward(AuxModules *a, AuxWork *w, int k, const float *dz, const float *dlogits,
                  float *dx) {
  const float *douts[2] = {dz, dlogits};
  model_graph_backward(bind(a, w, k), douts, dx);
}
