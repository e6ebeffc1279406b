// groups.c: the rows of a results table grouped as the report and the claims see them: the
// latest row of each run_id, groups of rows that differ only by seed (same method, ec and axis
// values), mean ± sample std over a group's ok rows, and the reference rows (method "original"
// or "retrain") whose reference axes agree with a group's.
//
// Reference axes: the grid axes that determine the retrained model (the original model or the
// forget set). The results file says which they are (schema.reference_axis); for a file that
// does not, legacy_reference_axis goes by the axis name.
//
// Models: the latest ok rows of one seed and the same reference axis values were measured
// against one original and one retrained model (a sweep trains one of each there). Rows whose
// fingerprints of those say otherwise mix two trainings of a model (a sweep resumed, or a shard
// run, without the cache it began with): their numbers are not comparable, and groups_build
// refuses the table (check_models) rather than average or pair them. Rows without fingerprints
// (files from before them, failed rows) are not checked.
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "results.h"
#include "results_internal.h"

// ---------------------------------------------------------------- compatibility
// Files written before the attribute reference_axes existed (schema.has_reference_axes false)
// do not say which axes determine the retrained model. There the keys under data., model.,
// train. and forget. were taken to, by the config's naming; such files report as they did.
static bool legacy_reference_axis(const char *axis) {
  static const char *const prefixes[] = {"data.", "model.", "train.", "forget."};
  for (int i = 0; i < 4; i++)
    if (!strncmp(axis, prefixes[i], strlen(prefixes[i]))) return true;
  return false;
}

// ---------------------------------------------------------------- axes and rows

bool groups_restated_axis(const ResultsSchema *s, int i) {
  return !strcmp(s->axes[i], "unlearn.method") || !strcmp(s->axes[i], "ec.enabled");
}

bool groups_reference_axis(const ResultsSchema *s, int i) {
  return s->has_reference_axes ? s->reference_axis[i] : legacy_reference_axis(s->axes[i]);
}

int groups_cmp_value(const char *a, const char *b) {
  char *ea, *eb;
  double x = strtod(a, &ea), y = strtod(b, &eb);
  if (*a && *b && !*ea && !*eb && x != y) return x < y ? -1 : 1;
  return strcmp(a, b);
}

int groups_method_rank(const char *method, bool none_first) {
  if (!strcmp(method, "original")) return 0;
  if (!strcmp(method, "retrain")) return 1;
  return none_first && !strcmp(method, "none") ? 2 : 2 + none_first;
}

bool groups_same(const ResultsSchema *s, const ResultRow *a, const ResultRow *b) {
  if (strcmp(a->method, b->method) || a->ec != b->ec) return false;
  for (int i = 0; i < s->n_axes; i++)
    if (strcmp(a->axis[i], b->axis[i])) return false;
  return true;
}

bool groups_agree_reference(const ResultsSchema *s, const ResultRow *a, const ResultRow *b,
                            bool loose) {
  for (int i = 0; i < s->n_axes; i++) {
    const char *x = a->axis[i], *y = b->axis[i];
    if (!groups_reference_axis(s, i) || (loose && (!*x || !*y))) continue;
    if (strcmp(x, y)) return false;
  }
  return true;
}

// ---------------------------------------------------------------- metrics

GroupMetric groups_scalar(const char *name) {
  for (int i = 0; i < RESULTS_N_SCALARS; i++)
    if (!strcmp(results_scalar_name(i), name)) return (GroupMetric){-1, i};
  return (GroupMetric){-1, -1};
}

GroupMetric groups_curve(const char *name, int point) {
  for (int c = 0; c < RESULTS_N_CURVES; c++)
    if (!strcmp(results_curve_name(c), name)) return (GroupMetric){c, point};
  return (GroupMetric){-1, -1};
}

double groups_value(const ResultRow *r, GroupMetric m) {
  if (m.index < 0) return NAN;
  return m.curve < 0 ? results_row_scalar(r, m.index) : results_row_curve(r, m.curve)[m.index];
}

// ---------------------------------------------------------------- models

// Rows a and b share their models: the same seed and reference axis values.
static bool same_models(const ResultsSchema *s, const ResultRow *a, const ResultRow *b) {
  return a->seed == b->seed && groups_agree_reference(s, a, b, false);
}

