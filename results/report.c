// report.c: tables of every metric, mean ± std over seeds, one row per group of runs that
// differ only by seed (groups.c), with the gap to the retrained model.
//
// The retrain reference of a group is the mean over the latest ok rows with method "retrain"
// whose values agree with the group's on every reference axis (the axes that determine the
// retrained model, as the file says; in a file from before it said, the axes under data.,
// model., train. or forget.); with no such axes, every retrain row.
// avg gap = mean over forget_acc, retain_acc, test_retain_acc, mia_efficacy of |mean - retrain|
// (the avg gap of the unlearning literature), from the group's means.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "results.h"
#include "results_internal.h"

// The metrics of the avg gap, by name.
static const char *const GAP_METRICS[] = {"forget_acc", "retain_acc", "test_retain_acc",
                                          "mia_efficacy"};

static bool is_retrain(const Group *g) {
  return !strcmp(g->key->method, "retrain");
}

// Mean ± std of metric m over the ok rows of group g.
static GroupStat stat_of(const Groups *r, int g, GroupMetric m) {
  return groups_stat(r, r->groups[g].key, NULL, false, m);
}

// Gap to the retrain reference of group g for metric m (NaN when there is none): the retrain
// rows whose reference axes equal the group's.
static double gap_of(const Groups *r, int g, GroupMetric m, double *ref) {
  GroupStat a = stat_of(r, g, m), b = groups_stat(r, r->groups[g].key, "retrain", false, m);
  *ref = b.mean;
  return fabs(a.mean - b.mean);
}

static double avg_gap(const Groups *r, int g) {
  double sum = 0, ref;
  int n = 0;
  for (int i = 0; i < 4; i++) {
    double d = gap_of(r, g, groups_scalar(GAP_METRICS[i]), &ref);
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

static void md_group_cells(FILE *out, const Groups *r, int g) {
  const Group *gr = &r->groups[g];
  fprintf(out, "| ");
  md_text(out, gr->key->method);
  fprintf(out, " | %d |", gr->key->ec);
  for (int i = 0; i < r->t->schema.n_axes; i++) {
    if (groups_restated_axis(&r->t->schema, i)) continue;
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
    if (groups_restated_axis(s, i)) continue;
    fputc(' ', out);
    md_text(out, s->axes[i]);
    fprintf(out, " |");
  }
  fprintf(out, " n |");
  for (int i = 0; i < n_cols; i++) fprintf(out, " %s |", cols[i]);
  fprintf(out, "\n|---|---:|");
  for (int i = 0; i < s->n_axes; i++)
    if (!groups_restated_axis(s, i)) fprintf(out, "---|");
  fprintf(out, "---:|");
  for (int i = 0; i < n_cols; i++) fprintf(out, "---:|");
  fputc('\n', out);
}

// "mean ± std (Δ gap)"; std when n > 1, the gap when there is a reference.
static void md_cell(FILE *out, const Groups *r, int g, GroupMetric m, bool with_gap, int decimals) {
  GroupStat st = stat_of(r, g, m);
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

static void print_md(const Groups *r, FILE *out) {
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
  if (t->compute && t->compute[0]) fprintf(out, "Computed with %s.\n\n", t->compute);
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
      md_cell(out, r, g, groups_scalar(results_scalar_name(i)), gap, wall ? 1 : 4);
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
      for (int p = 0; p < s->n_points; p++)
        md_cell(out, r, g, groups_curve(results_curve_name(c), p), true, 4);
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

static void csv_line(FILE *out, const Groups *r, int g, const char *metric, const char *point,
                     GroupStat st, double ref, double gap) {
  const Group *gr = &r->groups[g];
  report_csv_text(out, gr->key->method);
  fprintf(out, ",%d", gr->key->ec);
  for (int i = 0; i < r->t->schema.n_axes; i++) {
    if (groups_restated_axis(&r->t->schema, i)) continue;
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
static void print_csv(const Groups *r, FILE *out) {
  const ResultsSchema *s = &r->t->schema;
  fprintf(out, "method,ec");
  for (int i = 0; i < s->n_axes; i++) {
    if (groups_restated_axis(s, i)) continue;
    fputc(',', out);
    report_csv_text(out, s->axes[i]);
  }
  fprintf(out, ",metric,point,n,mean,std,retrain,gap,n_failed\n");
  for (int g = 0; g < r->n_groups; g++) {
    bool rt = is_retrain(&r->groups[g]);
    for (int i = 0; i < RESULTS_N_SCALARS; i++) {
      GroupMetric m = groups_scalar(results_scalar_name(i));
      double ref = NAN, gap = rt ? NAN : gap_of(r, g, m, &ref);
      csv_line(out, r, g, results_scalar_name(i), "", stat_of(r, g, m), ref, gap);
    }
    for (int c = 0; c < RESULTS_N_CURVES; c++)
      for (int p = 0; p < s->n_points; p++) {
        GroupMetric m = groups_curve(results_curve_name(c), p);
        double ref = NAN, gap = rt ? NAN : gap_of(r, g, m, &ref);
        csv_line(out, r, g, results_curve_name(c), s->points[p], stat_of(r, g, m), ref, gap);
      }
    GroupStat ag = {rt ? NAN : avg_gap(r, g), NAN, 0, 0, r->groups[g].n_ok, 0};
    csv_line(out, r, g, "avg_gap_vs_retrain", "", ag, NAN, NAN);
  }
}

int results_report(const ResultsTable *t, ReportFormat fmt, FILE *out, Err *e) {
  if (t->n_rows == 0)
    return errf(e, ERR_RUNTIME, "sweep %s: the file holds no runs yet", t->schema.sweep_id);
  Groups r;
  int rc = groups_build(t, false, &r, e);
  if (!rc) {
    if (fmt == REPORT_CSV)
      print_csv(&r, out);
    else
      print_md(&r, out);
    if (fflush(out) != 0 || ferror(out)) rc = errf(e, ERR_RUNTIME, "cannot write the report");
  }
  groups_free(&r);
  return rc;
}
