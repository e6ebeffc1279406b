// train_recipe.c: training from scratch with a recipe: the original model on D and the
// retrained model on D_r (see unlearn.h).
#include <math.h>
#include <string.h>

#include "train.h"
#include "unlearn.h"

int train_recipe_run(Model *m, const Dataset *d, const int32_t *subset, int64_t n,
                     const TrainRecipe *r, uint64_t seed, MPI_Comm comm,
                     const UnlearnProgress *progress, Err *e) {
  if (r->epochs < 0 || r->batch_size < 1 || !(r->lr > 0))
    return errf(e, ERR_CONFIG, "bad training recipe (epochs %d, batch %d, lr %g)", r->epochs,
                r->batch_size, r->lr);
  int rc = unlearn_check_data(m, d, e);
  if (rc) return rc;
  int size = 1;
  if (comm != MPI_COMM_NULL) MPI_Comm_size(comm, &size);
  // A working copy sized for the local share of a batch; m itself may have any capacity.
  ModelSpec spec = m->spec;
  spec.batch_capacity = (r->batch_size + size - 1) / size;
  Model w;
  rc = model_create(&w, &spec, e);
  if (rc) return rc;
  w.comm = comm;
  w.bn_sync = m->bn_sync, w.bn_momentum = m->bn_momentum, w.bn_eps = m->bn_eps;
  model_init(&w, seed);
  Sgd opt = {0};
  Batches b = {0};
  LossBuf lb = {0};
  if ((rc = sgd_init(&opt, w.n_param_floats, r->momentum, r->weight_decay, r->nesterov, e)) ||
      (rc = batches_init(&b, &d->train, d->mean, d->std, &d->aug, subset, n, r->batch_size, seed,
                         comm, e)) ||
      (rc = lossbuf_init(&lb, spec.batch_capacity, spec.num_classes, e)))
    goto done;
  LrSchedule sched = r->schedule;
  sched.base_lr = r->lr;
  sched.epochs = r->epochs;
  for (int epoch = 0; epoch < r->epochs; epoch++) {
    double loss = train_ce_epochs(&w, &opt, &b, &sched, epoch, epoch + 1, &lb);
    if (!isfinite(loss)) {
      rc = errf(e, ERR_RUNTIME, "diverged: training loss is %g in epoch %d", loss, epoch + 1);
      goto done;
    }
    if (progress && progress->fn) progress->fn(progress->user, "train", epoch + 1, r->epochs, loss);
  }
  memcpy(m->param_mem, w.param_mem, (size_t)m->n_param_floats * sizeof(float));
  memcpy(m->buffer_mem, w.buffer_mem, (size_t)m->n_buffer_floats * sizeof(float));
done:
  lossbuf_free(&lb);
  batches_free(&b);
  sgd_free(&opt);
  model_free(&w);
  return rc;
}
