// test_claims.c: `ecore report --claims` (results/claims.c).
//   test_claims               verdicts of tables built in memory
//   test_claims --cli ECORE   exit codes and output of `ecore report --claims` on written files
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "claims.h"
#include "results.h"
#include "testutil.h"

enum { FIELDS = 14, FIELD_LEN = 256 };

// ---------------------------------------------------------------- tables in memory

// Axes as a grid writes them: unlearn.method and ec.enabled restate method and ec; ec.* is ""
// without EC, unlearn.lr "" for EC alone; original and retrain rows set forget.* only.
static ResultsSchema schema(void) {
  ResultsSchema s = {.n_axes = 5, .n_points = 2};
  snprintf(s.sweep_id, sizeof s.sweep_id, "c1a1c1a1c1a1c1a1");
  strcpy(s.axes[0], "unlearn.method");
  strcpy(s.axes[1], "ec.enabled");
  strcpy(s.axes[2], "ec.temperature");
  strcpy(s.axes[3], "unlearn.lr");
  strcpy(s.axes[4], "forget.classes");
  strcpy(s.points[0], "layer1");
  strcpy(s.points[1], "layer2");
  return s;
}

typedef struct {
  double forget, test, cka[2], knn[2];
} Vals;

// Appends one ok row of `method` (ec on/off) for seed `seed` in setting forget.classes=[k].
static void add(ResultsTable *t, const char *method, int ec, int seed, int k, const char *lr,
                Vals v) {
  const ResultsSchema *s = &t->schema;
  t->rows = realloc(t->rows, sizeof *t->rows * (size_t)(t->n_rows + 1));
  ResultRow *r = &t->rows[t->n_rows++];
  results_row_init(r);
  bool ref = !strcmp(method, "original") || !strcmp(method, "retrain");
  snprintf(r->run_id, sizeof r->run_id, "k%d-%s-ec%d-lr%s-s%d", k, method, ec, lr, seed);
  snprintf(r->method, sizeof r->method, "%s", method);
  r->ec = ec, r->seed = seed;
  char classes[16];
  snprintf(classes, sizeof classes, "[%d]", k);
  results_row_set_axis(r, s, "forget.classes", classes, NULL);
  if (!ref) {
    results_row_set_axis(r, s, "unlearn.method", method, NULL);
    results_row_set_axis(r, s, "ec.enabled", ec ? "true" : "false", NULL);
    if (ec) results_row_set_axis(r, s, "ec.temperature", "0.5", NULL);
    if (strcmp(method, "none")) results_row_set_axis(r, s, "unlearn.lr", lr, NULL);
  }
  r->forget_acc = v.forget, r->test_retain_acc = v.test;
  r->retain_acc = r->mia_efficacy = 0.5;
  for (int p = 0; p < 2; p++) r->cka_original[p] = v.cka[p], r->knn_forget_acc[p] = v.knn[p];
}

// Seeds 1..3 of one group; cka gets seed-to-seed noise ±0.01 (std 0.01).
static void add3(ResultsTable *t, const char *method, int ec, int k, const char *lr, Vals v) {
  for (int seed = 1; seed <= 3; seed++) {
    Vals w = v;
    for (int p = 0; p < 2; p++) w.cka[p] += 0.01 * (seed - 2);
    add(t, method, ec, seed, k, lr, w);
  }
}

