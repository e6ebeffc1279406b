// sweep.c: see sweep.h. Setup (config, plan, work items, the results file), progress lines,
// and the summary; sweep_items.c does the work of each item.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blas_info.h"
#include "clock.h"
#include "export.h"
#include "scheduler.h"
#include "sweep_internal.h"

// ---------------------------------------------------------------------------------------------
// work items

static Item *add_item(Sweep *s, ItemKind kind, int index) {
  Item *it = &s->items[s->n_items++];
  memset(it, 0, sizeof *it);
  it->kind = kind, it->index = index;
  return it;
}

static const char *kind_label[] = {"original", "ec_modules", "retrain", "original row", "run"};

int sweep_build_items(Sweep *s, Err *e) {
  const Plan *p = s->plan;
  const int N = s->args->shard_n > 0 ? s->args->shard_n : 1, I = s->args->shard_i;
  int *need = calloc((size_t)p->n_jobs + 1, sizeof(int));  // jobs this shard uses
  int *item_of = malloc(((size_t)p->n_jobs + 1) * sizeof(int));
  s->items = malloc(((size_t)p->n_runs + 2 * (size_t)p->n_jobs + 1) * sizeof(Item));
  if (!need || !item_of || !s->items) {
    free(need), free(item_of);
    return errf(e, ERR_RUNTIME, "out of memory for %d runs", p->n_runs);
  }
  int retrain_rank = 0;
  for (int j = 0; j < p->n_jobs; j++) {
    if (p->jobs[j].kind != JOB_RETRAIN) continue;
    if (retrain_rank++ % N != I) continue;
    need[j] = 2;  // its rows belong to this shard
    need[p->runs[p->jobs[j].run].job[JOB_ORIGINAL]] |= 1;
  }
  for (int i = 0; i < p->n_runs; i++) {
    if (i % N != I) continue;
    for (int k = 0; k < JOB_KINDS; k++)
      if (p->runs[i].job[k] >= 0) need[p->runs[i].job[k]] |= 1;
  }
  for (int j = 0; j < p->n_jobs; j++)  // EC modules and retrains need their original
    if (need[j] && p->jobs[j].needs >= 0) need[p->jobs[j].needs] |= 1;
  static const JobKind order[] = {JOB_ORIGINAL, JOB_EC_MODULES, JOB_RETRAIN};
  static const ItemKind kinds[] = {ITEM_ORIGINAL, ITEM_EC_MODULES, ITEM_RETRAIN};
  for (int o = 0; o < 3; o++)
    for (int j = 0; j < p->n_jobs; j++) {
      if (!need[j] || p->jobs[j].kind != order[o]) continue;
      Item *it = add_item(s, kinds[o], j);
      item_of[j] = s->n_items - 1;
      const PlanRun *r = &p->runs[p->jobs[j].run];
      if (order[o] != JOB_ORIGINAL) it->deps[it->n_deps++] = item_of[r->job[JOB_ORIGINAL]];
      snprintf(it->label, sizeof it->label, "%s %c%d (seed %d)", kind_label[kinds[o]],
               "ORM"[order[o]], p -> jobs[j].label, p->jobs[j].seed);
    }
  for (int j = 0; j < p->n_jobs; j++) {
    if (need[j] != 3 && need[j] != 2) continue;
    Item *it = add_item(s, ITEM_ORIGINAL_ROW, j);
    it->deps[it->n_deps++] = item_of[p->runs[p->jobs[j].run].job[JOB_ORIGINAL]];
    it->deps[it->n_deps++] = item_of[j];
    snprintf(it->label, sizeof it->label, "original vs R%d (seed %d)", p->jobs[j].label,
             p->jobs[j].seed);
  }
  for (int i = 0; i < p->n_runs; i++) {
    if (i % N != I) continue;
    Item *it = add_item(s, ITEM_RUN, i);
    for (int k = 0; k < JOB_KINDS; k++)
      if (p->runs[i].job[k] >= 0) it->deps[it->n_deps++] = item_of[p->runs[i].job[k]];
    char id[17];
    plan_id_text(p->runs[i].id, id);
    Config c;
    plan_run_config(p, i, &c);
    snprintf(it->label, sizeof it->label, "run %s %s%s seed %d", id,
             unlearn_method_name(c.unlearn.method), c.ec.enabled ? "+EC" : "", p->runs[i].seed);
  }
  free(need), free(item_of);
  return 0;
}

