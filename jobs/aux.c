// aux.c: building, initialising and copying the auxiliary modules (see aux.h).
#include "aux.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"

enum { AUX_MAX_PARAMS = MODEL_MAX_POINTS * (5 * AUX_MAX_BLOCKS + 6) };

int aux_points_from_names(AuxSpec *s, const Model *m, const char *const *names, int n, Err *e) {
  if (n > m->n_points)
    return errf(e, ERR_CONFIG, "%d supervision points given, %s has %d", n, arch_name(m->spec.arch),
                m->n_points);
  int last = -1;
  for (int i = 0; i < n; i++) {
    int found = -1;
    for (int l = 0; l < m->n_points; l++)
      if (!strcmp(names[i], m->point_names[l])) found = l;
    if (found < 0)
      return errf(e, ERR_CONFIG, "%s has no supervision point \"%s\"", arch_name(m->spec.arch),
                  names[i]);
    if (found <= last)
      return errf(e, ERR_CONFIG, "supervision points must be distinct and in network order (%s)",
                  names[i]);
    s->points[i] = last = found;
  }
  s->n_points = n;
  return 0;
}

// ---------------------------------------------------------------------------------------------
// building

static int add_param(AuxModules *a, const char *prefix, const char *name, ParamKind kind, int d0,
                     int d1, int d2, int d3) {
  AuxParam *p = &a->params[a->n_params];
  snprintf(p->name, sizeof p->name, "%s.%s", prefix, name);
  p->kind = kind;
  p->is_buffer = kind == PARAM_BN_MEAN || kind == PARAM_BN_VAR;
  p->ndim = kind == PARAM_CONV_W ? 4 : kind == PARAM_LINEAR_W ? 2 : 1;
  int dims[4] = {d0, d1, d2, d3};
  p->size = 1;
  for (int i = 0; i < p->ndim; i++) p->shape[i] = dims[i], p->size *= dims[i];
  int64_t *top = p->is_buffer ? &a->n_buffer_floats : &a->n_param_floats;
  p->offset = *top;
  *top += p->size;
  return a->n_params++;
}

// The conv summariser's blocks for a point of h×w×c, down to hL×wL×cL (see aux.h).
static void add_blocks(AuxModules *a, AuxModule *md, int hL, int wL, int cL) {
  int h = md->h, w = md->w, c = md->c, n = 0;
  for (int hh = h, ww = w; hh > hL || ww > wL; n++) hh = (hh + 1) / 2, ww = (ww + 1) / 2;
  if (n == 0) n = 1;
  if (n > AUX_MAX_BLOCKS) n = AUX_MAX_BLOCKS;
  for (int i = 0; i < n; i++) {
    int stride = (h > hL || w > wL) ? 2 : 1;
    int out_c = i == n - 1 ? cL : (2 * c < cL ? 2 * c : cL);
    AuxBlock *b = &md->blocks[i];
    b->conv = conv_shape(1, h, w, c, out_c, 3, 3, stride, 1, 1);
    char p[80];
    snprintf(p, sizeof p, "%s.summariser.%d.0", md->name, i);
    b->w = add_param(a, p, "weight", PARAM_CONV_W, out_c, c, 3, 3);
    snprintf(p, sizeof p, "%s.summariser.%d.1", md->name, i);
    b->gamma = add_param(a, p, "weight", PARAM_BN_W, out_c, 0, 0, 0);
    b->beta = add_param(a, p, "bias", PARAM_BN_B, out_c, 0, 0, 0);
    b->rm = add_param(a, p, "running_mean", PARAM_BN_MEAN, out_c, 0, 0, 0);
    b->rv = add_param(a, p, "running_var", PARAM_BN_VAR, out_c, 0, 0, 0);
    h = b->conv.OH, w = b->conv.OW, c = out_c;
  }
  md->n_blocks = n;
  md->d = cL;
}

int aux_spec_check(const AuxSpec *s, Arch arch, Err *e) {
  if (s->proj_dim < 1) return errf(e, ERR_CONFIG, "ec.proj_dim must be positive");
  if (s->summariser == AUX_SUMMARISER_CONV && arch == ARCH_MLP)
    return errf(e, ERR_CONFIG, "ec.summariser conv needs feature maps; mlp has none (use gap)");
  return 0;
}