// Settings (forget.classes=[k]), those whose bit is in mask:
//   0: every claim holds (n=3), with a second ft (unlearn.lr 0.1) that has no EC partner
//   1: every claim fails
//   2: EC alone lower than ft at layer1 by less than the spread: fails there
//   3: one seed per group (n=1); EC alone's knn not computed
//   4: no EC runs at all; 5: EC alone and ft+EC without original, retrain or ft
static void build(ResultsTable *t, unsigned mask) {
  memset(t, 0, sizeof *t);
  t->schema = schema();
  const Vals orig = {1.0, 0.90, {1.0, 1.0}, {0.90, 0.95}};
  const Vals rt = {0.02, 0.89, {0.95, 0.40}, {0.20, 0.10}};
  if (mask & 1) {
    add3(t, "original", 0, 0, "", orig);
    add3(t, "retrain", 0, 0, "", rt);
    for (int seed = 1; seed <= 3; seed++)  // forget 0, 0.01, 0.02; test 0.895, 0.89, 0.885
      add(t, "none", 1, seed, 0, "",
          (Vals){0.01 * (seed - 1), 0.90 - 0.005 * seed, {0.50, 0.30}, {0.30, 0.20}});
    add3(t, "ft", 0, 0, "0.01", (Vals){0.1, 0.90, {0.90, 0.80}, {0.5, 0.5}});
    add3(t, "ft", 1, 0, "0.01", (Vals){0.1, 0.895, {0.60, 0.40}, {0.5, 0.5}});
    add3(t, "ft", 0, 0, "0.1", (Vals){0.1, 0.88, {0.85, 0.75}, {0.5, 0.5}});
    // A failed run is not averaged: its values would break every claim.
    add(t, "none", 1, 4, 0, "", (Vals){0.9, 0.1, {0.99, 0.99}, {0.99, 0.99}});
    strcpy(t->rows[t->n_rows - 1].status, "failed: diverged");
  }
  if (mask & 2) {
    add3(t, "original", 0, 1, "", (Vals){1.0, 0.90, {1.0, 1.0}, {0.9, 0.9}});
    add3(t, "retrain", 0, 1, "", (Vals){0.0, 0.89, {0.9, 0.5}, {0.1, 0.1}});
    add3(t, "none", 1, 1, "", (Vals){0.30, 0.80, {0.95, 0.90}, {0.95, 0.95}});
    add3(t, "ft", 0, 1, "0.01", (Vals){0.1, 0.90, {0.70, 0.60}, {0.5, 0.5}});
    add3(t, "ft", 1, 1, "0.01", (Vals){0.1, 0.85, {0.80, 0.70}, {0.5, 0.5}});
  }
  if (mask & 4) {
    add3(t, "original", 0, 2, "", orig);
    add3(t, "retrain", 0, 2, "", rt);
    for (int seed = 1; seed <= 3; seed++) {  // cka at layer1: 0.5, 0.6, 0.7 vs 0.55, 0.65, 0.75
      double d = 0.1 * (seed - 1);
      add(t, "none", 1, seed, 2, "", (Vals){0.0, 0.88, {0.50 + d, 0.30}, {0.30, 0.20}});
      add(t, "ft", 0, seed, 2, "0.01", (Vals){0.1, 0.90, {0.55 + d, 0.80}, {0.5, 0.5}});
    }
  }
  if (mask & 8) {
    add(t, "original", 0, 1, 3, "", orig);
    add(t, "retrain", 0, 1, 3, "", rt);
    add(t, "none", 1, 1, 3, "", (Vals){0.0, 0.90, {0.50, 0.50}, {NAN, NAN}});
    add(t, "ft", 0, 1, 3, "0.01", (Vals){0.1, 0.90, {0.90, 0.90}, {0.5, 0.5}});
    add(t, "ft", 1, 1, 3, "0.01", (Vals){0.1, 0.90, {0.90, 0.90}, {0.5, 0.5}});
  }
  if (mask & 16) {
    add3(t, "original", 0, 4, "", orig);
    add3(t, "retrain", 0, 4, "", rt);
    add3(t, "ft", 0, 4, "0.01", (Vals){0.1, 0.90, {0.90, 0.80}, {0.5, 0.5}});
  }
  if (mask & 32) {
    add3(t, "none", 1, 5, "", (Vals){0.0, 0.90, {0.50, 0.30}, {0.30, 0.20}});
    add3(t, "ft", 1, 5, "0.01", (Vals){0.1, 0.90, {0.60, 0.40}, {0.5, 0.5}});
  }
}

// ---------------------------------------------------------------- reading the CSV

// Splits one CSV line (RFC 4180 quoting) into at most max fields; returns the count.
static int csv_split(const char *line, char fields[][FIELD_LEN], int max) {
  int n = 0;
  const char *p = line;
  while (n < max) {
    int len = 0;
    bool quoted = *p == '"';
    if (quoted) p++;
    while (*p && *p != '\n' && (quoted ? !(*p == '"' && p[1] != '"') : *p != ',')) {
      if (quoted && *p == '"') p++;
      if (len < FIELD_LEN - 1) fields[n][len++] = *p;
      p++;
    }
    if (quoted && *p == '"') p++;
    fields[n++][len] = '\0';
    if (*p != ',') break;
    p++;
  }
  return n;
}