static const char *fingerprint(const ResultRow *r, int retrain) {
  return retrain ? r->retrain_fingerprint : r->original_fingerprint;
}

void text_append(char *buf, size_t cap, const char *fmt, ...) {
  size_t n = strlen(buf);
  if (n + 1 >= cap) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf + n, cap - n, fmt, ap);
  va_end(ap);
}

// The error for the rows that share key's models but name different `retrain` (0: original)
// models: each fingerprint with (some of) the runs that name it. n_more: other such settings.
static int mixed_models(const Groups *g, const ResultRow *key, int retrain, int n_more, Err *e) {
  const ResultsSchema *s = g->s;
  char where[256] = "", models[640] = "";
  text_append(where, sizeof where, "seed %d", key->seed);
  for (int i = 0; i < s->n_axes; i++)
    if (groups_reference_axis(s, i))
      text_append(where, sizeof where, ", %s=%s", s->axes[i], key->axis[i]);
  const char *seen[8];
  int n_seen = 0;
  for (int i = 0; i < g->n_rows; i++) {  // each fingerprint in turn, with its runs
    const ResultRow *r = g->rows[i];
    const char *fp = fingerprint(r, retrain);
    if (!results_row_ok(r) || !*fp || !same_models(s, r, key)) continue;
    bool done = false;
    for (int k = 0; k < n_seen && !done; k++) done = !strcmp(seen[k], fp);
    if (done || n_seen == 8) continue;
    seen[n_seen++] = fp;
    int n_runs = 0;
    text_append(models, sizeof models, "%s %s by ", n_seen > 1 ? ";" : "", fp);
    for (int j = i; j < g->n_rows; j++) {
      const ResultRow *o = g->rows[j];
      if (!results_row_ok(o) || strcmp(fingerprint(o, retrain), fp) || !same_models(s, o, key))
        continue;
      if (n_runs < 3) text_append(models, sizeof models, "%s%s", n_runs ? ", " : "", o->run_id);
      n_runs++;
    }
    if (n_runs > 3) text_append(models, sizeof models, " and %d more", n_runs - 3);
  }
  char more[64] = "";
  if (n_more) snprintf(more, sizeof more, " (%d more setting(s) mix models too)", n_more);
  return errf(e, ERR_CONFIG,
              "sweep %s: the runs of %s were measured against %d different %s models:%s. Their "
              "numbers are not comparable and are not averaged: the file mixes two trainings of "
              "that model (a sweep resumed, or a shard run, without the cache it began with?); "
              "rerun the sweep into a new file with one cache%s",
              s->sweep_id, where, n_seen, retrain ? "retrained" : "original", models, more);
}

// Checks that the latest ok rows of each seed and reference axis values name one original
// and one retrained model (where they name one). ERR_CONFIG, naming the runs and the
// fingerprints of the first setting that does not, if some do not.
static int check_models(const Groups *g, Err *e) {
  size_t cap = (size_t)(g->n_rows ? g->n_rows : 1);
  const ResultRow **first = malloc(sizeof *first * cap);  // a representative per setting
  const ResultRow **orig = malloc(sizeof *orig * cap);    // its first row naming each model
  const ResultRow **rt = malloc(sizeof *rt * cap);
  int *bad = calloc(cap, sizeof *bad);  // 0 fine; 1 original models differ; 2 retrained
  int n = 0, rc = 0;
  if (!first || !orig || !rt || !bad) rc = errf(e, ERR_RUNTIME, "out of memory");
  for (int i = 0; !rc && i < g->n_rows; i++) {
    const ResultRow *r = g->rows[i];
    if (!results_row_ok(r)) continue;
    int k = 0;
    while (k < n && !same_models(g->s, first[k], r)) k++;
    if (k == n) first[n] = r, orig[n] = rt[n] = NULL, n++;
    for (int m = 0; m < 2; m++) {
      const ResultRow **named = m ? &rt[k] : &orig[k];
      if (!*fingerprint(r, m)) continue;
      if (!*named)
        *named = r;
      else if (strcmp(fingerprint(*named, m), fingerprint(r, m)) && !bad[k])
        bad[k] = 1 + m;
    }
  }
  int n_bad = 0, which = -1;
  for (int k = 0; !rc && k < n; k++)
    if (bad[k] && n_bad++ == 0) which = k;
  if (!rc && n_bad) rc = mixed_models(g, first[which], bad[which] - 1, n_bad - 1, e);
  free(first), free(orig), free(rt), free(bad);
  return rc;
}

