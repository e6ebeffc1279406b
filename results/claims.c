// claims.c: the paper's claims about Erase at the Core (EC), checked on a sweep's results:
// each stated and marked holds / fails per setting and supervision point, with mean ± std over
// seeds, the margin and the seed-to-seed spread.
//
// Rows: the latest ok row of each run_id. Group: the rows that differ only by seed (same
// method, ec and axis values), as in report.c (both group with groups.c). Setting: the groups
// with the same values of the reference axes (what the original and retrained models depend
// on: as the file says, or in a file from before it said, the axes under data., model., train.
// and forget.); claims compare groups of one setting only. The reference rows of a setting: method
// "original" (θ_o) or "retrain" (θ_rt) whose setting axes agree with the setting's wherever
// both are set (a row holds "" for a key that does not apply to it; a job row also for keys its
// model does not depend on, e.g. model.points). Two groups of a setting are compared when they
// agree on every other axis set in both rows, unlearn.method and ec.enabled aside: those
// restate method and ec (EC alone is unlearn.method none, and is compared with ft).
//
// Comparisons, from the means and sample stds over seeds (a group of one run has std 0 and its
// verdict says n=1); every line shows spread = sqrt(std_A² + std_B²):
//   A lower than B       margin = mean_B − mean_A; holds when margin > spread.
//   A within t of B      margin = t − |mean_A − mean_B|; holds when margin ≥ 0.
//   A ≤ t                margin = t − mean_A; holds when margin ≥ 0.
//   A drops ≤ t from B   margin = t − (mean_B − mean_A); holds when margin ≥ 0.
// Differences under EPS (rounding of the means) count as zero. The claims: RULES.
#include "claims.h"
#include "results_internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

enum { LABEL_LEN = 400 };
static const double EPS = 1e-9;

static const char RULES[] =
    "- Runs: the latest ok row of each run. Group: the runs that differ only by seed (same\n"
    "  method, EC on/off and grid values); mean ± std over them (sample std; n = runs with a\n"
    "  value).\n"
    "- Setting: the groups with the same values of the grid keys under data., model., train.\n"
    "  and forget. (the same original and retrained models); claims compare groups of one\n"
    "  setting only. original (θ_o) and retrain (θ_rt): the runs of those methods whose values\n"
    "  agree with the setting's where both are set. Base methods: every other method without\n"
    "  EC. EC alone: method none with EC. m+EC: base method m with EC. Two groups are compared\n"
    "  when they agree on every other grid key set in both (a key that does not apply to a run,\n"
    "  e.g. ec.temperature without EC, is unset; unlearn.method and ec.enabled restate the\n"
    "  method and EC on/off and are left out).\n"
    "- A lower than B: holds when margin = mean_B − mean_A > spread = sqrt(std_A² + std_B²): a\n"
    "  difference counts only beyond the seed-to-seed spread. A within t of B: holds when\n"
    "  |mean_A − mean_B| ≤ t (margin = t − |mean_A − mean_B|). A ≤ t: holds when mean_A ≤ t\n"
    "  (margin = t − mean_A). Only \"lower than\" uses the spread; every line shows it.\n"
    "- A group of one run has std 0 and is never silently significant: its verdict says\n"
    "  (n=1). n/a: a group or value the comparison needs is missing; it is not a failure.\n"
    "- C1 EC alone forgets: forget_acc ≤ max(0.01, forget_acc of θ_rt + 0.01), and\n"
    "  test_retain_acc within 0.02 of θ_o's.\n"
    "- C2 EC alone reaches the core: at each supervision point, cka_original (linear CKA to\n"
    "  θ_o) lower than that of every base method, and knn_forget_acc lower than θ_o's (θ_rt's\n"
    "  is shown beside: the value it should fall toward).\n"
    "- C3 EC as a plug-in: for each base method m run with and without EC, at each point\n"
    "  cka_original(m+EC) lower than cka_original(m), and test_retain_acc(m) −\n"
    "  test_retain_acc(m+EC) ≤ 0.02 (margin = 0.02 − that drop).\n"
    "- Reference: cka_original of θ_rt = CKA(θ_rt, θ_o) per point. Where it stays near 1 even\n"
    "  retraining from scratch keeps θ_o's features at that layer, so a method close to θ_o\n"
    "  there is no defect, and \"lower than\" there is a weak finding.\n"
    "- A claim holds for a setting and group when every comparison with a value holds, and\n"
    "  fails when one fails; its summary names the points (or metrics) where it fails.\n";

