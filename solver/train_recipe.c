// train_recipe.c: training from scratch with a recipe: the original model on D and the
// retrained model on D_r, with resumable checkpoints at epoch boundaries (see train.h).
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "ckpt.h"
#include "train.h"

static void io_bracket(const TrainCheckpoint *c, int begin) {
  if (c->io) c->io(c->io_user, begin);
}

// Loads the partial checkpoint into w and opt if it belongs to this run on every rank of the
// group; returns the epochs already done (0: from scratch, w and opt as initialised).
static int resume_point(Model *w, Sgd *opt, const TrainCheckpoint *c, const TrainRecipe *r,
                        int64_t steps_per_epoch, uint64_t seed, MPI_Comm comm) {
  struct stat st;
  int done = 0;
  if (stat(c->path, &st) == 0 && S_ISREG(st.st_mode)) {
    CkptMeta meta;
    Err e = {0};
    io_bracket(c, 1);
    int rc = ckpt_load(c->path, w, &meta, opt, &e);
    io_bracket(c, 0);
    if (rc == 0 && meta.has_progress && meta.seed == seed && meta.step == 0 && meta.epoch > 0 &&
        meta.epoch <= r->epochs && meta.opt_steps == meta.epoch * steps_per_epoch)
      done = (int)meta.epoch;
  }
  int lo = done, hi = done;
  if (comm != MPI_COMM_NULL) {
    MPI_Allreduce(&done, &lo, 1, MPI_INT, MPI_MIN, comm);
    MPI_Allreduce(&done, &hi, 1, MPI_INT, MPI_MAX, comm);
  }
  if (lo == hi && lo > 0) return lo;
  // Nothing (or not the same thing on every rank): start afresh, undoing any partial load.
  model_init(w, seed);
  memset(opt->velocity, 0, (size_t)opt->n * sizeof(float));
  opt->steps = 0;
  return 0;
}

// Saves the state after `epochs` epochs on the group's first rank; the others wait.
static int save_point(const Model *w, const Sgd *opt, const Dataset *d, const TrainCheckpoint *c,
                      int epochs, uint64_t seed, MPI_Comm comm, Err *e) {
  int rank = 0, rc = 0;
  if (comm != MPI_COMM_NULL) MPI_Comm_rank(comm, &rank);
  if (rank == 0) {
    CkptMeta meta = {.role = "partial", .has_progress = 1, .seed = seed, .epoch = epochs};
    for (int i = 0; i < d->train.c && i < DATA_MAX_CHANNELS; i++)
      meta.mean[i] = d->mean[i], meta.std[i] = d->std[i];
    io_bracket(c, 1);
    rc = ckpt_save(c->path, w, &meta, opt, NULL, 0, e);
    io_bracket(c, 0);
  }
  if (comm != MPI_COMM_NULL) MPI_Bcast(&rc, 1, MPI_INT, 0, comm);
  if (rc && rank != 0)
    errf(e, ERR_RUNTIME, "%s: saving the training checkpoint failed on the group's first rank",
         c->path);
  return rc;
}

LrSchedule train_recipe_schedule(const TrainRecipe *r) {
  LrSchedule s = {.kind = r->schedule,
                  .base_lr = (float)r->lr,
                  .epochs = r->epochs,
                  .step_size = r->step_size > 0 ? r->step_size : (r->epochs + 2) / 3,
                  .gamma = (float)r->gamma,
                  .warmup_epochs = r->warmup_epochs};
  if (r->milestones.n > 0) {
    s.n_milestones = r->milestones.n < 8 ? r->milestones.n : 8;
    for (int i = 0; i < s.n_milestones; i++) s.milestones[i] = r->milestones.v[i];
  } else {  // half and three quarters of the epochs
    s.n_milestones = 2;
    s.milestones[0] = r->epochs / 2;
    s.milestones[1] = r->epochs * 3 / 4;
  }
  return s;
}

int model_check_data(const Model *m, const Dataset *d, Err *e) {
  const ModelSpec *s = &m->spec;
  const ImageSet *t = &d->train;
  if (s->in_c != t->c || s->in_h != t->h || s->in_w != t->w || s->num_classes != t->num_classes)
    return errf(e, ERR_CONFIG,
                "the %s takes %dx%dx%d images in %d classes, the data set has %dx%dx%d in %d",
                arch_name(s->arch), s->in_c, s->in_h, s->in_w, s->num_classes, t->c, t->h, t->w,
                t->num_classes);
  return 0;
}

int train_recipe_run(Model *m, const Dataset *d, const int32_t *subset, int64_t n,
                     const TrainRecipe *r, uint64_t seed, MPI_Comm comm,
                     const TrainProgress *progress, Err *e) {
  const TrainCheckpoint *ck = &r->checkpoint;
  if (r->epochs < 0 || r->batch_size < 1 || !(r->lr > 0))
    return errf(e, ERR_CONFIG, "bad training recipe (epochs %d, batch %d, lr %g)", r->epochs,
                r->batch_size, r->lr);
  if (ck->every < 0 || ck->stop_after < 0)
    return errf(e, ERR_CONFIG, "bad checkpoint interval %d or stop %d", ck->every, ck->stop_after);
  int rc = model_check_data(m, d, e);
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
  const LrSchedule sched = train_recipe_schedule(r);
  int start = 0;
  if (ck->path) {
    batches_start(&b, 0, 1, 0);  // a training epoch's length (the shuffle drops a lone sample)
    start = resume_point(&w, &opt, ck, r, batches_per_epoch(&b), seed, comm);
    if (start > 0 && progress && progress->fn)
      progress->fn(progress->user, "resume", start, r->epochs, NAN);
  }
  for (int epoch = start; epoch < r->epochs; epoch++) {
    double loss = train_ce_epochs(&w, &opt, &b, &sched, epoch, epoch + 1, &lb);
    if (!isfinite(loss)) {
      rc = errf(e, ERR_RUNTIME, "diverged: training loss is %g in epoch %d", loss, epoch + 1);
      goto done;
    }
    if (progress && progress->fn) progress->fn(progress->user, "train", epoch + 1, r->epochs, loss);
    int stop = ck->stop_after > 0 && epoch + 1 == ck->stop_after && epoch + 1 < r->epochs;
    int save = ck->every > 0 && (epoch + 1) % ck->every == 0 && epoch + 1 < r->epochs;
    if (ck->path && (save || stop) && (rc = save_point(&w, &opt, d, ck, epoch + 1, seed, comm, e)))
      goto done;
    if (stop) {
      rc = errf(e, ERR_RUNTIME, "stopped after epoch %d of %d (checkpoint.stop_after)", epoch + 1,
                r->epochs);
      goto done;
    }
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
