// cka.c: linear CKA in its feature and Gram forms (see metrics.h for the precision choice).
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"
#include "metrics.h"
#include "train.h"

int cka_use_gram(int n, int p, int q) {
  return p > n || q > n;
}

// Subtracts from each column of X [n, p] its mean (accumulated in double).
static int center_columns(float *X, int n, int p) {
  double *mean = calloc((size_t)p, sizeof(double));
  if (!mean) return -1;
  for (int i = 0; i < n; i++) {
    const float *row = X + (size_t)i * p;
    for (int j = 0; j < p; j++) mean[j] += row[j];
  }
  for (int j = 0; j < p; j++) mean[j] /= n;
  for (int i = 0; i < n; i++) {
    float *row = X + (size_t)i * p;
    for (int j = 0; j < p; j++) row[j] = (float)(row[j] - mean[j]);
  }
  free(mean);
  return 0;
}

// Σ_ij A_ij B_ij over symmetric [m, m] matrices of which only the upper triangle is valid.
static double sym_dot(const float *A, const float *B, int m) {
  double diag = 0, off = 0;
  for (int i = 0; i < m; i++) {
    const float *a = A + (size_t)i * m, *b = B + (size_t)i * m;
    diag += (double)a[i] * b[i];
    for (int j = i + 1; j < m; j++) off += (double)a[j] * b[j];
  }
  return diag + 2 * off;
}

int cka_rep_make(CkaRep *r, float *X, int n, int p, int gram, Err *e) {
  memset(r, 0, sizeof *r);
  r->n = n, r->p = p, r->gram = gram;
  if (n < 1 || p < 1) return errf(e, ERR_RUNTIME, "CKA of an empty batch (%d x %d)", n, p);
  if (center_columns(X, n, p)) return errf(e, ERR_RUNTIME, "out of memory for CKA");
  // The product this form needs: K = XcXcᵀ [n, n] or C = XcᵀXc [p, p]; its norm either way.
  int m = gram ? n : p;
  float *prod = malloc((size_t)m * m * sizeof(float));
  if (!prod) return errf(e, ERR_RUNTIME, "out of memory for a %d x %d CKA matrix", m, m);
  if (gram)
    cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, n, p, 1.0f, X, p, 0.0f, prod, n);
  else
    cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, p, n, 1.0f, X, p, 0.0f, prod, p);
  r->norm = sqrt(sym_dot(prod, prod, m));
  if (gram) {
    r->K = prod;
    return 0;
  }
  free(prod);
  r->Xc = malloc((size_t)n * p * sizeof(float));
  if (!r->Xc) return errf(e, ERR_RUNTIME, "out of memory for CKA features");
  memcpy(r->Xc, X, (size_t)n * p * sizeof(float));
  return 0;
}

void cka_rep_free(CkaRep *r) {
  free(r->K), free(r->Xc);
  r->K = r->Xc = NULL;
}

// ‖YcᵀXc‖²_F, in column blocks of Xc so that the float scratch stays small.
static double cross_feature(const float *Xc, int p, const float *Yc, int q, int n) {
  enum { BLOCK = 256 };
  int bw = p < BLOCK ? p : BLOCK;
  float *C = malloc((size_t)q * bw * sizeof(float));
  if (!C) return NAN;
  double sum = 0;
  for (int j0 = 0; j0 < p; j0 += bw) {
    int w = p - j0 < bw ? p - j0 : bw;
    // C [q, w] = Ycᵀ [q, n] · Xc[:, j0:j0+w] [n, w]
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, q, w, n, 1.0f, Yc, q, Xc + j0, p, 0.0f, C,
                w);
    for (size_t i = 0; i < (size_t)q * w; i++) sum += (double)C[i] * C[i];
  }
  free(C);
  return sum;
}

double cka_rep_cka(const CkaRep *a, const CkaRep *b) {
  if (a->n != b->n || a->gram != b->gram || a->n < 2) return NAN;
  double cross =
      a->gram ? sym_dot(a->K, b->K, a->n) : cross_feature(a->Xc, a->p, b->Xc, b->p, a->n);
  double den = a->norm * b->norm;
  return den > 0 ? cross / den : NAN;
}

// CKA of copies of X and Y (the inputs stay untouched) in the given form.
static double cka_form(const float *X, int n, int p, const float *Y, int q, int gram) {
  if (n < 2 || p < 1 || q < 1) return NAN;
  float *x = malloc((size_t)n * p * sizeof(float)), *y = malloc((size_t)n * q * sizeof(float));
  double cka = NAN;
  CkaRep a = {0}, b = {0};
  if (x && y) {
    memcpy(x, X, (size_t)n * p * sizeof(float));
    memcpy(y, Y, (size_t)n * q * sizeof(float));
    if (!cka_rep_make(&a, x, n, p, gram, NULL) && !cka_rep_make(&b, y, n, q, gram, NULL))
      cka = cka_rep_cka(&a, &b);
  }
  cka_rep_free(&a), cka_rep_free(&b);
  free(x), free(y);
  return cka;
}

