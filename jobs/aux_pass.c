// aux_pass.c: forward and backward of the auxiliary modules (see aux.h).
//
// Per module, on a point activation x [B, h, w, c] (NHWC):
//   blocks:     conv_out_b = conv3x3(in_b), bn_out_b = relu(bn(conv_out_b))  [B, OH, OW, O]
//   summary:    hs = avgpool(last block out, or x)                           [B, d]
//   projection: u1 = hs·W1ᵀ + b1, r1 = relu(u1), u2 = r1·W2ᵀ + b2            [B, d], [B, P]
//               z = u2/‖u2‖                                                  [B, P]
//   (no head:   z = hs/‖hs‖                                                  [B, d])
//   classifier: logits = hs·Wcᵀ + bc                                         [B, K]
#include <stdlib.h>
#include <string.h>

#include "aux.h"

static int comm_size(MPI_Comm c) {
  int n = 1;
  if (c != MPI_COMM_NULL) MPI_Comm_size(c, &n);
  return n;
}

static float *alloc_floats(size_t n, int *fail) {
  float *p = malloc((n ? n : 1) * sizeof(float));
  if (!p) *fail = 1;
  return p;
}

static size_t block_out_floats(const AuxBlock *b) {
  return (size_t)b->conv.OH * b->conv.OW * b->conv.O;
}

int aux_work_init(AuxWork *w, const AuxModules *a, int capacity, Err *e) {
  memset(w, 0, sizeof *w);
  w->capacity = capacity;
  const size_t cap = (size_t)(capacity > 0 ? capacity : 1);
  const size_t P = (size_t)a->spec.proj_dim, K = (size_t)a->num_classes;
  size_t scratch = 1, max_c = 1;
  int fail = 0;
  for (int k = 0; k < a->n_modules && !fail; k++) {
    const AuxModule *md = &a->mod[k];
    size_t biggest = 1;
    for (int b = 0; b < md->n_blocks; b++) {
      ConvShape s = md->blocks[b].conv;
      s.B = (int)cap;
      size_t need = conv_scratch_floats(&s);
      if (need > scratch) scratch = need;
      if ((size_t)s.O > max_c) max_c = (size_t)s.O;
      size_t n = cap * block_out_floats(&md->blocks[b]);
      if (n > biggest) biggest = n;
      w->m[k].conv_out[b] = alloc_floats(n, &fail);
      w->m[k].bn_out[b] = alloc_floats(n, &fail);
      w->m[k].mean[b] = alloc_floats(2 * (size_t)s.O, &fail);
      w->m[k].rstd[b] = w->m[k].mean[b] ? w->m[k].mean[b] + s.O : NULL;
    }
    if (md->n_blocks) {
      w->m[k].dbn = alloc_floats(biggest, &fail);
      w->m[k].dconv = alloc_floats(biggest, &fail);
    }
    const size_t d = (size_t)md->d, p = (size_t)md->p;
    const int head = md->w1 >= 0;
    w->m[k].hs = alloc_floats(cap * d, &fail);
    w->m[k].u1 = head ? alloc_floats(cap * d, &fail) : NULL;
    w->m[k].r1 = head ? alloc_floats(cap * d, &fail) : NULL;
    w->m[k].u2 = head ? alloc_floats(cap * P, &fail) : NULL;
    w->m[k].z = alloc_floats(cap * p, &fail);
    w->m[k].norms = alloc_floats(cap, &fail);
    w->m[k].logits = md->wc >= 0 ? alloc_floats(cap * K, &fail) : NULL;
    w->m[k].dh = alloc_floats(cap * d, &fail);
    w->m[k].dr1 = head ? alloc_floats(cap * d, &fail) : NULL;
    w->m[k].du1 = head ? alloc_floats(cap * d, &fail) : NULL;
    w->m[k].du2 = head ? alloc_floats(cap * P, &fail) : NULL;
  }
  w->scratch = alloc_floats(scratch, &fail);
  w->bn_sums = malloc((2 * max_c + 1) * sizeof(double));
  if (fail || !w->bn_sums) {
    aux_work_free(w);
    return errf(e, ERR_RUNTIME, "out of memory for the EC modules' activations (batch %d)",
                capacity);
  }
  return 0;
}

