// knn.c: the cosine k-NN probe (see metrics.h for the rules on ties).
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "rng.h"

enum { QUERY_BLOCK = 256 };  // queries per similarity block: [256, n_probe] floats

// out [n, d] = rows of in scaled to unit L2 norm (all-zero rows stay zero).
static void normalise_rows(float *out, const float *in, int64_t n, int d) {
  for (int64_t i = 0; i < n; i++) {
    const float *x = in + (size_t)i * d;
    float *y = out + (size_t)i * d;
    double ss = 0;
    for (int j = 0; j < d; j++) ss += (double)x[j] * x[j];
    float s = ss > 0 ? (float)(1.0 / sqrt(ss)) : 0.0f;
    for (int j = 0; j < d; j++) y[j] = x[j] * s;
  }
}

// The k largest of sim [n] (ties: lower index first) into top [k] (indices), most similar first.
static int top_k(int64_t *top, const float *sim, int64_t n, int k) {
  int have = 0;
  for (int64_t j = 0; j < n; j++) {
    float s = sim[j];
    if (have == k && !(s > sim[top[k - 1]])) continue;
    int at = have < k ? have++ : k - 1;
    // Shift down past every kept entry that is strictly less similar (equal ones stay ahead).
    while (at > 0 && sim[top[at - 1]] < s) {
      top[at] = top[at - 1];
      at--;
    }
    top[at] = j;
  }
  return have;
}

// Majority label of the neighbours top [m] (most similar first); ties: first met.
static int32_t vote(const int64_t *top, int m, const int32_t *labels, int *count) {
  int best = 0;
  for (int i = 0; i < m; i++) {
    int c = ++count[labels[top[i]]];
    if (c > best) best = c;
  }
  int32_t winner = labels[top[0]];
  for (int i = 0; i < m; i++)
    if (count[labels[top[i]]] == best) {
      winner = labels[top[i]];
      break;
    }
  for (int i = 0; i < m; i++) count[labels[top[i]]] = 0;  // ready for the next query
  return winner;
}

int knn_predict(int32_t *pred, const float *probe, const int32_t *probe_labels, int64_t n_probe,
                const float *query, int64_t n_query, int d, int k, int num_classes, Err *e) {
  if (n_query == 0) return 0;
  if (n_probe <= 0 || d <= 0 || k <= 0)
    return errf(e, ERR_RUNTIME, "k-NN needs a probe set and k > 0 (probe %lld, d %d, k %d)",
                (long long)n_probe, d, k);
  for (int64_t i = 0; i < n_probe; i++)
    if (probe_labels[i] < 0 || probe_labels[i] >= num_classes)
      return errf(e, ERR_RUNTIME, "k-NN probe label %d out of range [0, %d)", probe_labels[i],
                  num_classes);
  if (k > n_probe) k = (int)n_probe;
  float *P = malloc((size_t)n_probe * d * sizeof(float));
  float *Q = malloc((size_t)QUERY_BLOCK * d * sizeof(float));
  float *S = malloc((size_t)QUERY_BLOCK * n_probe * sizeof(float));
  int64_t *top = malloc((size_t)k * sizeof(int64_t));
  int *count = calloc((size_t)num_classes, sizeof(int));
  int rc = 0;
  if (!P || !Q || !S || !top || !count) {
    rc =
        errf(e, ERR_RUNTIME, "out of memory for the k-NN probe (%lld x %d)", (long long)n_probe, d);
    goto done;
  }
  normalise_rows(P, probe, n_probe, d);
  for (int64_t q0 = 0; q0 < n_query; q0 += QUERY_BLOCK) {
    int nb = n_query - q0 < QUERY_BLOCK ? (int)(n_query - q0) : QUERY_BLOCK;
    normalise_rows(Q, query + (size_t)q0 * d, nb, d);
    // S [nb, n_probe] = Q [nb, d] · Pᵀ
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nb, (int)n_probe, d, 1.0f, Q, d, P, d,
                0.0f, S, (int)n_probe);
    for (int i = 0; i < nb; i++) {
      int m = top_k(top, S + (size_t)i * n_probe, n_probe, k);
      pred[q0 + i] = vote(top, m, probe_labels, count);
    }
  }
done:
  free(P), free(Q), free(S), free(top), free(count);
  return rc;
}

static int cmp_i32(const void *a, const void *b) {
  int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
  return (x > y) - (x < y);
}

int knn_probe_indices(int32_t **out, int64_t *n_out, const int32_t *labels, int num_classes,
                      const int32_t *from, int64_t n_from, int64_t size, uint64_t seed, Err *e) {
  *out = NULL, *n_out = 0;
  int32_t *idx = malloc((size_t)(n_from ? n_from : 1) * sizeof(int32_t));
  int32_t *sel = malloc((size_t)(n_from ? n_from : 1) * sizeof(int32_t));
  if (!idx || !sel) {
    free(idx), free(sel);
    return errf(e, ERR_RUNTIME, "out of memory for the k-NN probe indices");
  }
  int64_t n = 0;
  if (size <= 0 || size >= n_from) {
    memcpy(sel, from, (size_t)n_from * sizeof(int32_t));
    n = n_from;
  } else {
    // Per class: its members of from, in their given order, shuffled by the class's own stream.
    uint64_t s = rng_hash(seed, 0x6b6e6e70726f6265ull);  // "knnprobe": apart from other draws
    for (int c = 0; c < num_classes; c++) {
      int64_t m = 0;
      for (int64_t i = 0; i < n_from; i++)
        if (labels[from[i]] == c) idx[m++] = from[i];
      int64_t quota = size / num_classes + (c < size % num_classes);
      Rng r = rng_derive(s, RNG_METHOD, (uint64_t)c);
      rng_shuffle(&r, idx, m);
      for (int64_t i = 0; i < m && i < quota; i++) sel[n++] = idx[i];
    }
  }
  free(idx);
  qsort(sel, (size_t)n, sizeof(int32_t), cmp_i32);
  *out = sel, *n_out = n;
  return 0;
}
