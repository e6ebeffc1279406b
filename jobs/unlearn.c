// unlearn.c: unlearn_run, a method's descriptor (method.h) resolved into phases over the shared
// step (run.c) with its hooks called in place, and saving θ_u (see unlearn.h).
#include "unlearn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt.h"
#include "dist.h"
#include "rng.h"
#include "run.h"

static int div_up(int a, int b) {
  return (a + b - 1) / b;
}

// The method's phases for this spec (see unlearn.h for how each walks the data); returns how
// many.
static int make_plan(const UnlearnSpec *s, const UnlearnMethodDef *def, int ec_on, Phase *ph) {
  const int B = def->ec_alone ? s->ec.batch_size : s->batch_size;
  const int rpf = ec_on ? s->ec.retain_per_forget : 1;
  for (int i = 0; i < def->n_phases; i++) {
    const MethodPhase *p = &def->phase[i];
    int extra = 0;
    switch (p->extra) {
      case EXTRA_NONE:
        break;
      case EXTRA_B:
        extra = B;
        break;
      case EXTRA_RPF_B:
        extra = rpf * B;
        break;
      case EXTRA_EC_RPF_B:
        extra = ec_on ? rpf * B : 0;
        break;
      case EXTRA_EC_B_RPF:
        extra = ec_on ? (B / rpf > 0 ? B / rpf : 1) : 0;
        break;
    }
    ph[i] = (Phase){.def = p,
                    .name = p->name ? p->name : def->name,
                    .drive = p->drive,
                    .batch = B,
                    .extra = extra,
                    .index = i,
                    .lr_scale = p->lr_scale ? p->lr_scale(s) : 1.0};
  }
  return def->n_phases;
}

static int alloc_all(void **p, size_t bytes, int *fail) {
  *p = malloc(bytes ? bytes : 1);
  if (!*p) *fail = 1;
  return *fail;
}

// Everything a run needs beyond the models: streams, step buffers, the method's state, EC.
static int run_setup(Run *r, const AuxModules *pretrained, Err *e) {
  const Dataset *d = r->d;
  const ForgetSplit *fs = r->fs;
  const int64_t ntr = d->train.n, nf = fs->n_train_forget, nr = fs->n_train_retain;
  int fail = 0, rc;
  alloc_all((void **)&r->is_forget, (size_t)ntr, &fail);
  alloc_all((void **)&r->union_idx, (size_t)(nf + nr) * sizeof(int32_t), &fail);
  if (fail) return errf(e, ERR_RUNTIME, "out of memory for the forget split");
  memset(r->is_forget, 0, (size_t)ntr);
  for (int64_t i = 0; i < nf; i++) r->is_forget[fs->train_forget[i]] = 1;
  memcpy(r->union_idx, fs->train_forget, (size_t)nf * sizeof(int32_t));
  memcpy(r->union_idx + nf, fs->train_retain, (size_t)nr * sizeof(int32_t));
  r->n_union = nf + nr;
  if ((rc = rowsplit_init(&r->rs, r->comm, e))) return rc;
  if ((rc = cycle_init(&r->forget_cycle, fs->train_forget, nf, run_seed(r->seed, TAG_CYCLE_FORGET),
                       r->gcap, e)) ||
      (rc = cycle_init(&r->retain_cycle, fs->train_retain, nr, run_seed(r->seed, TAG_CYCLE_RETAIN),
                       r->gcap, e)))
    return rc;
  const size_t cap = (size_t)r->cap, K = (size_t)r->m.spec.num_classes;
  const size_t img = (size_t)d->train.c * d->train.h * d->train.w;
  alloc_all((void **)&r->x, cap * img * sizeof(float), &fail);
  alloc_all((void **)&r->y, cap * sizeof(int32_t), &fail);
  alloc_all((void **)&r->target, cap * sizeof(int32_t), &fail);
  alloc_all((void **)&r->idx, cap * sizeof(int32_t), &fail);
  alloc_all((void **)&r->probs, cap * K * sizeof(float), &fail);
  alloc_all((void **)&r->dlogits, cap * K * sizeof(float), &fail);
  for (int l = 0; l < r->m.n_points; l++) {
    int h, w, c;
    model_point(&r->m, l, &h, &w, &c);
    alloc_all((void **)&r->dpoints[l], cap * h * w * c * sizeof(float), &fail);
  }
  if (fail) return errf(e, ERR_RUNTIME, "out of memory for unlearning batches of %d", r->gcap);
  if (r->def->init && (rc = r->def->init(r, e))) return rc;
  if (!r->ec_on) return 0;
  // The cka probe: a seeded sample of D_f, the same on every rank.
  const EcSpec *es = &r->spec->ec;
  int n_probe = es->layer_weights.scheme == EC_WEIGHTS_CKA ? es->cka_probe : 0;
  if (n_probe > nf) n_probe = (int)nf;
  int32_t *probe = malloc((size_t)(nf > 0 ? nf : 1) * sizeof(int32_t));
  if (!probe) return errf(e, ERR_RUNTIME, "out of memory for the cka probe");
  memcpy(probe, fs->train_forget, (size_t)nf * sizeof(int32_t));
  Rng g = rng_derive(r->seed, RNG_METHOD, TAG_PROBE);
  rng_shuffle(&g, probe, nf);
  rc = ec_init(&r->ec, es, pretrained, &r->m, d, probe, n_probe, r->cap, r->gcap, r->opt.momentum,
               r->opt.weight_decay, r->comm, e);
  free(probe);
  return rc;
}