void aux_work_free(AuxWork *w) {
  for (int k = 0; k < MODEL_MAX_POINTS; k++) {
    for (int b = 0; b < AUX_MAX_BLOCKS; b++)
      free(w->m[k].conv_out[b]), free(w->m[k].bn_out[b]), free(w->m[k].mean[b]);
    free(w->m[k].dbn), free(w->m[k].dconv);
    free(w->m[k].hs), free(w->m[k].u1), free(w->m[k].r1), free(w->m[k].u2), free(w->m[k].z);
    free(w->m[k].norms), free(w->m[k].logits);
    free(w->m[k].dh), free(w->m[k].dr1), free(w->m[k].du1), free(w->m[k].du2);
  }
  free(w->scratch), free(w->bn_sums);
  memset(w, 0, sizeof *w);
}

static float *grad_of(AuxModules *a, int i) {
  return a->grad_mem + a->params[i].offset;
}

// Sums a BN reduction over the group (statistics of the whole distributed batch).
static void bn_reduce(AuxModules *a, double *sums, int C) {
  if (comm_size(a->comm) > 1)
    MPI_Allreduce(MPI_IN_PLACE, sums, 2 * C + 1, MPI_DOUBLE, MPI_SUM, a->comm);
}

void aux_forward(AuxModules *a, AuxWork *w, int k, const float *x, int B, int train) {
  const AuxModule *md = &a->mod[k];
  const int P = a->spec.proj_dim, K = a->num_classes, d = md->d;
  w->m[k].in = x;
  w->m[k].train = train;
  w->batch = B;
  const float *cur = x;
  int hw = md->h * md->w;
  for (int b = 0; b < md->n_blocks; b++) {
    const AuxBlock *blk = &md->blocks[b];
    ConvShape s = blk->conv;
    s.B = B;
    float *co = w->m[k].conv_out[b], *bo = w->m[k].bn_out[b];
    conv_forward(co, cur, aux_param_data(a, blk->w), NULL, &s, w->scratch);
    const int N = B * s.OH * s.OW, C = s.O;
    const float *gamma = aux_param_data(a, blk->gamma), *beta = aux_param_data(a, blk->beta);
    float *rm = aux_param_data(a, blk->rm), *rv = aux_param_data(a, blk->rv);
    if (train) {
      bn_stats(w->bn_sums, co, N, C);
      w->bn_sums[2 * C] = N;
      bn_reduce(a, w->bn_sums, C);
      bn_forward_train(bo, w->m[k].mean[b], w->m[k].rstd[b], rm, rv, co, gamma, beta, w->bn_sums,
                       (long)w->bn_sums[2 * C], N, C, 0.1f, 1e-5f, 1);
    } else {
      bn_forward_eval(bo, co, gamma, beta, rm, rv, N, C, 1e-5f, 1);
    }
    cur = bo;
    hw = s.OH * s.OW;
  }
  float *hs = w->m[k].hs;
  avgpool_forward(hs, cur, B, hw, d);
  if (md->w1 < 0) {
    l2norm_forward(w->m[k].z, w->m[k].norms, hs, B, d);
  } else {
    linear_forward(w->m[k].u1, hs, aux_param_data(a, md->w1), aux_param_data(a, md->b1), B, d, d);
    relu_forward(w->m[k].r1, w->m[k].u1, (size_t)B * d);
    linear_forward(w->m[k].u2, w->m[k].r1, aux_param_data(a, md->w2), aux_param_data(a, md->b2), B,
                   d, P);
    l2norm_forward(w->m[k].z, w->m[k].norms, w->m[k].u2, B, P);
  }
  if (md->wc >= 0)
    linear_forward(w->m[k].logits, hs, aux_param_data(a, md->wc), aux_param_data(a, md->bc), B, d,
                   K);
}

const float *aux_z(const AuxWork *w, int k) {
  return w->m[k].z;
}

const float *aux_logits(const AuxWork *w, int k) {
  return w->m[k].logits;
}