bool *sweep_items_done(const Sweep *s) {
  bool *done = calloc((size_t)s->n_items + 1, sizeof(bool));
  if (!done) return NULL;
  for (int i = 0; i < s->n_items; i++) {
    const Item *it = &s->items[i];
    char path[4096], extra[4096] = "";
    if (it->kind == ITEM_RUN || it->kind == ITEM_ORIGINAL_ROW) {
      ResultRow row;
      results_row_init(&row);
      sweep_item_row(s, i, &row);
      done[i] = results_is_finished(s->results, row.run_id);
      continue;
    }
    static const char *names[] = {"original", "ec_modules", "retrain"};
    const PlanJob *job = &s->plan->jobs[it->index];
    sweep_cache_path(s, names[it->kind], job->id, "h5", path, sizeof path);
    done[i] = sweep_file_exists(path);
    if (it->kind == ITEM_RETRAIN) {  // also its row, and the metrics runs take their gap from
      ResultRow row;
      results_row_init(&row);
      sweep_item_row(s, i, &row);
      sweep_cache_path(s, "retrain", job->id, "metrics", extra, sizeof extra);
      done[i] = done[i] && sweep_file_exists(extra) && results_is_finished(s->results, row.run_id);
    }
  }
  // A shared model that every item using it has finished with is not needed again, cached or
  // not: a finished sweep rerun without its cache trains nothing and appends no row twice.
  // Items only depend on earlier ones, so going backwards every user of an item is settled
  // before the item itself.
  bool *used = calloc((size_t)s->n_items + 1, sizeof(bool));
  if (!used) {
    free(done);
    return NULL;
  }
  for (int i = s->n_items - 1; i >= 0; i--) {
    const Item *it = &s->items[i];
    if (!done[i] && !used[i] && it->kind != ITEM_RUN && it->kind != ITEM_ORIGINAL_ROW) {
      done[i] = true;
      if (it->kind == ITEM_RETRAIN) {  // unless its own row is still to be recorded
        ResultRow row;
        results_row_init(&row);
        sweep_item_row(s, i, &row);
        done[i] = results_is_finished(s->results, row.run_id);
      }
    }
    if (!done[i])
      for (int d = 0; d < it->n_deps; d++) used[it->deps[d]] = true;
  }
  free(used);
  return done;
}

// ---------------------------------------------------------------------------------------------
// results file

static char *hosts_text(int rank, int world) {
  char name[MPI_MAX_PROCESSOR_NAME] = "";
  int len;
  MPI_Get_processor_name(name, &len);
  char *all = rank == 0 ? calloc((size_t)world, MPI_MAX_PROCESSOR_NAME) : NULL;
  MPI_Gather(name, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, all, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, 0,
             MPI_COMM_WORLD);
  if (rank != 0) return NULL;
  char *out = calloc((size_t)world, MPI_MAX_PROCESSOR_NAME + 1);
  for (int i = 0; i < world; i++) {
    const char *h = all + (size_t)i * MPI_MAX_PROCESSOR_NAME;
    int seen = 0;
    for (int j = 0; j < i && !seen; j++)
      seen = !strcmp(h, all + (size_t)j * MPI_MAX_PROCESSOR_NAME);
    if (seen) continue;
    if (*out) strcat(out, ",");
    strcat(out, h);
  }
  free(all);
  return out;
}