// The lines of csv whose claim, setting, point, a and b equal the given ones (NULL: any); the
// first one's fields in f. Returns how many.
static int find(const char *csv, const char *claim, const char *setting, const char *point,
                const char *a, const char *b, char f[FIELDS][FIELD_LEN]) {
  const char *want[5] = {claim, setting, point, a, b};
  const int col[5] = {0, 1, 2, 3, 7};
  int hits = 0;
  for (const char *line = csv; line && *line;
       line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
    char g[FIELDS][FIELD_LEN];
    if (csv_split(line, g, FIELDS) != FIELDS) continue;
    bool match = true;
    for (int i = 0; i < 5; i++)
      if (want[i] && strcmp(want[i], g[col[i]])) match = false;
    if (!match) continue;
    if (hits++ == 0) memcpy(f, g, sizeof g);
  }
  return hits;
}

static char *claims_text(const ResultsTable *t, ReportFormat fmt, int *n_failed) {
  char *text = NULL;
  size_t size = 0;
  FILE *out = open_memstream(&text, &size);
  Err e = {0};
  int rc = results_claims(t, fmt, out, n_failed, &e);
  fclose(out);
  if (rc) fprintf(stderr, "results_claims: %s\n", e.msg);
  CHECK(rc == 0);
  return text;
}

static const char *EC = "EC alone [ec.temperature=0.5]";
static const char *FT = "ft [unlearn.lr=0.01]";
static const char *FT_EC = "ft+EC [ec.temperature=0.5, unlearn.lr=0.01]";

#define S(k) "forget.classes=[" #k "]"

