// evaluate.c: the full evaluation of one model (see metrics.h), and loading any checkpoint.
//
// One forward pass per subset (forget, retain, test of retained and of forgotten classes)
// gives the accuracies, the MIA features of every sample, and the pooled point features of
// the k-NN probe and of the scored images, so the probe costs no extra pass. Per-sample
// results are written at their position and summed over the group (the other ranks add
// exact zeros), which gives every rank the same arrays a single rank would have.
#include <hdf5.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "dist.h"
#include "h5quiet.h"
#include "metrics.h"
#include "train.h"

void metrics_forward_chunks(Model *m, const float *x, int n, ChunkVisit visit, void *ctx) {
  const int cap = m->spec.batch_capacity;
  const size_t img = (size_t)m->spec.in_c * m->spec.in_h * m->spec.in_w;
  for (int first = 0; first < n; first += cap) {
    int count = n - first < cap ? n - first : cap;
    model_forward(m, x + first * img, count, 0);
    visit(ctx, m, first, count);
  }
}

// 1 if any rank failed; a rank that did not gets a message saying so.
static int agree(int bad, MPI_Comm comm, Err *e) {
  int any = bad != 0;
  if (comm != MPI_COMM_NULL) MPI_Allreduce(MPI_IN_PLACE, &any, 1, MPI_INT, MPI_MAX, comm);
  if (any && !bad) errf(e, ERR_RUNTIME, "evaluation failed on another rank of the group");
  return any;
}

static void sum_doubles(double *x, int64_t n, MPI_Comm comm) {
  if (comm != MPI_COMM_NULL && n > 0)
    MPI_Allreduce(MPI_IN_PLACE, x, (int)n, MPI_DOUBLE, MPI_SUM, comm);
}

static void sum_floats(float *x, int64_t n, MPI_Comm comm) {
  if (comm != MPI_COMM_NULL && n > 0)
    MPI_Allreduce(MPI_IN_PLACE, x, (int)n, MPI_FLOAT, MPI_SUM, comm);
}

// ----------------------------------------------------------------------------------------------
// the accuracy pass

// Pooled point features [rows, dim] of the samples that row [set size] maps to a row (-1: none).
// dim = Σ_l c_l, point l at column off[l].
typedef struct {
  const int32_t *row;
  float *feats;
} Collector;

typedef struct {
  const Batches *b;
  int K, L, dim, off[MODEL_MAX_POINTS];
  const Collector *col;
  int n_col;
  double *mia;  // [subset n, 2] by position, or NULL
  double correct;
} AccPass;

static void acc_visit(void *vctx, const Model *m, int first, int count) {
  AccPass *a = vctx;
  const float *logits = model_logits(m);
  for (int i = 0; i < count; i++) {
    const float *z = logits + (size_t)i * a->K;
    const int32_t y = a->b->y[first + i];
    a->correct += argmax_row(z, a->K) == y;
    if (a->mia) mia_features(a->mia + 2 * a->b->pos[first + i], z, &y, 1, a->K);
  }
  for (int j = 0; j < a->n_col; j++)
    for (int i = 0; i < count; i++) {
      int32_t row = a->col[j].row[a->b->idx[first + i]];
      if (row < 0) continue;
      for (int l = 0; l < a->L; l++) {
        int h, w, c;
        const float *act = model_point(m, l, &h, &w, &c);
        avgpool_forward(a->col[j].feats + (size_t)row * a->dim + a->off[l],
                        act + (size_t)i * h * w * c, 1, h * w, c);
      }
    }
}