static void make_schema(Sweep *s) {
  ResultsSchema *sc = &s->schema;
  memset(sc, 0, sizeof *sc);
  char id[17];
  plan_id_text(s->plan->sweep_id, id);
  snprintf(sc->sweep_id, sizeof sc->sweep_id, "%s", id);
  // An axis determines the retrained reference model when it determines the original model or
  // the forget set: the report compares a run with the retrain runs that agree on those.
  sc->has_reference_axes = true;
  sc->has_axis_types = true;  // the type of each axis's key, for readers of the file
  for (int k = 0; k < s->plan->n_columns && k < RESULTS_MAX_AXES; k++) {
    const KeySpec *key = &config_schema[s->plan->columns[k]];
    sc->reference_axis[sc->n_axes] = (key->flags & (J_ORIGINAL | J_FORGET)) != 0;
    sc->axis_type[sc->n_axes] = export_key_type(s->plan->columns[k]);
    snprintf(sc->axes[sc->n_axes++], RESULTS_NAME_LEN, "%s", key->key);
  }
  // The longest list of points among the runs' architectures (mlp has two).
  const char *const *points = arch_points(ARCH_MLP);
  for (int i = 0; i < s->plan->n_runs; i++) {
    Config c;
    plan_run_config(s->plan, i, &c);
    if (c.model.arch != ARCH_MLP) points = arch_points(c.model.arch);
  }
  while (points[sc->n_points] && sc->n_points < RESULTS_MAX_POINTS) {
    snprintf(sc->points[sc->n_points], RESULTS_NAME_LEN, "%s", points[sc->n_points]);
    sc->n_points++;
  }
}

// An existing results file: this config must be of the file's sweep (plan_same_sweep names the
// first setting that differs), and its rows go under the file's sweep id. *add: this config
// plans runs the file's configs do not, so it joins them (results_add_config) and the file can
// still recompute every run's settings. A file whose stored configs no longer plan under this
// ecore (defaults changed since) resumes only under its own sweep id, as before extensions.
static int join_file(Sweep *s, bool *add, Err *e) {
  ResultsTable t;
  int rc = results_read(s->out_path, &t, e);
  if (rc) return rc;
  Plan *stored = NULL;
  Err why = {0};
  int n_new = 0;
  char id[17], old[17];
  plan_id_text(s->plan->sweep_id, id), plan_id_text(s->plan->run_set_id, old);
  if (plan_load_stored(&stored, &t, s->out_path, STORED_IDS, NULL, &why)) {
    if (strcmp(id, t.schema.sweep_id) && strcmp(old, t.schema.sweep_id))
      rc = errf(e, ERR_CONFIG, "%s: holds sweep %s, not this sweep %s, and %.700s", s->out_path,
                t.schema.sweep_id, id, why.msg);
  } else {
    rc = plan_same_sweep(stored, s->out_path, s->plan, s->cf->path, e);
    if (!rc) rc = plan_new_runs(stored, s->plan, &n_new, e);
  }
  if (!rc) snprintf(s->schema.sweep_id, sizeof s->schema.sweep_id, "%s", t.schema.sweep_id);
  *add = n_new > 0;
  plan_free(stored);
  results_table_free(&t);
  return rc;
}

static int open_results(Sweep *s, Err *e) {
  make_schema(s);
  char *expanded = NULL, shard[32] = "";
  size_t len = 0;
  FILE *mem = open_memstream(&expanded, &len);
  if (mem) {
    config_write_yaml(mem, &s->cf->base);
    fclose(mem);
  }
  if (s->args->shard_n > 0)
    snprintf(shard, sizeof shard, "%d/%d", s->args->shard_i, s->args->shard_n);
  char *hosts = hosts_text(s->world_rank, s->world_size);
  char compute[512], blas[400];
  blas_describe(blas, sizeof blas);
  snprintf(compute, sizeof compute, "%d rank(s) per run; %s", s->cf->base.sweep.ranks_per_run,
           blas);
  int rc = 0;
  bool add = false;
  if (s->world_rank == 0) {
    ResultsMeta m = {.config_text = s->cf->text,
                     .config_expanded = expanded,
                     .config_path = s->cf->path,
                     .hosts = hosts,
                     .world_size = s->world_size,
                     .compute = compute,
                     .shard = shard[0] ? shard : NULL};
    if (sweep_file_exists(s->out_path)) rc = join_file(s, &add, e);
    if (!rc) rc = results_open_or_create(s->out_path, &s->schema, &m, &s->results, e);
    if (!rc && add) rc = results_add_config(s->results, expanded, e);
  }
  free(expanded), free(hosts);
  return rc;
}