const char *results_claims_rules(void) {
  return RULES;
}

typedef struct {
  double mean, std;  // std: sample std, 0 when n = 1
  int n;             // rows with a value (not NaN)
  int rows;          // rows selected
} Stat;

typedef enum { M_FORGET, M_TEST_RETAIN, M_CKA, M_KNN } MetricId;

static const char *metric_name(MetricId m) {
  static const char *const names[] = {"forget_acc", "test_retain_acc", "cka_original",
                                      "knn_forget_acc"};
  return names[m];
}

// The metric by its name in the file: a scalar, or a curve at point p.
static GroupMetric metric_of(MetricId m, int p) {
  return m == M_CKA || m == M_KNN ? groups_curve(metric_name(m), p) : groups_scalar(metric_name(m));
}

typedef enum { K_LOWER, K_WITHIN, K_AT_MOST, K_DROP, K_REF } Kind;
typedef enum { V_NA, V_HOLDS, V_FAILS, V_REF } Verdict;

// One comparison (claim 1..3), or one reference value (claim 0): a line of a table.
typedef struct {
  int claim;
  const char *code;  // the CSV claim column, e.g. "C2.cka_original"
  char text[160];    // the Markdown claim column
  MetricId metric;
  int setting, point;               // point -1: a scalar metric
  int subject;                      // index into Claims.subjects (-1: a reference value)
  char a[LABEL_LEN], b[LABEL_LEN];  // group labels; b "": no B
  Stat sa, sb;
  double margin, spread;  // NaN: none
  Verdict v;
  bool n1;                   // a group of one run took part
  char why[LABEL_LEN + 32];  // V_NA: what is missing
} Line;

// What one summary entry judges: an EC-alone group (C1, C2), or an m+EC group against m (C3).
typedef struct {
  int claim, setting;
  char label[2 * LABEL_LEN + 8];
} Subject;

typedef struct {
  const ResultsTable *t;
  const ResultsSchema *s;
  Groups gr;                 // the latest rows of the run_ids and their groups
  const ResultRow **groups;  // a row of each group with ok rows, in gr's order
  int n_groups;
  int *setting_of;             // the setting of each group; -1 for original and retrain
  const ResultRow **settings;  // a row of each setting: its setting axes
  int n_settings;
  Line *lines;
  int n_lines, cap_lines;
  Subject *subjects;
  int n_subjects, cap_subjects;
  bool oom;  // a line or subject could not be stored
} Claims;

// ---------------------------------------------------------------- groups and settings

typedef enum { AX_SETTING, AX_RESTATED, AX_OTHER } AxisKind;

// Setting: a reference axis (groups.c). Restated: unlearn.method and ec.enabled.
static AxisKind axis_kind(const ResultsSchema *s, int i) {
  if (groups_reference_axis(s, i)) return AX_SETTING;
  if (groups_restated_axis(s, i)) return AX_RESTATED;
  return AX_OTHER;
}

// Whether a and b agree on every axis of kind k: exactly, or (loose) wherever both are set.
static bool agree(const Claims *c, const ResultRow *a, const ResultRow *b, AxisKind k, bool loose) {
  for (int i = 0; i < c->s->n_axes; i++) {
    const char *x = a->axis[i], *y = b->axis[i];
    if (axis_kind(c->s, i) != k || (loose && (!*x || !*y))) continue;
    if (strcmp(x, y)) return false;
  }
  return true;
}

static bool is_reference(const ResultRow *r) {
  return !strcmp(r->method, "original") || !strcmp(r->method, "retrain");
}
static bool is_ec_alone(const ResultRow *r) {
  return r->ec && !strcmp(r->method, "none");
}
static bool is_base(const ResultRow *r) {
  return !r->ec && !is_reference(r);
}
static bool is_plugin(const ResultRow *r) {
  return r->ec && !is_reference(r) && !is_ec_alone(r);
}

static int cmp_setting(const Claims *c, const ResultRow *x, const ResultRow *y) {
  int d = 0;
  for (int i = 0; !d && i < c->s->n_axes; i++)
    if (axis_kind(c->s, i) == AX_SETTING) d = groups_cmp_value(x->axis[i], y->axis[i]);
  return d;
}

