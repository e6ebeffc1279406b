// unlearn_testutil.h: the small real-MNIST setting the unlearning tests share: 5000 training and
// 1000 test images, class 3 forgotten, a cnn4 of width 8 trained for one epoch as θ_o, and
// evaluation helpers (accuracy, mean CE, prediction entropy, KL to another model) on any subset.
#pragma once

#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "runspec.h"  // the specs' defaults (the config schema's)
#include "testutil.h"
#include "unlearn.h"

typedef struct {
  Dataset d;
  ForgetSplit fs;
  Model orig;
  int32_t *test_all;
} TestSetting;

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

static ModelSpec small_cnn4(int capacity) {
  return (ModelSpec){.arch = ARCH_CNN4,
                     .in_c = 1,
                     .in_h = 28,
                     .in_w = 28,
                     .num_classes = 10,
                     .batch_capacity = capacity,
                     .width = 8};
}

// A fresh model holding src's parameters and statistics, with the given batch capacity (0: src's).
static void clone_model(Model *dst, const Model *src, int capacity) {
  Err e = {0};
  ModelSpec spec = src->spec;
  if (capacity) spec.batch_capacity = capacity;
  if (model_create(dst, &spec, &e)) {
    fprintf(stderr, "%s\n", e.msg);
    exit(1);
  }
  memcpy(dst->param_mem, src->param_mem, (size_t)src->n_param_floats * sizeof(float));
  memcpy(dst->buffer_mem, src->buffer_mem, (size_t)src->n_buffer_floats * sizeof(float));
}

// Loads the MNIST subset (exit 77 without it) and trains θ_o (1 epoch, batch 64, lr 0.1
// cosine) on all of D in group comm.
static void setting_init(TestSetting *s, const char *root, MPI_Comm comm) {
  struct stat st;
  if (!root || stat(root, &st) != 0) TEST_SKIP("no MNIST at %s", root ? root : "(none)");
  Err e = {0};
  DataSpec spec;
  data_spec_init(&spec);
  strcpy(spec.name, "mnist");
  snprintf(spec.root, sizeof spec.root, "%s", root);
  spec.max_train = 5000, spec.max_test = 1000;
  ForgetSpec f = {.classes = {1, (const int[]){3}}};
  ModelSpec ms = small_cnn4(64);
  if (dataset_load(&s->d, &spec, &e) ||
      forget_split_make(&s->fs, &f, &s->d.train, &s->d.test, 1, &e) ||
      model_create(&s->orig, &ms, &e)) {
    fprintf(stderr, "setting: %s\n", e.msg);
    exit(1);
  }
  TrainRecipe r;
  train_recipe_defaults(&r);
  r.epochs = 1, r.batch_size = 64, r.lr = 0.1f;
  double t0 = now_s();
  if (train_recipe_run(&s->orig, &s->d, NULL, 0, &r, 1, comm, NULL, &e)) {
    fprintf(stderr, "training the original: %s\n", e.msg);
    exit(1);
  }
  s->test_all = malloc((size_t)s->d.test.n * sizeof(int32_t));
  for (int64_t i = 0; i < s->d.test.n; i++) s->test_all[i] = (int32_t)i;
  printf("original trained in %.2f s\n", now_s() - t0);
}

static inline void setting_free(TestSetting *s) {
  model_free(&s->orig);
  forget_split_free(&s->fs);
  dataset_free(&s->d);
  free(s->test_all);
}

typedef struct {
  double acc, loss, entropy;
} Eval;

// Accuracy, mean CE and mean prediction entropy of m (eval mode) on set[idx[0..n)).
static Eval eval_on(const Model *src, const Dataset *d, const ImageSet *set, const int32_t *idx,
                    int64_t n) {
  enum { B = 250 };
  Model m;
  clone_model(&m, src, B);
  const int K = m.spec.num_classes;
  float *x = malloc((size_t)B * set->c * set->h * set->w * sizeof(float));
  int32_t y[B];
  Eval r = {0};
  for (int64_t i0 = 0; i0 < n; i0 += B) {
    int cnt = (int)(n - i0 < B ? n - i0 : B);
    data_batch(x, y, set, d->mean, d->std, idx + i0, cnt, NULL, 0, 0, NULL);
    model_forward(&m, x, cnt, 0);
    const float *lg = model_logits(&m);
    for (int b = 0; b < cnt; b++) {
      const float *z = lg + b * K;
      double mx = z[0], s = 0, ent = 0;
      int best = 0;
      for (int k = 1; k < K; k++)
        if (z[k] > z[best]) best = k;
      mx = z[best];
      for (int k = 0; k < K; k++) s += exp(z[k] - mx);
      for (int k = 0; k < K; k++) {
        double p = exp(z[k] - mx) / s;
        if (p > 0) ent -= p * log(p);
      }
      r.acc += best == y[b];
      r.loss += log(s) - (z[y[b]] - mx);
      r.entropy += ent;
    }
  }
  r.acc /= n, r.loss /= n, r.entropy /= n;
  free(x);
  model_free(&m);
  return r;
}

