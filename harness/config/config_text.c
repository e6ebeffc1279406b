// config_text.c: the config as text: values as YAML, "did you mean", the reference page
// (docs/config.md) and the config written back as YAML.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

// ---------------------------------------------------------------------------------------------
// values

const char *config_double_text(double x, char buf[40]) {
  for (int p = 1; p <= 17; p++) {
    snprintf(buf, 40, "%.*g", p, x);
    if (strtod(buf, NULL) == x) break;
  }
  return buf;
}

static void put_double(FILE *f, double x) {
  char buf[40];
  fputs(config_double_text(x, buf), f);
}

static int looks_typed(const char *s) {
  static const char *const words[] = {"~",    "null",  "Null",  "NULL",  "true", "True",
                                      "TRUE", "false", "False", "FALSE", NULL};
  for (int i = 0; words[i]; i++)
    if (!strcmp(s, words[i])) return 1;
  char *end;
  strtod(s, &end);
  return end != s && !*end;
}

// Plain where YAML would read it back as the same string, else double-quoted.
static void put_string(FILE *f, const char *s) {
  int quote = !*s || looks_typed(s) || strchr("-?:,[]{}#&*!|>'\"%@` ", s[0]) ||
              s[strlen(s) - 1] == ' ' || strstr(s, ": ") || strstr(s, " #") ||
              strpbrk(s, ",[]{}\"\\\t\n\r");
  if (!quote) {
    fputs(s, f);
    return;
  }
  fputc('"', f);
  for (const char *p = s; *p; p++) {
    if (*p == '"' || *p == '\\')
      fprintf(f, "\\%c", *p);
    else if (*p == '\n')
      fputs("\\n", f);
    else if (*p == '\t')
      fputs("\\t", f);
    else if ((unsigned char)*p < 32)
      fprintf(f, "\\x%02x", (unsigned char)*p);
    else
      fputc(*p, f);
  }
  fputc('"', f);
}

static void put_floats(FILE *f, FloatList l) {
  fputc('[', f);
  for (int i = 0; i < l.n; i++) {
    if (i) fputs(", ", f);
    put_double(f, l.v[i]);
  }
  fputc(']', f);
}

void config_format_value(FILE *f, int key, const CfgValue *v) {
  const KeySpec *k = &config_schema[key];
  switch (k->type) {
    case T_INT:
      fprintf(f, "%d", v->i);
      break;
    case T_FLOAT:
      put_double(f, v->f);
      break;
    case T_BOOL:
      fputs(v->b ? "true" : "false", f);
      break;
    case T_STRING:
    case T_PATH:
      put_string(f, v->s ? v->s : "");
      break;
    case T_ENUM:
      fputs(config_enum_name(k, v->i), f);
      break;
    case T_INTS:
      fputc('[', f);
      for (int i = 0; i < v->il.n; i++) fprintf(f, "%s%d", i ? ", " : "", v->il.v[i]);
      fputc(']', f);
      break;
    case T_FLOATS:
      put_floats(f, v->fl);
      break;
    case T_STRINGS:
      fputc('[', f);
      for (int i = 0; i < v->sl.n; i++) {
        if (i) fputs(", ", f);
        put_string(f, v->sl.v[i]);
      }
      fputc(']', f);
      break;
    case T_WEIGHTS:
      if (v->w.scheme == EC_WEIGHTS_LIST)
        put_floats(f, v->w.list);
      else
        fputs(k->choices[v->w.scheme], f);
      break;
    case T_GRID:
      fputs("{}", f);
      break;
    case T_CASES:
      fputs("[]", f);
      break;
  }
}

const char *config_value_text(int key, const CfgValue *v, char *buf, size_t size) {
  buf[0] = '\0';
  FILE *f = fmemopen(buf, size, "w");
  if (!f) return buf;
  setvbuf(f, NULL, _IONBF, 0);
  config_format_value(f, key, v);
  fclose(f);
  buf[size - 1] = '\0';
  return buf;
}

void config_range_text(const KeySpec *k, char *buf, size_t size) {
  int unbounded = k->hi >= (double)0x7fffffff;
  if (unbounded)
    snprintf(buf, size, "%s %.10g", k->lo_open ? ">" : ">=", k->lo);
  else
    snprintf(buf, size, "in %c%.10g, %.10g%c", k->lo_open ? '(' : '[', k->lo, k->hi,
             k->hi_open ? ')' : ']');
}

// ---------------------------------------------------------------------------------------------
// did you mean

