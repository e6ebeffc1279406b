// groups.c: the rows of a results table grouped as the report and the claims see them: the
// latest row of each run_id, groups of rows that differ only by seed (same method, ec and axis
// values), mean ± sample std over a group's ok rows, and the reference rows (method "original"
// or "retrain") whose reference axes agree with a group's.
//
// Reference axes: the grid axes that determine the retrained model (the original model or the
// forget set). The results file says which they are (schema.reference_axis); for a file that
// does not, legacy_reference_axis goes by the axis name.
#include <math.h>
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
  return 0;
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