static void run_free(Run *r) {
  if (r->def->free) r->def->free(r);
  model_free(&r->m);
  if (r->has_orig) model_free(&r->orig);
  if (r->ec_on) ec_free(&r->ec);
  sgd_free(&r->opt);
  cycle_free(&r->forget_cycle), cycle_free(&r->retain_cycle);
  rowsplit_free(&r->rs);
  free(r->is_forget), free(r->union_idx);
  free(r->x), free(r->y), free(r->target), free(r->idx), free(r->probs), free(r->dlogits);
  for (int l = 0; l < MODEL_MAX_POINTS; l++) free(r->dpoints[l]);
}

// The epochs of the plan: each epoch, the method's epoch hook, then its phases in order (those
// active in the epoch).
static int run_epochs(Run *r, const Phase *ph, int n_phases, Err *e) {
  for (int epoch = 0; epoch < r->epochs; epoch++) {
    if (r->def->epoch) r->def->epoch(r, epoch);
    for (int i = 0; i < n_phases; i++) {
      if (ph[i].def->active && !ph[i].def->active(r, epoch)) continue;
      UnlearnEpoch ep;
      int rc = run_phase_epoch(r, &ph[i], epoch, &ep, e);
      if (rc) return err_context(e, "%s, epoch %d", ph[i].name, epoch + 1);
      r->last_loss = ep.loss;
      if (r->progress && r->progress->epoch_fn)
        r->progress->epoch_fn(r->progress->user, ph[i].name, epoch + 1, r->epochs, &ep);
      if (r->progress && r->progress->fn)
        r->progress->fn(r->progress->user, ph[i].name, epoch + 1, r->epochs, ep.loss);
    }
  }
  return 0;
}

