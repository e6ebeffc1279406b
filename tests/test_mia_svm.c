// test_mia_svm.c: the RBF-SVM membership attack (solver/mia_svm.c, eval.mia_model: svm).
//
//   test_mia_svm FIXTURE         against scikit-learn's SVC with SalUn's settings on the same
//                                features (tests/fixtures/mia_svm.h5, made by
//                                tests/make_mia_svm_fixture.py): decision values, predictions,
//                                support vectors, efficacy; libsvm's output silenced during the
//                                fit and its default restored; bad input refused
//   test_mia_svm time N          CPU seconds per attack (fit + efficacy on N forget samples), the
//                                logistic and the SVM, on N members and N non-members of
//                                MNIST-like features (the cost comparison of docs/methods.md)
#include <fcntl.h>
#include <hdf5.h>
#include <string.h>
#include <svm.h>
#include <time.h>
#include <unistd.h>

#include "metrics.h"
#include "rng.h"
#include "testutil.h"

// The float64 dataset `name` of f (rows [*n, cols]), malloc'd; NULL if missing.
static double *read_f64(hid_t f, const char *name, int64_t *n) {
  hid_t ds = H5Dopen2(f, name, H5P_DEFAULT);
  if (ds < 0) return NULL;
  hid_t sp = H5Dget_space(ds);
  hsize_t dims[2] = {0, 1};
  H5Sget_simple_extent_dims(sp, dims, NULL);
  int rank = H5Sget_simple_extent_ndims(sp);
  size_t count = (size_t)dims[0] * (rank == 2 ? dims[1] : 1);
  double *x = malloc(count * sizeof(double));
  H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, x);
  H5Sclose(sp), H5Dclose(ds);
  *n = (int64_t)dims[0];
  return x;
}

static double read_attr(hid_t f, const char *obj, const char *name) {
  double v = NAN;
  hid_t a = H5Aopen_by_name(f, obj, name, H5P_DEFAULT, H5P_DEFAULT);
  if (a >= 0) H5Aread(a, H5T_NATIVE_DOUBLE, &v), H5Aclose(a);
  return v;
}

// Runs fn(ctx) with stdout sent to a temporary file; returns what it wrote (malloc'd).
static char *capture_stdout(void (*fn)(void *), void *ctx) {
  char path[] = "/tmp/test_mia_svm_XXXXXX";
  int fd = mkstemp(path);
  fflush(stdout);
  int saved = dup(STDOUT_FILENO);
  dup2(fd, STDOUT_FILENO);
  fn(ctx);
  fflush(stdout);
  dup2(saved, STDOUT_FILENO);
  close(saved), close(fd);
  char *text = test_slurp(path, NULL);
  unlink(path);
  return text;
}

typedef struct {
  const double *mem, *non;
  int64_t n_mem, n_non;
  int dim, rc;
  MiaSvm *s;
} FitCall;

static void fit_call(void *ctx) {
  FitCall *c = ctx;
  Err e = {0};
  c->rc = mia_svm_fit(&c->s, c->mem, c->n_mem, c->non, c->n_non, c->dim, &e);
}

// libsvm trained directly, after mia_svm_fit: its default printing must be back.
static void plain_libsvm(void *ctx) {
  (void)ctx;
  double y[4] = {0, 0, 1, 1};
  struct svm_node nodes[4][2] = {
      {{1, 0.1}, {-1, 0}}, {{1, 0.2}, {-1, 0}}, {{1, 0.8}, {-1, 0}}, {{1, 0.9}, {-1, 0}}};
  struct svm_node *x[4] = {nodes[0], nodes[1], nodes[2], nodes[3]};
  struct svm_problem prob = {4, y, x};
  struct svm_parameter par = {.svm_type = C_SVC,
                              .kernel_type = RBF,
                              .gamma = 1,
                              .cache_size = 10,
                              .eps = 1e-3,
                              .C = 1,
                              .shrinking = 1};
  struct svm_model *m = svm_train(&prob, &par);
  svm_free_and_destroy_model(&m);
}