static int find_setting(const Claims *c, const ResultRow *r, bool loose) {
  for (int k = 0; k < c->n_settings; k++)
    if (agree(c, r, c->settings[k], AX_SETTING, loose)) return k;
  return -1;
}

// Groups (sorted: original, retrain, EC alone, then base methods by name, without EC first)
// and settings: one per distinct setting of the unlearning runs, then one per
// original/retrain group that fits none of those (its claims are all n/a).
static int build(Claims *c, Err *e) {
  int rc = groups_build(c->t, true, &c->gr, e);
  if (rc) return rc;
  size_t cap = (size_t)(c->gr.n_groups ? c->gr.n_groups : 1);
  c->groups = malloc(sizeof *c->groups * cap);
  c->setting_of = malloc(sizeof *c->setting_of * cap);
  c->settings = malloc(sizeof *c->settings * cap);
  if (!c->groups || !c->setting_of || !c->settings) return errf(e, ERR_RUNTIME, "out of memory");
  for (int g = 0; g < c->gr.n_groups; g++)
    if (c->gr.groups[g].n_ok) c->groups[c->n_groups++] = c->gr.groups[g].key;
  for (int g = 0; g < c->n_groups; g++) {
    c->setting_of[g] = -1;
    if (is_reference(c->groups[g])) continue;
    int k = find_setting(c, c->groups[g], false);
    if (k < 0) k = c->n_settings, c->settings[c->n_settings++] = c->groups[g];
    c->setting_of[g] = k;
  }
  for (int g = 0; g < c->n_groups; g++)
    if (is_reference(c->groups[g]) && find_setting(c, c->groups[g], true) < 0)
      c->settings[c->n_settings++] = c->groups[g];
  for (int i = 1; i < c->n_settings; i++)  // by their values, as the groups
    for (int j = i; j > 0 && cmp_setting(c, c->settings[j - 1], c->settings[j]) > 0; j--) {
      const ResultRow *tmp = c->settings[j];
      c->settings[j] = c->settings[j - 1], c->settings[j - 1] = tmp;
    }
  for (int g = 0; g < c->n_groups; g++)
    if (!is_reference(c->groups[g])) c->setting_of[g] = find_setting(c, c->groups[g], false);
  return 0;
}

// Mean and std of metric m (at point p) over the group of key, or (ref not NULL) over the rows
// of method ref that are the reference rows of key's setting. Equal values: exactly that value,
// std 0; one value: std 0.
static Stat stat_of(const Claims *c, const ResultRow *key, const char *ref, MetricId m, int p) {
  GroupStat g = groups_stat(&c->gr, key, ref, true, metric_of(m, p));
  Stat st = {NAN, 0, g.n, g.rows};
  if (g.n) st.mean = g.lo == g.hi ? g.lo : g.mean;
  st.std = g.n > 1 && g.lo != g.hi ? g.std : 0;
  return st;
}

// ---------------------------------------------------------------- labels

// "EC alone", "ft+EC", "ft", then the group's other axis values: "ft [unlearn.lr=0.01]".
static void group_label(const Claims *c, const ResultRow *g, char *buf, size_t cap) {
  if (is_ec_alone(g))
    snprintf(buf, cap, "EC alone");
  else
    snprintf(buf, cap, "%s%s", g->method, g->ec ? "+EC" : "");
  const char *sep = " [";
  for (int i = 0; i < c->s->n_axes; i++) {
    if (axis_kind(c->s, i) != AX_OTHER || !g->axis[i][0]) continue;
    text_append(buf, cap, "%s%s=%s", sep, c->s->axes[i], g->axis[i]);
    sep = ", ";
  }
  if (sep[0] == ',') text_append(buf, cap, "]");
}

// "forget.classes=[0], model.arch=cnn4"; "all runs" without setting axes.
static void setting_label(const Claims *c, int k, char *buf, size_t cap) {
  const ResultRow *r = c->settings[k];
  buf[0] = '\0';
  for (int i = 0; i < c->s->n_axes; i++)
    if (axis_kind(c->s, i) == AX_SETTING && r->axis[i][0])
      text_append(buf, cap, "%s%s=%s", buf[0] ? ", " : "", c->s->axes[i], r->axis[i]);
  if (!buf[0]) snprintf(buf, cap, "all runs");
}