// Accuracy of m on subset [n] of set (NaN if n = 0); fills mia [n, 2] and the collectors'
// rows of this rank's samples (the caller sums them over the group).
static int acc_pass(double *acc, Model *m, const ImageSet *set, const int32_t *subset, int64_t n,
                    const float *mean, const float *std, int batch, MPI_Comm comm, double *mia,
                    const Collector *col, int n_col, int dim, const int *off, Err *e) {
  *acc = NAN;
  if (n == 0) return 0;
  Batches b;
  int bad = batches_init(&b, set, mean, std, NULL, subset, n, batch, 0, comm, e);
  if (agree(bad, comm, e)) return bad ? bad : ERR_RUNTIME;
  AccPass a = {&b, m->spec.num_classes, m->n_points, dim, {0}, col, n_col, mia, 0};
  memcpy(a.off, off, sizeof a.off);
  if (mia) memset(mia, 0, (size_t)n * 2 * sizeof(double));
  batches_start(&b, 0, 0, 0);
  while (batches_next(&b)) metrics_forward_chunks(m, b.x, b.local_batch, acc_visit, &a);
  batches_free(&b);
  *acc = dist_sum(comm, a.correct) / (double)n;
  if (mia) sum_doubles(mia, 2 * n, comm);
  return 0;
}

// ----------------------------------------------------------------------------------------------
// k-NN and MIA on the collected features

// Accuracy per point of the k-NN probe: this rank scores its share of the queries.
static int knn_part(double *acc, const Model *m, const float *probe, const int32_t *probe_y,
                    int64_t n_probe, const float *query, const int32_t *query_y, int64_t n_query,
                    int dim, const int *off, int k, MPI_Comm comm, Err *e) {
  int rank = 0, size = 1, first, count;
  if (comm != MPI_COMM_NULL) MPI_Comm_rank(comm, &rank), MPI_Comm_size(comm, &size);
  dist_share((int)n_query, rank, size, &first, &count);
  int bad = 0;
  for (int l = 0; l < m->n_points; l++) {
    int c;
    model_point(m, l, NULL, NULL, &c);
    float *P = malloc((size_t)n_probe * c * sizeof(float));
    float *Q = malloc((size_t)(count ? count : 1) * c * sizeof(float));
    int32_t *pred = malloc((size_t)(count ? count : 1) * sizeof(int32_t));
    double correct = 0;
    if (!P || !Q || !pred) {
      bad = errf(e, ERR_RUNTIME, "out of memory for the k-NN probe");
    } else if (!bad) {
      for (int64_t i = 0; i < n_probe; i++)
        memcpy(P + i * c, probe + i * dim + off[l], (size_t)c * sizeof(float));
      for (int i = 0; i < count; i++)
        memcpy(Q + (size_t)i * c, query + (size_t)(first + i) * dim + off[l],
               (size_t)c * sizeof(float));
      bad = knn_predict(pred, P, probe_y, n_probe, Q, count, c, k, m->spec.num_classes, e);
      for (int i = 0; i < count && !bad; i++) correct += pred[i] == query_y[first + i];
    }
    free(P), free(Q), free(pred);
    acc[l] = dist_sum(comm, correct) / (double)n_query;
  }
  return agree(bad, comm, e) ? (bad ? bad : ERR_RUNTIME) : 0;
}

// MIA efficacy from the per-position features of the retain, test-retain and forget sets.
static int mia_part(EvalResult *r, const double *retain, int64_t n_retain, const double *test,
                    int64_t n_test, const double *forget, int64_t n_forget, const EvalOptions *o,
                    Err *e) {
  int64_t N = n_retain < n_test ? n_retain : n_test;
  if (o->mia_samples > 0 && o->mia_samples < N) N = o->mia_samples;
  if (N == 0 || n_forget == 0) return 0;
  int64_t *idx = malloc((size_t)N * sizeof(int64_t));
  double *mem = malloc((size_t)N * 2 * sizeof(double)),
         *non = malloc((size_t)N * 2 * sizeof(double));
  int rc = 0;
  // Distinct streams for members and non-members, apart from every other use of the seed.
  if (!idx || !mem || !non || mia_draw(idx, n_retain, N, o->seed, 0x6d69612d6d656dull) < 0) {
    rc = errf(e, ERR_RUNTIME, "out of memory for the MIA");
    goto done;
  }
  for (int64_t i = 0; i < N; i++) memcpy(mem + 2 * i, retain + 2 * idx[i], 2 * sizeof(double));
  if (mia_draw(idx, n_test, N, o->seed, 0x6d69612d6e6f6eull) < 0) {
    rc = errf(e, ERR_RUNTIME, "out of memory for the MIA");
    goto done;
  }
  for (int64_t i = 0; i < N; i++) memcpy(non + 2 * i, test + 2 * idx[i], 2 * sizeof(double));
  if (o->mia_model == MIA_SVM) {  // SalUn's: p_true alone
    MiaSvm *s;
    rc = mia_svm_fit(&s, mem, N, non, N, 1, e);
    if (!rc) r->mia_efficacy = mia_svm_efficacy(s, forget, n_forget), r->mia_n = N;
    mia_svm_free(s);
  } else {
    MiaAttack a;
    rc = mia_fit(&a, mem, N, non, N, e);
    if (!rc) r->mia_efficacy = mia_efficacy(&a, forget, n_forget), r->mia_n = N;
  }
done:
  free(idx), free(mem), free(non);
  return rc;
}

