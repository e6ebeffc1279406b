// model.c: allocation, initialisation, forward and backward of a Model (see model.h).
#include "model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "dist.h"
#include "rng.h"

void model_describe(Model *m);  // model_build.c

const char *const arch_names[ARCH_COUNT + 1] = {"mlp",      "cnn4",   "resnet18",
                                                "resnet50", "swin_t", NULL};

int arch_from_name(const char *name) {
  for (int i = 0; i < ARCH_COUNT; i++)
    if (!strcmp(name, arch_names[i])) return i;
  return -1;
}

const char *const stem_names[STEM_COUNT + 1] = {"cifar", "imagenet", NULL};

const char *stem_name(Stem s) {
  return s >= 0 && s < STEM_COUNT ? stem_names[s] : "?";
}

int stem_from_name(const char *name) {
  for (int i = 0; i < STEM_COUNT; i++)
    if (!strcmp(name, stem_names[i])) return i;
  return -1;
}

static const char *const mlp_points[] = {"layer1", "layer2", NULL};
static const char *const stage_points[] = {"layer1", "layer2", "layer3", "layer4", NULL};
static const char *const swin_points[] = {"stage1", "stage2", "stage3", "stage4", NULL};

const char *const *arch_points(Arch a) {
  return a == ARCH_MLP ? mlp_points : a == ARCH_SWIN_T ? swin_points : stage_points;
}

const char *arch_name(Arch a) {
  return a >= 0 && a < ARCH_COUNT ? arch_names[a] : "?";
}

static int64_t value_floats(const Value *v) {
  return (int64_t)v->h * v->w * v->c;
}

// Shares gradient buffers between values whose gradients are never alive together. In the
// backward pass, d(value) is alive from the backward of its last reader (last_use) down to the
// backward of its producer; two values may share a slot if those op ranges do not meet.
static int assign_grad_slots(Model *m, int64_t *slot_floats) {
  int n_slots = 0;
  int slot_low[MODEL_MAX_VALUES];  // lowest op index of the slot's current occupant
  for (int op = m->n_ops; op >= 0; op--) {
    for (int i = 0; i < m->n_values; i++) {
      Value *v = &m->values[i];
      int start = (i == m->logits_value) ? m->n_ops : v->last_use;
      if (start != op || (m->graph && i == m->input_value)) continue;  // the caller's gradient
      int low = v->producer < 0 ? 0 : v->producer;
      int s = 0;
      while (s < n_slots && slot_low[s] <= start) s++;
      if (s == n_slots) slot_floats[n_slots++] = 0;
      slot_low[s] = low;
      if (value_floats(v) > slot_floats[s]) slot_floats[s] = value_floats(v);
      v->grad_slot = s;
    }
  }
  return n_slots;
}

// The ops, values and params tables (MODEL_MAX_* entries each) and the defaults.
static int model_tables(Model *m) {
  m->comm = MPI_COMM_NULL;
  m->bn_sync = 1;
  m->bn_momentum = 0.1f;
  m->bn_eps = 1e-5f;
  m->bucket_floats = DIST_BUCKET_FLOATS;
  m->ops = calloc(MODEL_MAX_OPS, sizeof(Op));
  m->values = calloc(MODEL_MAX_VALUES, sizeof(Value));
  m->params = calloc(MODEL_MAX_PARAMS, sizeof(ParamInfo));
  return m->ops && m->values && m->params ? 0 : -1;
}