// "0.4123 ± 0.0100 (n=3)", "0.4123 (n=1)", "n/a" (no value), "—" (no rows).
static void stat_text(Stat st, char *buf, size_t cap) {
  if (st.rows == 0)
    snprintf(buf, cap, "—");
  else if (st.n == 0)
    snprintf(buf, cap, "n/a");
  else if (st.n == 1)
    snprintf(buf, cap, "%.4f (n=1)", st.mean);
  else
    snprintf(buf, cap, "%.4f ± %.4f (n=%d)", st.mean, st.std, st.n);
}

static void verdict_text(const Line *l, char *buf, size_t cap) {
  if (l->v == V_HOLDS || l->v == V_FAILS)
    snprintf(buf, cap, "%s%s", l->v == V_HOLDS ? "holds" : "fails", l->n1 ? " (n=1)" : "");
  else if (l->v == V_REF)
    snprintf(buf, cap, "reference");
  else
    snprintf(buf, cap, "n/a (%.300s)", l->why);  // why holds one short reason
}

// ---------------------------------------------------------------- comparisons

static Line new_line(int claim, const char *code, int setting, int point, int subject, MetricId m) {
  Line l;
  memset(&l, 0, sizeof l);
  l.claim = claim, l.code = code, l.setting = setting, l.point = point, l.subject = subject;
  l.metric = m;
  l.sa = l.sb = (Stat){NAN, 0, 0, 0};
  l.margin = l.spread = NAN;
  return l;
}

static void push_line(Claims *c, const Line *l) {
  if (c->n_lines == c->cap_lines) {
    int cap = c->cap_lines ? 2 * c->cap_lines : 64;
    Line *p = realloc(c->lines, sizeof *p * (size_t)cap);
    if (!p) {
      c->oom = true;
      return;
    }
    c->lines = p, c->cap_lines = cap;
  }
  c->lines[c->n_lines++] = *l;
}

static int add_subject(Claims *c, int claim, int setting, const char *label) {
  if (c->n_subjects == c->cap_subjects) {
    int cap = c->cap_subjects ? 2 * c->cap_subjects : 16;
    Subject *p = realloc(c->subjects, sizeof *p * (size_t)cap);
    if (!p) {
      c->oom = true;
      return -1;
    }
    c->subjects = p, c->cap_subjects = cap;
  }
  Subject *s = &c->subjects[c->n_subjects];
  s->claim = claim, s->setting = setting;
  snprintf(s->label, sizeof s->label, "%s", label);
  return c->n_subjects++;
}

// Margin, spread and verdict of l from l->sa and l->sb (B unused when l->b is ""): kind k with
// threshold t.
static void judge(Line *l, Kind k, double t) {
  const Stat *a = &l->sa, *b = &l->sb;
  bool use_b = l->b[0] != '\0';
  l->spread = sqrt(a->std * a->std + (use_b ? b->std * b->std : 0));
  if (a->rows == 0 || (use_b && b->rows == 0)) {
    l->v = V_NA, l->spread = NAN;
    snprintf(l->why, sizeof l->why, "no %s runs", a->rows == 0 ? l->a : l->b);
    return;
  }
  if (a->n == 0 || (use_b && b->n == 0)) {
    l->v = V_NA, l->spread = NAN;
    snprintf(l->why, sizeof l->why, "%s not computed", metric_name(l->metric));
    return;
  }
  l->n1 = a->n == 1 || (use_b && b->n == 1);
  bool ok = false;
  switch (k) {
    case K_LOWER:
      l->margin = b->mean - a->mean;
      ok = l->margin > l->spread + EPS;
      break;
    case K_WITHIN:
      l->margin = t - fabs(a->mean - b->mean);
      ok = l->margin >= -EPS;
      break;
    case K_AT_MOST:
      l->margin = t - a->mean;
      ok = l->margin >= -EPS;
      break;
    case K_DROP:
      l->margin = t - (b->mean - a->mean);
      ok = l->margin >= -EPS;
      break;
    case K_REF:
      l->margin = use_b ? b->mean - a->mean : NAN;
      l->v = V_REF;
      return;
  }
  if (fabs(l->margin) < EPS) l->margin = 0;  // rounding of the means
  l->v = ok ? V_HOLDS : V_FAILS;
}

// A line for a comparison that cannot be made: a needed group is absent.
static void push_missing(Claims *c, int claim, const char *code, int setting, int subject,
                         const char *a, const char *why) {
  Line l = new_line(claim, code, setting, -1, subject, M_FORGET);
  snprintf(l.text, sizeof l.text, "%s", code);
  snprintf(l.a, sizeof l.a, "%s", a);
  snprintf(l.why, sizeof l.why, "%s", why);
  push_line(c, &l);
}