// Optimal string alignment distance (a transposition counts as one edit).
static int edit_distance(const char *a, const char *b) {
  enum { MAX = 128 };
  int n = (int)strlen(a), m = (int)strlen(b);
  if (n >= MAX || m >= MAX) return MAX;
  int d[MAX][MAX];
  for (int i = 0; i <= n; i++) d[i][0] = i;
  for (int j = 0; j <= m; j++) d[0][j] = j;
  for (int i = 1; i <= n; i++)
    for (int j = 1; j <= m; j++) {
      int cost = a[i - 1] != b[j - 1];
      int best = d[i - 1][j - 1] + cost;
      if (d[i - 1][j] + 1 < best) best = d[i - 1][j] + 1;
      if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1;
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
          d[i - 2][j - 2] + 1 < best)
        best = d[i - 2][j - 2] + 1;
      d[i][j] = best;
    }
  return d[n][m];
}

static int close_enough(const char *word, int d) {
  size_t n = strlen(word);
  return d <= (n <= 4 ? 1 : n <= 8 ? 2 : 3);
}

const char *config_suggest(const char *word, const char *const *names, int n) {
  const char *best = NULL;
  int best_d = 1 << 20;
  for (int i = 0; i < n; i++) {
    int d = edit_distance(word, names[i]);
    if (d < best_d) best_d = d, best = names[i];
  }
  return best && close_enough(word, best_d) ? best : NULL;
}

static const char *leaf(const char *key) {
  const char *dot = strrchr(key, '.');
  return dot ? dot + 1 : key;
}

const char *config_suggest_key(const char *word, char *buf, size_t size) {
  int best_d = 1 << 20, leaf_d = 1 << 20;
  char best[256] = "", by_leaf[256] = "";
  for (int i = 0; i < config_schema_n; i++) {
    const char *key = config_schema[i].key;
    // The key itself and each of its sections ("unlearn", "unlearn.scrub").
    for (size_t j = 1;; j++)
      if (key[j] == '.' || !key[j]) {
        char cand[256];
        snprintf(cand, sizeof cand, "%.*s", (int)j, key);
        int d = edit_distance(word, cand);
        if (d < best_d) best_d = d, snprintf(best, sizeof best, "%s", cand);
        if (!key[j]) break;
      }
    // A known leaf in the wrong section: "train.temperature" -> "ec.temperature".
    if (!strcmp(leaf(word), leaf(key))) {
      int d = edit_distance(word, key);
      if (d < leaf_d) leaf_d = d, snprintf(by_leaf, sizeof by_leaf, "%s", key);
    }
  }
  if (close_enough(word, best_d))
    snprintf(buf, size, "%s", best);
  else if (*by_leaf)
    snprintf(buf, size, "%s", by_leaf);
  else
    return NULL;
  return buf;
}

// ---------------------------------------------------------------------------------------------
// the reference page