// Allocates the arenas (unless shared) and, for B > 0, everything a pass over B samples needs.
static int model_alloc(Model *m, int64_t B) {
  if (!m->shared_arenas) {
    m->param_mem = calloc((size_t)(m->n_param_floats ? m->n_param_floats : 1), sizeof(float));
    m->grad_mem = calloc((size_t)(m->n_param_floats ? m->n_param_floats : 1), sizeof(float));
    m->buffer_mem = calloc((size_t)(m->n_buffer_floats ? m->n_buffer_floats : 1), sizeof(float));
    if (!m->param_mem || !m->grad_mem || !m->buffer_mem) return -1;
  }
  if (B == 0) return 0;
  for (int i = 0; i < m->n_values; i++) {
    if (m->graph && i == m->input_value) continue;  // the caller's, by pointer
    m->values[i].act = malloc((size_t)(B * value_floats(&m->values[i])) * sizeof(float));
    if (!m->values[i].act) return -1;
  }
  for (int i = 0; i < m->n_ops; i++) {
    Op *op = &m->ops[i];
    Value *out = &m->values[op->out];
    if (op->kind == OP_BN) {
      op->mean = malloc(2 * (size_t)out->c * sizeof(float));
      if (!op->mean) return -1;
      op->rstd = op->mean + out->c;
    } else if (op->kind == OP_MAXPOOL) {
      op->argmax = malloc((size_t)(B * value_floats(out)) * sizeof(int32_t));
      if (!op->argmax) return -1;
    } else if (op->kind == OP_L2NORM) {
      op->norms = malloc((size_t)B * sizeof(float));
      if (!op->norms) return -1;
    } else if (op->kind == OP_LN) {
      op->mean = malloc(2 * (size_t)B * out->h * out->w * sizeof(float));
      if (!op->mean) return -1;
      op->rstd = op->mean + (size_t)B * out->h * out->w;
    } else if (op->kind == OP_WINATTN) {
      WinAttnShape s = op->attn;
      s.B = (int)B;
      op->saved = malloc(winattn_saved_floats(&s) * sizeof(float));
      if (!op->saved) return -1;
      if (winattn_scratch_floats(&s) > m->scratch_floats)
        m->scratch_floats = winattn_scratch_floats(&s);
    } else if (op->kind == OP_CONV) {
      ConvShape s = op->conv;
      s.B = (int)B;
      size_t need = conv_scratch_floats(&s);
      if (need > m->scratch_floats) m->scratch_floats = need;
    }
  }
  m->scratch = malloc((m->scratch_floats ? m->scratch_floats : 1) * sizeof(float));
  m->bn_sums = malloc((2 * (size_t)m->max_channels + 1) * sizeof(double));
  if (!m->scratch || !m->bn_sums) return -1;

  int64_t slot_floats[MODEL_MAX_VALUES];
  m->n_grad_slots = assign_grad_slots(m, slot_floats);
  m->grad_slots = calloc((size_t)(m->n_grad_slots ? m->n_grad_slots : 1), sizeof(float *));
  if (!m->grad_slots) return -1;
  for (int s = 0; s < m->n_grad_slots; s++) {
    m->grad_slots[s] = malloc((size_t)(B * slot_floats[s]) * sizeof(float));
    if (!m->grad_slots[s]) return -1;
  }
  return 0;
}

int model_create(Model *m, const ModelSpec *spec, Err *e) {
  memset(m, 0, sizeof *m);
  m->spec = *spec;
  m->comm = MPI_COMM_NULL;
  if (spec->arch < 0 || spec->arch >= ARCH_COUNT)
    return errf(e, ERR_CONFIG, "unknown architecture %d", (int)spec->arch);
  if (spec->batch_capacity <= 0 || spec->num_classes < 2 || spec->num_classes > MODEL_MAX_CLASSES ||
      spec->in_c <= 0 || spec->in_c > MODEL_MAX_CHANNELS || spec->in_h <= 0 ||
      spec->in_h > MODEL_MAX_SIDE || spec->in_w <= 0 || spec->in_w > MODEL_MAX_SIDE)
    return errf(e, ERR_CONFIG, "model %s: bad shape (batch %d, classes %d, input %dx%dx%d)",
                arch_name(spec->arch), spec->batch_capacity, spec->num_classes, spec->in_c,
                spec->in_h, spec->in_w);
  if (spec->stem < 0 || spec->stem >= STEM_COUNT)
    return errf(e, ERR_CONFIG, "unknown stem %d", (int)spec->stem);
  if (spec->stem != STEM_CIFAR && spec->arch != ARCH_RESNET18 && spec->arch != ARCH_RESNET50)
    return errf(e, ERR_CONFIG, "model %s has no %s stem (only resnet18 and resnet50 have one)",
                arch_name(spec->arch), stem_name(spec->stem));
  if (spec->arch == ARCH_CNN4 && (spec->in_h < 8 || spec->in_w < 8))
    return errf(e, ERR_CONFIG, "model cnn4 needs inputs of at least 8x8, got %dx%d", spec->in_h,
                spec->in_w);
  if (spec->arch == ARCH_SWIN_T) {
    int width, patch, window;
    swin_knobs(spec, &width, &patch, &window);
    if (width % 3 || patch < 1 || window < 1 || spec->in_h < patch || spec->in_w < patch)
      return errf(e, ERR_CONFIG,
                  "model swin_t: width %d must be a multiple of 3 (heads 3, 6, 12, 24), patch %d "
                  "at least 1 and at most the input's %dx%d, window %d at least 1",
                  width, patch, spec->in_h, spec->in_w, window);
  }
  if (model_tables(m)) goto oom;
  model_describe(m);
  if (model_alloc(m, spec->batch_capacity)) goto oom;
  return 0;
oom:
  model_free(m);
  return errf(e, ERR_RUNTIME, "model %s: out of memory for batch capacity %d",
              arch_name(spec->arch), spec->batch_capacity);
}

