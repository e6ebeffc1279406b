// contrastive.h: EC's contrastive unlearning loss (docs/methods.md, "The EC loss of a step") and
// its relatives, forward and backward on L2-normalised embeddings.
//
// Anchors i (z_i = za[i], label ya[i]) are compared with candidates j (zc[j], yc[j]):
//   s_ij = <z_i, z_j>/τ,  a_ij = s_ij − m_i,  m_i = max_j s_ij (a constant: no gradient)
//   L_i  = −(1/|P(i)|) Σ_{p∈P(i)} ( a_ip − log( Σ_{n∈N(i)} e^{a_in} + ε ) )
//        = −mean_{p∈P(i)} a_ip + LSE_i,   LSE_i = log(Σ_{n∈N(i)} e^{a_in} + ε), 0 if N(i) = ∅
//   L    = mean of L_i over the anchors with P(i) ≠ ∅ (0 if there is none).
// With pos_lse the positives are pooled by a log-mean-exp instead of a mean:
//   L_i  = −log( (1/|P(i)|) Σ_{p∈P(i)} e^{a_ip} ) + LSE_i   (≥ 0 when N(i) = ∅, like the mean)
// so each positive pulls with its softmax weight e^{a_ip}/Σ_P e^{a_ip}: the anchor goes to its
// nearest positives, τ setting how near (τ → ∞: every positive alike, the mean's direction;
// τ → 0: the single nearest). With the mean, when N(i) = ∅ the gradient is scale/τ times one
// that does not depend on τ: τ only sets the strength (docs/ec-study.md).
// Which candidates are P(i) and N(i):
//   cu (EC's default):   P(i) = other class, N(i) = same class. With N(i) empty (class-wise
//                        forgetting) only the pull toward other classes remains.
//   forget_only:         the anchors are their own candidates (j ≠ i), same P and N: within the
//                        forget batch, pull toward forget samples of other classes.
//   supcon (pretraining): P(i) = same class, N(i) = every candidate j ≠ i (SupCon, Khosla et
//                        al. 2020, with the log's ε).
// push_original adds one more member of N(i) per anchor: zo[i], the original model's embedding
// of the same image (a constant); it also takes part in the max m_i.
//
// Gradient: dL/ds_ip = −1/|P(i)|/n_valid (pos_lse: −e^{a_ip}/Σ_P e^{a_ip}/n_valid), dL/ds_in =
// e^{a_in}/(Σ_N e^{a_in} + ε)/n_valid (a candidate in both sets gets both), then ds_ij/dz_i =
// z_j/τ, ds_ij/dz_j = z_i/τ. Computed in double (dgemm for the similarities and the gradient
// products), stable for any τ: every exponent is ≤ 0 after the max shift.
#pragma once

#include <stdint.h>

#include "err.h"

typedef struct {
  float tau;           // temperature τ
  float eps;           // ε inside the log (ec.log_eps)
  int pos_same_class;  // 0: P(i) = candidates of another class (cu); 1: same class (supcon)
  int neg_all;         // 0: N(i) = the candidates not in P(i); 1: every candidate (supcon)
  int exclude_self;    // the candidates are the anchors themselves: j == i is left out
  int pos_lse;         // 0: −mean over P(i) of a_ip (the paper's); 1: −log mean_{P(i)} e^{a_ip}
} ContrastiveSpec;

// za [na, D] with ya [na]; zc [nc, D] with yc [nc] (with exclude_self: zc == za, nc == na);
// zo [na, D] or NULL. Sets *loss = L. Adds scale·dL/dza into dza [na, D] and scale·dL/dzc into
// dzc [nc, D] (either may be NULL; with exclude_self they may be the same buffer). *n_valid (may
// be NULL) = anchors with P(i) ≠ ∅. ERR_RUNTIME only when out of memory.
int contrastive_loss(const float *za, const int32_t *ya, int na, const float *zc, const int32_t *yc,
                     int nc, const float *zo, int D, const ContrastiveSpec *cs, float scale,
                     double *loss, float *dza, float *dzc, int *n_valid, Err *e);