static int run_fixture(const char *path) {
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) {
    fprintf(stderr, "cannot open %s\n", path);
    return 1;
  }
  int64_t n_mem, n_non, n_t, n_dec;
  double *mem = read_f64(f, "members", &n_mem), *non = read_f64(f, "nonmembers", &n_non);
  double *tgt = read_f64(f, "targets", &n_t);
  CHECK(mem && non && tgt && n_mem > 0 && n_non > 0 && n_t > 0);
  for (int dim = 1; dim <= 2; dim++) {
    char g[16], name[64];
    snprintf(g, sizeof g, "dim%d", dim);
    snprintf(name, sizeof name, "%s/decision", g);
    double *dec = read_f64(f, name, &n_dec);
    snprintf(name, sizeof name, "%s/predict", g);
    double *pred = read_f64(f, name, &n_dec);
    CHECK(dec && pred && n_dec == n_t);
    FitCall c = {mem, non, n_mem, n_non, dim, -1, NULL};
    char *out = capture_stdout(fit_call, &c);
    CHECK(c.rc == 0 && c.s);
    CHECK(out && out[0] == '\0');  // libsvm's "optimization finished" silenced
    free(out);
    if (c.rc) continue;
    CHECK(mia_svm_n_support(c.s) == (int)read_attr(f, g, "n_support"));
    double worst = 0;
    int disagree = 0;
    for (int64_t i = 0; i < n_t; i++) {
      double d = mia_svm_decision(c.s, tgt + 2 * i);
      if (fabs(d - dec[i]) > worst) worst = fabs(d - dec[i]);
      disagree += mia_svm_is_member(c.s, tgt + 2 * i) != (pred[i] == 1);
    }
    printf(
        "dim %d: %d support vectors, max |decision - sklearn| %.3g, %d of %lld predictions "
        "differ, efficacy %.4f (sklearn %.4f)\n",
        dim, mia_svm_n_support(c.s), worst, disagree, (long long)n_t,
        mia_svm_efficacy(c.s, tgt, n_t), read_attr(f, g, "efficacy"));
    CHECK(worst < 1e-6);
    CHECK(disagree == 0);
    CHECK_CLOSE(mia_svm_efficacy(c.s, tgt, n_t), read_attr(f, g, "efficacy"), 0, 1e-12);
    mia_svm_free(c.s);
    free(dec), free(pred);
  }
  H5Fclose(f);

  // libsvm prints again once the fit is over (its default restored, nothing leaks).
  char *out = capture_stdout(plain_libsvm, NULL);
  CHECK(out && strstr(out, "optimization finished"));
  free(out);

  // Bad input: an error, no model.
  Err e = {0};
  MiaSvm *s = (MiaSvm *)&e;
  CHECK(mia_svm_fit(&s, mem, 0, non, n_non, 1, &e) == ERR_RUNTIME && !s);
  CHECK(mia_svm_fit(&s, mem, n_mem, non, n_non, 3, &e) == ERR_RUNTIME && !s);
  non[2 * 5] = NAN;
  CHECK(mia_svm_fit(&s, mem, n_mem, non, n_non, 1, &e) == ERR_RUNTIME && !s);
  CHECK(strstr(e.msg, "not finite") != NULL);
  non[2 * 5] = 0.5;
  // One class's features equal the other's: a valid fit (chance), not a failure.
  CHECK(mia_svm_fit(&s, mem, n_mem, mem, n_mem, 1, &e) == 0);
  CHECK(isnan(mia_svm_efficacy(s, tgt, 0)));
  mia_svm_free(s);
  mia_svm_free(NULL);
  free(mem), free(non), free(tgt);
  return test_finish("mia_svm");
}

// ----------------------------------------------------------------------------------------------
// cost

// CPU seconds of this process: on a shared machine a steadier measure than the wall clock.
static double cpu_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

// n rows of (p_true, entropy) as a trained 10-class network gives them: members mostly
// saturated, non-members a little less sure.
static void mnist_like(double *f, int64_t n, int member, Rng *r) {
  for (int64_t i = 0; i < n; i++) {
    float z[10];
    int32_t y = (int32_t)rng_below(r, 10);
    for (int k = 0; k < 10; k++) z[k] = (float)rng_normal(r);
    z[y] += (float)((member ? 9 : 7) + 2 * rng_normal(r));
    mia_features(f + 2 * i, z, &y, 1, 10);
  }
}

static int run_time(int64_t n) {
  Rng r = rng_derive(7, RNG_METHOD, 1);
  double *mem = malloc((size_t)n * 2 * sizeof(double)),
         *non = malloc((size_t)n * 2 * sizeof(double));
  double *tgt = malloc((size_t)n * 2 * sizeof(double));
  mnist_like(mem, n, 1, &r), mnist_like(non, n, 0, &r), mnist_like(tgt, n, 1, &r);
  Err e = {0};
  double t0 = cpu_now();
  MiaAttack a;
  CHECK(mia_fit(&a, mem, n, non, n, &e) == 0);
  double eff_lr = mia_efficacy(&a, tgt, n);
  double t1 = cpu_now();
  MiaSvm *s = NULL;
  CHECK(mia_svm_fit(&s, mem, n, non, n, 1, &e) == 0);
  double eff_svm = s ? mia_svm_efficacy(s, tgt, n) : NAN;
  double t2 = cpu_now();
  printf(
      "members = non-members = forget = %lld, CPU time: logistic %.4f s (efficacy %.4f), svm %.4f "
      "s "
      "(efficacy %.4f, %d support vectors): svm / logistic = %.0fx\n",
      (long long)n, t1 - t0, eff_lr, t2 - t1, eff_svm, s ? mia_svm_n_support(s) : 0,
      (t2 - t1) / (t1 - t0));
  mia_svm_free(s);
  free(mem), free(non), free(tgt);
  return test_finish("mia_svm_time");
}

int main(int argc, char **argv) {
  if (argc > 2 && !strcmp(argv[1], "time")) return run_time(atoll(argv[2]));
  return run_fixture(argc > 1 ? argv[1] : "tests/fixtures/mia_svm.h5");
}