// ---------------------------------------------------------------------------------------------
// progress (world rank 0, called by the scheduler as items finish)

static void format_duration(double secs, char *buf, size_t size) {
  if (secs < 90)
    snprintf(buf, size, "%.0fs", secs);
  else if (secs < 5400)
    snprintf(buf, size, "%.0fm%02.0fs", floor(secs / 60), fmod(secs, 60));
  else
    snprintf(buf, size, "%.0fh%02.0fm", floor(secs / 3600), fmod(secs / 60, 60));
}

// The estimate of the time left (status.c) over the items this sweep runs: what the file and the
// cache have measured so far, then each item as it finishes. Without it (an error, said on
// stderr) the progress lines have no ETA.
static void eta_init(Sweep *s, const bool *done) {
  Err e = {0};
  ResultsTable t;
  int rc = results_read(s->out_path, &t, &e);
  if (!rc) {
    rc = status_items(&s->eta, s, &t, &s->eta_items, &e);
    results_table_free(&t);
  }
  if (!rc && (!done || !(s->eta_done = malloc((size_t)s->n_items + 1))))
    rc = errf(&e, ERR_RUNTIME, "out of memory");
  if (rc) {
    fprintf(stderr, "ecore sweep: no ETA in the progress lines: %s\n", e.msg);
    free(s->eta_items), sweep_status_free(&s->eta);
    s->eta_items = NULL;
    return;
  }
  memcpy(s->eta_done, done, (size_t)s->n_items);
  s->eta.world_size = s->world_size, s->eta.ranks_per_run = s->cf->base.sweep.ranks_per_run;
  s->eta.groups = s->world_size / s->eta.ranks_per_run;
}

// ", ~4m10s left" over the parallel groups, then what it rests on when not every item left has
// its own kind measured: how many borrow from other kinds, how many have no estimate yet.
static void eta_text(Sweep *s, char *buf, size_t size) {
  const SweepStatus *st = &s->eta;
  status_estimate(&s->eta, s->eta_items, s->n_items, s->eta_done);
  if (st->work_s == 0 && st->n_unestimated) {
    snprintf(buf, size, ", time left not known yet");
    return;
  }
  char t[32];
  format_duration(st->eta_s, t, sizeof t);
  int n = snprintf(buf, size, ", ~%s left", t);
  if (st->n_borrowed && n < (int)size)
    n += snprintf(buf + n, size - (size_t)n, ", %d of %d item(s) borrowed", st->n_borrowed,
                  st->n_left);
  if (st->n_unestimated && n < (int)size)
    snprintf(buf + n, size - (size_t)n, ", %d not estimated", st->n_unestimated);
}