// Per point: CKA(θ_rt, θ_o), and the forget set's k-NN accuracy of θ_rt beside θ_o's.
static void reference_lines(Claims *c, int k) {
  const ResultRow *key = c->settings[k];
  for (int p = 0; p < c->s->n_points; p++) {
    Line l = new_line(0, "ref.cka_original", k, p, -1, M_CKA);
    snprintf(l.text, sizeof l.text, "cka_original of retrain = CKA(θ_rt, θ_o)");
    snprintf(l.a, sizeof l.a, "retrain");
    l.sa = stat_of(c, key, "retrain", M_CKA, p);
    judge(&l, K_REF, 0);
    push_line(c, &l);
    l = new_line(0, "ref.knn_forget_acc", k, p, -1, M_KNN);
    snprintf(l.text, sizeof l.text, "knn_forget_acc of retrain; margin: original − retrain");
    snprintf(l.a, sizeof l.a, "retrain");
    snprintf(l.b, sizeof l.b, "original");
    l.sa = stat_of(c, key, "retrain", M_KNN, p);
    l.sb = stat_of(c, key, "original", M_KNN, p);
    judge(&l, K_REF, 0);
    push_line(c, &l);
  }
}

// C1 for EC-alone group g: it forgets as retraining does and keeps θ_o's test accuracy.
static void claim1(Claims *c, int k, const ResultRow *g, int subject) {
  const ResultRow *key = c->settings[k];
  Line l = new_line(1, "C1.forget_acc", k, -1, subject, M_FORGET);
  group_label(c, g, l.a, sizeof l.a);
  snprintf(l.b, sizeof l.b, "retrain");
  l.sa = stat_of(c, g, NULL, M_FORGET, 0);
  l.sb = stat_of(c, key, "retrain", M_FORGET, 0);
  double t = fmax(0.01, l.sb.mean + 0.01);
  snprintf(l.text, sizeof l.text, "forget_acc ≤ max(0.01, retrain + 0.01)");
  if (l.sb.n) text_append(l.text, sizeof l.text, " = %.4f", t);
  judge(&l, K_AT_MOST, t);
  push_line(c, &l);

  l = new_line(1, "C1.test_retain_acc", k, -1, subject, M_TEST_RETAIN);
  group_label(c, g, l.a, sizeof l.a);
  snprintf(l.b, sizeof l.b, "original");
  snprintf(l.text, sizeof l.text, "test_retain_acc within 0.02 of original");
  l.sa = stat_of(c, g, NULL, M_TEST_RETAIN, 0);
  l.sb = stat_of(c, key, "original", M_TEST_RETAIN, 0);
  judge(&l, K_WITHIN, 0.02);
  push_line(c, &l);
}

// C2 for EC-alone group g: per point, CKA to θ_o below every comparable base method's, and the
// forget set's k-NN accuracy below θ_o's.
static void claim2(Claims *c, int k, const ResultRow *g, int subject) {
  const ResultRow *key = c->settings[k];
  for (int p = 0; p < c->s->n_points; p++) {
    int n_base = 0;
    for (int h = 0; h < c->n_groups; h++) {
      const ResultRow *b = c->groups[h];
      if (c->setting_of[h] != k || !is_base(b) || !agree(c, g, b, AX_OTHER, true)) continue;
      Line l = new_line(2, "C2.cka_original", k, p, subject, M_CKA);
      snprintf(l.text, sizeof l.text, "cka_original lower than the base method's");
      group_label(c, g, l.a, sizeof l.a);
      group_label(c, b, l.b, sizeof l.b);
      l.sa = stat_of(c, g, NULL, M_CKA, p);
      l.sb = stat_of(c, b, NULL, M_CKA, p);
      judge(&l, K_LOWER, 0);
      push_line(c, &l);
      n_base++;
    }
    if (!n_base) {
      Line l = new_line(2, "C2.cka_original", k, p, subject, M_CKA);
      snprintf(l.text, sizeof l.text, "cka_original lower than the base method's");
      group_label(c, g, l.a, sizeof l.a);
      l.sa = stat_of(c, g, NULL, M_CKA, p);
      snprintf(l.why, sizeof l.why, "no base-method runs");
      push_line(c, &l);
    }
    Line l = new_line(2, "C2.knn_forget_acc", k, p, subject, M_KNN);
    group_label(c, g, l.a, sizeof l.a);
    snprintf(l.b, sizeof l.b, "original");
    l.sa = stat_of(c, g, NULL, M_KNN, p);
    l.sb = stat_of(c, key, "original", M_KNN, p);
    char rt[64];
    stat_text(stat_of(c, key, "retrain", M_KNN, p), rt, sizeof rt);
    snprintf(l.text, sizeof l.text, "knn_forget_acc lower than original (retrain: %s)", rt);
    judge(&l, K_LOWER, 0);
    push_line(c, &l);
  }
}

