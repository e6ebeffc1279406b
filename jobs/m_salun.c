// m_salun.c: SalUn's saliency mask (Fan et al. 2024). At θ_o (eval mode, as SalUn's
// generate_mask), the gradient g of the forget loss −CE, averaged over all of D_f; the mask keeps
// the fraction q of the backbone's parameters with the largest |g|, ranked globally over every
// parameter tensor. Ties at the threshold are broken by arena order, so the mask is a pure
// function of g. The gradient is summed over the ranks first, so every rank holds the same mask.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"
#include "run.h"

// The value of rank kth (0-based, ascending) of a [n]; a is reordered. Quickselect with a
// median-of-three pivot.
static float select_kth(float *a, int64_t n, int64_t kth) {
  int64_t lo = 0, hi = n - 1;
  while (lo < hi) {
    int64_t mid = lo + (hi - lo) / 2;
    float x = a[lo], y = a[mid], z = a[hi];
    float pivot = x < y ? (y < z ? y : (x < z ? z : x)) : (x < z ? x : (y < z ? z : y));
    int64_t i = lo, j = hi;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) {
        float t = a[i];
        a[i] = a[j], a[j] = t;
        i++, j--;
      }
    }
    if (kth <= j)
      hi = j;
    else if (kth >= i)
      lo = i;
    else
      return a[kth];
  }
  return a[kth];
}

int salun_mask(Run *r, Err *e) {
  Model *m = &r->m;
  const int K = m->spec.num_classes;
  const int64_t nf = r->fs->n_train_forget, np = m->n_param_floats;
  Batches b;
  int rc = batches_init(&b, &r->d->train, r->d->mean, r->d->std, NULL, r->fs->train_forget, nf,
                        r->spec->batch_size, 0, r->comm, e);
  if (rc) return rc;
  model_zero_grads(m);
  batches_start(&b, 0, 0, 0);
  while (batches_next(&b)) {
    const int B = b.local_batch;
    model_forward(m, b.x, B, 0);
    memset(r->dlogits, 0, (size_t)B * K * sizeof(float));
    softmax_xent_forward(r->probs, model_logits(m), b.y, B, K);
    softmax_xent_backward(r->dlogits, r->probs, b.y, B, K, -1.0f / (float)nf);
    model_backward(m, r->dlogits, NULL, NULL);
  }
  batches_free(&b);
  dist_allreduce_grads(m);
  r->mask = malloc((size_t)np * sizeof(float));
  float *mag = malloc((size_t)np * sizeof(float));
  if (!r->mask || !mag) {
    free(mag);
    return errf(e, ERR_RUNTIME, "salun: out of memory for the mask of %lld parameters",
                (long long)np);
  }
  int64_t keep = (int64_t)(r->spec->salun.q * (double)np + 0.5);
  if (keep > np) keep = np;
  for (int64_t i = 0; i < np; i++) mag[i] = fabsf(m->grad_mem[i]);
  float threshold = keep > 0 ? select_kth(mag, np, np - keep) : 0.0f;
  int64_t above = 0;
  for (int64_t i = 0; i < np; i++) above += fabsf(m->grad_mem[i]) > threshold;
  int64_t ties = keep - above;  // parameters equal to the threshold still to take
  for (int64_t i = 0; i < np; i++) {
    float g = fabsf(m->grad_mem[i]);
    int in = keep > 0 && (g > threshold || (g == threshold && ties-- > 0));
    r->mask[i] = in ? 1.0f : 0.0f;
  }
  free(mag);
  model_zero_grads(m);
  return 0;
}