// ----------------------------------------------------------------------------------------------

static int check_models(const Model *m, const Model *other, const char *role, const Dataset *d,
                        Err *e) {
  const ModelSpec *s = &m->spec;
  if (!other) {
    if (s->in_c != d->train.c || s->in_h != d->train.h || s->in_w != d->train.w ||
        s->num_classes != d->train.num_classes)
      return errf(e, ERR_CONFIG,
                  "the model takes %dx%dx%d inputs and %d classes, the data set has %dx%dx%d "
                  "images and %d classes",
                  s->in_c, s->in_h, s->in_w, s->num_classes, d->train.c, d->train.h, d->train.w,
                  d->train.num_classes);
    return 0;
  }
  if (other->n_points != m->n_points || other->spec.num_classes != s->num_classes)
    return errf(e, ERR_CONFIG,
                "the %s model is a different network (%s) from the evaluated one (%s)", role,
                arch_name(other->spec.arch), arch_name(s->arch));
  for (int l = 0; l < m->n_points; l++) {
    int h, w, c, h2, w2, c2;
    model_point(m, l, &h, &w, &c);
    model_point(other, l, &h2, &w2, &c2);
    if (h != h2 || w != w2 || c != c2)
      return errf(e, ERR_CONFIG,
                  "the %s model's %s is %dx%dx%d, the evaluated model's %dx%dx%d (another width?)",
                  role, m->point_names[l], h2, w2, c2, h, w, c);
  }
  return 0;
}

static void result_init(EvalResult *r, const Model *m) {
  memset(r, 0, sizeof *r);
  r->forget_acc = r->retain_acc = r->test_retain_acc = r->test_forget_acc = NAN;
  r->mia_efficacy = NAN;
  r->n_points = m->n_points;
  for (int l = 0; l < MODEL_MAX_POINTS; l++) {
    r->cka_original[l] = r->cka_retrain[l] = r->knn_forget_acc[l] = NAN;
    if (l < m->n_points) memcpy(r->point_names[l], m->point_names[l], sizeof r->point_names[l]);
  }
}

// The k-NN inputs: row maps into the probe and query feature matrices, and their labels.
typedef struct {
  int32_t *probe_idx, *probe_row, *query_row, *probe_y, *query_y;
  int64_t n_probe, n_query;
  float *probe, *query;
} KnnData;

static void knn_data_free(KnnData *k) {
  free(k->probe_idx), free(k->probe_row), free(k->query_row), free(k->probe_y), free(k->query_y);
  free(k->probe), free(k->query);
  memset(k, 0, sizeof *k);
}

