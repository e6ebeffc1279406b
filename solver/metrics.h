// metrics.h: the evaluation metrics of docs/methods.md ("Metrics") and the full evaluation of one
// model. The whole public interface of cka.c, knn.c, mia.c and evaluate.c.
//
// - Accuracies: forget set, retain set, test images of retained and of forgotten classes
//   (random-fraction forgetting: test_retain is the whole test set, test_forget_acc is NaN).
//   Models run in eval mode (BN running statistics), no augmentation.
// - MIA efficacy: a logistic-regression attack on (p_true, entropy) (mia.c, MiaAttack), or
//   SalUn's RBF SVM on p_true (mia_svm.c, MiaSvm); EvalOptions.mia_model chooses.
// - Linear CKA (cka.c) at every supervision point against θ_o and θ_rt, on batches of
//   cka_batch images in data-set order, averaged over batches.
// - k-NN probe (knn.c) per supervision point: cosine, k = 5, majority vote.
// - Avg gap: eval_avg_gap.
//
// Everything that touches a model takes the rank group's communicator (MPI_COMM_NULL: alone);
// work is split over the group and every rank ends with the same result. Functions that can
// fail return 0 or an ERR_* code with a message in Err; none prints.
#pragma once

#include <mpi.h>
#include <stdbool.h>
#include <stdint.h>

#include "ckpt.h"
#include "data.h"
#include "err.h"
#include "model.h"

// ----------------------------------------------------------------------------------------------
// linear CKA (cka.c)
//
// X [n, p] and Y [n, q] hold one row per sample (the same n samples, in the same order; the
// order of features within a row does not matter). With column-centred Xc, Yc:
//   CKA = ‖YcᵀXc‖²_F / (‖XcᵀXc‖_F ‖YcᵀYc‖_F)                       (feature form)
//       = <Kc, Lc>_F / (‖Kc‖_F ‖Lc‖_F),  Kc = XcXcᵀ, Lc = YcYcᵀ      (Gram form; Kc = HKH)
// Precision: columns are centred in float with means accumulated in double; the products
// (XcᵀXc or XcXcᵀ) are float BLAS (ssyrk/sgemm) and every Frobenius sum is accumulated in
// double. Centring before the product avoids the cancellation that HKH on an uncentred K
// suffers with ReLU features (large means); dsyrk would cost 2.5x the time for an agreement
// with float64 numpy that float already meets (1e-8 on tests/fixtures/cka.h5, which asks 1e-5).
// Returns NaN when a side is constant over the samples (zero norm), n < 2, or memory is short.

// Explicit forms (for tests; each works for any p, q).
double cka_feature(const float *X, int n, int p, const float *Y, int q);
double cka_gram(const float *X, int n, int p, const float *Y, int q);
// The cheaper form: Gram when p > n or q > n (an n×n product per side instead of p×p).
double cka_linear(const float *X, int n, int p, const float *Y, int q);
int cka_use_gram(int n, int p, int q);

// One side's centred representation of a batch, in one of the two forms, so that a model's
// representation is computed once and compared with several others.
typedef struct {
  int n, p;
  int gram;     // 1: K = XcXcᵀ [n, n] (upper triangle valid); 0: Xc [n, p]
  float *K;     // gram
  float *Xc;    // feature form
  double norm;  // ‖XcXcᵀ‖_F = ‖XcᵀXc‖_F
} CkaRep;

// Centres X [n, p] in place (it is clobbered) and computes the representation.
int cka_rep_make(CkaRep *r, float *X, int n, int p, int gram, Err *e);
void cka_rep_free(CkaRep *r);
// CKA between two representations of the same n samples in the same form (NaN otherwise).
double cka_rep_cka(const CkaRep *a, const CkaRep *b);

// CKA at every supervision point between m and each reference model refs[j] (j < n_refs <=
// CKA_MAX_REFS; a NULL entry is skipped and gives NaN), on the images subset [n] of set
// (normalised with mean/std [c]), in consecutive batches of `batch` images in the given order;
// a trailing partial batch counts if it has at least min_last images (<= 0: batch / 2) or is
// the only one (and has >= 2). The same images go through every model, in eval mode.
// cka [n_refs * MODEL_MAX_POINTS]: cka[j * MODEL_MAX_POINTS + l] = mean over the batches of the
// CKA of m and refs[j] at point l; NaN if no batch. *n_batches: batches averaged.
// Data-parallel over comm: see cka.c; every rank gets the same numbers as a single rank.
// The models must have the same point shapes (evaluate checks).
enum { CKA_MAX_REFS = 2 };
int cka_points(double *cka, int *n_batches, Model *m, Model *const *refs, int n_refs,
               const ImageSet *set, const int32_t *subset, int64_t n, const float *mean,
               const float *std, int batch, int min_last, MPI_Comm comm, Err *e);

