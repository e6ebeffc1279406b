// status.c: see status.h. The sweep's items as `ecore sweep` builds them, matched with the
// file's latest rows and the cache; per kind: counts, measured wall time, estimate.
#include "status.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sweep_internal.h"

enum { K_ORIGINAL, K_EC_MODULES, K_RETRAIN, K_ORIGINAL_ROW, K_SHARED };  // the fixed kinds

static const char *shared_names[K_SHARED] = {"original (train)", "ec_modules (pretrain)",
                                             "retrain (train+eval)", "original (eval)"};

static int cmp_id(const void *a, const void *b) {
  return strcmp(a, b);
}

// The latest row of run_id (idx: results_latest_rows, sorted by run_id), or -1.
static int find_row(const ResultsTable *t, const int *idx, int n, const char *run_id) {
  int lo = 0, hi = n;
  while (lo < hi) {
    int mid = (lo + hi) / 2, c = strcmp(run_id, t->rows[idx[mid]].run_id);
    if (c == 0) return idx[mid];
    if (c < 0)
      hi = mid;
    else
      lo = mid + 1;
  }
  return -1;
}

// The plan of the stored config that gives the file's sweep: as expanded (--set arguments of
// the sweep included, which may have moved output.cache_dir), else as given.
static int load_stored(SweepStatus *st, Plan **plan, const char *file, const ResultsTable *t,
                       Err *e) {
  const char *from = NULL;
  if (plan_load_stored(plan, t, file, STORED_IDS, &from, e)) {
    char msg[sizeof e->msg];
    snprintf(msg, sizeof msg, "%s", e->msg);
    return errf(e, ERR_CONFIG, "%.900s; give the sweep's config: ecore status FILE CONFIG", msg);
  }
  snprintf(st->config_from, sizeof st->config_from, "the file's %s%s", from,
           t->n_config_added ? " and the configs added to it" : "");
  return 0;
}

// A CONFIG other than the file's own must plan every run the file holds (it may add runs).
static int check_same_sweep(const Sweep *s, const ResultsTable *t, const int *latest, int n_latest,
                            const char *file, const char *config, Err *e) {
  char *ids = malloc((size_t)(s->n_items + 1) * RESULTS_RUN_ID_LEN);
  if (!ids) return errf(e, ERR_RUNTIME, "out of memory");
  int n = 0;
  for (int i = 0; i < s->n_items; i++) {
    ResultRow row;
    results_row_init(&row);
    if (sweep_item_row(s, i, &row))
      memcpy(ids + (size_t)n++ * RESULTS_RUN_ID_LEN, row.run_id, RESULTS_RUN_ID_LEN);
  }
  qsort(ids, (size_t)n, RESULTS_RUN_ID_LEN, cmp_id);
  int rc = 0;
  for (int r = 0; r < n_latest && !rc; r++) {
    const ResultRow *row = &t->rows[latest[r]];
    if (!bsearch(row->run_id, ids, (size_t)n, RESULTS_RUN_ID_LEN, cmp_id))
      rc = errf(e, ERR_CONFIG,
                "%s is another sweep: %s holds sweep %s, whose run %s (%s%s, seed %d) is not "
                "one of %s's runs",
                config, file, t->schema.sweep_id, row->run_id, row->method, row->ec ? "+EC" : "",
                row->seed, config);
  }
  free(ids);
  return rc;
}

// CONFIG must be of the file's sweep: plan_same_sweep against the file's stored configs names
// the first setting that differs; st->n_new: the runs it adds to them. A file whose stored
// configs no longer plan under this ecore (defaults changed since): CONFIG must plan every run
// the file holds.
static int check_config(SweepStatus *st, const Sweep *s, const ResultsTable *t, const int *latest,
                        int n_latest, const char *file, const char *config, Err *e) {
  Plan *stored = NULL;
  Err why = {0};
  if (plan_load_stored(&stored, t, file, STORED_IDS, NULL, &why))
    return check_same_sweep(s, t, latest, n_latest, file, config, e);
  int rc = plan_same_sweep(stored, file, s->plan, config, e);
  if (!rc) rc = plan_new_runs(stored, s->plan, &st->n_new, e);
  plan_free(stored);
  return rc;
}