// ---------------------------------------------------------------- groups

static int cmp_group(const Groups *g, const ResultRow *x, const ResultRow *y, bool none_first) {
  int c = groups_method_rank(x->method, none_first) - groups_method_rank(y->method, none_first);
  if (!c) c = strcmp(x->method, y->method);
  if (!c) c = x->ec - y->ec;
  for (int i = 0; !c && i < g->s->n_axes; i++) c = groups_cmp_value(x->axis[i], y->axis[i]);
  return c;
}

int groups_build(const ResultsTable *t, bool none_first, Groups *g, Err *e) {
  *g = (Groups){.t = t, .s = &t->schema};
  int *idx = NULL;
  int rc = results_latest_rows(t, &idx, &g->n_rows, e);
  if (rc) return rc;
  size_t cap = (size_t)(g->n_rows ? g->n_rows : 1);
  g->rows = malloc(sizeof *g->rows * cap);
  g->groups = malloc(sizeof *g->groups * cap);
  if (!g->rows || !g->groups) {
    free(idx), groups_free(g);
    return errf(e, ERR_RUNTIME, "out of memory");
  }
  for (int i = 0; i < g->n_rows; i++) g->rows[i] = &t->rows[idx[i]];
  free(idx);
  for (int i = 0; i < g->n_rows; i++) {
    const ResultRow *row = g->rows[i];
    int k = 0;
    while (k < g->n_groups && !groups_same(g->s, row, g->groups[k].key)) k++;
    if (k == g->n_groups) g->groups[g->n_groups++] = (Group){row, 0, 0};
    if (results_row_ok(row))
      g->groups[k].n_ok++, g->n_ok++;
    else
      g->groups[k].n_failed++;
  }
  for (int i = 1; i < g->n_groups; i++)  // insertion sort: few groups, needs the schema
    for (int j = i; j > 0 && cmp_group(g, g->groups[j - 1].key, g->groups[j].key, none_first) > 0;
         j--) {
      Group tmp = g->groups[j];
      g->groups[j] = g->groups[j - 1], g->groups[j - 1] = tmp;
    }
  if ((rc = check_models(g, e))) groups_free(g);
  return rc;
}

void groups_free(Groups *g) {
  free(g->rows), free(g->groups);
  g->rows = NULL, g->groups = NULL;
  g->n_rows = g->n_groups = 0;
}

// ---------------------------------------------------------------- statistics

// Whether ok row r is in the selection: key's group (method NULL), or a row of `method` whose
// reference axes agree with key's (exactly, or loosely: where both are set).
static bool selected(const Groups *g, const ResultRow *r, const ResultRow *key, const char *method,
                     bool loose) {
  if (!results_row_ok(r)) return false;
  if (!method) return groups_same(g->s, r, key);
  return !strcmp(r->method, method) && groups_agree_reference(g->s, r, key, loose);
}

GroupStat groups_stat(const Groups *g, const ResultRow *key, const char *method, bool loose,
                      GroupMetric m) {
  double sum = 0, sq = 0, lo = INFINITY, hi = -INFINITY;
  int n = 0, rows = 0;
  for (int pass = 0; pass < 2; pass++) {  // the mean, then the squares about it
    double mean = n ? sum / n : 0;
    n = rows = 0;
    for (int i = 0; i < g->n_rows; i++) {
      const ResultRow *r = g->rows[i];
      if (!selected(g, r, key, method, loose)) continue;
      rows++;
      double v = groups_value(r, m);
      if (isnan(v)) continue;
      if (pass == 0)
        sum += v, lo = fmin(lo, v), hi = fmax(hi, v);
      else
        sq += (v - mean) * (v - mean);
      n++;
    }
  }
  return (GroupStat){n ? sum / n : NAN, n > 1 ? sqrt(sq / (n - 1)) : NAN, lo, hi, n, rows};
}