static void test_csv(void) {
  ResultsTable t;
  build(&t, 63);
  int n_failed = -1;
  char *csv = claims_text(&t, REPORT_CSV, &n_failed);
  if (!csv) return;
  char f[FIELDS][FIELD_LEN];
  const char *header =
      "claim,setting,point,a,a_mean,a_std,a_n,b,b_mean,b_std,b_n,margin,spread,verdict\n";
  CHECK(!strncmp(csv, header, strlen(header)));

  // Setting 0: every claim holds.
  CHECK(find(csv, "C1.forget_acc", S(0), "", EC, "retrain", f) == 1);
  CHECK(!strcmp(f[13], "holds") && !strcmp(f[6], "3"));  // the failed run is left out
  CHECK_CLOSE(atof(f[4]), 0.01, 1e-8, 1e-12);
  CHECK_CLOSE(atof(f[11]), 0.03 - 0.01, 1e-8, 1e-12);  // max(0.01, 0.02 + 0.01) − 0.01
  CHECK(find(csv, "C1.test_retain_acc", S(0), "", EC, "original", f) == 1);
  CHECK(!strcmp(f[13], "holds"));
  CHECK_CLOSE(atof(f[11]), 0.02 - 0.01, 1e-8, 1e-12);
  // EC alone is compared with both ft groups (unlearn.lr does not apply to it), per point.
  CHECK(find(csv, "C2.cka_original", S(0), NULL, EC, NULL, f) == 4);
  CHECK(find(csv, "C2.cka_original", S(0), "layer2", EC, "ft [unlearn.lr=0.1]", f) == 1);
  CHECK(!strcmp(f[13], "holds"));
  CHECK_CLOSE(atof(f[11]), 0.75 - 0.30, 1e-8, 1e-12);
  CHECK_CLOSE(atof(f[12]), 0.01, 1e-8, 1e-12);  // sqrt(0.01² + 0²): EC alone's cka is exact
  CHECK(find(csv, "C2.knn_forget_acc", S(0), "layer1", EC, "original", f) == 1);
  CHECK(!strcmp(f[13], "holds"));
  // ft+EC is compared with ft at the same unlearn.lr only.
  CHECK(find(csv, "C3.cka_original", S(0), NULL, NULL, NULL, f) == 2);
  CHECK(find(csv, "C3.cka_original", S(0), "layer1", FT_EC, FT, f) == 1);
  CHECK(!strcmp(f[13], "holds"));
  CHECK_CLOSE(atof(f[12]), sqrt(2) * 0.01, 1e-8, 1e-12);
  CHECK(find(csv, "C3.test_retain_acc", S(0), "", FT_EC, FT, f) == 1);
  CHECK(!strcmp(f[13], "holds"));
  CHECK_CLOSE(atof(f[11]), 0.02 - 0.005, 1e-8, 1e-12);
  CHECK(find(csv, "ref.cka_original", S(0), "layer2", "retrain", "", f) == 1);
  CHECK(!strcmp(f[13], "reference") && !strcmp(f[6], "3"));
  CHECK_CLOSE(atof(f[4]), 0.40, 1e-8, 1e-12);
  CHECK(find(csv, "ref.knn_forget_acc", S(0), "layer1", "retrain", "original", f) == 1);
  CHECK_CLOSE(atof(f[11]), 0.90 - 0.20, 1e-8, 1e-12);

  // Setting 1: every comparison fails.
  const char *claims1[] = {"C1.forget_acc",     "C1.test_retain_acc", "C2.cka_original",
                           "C2.knn_forget_acc", "C3.cka_original",    "C3.test_retain_acc"};
  for (int i = 0; i < 6; i++) {
    CHECK(find(csv, claims1[i], S(1), NULL, NULL, NULL, f) >= 1);
    CHECK(!strcmp(f[13], "fails"));
  }
  CHECK(find(csv, NULL, S(1), NULL, NULL, NULL, f) == 4 + 2 + 4 + 3);  // refs, C1, C2, C3
  CHECK(find(csv, "C3.test_retain_acc", S(1), "", FT_EC, FT, f) == 1);
  CHECK_CLOSE(atof(f[11]), 0.02 - 0.05, 1e-8, 1e-12);

  // Setting 2: lower by 0.05, but the seeds spread by 0.1 each: not counted.
  CHECK(find(csv, "C2.cka_original", S(2), "layer1", EC, FT, f) == 1);
  CHECK(!strcmp(f[13], "fails"));
  CHECK_CLOSE(atof(f[11]), 0.05, 1e-8, 1e-12);
  CHECK_CLOSE(atof(f[12]), sqrt(0.02), 1e-8, 1e-12);
  CHECK(find(csv, "C2.cka_original", S(2), "layer2", EC, FT, f) == 1);
  CHECK(!strcmp(f[13], "holds"));
  CHECK(find(csv, "C1.test_retain_acc", S(2), "", EC, "original", f) == 1);
  CHECK(!strcmp(f[13], "holds"));  // |0.88 − 0.90| = 0.02 exactly (in decimal): within

  // Setting 3: one run per group, std 0, marked.
  CHECK(find(csv, "C2.cka_original", S(3), "layer1", EC, FT, f) == 1);
  CHECK(!strcmp(f[13], "holds (n=1)") && !strcmp(f[6], "1") && atof(f[5]) == 0);
  CHECK(atof(f[12]) == 0);
  CHECK(find(csv, "C3.cka_original", S(3), "layer1", FT_EC, FT, f) == 1);
  CHECK(!strcmp(f[13], "fails (n=1)"));  // equal means: no difference at all
  CHECK(find(csv, "C2.knn_forget_acc", S(3), "layer1", EC, "original", f) == 1);
  CHECK(!strcmp(f[13], "n/a (knn_forget_acc not computed)") && !strcmp(f[6], "0"));

  // Settings 4 and 5: missing groups are n/a, not failures.
  CHECK(find(csv, "C1", S(4), "", "EC alone", "", f) == 1);
  CHECK(!strcmp(f[13], "n/a (no EC-alone runs)"));
  CHECK(find(csv, "C2", S(4), "", "EC alone", "", f) == 1);
  CHECK(find(csv, "C3", S(4), "", "m+EC", "", f) == 1);
  CHECK(!strcmp(f[13], "n/a (no base method run with EC)"));
  CHECK(find(csv, "C1.forget_acc", S(5), "", EC, "retrain", f) == 1);
  CHECK(!strcmp(f[13], "n/a (no retrain runs)") && f[11][0] == '\0');
  CHECK(find(csv, "C1.test_retain_acc", S(5), "", EC, "original", f) == 1);
  CHECK(!strcmp(f[13], "n/a (no original runs)"));
  CHECK(find(csv, "C2.cka_original", S(5), "layer1", EC, "", f) == 1);
  CHECK(!strcmp(f[13], "n/a (no base-method runs)") && !strcmp(f[6], "3"));
  CHECK(find(csv, "C3", S(5), "", "ft+EC [ec.temperature=0.5, unlearn.lr=0.01]", "", f) == 1);
  CHECK(!strcmp(f[13], "n/a (no ft runs without EC)"));
  CHECK(find(csv, "ref.cka_original", S(5), "layer1", "retrain", "", f) == 1);
  CHECK(!strcmp(f[13], "n/a (no retrain runs)"));

  // Fails: setting 1 all 9 (2 + 4 + 3), setting 2 one, setting 3 two (C3 cka at both points).
  CHECK(n_failed == 12);
  free(csv);
  free(t.rows);
}

