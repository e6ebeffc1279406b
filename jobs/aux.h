// aux.h: EC's auxiliary modules, one per supervision point (docs/methods.md, "Auxiliary modules"):
//   summariser s_l: global average pooling, or `conv`: stride-2 3×3 conv-BN-ReLU blocks down to
//                   the last point's resolution and width, then global average pooling → h [d];
//   projection g_l: Linear(d,d), ReLU, Linear(d,P), L2-normalise → z [P] (head mlp or frozen),
//                   or none: z = h/‖h‖ [d], the summary itself (no parameters to absorb a loss);
//   classifier c_l: Linear(d,K) (at the last point, the network's own head when own_head_last).
//
// AuxModules holds only the structure and the parameters (its own parameter, gradient and buffer
// arenas, like a Model): what pretraining produces, what is cached and shared by every run.
// AuxWork holds the activations for a batch capacity. Parameters are named like the PyTorch
// modules would be (nn.Sequential indices), e.g.
//   layer2.summariser.0.0.weight    conv [O, C, 3, 3] of the first block
//   layer2.summariser.0.1.weight    its BN (bias, running_mean, running_var likewise)
//   layer2.projection.0.weight      [d, d]  (.0.bias, .2.weight [P, d], .2.bias)
//   layer2.classifier.weight        [K, d]  (.bias)
// and saved under /aux/ of a checkpoint with those names.
//
// The conv summariser: from a point of h×w×c to the last point's hL×wL×cL, blocks of
// conv3x3(pad 1)-BN-ReLU, stride 2 while the resolution is above hL×wL (stride 1 otherwise), as
// many as that takes and at least one (a point at the last resolution but narrower still gets
// one, stride 1); each block doubles the width, capped at cL, and the last block outputs cL.
// The last point itself is only pooled. Not for mlp (its points are vectors).
//
// Data parallel: BN in training mode sums its statistics over the communicator (synchronised,
// like the backbone's); aux_allreduce_grads sums the gradient arena.
#pragma once

#include <mpi.h>
#include <stdbool.h>
#include <stdint.h>

#include "ckpt.h"
#include "err.h"
#include "model.h"

typedef enum { AUX_SUMMARISER_GAP, AUX_SUMMARISER_CONV } AuxSummariser;
// How the embedding z is formed: a projection head trained with the backbone during
// unlearning (mlp), the same head kept as pretrained (frozen: the modules' optimiser never
// moves it), or no head: z = normalise(h) (none, the default: see docs/ec-study.md).
typedef enum { AUX_HEAD_MLP, AUX_HEAD_FROZEN, AUX_HEAD_NONE } AuxHead;

typedef struct {
  int n_points;                  // 0: every supervision point of the model
  int points[MODEL_MAX_POINTS];  // model point indices, ascending
  AuxSummariser summariser;      // gap
  AuxHead head;                  // none
  int proj_dim;                  // P = 128 (mlp and frozen heads)
  bool own_head_last;            // true: the network's own head is the last module's classifier
} AuxSpec;

// Fills s->points from point names ("layer1", ...) of m: ERR_CONFIG naming an unknown one.
int aux_points_from_names(AuxSpec *s, const Model *m, const char *const *names, int n, Err *e);

enum { AUX_MAX_BLOCKS = 8 };

typedef struct {
  ConvShape conv;              // B is set per call
  int w, gamma, beta, rm, rv;  // param indices (rm, rv: buffers)
} AuxBlock;

typedef struct {
  int point;      // model point index
  char name[32];  // the model's point name
  int h, w, c;    // point activation shape
  int n_blocks;
  AuxBlock blocks[AUX_MAX_BLOCKS];
  int d;               // summary size
  int p;               // embedding size: proj_dim with a head, d without
  int w1, b1, w2, b2;  // projection params, -1 without a head
  int wc, bc;          // classifier params, -1 with the network's own head
} AuxModule;

typedef struct {
  char name[96];
  int is_buffer;
  int64_t offset, size;
  int ndim, shape[4];
  ParamKind kind;  // decides the initialisation, as in model_init
} AuxParam;