int aux_create(AuxModules *a, const Model *m, const AuxSpec *spec, Err *e) {
  memset(a, 0, sizeof *a);
  a->spec = *spec;
  a->comm = MPI_COMM_NULL;
  a->num_classes = m->spec.num_classes;
  int rc = aux_spec_check(spec, m->spec.arch, e);
  if (rc) return rc;
  if (spec->n_points == 0) {
    a->spec.n_points = m->n_points;
    for (int l = 0; l < m->n_points; l++) a->spec.points[l] = l;
  }
  for (int k = 0; k < a->spec.n_points; k++)
    if (a->spec.points[k] < 0 || a->spec.points[k] >= m->n_points ||
        (k && a->spec.points[k] <= a->spec.points[k - 1]))
      return errf(e, ERR_CONFIG, "bad supervision point index %d", a->spec.points[k]);
  a->params = calloc(AUX_MAX_PARAMS, sizeof(AuxParam));
  if (!a->params) return errf(e, ERR_RUNTIME, "out of memory for the EC modules");
  int hL, wL, cL;
  model_point(m, m->n_points - 1, &hL, &wL, &cL);
  const int P = spec->proj_dim, K = m->spec.num_classes;
  a->n_modules = a->spec.n_points;
  for (int k = 0; k < a->n_modules; k++) {
    AuxModule *md = &a->mod[k];
    md->point = a->spec.points[k];
    snprintf(md->name, sizeof md->name, "%s", m->point_names[md->point]);
    model_point(m, md->point, &md->h, &md->w, &md->c);
    md->d = md->c;
    const int is_last = md->point == m->n_points - 1;
    if (spec->summariser == AUX_SUMMARISER_CONV && !is_last) add_blocks(a, md, hL, wL, cL);
    char p[80];
    const int d = md->d;
    md->w1 = md->b1 = md->w2 = md->b2 = -1;
    md->p = d;
    if (spec->head != AUX_HEAD_NONE) {
      snprintf(p, sizeof p, "%s.projection.0", md->name);
      md->w1 = add_param(a, p, "weight", PARAM_LINEAR_W, d, d, 0, 0);
      md->b1 = add_param(a, p, "bias", PARAM_LINEAR_B, d, 0, 0, 0);
      snprintf(p, sizeof p, "%s.projection.2", md->name);
      md->w2 = add_param(a, p, "weight", PARAM_LINEAR_W, P, d, 0, 0);
      md->b2 = add_param(a, p, "bias", PARAM_LINEAR_B, P, 0, 0, 0);
      md->p = P;
    }
    md->wc = md->bc = -1;
    if (!(is_last && spec->own_head_last)) {
      snprintf(p, sizeof p, "%s.classifier", md->name);
      md->wc = add_param(a, p, "weight", PARAM_LINEAR_W, K, d, 0, 0);
      md->bc = add_param(a, p, "bias", PARAM_LINEAR_B, K, 0, 0, 0);
    }
  }
  a->param_mem = calloc((size_t)(a->n_param_floats ? a->n_param_floats : 1), sizeof(float));
  a->grad_mem = calloc((size_t)(a->n_param_floats ? a->n_param_floats : 1), sizeof(float));
  a->buffer_mem = calloc((size_t)(a->n_buffer_floats ? a->n_buffer_floats : 1), sizeof(float));
  if (!a->param_mem || !a->grad_mem || !a->buffer_mem) {
    aux_free(a);
    return errf(e, ERR_RUNTIME, "out of memory for the EC modules");
  }
  return 0;
}

void aux_free(AuxModules *a) {
  free(a->params), free(a->param_mem), free(a->grad_mem), free(a->buffer_mem);
  memset(a, 0, sizeof *a);
  a->comm = MPI_COMM_NULL;
}

float *aux_param_data(AuxModules *a, int i) {
  const AuxParam *p = &a->params[i];
  return (p->is_buffer ? a->buffer_mem : a->param_mem) + p->offset;
}

void aux_init(AuxModules *a, uint64_t seed) {
  // A stream of its own per parameter, apart from the backbone's (which uses small indices).
  const uint64_t base = rng_hash(seed, 0xa0c5);
  for (int i = 0; i < a->n_params; i++) {
    const AuxParam *p = &a->params[i];
    float *d = aux_param_data(a, i);
    Rng r = rng_derive(base, RNG_INIT, (uint64_t)i);
    int fan_in = p->kind == PARAM_LINEAR_B ? a->params[i - 1].shape[1] : p->shape[1];
    param_init(p->kind, p->shape, p->size, fan_in, &r, d);
  }
}

int aux_clone(AuxModules *dst, const AuxModules *src, Err *e) {
  *dst = *src;
  dst->params = malloc(AUX_MAX_PARAMS * sizeof(AuxParam));
  dst->param_mem = malloc((size_t)(src->n_param_floats ? src->n_param_floats : 1) * sizeof(float));
  dst->grad_mem = calloc((size_t)(src->n_param_floats ? src->n_param_floats : 1), sizeof(float));
  dst->buffer_mem =
      malloc((size_t)(src->n_buffer_floats ? src->n_buffer_floats : 1) * sizeof(float));
  if (!dst->params || !dst->param_mem || !dst->grad_mem || !dst->buffer_mem) {
    aux_free(dst);
    return errf(e, ERR_RUNTIME, "out of memory copying the EC modules");
  }
  memcpy(dst->params, src->params, AUX_MAX_PARAMS * sizeof(AuxParam));
  memcpy(dst->param_mem, src->param_mem, (size_t)src->n_param_floats * sizeof(float));
  memcpy(dst->buffer_mem, src->buffer_mem, (size_t)src->n_buffer_floats * sizeof(float));
  return 0;
}

void aux_zero_grads(AuxModules *a) {
  memset(a->grad_mem, 0, (size_t)a->n_param_floats * sizeof(float));
}

int aux_max_embed(const AuxModules *a) {
  int p = 1;
  for (int k = 0; k < a->n_modules; k++)
    if (a->mod[k].p > p) p = a->mod[k].p;
  return p;
}

void aux_train_mask(const AuxModules *a, float *mask) {
  for (int64_t i = 0; i < a->n_param_floats; i++) mask[i] = 1.0f;
  if (a->spec.head != AUX_HEAD_FROZEN) return;
  for (int k = 0; k < a->n_modules; k++) {
    const int head[4] = {a->mod[k].w1, a->mod[k].b1, a->mod[k].w2, a->mod[k].b2};
    for (int j = 0; j < 4; j++) {
      const AuxParam *p = &a->params[head[j]];
      for (int64_t i = 0; i < p->size; i++) mask[p->offset + i] = 0.0f;
    }
  }
}

void aux_allreduce_grads(AuxModules *a) {
  int n = 1;
  if (a->comm != MPI_COMM_NULL) MPI_Comm_size(a->comm, &n);
  if (n > 1)
    MPI_Allreduce(MPI_IN_PLACE, a->grad_mem, (int)a->n_param_floats, MPI_FLOAT, MPI_SUM, a->comm);
}
