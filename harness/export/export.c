// export.c: see export.h.
#include "export.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "plan.h"

// What a run's settings are: its resolved config and which keys apply (mask 0: every key; a
// model's row: the keys that determine the model, as its axis values in the file).
typedef struct {
  bool found;
  Config c;
  unsigned mask;
} Settings;

// A column: a field of the row, or a setting (key >= 0, field -1). An axis field has its key
// too (-1 when this ecore has no such key).
typedef struct {
  int field, key;
} Column;

typedef struct {
  FILE *out;
  ExportFormat fmt;
  int n;  // cells written on this line
} Line;

ResultsType export_key_type(int key) {
  switch (config_schema[key].type) {
    case T_BOOL:
      return RESULTS_BOOL;
    case T_INT:
      return RESULTS_INT;
    case T_FLOAT:
      return RESULTS_FLOAT;
    default:
      return RESULTS_TEXT;  // enums, strings, lists (their YAML text)
  }
}

// unlearn.method and ec.enabled: the row's method and ec say them.
static bool duplicated_key(int key) {
  return key >= 0 && (!strcmp(config_schema[key].key, "unlearn.method") ||
                      !strcmp(config_schema[key].key, "ec.enabled"));
}

// A setting that can be a column: part of run ids, a value (not the grid or the cases).
static bool setting_key(int key) {
  const KeySpec *k = &config_schema[key];
  return !(k->flags & KF_NOID) && k->type != T_GRID && k->type != T_CASES && !duplicated_key(key);
}

static bool applies(const Settings *s, int key) {
  const KeySpec *k = &config_schema[key];
  return s->found && setting_key(key) && (!s->mask || (k->flags & s->mask)) &&
         config_applies(k->when, &s->c);
}

// ---------------------------------------------------------------- cells

static void cell_begin(Line *l) {
  if (l->n++) fputc(',', l->out);
}

static void put_null(Line *l) {
  cell_begin(l);
  if (l->fmt == EXPORT_JSONL) fputs("null", l->out);
}

// A number or bool, as text that reads back as the same value.
static void put_bare(Line *l, const char *text) {
  cell_begin(l);
  fputs(text, l->out);
}

// A float reads back as a float: "3.0", not "3" (which pandas and JSON readers take for an int).
static void put_float(Line *l, double x) {
  char buf[48];
  if (!isfinite(x)) {
    put_null(l);
    return;
  }
  config_double_text(x, buf);
  if (!strpbrk(buf, ".e")) strcat(buf, ".0");
  put_bare(l, buf);
}

static void put_text(Line *l, const char *s) {
  cell_begin(l);
  if (l->fmt == EXPORT_CSV) {
    if (!strpbrk(s, ",\"\r\n")) {
      fputs(s, l->out);
      return;
    }
    fputc('"', l->out);
    for (; *s; s++) {
      if (*s == '"') fputc('"', l->out);
      fputc(*s, l->out);
    }
    fputc('"', l->out);
    return;
  }
  fputc('"', l->out);
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\')
      fprintf(l->out, "\\%c", ch);
    else if (ch == '\n')
      fputs("\\n", l->out);
    else if (ch < 32)
      fprintf(l->out, "\\u%04x", ch);
    else
      fputc(ch, l->out);  // UTF-8 passes through
  }
  fputc('"', l->out);
}

// A value given as its text (an axis value, a setting's YAML text), typed: "" is null.
static void put_typed(Line *l, ResultsType t, const char *text) {
  char *end;
  if (!text[0]) {
    put_null(l);
  } else if (t == RESULTS_BOOL && (!strcmp(text, "true") || !strcmp(text, "false"))) {
    put_bare(l, text);
  } else if (t == RESULTS_INT) {
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (*end || errno) {
      put_text(l, text);
    } else {
      char buf[32];
      snprintf(buf, sizeof buf, "%lld", v);
      put_bare(l, buf);
    }
  } else if (t == RESULTS_FLOAT) {
    double v = strtod(text, &end);
    if (*end)
      put_text(l, text);
    else
      put_float(l, v);
  } else {
    put_text(l, text);
  }
}

static void put_field(Line *l, const ResultRow *r, const ResultsField *f) {
  char buf[32];
  if (f->type == RESULTS_TEXT) {
    put_text(l, results_field_text(r, f));
  } else if (f->type == RESULTS_FLOAT) {
    put_float(l, results_field_float(r, f));
  } else {
    if (f->is_signed || f->size < 8)
      snprintf(buf, sizeof buf, "%lld", results_field_int(r, f));
    else
      snprintf(buf, sizeof buf, "%llu", results_field_uint(r, f));
    put_bare(l, buf);
  }
}

static void line_end(Line *l) {
  if (l->fmt == EXPORT_JSONL) fputc('}', l->out);
  fputc('\n', l->out);
  l->n = 0;
}

// ---------------------------------------------------------------- settings