// The kind of a run item: its method, "+EC" with EC. Added on first sight.
static int run_kind(SweepStatus *st, const ResultRow *row) {
  char name[80];
  snprintf(name, sizeof name, "%s%s", row->method, row->ec ? "+EC" : "");
  for (int k = K_SHARED; k < st->n_kinds; k++)
    if (!strcmp(st->kinds[k].name, name)) return k;
  StatusKind *k = &st->kinds[st->n_kinds];
  memset(k, 0, sizeof *k);
  snprintf(k->name, sizeof k->name, "%s", name);
  k->has_rows = true;
  return st->n_kinds++;
}

// The measured wall time of item i: a shared job without a row, the time kept beside its
// checkpoint; an item with a row, the row's if it is ok (row NULL: no row yet). NaN: not
// measured.
static double item_wall(const Sweep *s, int i, const ResultRow *row) {
  const Item *it = &s->items[i];
  if (it->kind == ITEM_ORIGINAL || it->kind == ITEM_EC_MODULES)
    return sweep_job_wall(s, it->kind == ITEM_ORIGINAL ? "original" : "ec_modules",
                          s->plan->jobs[it->index].id);
  return row && results_row_ok(row) ? row->wall_s : NAN;
}

static void item_info(const Sweep *s, SweepStatus *st, const ResultsTable *t, const int *latest,
                      int n_latest, int i, StatusItem *out) {
  const Item *it = &s->items[i];
  int run = it->kind == ITEM_RUN ? it->index : s->plan->jobs[it->index].run;
  Config c;
  plan_run_config(s->plan, run, &c);
  ResultRow row;
  results_row_init(&row);
  bool has_row = sweep_item_row(s, i, &row);
  *out = (StatusItem){.row = has_row ? find_row(t, latest, n_latest, row.run_id) : -1};
  switch (it->kind) {
    case ITEM_ORIGINAL:
      out->kind = K_ORIGINAL, out->epochs = c.train.epochs;
      break;
    case ITEM_EC_MODULES:
      out->kind = K_EC_MODULES, out->epochs = c.ec.pretrain.epochs;
      break;
    case ITEM_RETRAIN:
      out->kind = K_RETRAIN, out->epochs = c.train.epochs;
      break;
    case ITEM_ORIGINAL_ROW:
      out->kind = K_ORIGINAL_ROW;
      break;
    case ITEM_RUN:
      out->kind = run_kind(st, &row);
      out->epochs = c.unlearn.method == UNLEARN_NONE ? c.ec.epochs : c.unlearn.epochs;
      break;
  }
  out->wall_s = item_wall(s, i, out->row >= 0 ? &t->rows[out->row] : NULL);
}

int status_items(SweepStatus *st, const Sweep *s, const ResultsTable *t, StatusItem **items,
                 Err *e) {
  int *latest = NULL, n_latest = 0;
  int rc = results_latest_rows(t, &latest, &n_latest, e);
  if (rc) return rc;
  *items = calloc((size_t)s->n_items + 1, sizeof **items);
  st->kinds = calloc((size_t)s->n_items + K_SHARED, sizeof *st->kinds);
  if (!*items || !st->kinds) {
    free(latest), free(*items), free(st->kinds);
    *items = NULL, st->kinds = NULL;
    return errf(e, ERR_RUNTIME, "out of memory");
  }
  st->n_kinds = K_SHARED;
  for (int k = 0; k < K_SHARED; k++) {
    snprintf(st->kinds[k].name, sizeof st->kinds[k].name, "%s", shared_names[k]);
    st->kinds[k].has_rows = k == K_RETRAIN || k == K_ORIGINAL_ROW;
  }
  for (int i = 0; i < s->n_items; i++) item_info(s, st, t, latest, n_latest, i, &(*items)[i]);
  free(latest);
  return 0;
}

void status_item_finished(const Sweep *s, StatusItem *items, int item, const ResultRow *row) {
  items[item].wall_s = item_wall(s, item, row);
}

static double kind_mean(const SweepStatus *st, int k) {
  return st->kinds[k].n_measured ? st->kinds[k].mean_s : NAN;
}