// Backward of block b: dout = d(bn_out_b) in w->m[k].dbn. d(block input) is ADDED into din
// (NULL: not needed) after zeroing its first zero_din floats: din may be dbn itself, which is
// free once the BN backward has read it (d(bn_out_b) becomes d(bn_out_{b-1})). Collective
// (synchronised BN) in training mode.
static void block_backward(AuxModules *a, AuxWork *w, int k, int b, float *din, size_t zero_din,
                           int B) {
  const AuxBlock *blk = &a->mod[k].blocks[b];
  ConvShape s = blk->conv;
  s.B = B;
  const int N = B * s.OH * s.OW, C = s.O;
  const float *in = b ? w->m[k].bn_out[b - 1] : w->m[k].in;
  const float *co = w->m[k].conv_out[b], *bo = w->m[k].bn_out[b], *dout = w->m[k].dbn;
  const float *gamma = aux_param_data(a, blk->gamma);
  float *dconv = w->m[k].dconv;
  memset(dconv, 0, (size_t)N * C * sizeof(float));
  if (w->m[k].train) {
    bn_backward_stats(w->bn_sums, grad_of(a, blk->gamma), grad_of(a, blk->beta), dout, bo, co,
                      w->m[k].mean[b], w->m[k].rstd[b], N, C, 1);
    w->bn_sums[2 * C] = N;
    bn_reduce(a, w->bn_sums, C);
    bn_backward_apply(dconv, dout, bo, co, w->m[k].mean[b], w->m[k].rstd[b], gamma, w->bn_sums,
                      (long)w->bn_sums[2 * C], N, C, 1);
  } else {
    bn_backward_eval(dconv, grad_of(a, blk->gamma), grad_of(a, blk->beta), dout, bo, co, gamma,
                     aux_param_data(a, blk->rm), aux_param_data(a, blk->rv), N, C, 1e-5f, 1);
  }
  if (din && zero_din) memset(din, 0, zero_din * sizeof(float));
  conv_backward(din, grad_of(a, blk->w), NULL, dconv, in, aux_param_data(a, blk->w), &s,
                w->scratch);
}

void aux_backward(AuxModules *a, AuxWork *w, int k, const float *dz, const float *dlogits,
                  float *dx) {
  const AuxModule *md = &a->mod[k];
  const int P = a->spec.proj_dim, K = a->num_classes, d = md->d, B = w->batch;
  float *dh = w->m[k].dh, *hs = w->m[k].hs;
  memset(dh, 0, (size_t)B * d * sizeof(float));
  if (dz && md->w1 < 0) {
    l2norm_backward(dh, dz, w->m[k].z, w->m[k].norms, B, d);
  } else if (dz) {
    float *du2 = w->m[k].du2, *dr1 = w->m[k].dr1, *du1 = w->m[k].du1;
    memset(du2, 0, (size_t)B * P * sizeof(float));
    memset(dr1, 0, (size_t)B * d * sizeof(float));
    memset(du1, 0, (size_t)B * d * sizeof(float));
    l2norm_backward(du2, dz, w->m[k].z, w->m[k].norms, B, P);
    linear_backward(dr1, grad_of(a, md->w2), grad_of(a, md->b2), du2, w->m[k].r1,
                    aux_param_data(a, md->w2), B, d, P);
    relu_backward(du1, dr1, w->m[k].r1, (size_t)B * d);
    linear_backward(dh, grad_of(a, md->w1), grad_of(a, md->b1), du1, hs, aux_param_data(a, md->w1),
                    B, d, d);
  }
  if (dlogits && md->wc >= 0)
    linear_backward(dh, grad_of(a, md->wc), grad_of(a, md->bc), dlogits, hs,
                    aux_param_data(a, md->wc), B, d, K);
  if (md->n_blocks == 0) {
    if (dx) avgpool_backward(dx, dh, B, md->h * md->w, md->c);
    return;
  }
  const AuxBlock *last = &md->blocks[md->n_blocks - 1];
  float *g = w->m[k].dbn;
  memset(g, 0, (size_t)B * block_out_floats(last) * sizeof(float));
  avgpool_backward(g, dh, B, last->conv.OH * last->conv.OW, last->conv.O);
  for (int b = md->n_blocks - 1; b > 0; b--)
    block_backward(a, w, k, b, g, (size_t)B * block_out_floats(&md->blocks[b - 1]), B);
  block_backward(a, w, k, 0, dx, 0, B);
}
