// model_build.c: the building blocks of every model (model_value, model_param, model_op_*: also
// those of graph models, see model.h) and the five architectures of the README ("Models and
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
  snprintf(p->name, sizeof p->name, "%.34s%s%.28s", prefix, prefix[0] ? "." : "", name);
  p->kind = kind;
  p->is_buffer = kind == PARAM_BN_MEAN || kind == PARAM_BN_VAR;
  p->ndim = kind == PARAM_CONV_W ? 4 : kind == PARAM_LINEAR_W || kind == PARAM_RELPOS ? 2 : 1;
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
  op->w = op->b = op->rm = op->rv = op->w2 = op->b2 = op->tab = -1;
  m->values[out].producer = m->n_ops;
  m->values[in].last_use = m->n_ops;
  m->n_ops++;
  return op;
}

int model_op_conv_bias(Model *m, int in, int w, int b, int out_c, int k, int stride, int pad) {
  Value v = m->values[in];
  ConvShape s = conv_shape(1, v.h, v.w, v.c, out_c, k, k, stride, pad, 1);
  int out = model_value(m, s.OH, s.OW, out_c);
  Op *op = model_op(m, OP_CONV, in, out);
  op->conv = s;
  op->w = w, op->b = b;
  m->flops_fwd += 2.0 * s.OH * s.OW * out_c * v.c * k * k;
  return out;
}

