// report.c: tables of every metric, mean ± std over seeds, one row per group of runs that
// differ only by seed, with the gap to the retrained model.
//
// The retrain reference of a group is the mean over the latest ok rows with method "retrain"
// whose values agree with the group's on every axis under data., model., train. or forget.
// (the keys that determine the retrained model); with no such axes, every retrain row.
// avg gap = mean over forget_acc, retain_acc, test_retain_acc, mia_efficacy of |mean - retrain|
// (the avg gap of the unlearning literature), from the group's means.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "results.h"
#include "results_internal.h"

typedef struct {
  double mean, std;
  int n;  // values that are not NaN
} Stat;

typedef struct {
  const ResultRow *key;  // a row of the group: method, ec and axis values
  int n_ok, n_failed;
} Group;

// A metric: a scalar (curve < 0) or one point of a per-point curve.
typedef struct {
  int curve, index;
} Metric;

static const int GAP_SCALARS[] = {0, 1, 2, 4};  // forget, retain, test_retain, mia

static double metric_value(const ResultRow *r, Metric m) {
  return m.curve < 0 ? results_row_scalar(r, m.index) : results_row_curve(r, m.curve)[m.index];
}

static bool same_group(const ResultRow *a, const ResultRow *b, const ResultsSchema *s) {
  if (strcmp(a->method, b->method) || a->ec != b->ec) return false;
  for (int i = 0; i < s->n_axes; i++)
    if (strcmp(a->axis[i], b->axis[i])) return false;
  return true;
}

static bool determines_retrain(const char *axis) {
  static const char *const prefixes[] = {"data.", "model.", "train.", "forget."};
  for (int i = 0; i < 4; i++)
    if (!strncmp(axis, prefixes[i], strlen(prefixes[i]))) return true;
  return false;
}

static bool is_retrain_for(const ResultRow *r, const ResultRow *key, const ResultsSchema *s) {
  if (strcmp(r->method, "retrain") || !results_row_ok(r)) return false;
  for (int i = 0; i < s->n_axes; i++)
    if (determines_retrain(s->axes[i]) && strcmp(r->axis[i], key->axis[i])) return false;
  return true;
}

int report_cmp_value(const char *a, const char *b) {
  char *ea, *eb;
  double x = strtod(a, &ea), y = strtod(b, &eb);
  if (*a && *b && !*ea && !*eb && x != y) return x < y ? -1 : 1;
  return strcmp(a, b);
}

static int method_rank(const char *m) {
  return !strcmp(m, "original") ? 0 : !strcmp(m, "retrain") ? 1 : 2;
}

static int cmp_group(const Group *a, const Group *b, const ResultsSchema *s) {
  const ResultRow *x = a->key, *y = b->key;
  int c = method_rank(x->method) - method_rank(y->method);
  if (!c) c = strcmp(x->method, y->method);
  if (!c) c = x->ec - y->ec;
  for (int i = 0; !c && i < s->n_axes; i++) c = report_cmp_value(x->axis[i], y->axis[i]);
  return c;
}

typedef struct {
  const ResultsTable *t;
  const int *rows;  // the latest row of each run_id
  int n_rows;
  int *gid;  // group of each of those rows
  Group *groups;
  int n_groups;
} Report;

static int build_groups(Report *r, Err *e) {
  const ResultsSchema *s = &r->t->schema;
  r->gid = malloc(sizeof *r->gid * (size_t)(r->n_rows ? r->n_rows : 1));
  r->groups = malloc(sizeof *r->groups * (size_t)(r->n_rows ? r->n_rows : 1));
  if (!r->gid || !r->groups) return errf(e, ERR_RUNTIME, "out of memory");
  r->n_groups = 0;
  for (int i = 0; i < r->n_rows; i++) {
    const ResultRow *row = &r->t->rows[r->rows[i]];
    int g = 0;
    while (g < r->n_groups && !same_group(row, r->groups[g].key, s)) g++;
    if (g == r->n_groups) r->groups[r->n_groups++] = (Group){row, 0, 0};
    if (results_row_ok(row))
      r->groups[g].n_ok++;
    else
      r->groups[g].n_failed++;
  }
  for (int i = 1; i < r->n_groups; i++)  // insertion sort: few groups, needs the schema
    for (int j = i; j > 0 && cmp_group(&r->groups[j - 1], &r->groups[j], s) > 0; j--) {
      Group tmp = r->groups[j];
      r->groups[j] = r->groups[j - 1], r->groups[j - 1] = tmp;
    }
  for (int i = 0; i < r->n_rows; i++) {
    int g = 0;
    while (!same_group(&r->t->rows[r->rows[i]], r->groups[g].key, s)) g++;
    r->gid[i] = g;
  }
  return 0;
}