typedef struct {
  AuxSpec spec;
  int num_classes;
  int n_modules;
  AuxModule mod[MODEL_MAX_POINTS];
  AuxParam *params;
  int n_params;
  float *param_mem, *grad_mem, *buffer_mem;
  int64_t n_param_floats, n_buffer_floats;
  MPI_Comm comm;  // for synchronised BN (MPI_COMM_NULL: none)
} AuxModules;

// ERR_CONFIG, naming the key, unless modules of spec can be built on a network of arch (the
// one home of this check: the config's cross-key checks and aux_create both call it).
int aux_spec_check(const AuxSpec *s, Arch arch, Err *e);
// Builds the modules for m's points (shapes from m; m's capacity does not matter). Parameters
// are zero until aux_init or aux_load. ERR_CONFIG for aux_spec_check's reasons or bad points.
int aux_create(AuxModules *a, const Model *m, const AuxSpec *spec, Err *e);
void aux_free(AuxModules *a);
// PyTorch's default initialisation (as model_init), from rng_derive(seed, RNG_INIT, ...).
void aux_init(AuxModules *a, uint64_t seed);
// A copy of src's structure and parameters (dst is created).
int aux_clone(AuxModules *dst, const AuxModules *src, Err *e);
void aux_zero_grads(AuxModules *a);
// The largest embedding size p over the modules.
int aux_max_embed(const AuxModules *a);
// mask [n_param_floats]: 1 for the parameters unlearning may move, 0 for a frozen head's.
void aux_train_mask(const AuxModules *a, float *mask);
void aux_allreduce_grads(AuxModules *a);
float *aux_param_data(AuxModules *a, int i);

// Activations of every module for up to `capacity` samples.
typedef struct {
  int capacity;
  float *scratch;  // conv im2col
  double *bn_sums;
  struct {
    float *conv_out[AUX_MAX_BLOCKS], *bn_out[AUX_MAX_BLOCKS];  // [cap, OH, OW, O]
    float *mean[AUX_MAX_BLOCKS], *rstd[AUX_MAX_BLOCKS];        // [O]
    float *dbn, *dconv, *dprev;                     // block gradients, sized for the largest block
    float *hs, *u1, *r1, *u2, *z, *norms, *logits;  // [cap, d|P|K]
    float *dh, *dr1, *du1, *du2;
    const float *in;  // the point activation of the last forward
    int train;
  } m[MODEL_MAX_POINTS];
  int batch;
} AuxWork;

int aux_work_init(AuxWork *w, const AuxModules *a, int capacity, Err *e);
void aux_work_free(AuxWork *w);

// Module k on the point activation x [B, h, w, c] (kept by pointer until aux_backward).
// train: BN uses (synchronised) batch statistics and updates running statistics.
// Every rank of a->comm must call it together (B may be 0 on some).
void aux_forward(AuxModules *a, AuxWork *w, int k, const float *x, int B, int train);
// z [B, p] and classifier logits [B, K] (NULL with the network's own head) of the last forward.
const float *aux_z(const AuxWork *w, int k);
const float *aux_logits(const AuxWork *w, int k);
// Backward of module k's last forward: dz [B, p] and dlogits [B, K] (either may be NULL) are
// d(loss)/d(z) and d(loss)/d(logits). Parameter gradients are ADDED to a->grad_mem; dx [B,h,w,c]
// (may be NULL) gets d(loss)/d(x) ADDED. Collective like aux_forward.
void aux_backward(AuxModules *a, AuxWork *w, int k, const float *dz, const float *dlogits,
                  float *dx);

// The modules' tensors (params and buffers) for ckpt_save's aux list; out [a->n_params].
void aux_tensors(const AuxModules *a, CkptTensor *out);
// Saves the modules (role "ec_modules") together with the original model they were trained on.
int aux_save(const char *path, const AuxModules *a, const Model *original, const float *mean,
             const float *std, Err *e);
// Loads parameters and buffers saved by aux_save into a (created with the same spec).
int aux_load(const char *path, AuxModules *a, Err *e);
