// model_build.c: the building blocks of every model (model_value, model_param, model_op_*: also
// those of graph models, see model.h) and the four architectures of the README ("Models and
// data"), built with them as op lists with PyTorch state_dict names. Building only records
// shapes and offsets; model_create or model_graph_finish (model.c) then allocates in one go.
#include <stdio.h>
#include <string.h>

#include "model.h"

// The model being described. Its ops, values and params arrays were allocated by model_create
// with MODEL_MAX_* entries each, far more than the largest network here uses (resnet50: 160
// ops, 163 values, 320 params).
typedef struct {
  Model *m;
} Builder;

int model_value(Model *m, int h, int w, int c) {
  Value *v = &m->values[m->n_values];
  v->h = h, v->w = w, v->c = c;
  v->grad_slot = -1, v->producer = -1, v->last_use = -1;
  if (c > m->max_channels) m->max_channels = c;
  return m->n_values++;
}

int model_param(Model *m, const char *prefix, const char *name, ParamKind kind, int d0, int d1,
                int d2, int d3) {
  ParamInfo *p = &m->params[m->n_params];
  // (bounded for the compiler: prefixes and names are far shorter)
  snprintf(p->name, sizeof p->name, "%.47s%s%.15s", prefix, prefix[0] ? "." : "", name);
  p->kind = kind;
  p->is_buffer = kind == PARAM_BN_MEAN || kind == PARAM_BN_VAR;
  p->ndim = kind == PARAM_CONV_W ? 4 : kind == PARAM_LINEAR_W ? 2 : 1;
  int ndim = p->ndim, is_buffer = p->is_buffer;
  int dims[4] = {d0, d1, d2, d3};
  p->size = 1;
  for (int i = 0; i < ndim; i++) p->shape[i] = dims[i], p->size *= dims[i];
  int64_t *top = is_buffer ? &m->n_buffer_floats : &m->n_param_floats;
  p->offset = *top;
  *top += p->size;
  return m->n_params++;
}

Op *model_op(Model *m, OpKind kind, int in, int out) {
  Op *op = &m->ops[m->n_ops];
  memset(op, 0, sizeof *op);
  op->kind = kind, op->in = in, op->in2 = -1, op->out = out;
  op->w = op->b = op->rm = op->rv = -1;
  m->values[out].producer = m->n_ops;
  m->values[in].last_use = m->n_ops;
  m->n_ops++;
  return op;
}

int model_op_conv(Model *m, int in, int w, int out_c, int k, int stride, int pad) {
  Value v = m->values[in];
  ConvShape s = conv_shape(1, v.h, v.w, v.c, out_c, k, k, stride, pad, 1);
  int out = model_value(m, s.OH, s.OW, out_c);
  Op *op = model_op(m, OP_CONV, in, out);
  op->conv = s;
  op->w = w;
  m->flops_fwd += 2.0 * s.OH * s.OW * out_c * v.c * k * k;
  return out;
}

int model_op_bn(Model *m, int in, int w, int b, int rm, int rv, int relu) {
  Value v = m->values[in];
  int out = model_value(m, v.h, v.w, v.c);
  Op *op = model_op(m, OP_BN, in, out);
  op->relu = relu;
  op->w = w, op->b = b, op->rm = rm, op->rv = rv;
  return out;
}

int model_op_linear(Model *m, int in, int w, int b) {
  Value v = m->values[in];
  int in_features = v.h * v.w * v.c, out_features = m->params[w].shape[0];
  int out = model_value(m, 1, 1, out_features);
  Op *op = model_op(m, OP_LINEAR, in, out);
  op->w = w, op->b = b;
  m->flops_fwd += 2.0 * in_features * out_features;
  return out;
}

// An op of the input's shape and no parameters.
static int model_op_same(Model *m, OpKind kind, int in) {
  Value v = m->values[in];
  int out = model_value(m, v.h, v.w, v.c);
  model_op(m, kind, in, out);
  return out;
}

int model_op_relu(Model *m, int in) {
  return model_op_same(m, OP_RELU, in);
}

int model_op_l2norm(Model *m, int in) {
  return model_op_same(m, OP_L2NORM, in);
}

int model_op_gap(Model *m, int in) {
  int out = model_value(m, 1, 1, m->values[in].c);
  model_op(m, OP_GAP, in, out);
  return out;
}

// ---------------------------------------------------------------------------------------------
// the architectures' layers, parameters named under prefix