double cka_feature(const float *X, int n, int p, const float *Y, int q) {
  return cka_form(X, n, p, Y, q, 0);
}

double cka_gram(const float *X, int n, int p, const float *Y, int q) {
  return cka_form(X, n, p, Y, q, 1);
}

double cka_linear(const float *X, int n, int p, const float *Y, int q) {
  return cka_form(X, n, p, Y, q, cka_use_gram(n, p, q));
}

// ----------------------------------------------------------------------------------------------
// CKA between models at every supervision point, data-parallel over a rank group.
//
// Per batch, each rank forwards its share of the images through each model; the full batch's
// activations at point l are gathered (MPI_Gatherv, data-set order) on the rank that owns l,
// which turns them into that model's representation, then compares the models. Points are
// dealt to ranks largest-cost first (the cost of the Gram or feature product), so the ssyrk
// work is split over the group; every gather of a model precedes any compute, so no rank
// waits on another's arithmetic. The per-point sums are then added over the group (one owner
// contributes each; the others add exact zeros), so every rank ends with the owner's numbers,
// which are those a single rank computes.

typedef struct {
  float **acts;  // [L] of [capacity, p_l]
  const int *p;
  int L;
} CopyPoints;

static void copy_points(void *vctx, const Model *m, int first, int count) {
  CopyPoints *c = vctx;
  for (int l = 0; l < c->L; l++)
    memcpy(c->acts[l] + (size_t)first * c->p[l], model_point(m, l, NULL, NULL, NULL),
           (size_t)count * c->p[l] * sizeof(float));
}

// Each point to a rank: largest cost first, to the least-loaded rank (lowest rank on ties).
static void deal_points(int *owner, const double *cost, int L, int size) {
  double load[MODEL_MAX_POINTS] = {0};
  int done[MODEL_MAX_POINTS] = {0};
  for (int it = 0; it < L; it++) {
    int l = -1;
    for (int j = 0; j < L; j++)
      if (!done[j] && (l < 0 || cost[j] > cost[l])) l = j;
    int r = 0;
    for (int k = 1; k < size && k < MODEL_MAX_POINTS; k++)
      if (load[k] < load[r]) r = k;
    owner[l] = r, done[l] = 1, load[r] += cost[l];
  }
}

// The batch's rows, in data-set order, onto root: dst [global, p] from src [local, p].
static void gather_rows(float *dst, const float *src, int p, int global, int root, int rank,
                        int size, int *counts, int *displs, MPI_Comm comm) {
  int off, cnt;
  for (int r = 0; r < size; r++) {
    dist_share(global, r, size, &off, &cnt);
    counts[r] = cnt * p, displs[r] = off * p;
  }
  MPI_Gatherv(src, counts[rank], MPI_FLOAT, dst, counts, displs, MPI_FLOAT, root, comm);
}

// 1 if any rank of comm failed (bad != 0); a rank that did not fail gets a message saying so.
static int agree(int bad, MPI_Comm comm, Err *e) {
  int any = bad != 0;
  if (comm != MPI_COMM_NULL) MPI_Allreduce(MPI_IN_PLACE, &any, 1, MPI_INT, MPI_MAX, comm);
  if (any && !bad) errf(e, ERR_RUNTIME, "CKA failed on another rank of the group");
  return any;
}

