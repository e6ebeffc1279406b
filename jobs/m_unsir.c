// m_unsir.c: UNSIR (Tarun et al., "Fast Yet Effective Machine Unlearning", IEEE TNNLS 2023).
//
// Before the first epoch, error-maximising noise at θ_o (eval mode, frozen): for each class c of
// the forget set, N = noise_per_class images x [N, c, h, w] in the network's normalised input
// space, drawn from N(0, 1), then noise_steps Adam steps (lr noise_lr; PyTorch's β 0.9, 0.999,
// ε 1e-8) down
//   L_c(x) = −(1/N) Σ_b CE(θ_o(x_b), c) + λ·(1/N) Σ_b ‖x_b‖²
// (their code's loss: the CE of the forget label maximised, the noise kept bounded). In eval mode
// each image's gradient is its own, so the images are processed in chunks of unlearn.batch_size.
// Every rank computes the whole noise alone (no communication): the same on any number of ranks.
//
// Each epoch then has two phases over D_f ∪ a seeded retain subset (retain_fraction·|D_r|):
//   impair: union-driven; every forget row is replaced by a noise image of its class (slot: the
//     image's rank among D_f's images of its class, mod N), L = CE(every row, its label);
//   repair: retain-driven over the retain subset, L = CE(retain rows), at repair_lr_scale × lr.
// With EC, the impair phase adds L_ce only (its forget rows are noise, no anchors for L_cu) and
// the repair phase is ft's step with EC (max(1, B/r) cycled forget images, L_cu and L_ce).
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"
#include "run.h"

typedef struct {
  float *noise;  // [n_cls·N, c, h, w] the noise images, class by class
  int32_t *row;  // [n_train] the noise image that takes each forget image's place (-1: none)
  int n_cls;
  int cls[FORGET_MAX_CLASSES];  // the forget set's classes, ascending
} UnsirState;

double unsir_noise_loss(Model *m, const float *x, int n, int cls, int N, double lambda,
                        float *probs, float *dlogits, int32_t *labels, float *dx) {
  const int K = m->spec.num_classes;
  const size_t img = (size_t)m->spec.in_c * m->spec.in_h * m->spec.in_w;
  for (int b = 0; b < n; b++) labels[b] = cls;
  model_forward(m, x, n, 0);
  memset(dlogits, 0, (size_t)n * K * sizeof(float));
  const double ce = softmax_xent_forward(probs, model_logits(m), labels, n, K);
  softmax_xent_backward(dlogits, probs, labels, n, K, -1.0f / (float)N);
  model_zero_grads(m);
  model_backward(m, dlogits, NULL, dx);
  double sq = 0;
  const float two_l = (float)(2 * lambda / N);
  for (size_t i = 0; i < (size_t)n * img; i++) {
    sq += (double)x[i] * x[i];
    dx[i] += two_l * x[i];
  }
  return (-ce + lambda * sq) / N;
}

// One Adam step (PyTorch's, bias-corrected, step t from 1) of x [n] down the gradient g.
static void adam_step(float *x, const float *g, float *m1, float *m2, size_t n, float lr, int t) {
  const float b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
  const float c1 = 1.0f - powf(b1, (float)t), c2 = 1.0f - powf(b2, (float)t);
  for (size_t i = 0; i < n; i++) {
    m1[i] = b1 * m1[i] + (1 - b1) * g[i];
    m2[i] = b2 * m2[i] + (1 - b2) * g[i] * g[i];
    x[i] -= lr * (m1[i] / c1) / (sqrtf(m2[i] / c2) + eps);
  }
}

// The noise of every forget class at θ_o (r->m before any step); its final loss into *loss
// (the mean over the classes).
static int make_noise(Run *r, double *loss, Err *e) {
  UnsirState *st = r->ms;
  const UnlearnSpec *s = r->spec;
  const int N = s->unsir.noise_per_class, chunk = N < s->batch_size ? N : s->batch_size;
  const int K = r->m.spec.num_classes;
  const size_t img = (size_t)r->m.spec.in_c * r->m.spec.in_h * r->m.spec.in_w;
  const size_t total = (size_t)st->n_cls * N * img;
  Model m;
  int rc = clone_model_for(&m, &r->m, chunk, MPI_COMM_NULL, e);
  if (rc) return rc;
  float *m1 = calloc(total, sizeof(float)), *m2 = calloc(total, sizeof(float));
  float *g = malloc(total * sizeof(float));
  float *probs = malloc((size_t)chunk * K * sizeof(float));
  float *dlogits = malloc((size_t)chunk * K * sizeof(float));
  int32_t *labels = malloc((size_t)chunk * sizeof(int32_t));
  if (!m1 || !m2 || !g || !probs || !dlogits || !labels) {
    rc = errf(e, ERR_RUNTIME, "unsir: out of memory for %zu noise floats", total);
    goto done;
  }
  Rng init = rng_derive(r->seed, RNG_METHOD, TAG_NOISE);
  for (size_t i = 0; i < total; i++) st->noise[i] = rng_normal(&init);
  *loss = 0;
  for (int t = 1; t <= s->unsir.noise_steps; t++) {
    double sum = 0;
    for (int k = 0; k < st->n_cls; k++)
      for (int b0 = 0; b0 < N; b0 += chunk) {
        const int n = N - b0 < chunk ? N - b0 : chunk;
        const size_t off = ((size_t)k * N + b0) * img;
        sum += unsir_noise_loss(&m, st->noise + off, n, st->cls[k], N, s->unsir.lambda, probs,
                                dlogits, labels, g + off);
      }
    adam_step(st->noise, g, m1, m2, total, (float)s->unsir.noise_lr, t);
    *loss = sum / st->n_cls;  // at the noise before this step
    if (!isfinite(*loss)) {
      rc = errf(e, ERR_RUNTIME, "diverged: unsir's noise loss is %g at step %d", *loss, t);
      goto done;
    }
  }
done:
  free(m1), free(m2), free(g), free(probs), free(dlogits), free(labels);
  model_free(&m);
  return rc;
}

