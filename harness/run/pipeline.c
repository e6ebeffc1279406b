// pipeline.c: see pipeline.h.
#include "pipeline.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static void lock(PipeLock l, int begin) {
  if (l.fn) l.fn(l.user, begin);
}

int pipe_load_data(Dataset *d, const RunSpec *rs, PipeLock l, Err *e) {
  lock(l, 1);
  int rc = dataset_load(d, &rs->data, e);
  lock(l, 0);
  if (!rc && (rc = runspec_check_data(rs, d, e))) dataset_free(d);
  return rc;
}

int pipe_open(Pipe *p, const RunSpec *rs, const Dataset *d, MPI_Comm g, PipeLock l, Err *e) {
  memset(p, 0, sizeof *p);
  p->rs = *rs, p->d = d, p->g = g, p->lock = l;
  MPI_Comm_size(g, &p->gsize);
  MPI_Comm_rank(g, &p->grank);
  p->capacity = (rs->train.batch_size + p->gsize - 1) / p->gsize;
  return forget_split_make(&p->fs, &rs->forget, &d->train, &d->test, rs->split_seed, e);
}

void pipe_close(Pipe *p) {
  forget_split_free(&p->fs);
}

int pipe_mkdir(const char *dir, Err *e) {
  char buf[4096];
  snprintf(buf, sizeof buf, "%s", dir);
  for (char *q = buf + 1; *q; q++) {
    if (*q != '/') continue;
    *q = 0;
    if (mkdir(buf, 0777) != 0 && errno != EEXIST)
      return errf(e, ERR_RUNTIME, "%s: cannot create directory: %s", buf, strerror(errno));
    *q = '/';
  }
  if (mkdir(buf, 0777) != 0 && errno != EEXIST)
    return errf(e, ERR_RUNTIME, "%s: cannot create directory: %s", buf, strerror(errno));
  return 0;
}

// The group's first rank's rc on every rank, with a message on the others when it failed.
static int agree(const Pipe *p, int rc, const char *what, Err *e) {
  MPI_Bcast(&rc, 1, MPI_INT, 0, p->g);
  if (rc && p->grank != 0) errf(e, ERR_RUNTIME, "%s failed on the group's first rank", what);
  return rc;
}

int pipe_new_model(const Pipe *p, Model *m, Err *e) {
  ModelSpec ms = runspec_model(&p->rs, p->d, p->capacity);
  if (model_create(m, &ms, e)) return e->code;
  m->comm = p->g;
  return 0;
}

int pipe_load_model(const Pipe *p, const char *path, Model *m, Err *e) {
  if (pipe_new_model(p, m, e)) return e->code;
  lock(p->lock, 1);
  int rc = ckpt_load(path, m, NULL, NULL, e);
  lock(p->lock, 0);
  if (rc) model_free(m);
  return rc;
}

int pipe_load_given(const Pipe *p, const char *path, Model *m, CkptMeta *meta, Err *e) {
  char arch[32];
  int classes, shape[3];
  lock(p->lock, 1);
  int rc = ckpt_peek(path, arch, sizeof arch, &classes, shape, NULL, e);
  lock(p->lock, 0);
  if (rc) return rc;
  const ImageSet *t = &p->d->train;
  if (shape[0] != t->c || shape[1] != t->h || shape[2] != t->w)
    return errf(e, ERR_CONFIG, "%s takes %dx%dx%d images, but the data set's are %dx%dx%d", path,
                shape[0], shape[1], shape[2], t->c, t->h, t->w);
  if (pipe_new_model(p, m, e)) return e->code;
  lock(p->lock, 1);
  rc = ckpt_load(path, m, meta, NULL, e);
  lock(p->lock, 0);
  const float *mu = p->d->mean, *sd = p->d->std;
  if (!rc && !ckpt_same_norm(meta, mu, sd, t->c))
    rc = errf(e, ERR_CONFIG,
              "%s expects images normalised with mean %g, std %g (channel 0), but the data set's "
              "are %g, %g: set data.mean and data.std to the model's",
              path, meta->mean[0], meta->std[0], mu[0], sd[0]);
  if (rc) model_free(m);
  return rc;
}