// qset/query [nq]: the scored images (a subset of qset).
static int knn_data_make(KnnData *k, const Dataset *d, const ForgetSplit *fs, int random_fraction,
                         const ImageSet *qset, const int32_t *query, int64_t nq, int dim,
                         const EvalOptions *o, Err *e) {
  memset(k, 0, sizeof *k);
  const ImageSet *tr = &d->train;
  int32_t *all = NULL;
  const int32_t *from = fs->train_retain;
  int64_t n_from = fs->n_train_retain;
  if (!random_fraction) {
    all = malloc((size_t)tr->n * sizeof(int32_t));
    if (!all) return errf(e, ERR_RUNTIME, "out of memory for the k-NN probe");
    for (int64_t i = 0; i < tr->n; i++) all[i] = (int32_t)i;
    from = all, n_from = tr->n;
  }
  int rc = knn_probe_indices(&k->probe_idx, &k->n_probe, tr->labels, tr->num_classes, from, n_from,
                             o->knn_probe_size, o->seed, e);
  free(all);
  if (rc) return rc;
  k->n_query = nq;
  k->probe_row = malloc((size_t)tr->n * sizeof(int32_t));
  k->query_row = malloc((size_t)qset->n * sizeof(int32_t));
  k->probe_y = malloc((size_t)(k->n_probe ? k->n_probe : 1) * sizeof(int32_t));
  k->query_y = malloc((size_t)(nq ? nq : 1) * sizeof(int32_t));
  k->probe = calloc((size_t)(k->n_probe ? k->n_probe : 1) * dim, sizeof(float));
  k->query = calloc((size_t)(nq ? nq : 1) * dim, sizeof(float));
  if (!k->probe_row || !k->query_row || !k->probe_y || !k->query_y || !k->probe || !k->query) {
    knn_data_free(k);
    return errf(e, ERR_RUNTIME, "out of memory for the k-NN probe (%lld x %d features)",
                (long long)o->knn_probe_size, dim);
  }
  for (int64_t i = 0; i < tr->n; i++) k->probe_row[i] = -1;
  for (int64_t i = 0; i < qset->n; i++) k->query_row[i] = -1;
  for (int64_t i = 0; i < k->n_probe; i++) {
    k->probe_row[k->probe_idx[i]] = (int32_t)i;
    k->probe_y[i] = tr->labels[k->probe_idx[i]];
  }
  for (int64_t i = 0; i < nq; i++) {
    k->query_row[query[i]] = (int32_t)i;
    k->query_y[i] = qset->labels[query[i]];
  }
  return 0;
}