static void test_markdown(void) {
  ResultsTable t;
  build(&t, 63);
  char *md = claims_text(&t, REPORT_MARKDOWN, NULL);
  if (!md) return;
  CHECK(strstr(md, "# ecore report --claims: sweep c1a1c1a1c1a1c1a1"));
  CHECK(strstr(md, "6 settings"));
  CHECK(strstr(md, "spread = sqrt(std_A² + std_B²)"));  // the rules
  CHECK(strstr(md, "## C1 EC alone forgets\n\n| claim | setting | point | A |"));
  CHECK(strstr(md, "## C3 EC as a plug-in"));
  CHECK(strstr(md,
               "| cka_original lower than the base method's | forget.classes=[2] | layer1 | "
               "EC alone [ec.temperature=0.5] | 0.6000 ± 0.1000 (n=3) | ft [unlearn.lr=0.01] | "
               "0.6500 ± 0.1000 (n=3) | +0.0500 | 0.1414 | fails |"));
  CHECK(strstr(md, "| 0.5000 (n=1) |"));
  CHECK(strstr(md, "knn_forget_acc lower than original (retrain: 0.2000 (n=1))"));
  CHECK(strstr(md,
               "**C2 EC alone reaches the core: fails (n=1).** forget.classes=[0] · EC alone "
               "[ec.temperature=0.5]: holds. forget.classes=[1] · EC alone "
               "[ec.temperature=0.5]: fails: layer1, layer2. forget.classes=[2] · EC alone "
               "[ec.temperature=0.5]: fails: layer1. forget.classes=[3] · EC alone "
               "[ec.temperature=0.5]: holds (n=1). forget.classes=[4] · EC alone: n/a (no "
               "EC-alone runs)."));
  CHECK(strstr(md,
               "forget.classes=[1] · ft+EC [ec.temperature=0.5, unlearn.lr=0.01] vs ft "
               "[unlearn.lr=0.01]: fails: layer1, layer2, test_retain_acc."));
  free(md);
  free(t.rows);

  // One setting, every claim holding: no setting column, every summary holds.
  build(&t, 1);
  md = claims_text(&t, REPORT_MARKDOWN, NULL);
  CHECK(md && strstr(md, "| claim | point | A |"));
  CHECK(md && strstr(md, "**C1 EC alone forgets: holds.** EC alone [ec.temperature=0.5]: holds."));
  CHECK(md && strstr(md, "**C3 EC as a plug-in: holds.**"));
  CHECK(md && !strstr(md, "| fails") && !strstr(md, ": fails"));
  free(md);
  free(t.rows);

  ResultsTable empty = {0};
  empty.schema = schema();
  Err e = {0};
  CHECK(results_claims(&empty, REPORT_MARKDOWN, stdout, NULL, &e) == ERR_RUNTIME);
}

// ---------------------------------------------------------------- the command line