int model_graph_begin(Model *m, Err *e) {
  memset(m, 0, sizeof *m);
  m->graph = 1;
  m->spec.arch = ARCH_COUNT;  // none of the architectures
  m->input_value = m->logits_value = -1;
  if (model_tables(m)) {
    model_free(m);
    return errf(e, ERR_RUNTIME, "out of memory for a graph model");
  }
  return 0;
}

int model_graph_input(Model *m, int h, int w, int c) {
  int x = model_value(m, h, w, c);
  model_op(m, OP_INPUT, x, x);
  m->values[x].producer = -1;
  m->input_value = x;
  return x;
}

void model_graph_output(Model *m, int value) {
  m->outputs[m->n_outputs++] = value;
}

int model_graph_finish(Model *m, int capacity, Err *e) {
  m->spec.batch_capacity = capacity;
  if (model_alloc(m, capacity)) {
    model_free(m);
    return errf(e, ERR_RUNTIME, "out of memory for a graph model of batch capacity %d", capacity);
  }
  return 0;
}

void model_free(Model *m) {
  if (m->values)
    for (int i = 0; i < m->n_values; i++)
      if (!(m->graph && i == m->input_value)) free(m->values[i].act);
  if (m->ops)
    for (int i = 0; i < m->n_ops; i++)
      free(m->ops[i].mean), free(m->ops[i].argmax), free(m->ops[i].norms), free(m->ops[i].saved);
  if (m->grad_slots)
    for (int s = 0; s < m->n_grad_slots; s++) free(m->grad_slots[s]);
  free(m->grad_slots);
  free(m->ops), free(m->values), free(m->params);
  if (!m->shared_arenas) free(m->param_mem), free(m->grad_mem), free(m->buffer_mem);
  free(m->scratch), free(m->bn_sums);
  memset(m, 0, sizeof *m);
}

float *model_param_data(Model *m, int i) {
  ParamInfo *p = &m->params[i];
  return (p->is_buffer ? m->buffer_mem : m->param_mem) + p->offset;
}

static float *param_grad(Model *m, int i) {
  return m->grad_mem + m->params[i].offset;
}

int model_find_param(const Model *m, const char *name) {
  for (int i = 0; i < m->n_params; i++)
    if (!strcmp(m->params[i].name, name)) return i;
  return -1;
}

// d [n] from a normal of std truncated to [-2, 2] (trunc_normal_'s default absolute bounds).
static void trunc_normal(float *d, int64_t n, float std, Rng *r) {
  for (int64_t j = 0; j < n; j++) do
      d[j] = std * rng_normal(r);
    while (d[j] < -2.0f || d[j] > 2.0f);
}