int evaluate(EvalResult *r, Model *m, Model *original, Model *retrain, const Dataset *d,
             const ForgetSplit *fs, const float *mean, const float *std, const EvalOptions *o,
             MPI_Comm comm, Err *e) {
  double t_start = clock_now();
  Err local = {0};
  if (!e) e = &local;
  result_init(r, m);
  if (o->batch_size < 1 || o->cka_batch < 2 || o->knn_k < 1)
    return errf(e, ERR_CONFIG, "evaluation: batch %d, CKA batch %d and k %d must be positive",
                o->batch_size, o->cka_batch, o->knn_k);
  if (fs->num_classes != d->train.num_classes)
    return errf(e, ERR_CONFIG, "the forget split has %d classes, the data set %d", fs->num_classes,
                d->train.num_classes);
  int rc = check_models(m, NULL, "", d, e);
  if (!rc && original) rc = check_models(m, original, "original", d, e);
  if (!rc && retrain) rc = check_models(m, retrain, "retrained", d, e);
  if (rc) return rc;

  // Class-wise forgetting scores the test images of forgotten classes; random-fraction
  // forgetting (no class forgotten) the forget set itself.
  int random_fraction = 1;
  for (int c = 0; c < fs->num_classes; c++)
    if (fs->forget_class[c]) random_fraction = 0;
  const ImageSet *tset = random_fraction ? &d->train : &d->test;
  const int32_t *target = random_fraction ? fs->train_forget : fs->test_forget;
  const int64_t n_target = random_fraction ? fs->n_train_forget : fs->n_test_forget;

  int off[MODEL_MAX_POINTS] = {0}, dim = 0;
  for (int l = 0; l < m->n_points; l++) {
    int c;
    model_point(m, l, NULL, NULL, &c);
    off[l] = dim, dim += c;
  }
  KnnData kd = {0};
  int want_knn = o->knn && n_target > 0;
  rc = want_knn ? knn_data_make(&kd, d, fs, random_fraction, tset, target, n_target, dim, o, e) : 0;
  double *mia_f = NULL, *mia_r = NULL, *mia_t = NULL;
  if (!rc && o->mia) {
    mia_f = malloc((size_t)(fs->n_train_forget + 1) * 2 * sizeof(double));
    mia_r = malloc((size_t)(fs->n_train_retain + 1) * 2 * sizeof(double));
    mia_t = malloc((size_t)(fs->n_test_retain + 1) * 2 * sizeof(double));
    if (!mia_f || !mia_r || !mia_t) rc = errf(e, ERR_RUNTIME, "out of memory for the MIA");
  }
  if (agree(rc, comm, e)) goto done;

  // Accuracies, with the MIA and k-NN features on the way.
  double t0 = clock_now();
  Collector probe_col = {kd.probe_row, kd.probe}, query_col = {kd.query_row, kd.query};
  Collector train_cols[2] = {probe_col, query_col};
  int n_train_cols = want_knn ? (random_fraction ? 2 : 1) : 0;
  int n_test_cols = want_knn && !random_fraction ? 1 : 0;
  int batch = o->batch_size;
  rc = acc_pass(&r->forget_acc, m, &d->train, fs->train_forget, fs->n_train_forget, mean, std,
                batch, comm, mia_f, train_cols, n_train_cols, dim, off, e);
  if (!rc)
    rc = acc_pass(&r->retain_acc, m, &d->train, fs->train_retain, fs->n_train_retain, mean, std,
                  batch, comm, mia_r, train_cols, n_train_cols, dim, off, e);
  if (!rc)
    rc = acc_pass(&r->test_retain_acc, m, &d->test, fs->test_retain, fs->n_test_retain, mean, std,
                  batch, comm, mia_t, NULL, 0, dim, off, e);
  if (!rc)
    rc = acc_pass(&r->test_forget_acc, m, &d->test, fs->test_forget, fs->n_test_forget, mean, std,
                  batch, comm, NULL, &query_col, n_test_cols, dim, off, e);
  if (rc) goto done;
  if (want_knn) {
    sum_floats(kd.probe, kd.n_probe * dim, comm);
    sum_floats(kd.query, kd.n_query * dim, comm);
  }
  double t1 = clock_now();
  r->time_acc = t1 - t0;

  // Every rank fits the same attack on the same (summed) features: no communication.
  if (o->mia) {
    rc = mia_part(r, mia_r, fs->n_train_retain, mia_t, fs->n_test_retain, mia_f, fs->n_train_forget,
                  o, e);
    if (agree(rc, comm, e)) goto done;
  }
  double t2 = clock_now();
  r->time_mia = t2 - t1;

  if (want_knn) {
    rc = knn_part(r->knn_forget_acc, m, kd.probe, kd.probe_y, kd.n_probe, kd.query, kd.query_y,
                  kd.n_query, dim, off, o->knn_k, comm, e);
    if (rc) goto done;
    r->knn_probe = kd.n_probe, r->knn_queries = kd.n_query;
  }
  double t3 = clock_now();
  r->time_knn = t3 - t2;

  if (o->cka && (original || retrain)) {
    Model *refs[2] = {original, retrain};
    double cka[CKA_MAX_REFS * MODEL_MAX_POINTS];
    rc = cka_points(cka, &r->cka_batches, m, refs, 2, tset, target, n_target, mean, std,
                    o->cka_batch, o->cka_min_last, comm, e);
    if (rc) goto done;
    for (int l = 0; l < m->n_points; l++) {
      r->cka_original[l] = cka[l];
      r->cka_retrain[l] = cka[MODEL_MAX_POINTS + l];
    }
    int64_t full = n_target / o->cka_batch;
    r->cka_images = r->cka_batches > full ? n_target : full * o->cka_batch;
  }
  r->time_cka = clock_now() - t3;

done:
  knn_data_free(&kd);
  free(mia_f), free(mia_r), free(mia_t);
  r->time_total = clock_now() - t_start;
  return rc ? rc : (e->code ? e->code : 0);
}

double eval_avg_gap(const EvalResult *u, const EvalResult *rt) {
  const double a[4] = {u->forget_acc, u->retain_acc, u->test_retain_acc, u->mia_efficacy};
  const double b[4] = {rt->forget_acc, rt->retain_acc, rt->test_retain_acc, rt->mia_efficacy};
  double sum = 0;
  int n = 0;
  for (int i = 0; i < 4; i++)
    if (!isnan(a[i]) && !isnan(b[i])) sum += fabs(a[i] - b[i]), n++;
  return n ? sum / n : NAN;
}