static int unsir_before(Run *r, Err *e) {
  double loss = 0;
  int rc = make_noise(r, &loss, e);
  if (rc) return err_context(e, "unsir noise");
  if (r->progress && r->progress->fn) r->progress->fn(r->progress->user, "unsir-noise", 1, 1, loss);
  return 0;
}

// The impair phase's forget rows become their noise images.
static void unsir_step(Run *r) {
  if (r->phase != 0) return;
  const UnsirState *st = r->ms;
  const size_t img = (size_t)r->d->train.c * r->d->train.h * r->d->train.w;
  for (int i = 0; i < r->rs.nf; i++)
    memcpy(r->x + i * img, st->noise + (size_t)st->row[r->idx[i]] * img, img * sizeof(float));
}

// The forget set's classes, each forget image's noise slot, the noise buffer and the retain
// subset.
static int unsir_init(Run *r, Err *e) {
  UnsirState *st = r->ms = calloc(1, sizeof *st);
  if (!st) return errf(e, ERR_RUNTIME, "unsir: out of memory");
  const ImageSet *tr = &r->d->train;
  const int N = r->spec->unsir.noise_per_class;
  int count[FORGET_MAX_CLASSES] = {0}, k_of[FORGET_MAX_CLASSES];
  if (tr->num_classes > FORGET_MAX_CLASSES)
    return errf(e, ERR_CONFIG, "unsir: %d classes, at most %d", tr->num_classes,
                FORGET_MAX_CLASSES);
  for (int64_t i = 0; i < r->fs->n_train_forget; i++) count[tr->labels[r->fs->train_forget[i]]]++;
  for (int c = 0; c < tr->num_classes; c++)
    if (count[c]) k_of[c] = st->n_cls, st->cls[st->n_cls++] = c, count[c] = 0;
  st->row = malloc((size_t)tr->n * sizeof(int32_t));
  st->noise = malloc((size_t)st->n_cls * N * tr->c * tr->h * tr->w * sizeof(float));
  if (!st->row || !st->noise)
    return errf(e, ERR_RUNTIME, "unsir: out of memory for %d x %d noise images", st->n_cls, N);
  for (int64_t i = 0; i < tr->n; i++) st->row[i] = -1;
  for (int64_t i = 0; i < r->fs->n_train_forget; i++) {
    const int32_t j = r->fs->train_forget[i], c = tr->labels[j];
    st->row[j] = k_of[c] * N + count[c]++ % N;
  }
  retain_subset(r, r->spec->unsir.retain_fraction);
  return 0;
}

static void unsir_free(Run *r) {
  UnsirState *st = r->ms;
  if (st) free(st->noise), free(st->row);
  free(st);
}

static int unsir_check(const UnlearnSpec *s, Err *e) {
  if (!(s->unsir.lambda >= 0)) return errf(e, ERR_CONFIG, "unlearn.unsir.lambda must be >= 0");
  if (s->unsir.noise_steps < 0)
    return errf(e, ERR_CONFIG, "unlearn.unsir.noise_steps must be >= 0");
  if (!(s->unsir.noise_lr > 0))
    return errf(e, ERR_CONFIG, "unlearn.unsir.noise_lr must be positive");
  if (s->unsir.noise_per_class < 1)
    return errf(e, ERR_CONFIG, "unlearn.unsir.noise_per_class must be positive");
  if (!(s->unsir.retain_fraction > 0 && s->unsir.retain_fraction <= 1))
    return errf(e, ERR_CONFIG, "unlearn.unsir.retain_fraction must be in (0, 1]");
  if (!(s->unsir.repair_lr_scale > 0))
    return errf(e, ERR_CONFIG, "unlearn.unsir.repair_lr_scale must be positive");
  return 0;
}

static double repair_lr_scale(const UnlearnSpec *s) {
  return s->unsir.repair_lr_scale;
}

const UnlearnMethodDef method_unsir = {
    .name = "unsir",
    .usual_lr = 0.01,  // their Adam at 0.02 (impair), 0.01 (repair): see docs/methods.md
    .usual_epochs = 1,
    .n_phases = 2,
    .phase = {{.name = "unsir-impair", .drive = DRIVE_UNION, .ec_ce = 1, .loss = loss_ce_targets},
              {.name = "unsir-repair",
               .drive = DRIVE_RETAIN,
               .extra = EXTRA_EC_B_RPF,
               .ec_cu = 1,
               .ec_ce = 1,
               .loss = loss_ce_retain,
               .lr_scale = repair_lr_scale}},
    .check = unsir_check,
    .init = unsir_init,
    .free = unsir_free,
    .before = unsir_before,
    .step = unsir_step,
};