int unlearn_run(Model *model, const Model *original, const Dataset *d, const ForgetSplit *fs,
                const UnlearnSpec *spec, const AuxModules *pretrained, uint64_t seed, MPI_Comm comm,
                const UnlearnProgress *progress, UnlearnStats *stats, Err *e) {
  if (stats) memset(stats, 0, sizeof *stats);
  int rc = unlearn_spec_check(spec, model, e);
  if (rc || (rc = model_check_data(model, d, e))) return rc;
  const int ec_on = unlearn_uses_ec(spec);
  if (spec->method == UNLEARN_ORIGINAL || (spec->method == UNLEARN_NONE && !ec_on)) return 0;
  if (spec->method == UNLEARN_RETRAIN) {
    const TrainProgress tp = unlearn_train_progress(progress);
    return train_recipe_run(model, d, fs->train_retain, fs->n_train_retain, &spec->retrain, seed,
                            comm, &tp, e);
  }
  if (ec_on && !pretrained) return errf(e, ERR_CONFIG, "EC needs its pretrained modules");
  if (unlearn_needs_original(spec) && !original)
    return errf(e, ERR_CONFIG, "%s needs the original model", unlearn_method_name(spec->method));
  if (fs->n_train_forget < 1 || fs->n_train_retain < 1)
    return errf(e, ERR_CONFIG, "unlearning needs non-empty forget and retain sets");

  Run r;
  memset(&r, 0, sizeof r);
  r.def = unlearn_method_def(spec->method);
  r.d = d, r.fs = fs, r.spec = spec, r.comm = comm, r.seed = seed, r.progress = progress;
  r.ec_on = ec_on;
  r.size = 1;
  if (comm != MPI_COMM_NULL) MPI_Comm_rank(comm, &r.rank), MPI_Comm_size(comm, &r.size);
  Phase ph[METHOD_MAX_PHASES];
  const int n_phases = make_plan(spec, r.def, ec_on, ph);
  for (int i = 0; i < n_phases; i++) {
    int local = div_up(ph[i].batch, r.size) + div_up(ph[i].extra, r.size);
    if (local > r.cap) r.cap = local;
    if (ph[i].batch + ph[i].extra > r.gcap) r.gcap = ph[i].batch + ph[i].extra;
  }
  const int alone = r.def->ec_alone;
  r.lr = alone ? spec->ec.lr : spec->lr;
  r.epochs = alone ? spec->ec.epochs : spec->epochs;
  if (ec_on && spec->ec.layer_weights.scheme == EC_WEIGHTS_CKA && spec->ec.cka_probe > r.cap)
    r.cap = spec->ec.cka_probe;  // the probe runs whole on every rank
  if ((rc = clone_model_for(&r.m, model, r.cap, comm, e))) return rc;
  if (unlearn_needs_original(spec)) {
    if ((rc = clone_model_for(&r.orig, original, r.cap, comm, e))) goto done;
    r.has_orig = 1;
  }
  if ((rc = sgd_init(&r.opt, r.m.n_param_floats, alone ? spec->ec.momentum : spec->momentum,
                     alone ? spec->ec.weight_decay : spec->weight_decay, 0, e)))
    goto done;
  if ((rc = run_setup(&r, pretrained, e))) goto done;
  if (r.def->before && (rc = r.def->before(&r, e))) goto done;
  if ((rc = run_epochs(&r, ph, n_phases, e))) goto done;
  memcpy(model->param_mem, r.m.param_mem, (size_t)model->n_param_floats * sizeof(float));
  memcpy(model->buffer_mem, r.m.buffer_mem, (size_t)model->n_buffer_floats * sizeof(float));
  if (stats) {
    stats->steps = r.steps;
    stats->last_loss = r.last_loss;
    if (ec_on) {
      stats->n_ec_weights = r.ec.aux.n_modules;
      memcpy(stats->ec_weights, r.ec.weights, sizeof stats->ec_weights);
    }
  }
done:
  run_free(&r);
  return rc;
}

int unlearn_save_model(const char *path, const Model *m, const Dataset *d, const char *run_id,
                       Err *e) {
  CkptMeta meta;
  memset(&meta, 0, sizeof meta);
  snprintf(meta.role, sizeof meta.role, "unlearned");
  snprintf(meta.run_id, sizeof meta.run_id, "%s", run_id ? run_id : "");
  for (int c = 0; c < d->train.c && c < DATA_MAX_CHANNELS; c++)
    meta.mean[c] = d->mean[c], meta.std[c] = d->std[c];
  return ckpt_save(path, m, &meta, NULL, NULL, 0, e);
}