void param_init(ParamKind kind, const int *shape, int64_t size, int fan_in, Rng *r, float *d) {
  switch (kind) {
    case PARAM_CONV_W: {  // kaiming_normal_(mode="fan_out", nonlinearity="relu")
      float std = sqrtf(2.0f / (float)(shape[0] * shape[2] * shape[3]));
      for (int64_t j = 0; j < size; j++) d[j] = std * rng_normal(r);
      break;
    }
    case PARAM_LINEAR_W:
    case PARAM_LINEAR_B: {  // U(-1/sqrt(in), 1/sqrt(in))
      float bound = 1.0f / sqrtf((float)fan_in);
      for (int64_t j = 0; j < size; j++) d[j] = bound * (2.0f * rng_uniform(r) - 1.0f);
      break;
    }
    case PARAM_CONV_B: {  // nn.Conv2d's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
      float bound = 1.0f / sqrtf((float)fan_in);
      for (int64_t j = 0; j < size; j++) d[j] = bound * (2.0f * rng_uniform(r) - 1.0f);
      break;
    }
    case PARAM_RELPOS:  // trunc_normal_(std=0.02)
      trunc_normal(d, size, 0.02f, r);
      break;
    case PARAM_BN_W:
    case PARAM_BN_VAR:
    case PARAM_LN_W:
      for (int64_t j = 0; j < size; j++) d[j] = 1.0f;
      break;
    case PARAM_BN_B:
    case PARAM_BN_MEAN:
    case PARAM_LN_B:
      for (int64_t j = 0; j < size; j++) d[j] = 0.0f;
      break;
  }
}

// torchvision's Swin: every Linear trunc_normal_(std=0.02) with zero bias; the patch embedding
// keeps nn.Conv2d's default init (U(±1/sqrt(fan_in)), weight and bias alike).
static void swin_param_init(const ParamInfo *p, int fan_in, Rng *r, float *d) {
  if (p->kind == PARAM_LINEAR_W)
    trunc_normal(d, p->size, 0.02f, r);
  else if (p->kind == PARAM_LINEAR_B)
    memset(d, 0, (size_t)p->size * sizeof(float));
  else if (p->kind == PARAM_CONV_W)
    param_init(PARAM_CONV_B, p->shape, p->size, fan_in, r, d);
  else
    param_init(p->kind, p->shape, p->size, fan_in, r, d);
}

void model_init(Model *m, uint64_t seed) {
  for (int i = 0; i < m->n_params; i++) {
    const ParamInfo *p = &m->params[i];
    Rng r = rng_derive(seed, RNG_INIT, (uint64_t)i);
    // A bias follows its weight, whose fan in it takes.
    const ParamInfo *w = p->kind == PARAM_LINEAR_B || p->kind == PARAM_CONV_B ? p - 1 : p;
    int fan_in = w->shape[1] * (w->kind == PARAM_CONV_W ? w->shape[2] * w->shape[3] : 1);
    if (m->spec.arch == ARCH_SWIN_T)
      swin_param_init(p, fan_in, &r, model_param_data(m, i));
    else
      param_init(p->kind, p->shape, p->size, fan_in, &r, model_param_data(m, i));
  }
}

// ---------------------------------------------------------------------------------------------
// forward

// A parameter's data, or NULL for index -1 (an op without bias).
static float *param_or_null(Model *m, int i) {
  return i < 0 ? NULL : model_param_data(m, i);
}

static WinAttnParams winattn_params(Model *m, const Op *op) {
  return (WinAttnParams){model_param_data(m, op->w), model_param_data(m, op->b),
                         model_param_data(m, op->w2), model_param_data(m, op->b2),
                         model_param_data(m, op->tab)};
}

static int group_size(const Model *m) {
  int n = 1;
  if (m->comm != MPI_COMM_NULL) MPI_Comm_size(m->comm, &n);
  return n;
}

// Sums a BN reduction (2C values and the row count) over the rank group when synchronised.
static void bn_reduce(Model *m, double *sums, int C) {
  if (!m->bn_sync || group_size(m) == 1) return;
  Profile *p = m->prof;
  double t0 = 0, t1 = 0;
  if (p) t0 = clock_now(), MPI_Barrier(m->comm), t1 = clock_now();
  MPI_Allreduce(MPI_IN_PLACE, sums, 2 * C + 1, MPI_DOUBLE, MPI_SUM, m->comm);
  if (p) p->bn_wait += t1 - t0, p->bn_sync += clock_now() - t1, p->bn_msgs++;
}

static void bn_forward(Model *m, Op *op, int B) {
  Value *x = &m->values[op->in], *y = &m->values[op->out];
  int N = B * x->h * x->w, C = x->c;
  const float *gamma = model_param_data(m, op->w), *beta = model_param_data(m, op->b);
  float *rm = model_param_data(m, op->rm), *rv = model_param_data(m, op->rv);
  if (!m->train) {
    bn_forward_eval(y->act, x->act, gamma, beta, rm, rv, N, C, m->bn_eps, op->relu);
    return;
  }
  double *sums = m->bn_sums;
  bn_stats(sums, x->act, N, C);
  sums[2 * C] = N;
  bn_reduce(m, sums, C);
  bn_forward_train(y->act, op->mean, op->rstd, rm, rv, x->act, gamma, beta, sums, (long)sums[2 * C],
                   N, C, m->bn_momentum, m->bn_eps, op->relu);
}