static int run(const char *cmd) {
  int status = system(cmd);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static char *slurp(const char *path) {
  return test_slurp(path, NULL);
}

static void test_cli(const char *ecore, const char *dir) {
  char good[512], mixed[512], empty[512], txt[512], out[512], cmd[3000];
  snprintf(good, sizeof good, "%s/good.h5", dir);
  snprintf(mixed, sizeof mixed, "%s/mixed.h5", dir);
  snprintf(empty, sizeof empty, "%s/empty.h5", dir);
  snprintf(txt, sizeof txt, "%s/notes.txt", dir);
  snprintf(out, sizeof out, "%s/out.txt", dir);
  Err e = {0};
  ResultsTable t;
  build(&t, 1);
  CHECK(results_write(good, &t.schema, NULL, t.rows, t.n_rows, &e) == 0);
  free(t.rows);
  build(&t, 63);
  CHECK(results_write(mixed, &t.schema, NULL, t.rows, t.n_rows, &e) == 0);
  CHECK(results_write(empty, &t.schema, NULL, NULL, 0, &e) == 0);
  free(t.rows);
  FILE *f = fopen(txt, "w");
  fputs("hello\n", f);
  fclose(f);

#define EXPECT(code, ...) EXPECT_EXIT(run, code, __VA_ARGS__)
  EXPECT(0, "'%s' report --help >'%s'", ecore, out);
  char *text = slurp(out);
  CHECK(text && strstr(text, "--claims-strict") && strstr(text, "C2 EC alone reaches the core"));
  free(text);
  EXPECT(2, "'%s' report --claims 2>/dev/null", ecore);
  EXPECT(2, "'%s' report '%s' --claims 2>/dev/null", ecore, txt);
  EXPECT(1, "'%s' report '%s' --claims 2>/dev/null", ecore, empty);
  EXPECT(0, "'%s' report '%s' --claims-strict >/dev/null", ecore, good);
  EXPECT(0, "'%s' report '%s' --claims >'%s'", ecore, mixed, out);
  text = slurp(out);
  CHECK(text && strstr(text, "## C2 EC alone reaches the core") && strstr(text, "| fails |"));
  CHECK(text && !strstr(text, "## Metrics"));  // the claims instead of the metric tables
  free(text);
  EXPECT(5, "'%s' report '%s' --claims-strict >/dev/null 2>&1", ecore, mixed);
  EXPECT(0, "'%s' report '%s' --format csv --claims >'%s'", ecore, mixed, out);
  text = slurp(out);
  char fields[FIELDS][FIELD_LEN];
  CHECK(text && find(text, "C2.cka_original", S(2), "layer1", EC, FT, fields) == 1);
  CHECK(text && !strcmp(fields[13], "fails"));
  free(text);
#undef EXPECT
}

// Settings come from the reference axes the file names, whatever the axes are called; a file
// that names none goes by the config prefixes (data., model., train., forget.).
static void test_reference_axes(void) {
  ResultsTable t;
  build(&t, 3);
  char *want = claims_text(&t, REPORT_CSV, NULL);  // forget.classes by its prefix
  strcpy(t.schema.axes[4], "split.k");
  t.schema.has_reference_axes = true;
  for (int i = 0; i < t.schema.n_axes; i++) t.schema.reference_axis[i] = i == 4;
  char *got = claims_text(&t, REPORT_CSV, NULL);
  if (want && got) {  // the same report, the axis renamed
    for (char *p = strstr(want, "forget.classes="); p; p = strstr(p, "forget.classes="))
      memmove(p, p + strlen("forget."), strlen(p + strlen("forget.")) + 1),
          memcpy(p, "split.k=", strlen("split.k="));
    CHECK(!strcmp(want, got));
    char f[FIELDS][FIELD_LEN];
    CHECK(find(got, "C1.forget_acc", "split.k=[1]", "", EC, "retrain", f) == 1);
  }
  free(want), free(got);

  t.schema.has_reference_axes = false;  // a file from before: split.k is no reference axis
  got = claims_text(&t, REPORT_CSV, NULL);
  if (got) {
    char f[FIELDS][FIELD_LEN];
    // One setting; split.k is an other axis, in the group labels.
    CHECK(find(got, "C1.forget_acc", NULL, "", NULL, "retrain", f) == 2);
    CHECK(find(got, "C1.forget_acc", "all runs", "", NULL, "retrain", f) == 2);
    CHECK(find(got, "C1.forget_acc", "all runs", "", "EC alone [ec.temperature=0.5, split.k=[1]]",
               "retrain", f) == 1);
  }
  free(got);
  free(t.rows);
}

int main(int argc, char **argv) {
  if (argc == 3 && !strcmp(argv[1], "--cli")) {
    char dir[] = "/tmp/ecore_test_claims_XXXXXX";
    if (!mkdtemp(dir)) {
      perror("mkdtemp");
      return 1;
    }
    test_cli(argv[2], dir);
    int rc = test_finish(argv[0]);
    if (rc == 0) {
      char cmd[128];
      snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
      if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    } else {
      fprintf(stderr, "files kept in %s\n", dir);
    }
    return rc;
  }
  test_csv();
  test_markdown();
  test_reference_axes();
  return test_finish(argv[0]);
}