// conv k×k (no bias) named prefix.weight; returns the output value.
static int conv(Builder *b, const char *prefix, int in, int out_c, int k, int stride, int pad) {
  Model *m = b->m;
  int w = model_param(m, prefix, "weight", PARAM_CONV_W, out_c, m->values[in].c, k, k);
  return model_op_conv(m, in, w, out_c, k, stride, pad);
}

// BatchNorm2d named prefix.{weight,bias,running_mean,running_var}, optionally with ReLU.
static int bn(Builder *b, const char *prefix, int in, int relu) {
  Model *m = b->m;
  int c = m->values[in].c;
  int w = model_param(m, prefix, "weight", PARAM_BN_W, c, 0, 0, 0);
  int bias = model_param(m, prefix, "bias", PARAM_BN_B, c, 0, 0, 0);
  int rm = model_param(m, prefix, "running_mean", PARAM_BN_MEAN, c, 0, 0, 0);
  int rv = model_param(m, prefix, "running_var", PARAM_BN_VAR, c, 0, 0, 0);
  return model_op_bn(m, in, w, bias, rm, rv, relu);
}

static int linear(Builder *b, const char *prefix, int in, int out_features) {
  Model *m = b->m;
  Value v = m->values[in];
  int in_features = v.h * v.w * v.c;
  int w = model_param(m, prefix, "weight", PARAM_LINEAR_W, out_features, in_features, 0, 0);
  int bias = model_param(m, prefix, "bias", PARAM_LINEAR_B, out_features, 0, 0, 0);
  return model_op_linear(m, in, w, bias);
}

static int relu(Builder *b, int in) {
  return model_op_relu(b->m, in);
}

// max-pool k×k, stride s, padding p (padded cells never win, as PyTorch's)
static int maxpool(Builder *b, int in, int k, int s, int p) {
  Value v = b->m->values[in];
  int out = model_value(b->m, (v.h + 2 * p - k) / s + 1, (v.w + 2 * p - k) / s + 1, v.c);
  Op *op = model_op(b->m, OP_MAXPOOL, in, out);
  op->k = k, op->s = s, op->p = p;
  return out;
}

static int gap(Builder *b, int in) {
  return model_op_gap(b->m, in);
}

// relu(a + b)
static int add_relu(Builder *b, int a, int c) {
  Value v = b->m->values[a];
  int out = model_value(b->m, v.h, v.w, v.c);
  Op *op = model_op(b->m, OP_ADD, a, out);
  op->in2 = c;
  op->relu = 1;
  b->m->values[c].last_use = b->m->n_ops - 1;
  return out;
}

static void point(Builder *b, int value, const char *name) {
  Model *m = b->m;
  m->points[m->n_points] = value;
  snprintf(m->point_names[m->n_points], sizeof m->point_names[0], "%s", name);
  m->n_points++;
}

// ---------------------------------------------------------------------------------------------

static void build_mlp(Builder *b) {
  const ModelSpec *s = &b->m->spec;
  int x = model_value(b->m, 1, 1, s->in_c * s->in_h * s->in_w);  // flattened NCHW, as x.view(B, -1)
  model_op(b->m, OP_INPUT, x, x);
  b->m->input_value = x;
  b->m->values[x].producer = -1;
  int h1 = relu(b, linear(b, "layer1", x, 512));
  point(b, h1, "layer1");
  int h2 = relu(b, linear(b, "layer2", h1, 256));
  point(b, h2, "layer2");
  b->m->logits_value = linear(b, "fc", h2, s->num_classes);
}

// The input op converts NCHW to NHWC for the convolutional networks.
static int conv_input(Builder *b) {
  const ModelSpec *s = &b->m->spec;
  int raw = model_value(b->m, s->in_h, s->in_w, s->in_c);
  model_op(b->m, OP_INPUT, raw, raw);
  b->m->values[raw].producer = -1;
  b->m->input_value = raw;
  return raw;
}

static void build_cnn4(Builder *b) {
  int w = b->m->spec.width ? b->m->spec.width : 32;
  const int widths[4] = {w, 2 * w, 4 * w, 8 * w};
  int x = conv_input(b);
  for (int i = 0; i < 4; i++) {
    char name[32], cname[48], bname[48];
    snprintf(name, sizeof name, "layer%d", i + 1);
    snprintf(cname, sizeof cname, "%s.conv", name);
    snprintf(bname, sizeof bname, "%s.bn", name);
    x = bn(b, bname, conv(b, cname, x, widths[i], 3, 1, 1), 1);
    if (i < 3) x = maxpool(b, x, 2, 2, 0);  // the stage's output includes its pool
    point(b, x, name);
  }
  b->m->logits_value = linear(b, "fc", gap(b, x), b->m->spec.num_classes);
}