// C3 for m+EC group g: against each comparable group of m without EC, CKA to θ_o lower at
// every point, and test accuracy at most 0.02 below.
static void claim3(Claims *c, int k, const ResultRow *g) {
  char la[LABEL_LEN], lb[LABEL_LEN], both[2 * LABEL_LEN + 8];
  group_label(c, g, la, sizeof la);
  int n_pairs = 0;
  for (int h = 0; h < c->n_groups; h++) {
    const ResultRow *b = c->groups[h];
    if (c->setting_of[h] != k || !is_base(b) || strcmp(b->method, g->method) ||
        !agree(c, g, b, AX_OTHER, true))
      continue;
    group_label(c, b, lb, sizeof lb);
    snprintf(both, sizeof both, "%s vs %s", la, lb);
    int subject = add_subject(c, 3, k, both);
    for (int p = 0; p < c->s->n_points; p++) {
      Line l = new_line(3, "C3.cka_original", k, p, subject, M_CKA);
      snprintf(l.text, sizeof l.text, "cka_original lower with EC");
      snprintf(l.a, sizeof l.a, "%s", la);
      snprintf(l.b, sizeof l.b, "%s", lb);
      l.sa = stat_of(c, g, NULL, M_CKA, p);
      l.sb = stat_of(c, b, NULL, M_CKA, p);
      judge(&l, K_LOWER, 0);
      push_line(c, &l);
    }
    Line l = new_line(3, "C3.test_retain_acc", k, -1, subject, M_TEST_RETAIN);
    snprintf(l.text, sizeof l.text, "test_retain_acc drop with EC ≤ 0.02");
    snprintf(l.a, sizeof l.a, "%s", la);
    snprintf(l.b, sizeof l.b, "%s", lb);
    l.sa = stat_of(c, g, NULL, M_TEST_RETAIN, 0);
    l.sb = stat_of(c, b, NULL, M_TEST_RETAIN, 0);
    judge(&l, K_DROP, 0.02);
    push_line(c, &l);
    n_pairs++;
  }
  if (!n_pairs) {
    char why[96];
    snprintf(why, sizeof why, "no %s runs without EC", g->method);
    push_missing(c, 3, "C3", k, add_subject(c, 3, k, la), la, why);
  }
}

// Every line: the references, then C1, C2, C3, each setting by setting.
static void make_lines(Claims *c) {
  for (int k = 0; k < c->n_settings; k++) reference_lines(c, k);
  for (int claim = 1; claim <= 3; claim++)
    for (int k = 0; k < c->n_settings; k++) {
      int n = 0;
      for (int g = 0; g < c->n_groups; g++) {
        const ResultRow *r = c->groups[g];
        if (c->setting_of[g] != k) continue;
        if (claim < 3 && is_ec_alone(r)) {
          char label[LABEL_LEN];
          group_label(c, r, label, sizeof label);
          int subject = add_subject(c, claim, k, label);
          if (claim == 1)
            claim1(c, k, r, subject);
          else
            claim2(c, k, r, subject);
          n++;
        } else if (claim == 3 && is_plugin(r)) {
          claim3(c, k, r);
          n++;
        }
      }
      if (n) continue;
      if (claim < 3)
        push_missing(c, claim, claim == 1 ? "C1" : "C2", k, add_subject(c, claim, k, "EC alone"),
                     "EC alone", "no EC-alone runs");
      else
        push_missing(c, 3, "C3", k, add_subject(c, 3, k, "m+EC"), "m+EC",
                     "no base method run with EC");
    }
}

// ---------------------------------------------------------------- verdicts of many lines

