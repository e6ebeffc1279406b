// sweep_items.c: what each kind of work item of a sweep does on its group of ranks (see
// sweep.h): train or load the shared models, unlearn, evaluate, fill the result row.
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "sweep_internal.h"

// HDF5 is not thread-safe: on world rank 0 the coordinator thread writes the results file.
static void io_begin(Sweep *s) {
  if (s->world_rank == 0) pthread_mutex_lock(&s->io_lock);
}

static void io_end(Sweep *s) {
  if (s->world_rank == 0) pthread_mutex_unlock(&s->io_lock);
}

void sweep_cache_path(const Sweep *s, const char *kind, uint64_t id, const char *ext, char *out,
                      size_t size) {
  char hex[17];
  plan_id_text(id, hex);
  snprintf(out, size, "%s/%s-%s.%s", s->cache_dir, kind, hex, ext);
}

int sweep_file_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int mkdir_p(const char *dir, Err *e) {
  char buf[4096];
  snprintf(buf, sizeof buf, "%s", dir);
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    if (mkdir(buf, 0777) != 0 && errno != EEXIST)
      return errf(e, ERR_RUNTIME, "%s: cannot create directory: %s", buf, strerror(errno));
    *p = '/';
  }
  if (mkdir(buf, 0777) != 0 && errno != EEXIST)
    return errf(e, ERR_RUNTIME, "%s: cannot create directory: %s", buf, strerror(errno));
  return 0;
}

// The data set a run needs: loaded once per process and kept (runs of a sweep mostly share it).
static int get_data(Sweep *s, const RunSpec *rs, const Dataset **out, Err *e) {
  for (int i = 0; i < s->n_data; i++)
    if (!memcmp(&s->data[i].spec, &rs->data, sizeof rs->data)) {
      *out = &s->data[i].d;
      return 0;
    }
  if (s->n_data == SWEEP_MAX_DATA) {  // evict the oldest
    dataset_free(&s->data[0].d);
    memmove(&s->data[0], &s->data[1], (SWEEP_MAX_DATA - 1) * sizeof s->data[0]);
    s->n_data--;
  }
  DataSlot *slot = &s->data[s->n_data];
  slot->spec = rs->data;
  io_begin(s);
  int rc = dataset_load(&slot->d, &rs->data, e);
  io_end(s);
  if (!rc && (rc = runspec_check_data(rs, &slot->d, e))) dataset_free(&slot->d);
  if (rc) return rc;
  s->n_data++;
  *out = &slot->d;
  return 0;
}

// Everything an item works with; freed by ctx_free.
typedef struct {
  Config cfg;
  RunSpec rs;
  const Dataset *d;
  ForgetSplit fs;
  int capacity;  // local batch capacity of the models
  int gsize, grank;
} ItemCtx;

static int ctx_init(Sweep *s, ItemCtx *c, int run, MPI_Comm g, Err *e) {
  memset(c, 0, sizeof *c);
  plan_run_config(s->plan, run, &c->cfg);
  if (runspec_from_config(&c->rs, &c->cfg, e)) return e->code;
  MPI_Comm_size(g, &c->gsize);
  MPI_Comm_rank(g, &c->grank);
  if (get_data(s, &c->rs, &c->d, e)) return e->code;
  if (forget_split_make(&c->fs, &c->rs.forget, &c->d->train, &c->d->test, c->rs.split_seed, e))
    return e->code;
  int batch = c->rs.train.batch_size;
  c->capacity = (batch + c->gsize - 1) / c->gsize;
  return 0;
}

static void ctx_free(ItemCtx *c) {
  forget_split_free(&c->fs);
}

static int new_model(ItemCtx *c, Model *m, MPI_Comm g, Err *e) {
  ModelSpec ms = runspec_model(&c->rs, c->d, c->capacity);
  if (model_create(m, &ms, e)) return e->code;
  m->comm = g;
  return 0;
}

// Loads a cached checkpoint into a new model (every rank reads the file).
static int load_model(Sweep *s, ItemCtx *c, const char *path, Model *m, MPI_Comm g, Err *e) {
  if (new_model(c, m, g, e)) return e->code;
  io_begin(s);
  int rc = ckpt_load(path, m, NULL, NULL, e);
  io_end(s);
  if (rc) model_free(m);
  return rc;
}

