// model.h: the networks (mlp, cnn4, resnet18, resnet50, swin_t) as a list of ops over values.
//
// A Model owns one arena of trainable parameters, one arena of their gradients (same layout),
// and one arena of buffers (BN running statistics). Every parameter is a view into an arena,
// named and shaped as in the equivalent PyTorch module's state_dict, so checkpoints and
// reference tests address parameters by their PyTorch keys.
//
// The forward pass runs the ops in order over "values" (activations, NHWC, one buffer each,
// sized for the batch capacity). The backward pass runs them in reverse; gradient buffers are
// shared between values whose gradients are never alive at the same time (computed once, at
// build time), which keeps training memory close to the activations alone.
//
// Data parallel: the model holds the communicator of its rank group (handed in; never
// MPI_COMM_WORLD implicitly). In training mode, BatchNorm statistics are summed over the group
// (synchronised BN) unless bn_sync is off; the gradient arena is summed by dist_allreduce_grads.
//
// Graph models: besides the five architectures, a caller may describe a network op by op
// (model_graph_begin, model_value/model_param/model_op_*, model_graph_finish): EC's auxiliary
// modules are built so. Its input is an NHWC activation held by pointer, its outputs are listed
// values, and model_graph_backward takes a gradient per output (see below).
#pragma once

#include <mpi.h>
#include <stdint.h>

#include "err.h"
#include "layers.h"
#include "profile.h"
#include "rng.h"

typedef enum { ARCH_MLP, ARCH_CNN4, ARCH_RESNET18, ARCH_RESNET50, ARCH_SWIN_T, ARCH_COUNT } Arch;

// The resnets' stem. STEM_CIFAR: conv 3x3 stride 1 pad 1, BN, ReLU (no pool; the stages see the
// image at full size). STEM_IMAGENET: torchvision's, conv 7x7 stride 2 pad 3, BN, ReLU, max-pool
// 3x3 stride 2 pad 1 (the stages see it at a quarter). Both name their parameters conv1 and bn1
// (torchvision's keys), so an ImageNet checkpoint loads as it is. mlp and cnn4 have no stem.
typedef enum { STEM_CIFAR, STEM_IMAGENET, STEM_COUNT } Stem;
extern const char *const stem_names[STEM_COUNT + 1];  // "cifar", "imagenet", NULL
const char *stem_name(Stem s);
int stem_from_name(const char *name);  // -1 for an unknown name

// "mlp" -> ARCH_MLP etc.; returns -1 for an unknown name.
int arch_from_name(const char *name);
// The architectures' names, in Arch order, NULL-terminated (the config's model.arch choices).
extern const char *const arch_names[ARCH_COUNT + 1];
const char *arch_name(Arch a);
// The supervision points an architecture offers, in order, NULL-terminated: the names its
// builder gives its points (model_build.c; a test checks they agree).
const char *const *arch_points(Arch a);

// The largest shapes a model takes (a checkpoint declaring more is damaged, not a model).
enum { MODEL_MAX_CLASSES = 100000, MODEL_MAX_CHANNELS = 64, MODEL_MAX_SIDE = 4096 };

typedef struct {
  Arch arch;
  int in_c, in_h, in_w;  // input image shape
  int num_classes;
  int batch_capacity;  // the largest local batch a forward pass may take
  int width;           // base width: cnn4 32 (stages w,2w,4w,8w), resnets 64, swin_t 96 (its
                       // embedding; a multiple of 3, heads 3-6-12-24); 0: default. Smaller
                       // widths give the same structure at a fraction of the cost.
  int patch, window;   // swin_t only: patch size (default 4) and attention window (default 7);
                       // 0: default. 32x32 inputs: patch 2 or 4 with window 4 (docs/swin.md).
  Stem stem;           // resnets only (model_create refuses STEM_IMAGENET for the others)
} ModelSpec;

// swin_t's knobs with the defaults filled in (width 96, patch 4, window 7).
void swin_knobs(const ModelSpec *s, int *width, int *patch, int *window);

typedef enum {
  PARAM_CONV_W,    // [O, C/groups, KH, KW]
  PARAM_LINEAR_W,  // [out, in]
  PARAM_LINEAR_B,  // [out]
  PARAM_BN_W,      // [C]
  PARAM_BN_B,      // [C]
  PARAM_BN_MEAN,   // [C], buffer
  PARAM_BN_VAR,    // [C], buffer
  PARAM_CONV_B,    // [O]
  PARAM_LN_W,      // [C] LayerNorm
  PARAM_LN_B,      // [C]
  PARAM_RELPOS,    // [(2win-1)², heads]: Swin's relative position bias table
} ParamKind;

// One named tensor in the params arena (trainable) or the buffers arena (BN running stats).
typedef struct {
  char name[64];  // PyTorch state_dict key, e.g. "layer2.0.downsample.1.running_var"
  ParamKind kind;
  int is_buffer;  // 0: params/grads arena; 1: buffers arena
  int64_t offset, size;
  int ndim;
  int shape[4];
} ParamInfo;