static void on_done(void *ctx, int item, int status, const ResultRow *row, bool has_row, int done,
                    int total) {
  Sweep *s = ctx;
  Err e = {0};
  double t0 = clock_now();
  if (has_row && results_append(s->results, row, 1, &e))
    fprintf(stderr, "ecore sweep: cannot record %s: %s\n", row->run_id, e.msg);
  s->write_s += clock_now() - t0;
  if (status == 0)
    s->n_ok++;
  else
    s->n_failed++;
  if (s->eta_items) {
    status_item_finished(s, s->eta_items, item, has_row ? row : NULL);
    s->eta_done[item] = true;
  }
  if (s->args->quiet) return;
  double elapsed = clock_now() - s->t0;
  char el[32], eta[160] = "";
  format_duration(elapsed, el, sizeof el);
  if (done < total && s->eta_items) eta_text(s, eta, sizeof eta);
  const Item *it = &s->items[item];
  printf("[%*d/%d] %-34s %s", total >= 100 ? 4 : 3, done, total, it->label,
         status == 0 ? "ok" : "FAILED");
  if (status != 0)
    printf(" (%s)", row->status);
  else if (has_row)
    printf("  forget %.3f  test %.3f  mia %.3f  cka@%s %.3f", row->forget_acc, row->test_retain_acc,
           row->mia_efficacy, s->schema.points[0], row->cka_original[0]);
  printf("  %.1fs  [%s%s]\n", row->wall_s, el, eta);
  fflush(stdout);
}

static bool on_skip(void *ctx, int item, int failed_dep, ResultRow *row) {
  Sweep *s = ctx;
  bool has = sweep_item_row(s, item, row);
  snprintf(row->status, sizeof row->status, "failed: %s failed", s->items[failed_dep].label);
  return has;
}

static bool on_stop(void *ctx) {
  Sweep *s = ctx;
  return s->args->stop_flag && *s->args->stop_flag;
}

// ---------------------------------------------------------------------------------------------

static void summary(Sweep *s, int rc, const SchedStats *st) {
  Err e = {0};
  ResultsTable t;
  if (!s->args->quiet && results_read(s->out_path, &t, &e) == 0) {
    if (t.n_rows > 0) {
      printf("\n");
      if (results_report(&t, REPORT_MARKDOWN, stdout, &e))
        fprintf(stderr, "ecore sweep: no report: %s\n", e.msg);
    }
    results_table_free(&t);
  }
  char el[32];
  double wall = clock_now() - s->t0;
  format_duration(wall, el, sizeof el);
  printf("\n%d item(s) done in %s, %d failed%s\n", s->n_ok + s->n_failed, el, s->n_failed,
         rc == 4 ? "; stopped early (run the same command again to resume)" : "");
  if (!s->args->quiet) {
    // The coordinator's own cost: planning and setup, dispatching items, writing rows (the
    // writes overlap the other groups' work, so this is an upper bound).
    double own = s->setup_s + st->dispatch_s + s->write_s;
    printf(
        "coordinator: setup %.3f s, dispatch %.3f s, writing rows %.3f s = %.2f%% of %.1f s "
        "x %d group(s); idle waiting for shared jobs %.1f s\n",
        s->setup_s, st->dispatch_s, s->write_s,
        100 * own / (wall * s->world_size / s->cf->base.sweep.ranks_per_run), wall,
        s->world_size / s->cf->base.sweep.ranks_per_run, st->idle_s);
  }
  printf("results: %s\n", s->out_path);
  fflush(stdout);
}

// Checks everything and opens the results file: the part of a sweep that may exit 2.
static int setup(Sweep *s, Err *e) {
  const SweepArgs *a = s->args;
  ConfigFile *cf = NULL;
  int rc = config_load(&cf, a->config_path, NULL, a->n_sets, a->sets, e);
  if (!rc) rc = plan_expand(&s->plan, cf, e);
  if (s->plan)
    s->plan->owns_cfs = true;  // frees cf
  else
    config_free(cf);
  if (rc) return rc;
  s->cf = cf;
  const Config *b = &s->cf->base;
  s->out_path = a->out ? a->out : b->output.file;
  s->cache_dir = b->output.cache_dir;
  int rpr = b->sweep.ranks_per_run;
  if (s->world_size % rpr)
    return errf(e, ERR_CONFIG,
                "sweep.ranks_per_run = %d does not divide the %d MPI ranks (use a multiple of "
                "it with mpirun -np)",
                rpr, s->world_size);
  if (a->shard_n > 0 && (a->shard_i < 0 || a->shard_i >= a->shard_n))
    return errf(e, ERR_CONFIG, "--shard %d/%d: I must be in 0..%d", a->shard_i, a->shard_n,
                a->shard_n - 1);
  if (sweep_build_items(s, e)) return e->code;
  return 0;
}