// Saves on the group's first rank; the others wait, so the file is complete when the item is
// reported done.
static int save_model(Sweep *s, ItemCtx *c, const char *path, const Model *m, const char *role,
                      MPI_Comm g, Err *e) {
  int rc = 0;
  if (c->grank == 0) {
    rc = mkdir_p(s->cache_dir, e);
    CkptMeta meta = {0};
    snprintf(meta.role, sizeof meta.role, "%s", role);
    for (int i = 0; i < c->d->train.c && i < DATA_MAX_CHANNELS; i++)
      meta.mean[i] = c->d->mean[i], meta.std[i] = c->d->std[i];
    io_begin(s);
    if (!rc) rc = ckpt_save(path, m, &meta, NULL, NULL, 0, e);
    io_end(s);
  }
  MPI_Bcast(&rc, 1, MPI_INT, 0, g);
  if (rc && c->grank != 0)
    errf(e, ERR_RUNTIME, "%s: saving failed on the group's first rank", path);
  return rc;
}

// Per-epoch lines of long items, from the group's first rank.
typedef struct {
  Sweep *s;
  const char *label;
  double t0;
  int grank;
  const char *partial;  // the training's partial checkpoint (NULL: none)
  int epoch_lines;      // an unlearning run: on_unlearn_epoch prints its epochs
} ProgressCtx;

static void on_epoch(void *user, const char *phase, int epoch, int epochs, double loss) {
  ProgressCtx *p = user;
  double t = clock_now() - p->t0;
  if (p->s->args->quiet || p->grank != 0 || p->epoch_lines) return;
  if (!strcmp(phase, "resume")) {  // always said: the run did not start from scratch
    printf("      %s: resuming after epoch %d/%d from %s\n", p->label, epoch, epochs,
           p->partial ? p->partial : "a checkpoint");
    fflush(stdout);
    return;
  }
  if (t < 10) return;
  printf("      %s: %s epoch %d/%d, loss %.4f, %.0f s\n", p->label, phase, epoch, epochs, loss, t);
  fflush(stdout);
}

// An unlearning run's epoch: one line with its loss, the forget accuracy of its training
// batches and, with EC, per point: the contrastive and CE parts, the mean forget-retain
// cosine and the spread of the embeddings (a spread near 0 is a collapse).
// One trace entry more in s->trace (dropped if it cannot grow: the trace is a diagnostic).
static ResultTrace *trace_add(Sweep *s, const char *phase, int epoch, const char *point) {
  if (s->n_trace == s->trace_cap) {
    int cap = s->trace_cap ? 2 * s->trace_cap : 64;
    ResultTrace *t = realloc(s->trace, (size_t)cap * sizeof *t);
    if (!t) return NULL;
    s->trace = t, s->trace_cap = cap;
  }
  ResultTrace *t = &s->trace[s->n_trace++];
  memset(t, 0, sizeof *t);
  snprintf(t->phase, sizeof t->phase, "%s", phase);
  snprintf(t->point, sizeof t->point, "%s", point);
  t->epoch = epoch;
  t->loss = t->forget_acc = t->cu = t->ce = t->cos_fr = t->spread = t->weight = NAN;
  return t;
}

static void on_unlearn_epoch(void *user, const char *phase, int epoch, int epochs,
                             const UnlearnEpoch *ep) {
  ProgressCtx *p = user;
  if (p->grank != 0) return;
  ResultTrace *t = trace_add(p->s, phase, epoch, "");
  if (t) t->loss = ep->loss, t->forget_acc = ep->forget_acc;
  for (int k = 0; k < ep->n_points; k++)
    if ((t = trace_add(p->s, phase, epoch, ep->point[k]))) {
      t->cu = ep->cu[k], t->ce = ep->ce[k], t->cos_fr = ep->cos_fr[k];
      t->spread = ep->spread[k], t->weight = ep->weight[k];
    }
  if (p->s->args->quiet) return;
  char line[2048];
  int n =
      snprintf(line, sizeof line, "      %s: %s epoch %d/%d, loss %.4f, forget acc %.3f, %.0f s",
               p->label, phase, epoch, epochs, ep->loss, ep->forget_acc, clock_now() - p->t0);
  for (int k = 0; k < ep->n_points && n < (int)sizeof line; k++)
    n += snprintf(line + n, sizeof line - (size_t)n,
                  "\n        %-8s cu %8.4f  ce %.4f  cos(f,r) %.3f  spread %.3f  w %.2f",
                  ep->point[k], ep->cu[k], ep->ce[k], ep->cos_fr[k], ep->spread[k], ep->weight[k]);
  printf("%s\n", line);
  fflush(stdout);
}