typedef enum {
  OP_INPUT,
  OP_CONV,
  OP_BN,
  OP_RELU,
  OP_MAXPOOL,
  OP_GAP,
  OP_LINEAR,
  OP_ADD,
  OP_L2NORM,   // rows divided by their L2 norm (F.normalize)
  OP_LN,       // LayerNorm over each token's channels
  OP_GELU,     // exact GELU
  OP_MERGE,    // Swin's patch merging gather: [h, w, c] -> [ceil(h/2), ceil(w/2), 4c]
  OP_WINATTN,  // Swin's (shifted) window attention, qkv and proj included
} OpKind;
#define OP_KIND_COUNT (OP_WINATTN + 1)  // keep it the last kind + 1

// "conv", "bn", ...: the op kinds' names (profiles).
const char *op_kind_name(OpKind k);

typedef struct {
  OpKind kind;
  int in, in2, out;    // value indices (in2: second operand of ADD)
  int w, b;            // param indices or -1 (BN, LN: gamma, beta; WINATTN: qkv)
  int rm, rv;          // BN running-stat param indices
  int relu;            // BN and ADD: fused ReLU after the op
  ConvShape conv;      // OP_CONV (its B is set per call)
  int k, s, p;         // OP_MAXPOOL kernel, stride and padding
  float *mean, *rstd;  // BN: saved batch statistics [C]; LN: per token [capacity*h*w]
  int32_t *argmax;     // MAXPOOL: [capacity, OH, OW, C]
  float *norms;        // L2NORM: saved row norms [capacity]
  int w2, b2, tab;     // WINATTN: proj weight and bias, relative position bias table
  WinAttnShape attn;   // WINATTN (its B is set per call)
  float *saved;        // WINATTN: what the backward needs (winattn_saved_floats)
} Op;

typedef struct {
  int h, w, c;        // per-sample shape; the buffer is [B, h, w, c]
  float *act;         // [capacity * h * w * c]
  int grad_slot;      // which shared gradient buffer holds d(loss)/d(value), -1 if none
  int producer;       // op index that writes this value (-1: none)
  int last_use;       // last op index that reads it (-1: none)
  const float *dext;  // graph outputs: the caller's gradient during model_graph_backward
} Value;

#define MODEL_MAX_POINTS 8
#define MODEL_MAX_OPS 512  // resnet50, the largest, has 160 ops, 163 values, 320 params
#define MODEL_MAX_VALUES 512
#define MODEL_MAX_PARAMS 1024
#define MODEL_MAX_OUTPUTS 16  // EC's modules in one graph: two per supervision point

typedef struct {
  ModelSpec spec;
  MPI_Comm comm;  // rank group for synchronised BN (MPI_COMM_NULL: none)
  int bn_sync;    // 1: BN statistics over the whole group batch (default); 0: per rank
  float bn_momentum, bn_eps;

  ParamInfo *params;
  int n_params;
  float *param_mem, *grad_mem, *buffer_mem;  // the three arenas
  int shared_arenas;  // 1: the arenas belong to someone else (set by the owner; not freed here)
  int64_t n_param_floats, n_buffer_floats;

  Op *ops;
  int n_ops;
  Value *values;
  int n_values;
  int input_value, logits_value;
  int n_points;
  int points[MODEL_MAX_POINTS];            // value index of each supervision point
  char point_names[MODEL_MAX_POINTS][32];  // "layer1", ...
  int graph;                               // 1: a graph model (input by pointer, outputs[])
  int n_outputs;
  int outputs[MODEL_MAX_OUTPUTS];  // graph models: value index of each output

  float **grad_slots;  // shared gradient buffers
  int n_grad_slots;
  float *scratch;  // conv im2col scratch
  size_t scratch_floats;
  double *bn_sums;  // [2*maxC + 1]
  int max_channels;

  int train;         // mode of the last forward
  int batch;         // local batch size of the last forward
  double flops_fwd;  // multiply-adds*2 of one forward pass, per sample

  // Data parallelism (dist.c): the gradient sum runs in buckets of about this many floats,
  // each started as soon as the backward has finished the ops that write it (dist_backward);
  // 0: one blocking allreduce of the whole arena after the backward.
  int64_t bucket_floats;
  Profile *prof;  // NULL: not profiled; else times are added into it (profile.h)
  // NULL, or a gradient [B, F] that the backward adds at the head's input (model_head_input)
  // beside what reaches it from the logits: a loss on the features the head reads (be's shadow
  // class). Set by the caller for the backwards it concerns.
  const float *dhead_input;
} Model;

