// ec_cka.c: the `cka` layer-weight scheme: w_l ∝ CKA(θ_u, θ_o) at point l, measured on a fixed
// probe batch of forget images in eval mode every cka_every steps.
//
// A small private linear CKA (Kornblith et al. 2019, Gram form, docs/methods.md, "Metrics"): the
// point's activations X [n, p] (flattened NHWC; CKA does not care about the order of features) give
// K = H X Xᵀ H, accumulated in double over blocks of features, and
//   CKA = <K_u, K_o> / (‖K_u‖ ‖K_o‖).
// θ_o's centred Gram matrices are computed once. Every rank runs the whole probe (eval mode needs
// no collective), so the weights are the same on every rank and for any number of ranks. Kept
// here rather than depending on solver's metrics code, which is written concurrently.
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ec.h"

enum { GRAM_BLOCK = 256 };

void ec_centred_gram(double *G, const float *X, int n, int64_t p, double *scratch) {
  memset(G, 0, (size_t)n * n * sizeof(double));
  for (int64_t c0 = 0; c0 < p; c0 += GRAM_BLOCK) {
    const int bs = (int)(p - c0 < GRAM_BLOCK ? p - c0 : GRAM_BLOCK);
    for (int i = 0; i < n; i++)
      for (int j = 0; j < bs; j++) scratch[(size_t)i * bs + j] = X[(size_t)i * p + c0 + j];
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, bs, 1.0, scratch, bs, scratch, bs,
                1.0, G, n);
  }
  // H G H: subtract row and column means, add back the grand mean.
  double *row = scratch, total = 0.0;
  for (int i = 0; i < n; i++) {
    double s = 0.0;
    for (int j = 0; j < n; j++) s += G[(size_t)i * n + j];
    row[i] = s / n;
    total += s;
  }
  total /= (double)n * n;
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++) G[(size_t)i * n + j] += total - row[i] - row[j];  // G symmetric
}

double ec_cka_gram(const double *K, const double *L, int n) {
  double kl = 0.0, kk = 0.0, ll = 0.0;
  for (size_t t = 0; t < (size_t)n * n; t++)
    kl += K[t] * L[t], kk += K[t] * K[t], ll += L[t] * L[t];
  return kk > 0 && ll > 0 ? kl / sqrt(kk * ll) : 0.0;
}

// Forward of the probe (eval) and, per module, its centred Gram matrix into grams[k] or, when
// grams is NULL, its CKA against θ_o's into ec->cka[k].
static void probe_grams(EcState *ec, Model *m, double **grams, double *G, double *scratch) {
  model_forward(m, ec->probe_x, ec->n_probe, 0);
  for (int k = 0; k < ec->aux.n_modules; k++) {
    int h, w, c;
    const float *X = model_point(m, ec->aux.mod[k].point, &h, &w, &c);
    double *dst = grams ? grams[k] : G;
    ec_centred_gram(dst, X, ec->n_probe, (int64_t)h * w * c, scratch);
    if (!grams) ec->cka[k] = ec_cka_gram(G, ec->gram_orig[k], ec->n_probe);
  }
}

int ec_cka_init(EcState *ec, Model *m, const Dataset *d, const int32_t *probe_idx, int n_probe,
                Err *e) {
  const ImageSet *s = &d->train;
  const size_t img = (size_t)s->c * s->h * s->w;
  if (n_probe < 2) return errf(e, ERR_CONFIG, "the cka weights need at least 2 forget images");
  ec->n_probe = n_probe;
  ec->probe_x = malloc((size_t)n_probe * img * sizeof(float));
  int32_t *y = malloc((size_t)n_probe * sizeof(int32_t));
  double *scratch =
      malloc((size_t)n_probe * (GRAM_BLOCK > n_probe ? GRAM_BLOCK : n_probe) * sizeof(double));
  int fail = !ec->probe_x || !y || !scratch;
  for (int k = 0; k < ec->aux.n_modules && !fail; k++) {
    ec->gram_orig[k] = malloc((size_t)n_probe * n_probe * sizeof(double));
    fail = !ec->gram_orig[k];
  }
  if (fail) {
    free(y), free(scratch);
    return errf(e, ERR_RUNTIME, "out of memory for the CKA probe of %d images", n_probe);
  }
  data_batch(ec->probe_x, y, s, d->mean, d->std, probe_idx, n_probe, NULL, 0, 0, NULL);
  probe_grams(ec, m, ec->gram_orig, NULL, scratch);
  free(y), free(scratch);
  return 0;
}

void ec_cka_update(EcState *ec, Model *m) {
  const int n = ec->n_probe, L = ec->aux.n_modules;
  double *G = malloc((size_t)n * n * sizeof(double));
  double *scratch = malloc((size_t)n * (GRAM_BLOCK > n ? GRAM_BLOCK : n) * sizeof(double));
  if (G && scratch) {  // out of memory: keep the last weights (the run goes on)
    probe_grams(ec, m, NULL, G, scratch);
    double sum = 0.0;
    for (int k = 0; k < L; k++) sum += ec->cka[k] > 0 ? ec->cka[k] : 0.0;
    for (int k = 0; k < L; k++)
      ec->weights[k] = sum > 1e-12 ? L * (ec->cka[k] > 0 ? ec->cka[k] : 0.0) / sum : 1.0;
  }
  free(G), free(scratch);
}
