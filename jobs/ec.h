// ec.h: the EC losses of one training step, over every auxiliary module (internal to jobs/;
// unlearn.h is the public interface).
//
// After the backbone's training-mode forward of the local batch [forget rows; retain rows]:
//   L_EC = Σ_k w_k (λ_cu L_cu,k + λ_ce L_ce,k)
// L_cu,k: the contrastive loss (contrastive.h, variant cu or forget_only) on the module's
// embeddings of the whole global batch (gathered on every rank, gather.h); L_ce,k: the mean CE of
// the module's classifier (or the network's own head) over the global retain rows. The gradients
// go into the modules' arena and, as gradients at the supervision points, into dpoints for the
// backbone's backward. Weights w_k: uniform, increasing, decreasing (all scaled to mean 1), an
// explicit list, or cka: ∝ linear CKA between θ_u and θ_o at the point on a fixed probe batch of
// forget images (eval mode), re-measured every cka_every steps, scaled to mean 1.
#pragma once

#include "aux.h"
#include "gather.h"
#include "unlearn.h"

typedef struct {
  EcSpec spec;
  AuxModules aux;     // the working copy of the pretrained modules
  AuxWork work;       // activations of the current step
  AuxWork owork;      // push_original: the modules on θ_o's features
  Sgd opt;            // the modules' optimiser
  float *train_mask;  // frozen head: [n_param_floats], 0 on the head's parameters; else NULL
  MPI_Comm comm;
  int P, K;
  double weights[MODEL_MAX_POINTS];
  int64_t steps;
  // per step, [cap] local rows and [gcap] global rows
  // P: the largest module embedding size (aux_max_embed)
  float *zg, *dzg, *dz, *dlog, *probs;  // [gcap,P], [gcap,P], [cap,P], [cap,K], [cap,K]
  int32_t *yg;                          // [gcap]
  double *mstat;                        // [2P]: embed_stats' mean embeddings
  float *zo[MODEL_MAX_POINTS], *zog;    // push_original: [cap,P] per module, [gcap,P]
  // cka scheme
  int n_probe;
  float *probe_x;                       // [n_probe, c, h, w]
  double *gram_orig[MODEL_MAX_POINTS];  // [n_probe, n_probe], centred, of θ_o
  double cka[MODEL_MAX_POINTS];         // last measurement
} EcState;

// Per-step loss parts (global means) and embedding diagnostics, per module (NaN: not computed
// in this step: the diagnostics need the contrastive part).
typedef struct {
  double cu[MODEL_MAX_POINTS], ce[MODEL_MAX_POINTS];
  double cos_fr[MODEL_MAX_POINTS];  // mean cosine between forget and retain embeddings
  double spread[MODEL_MAX_POINTS];  // 1 − ‖mean embedding‖² over the batch (0: collapsed)
  double total;                     // Σ_k w_k (λ_cu cu_k + λ_ce ce_k)
} EcLosses;

// m is the working backbone and still θ_o (the cka scheme measures θ_o's probe Gram matrices
// here). cap/gcap: local/global rows per step. probe_idx [n_probe]: training images of the cka
// probe (ignored unless the cka scheme). opt_*: the optimiser settings of the run.
int ec_init(EcState *ec, const EcSpec *spec, const AuxModules *pretrained, Model *m,
            const Dataset *d, const int32_t *probe_idx, int n_probe, int cap, int gcap,
            float momentum, float weight_decay, MPI_Comm comm, Err *e);
void ec_free(EcState *ec);

// push_original: θ_o (orig) has just run forward (eval) on the step's forget rows [nf]; keeps
// every module's embedding of them as the extra negatives. Collective.
void ec_original_embeddings(EcState *ec, Model *orig, int nf);

// The EC losses of the step (see the top): rows split as in rs, y [nf+nr] true labels. use_cu,
// use_ce select the parts (SCRUB: cu in max passes, ce in min passes). Adds into dlogits [n,K]
// (own head), dpoints[point] [n,h,w,c] (each must be non-NULL for the modules' points) and the
// modules' gradient arena (zeroed here first). Collective.
int ec_step_losses(EcState *ec, Model *m, const RowSplit *rs, const int32_t *y, int use_cu,
                   int use_ce, float *dlogits, float *const *dpoints, EcLosses *out, Err *e);
// Sums the modules' gradients over the group and takes their optimiser step; counts the step and
// re-measures the cka weights when due (m: the working backbone).
void ec_update(EcState *ec, Model *m, float lr);

// The layer weights of a fixed scheme (not cka) for n modules: w [n].
int ec_scheme_weights(const EcSpec *s, int n, double *w, Err *e);
// cka scheme: probe Gram matrices and weights (ec_cka.c).
int ec_cka_init(EcState *ec, Model *m, const Dataset *d, const int32_t *probe_idx, int n_probe,
                Err *e);
void ec_cka_update(EcState *ec, Model *m);
// Linear CKA of two centred Gram matrices [n, n] (double).
double ec_cka_gram(const double *K, const double *L, int n);
// Centred Gram matrix G [n,n] = H X Xᵀ H of X [n, p] (float rows), accumulated in double.
void ec_centred_gram(double *G, const float *X, int n, int64_t p, double *scratch);