// Builds the model and allocates everything for spec->batch_capacity. Parameters are zero
// until model_init or a checkpoint load.
int model_create(Model *m, const ModelSpec *spec, Err *e);
void model_free(Model *m);
// Seeded initialisation, PyTorch's: Kaiming normal (fan_out, ReLU) for conv, U(±1/sqrt(in))
// for linear weights and biases, BN weight 1 and bias 0, running mean 0 and var 1. swin_t:
// torchvision's (docs/swin.md): linear weights and position bias tables truncated normal std
// 0.02, linear biases 0, LayerNorm 1 and 0, the patch embedding U(±1/sqrt(fan_in)).
void model_init(Model *m, uint64_t seed);
// PyTorch's initialisation of one tensor of the given kind from the stream r: Kaiming normal
// (fan_out) for conv, U(±1/sqrt(fan_in)) for linear weights and biases, 1 and 0 for BN.
void param_init(ParamKind kind, const int *shape, int64_t size, int fan_in, Rng *r, float *d);
// Which model this is, as text: 16 hex digits of a SHA-256 over every parameter and BN buffer
// in the order of their names, the same for the model and its checkpoint (fingerprint.c says
// how to compute it from a checkpoint's /params). ERR_RUNTIME if the digest fails.
enum { MODEL_FINGERPRINT_LEN = 17 };  // 16 hex digits and the NUL
int model_fingerprint(const Model *m, char out[MODEL_FINGERPRINT_LEN], Err *e);
// Index of the parameter called name, or -1.
int model_find_param(const Model *m, const char *name);
float *model_param_data(Model *m, int i);  // into param_mem or buffer_mem

// Forward of x [B, in_c, in_h, in_w] (NCHW, B <= capacity). train: BN uses batch statistics
// (synchronised over m->comm when bn_sync) and updates running stats; else running stats.
void model_forward(Model *m, const float *x, int B, int train);
// [B, num_classes], valid after model_forward.
const float *model_logits(const Model *m);
// The features the head (the linear op that writes the logits) reads: [B, F], F into *features;
// NULL for a graph model.
const float *model_head_input(const Model *m, int *features);
// The activation of supervision point l: [B, h, w, c] NHWC; sets its per-sample shape.
const float *model_point(const Model *m, int l, int *h, int *w, int *c);

// Backward of the last forward. dlogits [B, K] is d(loss)/d(logits) (may be NULL: no loss on
// the logits); dpoints, if not NULL, holds per point a gradient [B, h, w, c] to add at that
// point (entries may be NULL). Gradients are ADDED into grad_mem (zero it with
// model_zero_grads first). dinput, if not NULL, receives d(loss)/d(x) [B, in_c, in_h, in_w]
// (overwritten).
void model_backward(Model *m, const float *dlogits, const float *const *dpoints, float *dinput);
// model_backward, calling after(ctx, i) as soon as op i's backward is done (ops run from the
// last to the first): data parallelism starts summing the gradients that are final (dist.c).
void model_backward_each(Model *m, const float *dlogits, const float *const *dpoints, float *dinput,
                         void (*after)(void *ctx, int op), void *ctx);
void model_zero_grads(Model *m);

// ---------------------------------------------------------------------------------------------
// Graph models, described op by op (model_build.c describes the architectures with the same
// functions). Parameters get their PyTorch names (prefix.name) and arena offsets in the order
// they are added, ops run in the order they are added.

// An empty graph model (no communicator, synchronised BN, PyTorch's BN momentum and eps).
int model_graph_begin(Model *m, Err *e);
// Its input: an activation [B, h, w, c] (NHWC) the caller owns; returns its value.
int model_graph_input(Model *m, int h, int w, int c);
void model_graph_output(Model *m, int value);
// Allocates for `capacity` samples: the arenas (unless m->shared_arenas), activations and
// gradient buffers. capacity 0: the parameters only (a graph never run).
int model_graph_finish(Model *m, int capacity, Err *e);
// Forward: model_forward(m, x, B, train) with x [B, h, w, c] kept by pointer until the backward;
// the outputs' activations are m->values[m->outputs[o]].act.
// Backward of the last forward: douts[o] is d(loss)/d(output o) [B, ...] or NULL (no loss there:
// the ops that only lead to it are skipped). Parameter gradients are ADDED to grad_mem; dinput
// [B, h, w, c] (may be NULL: not needed) gets d(loss)/d(x) ADDED.
void model_graph_backward(Model *m, const float *const *douts, float *dinput);

// Building blocks (also model_build.c's): model_value and model_param return the index they
// add, model_op the op (its out's producer and in's last reader).
int model_value(Model *m, int h, int w, int c);
int model_param(Model *m, const char *prefix, const char *name, ParamKind kind, int d0, int d1,
                int d2, int d3);
Op *model_op(Model *m, OpKind kind, int in, int out);
// Ops on value `in` with the given parameters; each returns its output value.
int model_op_conv(Model *m, int in, int w, int out_c, int k, int stride, int pad);  // no bias
int model_op_conv_bias(Model *m, int in, int w, int b, int out_c, int k, int stride, int pad);
int model_op_bn(Model *m, int in, int w, int b, int rm, int rv, int relu);
int model_op_linear(Model *m, int in, int w, int b);  // out_features from w's shape
// The same linear on every token of in [h, w, c]: out [h, w, out_features] (b may be -1).
int model_op_linear_tokens(Model *m, int in, int w, int b);
int model_op_relu(Model *m, int in);
int model_op_gap(Model *m, int in);
int model_op_l2norm(Model *m, int in);
