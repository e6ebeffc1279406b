// run.c: streams, step assembly, the training step and the epoch loop (see run.h).
#include "run.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"
#include "rng.h"

uint64_t run_seed(uint64_t seed, uint64_t tag) {
  return rng_hash(rng_hash(seed, RNG_METHOD), tag);
}

int clone_model_for(Model *dst, const Model *src, int capacity, MPI_Comm comm, Err *e) {
  ModelSpec s = src->spec;
  s.batch_capacity = capacity;
  int rc = model_create(dst, &s, e);
  if (rc) return rc;
  memcpy(dst->param_mem, src->param_mem, (size_t)src->n_param_floats * sizeof(float));
  memcpy(dst->buffer_mem, src->buffer_mem, (size_t)src->n_buffer_floats * sizeof(float));
  dst->comm = comm;
  dst->bn_sync = src->bn_sync;
  dst->bn_momentum = src->bn_momentum, dst->bn_eps = src->bn_eps;
  return 0;
}

int cycle_init(Cycle *c, const int32_t *subset, int64_t n, uint64_t seed, int max, Err *e) {
  memset(c, 0, sizeof *c);
  c->subset = subset, c->n = n, c->seed = seed;
  c->order = malloc((size_t)(n > 0 ? n : 1) * sizeof(int32_t));
  c->gidx = malloc((size_t)(max > 0 ? max : 1) * sizeof(int32_t));
  c->gpos = malloc((size_t)(max > 0 ? max : 1) * sizeof(int64_t));
  if (!c->order || !c->gidx || !c->gpos) {
    cycle_free(c);
    return errf(e, ERR_RUNTIME, "out of memory for a data stream of %lld", (long long)n);
  }
  data_epoch_order(c->order, subset, n, seed, 0);
  return 0;
}

void cycle_free(Cycle *c) {
  free(c->order), free(c->gidx), free(c->gpos);
  memset(c, 0, sizeof *c);
}

int cycle_take(Cycle *c, int count, int rank, int size, const Dataset *d, float *x, int32_t *y,
               int32_t *idx) {
  for (int j = 0; j < count; j++) {
    if (c->cursor == c->n) {
      c->cycle++;
      c->cursor = 0;
      data_epoch_order(c->order, c->subset, c->n, c->seed, (uint64_t)c->cycle);
    }
    c->gidx[j] = c->order[c->cursor];
    c->gpos[j] = c->cycle * c->n + c->cursor;  // unique per draw: its own augmentation
    c->cursor++;
  }
  int off, cnt;
  dist_share(count, rank, size, &off, &cnt);
  const Augment *aug = (d->aug.crop_pad || d->aug.hflip) ? &d->aug : NULL;
  data_batch(x, y, &d->train, d->mean, d->std, c->gidx + off, cnt, aug, c->seed, 0, c->gpos + off);
  memcpy(idx, c->gidx + off, (size_t)cnt * sizeof(int32_t));
  return cnt;
}

// ---------------------------------------------------------------------------------------------
// the step's local batch

static size_t image_floats(const Run *r) {
  const ImageSet *s = &r->d->train;
  return (size_t)s->c * s->h * s->w;
}

// Fills r->x, r->y, r->idx with [forget rows; retain rows], r->target with r->y, and exchanges
// the row counts.
static void assemble(Run *r, const Phase *ph, const Batches *b) {
  const size_t img = image_floats(r);
  int nf = 0, nr = 0;
  switch (ph->drive) {
    case DRIVE_FORGET:
      nf = b->local_batch;
      memcpy(r->x, b->x, (size_t)nf * img * sizeof(float));
      memcpy(r->y, b->y, (size_t)nf * sizeof(int32_t));
      memcpy(r->idx, b->idx, (size_t)nf * sizeof(int32_t));
      if (ph->extra)
        nr = cycle_take(&r->retain_cycle, ph->extra, r->rank, r->size, r->d, r->x + nf * img,
                        r->y + nf, r->idx + nf);
      break;
    case DRIVE_RETAIN:
      if (ph->extra)
        nf = cycle_take(&r->forget_cycle, ph->extra, r->rank, r->size, r->d, r->x, r->y, r->idx);
      nr = b->local_batch;
      memcpy(r->x + nf * img, b->x, (size_t)nr * img * sizeof(float));
      memcpy(r->y + nf, b->y, (size_t)nr * sizeof(int32_t));
      memcpy(r->idx + nf, b->idx, (size_t)nr * sizeof(int32_t));
      break;
    case DRIVE_UNION:
      // Forget rows first, each part in the batch's order (so the gathered global batch is in
      // the same order whatever the number of ranks).
      for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < b->local_batch; i++) {
          int forget = r->is_forget[b->idx[i]];
          if (forget != (pass == 0)) continue;
          int row = nf + nr;
          memcpy(r->x + row * img, b->x + i * img, img * sizeof(float));
          r->y[row] = b->y[i], r->idx[row] = b->idx[i];
          if (forget)
            nf++;
          else
            nr++;
        }
      break;
  }
  memcpy(r->target, r->y, (size_t)(nf + nr) * sizeof(int32_t));
  rowsplit_exchange(&r->rs, nf, nr);
}

// ---------------------------------------------------------------------------------------------
// one step

