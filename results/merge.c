// merge.c: joins the files of a sharded sweep into one. See results_merge in results.h.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "results.h"

typedef struct {
  const ResultRow *row;
  int input;
} Entry;

static int cmp_entry(const void *a, const void *b) {
  const Entry *x = a, *y = b;
  int c = strcmp(x->row->run_id, y->row->run_id);
  return c ? c : (x->input > y->input) - (x->input < y->input);
}

static bool same_file(const char *a, const char *b) {
  struct stat sa, sb;
  if (stat(a, &sa) < 0 || stat(b, &sb) < 0) return false;
  return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

// Appends `item` to the comma-separated list `list` (of capacity cap) unless it is there.
static void add_unique(char *list, size_t cap, const char *item, size_t len) {
  for (const char *p = list; *p;) {
    const char *end = strchr(p, ',');
    size_t n = end ? (size_t)(end - p) : strlen(p);
    if (n == len && !strncmp(p, item, len)) return;
    p += n + (end ? 1 : 0);
  }
  size_t used = strlen(list);
  if (used + len + 2 > cap || len == 0) return;
  if (used) list[used++] = ',';
  memcpy(list + used, item, len);
  list[used + len] = '\0';
}

static void union_hosts(char *out, size_t cap, const ResultsTable *tables, int n) {
  out[0] = '\0';
  for (int i = 0; i < n; i++)
    for (const char *p = tables[i].hosts; p && *p;) {
      const char *end = strchr(p, ',');
      size_t len = end ? (size_t)(end - p) : strlen(p);
      add_unique(out, cap, p, len);
      p += len + (end ? 1 : 0);
    }
}

static char *join_names(const char *const *names, int n) {
  size_t len = 1;
  for (int i = 0; i < n; i++) len += strlen(names[i]) + 2;
  char *s = malloc(len);
  if (!s) return NULL;
  s[0] = '\0';
  for (int i = 0; i < n; i++) {
    if (i) strcat(s, ", ");
    strcat(s, names[i]);
  }
  return s;
}

// Checks that all inputs have one schema (every pair: a file from before reference_axes matches
// any, so equality is not transitive); their sweep ids the caller has checked.
static int check_inputs(const ResultsTable *t, const char *const *inputs, int n, Err *e) {
  for (int i = 1; i < n; i++)
    for (int j = 0; j < i; j++) {
      ResultsSchema a = t[i].schema;
      memcpy(a.sweep_id, t[j].schema.sweep_id, sizeof a.sweep_id);
      if (!results_schema_equal(&a, &t[j].schema))
        return errf(e, ERR_CONFIG,
                    "%s and %s: different grid axes (or their order), reference axes or "
                    "supervision points",
                    inputs[i], inputs[j]);
    }
  return 0;
}

// The configs of the output: the first input's, then every other config any input holds
// (its expanded one and those added to it), each text once, in input order. *added is
// malloc'd; its strings point into t.
static int merged_configs(const ResultsTable *t, int n, const char ***added, int *n_added, Err *e) {
  int cap = 0;
  for (int i = 0; i < n; i++) cap += 1 + t[i].n_config_added;
  *added = malloc(sizeof **added * (size_t)cap);
  *n_added = 0;
  if (!*added) return errf(e, ERR_RUNTIME, "out of memory");
  for (int i = 0; i < n; i++)
    for (int k = -1; k < t[i].n_config_added; k++) {
      const char *c = k < 0 ? t[i].config_expanded : t[i].config_added[k];
      bool seen = !strcmp(c, t[0].config_expanded);
      for (int j = 0; j < *n_added && !seen; j++) seen = !strcmp(c, (*added)[j]);
      if (!seen) (*added)[(*n_added)++] = c;
    }
  return 0;
}

// The schema of the output: the first input's, with the reference axes of the first input that
// names them (an input from before reference_axes does not), and the axis types of the first
// that has them.
static ResultsSchema merged_schema(const ResultsTable *t, int n) {
  ResultsSchema s = t[0].schema;
  for (int i = 0; i < n && !s.has_reference_axes; i++)
    if (t[i].schema.has_reference_axes) s = t[i].schema;
  for (int i = 0; i < n && !s.has_axis_types; i++)  // types: from any input that has them
    if (t[i].schema.has_axis_types) {
      s.has_axis_types = true;
      memcpy(s.axis_type, t[i].schema.axis_type, sizeof s.axis_type);
    }
  return s;
}

// How a row was computed, as text: "on HOSTS by ecore V (COMMIT), BLAS kernel K with T
// thread(s) per rank, R rank(s)" ("" for a row that does not say).
static void how_text(const ResultRow *r, char *out, size_t cap) {
  out[0] = '\0';
  if (!r->hosts[0] && !r->git_commit[0]) return;
  snprintf(out, cap,
           "on %s by ecore %s (%s), BLAS kernel %s with %d thread(s) per rank, %d rank(s)",
           r->hosts, r->ecore_version, r->git_commit, r->blas_kernel, r->blas_threads, r->ranks);
}

// The latest row of each run_id of every input, sorted by run_id then input; overlaps must be
// the same result (results_rows_equal) and are kept once: the first input's row, or the first
// that names its models when an earlier one does not (a file from before the fingerprints).
static int collect_rows(const ResultsTable *t, const char *const *inputs, int n, ResultRow **rows,
                        int *n_rows, Err *e) {
  int total = 0, rc = 0;
  for (int i = 0; i < n; i++) total += t[i].n_rows;
  Entry *all = malloc(sizeof *all * (size_t)(total ? total : 1));
  *rows = malloc(sizeof **rows * (size_t)(total ? total : 1));
  if (!all || !*rows) rc = errf(e, ERR_RUNTIME, "out of memory");
  int m = 0;
  for (int i = 0; !rc && i < n; i++) {
    int *idx = NULL, k = 0;
    rc = results_latest_rows(&t[i], &idx, &k, e);
    for (int j = 0; !rc && j < k; j++) all[m++] = (Entry){&t[i].rows[idx[j]], i};
    free(idx);
  }
  if (!rc) qsort(all, (size_t)m, sizeof *all, cmp_entry);
  *n_rows = 0;
  Entry kept = {NULL, 0};  // the row kept for the current run_id
  for (int j = 0; !rc && j < m; j++) {
    const ResultRow *r = all[j].row;
    const char *field = NULL;
    if (!kept.row || strcmp(r->run_id, kept.row->run_id)) {
      kept = all[j];
      (*rows)[(*n_rows)++] = *r;
    } else if (!results_rows_equal(r, kept.row, &t[0].schema, &field)) {
      char a[640], b[640], why[1400] = "";
      how_text(kept.row, a, sizeof a), how_text(r, b, sizeof b);
      if (strcmp(a, b))  // the likely cause: other hosts, builds or BLAS round differently
        snprintf(why, sizeof why, " (computed %s in the first, %s in the second)", a[0] ? a : "?",
                 b[0] ? b : "?");
      rc = errf(e, ERR_CONFIG, "run %s is in %s and %s with different values (%s): not merging%s",
                r->run_id, inputs[kept.input], inputs[all[j].input], field, why);
    } else if (!kept.row->original_fingerprint[0] && r->original_fingerprint[0]) {
      kept = all[j];
      (*rows)[*n_rows - 1] = *r;
    }
  }
  free(all);
  if (rc) free(*rows), *rows = NULL;
  return rc;
}

int results_merge_tables(const char *out, const ResultsTable *t, const char *const *inputs,
                         int n_inputs, int *n_rows, Err *e) {
  if (n_inputs < 1) return errf(e, ERR_CONFIG, "no input files to merge");
  for (int i = 0; i < n_inputs; i++)
    if (!strcmp(out, inputs[i]) || same_file(out, inputs[i]))
      return errf(e, ERR_CONFIG, "the output %s is also an input; choose another name", out);
  int rc = check_inputs(t, inputs, n_inputs, e);
  ResultRow *rows = NULL;
  const char **added = NULL;
  int n = 0, n_added = 0;
  if (!rc) rc = collect_rows(t, inputs, n_inputs, &rows, &n, e);
  if (!rc) rc = merged_configs(t, n_inputs, &added, &n_added, e);
  if (!rc) {
    char hosts[4096];
    int world = 0;
    union_hosts(hosts, sizeof hosts, t, n_inputs);
    for (int i = 0; i < n_inputs; i++)
      if (t[i].world_size > world) world = t[i].world_size;
    char *from = join_names(inputs, n_inputs);
    ResultsMeta m = {.config_text = t[0].config_text,
                     .config_expanded = t[0].config_expanded,
                     .config_added = added,
                     .n_config_added = n_added,
                     .config_path = t[0].config_path,
                     .hosts = hosts,
                     .world_size = world,
                     .compute = t[0].compute,
                     .merged_from = from};
    ResultsSchema s = merged_schema(t, n_inputs);
    rc = from ? results_write(out, &s, &m, rows, n, e) : errf(e, ERR_RUNTIME, "out of memory");
    free(from);
  }
  if (!rc && n_rows) *n_rows = n;
  free(rows), free(added);
  return rc;
}

int results_merge(const char *out, const char *const *inputs, int n_inputs, int *n_rows, Err *e) {
  if (n_inputs < 1) return errf(e, ERR_CONFIG, "no input files to merge");
  ResultsTable *t = calloc((size_t)n_inputs, sizeof *t);
  if (!t) return errf(e, ERR_RUNTIME, "out of memory");
  int rc = 0, n_read = 0;
  for (; !rc && n_read < n_inputs; n_read++) rc = results_read(inputs[n_read], &t[n_read], e);
  for (int i = 1; !rc && i < n_inputs; i++)
    if (strcmp(t[i].schema.sweep_id, t[0].schema.sweep_id))
      rc = errf(e, ERR_CONFIG, "%s is from sweep %s but %s is from sweep %s: not merging",
                inputs[i], t[i].schema.sweep_id, inputs[0], t[0].schema.sweep_id);
  if (!rc) rc = results_merge_tables(out, t, inputs, n_inputs, n_rows, e);
  for (int i = 0; i < n_read; i++) results_table_free(&t[i]);
  free(t);
  return rc;
}
