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

// One item as status sees it.
typedef struct {
  int kind;       // index into SweepStatus.kinds
  int epochs;     // its training epochs (0: evaluation only)
  double wall_s;  // measured, NaN if not
  int row;        // its latest row in the table, -1: none
} ItemInfo;

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
static int load_stored(SweepStatus *st, ConfigFile **cf, Plan **plan, const char *file,
                       const ResultsTable *t, Err *e) {
  const char *from = NULL;
  if (plan_load_stored(cf, plan, t, file, STORED_IDS, &from, e)) {
    char msg[sizeof e->msg];
    snprintf(msg, sizeof msg, "%s", e->msg);
    return errf(e, ERR_CONFIG, "%.900s; give the sweep's config: ecore status FILE CONFIG", msg);
  }
  snprintf(st->config_from, sizeof st->config_from, "the file's %s", from);
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

static void item_info(const Sweep *s, SweepStatus *st, const ResultsTable *t, const int *latest,
                      int n_latest, int i, ItemInfo *out) {
  const Item *it = &s->items[i];
  int run = it->kind == ITEM_RUN ? it->index : s->plan->jobs[it->index].run;
  Config c;
  plan_run_config(s->plan, run, &c);
  ResultRow row;
  results_row_init(&row);
  bool has_row = sweep_item_row(s, i, &row);
  *out = (ItemInfo){.wall_s = NAN, .row = has_row ? find_row(t, latest, n_latest, row.run_id) : -1};
  switch (it->kind) {
    case ITEM_ORIGINAL:
      out->kind = K_ORIGINAL, out->epochs = c.train.epochs;
      out->wall_s = sweep_job_wall(s, "original", s->plan->jobs[it->index].id);
      break;
    case ITEM_EC_MODULES:
      out->kind = K_EC_MODULES, out->epochs = c.ec.pretrain.epochs;
      out->wall_s = sweep_job_wall(s, "ec_modules", s->plan->jobs[it->index].id);
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
  if (out->row >= 0 && results_row_ok(&t->rows[out->row])) out->wall_s = t->rows[out->row].wall_s;
}

static double kind_mean(const SweepStatus *st, int k) {
  return st->kinds[k].n_measured ? st->kinds[k].mean_s : NAN;
}

// Seconds per epoch of the measured items of kinds [k0, k1).
static double per_epoch(const ItemInfo *info, int n, int k0, int k1, int *n_used) {
  double secs = 0, epochs = 0;
  *n_used = 0;
  for (int i = 0; i < n; i++)
    if (info[i].kind >= k0 && info[i].kind < k1 && isfinite(info[i].wall_s) && info[i].epochs > 0)
      secs += info[i].wall_s, epochs += info[i].epochs, (*n_used)++;
  return epochs > 0 ? secs / epochs : NAN;
}

// The estimated seconds of item i (not measured), filling its kind's basis on first use.
static double estimate(SweepStatus *st, const ItemInfo *info, int n, int i) {
  StatusKind *k = &st->kinds[info[i].kind];
  int kind = info[i].kind, used;
  if (k->n_measured) {
    snprintf(k->basis, sizeof k->basis, "mean of %d measured", k->n_measured);
    return k->mean_s;
  }
  double v = NAN, rate;
  switch (kind) {
    case K_ORIGINAL:
      v = kind_mean(st, K_RETRAIN);
      snprintf(k->basis, sizeof k->basis, "as retraining (the same recipe, on D_r)");
      break;
    case K_RETRAIN:
      v = kind_mean(st, K_ORIGINAL);
      snprintf(k->basis, sizeof k->basis, "as the original's training (the same recipe)");
      break;
    case K_EC_MODULES:
      rate = per_epoch(info, n, K_ORIGINAL, K_ORIGINAL + 1, &used);
      if (!used) rate = per_epoch(info, n, K_RETRAIN, K_RETRAIN + 1, &used);
      v = rate * info[i].epochs;
      snprintf(k->basis, sizeof k->basis,
               "its epochs x %.3g s per training epoch (%d measured; an upper bound)", rate, used);
      break;
    case K_ORIGINAL_ROW:
      break;
    default:
      rate = per_epoch(info, n, K_SHARED, st->n_kinds, &used);
      v = rate * info[i].epochs;
      snprintf(k->basis, sizeof k->basis, "its epochs x %.3g s per epoch of %d measured runs", rate,
               used);
  }
  if (!isfinite(v)) snprintf(k->basis, sizeof k->basis, "not estimated: nothing to go by yet");
  return v;
}

static int fill(SweepStatus *st, const Sweep *s, const ResultsTable *t, const int *latest,
                int n_latest, const bool *done, Err *e) {
  ItemInfo *info = calloc((size_t)s->n_items + 1, sizeof *info);
  st->kinds = calloc((size_t)s->n_items + K_SHARED, sizeof *st->kinds);
  st->failures = calloc((size_t)s->n_items + 1, sizeof *st->failures);
  if (!info || !st->kinds || !st->failures) {
    free(info);
    return errf(e, ERR_RUNTIME, "out of memory");
  }
  st->n_kinds = K_SHARED;
  for (int k = 0; k < K_SHARED; k++) {
    snprintf(st->kinds[k].name, sizeof st->kinds[k].name, "%s", shared_names[k]);
    st->kinds[k].has_rows = k == K_RETRAIN || k == K_ORIGINAL_ROW;
  }
  for (int i = 0; i < s->n_items; i++) {
    item_info(s, st, t, latest, n_latest, i, &info[i]);
    StatusKind *k = &st->kinds[info[i].kind];
    const ResultRow *row = info[i].row >= 0 ? &t->rows[info[i].row] : NULL;
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
    if (isfinite(info[i].wall_s)) {
      k->mean_s = (k->mean_s * k->n_measured + info[i].wall_s) / (k->n_measured + 1);
      k->n_measured++;
    }
  }
  for (int k = 0; k < st->n_kinds; k++) {
    StatusKind *K = &st->kinds[k];
    if (!K->n_measured) K->mean_s = NAN;
    st->done += K->done, st->failed += K->failed, st->todo += K->todo;
  }
  for (int i = 0; i < s->n_items; i++) {
    if (done[i]) continue;
    double v = estimate(st, info, s->n_items, i);
    StatusKind *k = &st->kinds[info[i].kind];
    if (isfinite(v))
      k->left_s += v, st->work_s += v;
    else
      k->left_s = NAN, st->n_unestimated++;
  }
  for (int k = 0; k < st->n_kinds; k++)
    if (!st->kinds[k].failed && !st->kinds[k].todo) st->kinds[k].basis[0] = '\0';
  st->eta_s = st->work_s / (st->groups > 0 ? st->groups : 1);
  free(info);
  return 0;
}

int sweep_status(SweepStatus *st, const char *file, const char *config_path, Err *e) {
  memset(st, 0, sizeof *st);
  ResultsTable t;
  int rc = results_read(file, &t, e);
  if (rc) return rc;
  ConfigFile *cf = NULL;
  Plan *plan = NULL;
  SweepArgs args = {0};
  Sweep s = {.args = &args};
  int *latest = NULL, n_latest = 0;
  bool *done = NULL;
  snprintf(st->sweep_id, sizeof st->sweep_id, "%s", t.schema.sweep_id);
  snprintf(st->shard, sizeof st->shard, "%s", t.shard ? t.shard : "");
  if (st->shard[0] && sscanf(st->shard, "%d/%d", &args.shard_i, &args.shard_n) != 2)
    rc = errf(e, ERR_CONFIG, "%s: shard attribute '%s' is not I/N", file, st->shard);
  if (!rc && config_path) {
    rc = config_load(&cf, config_path, NULL, 0, NULL, e);
    if (!rc) rc = plan_expand_paths(&plan, cf, 0, e);
    snprintf(st->config_from, sizeof st->config_from, "%s", config_path);
  } else if (!rc) {
    rc = load_stored(st, &cf, &plan, file, &t, e);
  }
  if (!rc) {
    s.cf = cf, s.plan = plan, s.cache_dir = cf->base.output.cache_dir;
    plan_id_text(plan->sweep_id, st->plan_id);
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
  if (!rc && strcmp(st->plan_id, st->sweep_id))
    rc = check_same_sweep(&s, &t, latest, n_latest, file, config_path, e);
  if (!rc && !(done = sweep_items_done(&s))) rc = errf(e, ERR_RUNTIME, "out of memory");
  if (!rc) rc = fill(st, &s, &t, latest, n_latest, done, e);
  free(done), free(latest), free(s.items);
  if (s.results) results_close(s.results);
  if (plan) plan_free(plan);
  if (cf) config_free(cf);
  results_table_free(&t);
  if (rc) sweep_status_free(st);
  return rc;
}

void sweep_status_free(SweepStatus *st) {
  free(st->kinds), free(st->failures);
  st->kinds = NULL, st->failures = NULL;
  st->n_kinds = st->n_failures = 0;
}