// Mean and sample std of metric m over the ok rows of group g, or (g < 0) over the retrain
// rows that are the reference of group -g-1.
static Stat stat_of(const Report *r, int g, Metric m) {
  double sum = 0, sq = 0;
  int n = 0;
  const ResultsSchema *s = &r->t->schema;
  for (int pass = 0; pass < 2; pass++) {
    double mean = n ? sum / n : 0;
    n = 0;
    for (int i = 0; i < r->n_rows; i++) {
      const ResultRow *row = &r->t->rows[r->rows[i]];
      bool in = g >= 0 ? (r->gid[i] == g && results_row_ok(row))
                       : is_retrain_for(row, r->groups[-g - 1].key, s);
      double v = in ? metric_value(row, m) : NAN;
      if (isnan(v)) continue;
      if (pass == 0)
        sum += v;
      else
        sq += (v - mean) * (v - mean);
      n++;
    }
  }
  Stat st = {n ? sum / n : NAN, n > 1 ? sqrt(sq / (n - 1)) : NAN, n};
  return st;
}

static bool is_retrain(const Group *g) {
  return !strcmp(g->key->method, "retrain");
}

// Gap to the retrain reference of group g for metric m (NaN when there is none).
static double gap_of(const Report *r, int g, Metric m, double *ref) {
  Stat a = stat_of(r, g, m), b = stat_of(r, -g - 1, m);
  *ref = b.mean;
  return fabs(a.mean - b.mean);
}

static double avg_gap(const Report *r, int g) {
  double sum = 0, ref;
  int n = 0;
  for (int i = 0; i < 4; i++) {
    double d = gap_of(r, g, (Metric){-1, GAP_SCALARS[i]}, &ref);
    if (!isnan(d)) sum += d, n++;
  }
  return n ? sum / n : NAN;
}

// ---------------------------------------------------------------- Markdown

static void md_text(FILE *out, const char *s) {
  for (; *s; s++) {
    if (*s == '|') fputc('\\', out);
    fputc(*s == '\n' ? ' ' : *s, out);
  }
}

static void md_group_cells(FILE *out, const Report *r, int g) {
  const Group *gr = &r->groups[g];
  fprintf(out, "| ");
  md_text(out, gr->key->method);
  fprintf(out, " | %d |", gr->key->ec);
  for (int i = 0; i < r->t->schema.n_axes; i++) {
    fputc(' ', out);
    md_text(out, gr->key->axis[i]);
    fprintf(out, " |");
  }
  if (gr->n_failed)
    fprintf(out, " %d (+%d failed) |", gr->n_ok, gr->n_failed);
  else
    fprintf(out, " %d |", gr->n_ok);
}

static void md_header(FILE *out, const ResultsSchema *s, const char *const *cols, int n_cols) {
  fprintf(out, "| method | ec |");
  for (int i = 0; i < s->n_axes; i++) {
    fputc(' ', out);
    md_text(out, s->axes[i]);
    fprintf(out, " |");
  }
  fprintf(out, " n |");
  for (int i = 0; i < n_cols; i++) fprintf(out, " %s |", cols[i]);
  fprintf(out, "\n|---|---:|");
  for (int i = 0; i < s->n_axes; i++) fprintf(out, "---|");
  fprintf(out, "---:|");
  for (int i = 0; i < n_cols; i++) fprintf(out, "---:|");
  fputc('\n', out);
}

// "mean ± std (Δ gap)"; std when n > 1, the gap when there is a reference.
static void md_cell(FILE *out, const Report *r, int g, Metric m, bool with_gap, int decimals) {
  Stat st = stat_of(r, g, m);
  if (st.n == 0) {
    fprintf(out, " n/a |");
    return;
  }
  fprintf(out, " %.*f", decimals, st.mean);
  if (st.n > 1) fprintf(out, " ± %.*f", decimals, st.std);
  double ref, gap = with_gap && !is_retrain(&r->groups[g]) ? gap_of(r, g, m, &ref) : NAN;
  if (!isnan(gap)) fprintf(out, " (Δ %.*f)", decimals, gap);
  fprintf(out, " |");
}