// Seconds per epoch of the measured items of kinds [k0, k1).
static double per_epoch(const StatusItem *items, int n, int k0, int k1, int *n_used) {
  double secs = 0, epochs = 0;
  *n_used = 0;
  for (int i = 0; i < n; i++)
    if (items[i].kind >= k0 && items[i].kind < k1 && isfinite(items[i].wall_s) &&
        items[i].epochs > 0)
      secs += items[i].wall_s, epochs += items[i].epochs, (*n_used)++;
  return epochs > 0 ? secs / epochs : NAN;
}

// The seconds per epoch kinds with nothing measured borrow: a training epoch's (the original's,
// else retraining's) and an unlearning run's.
typedef struct {
  double train, run;
  int n_train, n_run;  // measured items they come from
} Rates;

// The estimated seconds of item i (not done), filling its kind's basis on first use.
static double estimate(SweepStatus *st, const StatusItem *items, int i, const Rates *r) {
  StatusKind *k = &st->kinds[items[i].kind];
  const bool first = !k->basis[0];
  double v = NAN;
  if (k->n_measured) {
    if (first) snprintf(k->basis, sizeof k->basis, "mean of %d measured", k->n_measured);
    return k->mean_s;
  }
  switch (items[i].kind) {
    case K_ORIGINAL:
      v = kind_mean(st, K_RETRAIN);
      if (first) snprintf(k->basis, sizeof k->basis, "as retraining (the same recipe, on D_r)");
      break;
    case K_RETRAIN:
      v = kind_mean(st, K_ORIGINAL);
      if (first)
        snprintf(k->basis, sizeof k->basis, "as the original's training (the same recipe)");
      break;
    case K_EC_MODULES:
      v = r->train * items[i].epochs;
      if (first)
        snprintf(k->basis, sizeof k->basis,
                 "its epochs x %.3g s per training epoch (%d measured; an upper bound)", r->train,
                 r->n_train);
      break;
    case K_ORIGINAL_ROW:
      break;
    default:
      v = r->run * items[i].epochs;
      if (first)
        snprintf(k->basis, sizeof k->basis, "its epochs x %.3g s per epoch of %d measured runs",
                 r->run, r->n_run);
  }
  if (!isfinite(v)) snprintf(k->basis, sizeof k->basis, "not estimated: nothing to go by yet");
  return v;
}

void status_estimate(SweepStatus *st, const StatusItem *items, int n, const bool *done) {
  for (int k = 0; k < st->n_kinds; k++) {
    StatusKind *K = &st->kinds[k];
    K->n_measured = 0, K->mean_s = K->left_s = 0, K->basis[0] = '\0';
  }
  for (int i = 0; i < n; i++) {
    StatusKind *k = &st->kinds[items[i].kind];
    if (isfinite(items[i].wall_s)) {
      k->mean_s = (k->mean_s * k->n_measured + items[i].wall_s) / (k->n_measured + 1);
      k->n_measured++;
    }
  }
  for (int k = 0; k < st->n_kinds; k++)
    if (!st->kinds[k].n_measured) st->kinds[k].mean_s = NAN;
  Rates r;
  r.train = per_epoch(items, n, K_ORIGINAL, K_ORIGINAL + 1, &r.n_train);
  if (!r.n_train) r.train = per_epoch(items, n, K_RETRAIN, K_RETRAIN + 1, &r.n_train);
  r.run = per_epoch(items, n, K_SHARED, st->n_kinds, &r.n_run);
  st->work_s = 0, st->n_left = st->n_unestimated = st->n_borrowed = 0;
  for (int i = 0; i < n; i++) {
    if (done[i]) continue;
    st->n_left++;
    double v = estimate(st, items, i, &r);
    StatusKind *k = &st->kinds[items[i].kind];
    if (isfinite(v))
      k->left_s += v, st->work_s += v, st->n_borrowed += !k->n_measured;
    else
      k->left_s = NAN, st->n_unestimated++;
  }
  st->eta_s = st->work_s / (st->groups > 0 ? st->groups : 1);
}

