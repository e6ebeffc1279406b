// aux.c: building, initialising and copying the auxiliary modules (see aux.h).
#include "aux.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"
#include "rng.h"

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

// The conv summariser's blocks for md's point, down to the last point's shape (see aux.h), on
// value x of m; returns the last block's output.
static int add_blocks(Model *m, const AuxModules *a, AuxModule *md, int x) {
  const int hL = a->last_h, wL = a->last_w, cL = a->last_c;
  int h = md->h, w = md->w, c = md->c, n = 0;
  for (int hh = h, ww = w; hh > hL || ww > wL; n++) hh = (hh + 1) / 2, ww = (ww + 1) / 2;
  if (n == 0) n = 1;
  if (n > AUX_MAX_BLOCKS) n = AUX_MAX_BLOCKS;
  for (int i = 0; i < n; i++) {
    const int stride = (h > hL || w > wL) ? 2 : 1;
    const int out_c = i == n - 1 ? cL : (2 * c < cL ? 2 * c : cL);
    char p[80];
    snprintf(p, sizeof p, "%s.summariser.%d.0", md->name, i);
    const int cw = model_param(m, p, "weight", PARAM_CONV_W, out_c, c, 3, 3);
    snprintf(p, sizeof p, "%s.summariser.%d.1", md->name, i);
    const int g = model_param(m, p, "weight", PARAM_BN_W, out_c, 0, 0, 0);
    const int b = model_param(m, p, "bias", PARAM_BN_B, out_c, 0, 0, 0);
    const int rm = model_param(m, p, "running_mean", PARAM_BN_MEAN, out_c, 0, 0, 0);
    const int rv = model_param(m, p, "running_var", PARAM_BN_VAR, out_c, 0, 0, 0);
    x = model_op_bn(m, model_op_conv(m, x, cw, out_c, 3, stride, 1), g, b, rm, rv, 1);
    h = m->values[x].h, w = m->values[x].w, c = out_c;
  }
  md->n_blocks = n;
  md->d = cL;
  return x;
}

// The parameters come in the cached files' order (summariser blocks, projection, classifier); the
// classifier's op comes before the projection's, so that the backward adds the projection's
// gradient of the summary first, then the classifier's.
void aux_describe(Model *m, const AuxModules *a, AuxModule *md) {
  const int P = a->spec.proj_dim, K = a->num_classes;
  md->param_off = m->n_param_floats, md->buffer_off = m->n_buffer_floats;
  md->n_blocks = 0;
  md->d = md->c;
  int x = model_graph_input(m, md->h, md->w, md->c);
  if (a->spec.summariser == AUX_SUMMARISER_CONV && !md->last) x = add_blocks(m, a, md, x);
  const int hs = model_op_gap(m, x), d = md->d;
  char p[80];
  md->w1 = md->b1 = md->w2 = md->b2 = -1;
  md->p = d;
  if (a->spec.head != AUX_HEAD_NONE) {
    snprintf(p, sizeof p, "%s.projection.0", md->name);
    md->w1 = model_param(m, p, "weight", PARAM_LINEAR_W, d, d, 0, 0);
    md->b1 = model_param(m, p, "bias", PARAM_LINEAR_B, d, 0, 0, 0);
    snprintf(p, sizeof p, "%s.projection.2", md->name);
    md->w2 = model_param(m, p, "weight", PARAM_LINEAR_W, P, d, 0, 0);
    md->b2 = model_param(m, p, "bias", PARAM_LINEAR_B, P, 0, 0, 0);
    md->p = P;
  }
  md->wc = md->bc = -1;
  if (!(md->last && a->spec.own_head_last)) {
    snprintf(p, sizeof p, "%s.classifier", md->name);
    md->wc = model_param(m, p, "weight", PARAM_LINEAR_W, K, d, 0, 0);
    md->bc = model_param(m, p, "bias", PARAM_LINEAR_B, K, 0, 0, 0);
  }
  const int logits = md->wc >= 0 ? model_op_linear(m, hs, md->wc, md->bc) : -1;
  int u = hs;
  if (md->w1 >= 0)
    u = model_op_linear(m, model_op_relu(m, model_op_linear(m, hs, md->w1, md->b1)), md->w2,
                        md->b2);
  model_graph_output(m, model_op_l2norm(m, u));  // z
  if (logits >= 0) model_graph_output(m, logits);
}

// Every module's graph into a->net, parameters only (a->mod's shapes are set).
static int build_net(AuxModules *a, Err *e) {
  int rc = model_graph_begin(&a->net, e);
  if (rc) return rc;
  for (int k = 0; k < a->n_modules; k++) aux_describe(&a->net, a, &a->mod[k]);
  return model_graph_finish(&a->net, 0, e);
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
  model_point(m, m->n_points - 1, &a->last_h, &a->last_w, &a->last_c);
  a->n_modules = a->spec.n_points;
  for (int k = 0; k < a->n_modules; k++) {
    AuxModule *md = &a->mod[k];
    md->point = a->spec.points[k];
    md->last = md->point == m->n_points - 1;
    snprintf(md->name, sizeof md->name, "%s", m->point_names[md->point]);
    model_point(m, md->point, &md->h, &md->w, &md->c);
  }
  if ((rc = build_net(a, e))) return err_context(e, "EC modules");
  return 0;
}

void aux_free(AuxModules *a) {
  model_free(&a->net);
  memset(a, 0, sizeof *a);
  a->comm = MPI_COMM_NULL;
}

float *aux_param_data(AuxModules *a, int i) {
  return model_param_data(&a->net, i);
}

void aux_init(AuxModules *a, uint64_t seed) {
  // A stream of its own per parameter, apart from the backbone's (which uses small indices).
  model_init(&a->net, rng_hash(seed, 0xa0c5));
}

int aux_clone(AuxModules *dst, const AuxModules *src, Err *e) {
  memset(dst, 0, sizeof *dst);
  dst->spec = src->spec;
  dst->num_classes = src->num_classes;
  dst->last_h = src->last_h, dst->last_w = src->last_w, dst->last_c = src->last_c;
  dst->n_modules = src->n_modules;
  memcpy(dst->mod, src->mod, sizeof dst->mod);
  dst->comm = src->comm;
  int rc = build_net(dst, e);
  if (rc) return err_context(e, "copying the EC modules");
  memcpy(dst->net.param_mem, src->net.param_mem, (size_t)src->net.n_param_floats * sizeof(float));
  memcpy(dst->net.buffer_mem, src->net.buffer_mem,
         (size_t)src->net.n_buffer_floats * sizeof(float));
  return 0;
}

void aux_zero_grads(AuxModules *a) {
  model_zero_grads(&a->net);
}

int aux_max_embed(const AuxModules *a) {
  int p = 1;
  for (int k = 0; k < a->n_modules; k++)
    if (a->mod[k].p > p) p = a->mod[k].p;
  return p;
}

void aux_train_mask(const AuxModules *a, float *mask) {
  for (int64_t i = 0; i < a->net.n_param_floats; i++) mask[i] = 1.0f;
  if (a->spec.head != AUX_HEAD_FROZEN) return;
  for (int k = 0; k < a->n_modules; k++) {
    const int head[4] = {a->mod[k].w1, a->mod[k].b1, a->mod[k].w2, a->mod[k].b2};
    for (int j = 0; j < 4; j++) {
      const ParamInfo *p = &a->net.params[head[j]];
      for (int64_t i = 0; i < p->size; i++) mask[p->offset + i] = 0.0f;
    }
  }
}

void aux_allreduce_grads(AuxModules *a) {
  a->net.comm = a->comm;
  dist_allreduce_grads(&a->net);
}