typedef struct {
  uint64_t id;
  int kind;  // -1: a run; else the JobKind of a model's row
  int index;
} IdEntry;

static int cmp_entry(const void *a, const void *b) {
  const IdEntry *x = a, *y = b;
  if (x->kind != y->kind) return x->kind < y->kind ? -1 : 1;
  return (x->id > y->id) - (x->id < y->id);
}

// A row's run id: 16 hex digits (a run), or "original-" / "retrain-" and the 16 of a retrain
// job (the original model's row is its evaluation on that job's forget set, beside it).
static bool parse_run_id(const char *s, IdEntry *key) {
  key->kind = -1;
  if (!strncmp(s, "original-", 9)) key->kind = JOB_RETRAIN, s += 9;
  if (!strncmp(s, "retrain-", 8)) key->kind = JOB_RETRAIN, s += 8;
  if (strlen(s) != 16 || strspn(s, "0123456789abcdef") != 16) return false;
  key->id = strtoull(s, NULL, 16);
  return true;
}

// Fills set[i] for the rows rows[i] found in plan p, and checks their axis values against the
// settings (a row whose axes disagree is not found; why says so).
static int find_settings(const ResultsTable *t, const Plan *p, const int *rows, int n,
                         Settings *set, char *why, size_t size, Err *e) {
  int m = p->n_runs + p->n_jobs;
  IdEntry *ids = malloc(sizeof *ids * (size_t)(m ? m : 1));
  if (!ids) return errf(e, ERR_RUNTIME, "out of memory");
  for (int i = 0; i < p->n_runs; i++) ids[i] = (IdEntry){p->runs[i].id, -1, i};
  for (int j = 0; j < p->n_jobs; j++)
    ids[p->n_runs + j] = (IdEntry){p->jobs[j].id, (int)p->jobs[j].kind, j};
  qsort(ids, (size_t)m, sizeof *ids, cmp_entry);
  for (int i = 0; i < n; i++) {
    const ResultRow *r = &t->rows[rows[i]];
    IdEntry key;
    const IdEntry *hit = parse_run_id(r->run_id, &key)
                             ? bsearch(&key, ids, (size_t)m, sizeof *ids, cmp_entry)
                             : NULL;
    set[i].found = hit != NULL;
    if (!hit) {
      snprintf(why, size, "run %s is not one of the runs its stored config makes", r->run_id);
      continue;
    }
    plan_run_config(p, hit->kind < 0 ? hit->index : p->jobs[hit->index].run, &set[i].c);
    set[i].mask = hit->kind < 0 ? 0 : J_ORIGINAL | J_FORGET;
    for (int a = 0; a < t->schema.n_axes && set[i].found; a++) {
      int k = config_key_index(t->schema.axes[a]);
      char v[RESULTS_VALUE_LEN] = "";
      if (k >= 0 && config_applies(config_schema[k].when, &set[i].c) &&
          (!set[i].mask || (config_schema[k].flags & set[i].mask))) {
        CfgValue cv;
        config_get(&set[i].c, k, &cv);
        config_value_text(k, &cv, v, sizeof v);
      }
      if (k < 0 || strcmp(v, r->axis[a])) {
        set[i].found = false;
        snprintf(why, size, "run %s: axis %s is '%s' in /runs but '%s' in its stored config",
                 r->run_id, t->schema.axes[a], r->axis[a], v);
      }
    }
  }
  free(ids);
  return 0;
}

// ---------------------------------------------------------------- columns and lines

// The columns: the row's fields, the settings after the last axis (after status without axes).
static int make_columns(const ResultsTable *t, const ResultsField *fields, int n_fields,
                        const Settings *set, int n_rows, Column *cols, int *n_cols) {
  int after = -1;
  for (int f = 0; f < n_fields; f++)
    if (fields[f].axis >= 0 || !strcmp(fields[f].name, "status")) after = f;
  *n_cols = 0;
  for (int f = 0; f < n_fields; f++) {
    int key = fields[f].axis >= 0 ? config_key_index(fields[f].name) : -1;
    if (!duplicated_key(key)) cols[(*n_cols)++] = (Column){f, key};
    if (f != after) continue;
    for (int k = 0; k < config_schema_n; k++) {
      bool axis = false, used = false;
      for (int a = 0; a < t->schema.n_axes; a++) axis |= config_key_index(t->schema.axes[a]) == k;
      for (int i = 0; i < n_rows && !used; i++) used = applies(&set[i], k);
      if (used && !axis) cols[(*n_cols)++] = (Column){-1, k};
    }
  }
  return 0;
}

static void put_header(Line *l, const ResultsField *fields, const Column *cols, int n) {
  if (l->fmt != EXPORT_CSV) return;
  for (int c = 0; c < n; c++)
    put_text(l, cols[c].field >= 0 ? fields[cols[c].field].name : config_schema[cols[c].key].key);
  line_end(l);
}