// fails if one fails, else holds if one holds, else n/a.
static Verdict combine(Verdict acc, Verdict v) {
  if (acc == V_FAILS || v == V_FAILS) return V_FAILS;
  if (acc == V_HOLDS || v == V_HOLDS) return V_HOLDS;
  return V_NA;
}

// Where line l is: its point, or its metric for a scalar.
static const char *part_of(const Claims *c, const Line *l) {
  return l->point >= 0 ? c->s->points[l->point] : metric_name(l->metric);
}

// "holds", "holds (n=1)", "fails: layer3, test_retain_acc", "n/a (no EC-alone runs)".
static void subject_text(const Claims *c, int subject, char *buf, size_t cap) {
  Verdict v = V_NA;
  bool n1 = false;
  const Line *first = NULL;
  for (int i = 0; i < c->n_lines; i++) {
    const Line *l = &c->lines[i];
    if (l->subject != subject || l->claim == 0) continue;
    if (!first) first = l;
    v = combine(v, l->v);
    if (l->v == V_HOLDS || l->v == V_FAILS) n1 |= l->n1;
  }
  if (v == V_NA) {
    snprintf(buf, cap, "n/a (%s)", first ? first->why : "nothing to compare");
    return;
  }
  snprintf(buf, cap, "%s%s", v == V_HOLDS ? "holds" : "fails", n1 ? " (n=1)" : "");
  const char *sep = ": ";
  for (int i = 0; i < c->n_lines; i++) {
    const Line *l = &c->lines[i];
    if (l->subject != subject || l->claim == 0 || l->v != V_FAILS) continue;
    bool seen = false;  // a point where several comparisons fail is named once
    for (int j = 0; j < i && !seen; j++)
      seen = c->lines[j].subject == subject && c->lines[j].v == V_FAILS &&
             !strcmp(part_of(c, &c->lines[j]), part_of(c, l));
    if (seen) continue;
    text_append(buf, cap, "%s%s", sep, part_of(c, l));
    sep = ", ";
  }
}

// ---------------------------------------------------------------- Markdown

static const char *const TITLES[] = {
    "Reference: the retrained model against the original, per supervision point",
    "C1 EC alone forgets", "C2 EC alone reaches the core", "C3 EC as a plug-in"};

static void md_text(FILE *out, const char *s) {
  for (; *s; s++) {
    if (*s == '|') fputc('\\', out);
    fputc(*s == '\n' ? ' ' : *s, out);
  }
}

static void md_num(FILE *out, double v, bool sign) {
  if (isnan(v))
    fprintf(out, " — |");
  else
    fprintf(out, sign ? " %+.4f |" : " %.4f |", v);
}

static void md_line(const Claims *c, FILE *out, const Line *l) {
  char buf[LABEL_LEN];
  fprintf(out, "| ");
  md_text(out, l->text);
  if (c->n_settings > 1) {
    setting_label(c, l->setting, buf, sizeof buf);
    fprintf(out, " | ");
    md_text(out, buf);
  }
  fprintf(out, " | %s | ", l->point >= 0 ? c->s->points[l->point] : "—");
  md_text(out, l->a);
  stat_text(l->sa, buf, sizeof buf);
  fprintf(out, " | %s | ", buf);
  md_text(out, l->b[0] ? l->b : "—");
  stat_text(l->sb, buf, sizeof buf);
  fprintf(out, " | %s |", l->b[0] ? buf : "—");
  md_num(out, l->margin, true);
  md_num(out, l->spread, false);
  verdict_text(l, buf, sizeof buf);
  fprintf(out, " %s |\n", buf);
}

static void md_summary(const Claims *c, FILE *out, int claim) {
  Verdict v = V_NA;
  bool n1 = false;
  for (int i = 0; i < c->n_lines; i++)
    if (c->lines[i].claim == claim) {
      v = combine(v, c->lines[i].v);
      if (c->lines[i].v == V_HOLDS || c->lines[i].v == V_FAILS) n1 |= c->lines[i].n1;
    }
  fprintf(out, "\n**%s: %s%s.**", TITLES[claim],
          v == V_HOLDS   ? "holds"
          : v == V_FAILS ? "fails"
                         : "n/a",
          n1 ? " (n=1)" : "");
  for (int s = 0; s < c->n_subjects; s++) {
    const Subject *sub = &c->subjects[s];
    if (sub->claim != claim) continue;
    char setting[LABEL_LEN], text[1024];
    subject_text(c, s, text, sizeof text);
    fputc(' ', out);
    if (c->n_settings > 1) {
      setting_label(c, sub->setting, setting, sizeof setting);
      md_text(out, setting);
      fprintf(out, " · ");
    }
    md_text(out, sub->label);
    fprintf(out, ": %s.", text);
  }
  fputc('\n', out);
}