// Row fields every row has: id, method, seed and the axis values (job rows only the data,
// model, training and forget keys; keys that do not apply are "").
static void row_common(const Sweep *s, ResultRow *row, const Config *c, const char *run_id,
                       const char *method, int ec, int job_row) {
  snprintf(row->run_id, sizeof row->run_id, "%s", run_id);
  snprintf(row->method, sizeof row->method, "%s", method);
  row->ec = ec;
  row->seed = c->seed;
  for (int k = 0; k < s->plan->n_columns; k++) {
    int key = s->plan->columns[k];
    const KeySpec *ks = &config_schema[key];
    int keep = config_applies(ks->when, c) && (!job_row || (ks->flags & (J_ORIGINAL | J_FORGET)));
    CfgValue v;
    char buf[RESULTS_VALUE_LEN] = "";
    if (keep) {
      config_get(c, key, &v);
      config_value_text(key, &v, buf, sizeof buf);
    }
    snprintf(row->axis[k], sizeof row->axis[k], "%s", buf);
  }
}

static void row_metrics(ResultRow *row, const EvalResult *r) {
  row->forget_acc = r->forget_acc, row->retain_acc = r->retain_acc;
  row->test_retain_acc = r->test_retain_acc, row->test_forget_acc = r->test_forget_acc;
  row->mia_efficacy = r->mia_efficacy;
  for (int l = 0; l < r->n_points && l < RESULTS_MAX_POINTS; l++) {
    row->cka_original[l] = r->cka_original[l];
    row->cka_retrain[l] = r->cka_retrain[l];
    row->knn_forget_acc[l] = r->knn_forget_acc[l];
  }
}

static int row_failed(ResultRow *row, const Err *e) {
  snprintf(row->status, sizeof row->status, "failed: %.240s", e->msg);
  return 1;
}

// The retrained model's logit-level metrics, kept beside its checkpoint for the avg gap.
static int write_metrics(const char *path, const EvalResult *r, Err *e) {
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
  FILE *f = fopen(tmp, "w");
  if (!f) return errf(e, ERR_RUNTIME, "%s: cannot write: %s", tmp, strerror(errno));
  fprintf(f, "forget_acc=%.17g\nretain_acc=%.17g\ntest_retain_acc=%.17g\nmia_efficacy=%.17g\n",
          r->forget_acc, r->retain_acc, r->test_retain_acc, r->mia_efficacy);
  if (fclose(f) != 0 || rename(tmp, path) != 0) {
    remove(tmp);
    return errf(e, ERR_RUNTIME, "%s: cannot write", path);
  }
  return 0;
}

static void read_metrics(const char *path, EvalResult *r) {
  r->forget_acc = r->retain_acc = r->test_retain_acc = r->mia_efficacy = NAN;
  FILE *f = fopen(path, "r");
  if (!f) return;
  char key[64];
  double v;
  while (fscanf(f, "%63[^=]=%lf\n", key, &v) == 2) {
    if (!strcmp(key, "forget_acc")) r->forget_acc = v;
    if (!strcmp(key, "retain_acc")) r->retain_acc = v;
    if (!strcmp(key, "test_retain_acc")) r->test_retain_acc = v;
    if (!strcmp(key, "mia_efficacy")) r->mia_efficacy = v;
  }
  fclose(f);
}

// Partial checkpoints of the long trainings (original, retrain): r becomes the run's recipe
// saving to and resuming from <cache>/<kind>-<id>.partial.h5 (the cache directory made first).
static void ckpt_io(void *user, int begin) {
  if (begin)
    io_begin(user);
  else
    io_end(user);
}

static int partial_recipe(Sweep *s, ItemCtx *c, const char *partial, TrainRecipe *r, MPI_Comm g,
                          Err *e) {
  *r = c->rs.train;
  r->checkpoint.path = partial;
  r->checkpoint.io = ckpt_io;
  r->checkpoint.io_user = s;
  int rc = c->grank == 0 && r->checkpoint.every > 0 ? mkdir_p(s->cache_dir, e) : 0;
  MPI_Bcast(&rc, 1, MPI_INT, 0, g);
  if (rc && c->grank != 0)
    errf(e, ERR_RUNTIME, "%s: cannot create the cache directory", s->cache_dir);
  return rc;
}