static const char *intro =
    "# ecore configuration reference\n"
    "\n"
    "<!-- Generated from harness/config/schema.c by `ecore plan --explain`; a test checks that "
    "this\n"
    "     page matches. Change the schema, then run `ecore plan --explain > docs/config.md`. -->\n"
    "\n"
    "## How a config is read\n"
    "\n"
    "- A config is one YAML file. Sections (`data:`, `model:`, ...) hold keys. A key may also be\n"
    "  written dotted at any level: `ec: {temperature: 0.5}` and `ec.temperature: 0.5` are the\n"
    "  same key (and writing both is a duplicate).\n"
    "- Values come from, in increasing precedence: the defaults below, the file, then the\n"
    "  `--set KEY=VALUE` arguments in order (the last one wins). A `--set` value is YAML:\n"
    "  `--set forget.classes=[3,8]`, `--set 'ec={enabled: false}'`.\n"
    "  `--set sweep.grid.KEY=[...]` adds or replaces one grid axis.\n"
    "- Unknown keys (with a \"did you mean\"), wrong types, out-of-range values, duplicate keys,\n"
    "  tabs in indentation, YAML aliases and tags are errors, reported as `FILE:LINE:COL: "
    "message`\n"
    "  (or `--set K=V: message`); ecore then exits with code 2 and writes nothing.\n"
    "- Numbers and booleans are written without quotes (a quoted \"3\" is a string); booleans\n"
    "  are `true` or `false`.\n"
    "- Relative paths (`data.root`, `output.*`) are relative to the current working directory\n"
    "  of ecore, not to the config file, like paths given on the command line. The configs in\n"
    "  `configs/` expect to be run from the repository's root.\n"
    "- A key applies to a run only when its \"applies when\" condition holds. A key that does not\n"
    "  apply is ignored for that run: it is not checked, it is not part of the run's id, and a\n"
    "  grid axis over it does not multiply the run.\n"
    "\n"
    "## Grids, cases and seeds\n"
    "\n"
    "- `sweep.grid` maps dotted keys to lists of values. The runs are the product of the axes,\n"
    "  each repeated for every seed in `sweep.seeds`. A list-valued key takes a list of lists:\n"
    "  `forget.classes: [[3], [3, 8]]`; `ec.layer_weights: [uniform, [1, 2, 3, 4]]`.\n"
    "- `sweep.cases` lists extra runs for combinations that are not a product: each case is a\n"
    "  mapping of dotted keys to values, applied on top of the config (not of the grid). A case\n"
    "  may set its own `sweep.seeds`. With cases and no grid, the runs are the cases; with both,\n"
    "  the grid's runs and the cases' (a case equal to a grid run is the same run).\n"
    "- Axes that do not apply to a run do not multiply it: with `ec.enabled: [false, true]` and\n"
    "  `ec.temperature: [0.5, 0.7]`, the runs without EC are not repeated per temperature.\n"
    "  `unlearn.method: none` with EC off is the original model, which every sweep evaluates\n"
    "  anyway; such runs are dropped.\n"
    "- Each run has an id: 16 hex digits of a 64-bit hash of its seed and of its settings that\n"
    "  apply and differ from their defaults, taken after the values that depend on other keys\n"
    "  are filled in (`unlearn.lr: 0` becomes the method's usual value, and so on). How a value\n"
    "  is written (`0.01` or `1e-2`), the order of keys and the order of axes do not change it,\n"
    "  so reruns and merges recognise runs.\n"
    "- The sweep id is what the runs share: the keys it varies (grid axes, keys cases set) and\n"
    "  every other key of the ids. A config that adds seeds, grid values or cases is of the\n"
    "  same sweep: it extends the sweep's results file, and their files merge.\n"
    "- Runs share jobs, each with an id from the settings that determine it (column \"ids\"):\n"
    "  the original model per data set, model, training recipe and seed (O); the retrained\n"
    "  model per original model and forget set (O and F); the pretrained EC modules per original\n"
    "  model and module settings (O and M). R: part of run ids only; -: of no id.\n"
    "  `ecore plan` prints one line per run with the jobs it needs, then the jobs, then\n"
    "  `N runs`.\n";

static void type_text(const KeySpec *k, char *buf, size_t size) {
  char range[96];
  config_range_text(k, range, sizeof range);
  char choices[256] = "";
  for (int i = 0; k->choices && k->choices[i]; i++)
    snprintf(choices + strlen(choices), sizeof choices - strlen(choices), "%s%s", i ? ", " : "",
             k->choices[i]);
  switch (k->type) {
    case T_INT:
      snprintf(buf, size, "int %s", range);
      break;
    case T_FLOAT:
      snprintf(buf, size, "float %s", range);
      break;
    case T_BOOL:
      snprintf(buf, size, "bool");
      break;
    case T_STRING:
      snprintf(buf, size, "string");
      break;
    case T_PATH:
      snprintf(buf, size, "path");
      break;
    case T_ENUM:
      snprintf(buf, size, "one of %s", choices);
      break;
    case T_INTS:
      snprintf(buf, size, "list of int %s", range);
      break;
    case T_FLOATS:
      snprintf(buf, size, "list of float %s", range);
      break;
    case T_STRINGS:
      snprintf(buf, size, "list of string");
      break;
    case T_WEIGHTS:
      snprintf(buf, size, "list of float %s, or one of %s", range, choices);
      break;
    case T_GRID:
      snprintf(buf, size, "mapping of key to list");
      break;
    case T_CASES:
      snprintf(buf, size, "list of mappings");
      break;
  }
}

static const char *ids_text(const KeySpec *k) {
  if (k->flags & KF_NOID) return "-";
  if (k->flags & J_ORIGINAL) return "O";
  if (k->flags & J_FORGET) return "F";
  if (k->flags & J_EC_MODULES) return "M";
  return "R";
}