static void put_setting(Line *l, const Settings *s, int key) {
  if (!applies(s, key)) {
    put_null(l);
    return;
  }
  CfgValue v;
  char text[4096];
  config_get(&s->c, key, &v);
  config_value_text(key, &v, text, sizeof text);
  put_typed(l, export_key_type(key), text);
}

static void put_line(Line *l, const ResultsTable *t, const ResultRow *r, const Settings *s,
                     const ResultsField *fields, const Column *cols, int n) {
  if (l->fmt == EXPORT_JSONL) fputc('{', l->out);
  for (int c = 0; c < n; c++) {
    const ResultsField *f = cols[c].field >= 0 ? &fields[cols[c].field] : NULL;
    if (l->fmt == EXPORT_JSONL) {  // the key, then the value
      put_text(l, f ? f->name : config_schema[cols[c].key].key);
      fputc(':', l->out);
      l->n = 0;
    }
    if (!f) {
      put_setting(l, s, cols[c].key);
    } else if (f->axis >= 0) {
      ResultsType type = cols[c].key >= 0           ? export_key_type(cols[c].key)
                         : t->schema.has_axis_types ? t->schema.axis_type[f->axis]
                                                    : RESULTS_TEXT;
      put_typed(l, type, results_field_text(r, f));
    } else {
      put_field(l, r, f);
    }
    l->n = c + 1;
  }
  line_end(l);
}

int export_table(const ResultsTable *t, const char *path, ExportFormat fmt, FILE *out,
                 ExportInfo *info, Err *e) {
  memset(info, 0, sizeof *info);
  ResultsField fields[RESULTS_MAX_FIELDS];
  int n_fields = 0, n = 0, *rows = NULL;
  int rc = results_row_fields(&t->schema, fields, &n_fields, e);
  if (!rc) rc = results_latest_rows(t, &rows, &n, e);
  if (rc) return err_context(e, "%s", path);
  Settings *set = calloc((size_t)(n ? n : 1), sizeof *set);
  Column *cols = malloc(sizeof *cols * (size_t)(n_fields + config_schema_n));
  if (!set || !cols) rc = errf(e, ERR_RUNTIME, "out of memory");
  Plan *p = NULL;
  Err why = {0};
  if (!rc && plan_load_stored(&p, t, path, STORED_SETTINGS, NULL, &why))
    snprintf(info->why, sizeof info->why, "%s", why.msg);
  if (!rc && p) rc = find_settings(t, p, rows, n, set, info->why, sizeof info->why, e);
  int n_cols = 0;
  if (!rc) rc = make_columns(t, fields, n_fields, set, n, cols, &n_cols);
  Line l = {out, fmt, 0};
  if (!rc) put_header(&l, fields, cols, n_cols);
  for (int i = 0; !rc && i < n; i++) {
    put_line(&l, t, &t->rows[rows[i]], &set[i], fields, cols, n_cols);
    info->n_unmatched += !set[i].found;
  }
  info->n_runs = rc ? 0 : n;
  if (!rc && (fflush(out) || ferror(out)))
    rc = errf(e, ERR_RUNTIME, "cannot write the export: %s", strerror(errno));
  plan_free(p);
  free(set), free(cols), free(rows);
  return rc;
}

static bool same_file(const char *a, const char *b) {
  struct stat x, y;
  return stat(a, &x) == 0 && stat(b, &y) == 0 && x.st_dev == y.st_dev && x.st_ino == y.st_ino;
}

int export_file(const char *in, const char *out_path, ExportFormat fmt, ExportInfo *info, Err *e) {
  memset(info, 0, sizeof *info);
  if (out_path && same_file(in, out_path))
    return errf(e, ERR_CONFIG, "%s: is the results file itself; choose another --output", out_path);
  ResultsTable t;
  int rc = results_read(in, &t, e);
  if (rc) return rc;
  if (!out_path) {
    rc = export_table(&t, in, fmt, stdout, info, e);
    results_table_free(&t);
    return rc;
  }
  size_t len = strlen(out_path);
  char *tmp = malloc(len + 5);
  FILE *f = NULL;
  if (!tmp) rc = errf(e, ERR_RUNTIME, "out of memory");
  if (!rc) memcpy(tmp, out_path, len), memcpy(tmp + len, ".tmp", 5);
  if (!rc && !(f = fopen(tmp, "w")))
    rc = errf(e, ERR_RUNTIME, "%s: cannot create: %s", tmp, strerror(errno));
  if (!rc) rc = export_table(&t, in, fmt, f, info, e);
  if (f && fclose(f) && !rc)
    rc = errf(e, ERR_RUNTIME, "%s: cannot write: %s", tmp, strerror(errno));
  if (!rc && rename(tmp, out_path) < 0)
    rc = errf(e, ERR_RUNTIME, "%s: cannot replace it with %s: %s", out_path, tmp, strerror(errno));
  if (rc && f) remove(tmp);
  free(tmp);
  results_table_free(&t);
  return rc;
}
