// test_metrics.c: the evaluation metrics (solver/metrics.h).
//
//   test_metrics unit FIXTURE       CKA properties and the numpy fixture (tests/fixtures/cka.h5),
//                                   k-NN and accuracies on hand-made cases, the MIA attack, and
//                                   MIA efficacy on a model that memorised its training set
//                                   versus one that never saw the forget set. No MPI.
//   mpirun -np P test_metrics mpi   the data-parallel evaluation equals the 1-rank one
//   mpirun -np P test_metrics mnist DIR
//                                   MNIST cnn4: CKA of the original with itself is 1 at every
//                                   point; CKA of two independently trained originals printed
//   mpirun -np P test_metrics time DIR [SAVE_DIR]
//                                   timing of a full evaluation on MNIST (not a CTest test);
//                                   saves the three models in SAVE_DIR for `ecore eval`
//   test_metrics ckpt DIR           writes small checkpoints for the `ecore eval` tests
#include <hdf5.h>
#include <mpi.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "ckpt.h"
#include "dist.h"
#include "metrics.h"
#include "rng.h"
#include "runspec.h"  // eval_options_default (the config schema's)
#include "testutil.h"
#include "train.h"

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

static float *random_matrix(int n, int p, uint64_t seed, float offset) {
  float *x = malloc((size_t)n * p * sizeof(float));
  Rng r = rng_derive(seed, 99, 0);
  for (size_t i = 0; i < (size_t)n * p; i++) x[i] = rng_normal(&r) + offset;
  return x;
}

// Y [n, q] = relu(X [n, p] · A [p, q]) + noise: related to X, not a linear copy.
static float *related(const float *X, int n, int p, int q, uint64_t seed) {
  float *A = random_matrix(p, q, seed, 0), *Y = random_matrix(n, q, seed + 1, 0);
  for (int i = 0; i < n; i++)
    for (int j = 0; j < q; j++) {
      double s = 0;
      for (int k = 0; k < p; k++) s += (double)X[(size_t)i * p + k] * A[(size_t)k * q + j];
      s = s > 0 ? s : 0;
      Y[(size_t)i * q + j] = (float)(s / sqrt(p) + 0.3 * Y[(size_t)i * q + j]);
    }
  free(A);
  return Y;
}

// A random orthogonal [p, p] (Gram-Schmidt in double on a normal matrix).
static float *orthogonal(int p, uint64_t seed) {
  double *q = malloc((size_t)p * p * sizeof(double));
  Rng r = rng_derive(seed, 98, 0);
  for (size_t i = 0; i < (size_t)p * p; i++) q[i] = rng_normal(&r);
  for (int i = 0; i < p; i++) {  // rows
    double *v = q + (size_t)i * p;
    for (int pass = 0; pass < 2; pass++)
      for (int j = 0; j < i; j++) {
        const double *u = q + (size_t)j * p;
        double d = 0;
        for (int k = 0; k < p; k++) d += v[k] * u[k];
        for (int k = 0; k < p; k++) v[k] -= d * u[k];
      }
    double nn = 0;
    for (int k = 0; k < p; k++) nn += v[k] * v[k];
    for (int k = 0; k < p; k++) v[k] /= sqrt(nn);
  }
  float *f = malloc((size_t)p * p * sizeof(float));
  for (size_t i = 0; i < (size_t)p * p; i++) f[i] = (float)q[i];
  free(q);
  return f;
}

// out [n, p] = X [n, p] · Q [p, p]
static float *times(const float *X, int n, int p, const float *Q) {
  float *out = malloc((size_t)n * p * sizeof(float));
  for (int i = 0; i < n; i++)
    for (int j = 0; j < p; j++) {
      double s = 0;
      for (int k = 0; k < p; k++) s += (double)X[(size_t)i * p + k] * Q[(size_t)k * p + j];
      out[(size_t)i * p + j] = (float)s;
    }
  return out;
}