// The counts per kind, the failures, and the estimate.
static int fill(SweepStatus *st, const Sweep *s, const ResultsTable *t, const StatusItem *items,
                const bool *done, Err *e) {
  st->failures = calloc((size_t)s->n_items + 1, sizeof *st->failures);
  if (!st->failures) return errf(e, ERR_RUNTIME, "out of memory");
  for (int i = 0; i < s->n_items; i++) {
    StatusKind *k = &st->kinds[items[i].kind];
    const ResultRow *row = items[i].row >= 0 ? &t->rows[items[i].row] : NULL;
    if (done[i]) {
      k->done++;
    } else if (row && !results_row_ok(row)) {
      k->failed++;
      StatusFailure *f = &st->failures[st->n_failures++];
      snprintf(f->run_id, sizeof f->run_id, "%s", row->run_id);
      snprintf(f->kind, sizeof f->kind, "%s", k->name);
      snprintf(f->status, sizeof f->status, "%s", row->status);
      f->seed = row->seed;
    } else {
      k->todo++;
    }
  }
  for (int k = 0; k < st->n_kinds; k++)
    st->done += st->kinds[k].done, st->failed += st->kinds[k].failed, st->todo += st->kinds[k].todo;
  status_estimate(st, items, s->n_items, done);
  return 0;
}

int sweep_status(SweepStatus *st, const char *file, const char *config_path, Err *e) {
  memset(st, 0, sizeof *st);
  ResultsTable t;
  int rc = results_read(file, &t, e);
  if (rc) return rc;
  Plan *plan = NULL;
  SweepArgs args = {0};
  Sweep s = {.args = &args};
  int *latest = NULL, n_latest = 0;
  bool *done = NULL;
  StatusItem *items = NULL;
  snprintf(st->sweep_id, sizeof st->sweep_id, "%s", t.schema.sweep_id);
  snprintf(st->shard, sizeof st->shard, "%s", t.shard ? t.shard : "");
  if (st->shard[0] && sscanf(st->shard, "%d/%d", &args.shard_i, &args.shard_n) != 2)
    rc = errf(e, ERR_CONFIG, "%s: shard attribute '%s' is not I/N", file, st->shard);
  if (!rc && config_path) {
    ConfigFile *cf = NULL;
    rc = config_load(&cf, config_path, NULL, 0, NULL, e);
    if (!rc) rc = plan_expand_paths(&plan, cf, 0, e);
    if (plan)
      plan->owns_cfs = true;  // frees cf
    else
      config_free(cf);
    snprintf(st->config_from, sizeof st->config_from, "%s", config_path);
  } else if (!rc) {
    rc = load_stored(st, &plan, file, &t, e);
  }
  if (!rc) {
    const ConfigFile *cf = plan->cf;
    s.cf = cf, s.plan = plan, s.cache_dir = cf->base.output.cache_dir;
    snprintf(st->cache_dir, sizeof st->cache_dir, "%s", s.cache_dir);
    struct stat sb;
    st->cache_found = stat(s.cache_dir, &sb) == 0 && S_ISDIR(sb.st_mode);
    st->n_runs = plan->n_runs;
    // The layout of the process that created the file: its world size and the ranks per run
    // in its compute attribute (else the config's).
    st->world_size = t.world_size, st->ranks_per_run = cf->base.sweep.ranks_per_run;
    int rpr;
    if (t.compute && sscanf(t.compute, "%d rank(s) per run", &rpr) == 1 && rpr > 0)
      st->ranks_per_run = rpr;
    if (st->world_size > 0 && st->world_size % st->ranks_per_run == 0)
      st->groups = st->world_size / st->ranks_per_run;
    rc = sweep_build_items(&s, e);
  }
  if (!rc) rc = results_open(file, NULL, &s.results, e);
  if (!rc) rc = results_latest_rows(&t, &latest, &n_latest, e);
  if (!rc && config_path) rc = check_config(st, &s, &t, latest, n_latest, file, config_path, e);
  if (!rc && !(done = sweep_items_done(&s))) rc = errf(e, ERR_RUNTIME, "out of memory");
  if (!rc) rc = status_items(st, &s, &t, &items, e);
  if (!rc) rc = fill(st, &s, &t, items, done, e);
  free(done), free(latest), free(items), free(s.items);
  if (s.results) results_close(s.results);
  if (plan) plan_free(plan);
  results_table_free(&t);
  if (rc) sweep_status_free(st);
  return rc;
}

void sweep_status_free(SweepStatus *st) {
  free(st->kinds), free(st->failures);
  st->kinds = NULL, st->failures = NULL;
  st->n_kinds = st->n_failures = 0;
}