// Once the final model is saved, its partial checkpoint has served.
static void drop_partial(ItemCtx *c, const char *partial) {
  if (c->grank == 0) remove(partial);
}

// ---------------------------------------------------------------------------------------------
// the items

static int do_original(Sweep *s, const Item *it, MPI_Comm g, ItemCtx *c, Err *e) {
  const PlanJob *job = &s->plan->jobs[it->index];
  char path[4096], partial[4096];
  sweep_cache_path(s, "original", job->id, "h5", path, sizeof path);
  sweep_cache_path(s, "original", job->id, "partial.h5", partial, sizeof partial);
  if (sweep_file_exists(path)) return 0;  // another sweep or shard made it meanwhile
  TrainRecipe r;
  if (partial_recipe(s, c, partial, &r, g, e)) return e->code;
  Model m;
  if (new_model(c, &m, g, e)) return e->code;
  ProgressCtx pc = {s, it->label, clock_now(), c->grank, partial, 0};
  UnlearnProgress prog = {.fn = on_epoch, .user = &pc};
  int rc = train_recipe_run(&m, c->d, NULL, 0, &r, c->rs.seed, g, &prog, e);
  if (!rc) rc = save_model(s, c, path, &m, "original", g, e);
  if (!rc) drop_partial(c, partial);
  model_free(&m);
  return rc;
}

static int do_ec_modules(Sweep *s, const Item *it, MPI_Comm g, ItemCtx *c, Err *e) {
  const PlanJob *job = &s->plan->jobs[it->index];
  char path[4096], opath[4096];
  sweep_cache_path(s, "ec_modules", job->id, "h5", path, sizeof path);
  if (sweep_file_exists(path)) return 0;
  sweep_cache_path(s, "original", s->plan->jobs[job->needs].id, "h5", opath, sizeof opath);
  Model orig;
  if (load_model(s, c, opath, &orig, g, e)) return e->code;
  AuxModules aux;
  AuxSpec as = c->rs.unlearn.ec.aux;
  int rc = aux_points_from_names(&as, &orig, c->rs.point_names, c->rs.n_points, e);
  if (!rc) rc = aux_create(&aux, &orig, &as, e);
  if (rc) {
    model_free(&orig);
    return rc;
  }
  aux.comm = g;
  aux_init(&aux, c->rs.seed);
  ProgressCtx pc = {s, it->label, clock_now(), c->grank, NULL, 0};
  UnlearnProgress prog = {.fn = on_epoch, .user = &pc};
  rc = ec_pretrain(&aux, &orig, c->d, &c->rs.unlearn.ec.pretrain, c->rs.seed, g, &prog, e);
  if (!rc && c->grank == 0) {
    rc = mkdir_p(s->cache_dir, e);
    io_begin(s);
    if (!rc) rc = aux_save(path, &aux, &orig, c->d->mean, c->d->std, e);
    io_end(s);
  }
  MPI_Bcast(&rc, 1, MPI_INT, 0, g);
  aux_free(&aux);
  model_free(&orig);
  return rc;
}

// The original model's id for the job `job` needs (retrain jobs record it in `needs`).
static uint64_t original_id(const Sweep *s, const PlanRun *r) {
  return s->plan->jobs[r->job[JOB_ORIGINAL]].id;
}