int model_op_conv(Model *m, int in, int w, int out_c, int k, int stride, int pad) {
  return model_op_conv_bias(m, in, w, -1, out_c, k, stride, pad);
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

int model_op_linear_tokens(Model *m, int in, int w, int b) {
  Value v = m->values[in];
  int out_features = m->params[w].shape[0];
  int out = model_value(m, v.h, v.w, out_features);
  Op *op = model_op(m, OP_LINEAR, in, out);
  op->w = w, op->b = b;
  m->flops_fwd += 2.0 * v.h * v.w * v.c * out_features;
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

// a + b, then ReLU if relu
static int residual(Builder *b, int a, int c, int relu) {
  Value v = b->m->values[a];
  int out = model_value(b->m, v.h, v.w, v.c);
  Op *op = model_op(b->m, OP_ADD, a, out);
  op->in2 = c;
  op->relu = relu;
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
  return residual(b, y, sc, 1);
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
  return residual(b, y, sc, 1);
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

// ---------------------------------------------------------------------------------------------
// swin_t: torchvision's Swin Transformer v1 (Liu et al. 2021), its state_dict names. features.0:
// patch embedding (conv p x p stride p with bias, LayerNorm); features.1, 3, 5, 7: stages of
// 2, 2, 6, 2 blocks; features.2, 4, 6: patch merging; then norm, token average, head.

void swin_knobs(const ModelSpec *s, int *width, int *patch, int *window) {
  *width = s->width ? s->width : 96;
  *patch = s->patch ? s->patch : 4;
  *window = s->window ? s->window : 7;
}

// LayerNorm over channels named prefix.{weight,bias}.
static int layernorm(Builder *b, const char *prefix, int in) {
  Model *m = b->m;
  int c = m->values[in].c;
  int w = model_param(m, prefix, "weight", PARAM_LN_W, c, 0, 0, 0);
  int bias = model_param(m, prefix, "bias", PARAM_LN_B, c, 0, 0, 0);
  int out = model_value(m, m->values[in].h, m->values[in].w, c);
  Op *op = model_op(m, OP_LN, in, out);
  op->w = w, op->b = bias;
  return out;
}

// Token-wise nn.Linear named prefix.weight (and prefix.bias when bias).
static int linear_tokens(Builder *b, const char *prefix, int in, int out_features, int bias) {
  Model *m = b->m;
  int in_features = m->values[in].c;
  int w = model_param(m, prefix, "weight", PARAM_LINEAR_W, out_features, in_features, 0, 0);
  int bi = bias ? model_param(m, prefix, "bias", PARAM_LINEAR_B, out_features, 0, 0, 0) : -1;
  return model_op_linear_tokens(m, in, w, bi);
}

// ShiftedWindowAttention named prefix.{qkv,proj,relative_position_bias_table}.
static int winattn(Builder *b, const char *prefix, int in, int heads, int win, int shift) {
  Model *m = b->m;
  Value v = m->values[in];
  char n[96];
  snprintf(n, sizeof n, "%.80s.qkv", prefix);
  int wq = model_param(m, n, "weight", PARAM_LINEAR_W, 3 * v.c, v.c, 0, 0);
  int bq = model_param(m, n, "bias", PARAM_LINEAR_B, 3 * v.c, 0, 0, 0);
  snprintf(n, sizeof n, "%.80s.proj", prefix);
  int wp = model_param(m, n, "weight", PARAM_LINEAR_W, v.c, v.c, 0, 0);
  int bp = model_param(m, n, "bias", PARAM_LINEAR_B, v.c, 0, 0, 0);
  int tab = model_param(m, prefix, "relative_position_bias_table", PARAM_RELPOS,
                        (2 * win - 1) * (2 * win - 1), heads, 0, 0);
  int out = model_value(m, v.h, v.w, v.c);
  Op *op = model_op(m, OP_WINATTN, in, out);
  op->w = wq, op->b = bq, op->w2 = wp, op->b2 = bp, op->tab = tab;
  op->attn = winattn_shape(1, v.h, v.w, v.c, heads, win, shift);
  // per sample, padding included: qkv and proj (4C² per token), q kᵀ and P v (2N·C per token)
  const double tokens = (double)op->attn.nW * op->attn.N;
  m->flops_fwd += 2.0 * tokens * (4.0 * v.c * v.c + 2.0 * op->attn.N * v.c);
  return out;
}

// SwinTransformerBlock: x + attn(norm1(x)), then + mlp(norm2(.)) (Linear 4C, GELU, Linear C).
static int swin_block(Builder *b, const char *p, int x, int heads, int win, int shift) {
  char n[96], a[96];
  int c = b->m->values[x].c;
  snprintf(n, sizeof n, "%s.norm1", p);
  snprintf(a, sizeof a, "%s.attn", p);
  x = residual(b, x, winattn(b, a, layernorm(b, n, x), heads, win, shift), 0);
  snprintf(n, sizeof n, "%s.norm2", p);
  int y = layernorm(b, n, x);
  snprintf(n, sizeof n, "%s.mlp.0", p);
  y = model_op_same(b->m, OP_GELU, linear_tokens(b, n, y, 4 * c, 1));
  snprintf(n, sizeof n, "%s.mlp.3", p);
  return residual(b, x, linear_tokens(b, n, y, c, 1), 0);
}

// PatchMerging: 2x2 gather, norm, reduction Linear 4C -> 2C without bias.
static int patch_merging(Builder *b, const char *p, int x) {
  Value v = b->m->values[x];
  int out = model_value(b->m, (v.h + 1) / 2, (v.w + 1) / 2, 4 * v.c);
  model_op(b->m, OP_MERGE, x, out);
  char n[96];
  snprintf(n, sizeof n, "%s.norm", p);
  x = layernorm(b, n, out);
  snprintf(n, sizeof n, "%s.reduction", p);
  return linear_tokens(b, n, x, 2 * v.c, 0);
}

static void build_swin(Builder *b) {
  static const int depths[4] = {2, 2, 6, 2}, heads[4] = {3, 6, 12, 24};
  Model *m = b->m;
  int c, patch, win;
  swin_knobs(&m->spec, &c, &patch, &win);
  int x = conv_input(b);
  int w = model_param(m, "features.0.0", "weight", PARAM_CONV_W, c, m->spec.in_c, patch, patch);
  int bias = model_param(m, "features.0.0", "bias", PARAM_CONV_B, c, 0, 0, 0);
  x = layernorm(b, "features.0.2", model_op_conv_bias(m, x, w, bias, c, patch, patch, 0));
  for (int s = 0; s < 4; s++) {
    char p[32];
    if (s > 0) {
      snprintf(p, sizeof p, "features.%d", 2 * s);
      x = patch_merging(b, p, x);
    }
    for (int i = 0; i < depths[s]; i++) {
      snprintf(p, sizeof p, "features.%d.%d", 2 * s + 1, i);
      x = swin_block(b, p, x, heads[s], win, i % 2 ? win / 2 : 0);
    }
    snprintf(p, sizeof p, "stage%d", s + 1);
    point(b, x, p);
  }
  x = gap(b, layernorm(b, "norm", x));
  m->logits_value = linear(b, "head", x, m->spec.num_classes);
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
    case ARCH_SWIN_T:
      build_swin(&b);
      break;
    default:
      break;
  }
}