static void test_cka_properties(void) {
  const int n = 40;
  const int ps[2] = {12, 100};  // feature form (p <= n) and Gram form (p > n)
  for (int t = 0; t < 2; t++) {
    int p = ps[t], q = t ? 80 : 30;
    float *X = random_matrix(n, p, 1 + t, 0.5f), *Y = related(X, n, p, q, 10 + t);
    CHECK(cka_use_gram(n, p, q) == t);
    double base = cka_linear(X, n, p, Y, q);
    CHECK(base > 0.05 && base < 0.999);
    CHECK_CLOSE(cka_linear(X, n, p, X, p), 1.0, 0, 1e-6);
    CHECK_CLOSE(cka_feature(X, n, p, X, p), 1.0, 0, 1e-6);
    CHECK_CLOSE(cka_gram(X, n, p, X, p), 1.0, 0, 1e-6);
    // feature and Gram forms agree
    CHECK_CLOSE(cka_feature(X, n, p, Y, q), cka_gram(X, n, p, Y, q), 0, 1e-6);
    CHECK_CLOSE(cka_linear(X, n, p, Y, q), t ? cka_gram(X, n, p, Y, q) : cka_feature(X, n, p, Y, q),
                0, 1e-12);
    CHECK_CLOSE(cka_linear(Y, n, q, X, p), base, 0, 1e-6);  // symmetric
    // isotropic scaling and a constant shift of every feature
    float *S = malloc((size_t)n * p * sizeof(float));
    for (size_t i = 0; i < (size_t)n * p; i++) S[i] = 3.7f * X[i] + (float)(i % p);
    CHECK_CLOSE(cka_linear(S, n, p, Y, q), base, 0, 1e-6);
    // an orthogonal transform of the features
    float *Q = orthogonal(p, 5 + t), *XQ = times(X, n, p, Q);
    CHECK_CLOSE(cka_linear(XQ, n, p, Y, q), base, 0, 1e-5);
    CHECK_CLOSE(cka_linear(XQ, n, p, X, p), 1.0, 0, 1e-5);
    // the representation path, as evaluate uses it
    CkaRep a, b;
    float *xc = malloc((size_t)n * p * sizeof(float)), *yc = malloc((size_t)n * q * sizeof(float));
    memcpy(xc, X, (size_t)n * p * sizeof(float)), memcpy(yc, Y, (size_t)n * q * sizeof(float));
    int g = cka_use_gram(n, p, q);
    CHECK(cka_rep_make(&a, xc, n, p, g, NULL) == 0 && cka_rep_make(&b, yc, n, q, g, NULL) == 0);
    CHECK_CLOSE(cka_rep_cka(&a, &b), base, 0, 1e-12);
    cka_rep_free(&a), cka_rep_free(&b);
    // a constant side has no CKA
    for (size_t i = 0; i < (size_t)n * p; i++) S[i] = 2.0f;
    CHECK(isnan(cka_linear(S, n, p, Y, q)));
    free(X), free(Y), free(S), free(Q), free(XQ), free(xc), free(yc);
  }
}

static float *read_f32(hid_t g, const char *name, int *rows, int *cols) {
  hid_t ds = H5Dopen2(g, name, H5P_DEFAULT);
  hid_t sp = H5Dget_space(ds);
  hsize_t d[2];
  H5Sget_simple_extent_dims(sp, d, NULL);
  *rows = (int)d[0], *cols = (int)d[1];
  float *x = malloc((size_t)d[0] * d[1] * sizeof(float));
  H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, x);
  H5Sclose(sp), H5Dclose(ds);
  return x;
}

static void test_cka_fixture(const char *path) {
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  CHECK(f >= 0);
  if (f < 0) return;
  const char *names[] = {"feature", "gram", "mixed", "relu_offset"};
  for (int c = 0; c < 4; c++) {
    hid_t g = H5Gopen2(f, names[c], H5P_DEFAULT);
    int n, p, n2, q;
    float *X = read_f32(g, "X", &n, &p), *Y = read_f32(g, "Y", &n2, &q);
    double want;
    hid_t at = H5Aopen(g, "cka", H5P_DEFAULT);
    H5Aread(at, H5T_NATIVE_DOUBLE, &want);
    H5Aclose(at), H5Gclose(g);
    CHECK(n == n2);
    double lin = cka_linear(X, n, p, Y, q), fea = cka_feature(X, n, p, Y, q),
           gra = cka_gram(X, n, p, Y, q);
    printf("cka fixture %-11s n=%d p=%d q=%d numpy %.10f linear %+.2e feature %+.2e gram %+.2e\n",
           names[c], n, p, q, want, lin - want, fea - want, gra - want);
    CHECK_CLOSE(lin, want, 0, 1e-5);
    CHECK_CLOSE(fea, want, 0, 1e-5);
    CHECK_CLOSE(gra, want, 0, 1e-5);
    free(X), free(Y);
  }
  H5Fclose(f);
}