// Trains θ_rt unless cached, evaluates it against θ_o: the "retrain" row.
static int do_retrain(Sweep *s, const Item *it, MPI_Comm g, ItemCtx *c, ResultRow *row, Err *e) {
  const PlanJob *job = &s->plan->jobs[it->index];
  const PlanRun *run = &s->plan->runs[job->run];
  char path[4096], opath[4096], mpath[4096], partial[4096];
  sweep_cache_path(s, "retrain", job->id, "h5", path, sizeof path);
  sweep_cache_path(s, "retrain", job->id, "partial.h5", partial, sizeof partial);
  sweep_cache_path(s, "retrain", job->id, "metrics", mpath, sizeof mpath);
  sweep_cache_path(s, "original", original_id(s, run), "h5", opath, sizeof opath);
  Model rt, orig;
  int rc;
  if (sweep_file_exists(path)) {
    rc = load_model(s, c, path, &rt, g, e);
  } else {
    TrainRecipe r;
    rc = partial_recipe(s, c, partial, &r, g, e);
    if (rc) return row_failed(row, e);
    rc = new_model(c, &rt, g, e);
    ProgressCtx pc = {s, it->label, clock_now(), c->grank, partial, 0};
    UnlearnProgress prog = {.fn = on_epoch, .user = &pc};
    if (!rc)
      rc = train_recipe_run(&rt, c->d, c->fs.train_retain, c->fs.n_train_retain, &r, c->rs.seed, g,
                            &prog, e);
    if (!rc) rc = save_model(s, c, path, &rt, "retrain", g, e);
    if (!rc) drop_partial(c, partial);
    if (rc) model_free(&rt);
  }
  if (rc) return row_failed(row, e);
  if (load_model(s, c, opath, &orig, g, e)) {
    model_free(&rt);
    return row_failed(row, e);
  }
  EvalResult r;
  rc = evaluate(&r, &rt, &orig, &rt, c->d, &c->fs, c->d->mean, c->d->std, &c->rs.eval, g, e);
  if (!rc && c->grank == 0) rc = write_metrics(mpath, &r, e);
  MPI_Bcast(&rc, 1, MPI_INT, 0, g);
  row->trace = s->trace, row->n_trace = c->grank == 0 ? s->n_trace : 0;
  if (!rc) {
    row_metrics(row, &r);
    row->avg_gap = 0;  // the reference itself
  }
  model_free(&rt), model_free(&orig);
  return rc ? row_failed(row, e) : 0;
}

// Evaluates θ_o against θ_rt for one forget set: the "original" row.
static int do_original_row(Sweep *s, const Item *it, MPI_Comm g, ItemCtx *c, ResultRow *row,
                           Err *e) {
  const PlanJob *job = &s->plan->jobs[it->index];  // the retrain job
  const PlanRun *run = &s->plan->runs[job->run];
  char path[4096], opath[4096], mpath[4096];
  sweep_cache_path(s, "retrain", job->id, "h5", path, sizeof path);
  sweep_cache_path(s, "retrain", job->id, "metrics", mpath, sizeof mpath);
  sweep_cache_path(s, "original", original_id(s, run), "h5", opath, sizeof opath);
  Model rt, orig;
  if (load_model(s, c, opath, &orig, g, e)) return row_failed(row, e);
  if (load_model(s, c, path, &rt, g, e)) {
    model_free(&orig);
    return row_failed(row, e);
  }
  EvalResult r, ref;
  int rc = evaluate(&r, &orig, &orig, &rt, c->d, &c->fs, c->d->mean, c->d->std, &c->rs.eval, g, e);
  row->trace = s->trace, row->n_trace = c->grank == 0 ? s->n_trace : 0;
  if (!rc) {
    row_metrics(row, &r);
    read_metrics(mpath, &ref);
    row->avg_gap = eval_avg_gap(&r, &ref);
  }
  model_free(&rt), model_free(&orig);
  return rc ? row_failed(row, e) : 0;
}

