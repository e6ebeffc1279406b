// aux.h: EC's auxiliary modules, one per supervision point (docs/methods.md, "Auxiliary modules"):
//   summariser s_l: global average pooling, or `conv`: stride-2 3×3 conv-BN-ReLU blocks down to
//                   the last point's resolution and width, then global average pooling → h [d];
//   projection g_l: Linear(d,d), ReLU, Linear(d,P), L2-normalise → z [P] (head mlp or frozen),
//                   or none: z = h/‖h‖ [d], the summary itself (no parameters to absorb a loss);
//   classifier c_l: Linear(d,K) (at the last point, the network's own head when own_head_last).
//
// One engine with the backbone: each module is a solver graph model (model.h "Graph models") on
// its point activation [B, h, w, c]:
//   input → (conv-BN-ReLU)* → GAP → h ─┬→ Linear → logits                  (the classifier)
//                                      └→ [Linear → ReLU → Linear] → L2NORM → z
// so the solver's ops run it, its BN is the solver's (synchronised over the communicator), its
// parameters are ParamInfo tensors initialised by model_init and its gradients summed by
// dist_allreduce_grads. AuxModules holds every module's graph in one parameters-only model, net:
// one arena of parameters, gradients and buffers for all modules (what pretraining produces,
// what is cached and shared by every run). AuxWork holds, per module, the same graph with
// activations for a batch capacity, its arenas views into net's. Parameters are named like the
// PyTorch modules would be (nn.Sequential indices), e.g.
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
  int point;                      // model point index
  char name[32];                  // the model's point name
  int h, w, c;                    // point activation shape
  int last;                       // 1: the network's last point
  int n_blocks;                   // conv summariser blocks
  int d;                          // summary size
  int p;                          // embedding size: proj_dim with a head, d without
  int w1, b1, w2, b2;             // projection params (indices into net), -1 without a head
  int wc, bc;                     // classifier params, -1 with the network's own head
  int64_t param_off, buffer_off;  // where the module's tensors start in net's arenas
} AuxModule;

typedef struct {
  AuxSpec spec;
  int num_classes;
  int last_h, last_w, last_c;  // the last point's shape (the conv summariser's target)
  int n_modules;
  AuxModule mod[MODEL_MAX_POINTS];
  Model net;      // every module's graph, parameters only (never run): params, grads, buffers
  MPI_Comm comm;  // for synchronised BN and the gradient sum (MPI_COMM_NULL: none)
} AuxModules;

// ERR_CONFIG, naming the key, unless modules of spec can be built on a network of arch (the
// one home of this check: the config's cross-key checks and aux_create both call it).
int aux_spec_check(const AuxSpec *s, Arch arch, Err *e);
// Builds the modules for m's points (shapes from m; m's capacity does not matter). Parameters
// are zero until aux_init or aux_load. ERR_CONFIG for aux_spec_check's reasons or bad points.
int aux_create(AuxModules *a, const Model *m, const AuxSpec *spec, Err *e);
void aux_free(AuxModules *a);
// Module md's graph (shapes and point set) into the graph model m after what m holds; sets md's
// parameter indices, offsets, d and p (aux_create's net and aux_work_init's per-module models).
void aux_describe(Model *m, const AuxModules *a, AuxModule *md);
// PyTorch's default initialisation: model_init of net, seeded rng_hash(seed, 0xa0c5) (streams
// apart from the backbone's).
void aux_init(AuxModules *a, uint64_t seed);
// A copy of src's structure and parameters (dst is created).
int aux_clone(AuxModules *dst, const AuxModules *src, Err *e);
void aux_zero_grads(AuxModules *a);
// The largest embedding size p over the modules.
int aux_max_embed(const AuxModules *a);
// mask [net.n_param_floats]: 1 for the parameters unlearning may move, 0 for a frozen head's.
void aux_train_mask(const AuxModules *a, float *mask);
void aux_allreduce_grads(AuxModules *a);  // dist_allreduce_grads over a->comm
float *aux_param_data(AuxModules *a, int i);

// Activations of every module for up to `capacity` samples: module k's graph (model.h), whose
// arenas are bound to the modules' net at each call.
typedef struct {
  int capacity;
  Model m[MODEL_MAX_POINTS];
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
// d(loss)/d(z) and d(loss)/d(logits). Parameter gradients are ADDED to a->net.grad_mem; dx
// [B,h,w,c] (may be NULL) gets d(loss)/d(x) ADDED. Collective like aux_forward.
void aux_backward(AuxModules *a, AuxWork *w, int k, const float *dz, const float *dlogits,
                  float *dx);

// The modules' tensors (params and buffers) for ckpt_save's aux list; out [a->net.n_params].
void aux_tensors(const AuxModules *a, CkptTensor *out);
// Saves the modules (role "ec_modules") together with the original model they were trained on.
int aux_save(const char *path, const AuxModules *a, const Model *original, const float *mean,
             const float *std, Err *e);
// Loads parameters and buffers saved by aux_save into a (created with the same spec).
int aux_load(const char *path, AuxModules *a, Err *e);
