// sweep_items.c: what each kind of work item of a sweep does on its group of ranks (see
// sweep.h), as steps of one run's pipeline (run/pipeline.h): train or load the shared models
// (cached by id), unlearn, evaluate, fill the result row; progress lines and the trace.
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blas_info.h"
#include "clock.h"
#include "git_commit.h"  // ECORE_GIT_COMMIT, written at build time
#include "sweep_internal.h"

// HDF5 is not thread-safe: on world rank 0 the coordinator thread writes the results file.
static void io_begin(Sweep *s) {
  if (s->world_rank == 0) pthread_mutex_lock(&s->io_lock);
}

static void io_end(Sweep *s) {
  if (s->world_rank == 0) pthread_mutex_unlock(&s->io_lock);
}

static void io_lock(void *user, int begin) {
  if (begin)
    io_begin(user);
  else
    io_end(user);
}

static PipeLock sweep_lock(Sweep *s) {
  return (PipeLock){io_lock, s};
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
  int rc = pipe_load_data(&slot->d, rs, sweep_lock(s), e);
  if (rc) return rc;
  s->n_data++;
  *out = &slot->d;
  return 0;
}

// Everything an item works with; freed by ctx_free.
typedef struct {
  Config cfg;
  Pipe p;
} ItemCtx;

static int ctx_init(Sweep *s, ItemCtx *c, int run, MPI_Comm g, Err *e) {
  memset(c, 0, sizeof *c);
  plan_run_config(s->plan, run, &c->cfg);
  RunSpec rs;
  const Dataset *d;
  if (runspec_from_config(&rs, &c->cfg, e) || get_data(s, &rs, &d, e)) return e->code;
  return pipe_open(&c->p, &rs, d, g, sweep_lock(s), e);
}

static void ctx_free(ItemCtx *c) {
  pipe_close(&c->p);
}

// Per-epoch lines of long items, from the group's first rank.
typedef struct {
  Sweep *s;
  const char *label;
  double t0;
  int grank;
  const char *partial;  // the training's partial checkpoint (NULL: none)
  int epoch_lines;      // an unlearning run: on_unlearn_epoch prints its epochs
  int resumed;          // the training resumed from its partial checkpoint
} ProgressCtx;