static inline Eval eval_forget(const Model *m, const TestSetting *s) {
  return eval_on(m, &s->d, &s->d.train, s->fs.train_forget, s->fs.n_train_forget);
}
static inline Eval eval_retain(const Model *m, const TestSetting *s) {
  return eval_on(m, &s->d, &s->d.train, s->fs.train_retain, s->fs.n_train_retain);
}
static inline Eval eval_test(const Model *m, const TestSetting *s) {
  return eval_on(m, &s->d, &s->d.test, s->test_all, s->d.test.n);
}

// θ_u = spec's method(θ_o) with the pretrained modules aux (NULL without EC) on fs (NULL: s->fs),
// seed 5; out is a new model (free it); st may be NULL.
static inline void unlearn_with(TestSetting *s, const UnlearnSpec *spec, const AuxModules *aux,
                                const ForgetSplit *fs, Model *out, UnlearnStats *st) {
  clone_model(out, &s->orig, 0);
  Err e = {0};
  double t0 = now_s();
  int rc = unlearn_run(out, &s->orig, &s->d, fs ? fs : &s->fs, spec, aux, 5, MPI_COMM_NULL, NULL,
                       st, &e);
  if (rc) fprintf(stderr, "%s: %s\n", unlearn_method_name(spec->method), e.msg);
  CHECK(rc == 0);
  printf("  %s%s ran in %.2f s\n", unlearn_method_name(spec->method),
         spec->ec.enabled ? " + EC" : "", now_s() - t0);
}

// Creates the modules of as on θ_o and pretrains them (epochs, lr; the other settings the
// defaults); acc [n_modules]: their test accuracy. θ_o stays untouched.
static inline void pretrain_modules(TestSetting *s, AuxModules *aux, const AuxSpec *as, int epochs,
                                    float lr, double *acc) {
  Err e = {0};
  CHECK(aux_create(aux, &s->orig, as, &e) == 0);
  aux_init(aux, 3);
  EcPretrainSpec ps;
  EcSpec es;
  ec_spec_defaults(&es);
  ps = es.pretrain;
  ps.epochs = epochs, ps.lr = lr;
  const float before = s->orig.param_mem[7];
  double t0 = now_s();
  CHECK(ec_pretrain(aux, &s->orig, &s->d, &ps, 1, MPI_COMM_NULL, NULL, &e) == 0);
  CHECK(ec_aux_accuracy(aux, &s->orig, &s->d, MPI_COMM_NULL, acc, &e) == 0);
  CHECK(s->orig.param_mem[7] == before);
  printf("  %s modules pretrained in %.2f s, test accuracy %.3f %.3f %.3f %.3f\n",
         as->summariser == AUX_SUMMARISER_CONV ? "conv" : "gap", now_s() - t0, acc[0], acc[1],
         acc[2], acc[3]);
}

// Mean KL(teacher‖student) of softmax(logits/T) over train[idx[0..n)], eval mode.
static inline double kl_on(const Model *student, const Model *teacher, const TestSetting *s,
                           const int32_t *idx, int64_t n, double T) {
  enum { B = 250 };
  Model a, b;
  clone_model(&a, student, B), clone_model(&b, teacher, B);
  const ImageSet *set = &s->d.train;
  const int K = 10;
  float *x = malloc((size_t)B * set->c * set->h * set->w * sizeof(float));
  float *ls = malloc((size_t)B * K * sizeof(float));
  int32_t y[B];
  double total = 0;
  for (int64_t i0 = 0; i0 < n; i0 += B) {
    int cnt = (int)(n - i0 < B ? n - i0 : B);
    data_batch(x, y, set, s->d.mean, s->d.std, idx + i0, cnt, NULL, 0, 0, NULL);
    model_forward(&a, x, cnt, 0);
    memcpy(ls, model_logits(&a), (size_t)cnt * K * sizeof(float));
    model_forward(&b, x, cnt, 0);
    const float *lt = model_logits(&b);
    for (int r = 0; r < cnt; r++) {
      double ms = -1e30, mt = -1e30, zs = 0, zt = 0;
      for (int k = 0; k < K; k++)
        ms = fmax(ms, ls[r * K + k] / T), mt = fmax(mt, lt[r * K + k] / T);
      for (int k = 0; k < K; k++)
        zs += exp(ls[r * K + k] / T - ms), zt += exp(lt[r * K + k] / T - mt);
      for (int k = 0; k < K; k++) {
        double lps = ls[r * K + k] / T - ms - log(zs), lpt = lt[r * K + k] / T - mt - log(zt);
        total += exp(lpt) * (lpt - lps);
      }
    }
  }
  free(x), free(ls);
  model_free(&a), model_free(&b);
  return total / n;
}