int cka_points(double *cka, int *n_batches, Model *m, Model *const *refs, int n_refs,
               const ImageSet *set, const int32_t *subset, int64_t n, const float *mean,
               const float *std, int batch, int min_last, MPI_Comm comm, Err *e) {
  Err local = {0};
  if (!e) e = &local;
  const int L = m->n_points;
  for (int i = 0; i < n_refs * MODEL_MAX_POINTS; i++) cka[i] = NAN;
  *n_batches = 0;
  int rank = 0, size = 1;
  if (comm != MPI_COMM_NULL) MPI_Comm_rank(comm, &rank), MPI_Comm_size(comm, &size);
  if (batch < 2 || n_refs < 1 || n_refs > CKA_MAX_REFS)
    return errf(e, ERR_CONFIG, "CKA needs batches of at least 2 images (got %d) and 1 to %d models",
                batch, CKA_MAX_REFS);
  // Batches: full ones, and a trailing partial one if big enough (or if it is the only one).
  int64_t full = n / batch, rest = n % batch;
  if (min_last <= 0) min_last = batch / 2;
  int use_last = rest >= 2 && (rest >= min_last || full == 0);
  int nb_total = (int)(full + use_last);
  if (nb_total == 0) return 0;

  int p[MODEL_MAX_POINTS], owner[MODEL_MAX_POINTS];
  double cost[MODEL_MAX_POINTS];  // of the product each representation needs, per model
  for (int l = 0; l < L; l++) {
    int h, w, c;
    model_point(m, l, &h, &w, &c);
    p[l] = h * w * c;
    cost[l] = (double)batch * p[l] * (cka_use_gram(batch, p[l], p[l]) ? batch : p[l]);
  }
  deal_points(owner, cost, L, size);

  Model *models[1 + CKA_MAX_REFS] = {m};
  for (int j = 0; j < n_refs; j++) models[1 + j] = refs[j];
  const int cap = (batch + size - 1) / size;
  float *acts[MODEL_MAX_POINTS] = {0}, *gathered[MODEL_MAX_POINTS] = {0};
  CkaRep rep[1 + CKA_MAX_REFS][MODEL_MAX_POINTS];
  memset(rep, 0, sizeof rep);
  double sums[CKA_MAX_REFS * MODEL_MAX_POINTS] = {0};
  int *counts = malloc((size_t)size * sizeof(int)), *displs = malloc((size_t)size * sizeof(int));
  int bad = !counts || !displs;  // this rank failed; it still takes part in every collective
  for (int l = 0; l < L && !bad; l++) {
    if ((int64_t)batch * p[l] > INT32_MAX) {
      bad = errf(e, ERR_CONFIG, "CKA batch of %d x %d activations at %s is too large", batch, p[l],
                 m->point_names[l]);
      break;
    }
    acts[l] = malloc((size_t)cap * p[l] * sizeof(float));
    if (size > 1 && owner[l] == rank) gathered[l] = malloc((size_t)batch * p[l] * sizeof(float));
    bad = !acts[l] || (size > 1 && owner[l] == rank && !gathered[l]);
  }
  if (bad && !e->code) errf(e, ERR_RUNTIME, "out of memory for CKA activations");
  Batches b;
  memset(&b, 0, sizeof b);
  if (!bad && batches_init(&b, set, mean, std, NULL, subset, n, batch, 0, comm, e)) bad = 1;
  // The loop below is collective: all ranks enter it, or none.
  if (!agree(bad, comm, e)) {
    batches_start(&b, 0, 0, 0);
    for (int t = 0; t < nb_total; t++) {
      batches_next(&b);
      const int nb = b.this_global;
      for (int j = 0; j <= n_refs; j++) {
        if (!models[j]) continue;
        CopyPoints cp = {acts, p, L};
        metrics_forward_chunks(models[j], b.x, b.local_batch, copy_points, &cp);
        for (int l = 0; l < L; l++)  // every gather of this model before any compute
          if (size > 1)
            gather_rows(gathered[l], acts[l], p[l], nb, owner[l], rank, size, counts, displs, comm);
        for (int l = 0; l < L; l++)
          if (owner[l] == rank && !bad)
            bad = cka_rep_make(&rep[j][l], size > 1 ? gathered[l] : acts[l], nb, p[l],
                               cka_use_gram(nb, p[l], p[l]), e) != 0;
      }
      for (int l = 0; l < L; l++) {
        if (owner[l] != rank) continue;
        for (int j = 0; j < n_refs && !bad; j++)
          if (models[1 + j])
            sums[j * MODEL_MAX_POINTS + l] += cka_rep_cka(&rep[0][l], &rep[1 + j][l]);
        for (int j = 0; j <= n_refs; j++) cka_rep_free(&rep[j][l]);
      }
    }
    bad = agree(bad, comm, e);
    if (size > 1)
      MPI_Allreduce(MPI_IN_PLACE, sums, CKA_MAX_REFS * MODEL_MAX_POINTS, MPI_DOUBLE, MPI_SUM, comm);
  } else {
    bad = 1;
  }
  batches_free(&b);
  for (int l = 0; l < L; l++) free(acts[l]), free(gathered[l]);
  free(counts), free(displs);
  if (bad) return e->code ? e->code : ERR_RUNTIME;
  for (int j = 0; j < n_refs; j++)
    for (int l = 0; l < L; l++)
      if (models[1 + j]) cka[j * MODEL_MAX_POINTS + l] = sums[j * MODEL_MAX_POINTS + l] / nb_total;
  *n_batches = nb_total;
  return 0;
}