// Runs m in eval mode over x [n, c, h, w] in chunks of at most its batch capacity, calling
// visit(ctx, m, first, count) after each chunk (logits and points then hold samples
// first .. first + count - 1). Used by the passes of cka.c and evaluate.c.
typedef void (*ChunkVisit)(void *ctx, const Model *m, int first, int count);
void metrics_forward_chunks(Model *m, const float *x, int n, ChunkVisit visit, void *ctx);

// ----------------------------------------------------------------------------------------------
// k-NN probe (knn.c)
//
// Cosine similarity (rows L2-normalised; an all-zero row has similarity 0 to everything), the k
// most similar probe rows (equal similarities: the lower probe index first), majority vote over
// their labels. Ties between labels go to the tied label whose nearest member is the most
// similar, i.e. the first tied label met walking the neighbours from the nearest. With fewer
// than k probe rows, all of them vote. Similarities are sgemm blocks of queries × probe.

// pred [n_query] for query [n_query, d] from probe [n_probe, d] with labels [n_probe] in
// [0, num_classes).
int knn_predict(int32_t *pred, const float *probe, const int32_t *probe_labels, int64_t n_probe,
                const float *query, int64_t n_query, int d, int k, int num_classes, Err *e);
// A seeded, class-balanced probe set: from the samples from [n_from] (indices into a set with
// labels [*] and num_classes classes), up to size / num_classes of each class (the remainder
// size % num_classes going one each to the lowest classes), each class's drawn by a seeded
// shuffle; a class with fewer samples gives all it has. size <= 0 or >= n_from: all of from.
// *out [*n_out] (malloc'd, ascending).
int knn_probe_indices(int32_t **out, int64_t *n_out, const int32_t *labels, int num_classes,
                      const int32_t *from, int64_t n_from, int64_t size, uint64_t seed, Err *e);

// ----------------------------------------------------------------------------------------------
// membership inference (mia.c)
//
// Features per sample (double): f0 = softmax probability of the true label, f1 = prediction
// entropy -Σ p log p. The attack is a logistic regression on the standardised features, fitted
// by Newton's method (damped, in double; L2 1e-4 on the weights, not the bias) on a balanced
// set: members (label 1, from the retain set) and as many non-members (label 0, from the test
// set). Efficacy = the fraction of the forget set whose P(member) < 0.5 (judged non-member):
// high means the forget set looks unseen. Deterministic; the sample draw is the caller's.
typedef struct {
  double mean[2], std[2];  // standardisation of the fitting set
  double w[2], b;          // P(member | f) = sigmoid(b + w · (f - mean)/std)
  int iterations;
} MiaAttack;

// feat [B, 2] for logits [B, K] and labels [B].
void mia_features(double *feat, const float *logits, const int32_t *labels, int B, int K);
// Fits a on members [n_member, 2] and non-members [n_nonmember, 2] (both > 0).
int mia_fit(MiaAttack *a, const double *members, int64_t n_member, const double *nonmembers,
            int64_t n_nonmember, Err *e);
double mia_member_prob(const MiaAttack *a, const double *feat);
// Fraction of feat [n, 2] judged non-member (NaN for n = 0).
double mia_efficacy(const MiaAttack *a, const double *feat, int64_t n);
// idx [N] = N = min(n, cap) positions drawn without replacement from 0..n-1 by a seeded shuffle
// (stream rng_derive(seed, RNG_METHOD, tag)), ascending. cap <= 0: all n. Returns N (-1: out
// of memory).
int64_t mia_draw(int64_t *idx, int64_t n, int64_t cap, uint64_t seed, uint64_t tag);

// SalUn's attack (mia_svm.c; docs/methods.md, "MIA efficacy"): an RBF-kernel SVM fitted by
// libsvm with the settings of SalUn's SVC_MIA, i.e. scikit-learn's SVC(C=3, gamma='auto',
// kernel='rbf'): C = 3, gamma = 1/dim, tolerance 1e-3, shrinking, no standardisation of the
// features. The features are the first dim columns of the [n, 2] rows of mia_features: dim 1
// is SalUn's reported "confidence" attack (p_true alone, gamma 1); dim 2 adds the entropy (for
// the tests). Members (retain) and non-members (test) as for MiaAttack. Efficacy = the
// fraction of the forget set libsvm predicts non-member. Deterministic. libsvm's progress
// output is silenced while it trains and its default (stdout) restored afterwards.
typedef struct MiaSvm MiaSvm;

// Fits *s (mia_svm_free it) on members [n_member, 2] and non-members [n_nonmember, 2] (both
// > 0, finite). dim: 1 or 2.
int mia_svm_fit(MiaSvm **s, const double *members, int64_t n_member, const double *nonmembers,
                int64_t n_nonmember, int dim, Err *e);