static void test_knn(void) {
  Err e = {0};
  // Five probe points in 2-D; cosine ranks them by angle.
  const float probe[] = {1, 0, 0.9f, 0.1f, 0, 1, 0.1f, 0.9f, -1, 0};
  const int32_t labels[] = {0, 0, 1, 1, 2};
  const float query[] = {1, 0.05f, -1, 0.1f, 0.05f, 1, 0, 0};
  int32_t pred[4];
  // k = 3: (-1, .1) has neighbours labelled 2, 1, 1: the majority beats the nearest.
  CHECK(knn_predict(pred, probe, labels, 5, query, 4, 2, 3, 3, &e) == 0);
  CHECK(pred[0] == 0 && pred[1] == 1 && pred[2] == 1);
  // k = 2: one vote each for 2 and 1: the tie goes to the nearest's label.
  CHECK(knn_predict(pred, probe, labels, 5, query, 4, 2, 2, 3, &e) == 0);
  CHECK(pred[1] == 2);
  // k > probe size: all five vote (0, 0, 1, 1, 2): 0 and 1 tie, the first met wins.
  CHECK(knn_predict(pred, probe, labels, 5, query, 4, 2, 10, 3, &e) == 0);
  CHECK(pred[0] == 0 && pred[2] == 1);
  // Equal similarities: the lower probe index ranks first; a zero query is similar to nothing,
  // so its k = 1 neighbour is probe 0.
  const float twin[] = {1, 0, 2, 0, 0, 1};
  const int32_t twin_y[] = {1, 0, 2};
  CHECK(knn_predict(pred, twin, twin_y, 3, query, 4, 2, 1, 3, &e) == 0);
  CHECK(pred[0] == 1 && pred[3] == 1);
  const int32_t bad_y[] = {0, 5, 1};
  CHECK(knn_predict(pred, twin, bad_y, 3, query, 1, 2, 1, 3, &e) == ERR_RUNTIME);

  // The probe set: class-balanced, seeded, ascending.
  int32_t lab[32], from[32];
  for (int i = 0; i < 32; i++) lab[i] = i < 30 ? i % 3 : 3, from[i] = i;  // class 3: 2 samples
  int32_t *idx;
  int64_t n;
  CHECK(knn_probe_indices(&idx, &n, lab, 4, from, 32, 12, 7, &e) == 0);
  int per[4] = {0};
  for (int64_t i = 0; i < n; i++) {
    per[lab[idx[i]]]++;
    CHECK(i == 0 || idx[i] > idx[i - 1]);
  }
  CHECK(n == 11 && per[0] == 3 && per[1] == 3 && per[2] == 3 && per[3] == 2);
  int32_t *idx2;
  int64_t n2;
  CHECK(knn_probe_indices(&idx2, &n2, lab, 4, from, 32, 12, 7, &e) == 0);
  CHECK(n2 == n && !memcmp(idx, idx2, (size_t)n * sizeof(int32_t)));
  free(idx), free(idx2);
  CHECK(knn_probe_indices(&idx, &n, lab, 4, from, 32, 14, 7, &e) == 0);  // 4,4,3,2 wanted
  CHECK(n == 13);
  free(idx);
  CHECK(knn_probe_indices(&idx, &n, lab, 4, from + 2, 30, 0, 7, &e) == 0);  // all
  CHECK(n == 30 && idx[0] == 2);
  free(idx);
}

static void test_mia_unit(void) {
  Err e = {0};
  // softmax([0, ln 3]) = (1/4, 3/4)
  float logits[2] = {0, logf(3)};
  int32_t y = 1;
  double f[2];
  mia_features(f, logits, &y, 1, 2);
  CHECK_CLOSE(f[0], 0.75, 0, 1e-6);
  CHECK_CLOSE(f[1], -(0.25 * log(0.25) + 0.75 * log(0.75)), 0, 1e-6);
  // Members: confident; non-members: not.
  enum { N = 200 };
  double mem[2 * N], non[2 * N], like_mem[2 * N], like_non[2 * N];
  Rng r = rng_derive(3, 97, 0);
  for (int i = 0; i < N; i++) {
    mem[2 * i] = like_mem[2 * i] = 0.97 + 0.02 * rng_uniform(&r);
    mem[2 * i + 1] = like_mem[2 * i + 1] = 0.1 * rng_uniform(&r);
    non[2 * i] = like_non[2 * i] = 0.4 + 0.5 * rng_uniform(&r);
    non[2 * i + 1] = like_non[2 * i + 1] = 0.3 + 1.0 * rng_uniform(&r);
  }
  MiaAttack a, b;
  CHECK(mia_fit(&a, mem, N, non, N, &e) == 0);
  CHECK(mia_efficacy(&a, like_mem, N) < 0.05);
  CHECK(mia_efficacy(&a, like_non, N) > 0.95);
  CHECK(mia_fit(&b, mem, N, non, N, &e) == 0);
  CHECK(a.b == b.b && a.w[0] == b.w[0] && a.w[1] == b.w[1]);  // deterministic
  CHECK(mia_fit(&b, mem, 0, non, N, &e) == ERR_RUNTIME);
  CHECK(isnan(mia_efficacy(&a, like_mem, 0)));
  // Identical features: the attack can only guess, P(member) = 1/2 (not < 1/2): efficacy 0.
  CHECK(mia_fit(&b, mem, N, mem, N, &e) == 0);
  CHECK_CLOSE(mia_member_prob(&b, mem), 0.5, 0, 1e-9);
  // The draw: N ascending, distinct positions; seeded.
  int64_t d1[50], d2[50];
  CHECK(mia_draw(d1, 1000, 50, 4, 1) == 50 && mia_draw(d2, 1000, 50, 4, 1) == 50);
  CHECK(!memcmp(d1, d2, sizeof d1));
  for (int i = 1; i < 50; i++) CHECK(d1[i] > d1[i - 1] && d1[i] < 1000);
  CHECK(mia_draw(d1, 30, 50, 4, 1) == 30 && d1[29] == 29);
}

// ----------------------------------------------------------------------------------------------
// hand-made model and data: an mlp on 1x2x2 images whose prediction is argmax(pixel 0..2)

static void set_identity(Model *m, const char *name, int rows, int cols) {
  int i = model_find_param(m, name);
  CHECK(i >= 0);
  float *w = model_param_data(m, i);
  memset(w, 0, (size_t)rows * cols * sizeof(float));
  for (int k = 0; k < 3; k++) w[(size_t)k * cols + k] = 1;
}

