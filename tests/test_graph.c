// test_graph.c: graph models (model.h), the shape of EC's auxiliary modules: an NHWC input
// [B, 6, 6, 3] → conv3x3 s2 → BN-ReLU → GAP → h, then logits = Linear(h) and
// z = l2norm(Linear(ReLU(Linear(h)))). model_graph_backward's parameter and input gradients
// match finite differences of L = Σ gz·z + Σ gl·logits (training mode); an output without a
// gradient leaves the parameters only it reaches untouched; the input gradient is added.
#include <string.h>

#include "model.h"
#include "rng.h"
#include "testutil.h"

enum { B = 4, H = 6, W = 6, C = 3, O = 4, D = 4, P = 3, K = 5 };

typedef struct {
  Model m;
  int conv_w, w1, w2, wc;  // param indices
} Graph;

static void build(Graph *g) {
  Err e = {0};
  Model *m = &g->m;
  CHECK(model_graph_begin(m, &e) == 0);
  int x = model_graph_input(m, H, W, C);
  g->conv_w = model_param(m, "s.0", "weight", PARAM_CONV_W, O, C, 3, 3);
  int gw = model_param(m, "s.1", "weight", PARAM_BN_W, O, 0, 0, 0);
  int gb = model_param(m, "s.1", "bias", PARAM_BN_B, O, 0, 0, 0);
  int rm = model_param(m, "s.1", "running_mean", PARAM_BN_MEAN, O, 0, 0, 0);
  int rv = model_param(m, "s.1", "running_var", PARAM_BN_VAR, O, 0, 0, 0);
  g->w1 = model_param(m, "p.0", "weight", PARAM_LINEAR_W, D, O, 0, 0);
  int b1 = model_param(m, "p.0", "bias", PARAM_LINEAR_B, D, 0, 0, 0);
  g->w2 = model_param(m, "p.2", "weight", PARAM_LINEAR_W, P, D, 0, 0);
  int b2 = model_param(m, "p.2", "bias", PARAM_LINEAR_B, P, 0, 0, 0);
  g->wc = model_param(m, "c", "weight", PARAM_LINEAR_W, K, O, 0, 0);
  int bc = model_param(m, "c", "bias", PARAM_LINEAR_B, K, 0, 0, 0);
  int h = model_op_gap(
      m, model_op_bn(m, model_op_conv(m, x, g->conv_w, O, 3, 2, 1), gw, gb, rm, rv, 1));
  int logits = model_op_linear(m, h, g->wc, bc);
  int u = model_op_linear(m, model_op_relu(m, model_op_linear(m, h, g->w1, b1)), g->w2, b2);
  model_graph_output(m, model_op_l2norm(m, u));
  model_graph_output(m, logits);
  CHECK(model_graph_finish(m, B, &e) == 0);
  CHECK(m->n_params == 11 && m->n_outputs == 2);
  model_init(m, 5);
}

static double loss(Model *m, const float *x, const float *gz, const float *gl) {
  model_forward(m, x, B, 1);
  const float *z = m->values[m->outputs[0]].act, *lg = m->values[m->outputs[1]].act;
  double s = 0;
  for (int i = 0; i < B * P; i++) s += (double)gz[i] * z[i];
  for (int i = 0; i < B * K; i++) s += (double)gl[i] * lg[i];
  return s;
}

// d(loss)/d(v[i]) by central differences.
static double numeric(Model *m, float *v, int i, const float *x, const float *gz, const float *gl) {
  const float keep = v[i], h = 3e-4f;
  v[i] = keep + h;
  double up = loss(m, x, gz, gl);
  v[i] = keep - h;
  double down = loss(m, x, gz, gl);
  v[i] = keep;
  return (up - down) / (2.0 * h);
}

int main(void) {
  Graph g;
  build(&g);
  Model *m = &g.m;
  float x[B * H * W * C], gz[B * P], gl[B * K], dx[B * H * W * C];
  Rng r = rng_derive(7, RNG_INIT, 0);
  for (int i = 0; i < B * H * W * C; i++) x[i] = rng_normal(&r);
  for (int i = 0; i < B * P; i++) gz[i] = rng_normal(&r);
  for (int i = 0; i < B * K; i++) gl[i] = rng_normal(&r);

  // Both outputs: every gradient against finite differences; dx is added to.
  for (int i = 0; i < B * H * W * C; i++) dx[i] = 1.0f;
  model_zero_grads(m);
  loss(m, x, gz, gl);
  const float *douts[2] = {gz, gl};
  model_graph_backward(m, douts, dx);
  for (int i = 0; i < B * H * W * C; i += 7)
    CHECK_CLOSE(dx[i] - 1.0, numeric(m, x, i, x, gz, gl), 2e-2, 2e-3);
  const int checked[4] = {g.conv_w, g.w1, g.w2, g.wc};
  for (int j = 0; j < 4; j++) {
    const ParamInfo *p = &m->params[checked[j]];
    for (int64_t i = 0; i < p->size; i += 3)
      CHECK_CLOSE(m->grad_mem[p->offset + i],
                  numeric(m, m->param_mem + p->offset, (int)i, x, gz, gl), 2e-2, 2e-3);
  }

  // The logits alone: the projection's parameters get no gradient, no input gradient asked.
  model_zero_grads(m);
  loss(m, x, gz, gl);
  const float *only_logits[2] = {NULL, gl};
  model_graph_backward(m, only_logits, NULL);
  const ParamInfo *p1 = &m->params[g.w1], *pc = &m->params[g.wc], *pw = &m->params[g.conv_w];
  double head = 0, cls = 0, conv = 0;
  for (int64_t i = 0; i < p1->size; i++) head += fabs(m->grad_mem[p1->offset + i]);
  for (int64_t i = 0; i < pc->size; i++) cls += fabs(m->grad_mem[pc->offset + i]);
  for (int64_t i = 0; i < pw->size; i++) conv += fabs(m->grad_mem[pw->offset + i]);
  CHECK(head == 0 && cls > 0 && conv > 0);

  model_free(m);
  return test_finish("graph");
}