// Decision value for feat [2]: > 0 judged member (scikit-learn's decision_function with
// members labelled 1, non-members 0).
double mia_svm_decision(const MiaSvm *s, const double *feat);
// 1 if feat [2] is predicted member, 0 if non-member (libsvm's prediction).
int mia_svm_is_member(const MiaSvm *s, const double *feat);
// Fraction of feat [n, 2] predicted non-member (NaN for n = 0).
double mia_svm_efficacy(const MiaSvm *s, const double *feat, int64_t n);
// Support vectors of the fitted model.
int mia_svm_n_support(const MiaSvm *s);
void mia_svm_free(MiaSvm *s);

// ----------------------------------------------------------------------------------------------
// full evaluation (evaluate.c)

// The membership attack behind mia_efficacy (eval.mia_model).
typedef enum { MIA_LOGISTIC, MIA_SVM } MiaModel;

// The config's eval section (its keys fill these fields; docs/config.md), and the run's seed.
typedef struct {
  bool cka, knn, mia;  // which of the optional metrics to compute
  int cka_batch;       // images per CKA batch (512)
  int cka_min_last;    // a trailing partial CKA batch is averaged in only if it has at least
                       // this many images (0: cka_batch / 2; always if it is the only batch);
                       // small batches inflate linear CKA, so a runt would bias the average
  int knn_k;           // neighbours (5)
  int knn_probe_size;  // class-balanced probe images from the training set (5000; 0: all)
  int mia_samples;     // members and non-members each, at most (5000; 0: all available)
  MiaModel mia_model;  // logistic
  int batch_size;      // images per global forward batch (512); speed only
  uint64_t seed;       // the probe and MIA draws (the run's seed)
} EvalOptions;

typedef struct {
  double forget_acc, retain_acc, test_retain_acc, test_forget_acc;  // NaN: no such samples
  double mia_efficacy;                                              // NaN: not computed
  int n_points;
  char point_names[MODEL_MAX_POINTS][32];
  double cka_original[MODEL_MAX_POINTS];  // NaN: no original model given, or cka off
  double cka_retrain[MODEL_MAX_POINTS];
  double knn_forget_acc[MODEL_MAX_POINTS];
  int cka_batches;                 // batches averaged
  int64_t cka_images;              // images in them
  int64_t knn_probe, knn_queries;  // probe and scored images
  int64_t mia_n;                   // members (= non-members) the attack was fitted on
  // wall time per part, seconds (this rank's clock): accuracies include the forward passes
  // whose features the k-NN probe and the MIA reuse; knn and mia are what comes after.
  double time_acc, time_cka, time_knn, time_mia, time_total;
} EvalResult;

// Evaluates m against original and retrain (either may be NULL: its CKA is NaN) on d with the
// split fs. The three models must have the same architecture (supervision-point shapes); any
// batch capacity (forward passes are chunked to it). mean/std [c]: the input normalisation the
// models expect (usually d->mean, d->std).
// Which images:
//   accuracies  train_forget, train_retain, test_retain, test_forget of fs
//   MIA         members: N retain images; non-members: N test images of retained classes (the
//               members' classes, so that the attack learns membership, not class; random
//               fraction: the whole test set); N = min(both sets, mia_samples), each drawn by a
//               seeded shuffle (mia_draw, its own stream per side); target: the forget set
//   CKA, k-NN   class-wise: the test images of forgotten classes; random fraction: the forget
//               set. The k-NN probe is drawn from the training set (all classes); in random-
//               fraction forgetting from the retain set, so that no scored image is its own
//               neighbour.
// The probe's and the scored images' pooled features come from the accuracy passes (no extra
// forward pass). m, original, retrain must hold the same weights on every rank.
int evaluate(EvalResult *r, Model *m, Model *original, Model *retrain, const Dataset *d,
             const ForgetSplit *fs, const float *mean, const float *std, const EvalOptions *o,
             MPI_Comm comm, Err *e);

// Mean over {forget_acc, retain_acc, test_retain_acc, mia_efficacy} of |u - rt| (terms where
// either side is NaN are left out; NaN if none is left). test_retain_acc is the test accuracy
// (random fraction: the whole test set).
double eval_avg_gap(const EvalResult *u, const EvalResult *rt);

// Builds the model a checkpoint holds (arch, stem, classes and input shape from its attributes;
// the width from the first conv weight's shape when width <= 0; swin_t's patch and window from
// its patch embedding's kernel and its relative position bias tables) with the given batch
// capacity and loads it. meta may be NULL. Errors name the file.
int eval_load_model(Model *m, const char *path, int width, int batch_capacity, CkptMeta *meta,
                    Err *e);