void config_explain(FILE *f) {
  fputs(intro, f);
  char section[64] = "";
  for (int i = 0; i < config_schema_n; i++) {
    const KeySpec *k = &config_schema[i];
    size_t len = strcspn(k->key, ".");
    if (strncmp(section, k->key, len) || section[len]) {
      snprintf(section, sizeof section, "%.*s", (int)len, k->key);
      fprintf(f,
              "\n## %s\n\n| key | type | default | applies when | ids | meaning |\n"
              "|---|---|---|---|---|---|\n",
              section);
    }
    char type[400];
    type_text(k, type, sizeof type);
    const char *when = config_when_text(k->when);
    fprintf(f, "| `%s` | %s | `%s` | %s | %s | %s |\n", k->key, type, k->def,
            when ? when : "always", ids_text(k), k->doc);
  }
  fputs(
      "\n## Usual values per method\n\n"
      "`unlearn.lr: 0` and `unlearn.epochs: 0` (the defaults) stand for these (the usual settings "
      "of the methods' public code: SalUn, SCRUB, UUEF, Bad Teaching, UNSIR, Boundary Unlearning; "
      "where that code uses Adam, as Bad Teaching's and UNSIR's, the lr is ecore's own for SGD: "
      "docs/methods.md).\n\n"
      "| method | lr | epochs |\n|---|---|---|\n",
      f);
  const KeySpec *methods = &config_schema[config_key_index("unlearn.method")];
  for (int i = 0; methods->choices[i]; i++) {
    const UnlearnMethod m = config_enum_value(methods, i);
    double lr;
    int epochs;
    unlearn_method_usual(m, &lr, &epochs);
    if (lr == 0 && epochs == 0) continue;  // none, ssd: no optimiser of their own
    fprintf(f, "| %s | %g | %d |\n", unlearn_method_name(m), lr, epochs);
  }
}

// ---------------------------------------------------------------------------------------------
// the config as YAML

// Splits the section part of a dotted key ("unlearn.scrub" of "unlearn.scrub.alpha") into its
// components; returns how many.
enum { MAX_DEPTH = 8 };
static int sections(const char *key, const char **start, int *len) {
  int n = 0;
  const char *p = key;
  for (const char *dot; (dot = strchr(p, '.')) && n < MAX_DEPTH; p = dot + 1) {
    start[n] = p;
    len[n++] = (int)(dot - p);
  }
  return n;
}

static void write_grid_or_cases(FILE *f, const Config *c, const KeySpec *k, int depth) {
  if (k->type == T_GRID) {
    if (!c->sweep.n_axes) fputs(" {}", f);
    for (int a = 0; a < c->sweep.n_axes; a++) {
      const GridAxis *ax = &c->sweep.axes[a];
      fprintf(f, "\n%*s%s: [", 2 * depth + 2, "", config_schema[ax->key].key);
      for (int v = 0; v < ax->n; v++) {
        if (v) fputs(", ", f);
        config_format_value(f, ax->key, &ax->values[v]);
      }
      fputc(']', f);
    }
    return;
  }
  if (!c->sweep.n_cases) fputs(" []", f);
  for (int a = 0; a < c->sweep.n_cases; a++) {
    const GridCase *cs = &c->sweep.cases[a];
    fprintf(f, "\n%*s- {", 2 * depth + 2, "");
    for (int s = 0; s < cs->n; s++) {
      fprintf(f, "%s%s: ", s ? ", " : "", config_schema[cs->set[s].key].key);
      config_format_value(f, cs->set[s].key, &cs->set[s].value);
    }
    fputc('}', f);
  }
}

void config_write_yaml(FILE *f, const Config *c) {
  const char *prev_start[MAX_DEPTH], *start[MAX_DEPTH];
  int prev_len[MAX_DEPTH], len[MAX_DEPTH], n_prev = 0;
  for (int i = 0; i < config_schema_n; i++) {
    const KeySpec *k = &config_schema[i];
    int n = sections(k->key, start, len), common = 0;
    while (common < n && common < n_prev && len[common] == prev_len[common] &&
           !strncmp(start[common], prev_start[common], (size_t)len[common]))
      common++;
    for (int d = common; d < n; d++) fprintf(f, "%*s%.*s:\n", 2 * d, "", len[d], start[d]);
    fprintf(f, "%*s%s:", 2 * n, "", leaf(k->key));
    if (k->type == T_GRID || k->type == T_CASES)
      write_grid_or_cases(f, c, k, n);
    else {
      CfgValue v;
      config_get(c, i, &v);
      fputc(' ', f);
      config_format_value(f, i, &v);
    }
    fputc('\n', f);
    memcpy(prev_start, start, sizeof start);
    memcpy(prev_len, len, sizeof len);
    n_prev = n;
  }
}