static void make_set(ImageSet *s, const int (*px)[3], const int32_t *y, int n) {
  *s = (ImageSet){.n = n, .c = 1, .h = 2, .w = 2, .num_classes = 3};
  s->images = calloc((size_t)n * 4, 1);
  s->labels = malloc((size_t)n * sizeof(int32_t));
  for (int i = 0; i < n; i++) {
    for (int k = 0; k < 3; k++) s->images[i * 4 + k] = (uint8_t)px[i][k];
    s->labels[i] = y[i];
  }
}

static void test_handmade_eval(void) {
  Err e = {0};
  static const int train_px[12][3] = {{200, 10, 20}, {180, 30, 10}, {220, 50, 40}, {20, 190, 30},
                                      {10, 210, 20}, {40, 170, 10}, {30, 20, 160}, {150, 40, 30},
                                      {20, 30, 230}, {190, 20, 30}, {30, 200, 50}, {60, 250, 70}};
  static const int32_t train_y[12] = {0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2};
  static const int test_px[7][3] = {{230, 40, 60}, {200, 20, 10}, {30, 220, 60}, {210, 60, 20},
                                    {40, 30, 240}, {20, 60, 180}, {170, 50, 40}};
  static const int32_t test_y[7] = {0, 0, 1, 1, 2, 2, 2};
  Dataset d = {.name = "handmade", .mean = {0}, .std = {1}};
  make_set(&d.train, train_px, train_y, 12);
  make_set(&d.test, test_px, test_y, 7);
  ForgetSpec fspec = {.classes = {1, (const int[]){2}}};
  ForgetSplit fs;
  CHECK(forget_split_make(&fs, &fspec, &d.train, &d.test, 0, &e) == 0);
  ModelSpec ms = {.arch = ARCH_MLP,
                  .in_c = 1,
                  .in_h = 2,
                  .in_w = 2,
                  .num_classes = 3,
                  .batch_capacity = 3};  // smaller than the batches: forward in chunks
  Model m;
  CHECK(model_create(&m, &ms, &e) == 0);
  set_identity(&m, "layer1.weight", 512, 4);
  set_identity(&m, "layer2.weight", 256, 512);
  set_identity(&m, "fc.weight", 3, 256);
  EvalOptions o;
  eval_options_default(&o);
  o.batch_size = 5, o.knn_k = 3, o.knn_probe_size = 0;
  EvalResult r;
  CHECK(evaluate(&r, &m, &m, NULL, &d, &fs, d.mean, d.std, &o, MPI_COMM_NULL, &e) == 0);
  CHECK_CLOSE(r.forget_acc, 0.25, 0, 1e-12);
  CHECK_CLOSE(r.retain_acc, 0.625, 0, 1e-12);
  CHECK_CLOSE(r.test_retain_acc, 0.75, 0, 1e-12);
  CHECK_CLOSE(r.test_forget_acc, 2.0 / 3, 0, 1e-12);
  // k = 3 over all 12 training images: test images 4, 5 get labels {1,2,2} and {2,1,2}: right;
  // image 6 gets {1,0,2}, a three-way tie that goes to the nearest (1): wrong.
  for (int l = 0; l < 2; l++) CHECK_CLOSE(r.knn_forget_acc[l], 2.0 / 3, 0, 1e-12);
  CHECK(r.knn_probe == 12 && r.knn_queries == 3);
  // CKA with itself: 1 at both points; no retrained model: NaN.
  CHECK(r.cka_batches == 1 && r.cka_images == 3);
  for (int l = 0; l < 2; l++) {
    CHECK_CLOSE(r.cka_original[l], 1.0, 0, 1e-6);
    CHECK(isnan(r.cka_retrain[l]));
  }
  CHECK(r.mia_n == 4 && r.mia_efficacy >= 0 && r.mia_efficacy <= 1);
  // k = 1: only image 5's nearest (train 8) is of its class.
  o.knn_k = 1;
  CHECK(evaluate(&r, &m, NULL, NULL, &d, &fs, d.mean, d.std, &o, MPI_COMM_NULL, &e) == 0);
  CHECK_CLOSE(r.knn_forget_acc[0], 1.0 / 3, 0, 1e-12);
  CHECK(isnan(r.cka_original[0]));
  // The gap: identical results give 0; a known difference its mean.
  EvalResult u = r, rt = r;
  u.forget_acc += 0.4, u.mia_efficacy -= 0.2;
  CHECK_CLOSE(eval_avg_gap(&r, &rt), 0.0, 0, 1e-15);
  CHECK_CLOSE(eval_avg_gap(&u, &rt), 0.15, 0, 1e-12);
  rt.mia_efficacy = NAN;
  CHECK_CLOSE(eval_avg_gap(&u, &rt), 0.4 / 3, 0, 1e-12);
  // A model of another shape is refused.
  ModelSpec other = ms;
  other.in_h = 3;
  Model bad;
  CHECK(model_create(&bad, &other, &e) == 0);
  CHECK(evaluate(&r, &bad, NULL, NULL, &d, &fs, d.mean, d.std, &o, MPI_COMM_NULL, &e) ==
        ERR_CONFIG);
  model_free(&bad);
  model_free(&m);
  forget_split_free(&fs);
  dataset_free(&d);
}