// One step; its loss, EC parts (el->total NaN: EC off in this phase) and the local count of
// forget rows classified right before the update.
static int run_step(Run *r, const Phase *ph, float lr, double *loss_out, EcLosses *el, int *right,
                    Err *e) {
  Model *m = &r->m;
  const int nf = r->rs.nf, n = nf + r->rs.nr, K = m->spec.num_classes;
  const int use_ec = r->ec_on && (ph->def->ec_cu || ph->def->ec_ce);
  const int use_points = use_ec || ph->def->points;
  if (r->def->step) r->def->step(r);  // targets, teacher logits
  if (use_ec && ph->def->ec_cu && r->spec->ec.push_original) {
    model_forward(&r->orig, r->x, nf, 0);
    ec_original_embeddings(&r->ec, &r->orig, nf);
  }
  model_forward(m, r->x, n, !(r->ec_on && r->spec->ec.freeze_bn));
  *right = count_correct(model_logits(m), r->y, r->rs.nf, K);  // forget rows [0, nf)
  el->total = NAN;  // stays NaN unless EC takes part in the step
  memset(r->dlogits, 0, (size_t)n * K * sizeof(float));
  if (use_points)
    for (int l = 0; l < m->n_points; l++) {
      int h, w, c;
      model_point(m, l, &h, &w, &c);
      memset(r->dpoints[l], 0, (size_t)n * h * w * c * sizeof(float));
    }
  double loss = 0;
  int rc = ph->def->loss ? ph->def->loss(r, &loss, e) : 0;
  if (rc) return rc;
  if (use_ec) {
    rc = ec_step_losses(&r->ec, m, &r->rs, r->y, ph->def->ec_cu, ph->def->ec_ce, r->dlogits,
                        r->dpoints, el, e);
    if (rc) return rc;
    loss += el->total;
  }
  model_zero_grads(m);
  dist_backward(m, r->dlogits, use_points ? (const float *const *)r->dpoints : NULL);
  r->step_lr = lr;
  if (r->def->grad) r->def->grad(r);  // l1sparse's subgradient, be's shadow neuron
  sgd_step(&r->opt, m->param_mem, m->grad_mem, lr, r->mask);
  if (use_ec) ec_update(&r->ec, m, lr);
  r->steps++;
  if (!isfinite(loss))
    return errf(e, ERR_RUNTIME, "diverged: %s loss is %g at step %lld", ph->name, loss,
                (long long)r->steps);
  *loss_out = loss;
  return 0;
}

// Sums of an epoch's per-step EC values, per module: the mean skips steps where a value is NaN.
typedef struct {
  double sum[4][MODEL_MAX_POINTS];  // cu, ce, cos_fr, spread
  int n[4][MODEL_MAX_POINTS];
} EcSums;

static void ec_sums_add(EcSums *a, const EcLosses *el, int L) {
  if (isnan(el->total)) return;
  for (int k = 0; k < L; k++) {
    const double v[4] = {el->cu[k], el->ce[k], el->cos_fr[k], el->spread[k]};
    for (int j = 0; j < 4; j++)
      if (!isnan(v[j])) a->sum[j][k] += v[j], a->n[j][k]++;
  }
}

static double mean_or_nan(double sum, int n) {
  return n ? sum / n : NAN;
}

int run_phase_epoch(Run *r, const Phase *ph, int epoch, UnlearnEpoch *ep, Err *e) {
  // The retain-driven walk: the retain part of the union (D_r, or a method's subset of it).
  const int64_t nf = r->fs->n_train_forget;
  const int32_t *subset = ph->drive == DRIVE_FORGET   ? r->fs->train_forget
                          : ph->drive == DRIVE_RETAIN ? r->union_idx + nf
                                                      : r->union_idx;
  int64_t n = ph->drive == DRIVE_FORGET   ? nf
              : ph->drive == DRIVE_RETAIN ? r->n_union - nf
                                          : r->n_union;
  Batches b;
  int rc = batches_init(&b, &r->d->train, r->d->mean, r->d->std, &r->d->aug, subset, n, ph->batch,
                        run_seed(r->seed, TAG_PHASE + ph->index), r->comm, e);
  if (rc) return rc;
  batches_start(&b, (uint64_t)epoch, 1, 0);
  r->epoch = epoch, r->phase = ph->index;
  const int steps = (int)batches_per_epoch(&b);
  LrSchedule sched = {
      .kind = r->spec->schedule, .base_lr = (float)(r->lr * ph->lr_scale), .epochs = r->epochs};
  const int L = r->ec_on ? r->ec.aux.n_modules : 0;
  double sum = 0, right = 0, seen = 0;
  EcSums es;
  memset(&es, 0, sizeof es);
  int s = 0;
  for (; batches_next(&b); s++) {
    assemble(r, ph, &b);
    double loss = 0;
    EcLosses el;
    int ok = 0;
    if ((rc = run_step(r, ph, lr_at(&sched, epoch, s, steps), &loss, &el, &ok, e))) break;
    sum += loss;
    right += ok, seen += r->rs.nf;
    ec_sums_add(&es, &el, L);
  }
  batches_free(&b);
  memset(ep, 0, sizeof *ep);
  ep->loss = s ? sum / s : 0.0;
  right = dist_sum(r->comm, right), seen = dist_sum(r->comm, seen);
  ep->forget_acc = seen > 0 ? right / seen : NAN;
  ep->n_points = L;
  for (int k = 0; k < L; k++) {
    ep->point[k] = r->ec.aux.mod[k].name;
    ep->cu[k] = mean_or_nan(es.sum[0][k], es.n[0][k]);
    ep->ce[k] = mean_or_nan(es.sum[1][k], es.n[1][k]);
    ep->cos_fr[k] = mean_or_nan(es.sum[2][k], es.n[2][k]);
    ep->spread[k] = mean_or_nan(es.sum[3][k], es.n[3][k]);
    ep->weight[k] = r->ec.weights[k];
  }
  return rc;
}