int sweep_main(const SweepArgs *a) {
  Sweep s = {.args = a, .t0 = clock_now()};
  MPI_Comm_rank(MPI_COMM_WORLD, &s.world_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &s.world_size);
  pthread_mutex_init(&s.io_lock, NULL);
  Err e = {0};
  int rc = setup(&s, &e);  // the same on every rank: no message needed to agree
  if (!rc) {
    // Load the first run's data before writing anything: a bad data file stops here.
    RunSpec rs;
    Config c;
    plan_run_config(s.plan, 0, &c);
    rc = runspec_from_config(&rs, &c, &e);
    if (!rc) rc = dataset_load(&s.data[0].d, &rs.data, &e);
    if (!rc) s.data[0].spec = rs.data, s.n_data = 1;
    if (!rc) rc = runspec_check_data(&rs, &s.data[0].d, &e);
    MPI_Allreduce(MPI_IN_PLACE, &rc, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  }
  if (!rc) {
    rc = open_results(&s, &e);
    MPI_Bcast(&rc, 1, MPI_INT, 0, MPI_COMM_WORLD);
  }
  if (rc) {
    if (s.world_rank == 0)
      fprintf(stderr, "%s%s\n",
              rc == ERR_CONFIG ? "" : "ecore sweep: ", e.msg[0] ? e.msg : "failed on another rank");
  } else {
    bool *done = s.world_rank == 0 ? sweep_items_done(&s) : NULL;
    char msg[1024];
    for (int i = 0; s.world_rank == 0 && i < s.plan->n_unused; i++) {
      plan_unused_message(s.plan, i, msg, sizeof msg);
      fprintf(stderr, "warning: %s\n", msg);
    }
    if (s.world_rank == 0 && !a->quiet) {
      int todo = 0;
      for (int i = 0; i < s.n_items; i++) todo += !done[i];
      printf("sweep %s: %d runs, %d items (%d to do) on %d rank(s), %d per run -> %s\n",
             s.schema.sweep_id, s.plan->n_runs, s.n_items, todo, s.world_size,
             s.cf->base.sweep.ranks_per_run, s.out_path);
      fflush(stdout);
      eta_init(&s, done);
    }
    SchedItem *si = malloc((size_t)(s.n_items > 0 ? s.n_items : 1) * sizeof *si);
    for (int i = 0; i < s.n_items; i++) si[i] = (SchedItem){s.items[i].n_deps, s.items[i].deps};
    Sched sched = {.n_items = s.n_items,
                   .items = si,
                   .already_done = done,
                   .ranks_per_run = s.cf->base.sweep.ranks_per_run,
                   .run = sweep_run_item,
                   .done = on_done,
                   .skip = on_skip,
                   .stop = on_stop,
                   .ctx = &s,
                   .io_lock = &s.io_lock};
    s.setup_s = clock_now() - s.t0;
    SchedStats st;
    rc = sched_run(&sched, &st, &e);
    if (s.world_rank == 0) {
      if (rc == 1) fprintf(stderr, "ecore sweep: %s\n", e.msg);
      results_close(s.results);
      if (rc != 1) summary(&s, rc, &st);
    }
    free(si), free(done);
  }
  for (int i = 0; i < s.n_data; i++) dataset_free(&s.data[i].d);
  free(s.items), free(s.trace), free(s.eta_items), free(s.eta_done);
  sweep_status_free(&s.eta);
  if (s.plan) plan_free(s.plan);  // and s.cf
  pthread_mutex_destroy(&s.io_lock);
  return rc == ERR_CONFIG ? 2 : rc;
}