// ----------------------------------------------------------------------------------------------
// training helpers

static void train_on(Model *m, const Dataset *d, const int32_t *subset, int64_t n, int epochs,
                     float lr, int batch, uint64_t seed, MPI_Comm comm) {
  Err e = {0};
  Sgd opt;
  Batches b;
  LossBuf lb;
  CHECK(sgd_init(&opt, m->n_param_floats, 0.9f, 5e-4f, 0, &e) == 0);
  CHECK(batches_init(&b, &d->train, d->mean, d->std, NULL, subset, n, batch, seed, comm, &e) == 0);
  CHECK(lossbuf_init(&lb, m->spec.batch_capacity, m->spec.num_classes, &e) == 0);
  LrSchedule s = {.kind = SCHED_COSINE, .base_lr = lr, .epochs = epochs};
  m->comm = comm;
  train_ce_epochs(m, &opt, &b, &s, 0, epochs, &lb);
  lossbuf_free(&lb), batches_free(&b), sgd_free(&opt);
}

static void new_model(Model *m, Arch arch, int c, int h, int w, int width, int cap, uint64_t seed,
                      MPI_Comm comm) {
  Err e = {0};
  ModelSpec ms = {.arch = arch,
                  .in_c = c,
                  .in_h = h,
                  .in_w = w,
                  .num_classes = 10,
                  .batch_capacity = cap,
                  .width = width};
  if (model_create(m, &ms, &e)) {
    fprintf(stderr, "%s\n", e.msg);
    exit(1);
  }
  m->comm = comm;
  model_init(m, seed);
  dist_broadcast_model(m);
}

// MIA efficacy of a model that memorised its whole training set (forget set included) is low;
// of one trained without the forget set, high: its forget samples look like test samples.
static void test_mia_memorise(void) {
  Err e = {0};
  DataSpec spec;
  data_spec_init(&spec);
  spec.synth.n_train = 400, spec.synth.n_test = 400, spec.synth.h = spec.synth.w = 8;
  spec.synth.noise = 0.3f;
  Dataset d;
  CHECK(dataset_load(&d, &spec, &e) == 0);
  ForgetSpec fspec = {.random_fraction = 0.25};
  ForgetSplit fs;
  CHECK(forget_split_make(&fs, &fspec, &d.train, &d.test, 1, &e) == 0);
  Model all, retain;
  new_model(&all, ARCH_MLP, 1, 8, 8, 0, 50, 3, MPI_COMM_NULL);
  new_model(&retain, ARCH_MLP, 1, 8, 8, 0, 50, 3, MPI_COMM_NULL);
  double t0 = now();
  train_on(&all, &d, NULL, 0, 60, 0.05f, 50, 1, MPI_COMM_NULL);
  train_on(&retain, &d, fs.train_retain, fs.n_train_retain, 60, 0.05f, 50, 1, MPI_COMM_NULL);
  EvalOptions o;
  eval_options_default(&o);
  o.cka = 0, o.knn = 0;
  EvalResult ra, rr;
  CHECK(evaluate(&ra, &all, NULL, NULL, &d, &fs, d.mean, d.std, &o, MPI_COMM_NULL, &e) == 0);
  CHECK(evaluate(&rr, &retain, NULL, NULL, &d, &fs, d.mean, d.std, &o, MPI_COMM_NULL, &e) == 0);
  printf(
      "mia: memorised all (forget acc %.3f, test %.3f): efficacy %.3f; trained without the "
      "forget set (forget acc %.3f, test %.3f): efficacy %.3f; %.1f s\n",
      ra.forget_acc, ra.test_retain_acc, ra.mia_efficacy, rr.forget_acc, rr.test_retain_acc,
      rr.mia_efficacy, now() - t0);
  CHECK(ra.forget_acc > 0.99);                     // it did memorise
  CHECK(ra.test_retain_acc < 0.9);                 // and does not generalise that well
  CHECK(rr.mia_efficacy > ra.mia_efficacy + 0.3);  // the expected direction, by a margin
  CHECK(isnan(ra.test_forget_acc));                // random fraction: no forgotten classes
  CHECK(ra.mia_n == fs.n_train_retain);            // min(300 retain, 400 test)
  model_free(&all), model_free(&retain);
  forget_split_free(&fs);
  dataset_free(&d);
}

static int run_unit(const char *fixture) {
  test_cka_properties();
  test_cka_fixture(fixture);
  test_knn();
  test_mia_unit();
  test_handmade_eval();
  test_mia_memorise();
  return test_finish("metrics_unit");
}

// ----------------------------------------------------------------------------------------------
// MPI: the evaluation over the world equals the evaluation on each rank alone