const char *op_kind_name(OpKind k) {
  static const char *const names[OP_KIND_COUNT] = {
      "input", "conv",   "bn",        "relu", "maxpool", "gap",    "linear",
      "add",   "l2norm", "layernorm", "gelu", "merge",   "winattn"};
  return (int)k >= 0 && (int)k < OP_KIND_COUNT ? names[k] : "?";
}

_Static_assert((int)OP_KIND_COUNT <= (int)PROF_OP_KINDS, "profile.h: PROF_OP_KINDS too small");

// The forward of one op over B samples (x: the network input, read by OP_INPUT).
static void op_forward(Model *m, Op *op, const float *x, int B) {
  Value *in = &m->values[op->in], *out = &m->values[op->out];
  size_t n = (size_t)B * value_floats(out);
  switch (op->kind) {
    case OP_INPUT:
      if (m->graph)
        out->act = (float *)x;  // read only
      else if (m->spec.arch == ARCH_MLP)
        memcpy(out->act, x, n * sizeof(float));
      else
        nchw_to_nhwc(out->act, x, B, m->spec.in_c, m->spec.in_h, m->spec.in_w);
      break;
    case OP_CONV: {
      ConvShape s = op->conv;
      s.B = B;
      conv_forward(out->act, in->act, model_param_data(m, op->w), param_or_null(m, op->b), &s,
                   m->scratch);
      break;
    }
    case OP_BN:
      bn_forward(m, op, B);
      break;
    case OP_RELU:
      relu_forward(out->act, in->act, n);
      break;
    case OP_MAXPOOL:
      maxpool_forward(out->act, op->argmax, in->act, B, in->h, in->w, in->c, op->k, op->s, op->p);
      break;
    case OP_GAP:
      avgpool_forward(out->act, in->act, B, in->h * in->w, in->c);
      break;
    case OP_LINEAR: {  // per sample, or per token when out keeps in's h, w
      int rows = out->h * out->w;
      linear_forward(out->act, in->act, model_param_data(m, op->w), param_or_null(m, op->b),
                     B * rows, (int)value_floats(in) / rows, out->c);
      break;
    }
    case OP_ADD:
      add_forward(out->act, in->act, m->values[op->in2].act, n, op->relu);
      break;
    case OP_L2NORM:
      l2norm_forward(out->act, op->norms, in->act, B, (int)value_floats(in));
      break;
    case OP_LN:
      layernorm_forward(out->act, op->mean, op->rstd, in->act, model_param_data(m, op->w),
                        model_param_data(m, op->b), B * in->h * in->w, in->c, 1e-5f);
      break;
    case OP_GELU:
      gelu_forward(out->act, in->act, n);
      break;
    case OP_MERGE:
      patch_merge_forward(out->act, in->act, B, in->h, in->w, in->c);
      break;
    case OP_WINATTN: {
      WinAttnShape s = op->attn;
      s.B = B;
      WinAttnParams p = winattn_params(m, op);
      winattn_forward(out->act, op->saved, in->act, &p, &s, m->scratch);
      break;
    }
  }
}

// A profile's clock that stands still while BN synchronises (bn_reduce counts that apart): the
// difference of two readings around an op is the op's own time.
static double own_clock(const Profile *p) {
  return clock_now() - (p->bn_wait + p->bn_sync);
}

void model_forward(Model *m, const float *x, int B, int train) {
  m->train = train;
  m->batch = B;
  for (int i = 0; i < m->n_ops; i++) {
    Op *op = &m->ops[i];
    Profile *p = m->prof;
    double t0 = p ? own_clock(p) : 0;
    op_forward(m, op, x, B);
    if (p) p->fwd[op->kind] += own_clock(p) - t0;
  }
}

const float *model_logits(const Model *m) {
  return m->values[m->logits_value].act;
}

