// m_salun.c: SalUn (Fan et al. 2024): rl's random-label training (m_rl.c) with the backbone's
// update masked to its most salient parameters. The saliency mask: at θ_o (eval mode, as SalUn's
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

// The mask into r->ms and r->mask, before the first step (r->m is θ_o).
static int salun_mask(Run *r, Err *e) {
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
  float *mask = r->ms = malloc((size_t)np * sizeof(float));
  float *mag = malloc((size_t)np * sizeof(float));
  if (!mask || !mag) {
    free(mag);
    return errf(e, ERR_RUNTIME, "salun: out of memory for the mask of %lld parameters",
                (long long)np);
  }
  int64_t keep = (int64_t)((float)r->spec->salun.q * (double)np + 0.5);
  if (keep > np) keep = np;
  for (int64_t i = 0; i < np; i++) mag[i] = fabsf(m->grad_mem[i]);
  float threshold = keep > 0 ? select_kth(mag, np, np - keep) : 0.0f;
  int64_t above = 0;
  for (int64_t i = 0; i < np; i++) above += fabsf(m->grad_mem[i]) > threshold;
  int64_t ties = keep - above;  // parameters equal to the threshold still to take
  for (int64_t i = 0; i < np; i++) {
    float g = fabsf(m->grad_mem[i]);
    int in = keep > 0 && (g > threshold || (g == threshold && ties-- > 0));
    mask[i] = in ? 1.0f : 0.0f;
  }
  free(mag);
  model_zero_grads(m);
  r->mask = mask;
  if (r->progress && r->progress->fn) r->progress->fn(r->progress->user, "salun-mask", 1, 1, 0.0);
  return 0;
}

static void salun_free(Run *r) {
  free(r->ms);
}

static int salun_check(const UnlearnSpec *s, Err *e) {
  if (!(s->salun.q > 0 && s->salun.q <= 1))
    return errf(e, ERR_CONFIG, "unlearn.salun.q must be in (0, 1]");
  return 0;
}

const UnlearnMethodDef method_salun = {
    .name = "salun",
    .usual_lr = 0.01,
    .usual_epochs = 10,
    .n_phases = 1,
    .phase = {{.drive = DRIVE_UNION, .ec_cu = 1, .ec_ce = 1, .loss = loss_ce_targets}},
    .step = random_label_targets,
    .check = salun_check,
    .free = salun_free,
    .before = salun_mask,
};