static int same_result(const EvalResult *a, const EvalResult *b) {
  int fails = test_failures;
  CHECK(a->forget_acc == b->forget_acc && a->retain_acc == b->retain_acc);
  CHECK(a->test_retain_acc == b->test_retain_acc);
  CHECK(a->test_forget_acc == b->test_forget_acc ||
        (isnan(a->test_forget_acc) && isnan(b->test_forget_acc)));
  CHECK(a->mia_efficacy == b->mia_efficacy);
  CHECK(a->cka_batches == b->cka_batches && a->knn_queries == b->knn_queries);
  for (int l = 0; l < a->n_points; l++) {
    // Forward passes over other chunk sizes round differently (sgemm blocking): ~1e-9.
    CHECK_CLOSE(a->cka_original[l], b->cka_original[l], 0, 1e-6);
    CHECK_CLOSE(a->cka_retrain[l], b->cka_retrain[l], 0, 1e-6);
    CHECK(a->knn_forget_acc[l] == b->knn_forget_acc[l]);
  }
  return test_failures == fails;
}

static void mpi_case(Arch arch, int width, const ForgetSpec *fspec, int cka_batch, int rank,
                     int size) {
  Err e = {0};
  DataSpec spec;
  data_spec_init(&spec);
  spec.synth.n_train = 1000, spec.synth.n_test = 600, spec.synth.h = spec.synth.w = 16;
  Dataset d;
  CHECK(dataset_load(&d, &spec, &e) == 0);
  ForgetSplit fs;
  CHECK(forget_split_make(&fs, fspec, &d.train, &d.test, 2, &e) == 0);
  Model u, o, rt;  // capacity 24: every local batch is forwarded in chunks
  new_model(&o, arch, 1, 16, 16, width, 24, 1, MPI_COMM_WORLD);
  new_model(&rt, arch, 1, 16, 16, width, 24, 2, MPI_COMM_WORLD);
  new_model(&u, arch, 1, 16, 16, width, 24, 1, MPI_COMM_WORLD);
  train_on(&o, &d, NULL, 0, 1, 0.05f, 48, 1, MPI_COMM_WORLD);
  train_on(&rt, &d, fs.train_retain, fs.n_train_retain, 1, 0.05f, 48, 2, MPI_COMM_WORLD);
  train_on(&u, &d, NULL, 0, 1, 0.05f, 48, 1, MPI_COMM_WORLD);
  train_on(&u, &d, fs.train_retain, fs.n_train_retain, 1, 0.02f, 48, 3, MPI_COMM_WORLD);
  EvalOptions opt;
  eval_options_default(&opt);
  opt.batch_size = 50, opt.cka_batch = cka_batch, opt.knn_probe_size = 300, opt.mia_samples = 200;
  opt.seed = 5;
  EvalResult world, self;
  CHECK(evaluate(&world, &u, &o, &rt, &d, &fs, d.mean, d.std, &opt, MPI_COMM_WORLD, &e) == 0);
  CHECK(evaluate(&self, &u, &o, &rt, &d, &fs, d.mean, d.std, &opt, MPI_COMM_SELF, &e) == 0);
  int ok = same_result(&world, &self);
  // ... and every rank of the world holds the same numbers as rank 0.
  EvalResult r0 = world;
  MPI_Bcast(&r0, (int)sizeof r0, MPI_BYTE, 0, MPI_COMM_WORLD);
  ok &= same_result(&world, &r0);
  if (rank == 0) {
    printf("%s, %s, %d ranks: forget %.3f retain %.3f test %.3f/%.3f mia %.3f, %d CKA batches:",
           arch_name(arch),
           forget_mode(fspec) == FORGET_RANDOM_FRACTION ? "random fraction" : "classes", size,
           world.forget_acc, world.retain_acc, world.test_retain_acc, world.test_forget_acc,
           world.mia_efficacy, world.cka_batches);
    for (int l = 0; l < world.n_points; l++)
      printf(" %s o %.4f rt %.4f knn %.3f", world.point_names[l], world.cka_original[l],
             world.cka_retrain[l], world.knn_forget_acc[l]);
    printf(" -> %s\n", ok ? "same as 1 rank" : "DIFFERENT");
  }
  CHECK(world.cka_batches == 2);
  model_free(&u), model_free(&o), model_free(&rt);
  forget_split_free(&fs);
  dataset_free(&d);
}