static void print_md(const Claims *c, FILE *out) {
  const ResultsTable *t = c->t;
  fprintf(out, "# ecore report --claims: sweep %s\n\n", c->s->sweep_id);
  const Groups *gr = &c->gr;
  fprintf(out, "%d runs: %d ok, %d failed", gr->n_rows, gr->n_ok, gr->n_rows - gr->n_ok);
  if (t->n_rows > gr->n_rows) fprintf(out, " (%d superseded rows ignored)", t->n_rows - gr->n_rows);
  if (t->ecore_version)
    fprintf(out, ". Written by ecore %s (%s), created %s", t->ecore_version,
            t->git_commit ? t->git_commit : "", t->created ? t->created : "");
  fprintf(out, ". %d setting%s.\n\n", c->n_settings, c->n_settings == 1 ? "" : "s");
  fprintf(out, "How the claims are checked:\n\n%s", RULES);
  for (int claim = 0; claim <= 3; claim++) {
    fprintf(out, "\n## %s\n\n", TITLES[claim]);
    fprintf(out,
            "| claim |%s point | A | A mean ± std (n) | B | B mean ± std (n) | margin | "
            "spread | verdict |\n",
            c->n_settings > 1 ? " setting |" : "");
    fprintf(out, "|---|%s---|---|---:|---|---:|---:|---:|---|\n", c->n_settings > 1 ? "---|" : "");
    for (int i = 0; i < c->n_lines; i++)
      if (c->lines[i].claim == claim) md_line(c, out, &c->lines[i]);
    if (claim > 0) md_summary(c, out, claim);
  }
}

// ---------------------------------------------------------------- CSV

static void csv_group(FILE *out, const char *label, Stat st) {
  fputc(',', out);
  report_csv_text(out, label);
  if (!label[0]) {
    fprintf(out, ",,,");
    return;
  }
  report_csv_num(out, st.mean);
  report_csv_num(out, st.n ? st.std : NAN);
  fprintf(out, ",%d", st.n);
}

static void print_csv(const Claims *c, FILE *out) {
  fprintf(out, "claim,setting,point,a,a_mean,a_std,a_n,b,b_mean,b_std,b_n,margin,spread,verdict\n");
  for (int i = 0; i < c->n_lines; i++) {
    const Line *l = &c->lines[i];
    char buf[LABEL_LEN];
    report_csv_text(out, l->code);
    fputc(',', out);
    setting_label(c, l->setting, buf, sizeof buf);
    report_csv_text(out, buf);
    fputc(',', out);
    report_csv_text(out, l->point >= 0 ? c->s->points[l->point] : "");
    csv_group(out, l->a, l->sa);
    csv_group(out, l->b, l->sb);
    report_csv_num(out, l->margin);
    report_csv_num(out, l->spread);
    verdict_text(l, buf, sizeof buf);
    fputc(',', out);
    report_csv_text(out, buf);
    fputc('\n', out);
  }
}

// ---------------------------------------------------------------- entry

int results_claims(const ResultsTable *t, ReportFormat fmt, FILE *out, int *n_failed, Err *e) {
  if (n_failed) *n_failed = 0;
  if (t->n_rows == 0)
    return errf(e, ERR_RUNTIME, "sweep %s: the file holds no runs yet", t->schema.sweep_id);
  Claims c = {.t = t, .s = &t->schema};
  int rc = build(&c, e);
  if (!rc) {
    make_lines(&c);
    if (c.oom) rc = errf(e, ERR_RUNTIME, "out of memory");
  }
  if (!rc) {
    if (fmt == REPORT_CSV)
      print_csv(&c, out);
    else
      print_md(&c, out);
    if (fflush(out) != 0 || ferror(out)) rc = errf(e, ERR_RUNTIME, "cannot write the report");
  }
  for (int i = 0; !rc && n_failed && i < c.n_lines; i++) *n_failed += c.lines[i].v == V_FAILS;
  groups_free(&c.gr);
  free(c.groups), free(c.setting_of), free(c.settings);
  free(c.lines), free(c.subjects);
  return rc;
}