static int do_run(Sweep *s, const Item *it, MPI_Comm g, ItemCtx *c, ResultRow *row, Err *e) {
  const PlanRun *run = &s->plan->runs[it->index];
  char opath[4096], rpath[4096], mpath[4096], apath[4096], id[17];
  sweep_cache_path(s, "original", original_id(s, run), "h5", opath, sizeof opath);
  sweep_cache_path(s, "retrain", s->plan->jobs[run->job[JOB_RETRAIN]].id, "h5", rpath,
                   sizeof rpath);
  sweep_cache_path(s, "retrain", s->plan->jobs[run->job[JOB_RETRAIN]].id, "metrics", mpath,
                   sizeof mpath);
  plan_id_text(run->id, id);
  int ec = unlearn_uses_ec(&c->rs.unlearn);
  Model u, orig, rt;
  if (load_model(s, c, opath, &orig, g, e)) return row_failed(row, e);
  if (load_model(s, c, opath, &u, g, e)) {
    model_free(&orig);
    return row_failed(row, e);
  }
  if (load_model(s, c, rpath, &rt, g, e)) {
    model_free(&orig), model_free(&u);
    return row_failed(row, e);
  }
  AuxModules aux;
  int have_aux = 0, rc = 0;
  if (ec) {
    sweep_cache_path(s, "ec_modules", s->plan->jobs[run->job[JOB_EC_MODULES]].id, "h5", apath,
                     sizeof apath);
    AuxSpec as = c->rs.unlearn.ec.aux;
    rc = aux_points_from_names(&as, &orig, c->rs.point_names, c->rs.n_points, e);
    if (!rc) rc = aux_create(&aux, &orig, &as, e);
    if (!rc) {
      have_aux = 1;
      aux.comm = g;
      io_begin(s);
      rc = aux_load(apath, &aux, e);
      io_end(s);
    }
  }
  ProgressCtx pc = {s, it->label, clock_now(), c->grank, NULL, 1};
  s->n_trace = 0;
  UnlearnProgress prog = {.fn = on_epoch, .user = &pc, .epoch_fn = on_unlearn_epoch};
  if (!rc) rc = unlearn_spec_check(&c->rs.unlearn, &u, e);
  if (!rc)
    rc = unlearn_run(&u, &orig, c->d, &c->fs, &c->rs.unlearn, have_aux ? &aux : NULL, c->rs.seed, g,
                     &prog, NULL, e);
  EvalResult r, ref;
  if (!rc)
    rc = evaluate(&r, &u, &orig, &rt, c->d, &c->fs, c->d->mean, c->d->std, &c->rs.eval, g, e);
  row->trace = s->trace, row->n_trace = c->grank == 0 ? s->n_trace : 0;
  if (!rc) {
    row_metrics(row, &r);
    read_metrics(mpath, &ref);
    row->avg_gap = eval_avg_gap(&r, &ref);
  }
  if (!rc && c->cfg.output.save_models && c->grank == 0) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.h5", c->cfg.output.models_dir, id);
    rc = mkdir_p(c->cfg.output.models_dir, e);
    io_begin(s);
    if (!rc) rc = unlearn_save_model(path, &u, c->d, id, e);
    io_end(s);
  }
  if (c->cfg.output.save_models) MPI_Bcast(&rc, 1, MPI_INT, 0, g);
  if (have_aux) aux_free(&aux);
  model_free(&u), model_free(&orig), model_free(&rt);
  return rc ? row_failed(row, e) : 0;
}

bool sweep_item_row(const Sweep *s, int item, ResultRow *row) {
  const Item *it = &s->items[item];
  int run = it->kind == ITEM_RUN ? it->index : s->plan->jobs[it->index].run;
  Config c;
  plan_run_config(s->plan, run, &c);
  char id[17], run_id[40];
  switch (it->kind) {
    case ITEM_RETRAIN:
    case ITEM_ORIGINAL_ROW:
      plan_id_text(s->plan->jobs[it->index].id, id);
      snprintf(run_id, sizeof run_id, "%s-%s", it->kind == ITEM_RETRAIN ? "retrain" : "original",
               id);
      row_common(s, row, &c, run_id, it->kind == ITEM_RETRAIN ? "retrain" : "original", 0, 1);
      return true;
    case ITEM_RUN: {
      plan_id_text(s->plan->runs[it->index].id, id);
      RunSpec rs;
      Err e;
      int ec = runspec_from_config(&rs, &c, &e) == 0 && unlearn_uses_ec(&rs.unlearn);
      row_common(s, row, &c, id, config_method_name(c.unlearn.method), ec, 0);
      return true;
    }
    default:
      return false;
  }
}

int sweep_run_item(void *ctx, int item, MPI_Comm g, ResultRow *row, bool *has_row) {
  Sweep *s = ctx;
  const Item *it = &s->items[item];
  double t0 = clock_now();
  Err e = {0};
  ItemCtx c;
  int run = it->kind == ITEM_RUN ? it->index : s->plan->jobs[it->index].run;
  *has_row = sweep_item_row(s, item, row);
  int rc = ctx_init(s, &c, run, g, &e);
  if (rc) {
    row_failed(row, &e);
  } else {
    switch (it->kind) {
      case ITEM_ORIGINAL:
        rc = do_original(s, it, g, &c, &e);
        break;
      case ITEM_EC_MODULES:
        rc = do_ec_modules(s, it, g, &c, &e);
        break;
      case ITEM_RETRAIN:
        rc = do_retrain(s, it, g, &c, row, &e);
        break;
      case ITEM_ORIGINAL_ROW:
        rc = do_original_row(s, it, g, &c, row, &e);
        break;
      case ITEM_RUN:
        rc = do_run(s, it, g, &c, row, &e);
        break;
    }
    if (rc && !*has_row) row_failed(row, &e);
  }
  ctx_free(&c);
  row->wall_s = clock_now() - t0;
  return rc ? 1 : 0;
}