// ----------------------------------------------------------------------------------------------
// loading any checkpoint

// The dimensions of the checkpoint's 4-d (or 2-d) dataset name into dims; -1 if it has none.
static int dataset_dims(const char *path, const char *name, int nd_want, hsize_t dims[4]) {
  Quiet q = quiet_on();
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  hid_t ds = f >= 0 ? H5Dopen2(f, name, H5P_DEFAULT) : -1;
  int nd = -1;
  if (ds >= 0) {
    hid_t sp = H5Dget_space(ds);
    nd = H5Sget_simple_extent_ndims(sp);
    if (nd == nd_want) H5Sget_simple_extent_dims(sp, dims, NULL);
    H5Sclose(sp);
    H5Dclose(ds);
  }
  if (f >= 0) H5Fclose(f);
  quiet_off(q);
  return nd == nd_want ? 0 : -1;
}

// What the shapes say of the network beyond its arch: the base width from the first conv
// weight's output channels (cnn4: layer1.conv.weight, resnets: conv1.weight, swin_t: the
// patch embedding's, whose kernel is the patch size); swin_t's window from its first relative
// position bias table, [(2 window - 1)², heads]. mlp has none (width 0).
static int infer_knobs(const char *path, ModelSpec *s, Err *e) {
  if (s->arch == ARCH_MLP) return 0;
  const char *name = s->arch == ARCH_CNN4     ? "/params/layer1.conv.weight"
                     : s->arch == ARCH_SWIN_T ? "/params/features.0.0.weight"
                                              : "/params/conv1.weight";
  hsize_t dims[4] = {0};
  if (dataset_dims(path, name, 4, dims) || dims[0] < 1 || dims[0] > 1 << 16)
    return errf(e, ERR_RUNTIME, "%s: no 4-d %s to read the %s's width from", path, name,
                arch_name(s->arch));
  s->width = (int)dims[0];
  if (s->arch != ARCH_SWIN_T) return 0;
  s->patch = (int)dims[2];
  const char *table = "/params/features.1.0.attn.relative_position_bias_table";
  if (dataset_dims(path, table, 2, dims) || dims[0] < 1 || dims[0] > 1 << 16)
    return errf(e, ERR_RUNTIME, "%s: no 2-d %s to read swin_t's window from", path, table);
  int span = (int)lround(sqrt((double)dims[0]));
  if (span * span != (int)dims[0] || span % 2 == 0)
    return errf(e, ERR_RUNTIME, "%s: %s has %d rows, not (2 window - 1)²", path, table,
                (int)dims[0]);
  s->window = (span + 1) / 2;
  return 0;
}

int eval_load_model(Model *m, const char *path, int width, int batch_capacity, CkptMeta *meta,
                    Err *e) {
  memset(m, 0, sizeof *m);
  char arch[32] = "";
  int classes = 0, shape[3] = {0, 0, 0};
  Stem stem = STEM_CIFAR;
  int rc = ckpt_peek(path, arch, sizeof arch, &classes, shape, &stem, e);
  if (rc) return rc;
  int a = arch_from_name(arch);
  if (a < 0) return errf(e, ERR_RUNTIME, "%s: unknown architecture '%s'", path, arch);
  ModelSpec s = {.arch = (Arch)a,
                 .in_c = shape[0],
                 .in_h = shape[1],
                 .in_w = shape[2],
                 .num_classes = classes,
                 .batch_capacity = batch_capacity,
                 .stem = stem};
  if ((rc = infer_knobs(path, &s, e))) return rc;
  if (width > 0) s.width = width;
  if ((rc = model_create(m, &s, e))) {
    err_context(e, "%s", path);
    model_free(m);
    return ERR_RUNTIME;
  }
  if ((rc = ckpt_load(path, m, meta, NULL, e))) model_free(m);
  return rc;
}