// torchvision BasicBlock: conv3x3(s)-bn-relu-conv3x3-bn, + shortcut, relu.
static int basic_block(Builder *b, const char *p, int x, int planes, int stride) {
  char n[96];
  int in_c = b->m->values[x].c;
  snprintf(n, sizeof n, "%s.conv1", p);
  int y = conv(b, n, x, planes, 3, stride, 1);
  snprintf(n, sizeof n, "%s.bn1", p);
  y = bn(b, n, y, 1);
  snprintf(n, sizeof n, "%s.conv2", p);
  y = conv(b, n, y, planes, 3, 1, 1);
  snprintf(n, sizeof n, "%s.bn2", p);
  y = bn(b, n, y, 0);
  int sc = x;
  if (stride != 1 || in_c != planes) {
    snprintf(n, sizeof n, "%s.downsample.0", p);
    sc = conv(b, n, x, planes, 1, stride, 0);
    snprintf(n, sizeof n, "%s.downsample.1", p);
    sc = bn(b, n, sc, 0);
  }
  return add_relu(b, y, sc);
}

// torchvision Bottleneck (v1.5, stride on the 3x3): 1x1-bn-relu-3x3(s)-bn-relu-1x1(4x)-bn.
static int bottleneck(Builder *b, const char *p, int x, int planes, int stride) {
  char n[96];
  int in_c = b->m->values[x].c;
  snprintf(n, sizeof n, "%s.conv1", p);
  int y = conv(b, n, x, planes, 1, 1, 0);
  snprintf(n, sizeof n, "%s.bn1", p);
  y = bn(b, n, y, 1);
  snprintf(n, sizeof n, "%s.conv2", p);
  y = conv(b, n, y, planes, 3, stride, 1);
  snprintf(n, sizeof n, "%s.bn2", p);
  y = bn(b, n, y, 1);
  snprintf(n, sizeof n, "%s.conv3", p);
  y = conv(b, n, y, planes * 4, 1, 1, 0);
  snprintf(n, sizeof n, "%s.bn3", p);
  y = bn(b, n, y, 0);
  int sc = x;
  if (stride != 1 || in_c != planes * 4) {
    snprintf(n, sizeof n, "%s.downsample.0", p);
    sc = conv(b, n, x, planes * 4, 1, stride, 0);
    snprintf(n, sizeof n, "%s.downsample.1", p);
    sc = bn(b, n, sc, 0);
  }
  return add_relu(b, y, sc);
}

// ResNet with the spec's stem (model.h, Stem): CIFAR's 3x3 stride 1 conv without pool, or
// torchvision's 7x7 stride 2 conv and 3x3 stride 2 max-pool ([H, W] -> [H/4, W/4] for even sizes).
static void build_resnet(Builder *b, const int blocks[4], int bottle) {
  int w = b->m->spec.width ? b->m->spec.width : 64;
  int x = conv_input(b);
  if (b->m->spec.stem == STEM_IMAGENET) {
    x = bn(b, "bn1", conv(b, "conv1", x, w, 7, 2, 3), 1);
    x = maxpool(b, x, 3, 2, 1);
  } else {
    x = bn(b, "bn1", conv(b, "conv1", x, w, 3, 1, 1), 1);
  }
  for (int l = 0; l < 4; l++) {
    int planes = w << l;
    for (int i = 0; i < blocks[l]; i++) {
      char p[32];
      snprintf(p, sizeof p, "layer%d.%d", l + 1, i);
      int stride = (i == 0 && l > 0) ? 2 : 1;
      x = bottle ? bottleneck(b, p, x, planes, stride) : basic_block(b, p, x, planes, stride);
    }
    char name[16];
    snprintf(name, sizeof name, "layer%d", l + 1);
    point(b, x, name);
  }
  b->m->logits_value = linear(b, "fc", gap(b, x), b->m->spec.num_classes);
}

// Describes spec's network into m (ops, values, params with offsets; nothing allocated).
void model_describe(Model *m) {
  Builder b = {.m = m};
  static const int r18[4] = {2, 2, 2, 2}, r50[4] = {3, 4, 6, 3};
  switch (m->spec.arch) {
    case ARCH_MLP:
      build_mlp(&b);
      break;
    case ARCH_CNN4:
      build_cnn4(&b);
      break;
    case ARCH_RESNET18:
      build_resnet(&b, r18, 0);
      break;
    case ARCH_RESNET50:
      build_resnet(&b, r50, 1);
      break;
    default:
      break;
  }
}