static void on_epoch(void *user, const char *phase, int epoch, int epochs, double loss) {
  ProgressCtx *p = user;
  double t = clock_now() - p->t0;
  if (!strcmp(phase, "resume")) p->resumed = 1;
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

// ---------------------------------------------------------------------------------------------
// provenance

// What each rank of a group tells its first rank about how it computes.
typedef struct {
  char host[MPI_MAX_PROCESSOR_NAME];
  BlasInfo blas;
} RankInfo;

// The distinct texts of n items (each at `field` in records of `stride` bytes), comma-separated
// into out [cap]; "+N more" ends a list that does not fit.
static void join_distinct(char *out, size_t cap, const void *items, int n, size_t stride,
                          size_t field) {
  out[0] = '\0';
  int left = 0;
  for (int i = 0; i < n; i++) {
    const char *t = (const char *)items + (size_t)i * stride + field;
    bool seen = false;
    for (int j = 0; j < i && !seen; j++)
      seen = !strcmp(t, (const char *)items + (size_t)j * stride + field);
    size_t used = strlen(out);
    if (seen || !*t) continue;
    if (left || used + strlen(t) + 2 + 16 > cap)  // room for "+N more" stays
      left++;
    else
      snprintf(out + used, cap - used, "%s%s", used ? "," : "", t);
  }
  if (left) {
    size_t used = strlen(out);
    snprintf(out + used, cap - used, "%s+%d more", used ? "," : "", left);
  }
}

// How the row was computed: this binary's version and commit, the group's ranks, their hosts and
// BLAS (kernels and threads). Collective over g; fills the row on its first rank.
static void row_provenance(ResultRow *row, MPI_Comm g) {
  int grank, gsize, len;
  MPI_Comm_rank(g, &grank);
  MPI_Comm_size(g, &gsize);
  RankInfo mine;
  memset(&mine, 0, sizeof mine);
  MPI_Get_processor_name(mine.host, &len);
  blas_info(&mine.blas);
  RankInfo *all = grank == 0 ? calloc((size_t)gsize, sizeof *all) : NULL;
  int have = grank != 0 || all;  // the first rank could not allocate: no gather, its own only
  MPI_Bcast(&have, 1, MPI_INT, 0, g);
  if (have) MPI_Gather(&mine, sizeof mine, MPI_BYTE, all, sizeof mine, MPI_BYTE, 0, g);
  if (grank != 0) return;
  snprintf(row->ecore_version, sizeof row->ecore_version, "%s", ECORE_VERSION);
  snprintf(row->git_commit, sizeof row->git_commit, "%s", ECORE_GIT_COMMIT);
  row->ranks = gsize;
  const RankInfo *r = all ? all : &mine;
  if (!all) gsize = 1;
  join_distinct(row->hosts, sizeof row->hosts, r, gsize, sizeof *r, offsetof(RankInfo, host));
  join_distinct(row->blas, sizeof row->blas, r, gsize, sizeof *r,
                offsetof(RankInfo, blas) + offsetof(BlasInfo, build));
  join_distinct(row->blas_kernel, sizeof row->blas_kernel, r, gsize, sizeof *r,
                offsetof(RankInfo, blas) + offsetof(BlasInfo, kernel));
  row->blas_threads = r[0].blas.threads;
  for (int i = 1; i < gsize; i++)
    if (r[i].blas.threads != r[0].blas.threads) row->blas_threads = -1;
  free(all);
}

// The fingerprints of the models a row is measured against (the group's first rank computes
// them into its row).
static int row_models(const ItemCtx *c, ResultRow *row, const Model *orig, const Model *rt,
                      Err *e) {
  int rc = 0;
  if (c->p.grank == 0) {
    rc = model_fingerprint(orig, row->original_fingerprint, e);
    if (!rc) rc = model_fingerprint(rt, row->retrain_fingerprint, e);
  }
  MPI_Bcast(&rc, 1, MPI_INT, 0, c->p.g);
  if (rc && c->p.grank != 0) errf(e, ERR_RUNTIME, "model fingerprint failed on the first rank");
  return rc;
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

double sweep_job_wall(const Sweep *s, const char *kind, uint64_t id) {
  char path[4096];
  sweep_cache_path(s, kind, id, "wall_s", path, sizeof path);
  FILE *f = fopen(path, "r");
  double v = NAN;
  if (f && (fscanf(f, "wall_s=%lf", &v) != 1 || !(v >= 0))) v = NAN;
  if (f) fclose(f);
  return v;
}

// Records a shared job's wall time for sweep_job_wall (group's first rank). A diagnostic: a
// failure to write it leaves the job done and its time unknown.
static void write_wall(const Sweep *s, const char *kind, uint64_t id, double secs) {
  char path[4096], tmp[4200];
  sweep_cache_path(s, kind, id, "wall_s", path, sizeof path);
  snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
  FILE *f = fopen(tmp, "w");
  if (!f) return;
  fprintf(f, "wall_s=%.17g\n", secs);
  if (fclose(f) != 0 || rename(tmp, path) != 0) remove(tmp);
}

// Once the final model is saved, its partial checkpoint has served.
static void drop_partial(const ItemCtx *c, const char *partial) {
  if (c->p.grank == 0) remove(partial);
}

// ---------------------------------------------------------------------------------------------
// the items

// A checkpoint given for a shared model (model.original, model.retrained): checked against the
// data set and against the digest the plan took (a file changed since would be recorded under
// the wrong ids), then saved into the cache as the job's model, where the rest of the sweep finds
// it as it finds a trained one. m holds it on success.
static int import_given(Sweep *s, ItemCtx *c, const char *given, const char *kind,
                        const PlanJob *job, const char *path, Model *m, Err *e) {
  CkptMeta meta;
  if (pipe_load_given(&c->p, given, m, &meta, e)) return e->code;
  int rc = 0;
  if (plan_model_digest(m, &meta) != job->digest)
    rc = errf(e, ERR_RUNTIME,
              "%s changed after the sweep was planned (its content digest differs): run the "
              "sweep again, which plans it anew",
              given);
  char id[17], run_id[40];
  plan_id_text(job->id, id);
  snprintf(run_id, sizeof run_id, "%s-%s", kind, id);
  if (!rc) rc = pipe_save_model(&c->p, s->cache_dir, path, m, kind, run_id, e);
  if (rc) model_free(m);
  return rc;
}

static int given(const char *path) {
  return path && *path;
}

// Trains θ_o (resuming from <cache>/original-<id>.partial.h5), or takes model.original, unless
// cached.
static int do_original(Sweep *s, const Item *it, ItemCtx *c, Err *e) {
  const PlanJob *job = &s->plan->jobs[it->index];
  char path[4096], partial[4096];
  sweep_cache_path(s, "original", job->id, "h5", path, sizeof path);
  sweep_cache_path(s, "original", job->id, "partial.h5", partial, sizeof partial);
  if (sweep_file_exists(path)) return 0;  // another sweep or shard made it meanwhile
  ProgressCtx pc = {s, it->label, clock_now(), c->p.grank, partial, 0, 0};
  Model m;
  if (given(c->cfg.model.original)) {
    int rc = import_given(s, c, c->cfg.model.original, "original", job, path, &m, e);
    if (!rc) model_free(&m);
    return rc;
  }
  if (pipe_new_model(&c->p, &m, e)) return e->code;
  UnlearnProgress prog = {.fn = on_epoch, .user = &pc};
  int rc = pipe_train(&c->p, &m, 0, s->cache_dir, partial, &prog, e);
  char id[17], run_id[40];  // the checkpoint names its job, as its file name does
  plan_id_text(job->id, id);
  snprintf(run_id, sizeof run_id, "original-%s", id);
  if (!rc) rc = pipe_save_model(&c->p, s->cache_dir, path, &m, "original", run_id, e);
  if (!rc) drop_partial(c, partial);
  if (!rc && c->p.grank == 0 && !pc.resumed)
    write_wall(s, "original", job->id, clock_now() - pc.t0);
  model_free(&m);
  return rc;
}

// Pretrains EC's modules on θ_o unless cached.
static int do_ec_modules(Sweep *s, const Item *it, ItemCtx *c, Err *e) {
  const PlanJob *job = &s->plan->jobs[it->index];
  char path[4096], opath[4096];
  sweep_cache_path(s, "ec_modules", job->id, "h5", path, sizeof path);
  if (sweep_file_exists(path)) return 0;
  double t0 = clock_now();
  sweep_cache_path(s, "original", s->plan->jobs[job->needs].id, "h5", opath, sizeof opath);
  Model orig;
  if (pipe_load_model(&c->p, opath, &orig, e)) return e->code;
  AuxModules aux;
  int rc = pipe_modules(&c->p, &orig, &aux, e);
  if (rc) {
    model_free(&orig);
    return rc;
  }
  aux_init(&aux, c->p.rs.seed);
  ProgressCtx pc = {s, it->label, clock_now(), c->p.grank, NULL, 0, 0};
  UnlearnProgress prog = {.fn = on_epoch, .user = &pc};
  rc = ec_pretrain(&aux, &orig, c->p.d, &c->p.rs.unlearn.ec.pretrain, c->p.rs.seed, c->p.g, &prog,
                   e);
  if (!rc && c->p.grank == 0) {
    rc = pipe_mkdir(s->cache_dir, e);
    io_begin(s);
    if (!rc) rc = aux_save(path, &aux, &orig, c->p.d->mean, c->p.d->std, e);
    io_end(s);
  }
  MPI_Bcast(&rc, 1, MPI_INT, 0, c->p.g);
  if (!rc && c->p.grank == 0) write_wall(s, "ec_modules", job->id, clock_now() - t0);
  aux_free(&aux);
  model_free(&orig);
  return rc;
}

// The original model's id for the job `job` needs (retrain jobs record it in `needs`).
static uint64_t original_id(const Sweep *s, const PlanRun *r) {
  return s->plan->jobs[r->job[JOB_ORIGINAL]].id;
}

// Trains θ_rt (or takes model.retrained) unless cached, evaluates it against θ_o: the "retrain"
// row.
static int do_retrain(Sweep *s, const Item *it, ItemCtx *c, ResultRow *row, Err *e) {
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
    rc = pipe_load_model(&c->p, path, &rt, e);
  } else if (given(c->cfg.model.retrained)) {
    rc = import_given(s, c, c->cfg.model.retrained, "retrain", job, path, &rt, e);
  } else {
    rc = pipe_new_model(&c->p, &rt, e);
    ProgressCtx pc = {s, it->label, clock_now(), c->p.grank, partial, 0, 0};
    UnlearnProgress prog = {.fn = on_epoch, .user = &pc};
    if (!rc) rc = pipe_train(&c->p, &rt, 1, s->cache_dir, partial, &prog, e);
    char id[17], run_id[40];  // the retrain row's id, which is also its file's
    plan_id_text(job->id, id);
    snprintf(run_id, sizeof run_id, "retrain-%s", id);
    if (!rc) rc = pipe_save_model(&c->p, s->cache_dir, path, &rt, "retrain", run_id, e);
    if (!rc) drop_partial(c, partial);
    if (rc) model_free(&rt);
  }
  if (rc) return row_failed(row, e);
  if (pipe_load_model(&c->p, opath, &orig, e)) {
    model_free(&rt);
    return row_failed(row, e);
  }
  EvalResult r;
  rc = row_models(c, row, &orig, &rt, e);
  if (!rc) rc = pipe_evaluate(&c->p, &r, &rt, &orig, &rt, NULL, NULL, e);
  if (!rc && c->p.grank == 0) rc = write_metrics(mpath, &r, e);
  MPI_Bcast(&rc, 1, MPI_INT, 0, c->p.g);
  if (!rc) {
    row_metrics(row, &r);
    row->avg_gap = 0;  // the reference itself
  }
  model_free(&rt), model_free(&orig);
  return rc ? row_failed(row, e) : 0;
}

// Evaluates θ_o against θ_rt for one forget set: the "original" row.
static int do_original_row(Sweep *s, const Item *it, ItemCtx *c, ResultRow *row, Err *e) {
  const PlanJob *job = &s->plan->jobs[it->index];  // the retrain job
  const PlanRun *run = &s->plan->runs[job->run];
  char path[4096], opath[4096], mpath[4096];
  sweep_cache_path(s, "retrain", job->id, "h5", path, sizeof path);
  sweep_cache_path(s, "retrain", job->id, "metrics", mpath, sizeof mpath);
  sweep_cache_path(s, "original", original_id(s, run), "h5", opath, sizeof opath);
  Model rt, orig;
  if (pipe_load_model(&c->p, opath, &orig, e)) return row_failed(row, e);
  if (pipe_load_model(&c->p, path, &rt, e)) {
    model_free(&orig);
    return row_failed(row, e);
  }
  EvalResult r, ref;
  int rc = row_models(c, row, &orig, &rt, e);
  if (!rc) rc = pipe_evaluate(&c->p, &r, &orig, &orig, &rt, NULL, NULL, e);
  if (!rc) {
    row_metrics(row, &r);
    read_metrics(mpath, &ref);
    rc = pipe_gap(&c->p, &row->avg_gap, &r, &ref, &rt, NULL, NULL, NULL, e);
  }
  model_free(&rt), model_free(&orig);
  return rc ? row_failed(row, e) : 0;
}

// One unlearning run: θ_u from θ_o (with EC's modules), evaluated against θ_o and θ_rt.
static int do_run(Sweep *s, const Item *it, ItemCtx *c, ResultRow *row, Err *e) {
  const PlanRun *run = &s->plan->runs[it->index];
  char opath[4096], rpath[4096], mpath[4096], apath[4096], id[17];
  sweep_cache_path(s, "original", original_id(s, run), "h5", opath, sizeof opath);
  sweep_cache_path(s, "retrain", s->plan->jobs[run->job[JOB_RETRAIN]].id, "h5", rpath,
                   sizeof rpath);
  sweep_cache_path(s, "retrain", s->plan->jobs[run->job[JOB_RETRAIN]].id, "metrics", mpath,
                   sizeof mpath);
  plan_id_text(run->id, id);
  int ec = unlearn_uses_ec(&c->p.rs.unlearn);
  Model u, orig, rt;
  if (pipe_load_model(&c->p, opath, &orig, e)) return row_failed(row, e);
  if (pipe_load_model(&c->p, opath, &u, e)) {
    model_free(&orig);
    return row_failed(row, e);
  }
  if (pipe_load_model(&c->p, rpath, &rt, e)) {
    model_free(&orig), model_free(&u);
    return row_failed(row, e);
  }
  AuxModules aux;
  int have_aux = 0, rc = row_models(c, row, &orig, &rt, e);
  if (ec && !rc) {
    sweep_cache_path(s, "ec_modules", s->plan->jobs[run->job[JOB_EC_MODULES]].id, "h5", apath,
                     sizeof apath);
    rc = pipe_modules(&c->p, &orig, &aux, e);
    if (!rc) {
      have_aux = 1;
      io_begin(s);
      rc = aux_load(apath, &aux, e);
      io_end(s);
    }
  }
  ProgressCtx pc = {s, it->label, clock_now(), c->p.grank, NULL, 1, 0};
  UnlearnProgress prog = {.fn = on_epoch, .user = &pc, .epoch_fn = on_unlearn_epoch};
  if (!rc) rc = pipe_unlearn(&c->p, &u, &orig, have_aux ? &aux : NULL, &prog, e);
  EvalResult r, ref;
  if (!rc) rc = pipe_evaluate(&c->p, &r, &u, &orig, &rt, NULL, NULL, e);
  if (!rc) {
    row_metrics(row, &r);
    read_metrics(mpath, &ref);
    rc = pipe_gap(&c->p, &row->avg_gap, &r, &ref, &rt, NULL, NULL, NULL, e);
  }
  const OutputCfg *out = &c->cfg.output;
  if (!rc && out->save_models && c->p.grank == 0) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.h5", out->models_dir, id);
    rc = pipe_mkdir(out->models_dir, e);
    io_begin(s);
    if (!rc) rc = unlearn_save_model(path, &u, c->p.d, id, e);
    io_end(s);
  }
  if (out->save_models) MPI_Bcast(&rc, 1, MPI_INT, 0, c->p.g);
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
      row_common(s, row, &c, id, unlearn_method_name(c.unlearn.method), ec, 0);
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
  s->n_trace = 0;  // the item's own trace: not entries an earlier run of this process left
  int rc = ctx_init(s, &c, run, g, &e);
  if (rc) {
    row_failed(row, &e);
  } else {
    switch (it->kind) {
      case ITEM_ORIGINAL:
        rc = do_original(s, it, &c, &e);
        break;
      case ITEM_EC_MODULES:
        rc = do_ec_modules(s, it, &c, &e);
        break;
      case ITEM_RETRAIN:
        rc = do_retrain(s, it, &c, row, &e);
        break;
      case ITEM_ORIGINAL_ROW:
        rc = do_original_row(s, it, &c, row, &e);
        break;
      case ITEM_RUN:
        rc = do_run(s, it, &c, row, &e);
        break;
    }
    if (rc && !*has_row) row_failed(row, &e);
  }
  if (*has_row) row_provenance(row, g);
  ctx_free(&c);
  int grank;
  MPI_Comm_rank(g, &grank);
  if (*has_row && grank == 0) row->trace = s->trace, row->n_trace = s->n_trace;
  row->wall_s = clock_now() - t0;
  return rc ? 1 : 0;
}