// The value the head reads (the input of the op that writes the logits), or -1.
static int head_input_value(const Model *m) {
  if (m->logits_value < 0) return -1;
  const int p = m->values[m->logits_value].producer;
  return p >= 0 ? m->ops[p].in : -1;
}

const float *model_head_input(const Model *m, int *features) {
  const int v = head_input_value(m);
  if (v < 0) return NULL;
  *features = m->values[v].h * m->values[v].w * m->values[v].c;
  return m->values[v].act;
}

const float *model_point(const Model *m, int l, int *h, int *w, int *c) {
  const Value *v = &m->values[m->points[l]];
  if (h) *h = v->h;
  if (w) *w = v->w;
  if (c) *c = v->c;
  return v->act;
}

// ---------------------------------------------------------------------------------------------
// backward

void model_zero_grads(Model *m) {
  memset(m->grad_mem, 0, (size_t)m->n_param_floats * sizeof(float));
}

// d(loss)/d(value): its shared buffer, or the caller's for a graph's output (only read).
static float *grad_of(Model *m, int value) {
  const Value *v = &m->values[value];
  return v->grad_slot >= 0 ? m->grad_slots[v->grad_slot] : (float *)v->dext;
}

// Starts d(value) when its last reader's backward is about to run: zero, plus any gradient the
// caller injects at a supervision point.
static void start_grad(Model *m, int value, const float *const *dpoints) {
  size_t n = (size_t)m->batch * value_floats(&m->values[value]);
  float *g = grad_of(m, value);
  memset(g, 0, n * sizeof(float));
  if (m->dhead_input && value == head_input_value(m))
    for (size_t j = 0; j < n; j++) g[j] += m->dhead_input[j];
  if (!dpoints) return;
  for (int l = 0; l < m->n_points; l++)
    if (m->points[l] == value && dpoints[l])
      for (size_t j = 0; j < n; j++) g[j] += dpoints[l][j];
}

static void bn_backward(Model *m, Op *op, int B, float *din) {
  Value *x = &m->values[op->in], *y = &m->values[op->out];
  int N = B * x->h * x->w, C = x->c;
  const float *gamma = model_param_data(m, op->w);
  float *dgamma = param_grad(m, op->w), *dbeta = param_grad(m, op->b);
  const float *dout = grad_of(m, op->out);
  if (!m->train) {
    bn_backward_eval(din, dgamma, dbeta, dout, y->act, x->act, gamma, model_param_data(m, op->rm),
                     model_param_data(m, op->rv), N, C, m->bn_eps, op->relu);
    return;
  }
  double *sums = m->bn_sums;
  bn_backward_stats(sums, dgamma, dbeta, dout, y->act, x->act, op->mean, op->rstd, N, C, op->relu);
  sums[2 * C] = N;
  bn_reduce(m, sums, C);
  if (din)
    bn_backward_apply(din, dout, y->act, x->act, op->mean, op->rstd, gamma, sums, (long)sums[2 * C],
                      N, C, op->relu);
}