int pipe_save_model(const Pipe *p, const char *dir, const char *path, const Model *m,
                    const char *role, const char *run_id, Err *e) {
  int rc = 0;
  if (p->grank == 0) {
    rc = pipe_mkdir(dir, e);
    CkptMeta meta = {0};
    snprintf(meta.role, sizeof meta.role, "%s", role);
    snprintf(meta.run_id, sizeof meta.run_id, "%s", run_id);
    for (int i = 0; i < p->d->train.c && i < DATA_MAX_CHANNELS; i++)
      meta.mean[i] = p->d->mean[i], meta.std[i] = p->d->std[i];
    lock(p->lock, 1);
    if (!rc) rc = ckpt_save(path, m, &meta, NULL, NULL, 0, e);
    lock(p->lock, 0);
  }
  return agree(p, rc, path, e);
}

int pipe_train(const Pipe *p, Model *m, int retrain, const char *dir, const char *partial,
               const UnlearnProgress *prog, Err *e) {
  TrainRecipe r = p->rs.train;
  r.checkpoint.path = partial;
  r.checkpoint.io = p->lock.fn;
  r.checkpoint.io_user = p->lock.user;
  int rc = p->grank == 0 && r.checkpoint.every > 0 ? pipe_mkdir(dir, e) : 0;
  if ((rc = agree(p, rc, dir, e))) return rc;
  const TrainProgress tp = unlearn_train_progress(prog);
  return retrain ? train_recipe_run(m, p->d, p->fs.train_retain, p->fs.n_train_retain, &r,
                                    p->rs.seed, p->g, &tp, e)
                 : train_recipe_run(m, p->d, NULL, 0, &r, p->rs.seed, p->g, &tp, e);
}

int pipe_modules(const Pipe *p, const Model *orig, AuxModules *aux, Err *e) {
  AuxSpec as = p->rs.unlearn.ec.aux;
  int rc = aux_points_from_names(&as, orig, p->rs.model.points.v, p->rs.model.points.n, e);
  if (!rc) rc = aux_create(aux, orig, &as, e);
  if (!rc) aux->comm = p->g;
  return rc;
}

int pipe_unlearn(const Pipe *p, Model *u, const Model *orig, const AuxModules *modules,
                 const UnlearnProgress *prog, Err *e) {
  int rc = unlearn_spec_check(&p->rs.unlearn, u, e);
  if (!rc)
    rc = unlearn_run(u, orig, p->d, &p->fs, &p->rs.unlearn, modules, p->rs.seed, p->g, prog, NULL,
                     e);
  return rc;
}

int pipe_evaluate(const Pipe *p, EvalResult *r, Model *m, Model *orig, Model *rt, const float *mean,
                  const float *std, Err *e) {
  return evaluate(r, m, orig, rt, p->d, &p->fs, mean ? mean : p->d->mean, std ? std : p->d->std,
                  &p->rs.eval, p->g, e);
}

int pipe_gap(const Pipe *p, double *gap, const EvalResult *r, const EvalResult *ref, Model *rt,
             EvalResult *own, const float *mean, const float *std, Err *e) {
  EvalResult measured;
  if (!ref) {  // the logit-level metrics only: the gap does not use CKA or k-NN
    EvalOptions o = p->rs.eval;
    o.cka = 0, o.knn = 0;
    int rc = evaluate(&measured, rt, NULL, NULL, p->d, &p->fs, mean ? mean : p->d->mean,
                      std ? std : p->d->std, &o, p->g, e);
    if (rc) return rc;
    if (own) *own = measured;
    ref = &measured;
  }
  *gap = eval_avg_gap(r, ref);
  return 0;
}