static int run_mpi(void) {
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  ForgetSpec classes = {.classes = {2, (const int[]){3, 8}}};
  ForgetSpec fraction = {.random_fraction = 0.1};
  // cnn4 (Gram form at every point: p > 64) on 120 test images of classes 3, 8: batches 64, 56.
  mpi_case(ARCH_CNN4, 4, &classes, 64, rank, size);
  // mlp (feature form: p <= 600) on a 100-image forget set: batches 60, 40.
  mpi_case(ARCH_MLP, 0, &fraction, 60, rank, size);
  int failed = test_failures;
  MPI_Allreduce(MPI_IN_PLACE, &failed, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  if (rank == 0)
    return failed ? (fprintf(stderr, "metrics_mpi: %d failure(s)\n", failed), 1)
                  : test_finish("metrics_mpi");
  return failed ? 1 : 0;
}

// ----------------------------------------------------------------------------------------------
// MNIST

static int load_mnist(Dataset *d, const char *dir, int64_t max_train, int rank) {
  struct stat st;
  if (!dir || stat(dir, &st) != 0) {
    if (rank == 0) fprintf(stderr, "SKIPPED: no MNIST at %s\n", dir ? dir : "(none)");
    return 77;
  }
  DataSpec spec;
  data_spec_init(&spec);
  strcpy(spec.name, "mnist");
  snprintf(spec.root, sizeof spec.root, "%s", dir);
  spec.max_train = max_train;
  Err e = {0};
  if (dataset_load(d, &spec, &e)) {
    fprintf(stderr, "%s\n", e.msg);
    return 1;
  }
  return 0;
}

static void print_eval(const char *what, const EvalResult *r) {
  printf("%s: forget %.4f retain %.4f test_retain %.4f test_forget %.4f mia %.4f\n", what,
         r->forget_acc, r->retain_acc, r->test_retain_acc, r->test_forget_acc, r->mia_efficacy);
  for (int l = 0; l < r->n_points; l++)
    printf("  %s: cka_original %.6f cka_retrain %.6f knn_forget_acc %.4f\n", r->point_names[l],
           r->cka_original[l], r->cka_retrain[l], r->knn_forget_acc[l]);
  printf("  time: accuracies %.2f s, mia %.3f s, knn %.3f s, cka %.2f s, total %.2f s\n",
         r->time_acc, r->time_mia, r->time_knn, r->time_cka, r->time_total);
}

// Two cnn4 originals (seeds 1, 2), one epoch on the first 10k training images; evaluation on the
// full test set with classes 3 and 8 forgotten.
static int run_mnist(const char *dir) {
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  Dataset d;
  int rc = load_mnist(&d, dir, 10000, rank);
  if (rc) return rc;
  Err e = {0};
  ForgetSpec fspec = {.classes = {2, (const int[]){3, 8}}};
  ForgetSplit fs;
  CHECK(forget_split_make(&fs, &fspec, &d.train, &d.test, 0, &e) == 0);
  const int cap = 256 / size;
  Model a, b;
  new_model(&a, ARCH_CNN4, 1, 28, 28, 0, cap, 1, MPI_COMM_WORLD);
  new_model(&b, ARCH_CNN4, 1, 28, 28, 0, cap, 2, MPI_COMM_WORLD);
  double t0 = now();
  train_on(&a, &d, NULL, 0, 1, 0.05f, 128, 1, MPI_COMM_WORLD);
  train_on(&b, &d, NULL, 0, 1, 0.05f, 128, 2, MPI_COMM_WORLD);
  double t1 = now();
  EvalOptions o;
  eval_options_default(&o);
  EvalResult self, two;
  CHECK(evaluate(&self, &a, &a, &a, &d, &fs, d.mean, d.std, &o, MPI_COMM_WORLD, &e) == 0);
  CHECK(evaluate(&two, &a, &b, NULL, &d, &fs, d.mean, d.std, &o, MPI_COMM_WORLD, &e) == 0);
  if (rank == 0) {
    printf("mnist cnn4: two originals trained on 10k images, 1 epoch each: %.1f s on %d rank(s)\n",
           t1 - t0, size);
    print_eval("original vs itself", &self);
    print_eval("original (seed 1) vs original (seed 2)", &two);
  }
  CHECK(self.test_retain_acc > 0.9 && self.retain_acc > 0.9);
  CHECK(self.cka_batches == 4);  // 1984 test images of 3 and 8: 3 x 512 + 448
  for (int l = 0; l < self.n_points; l++) {
    CHECK_CLOSE(self.cka_original[l], 1.0, 0, 1e-6);
    CHECK_CLOSE(self.cka_retrain[l], 1.0, 0, 1e-6);
    CHECK(two.cka_original[l] > 0.2 && two.cka_original[l] < 1 - 1e-4);
    CHECK(self.knn_forget_acc[l] > 0.5);
  }
  model_free(&a), model_free(&b);
  forget_split_free(&fs);
  dataset_free(&d);
  int failed = test_failures;
  MPI_Allreduce(MPI_IN_PLACE, &failed, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  return rank == 0 ? test_finish("metrics_mnist") : (failed ? 1 : 0);
}

// The timing of the speed goal: cnn4 on the whole MNIST, forget {3, 8}: the original (1 epoch on
// all), the retrained model (1 epoch on the retain set), an "unlearned" model (the original
// fine-tuned for 1 epoch on the retain set); then the full evaluation of the unlearned model.
static int run_time(const char *dir, const char *save_dir) {
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  Dataset d;
  int rc = load_mnist(&d, dir, 0, rank);
  if (rc) return rc;
  Err e = {0};
  ForgetSpec fspec = {.classes = {2, (const int[]){3, 8}}};
  ForgetSplit fs;
  CHECK(forget_split_make(&fs, &fspec, &d.train, &d.test, 0, &e) == 0);
  const int cap = 128 / size;
  Model o, rt, u;
  new_model(&o, ARCH_CNN4, 1, 28, 28, 0, cap, 1, MPI_COMM_WORLD);
  new_model(&rt, ARCH_CNN4, 1, 28, 28, 0, cap, 2, MPI_COMM_WORLD);
  new_model(&u, ARCH_CNN4, 1, 28, 28, 0, cap, 1, MPI_COMM_WORLD);
  double t0 = now();
  train_on(&o, &d, NULL, 0, 1, 0.05f, 128, 1, MPI_COMM_WORLD);
  double t1 = now();
  train_on(&rt, &d, fs.train_retain, fs.n_train_retain, 1, 0.05f, 128, 2, MPI_COMM_WORLD);
  double t2 = now();
  memcpy(u.param_mem, o.param_mem, (size_t)o.n_param_floats * sizeof(float));
  memcpy(u.buffer_mem, o.buffer_mem, (size_t)o.n_buffer_floats * sizeof(float));
  train_on(&u, &d, fs.train_retain, fs.n_train_retain, 1, 0.01f, 128, 3, MPI_COMM_WORLD);
  double t3 = now();
  EvalOptions opt;
  eval_options_default(&opt);
  EvalResult r;
  CHECK(evaluate(&r, &u, &o, &rt, &d, &fs, d.mean, d.std, &opt, MPI_COMM_WORLD, &e) == 0);
  if (save_dir && rank == 0) {  // for timing `ecore eval` on the same models
    CkptMeta meta = {0};
    memcpy(meta.mean, d.mean, sizeof d.mean), memcpy(meta.std, d.std, sizeof d.std);
    char path[2048];
    Model *ms[3] = {&o, &rt, &u};
    const char *names[3] = {"o.h5", "rt.h5", "u.h5"};
    for (int i = 0; i < 3; i++) {
      snprintf(path, sizeof path, "%s/%s", save_dir, names[i]);
      CHECK(ckpt_save(path, ms[i], &meta, NULL, NULL, 0, &e) == 0);
    }
  }
  if (rank == 0) {
    printf(
        "mnist cnn4, %d rank(s): train 1 epoch on 60k %.1f s; on the retain set (%lld) %.1f s;"
        " fine-tune 1 epoch on the retain set %.1f s\n",
        size, t1 - t0, (long long)fs.n_train_retain, t2 - t1, t3 - t2);
    print_eval("unlearned (fine-tuned) model", &r);
  }
  model_free(&o), model_free(&rt), model_free(&u);
  forget_split_free(&fs);
  dataset_free(&d);
  return rank == 0 ? test_finish("metrics_time") : 0;
}

// Three small cnn4 checkpoints (width 4) on the default synthetic set (1x28x28, 10 classes,
// first 1000 training images) for the `ecore eval` tests: o.h5, rt.h5 (without classes 3, 8),
// u.h5 (o fine-tuned on the retain set).
static int run_ckpt(const char *dir) {
  Err e = {0};
  DataSpec spec;
  data_spec_init(&spec);
  spec.max_train = 1000, spec.max_test = 500;
  Dataset d;
  CHECK(dataset_load(&d, &spec, &e) == 0);
  ForgetSpec fspec = {.classes = {2, (const int[]){3, 8}}};
  ForgetSplit fs;
  CHECK(forget_split_make(&fs, &fspec, &d.train, &d.test, 0, &e) == 0);
  Model o, rt;
  new_model(&o, ARCH_CNN4, 1, 28, 28, 4, 50, 1, MPI_COMM_NULL);
  new_model(&rt, ARCH_CNN4, 1, 28, 28, 4, 50, 2, MPI_COMM_NULL);
  train_on(&o, &d, NULL, 0, 2, 0.05f, 50, 1, MPI_COMM_NULL);
  train_on(&rt, &d, fs.train_retain, fs.n_train_retain, 2, 0.05f, 50, 2, MPI_COMM_NULL);
  CkptMeta meta = {0};
  memcpy(meta.mean, d.mean, sizeof d.mean), memcpy(meta.std, d.std, sizeof d.std);
  char path[2048];
  mkdir(dir, 0755);
  const char *names[3] = {"o.h5", "rt.h5", "u.h5"};
  for (int i = 0; i < 3; i++) {
    Model *m = i == 1 ? &rt : &o;
    if (i == 2)
      train_on(&o, &d, fs.train_retain, fs.n_train_retain, 1, 0.02f, 50, 3, MPI_COMM_NULL);
    strcpy(meta.role, i == 0 ? "original" : i == 1 ? "retrain" : "unlearned");
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    CHECK(ckpt_save(path, m, &meta, NULL, NULL, 0, &e) == 0);
  }
  snprintf(path, sizeof path, "%s/not_a_checkpoint.h5", dir);
  FILE *f = fopen(path, "w");
  if (f) fputs("not hdf5\n", f), fclose(f);
  model_free(&o), model_free(&rt);
  forget_split_free(&fs);
  dataset_free(&d);
  return test_finish("metrics_ckpt");
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "unit";
  if (!strcmp(mode, "unit")) return run_unit(argc > 2 ? argv[2] : "tests/fixtures/cka.h5");
  if (!strcmp(mode, "ckpt")) return run_ckpt(argc > 2 ? argv[2] : "metrics_ckpt");
  MPI_Init(&argc, &argv);
  int rc = 2;
  if (!strcmp(mode, "mpi")) rc = run_mpi();
  if (!strcmp(mode, "mnist")) rc = run_mnist(argc > 2 ? argv[2] : NULL);
  if (!strcmp(mode, "time")) rc = run_time(argc > 2 ? argv[2] : NULL, argc > 3 ? argv[3] : NULL);
  MPI_Finalize();
  return rc;
}