static void print_md(const Report *r, FILE *out) {
  const ResultsTable *t = r->t;
  const ResultsSchema *s = &t->schema;
  int ok = 0, failed = 0;
  for (int g = 0; g < r->n_groups; g++) ok += r->groups[g].n_ok, failed += r->groups[g].n_failed;
  fprintf(out, "# ecore report: sweep %s\n\n", s->sweep_id);
  fprintf(out, "%d runs: %d ok, %d failed", r->n_rows, ok, failed);
  if (t->n_rows > r->n_rows) fprintf(out, " (%d superseded rows ignored)", t->n_rows - r->n_rows);
  fprintf(out, ". Written by ecore %s (%s), created %s", t->ecore_version, t->git_commit,
          t->created);
  if (t->shard && t->shard[0]) fprintf(out, ", shard %s", t->shard);
  fprintf(out, ".\n\n");
  fprintf(
      out,
      "Each row: the runs that differ only by seed; mean ± std over them (sample std; n = "
      "finished runs). (Δ x) = |mean − retrain|, retrain being the mean of the `retrain` "
      "runs with the same data/model/train/forget axis values. avg gap (of means) = mean Δ over "
      "forget_acc, retain_acc, test_retain_acc, mia_efficacy. Accuracies are fractions.\n\n");

  const char *cols[RESULTS_N_SCALARS + 1];
  for (int i = 0; i < RESULTS_N_SCALARS; i++) cols[i] = results_scalar_name(i);
  cols[RESULTS_N_SCALARS] = "avg gap (of means)";
  fprintf(out, "## Metrics\n\n");
  md_header(out, s, cols, RESULTS_N_SCALARS + 1);
  for (int g = 0; g < r->n_groups; g++) {
    md_group_cells(out, r, g);
    for (int i = 0; i < RESULTS_N_SCALARS; i++) {
      bool wall = !strcmp(results_scalar_name(i), "wall_s");
      bool gap = !wall && strcmp(results_scalar_name(i), "avg_gap");
      md_cell(out, r, g, (Metric){-1, i}, gap, wall ? 1 : 4);
    }
    double ag = is_retrain(&r->groups[g]) ? NAN : avg_gap(r, g);
    if (isnan(ag))
      fprintf(out, " |\n");
    else
      fprintf(out, " %.4f |\n", ag);
  }
  const char *points[RESULTS_MAX_POINTS];
  for (int p = 0; p < s->n_points; p++) points[p] = s->points[p];
  for (int c = 0; c < RESULTS_N_CURVES; c++) {
    fprintf(out, "\n## %s: %s, per supervision point\n\n", results_curve_name(c),
            results_curve_title(c));
    md_header(out, s, points, s->n_points);
    for (int g = 0; g < r->n_groups; g++) {
      md_group_cells(out, r, g);
      for (int p = 0; p < s->n_points; p++) md_cell(out, r, g, (Metric){c, p}, true, 4);
      fputc('\n', out);
    }
  }
}

// ---------------------------------------------------------------- CSV

void report_csv_text(FILE *out, const char *s) {
  if (!strpbrk(s, ",\"\n\r")) {
    fputs(s, out);
    return;
  }
  fputc('"', out);
  for (; *s; s++) {
    if (*s == '"') fputc('"', out);
    fputc(*s, out);
  }
  fputc('"', out);
}

void report_csv_num(FILE *out, double v) {
  fputc(',', out);
  if (!isnan(v)) fprintf(out, "%.9g", v);
}

static void csv_line(FILE *out, const Report *r, int g, const char *metric, const char *point,
                     Stat st, double ref, double gap) {
  const Group *gr = &r->groups[g];
  report_csv_text(out, gr->key->method);
  fprintf(out, ",%d", gr->key->ec);
  for (int i = 0; i < r->t->schema.n_axes; i++) {
    fputc(',', out);
    report_csv_text(out, gr->key->axis[i]);
  }
  fputc(',', out);
  report_csv_text(out, metric);
  fputc(',', out);
  report_csv_text(out, point);
  fprintf(out, ",%d", st.n);
  report_csv_num(out, st.mean), report_csv_num(out, st.std), report_csv_num(out, ref),
      report_csv_num(out, gap);
  fprintf(out, ",%d\n", gr->n_failed);
}

// Long ("tidy") form: one line per group and metric (and point).
static void print_csv(const Report *r, FILE *out) {
  const ResultsSchema *s = &r->t->schema;
  fprintf(out, "method,ec");
  for (int i = 0; i < s->n_axes; i++) {
    fputc(',', out);
    report_csv_text(out, s->axes[i]);
  }
  fprintf(out, ",metric,point,n,mean,std,retrain,gap,n_failed\n");
  for (int g = 0; g < r->n_groups; g++) {
    bool rt = is_retrain(&r->groups[g]);
    for (int i = 0; i < RESULTS_N_SCALARS; i++) {
      Metric m = {-1, i};
      double ref = NAN, gap = rt ? NAN : gap_of(r, g, m, &ref);
      csv_line(out, r, g, results_scalar_name(i), "", stat_of(r, g, m), ref, gap);
    }
    for (int c = 0; c < RESULTS_N_CURVES; c++)
      for (int p = 0; p < s->n_points; p++) {
        Metric m = {c, p};
        double ref = NAN, gap = rt ? NAN : gap_of(r, g, m, &ref);
        csv_line(out, r, g, results_curve_name(c), s->points[p], stat_of(r, g, m), ref, gap);
      }
    Stat ag = {rt ? NAN : avg_gap(r, g), NAN, r->groups[g].n_ok};
    csv_line(out, r, g, "avg_gap_vs_retrain", "", ag, NAN, NAN);
  }
}

int results_report(const ResultsTable *t, ReportFormat fmt, FILE *out, Err *e) {
  if (t->n_rows == 0)
    return errf(e, ERR_RUNTIME, "sweep %s: the file holds no runs yet", t->schema.sweep_id);
  int *rows = NULL, n = 0;
  int rc = results_latest_rows(t, &rows, &n, e);
  Report r = {t, rows, n, NULL, NULL, 0};
  if (!rc) rc = build_groups(&r, e);
  if (!rc) {
    if (fmt == REPORT_CSV)
      print_csv(&r, out);
    else
      print_md(&r, out);
    if (fflush(out) != 0 || ferror(out)) rc = errf(e, ERR_RUNTIME, "cannot write the report");
  }
  free(r.gid), free(r.groups), free(rows);
  return rc;
}