// The backward of one op (not OP_INPUT): parameter gradients, and d(input) into din.
static void op_backward(Model *m, Op *op, int B, float *din) {
  Value *in = &m->values[op->in], *out = &m->values[op->out];
  const float *dout = grad_of(m, op->out);
  size_t n = (size_t)B * value_floats(out);
  switch (op->kind) {
    case OP_INPUT:
      break;
    case OP_CONV: {
      ConvShape s = op->conv;
      s.B = B;
      conv_backward(din, param_grad(m, op->w), op->b < 0 ? NULL : param_grad(m, op->b), dout,
                    in->act, model_param_data(m, op->w), &s, m->scratch);
      break;
    }
    case OP_BN:
      bn_backward(m, op, B, din);
      break;
    case OP_RELU:
      relu_backward(din, dout, out->act, n);
      break;
    case OP_MAXPOOL:
      maxpool_backward(din, dout, op->argmax, B, in->h, in->w, in->c, op->k, op->s, op->p);
      break;
    case OP_GAP:
      avgpool_backward(din, dout, B, in->h * in->w, in->c);
      break;
    case OP_LINEAR: {
      int rows = out->h * out->w;
      linear_backward(din, param_grad(m, op->w), op->b < 0 ? NULL : param_grad(m, op->b), dout,
                      in->act, model_param_data(m, op->w), B * rows, (int)value_floats(in) / rows,
                      out->c);
      break;
    }
    case OP_ADD:
      add_backward(din, grad_of(m, op->in2), dout, out->act, n, op->relu);
      break;
    case OP_L2NORM:
      l2norm_backward(din, dout, out->act, op->norms, B, (int)value_floats(in));
      break;
    case OP_LN:
      layernorm_backward(din, param_grad(m, op->w), param_grad(m, op->b), dout, in->act, op->mean,
                         op->rstd, model_param_data(m, op->w), B * in->h * in->w, in->c);
      break;
    case OP_GELU:
      gelu_backward(din, dout, in->act, n);
      break;
    case OP_MERGE:
      patch_merge_backward(din, dout, B, in->h, in->w, in->c);
      break;
    case OP_WINATTN: {
      WinAttnShape s = op->attn;
      s.B = B;
      WinAttnParams p = winattn_params(m, op);
      WinAttnGrads g = {param_grad(m, op->w), param_grad(m, op->b), param_grad(m, op->w2),
                        param_grad(m, op->b2), param_grad(m, op->tab)};
      winattn_backward(din, &g, dout, op->saved, &p, &s, m->scratch);
      break;
    }
  }
}

void model_backward(Model *m, const float *dlogits, const float *const *dpoints, float *dinput) {
  model_backward_each(m, dlogits, dpoints, dinput, NULL, NULL);
}

void model_backward_each(Model *m, const float *dlogits, const float *const *dpoints, float *dinput,
                         void (*after)(void *ctx, int op), void *ctx) {
  const int B = m->batch;
  Profile *p = m->prof;
  start_grad(m, m->logits_value, dpoints);
  if (dlogits) {
    float *g = grad_of(m, m->logits_value);
    size_t n = (size_t)B * m->spec.num_classes;
    for (size_t j = 0; j < n; j++) g[j] += dlogits[j];
  }
  for (int i = m->n_ops - 1; i >= 0; i--) {
    Op *op = &m->ops[i];
    if (op->kind == OP_INPUT) {
      if (!dinput) continue;
      const float *g = grad_of(m, op->out);
      if (m->spec.arch == ARCH_MLP)
        memcpy(dinput, g, (size_t)B * value_floats(&m->values[op->out]) * sizeof(float));
      else
        nhwc_to_nchw(dinput, g, B, m->spec.in_c, m->spec.in_h, m->spec.in_w);
      continue;
    }
    if (m->values[op->in].last_use == i) start_grad(m, op->in, dpoints);
    if (op->in2 >= 0 && m->values[op->in2].last_use == i) start_grad(m, op->in2, dpoints);
    // The network input needs a gradient only when the caller asks for it.
    float *din = (op->in == m->input_value && !dinput) ? NULL : grad_of(m, op->in);
    double t0 = p ? own_clock(p) : 0;
    op_backward(m, op, B, din);
    if (p) p->bwd[op->kind] += own_clock(p) - t0;
    if (after) after(ctx, i);
  }
}

void model_graph_backward(Model *m, const float *const *douts, float *dinput) {
  const int B = m->batch;
  char live[MODEL_MAX_VALUES] = {0};  // 1: the value's gradient carries a loss
  for (int o = 0; o < m->n_outputs; o++) {
    m->values[m->outputs[o]].dext = douts[o];
    live[m->outputs[o]] = douts[o] != NULL;
  }
  for (int i = m->n_ops - 1; i >= 0; i--) {
    Op *op = &m->ops[i];
    if (op->kind == OP_INPUT) continue;
    if (op->in != m->input_value && m->values[op->in].last_use == i) start_grad(m, op->in, NULL);
    if (op->in2 >= 0 && m->values[op->in2].last_use == i) start_grad(m, op->in2, NULL);
    float *din = op->in == m->input_value ? dinput : grad_of(m, op->in);
    if (!live[op->out] || (!din && op->w < 0)) continue;  // nothing to compute
    live[op->in] = 1;
    if (op->in2 >= 0) live[op->in2] = 1;
    op_backward(m, op, B, din);
  }
  for (int o = 0; o < m->n_outputs; o++) m->values[m->outputs[o]].dext = NULL;
}
