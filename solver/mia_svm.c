// mia_svm.c: SalUn's membership attack (eval.mia_model: svm), an RBF-kernel SVM fitted by
// libsvm; see metrics.h (MiaSvm) and docs/methods.md ("MIA efficacy").
//
// scikit-learn's SVC, which SalUn's evaluation calls, is itself libsvm; the problem is laid out
// as scikit-learn lays it out (the classes in ascending label order: non-members, label 0,
// first), so that the two solvers take the same steps (tests/fixtures/mia_svm.h5 checks them
// against each other).
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <svm.h>

#include "metrics.h"

// SalUn's SVC(C=3, gamma='auto', kernel='rbf') with scikit-learn's other defaults.
static const double SVM_C = 3, SVM_TOL = 1e-3, SVM_CACHE_MB = 200;

struct MiaSvm {
  struct svm_model *model;  // its support vectors point into nodes
  struct svm_node *nodes;   // [n, dim + 1]: dim features, then the index -1 terminator
  int dim;
};

// libsvm's progress lines ("optimization finished, #iter = ...") go nowhere.
static void quiet(const char *s) {
  (void)s;
}

// x [dim + 1] for the first dim features of f.
static void node(struct svm_node *x, const double *f, int dim) {
  for (int j = 0; j < dim; j++) x[j] = (struct svm_node){j + 1, f[j]};
  x[dim] = (struct svm_node){-1, 0};
}

static int finite_rows(const double *f, int64_t n, int dim) {
  for (int64_t i = 0; i < n; i++)
    for (int j = 0; j < dim; j++)
      if (!isfinite(f[2 * i + j])) return 0;
  return 1;
}

int mia_svm_fit(MiaSvm **out, const double *members, int64_t n_member, const double *nonmembers,
                int64_t n_nonmember, int dim, Err *e) {
  *out = NULL;
  if (n_member <= 0 || n_nonmember <= 0)
    return errf(e, ERR_RUNTIME, "MIA needs members and non-members (got %lld and %lld)",
                (long long)n_member, (long long)n_nonmember);
  if (dim < 1 || dim > 2) return errf(e, ERR_RUNTIME, "MIA SVM: %d features (1 or 2)", dim);
  if (n_member > INT_MAX - n_nonmember)
    return errf(e, ERR_RUNTIME, "MIA SVM: %lld samples, more than libsvm takes",
                (long long)(n_member + n_nonmember));
  if (!finite_rows(members, n_member, dim) || !finite_rows(nonmembers, n_nonmember, dim))
    return errf(e, ERR_RUNTIME, "MIA SVM: a feature is not finite (the model's logits are)");
  int n = (int)(n_member + n_nonmember);
  MiaSvm *s = calloc(1, sizeof *s);
  double *y = malloc((size_t)n * sizeof(double));
  struct svm_node **x = malloc((size_t)n * sizeof *x);
  if (s) s->nodes = malloc((size_t)n * (dim + 1) * sizeof(struct svm_node));
  if (!s || !y || !x || !s->nodes) {
    free(y), free(x), mia_svm_free(s);
    return errf(e, ERR_RUNTIME, "out of memory for the MIA SVM (%d samples)", n);
  }
  s->dim = dim;
  for (int i = 0; i < n; i++) {  // non-members (0) first, then members (1)
    int member = i >= n_nonmember;
    const double *f = member ? members + 2 * (i - n_nonmember) : nonmembers + 2 * (int64_t)i;
    x[i] = s->nodes + (size_t)i * (dim + 1);
    node(x[i], f, dim);
    y[i] = member;
  }
  struct svm_problem prob = {n, y, x};
  struct svm_parameter par = {.svm_type = C_SVC,
                              .kernel_type = RBF,
                              .degree = 3,
                              .gamma = 1.0 / dim,  // 'auto': 1 / features
                              .cache_size = SVM_CACHE_MB,
                              .eps = SVM_TOL,
                              .C = SVM_C,
                              .nu = 0.5,
                              .p = 0.1,
                              .shrinking = 1};
  const char *bad = svm_check_parameter(&prob, &par);
  if (!bad) {
    svm_set_print_string_function(quiet);
    s->model = svm_train(&prob, &par);
    svm_set_print_string_function(NULL);  // libsvm's default: stdout
  }
  free(y), free(x);  // the model keeps pointers into s->nodes only
  if (bad || !s->model) {
    mia_svm_free(s);
    return errf(e, ERR_RUNTIME, "MIA SVM: libsvm %s", bad ? bad : "could not train");
  }
  *out = s;
  return 0;
}

double mia_svm_decision(const MiaSvm *s, const double *feat) {
  struct svm_node x[3];
  double dec;
  node(x, feat, s->dim);
  svm_predict_values(s->model, x, &dec);
  return -dec;  // libsvm's is positive for its first class, the non-members
}

int mia_svm_is_member(const MiaSvm *s, const double *feat) {
  struct svm_node x[3];
  node(x, feat, s->dim);
  return svm_predict(s->model, x) == 1;
}

double mia_svm_efficacy(const MiaSvm *s, const double *feat, int64_t n) {
  if (n <= 0) return NAN;
  int64_t non = 0;
  for (int64_t i = 0; i < n; i++) non += !mia_svm_is_member(s, feat + 2 * i);
  return (double)non / n;
}

int mia_svm_n_support(const MiaSvm *s) {
  return svm_get_nr_sv(s->model);
}

void mia_svm_free(MiaSvm *s) {
  if (!s) return;
  svm_free_and_destroy_model(&s->model);
  free(s->nodes);
  free(s);
}
