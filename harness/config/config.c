// config.c: loading a config: defaults, then the file, then --set overrides, each value
// type-checked against the schema where it is read, so that a complaint can say where.
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_KEY = 256 };

// What the loader is reading now: a source number (0 defaults, 1 the file, 2 + i the i-th
// --set), for telling a duplicate (same source) from an override (later source).
typedef struct {
  ConfigFile *cf;
  Err *e;
  int source;
  int *set_by;  // [config_schema_n]: source of each key's value
  Loc ctx;      // file or set_arg of the current source (node filled per value)
  GridAxis *axes;
  int n_axes, cap_axes;
  GridCase *cases;
  int n_cases;
} Loader;

static Loc at(const Loader *l, const YNode *node) {
  Loc loc = l->ctx;
  loc.node = node;
  return loc;
}

int config_loc_err(Err *e, const Loc *loc, int elem, const char *fmt, ...) {
  char msg[900];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  const YNode *n = loc ? loc->node : NULL;
  if (n && n->kind == YN_SEQ && elem >= 0 && elem < n->n) n = n->item[elem];
  if (loc && loc->set_arg) return errf(e, ERR_CONFIG, "%s: %s", loc->set_arg, msg);
  if (loc && loc->file && n)
    return errf(e, ERR_CONFIG, "%s:%d:%d: %s", loc->file, n->line, n->col, msg);
  if (loc && loc->file) return errf(e, ERR_CONFIG, "%s: %s", loc->file, msg);
  return errf(e, ERR_CONFIG, "%s", msg);
}

static int oom(Err *e) {
  return errf(e, ERR_RUNTIME, "out of memory while reading the config");
}

// ---------------------------------------------------------------------------------------------
// scalars

static int is_int_text(const char *t) {
  if (*t == '+' || *t == '-') t++;
  if (!*t) return 0;
  for (; *t; t++)
    if (*t < '0' || *t > '9') return 0;
  return 1;
}

// Decimal numbers only: no hex, inf or nan, which strtod would otherwise accept.
static int is_float_text(const char *t) {
  int digits = 0;
  for (const char *p = t; *p; p++) {
    if (*p >= '0' && *p <= '9')
      digits = 1;
    else if (!strchr("+-.eE", *p))
      return 0;
  }
  return digits;
}

static int in_range(const KeySpec *k, double x) {
  if (k->lo_open ? !(x > k->lo) : !(x >= k->lo)) return 0;
  if (k->hi_open ? !(x < k->hi) : !(x <= k->hi)) return 0;
  return 1;
}

static int type_err(const Loader *l, const KeySpec *k, const YNode *n, const char *want) {
  char got[160];
  Loc loc = at(l, n);
  return config_loc_err(l->e, &loc, -1, "%s: expected %s, got %s", k->key, want,
                        ynode_describe(n, got, sizeof got));
}

static int range_err(const Loader *l, const KeySpec *k, const YNode *n) {
  char range[96];
  config_range_text(k, range, sizeof range);
  Loc loc = at(l, n);
  return config_loc_err(l->e, &loc, -1, "%s: %s is out of range; must be %s", k->key, n->text,
                        range);
}

static int parse_int(const Loader *l, const KeySpec *k, const YNode *n, int *out) {
  if (n->kind != YN_SCALAR || !n->plain || !is_int_text(n->text))
    return type_err(l, k, n, "an integer");
  errno = 0;
  long long x = strtoll(n->text, NULL, 10);
  if (errno || !in_range(k, (double)x)) return range_err(l, k, n);
  *out = (int)x;
  return 0;
}

static int parse_float(const Loader *l, const KeySpec *k, const YNode *n, double *out) {
  char *end;
  if (n->kind != YN_SCALAR || !n->plain || !is_float_text(n->text))
    return type_err(l, k, n, "a number");
  double x = strtod(n->text, &end);
  if (*end) return type_err(l, k, n, "a number");
  if (!isfinite(x) || !in_range(k, x)) return range_err(l, k, n);
  *out = x == 0 ? 0.0 : x;  // no -0, so that equal settings hash equally
  return 0;
}

static int parse_bool(const Loader *l, const KeySpec *k, const YNode *n, bool *out) {
  static const char *const t[] = {"true", "True", "TRUE"}, *const f[] = {"false", "False", "FALSE"};
  if (n->kind == YN_SCALAR && n->plain)
    for (int i = 0; i < 3; i++) {
      if (!strcmp(n->text, t[i])) return *out = true, 0;
      if (!strcmp(n->text, f[i])) return *out = false, 0;
    }
  return type_err(l, k, n, "true or false");
}

static int count_names(const char *const *names) {
  int n = 0;
  while (names[n]) n++;
  return n;
}

static int parse_enum(const Loader *l, const KeySpec *k, const YNode *n, int *out,
                      const char *extra) {
  if (n->kind != YN_SCALAR || ynode_is_null(n)) {
    char want[320] = "one of ";
    for (int i = 0; k->choices[i]; i++)
      snprintf(want + strlen(want), sizeof want - strlen(want), "%s%s", i ? ", " : "",
               k->choices[i]);
    if (extra) snprintf(want + strlen(want), sizeof want - strlen(want), "%s", extra);
    return type_err(l, k, n, want);
  }
  int m = count_names(k->choices);
  for (int i = 0; i < m; i++)
    if (!strcmp(n->text, k->choices[i])) return *out = config_enum_value(k, i), 0;
  char list[256] = "";
  for (int i = 0; i < m; i++)
    snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", k->choices[i]);
  const char *near = config_suggest(n->text, k->choices, m);
  Loc loc = at(l, n);
  if (near)
    return config_loc_err(l->e, &loc, -1, "%s: '%s' is not one of %s%s; did you mean '%s'?", k->key,
                          n->text, list, extra ? extra : "", near);
  return config_loc_err(l->e, &loc, -1, "%s: '%s' is not one of %s%s", k->key, n->text, list,
                        extra ? extra : "");
}

static int parse_string(const Loader *l, const KeySpec *k, const YNode *n, const char **out) {
  if (n->kind != YN_SCALAR || ynode_is_null(n)) return type_err(l, k, n, "a string");
  *out = n->text;  // the tree lives in the ConfigFile's arena
  return 0;
}

// ---------------------------------------------------------------------------------------------
// lists and whole values

static int parse_list(const Loader *l, const KeySpec *k, const YNode *n, KeyType item,
                      CfgValue *v) {
  static const char *const want[] = {[T_INTS] = "a list of integers, such as [3, 8]",
                                     [T_FLOATS] = "a list of numbers, such as [1, 0.5]",
                                     [T_STRINGS] = "a list of names, such as [a, b]"};
  if (n->kind != YN_SEQ) return type_err(l, k, n, want[item]);
  size_t size = item == T_INTS ? sizeof(int) : item == T_FLOATS ? sizeof(double) : sizeof(char *);
  void *mem = arena_alloc(&l->cf->arena, size * (size_t)(n->n ? n->n : 1));
  if (!mem) return oom(l->e);
  for (int i = 0; i < n->n; i++) {
    const YNode *x = n->item[i];
    int rc = item == T_INTS     ? parse_int(l, k, x, (int *)mem + i)
             : item == T_FLOATS ? parse_float(l, k, x, (double *)mem + i)
                                : parse_string(l, k, x, (const char **)mem + i);
    if (rc) return rc;
  }
  if (item == T_INTS)
    v->il = (IntList){n->n, mem};
  else if (item == T_FLOATS)
    v->fl = (FloatList){n->n, mem};
  else
    v->sl = (StrList){n->n, mem};
  return 0;
}

static int parse_value(const Loader *l, int key, const YNode *n, CfgValue *v) {
  const KeySpec *k = &config_schema[key];
  memset(v, 0, sizeof *v);
  if (ynode_is_null(n) && k->type != T_STRING && k->type != T_PATH) {
    Loc loc = at(l, n);
    return config_loc_err(l->e, &loc, -1, "%s: missing value", k->key);
  }
  switch (k->type) {
    case T_INT:
      return parse_int(l, k, n, &v->i);
    case T_FLOAT:
      return parse_float(l, k, n, &v->f);
    case T_BOOL:
      return parse_bool(l, k, n, &v->b);
    case T_STRING:
    case T_PATH:
      return parse_string(l, k, n, &v->s);
    case T_ENUM:
      return parse_enum(l, k, n, &v->i, NULL);
    case T_INTS:
    case T_FLOATS:
    case T_STRINGS:
      return parse_list(l, k, n, k->type, v);
    case T_WEIGHTS:
      if (n->kind == YN_SEQ) {
        CfgValue list;
        int rc = parse_list(l, k, n, T_FLOATS, &list);
        v->w = (LayerWeights){EC_WEIGHTS_LIST, list.fl};
        return rc;
      } else {
        int scheme = 0, rc = parse_enum(l, k, n, &scheme, ", or a list of weights");
        v->w = (LayerWeights){(EcWeights)scheme, {0, NULL}};
        return rc;
      }
    case T_GRID:
    case T_CASES:
      break;
  }
  return errf(l->e, ERR_CONFIG, "%s: not a plain value", k->key);
}

// ---------------------------------------------------------------------------------------------
// walking mappings of dotted keys: the config itself, grid axes, case settings

typedef enum { WALK_CONFIG, WALK_GRID, WALK_CASE } WalkMode;
typedef int (*LeafFn)(Loader *l, int key, const YNode *k, const YNode *v, void *ctx);

static int unknown_key(const Loader *l, const YNode *k, const char *path, WalkMode mode) {
  char buf[MAX_KEY];
  const char *near = config_suggest_key(path, buf, sizeof buf);
  const char *what = mode == WALK_GRID   ? "grid axis '%s' names no config key"
                     : mode == WALK_CASE ? "case key '%s' names no config key"
                                         : "unknown key '%s'";
  char msg[MAX_KEY + 64];
  snprintf(msg, sizeof msg, what, path);
  Loc loc = at(l, k);
  if (near) return config_loc_err(l->e, &loc, -1, "%s; did you mean '%s'?", msg, near);
  return config_loc_err(l->e, &loc, -1, "%s", msg);
}

static int walk(Loader *l, const char *prefix, const YNode *map, WalkMode mode, LeafFn leaf,
                void *ctx) {
  for (int i = 0; i < map->n; i++) {
    const YNode *k = map->item[2 * i], *v = map->item[2 * i + 1];
    char path[MAX_KEY];
    if (snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", k->text) >=
        (int)sizeof path)
      return unknown_key(l, k, k->text, mode);
    int key = config_key_index(path);
    if (key >= 0) {
      int rc = leaf(l, key, k, v, ctx);
      if (rc) return rc;
    } else if (config_is_section(path)) {
      if (ynode_is_null(v)) continue;  // "ec:" with nothing under it
      if (v->kind != YN_MAP) {
        char got[160];
        Loc loc = at(l, v);
        return config_loc_err(l->e, &loc, -1,
                              "'%s' is a section: expected a mapping of its keys (such as "
                              "'%s: {...}'), got %s",
                              path, k->text, ynode_describe(v, got, sizeof got));
      }
      int rc = walk(l, path, v, mode, leaf, ctx);
      if (rc) return rc;
    } else
      return unknown_key(l, k, path, mode);
  }
  return 0;
}

static int parse_grid(Loader *l, const YNode *v);
static int parse_cases(Loader *l, const YNode *v);

// A key set in the file or by --set: twice from one source is a duplicate; a later source
// overrides an earlier one.
static int set_key(Loader *l, int key, const YNode *k, const YNode *v, void *ctx) {
  (void)ctx;
  ConfigFile *cf = l->cf;
  const KeySpec *spec = &config_schema[key];
  if (l->set_by[key] == l->source) {
    Loc loc = at(l, k);
    const YNode *first = cf->origin[key].node;
    return config_loc_err(l->e, &loc, -1, "duplicate key '%s' (first set at line %d, column %d)",
                          spec->key, first ? first->line : 0, first ? first->col : 0);
  }
  int rc;
  if (spec->type == T_GRID)
    rc = parse_grid(l, v);
  else if (spec->type == T_CASES)
    rc = parse_cases(l, v);
  else {
    CfgValue val;
    if ((rc = parse_value(l, key, v, &val))) return rc;
    config_set(&cf->base, key, &val);
  }
  if (rc) return rc;
  l->set_by[key] = l->source;
  cf->origin[key] = at(l, v);
  return 0;
}

static int check_axis_key(Loader *l, int key, const YNode *k, WalkMode mode) {
  const KeySpec *spec = &config_schema[key];
  Loc loc = at(l, k);
  if (spec->flags & KF_NOAXIS)
    return config_loc_err(l->e, &loc, -1, "'%s' can't vary between runs, so it can't be %s",
                          spec->key, mode == WALK_GRID ? "a grid axis" : "set by a case");
  if ((spec->flags & KF_CASE_ONLY) && mode == WALK_GRID)
    return config_loc_err(l->e, &loc, -1,
                          "'%s' is not a grid axis: the seeds already multiply every run "
                          "(a case may set its own)",
                          spec->key);
  return 0;
}

static int add_axis(Loader *l, int key, const YNode *k, const YNode *v, void *ctx) {
  (void)ctx;
  const KeySpec *spec = &config_schema[key];
  int rc = check_axis_key(l, key, k, WALK_GRID);
  if (rc) return rc;
  Loc loc = at(l, v);
  char got[160];
  if (v->kind != YN_SEQ)
    return config_loc_err(l->e, &loc, -1, "grid axis '%s' needs a list of values, got %s",
                          spec->key, ynode_describe(v, got, sizeof got));
  if (v->n == 0)
    return config_loc_err(l->e, &loc, -1, "grid axis '%s' is empty; give it at least one value",
                          spec->key);
  GridAxis *ax = NULL;
  for (int i = 0; i < l->n_axes; i++)
    if (l->axes[i].key == key) {
      if (l->axes[i].loc.set_arg == l->ctx.set_arg && l->axes[i].loc.file == l->ctx.file) {
        Loc kl = at(l, k);
        return config_loc_err(l->e, &kl, -1, "duplicate grid axis '%s'", spec->key);
      }
      ax = &l->axes[i];  // a --set replaces the file's axis
    }
  if (!ax) {
    if (l->n_axes == l->cap_axes) {
      int cap = l->cap_axes ? 2 * l->cap_axes : 8;
      GridAxis *a = arena_alloc(&l->cf->arena, (size_t)cap * sizeof *a);
      if (!a) return oom(l->e);
      if (l->n_axes) memcpy(a, l->axes, (size_t)l->n_axes * sizeof *a);
      l->axes = a;
      l->cap_axes = cap;
    }
    ax = &l->axes[l->n_axes++];
  }
  ax->key = key;
  ax->loc = at(l, k);
  ax->n = v->n;
  ax->values = arena_alloc(&l->cf->arena, (size_t)v->n * sizeof *ax->values);
  ax->value_locs = arena_alloc(&l->cf->arena, (size_t)v->n * sizeof *ax->value_locs);
  if (!ax->values || !ax->value_locs) return oom(l->e);
  for (int i = 0; i < v->n; i++) {
    if ((rc = parse_value(l, key, v->item[i], &ax->values[i]))) return rc;
    ax->value_locs[i] = at(l, v->item[i]);
    for (int j = 0; j < i; j++)
      if (config_value_equal(spec->type, &ax->values[i], &ax->values[j]))
        return config_loc_err(l->e, &ax->value_locs[i], -1,
                              "grid axis '%s' lists the same value twice (first at line %d, "
                              "column %d)",
                              spec->key, v->item[j]->line, v->item[j]->col);
  }
  return 0;
}

static int parse_grid(Loader *l, const YNode *v) {
  l->n_axes = 0;  // a later sweep.grid replaces the whole grid
  if (ynode_is_null(v)) return 0;
  if (v->kind != YN_MAP)
    return type_err(l, &config_schema[config_key_index("sweep.grid")], v,
                    "a mapping from dotted keys to lists of values");
  return walk(l, "", v, WALK_GRID, add_axis, NULL);
}

static int add_setting(Loader *l, int key, const YNode *k, const YNode *v, void *ctx) {
  GridCase *c = ctx;
  int rc = check_axis_key(l, key, k, WALK_CASE);
  if (rc) return rc;
  for (int i = 0; i < c->n; i++)
    if (c->set[i].key == key) {
      Loc kl = at(l, k);
      return config_loc_err(l->e, &kl, -1, "duplicate key '%s' in this case",
                            config_schema[key].key);
    }
  Setting *s = &c->set[c->n++];
  s->key = key;
  s->loc = at(l, v);
  return parse_value(l, key, v, &s->value);
}

static int count_leaves(const YNode *map) {
  int n = 0;
  for (int i = 0; i < map->n; i++) {
    const YNode *v = map->item[2 * i + 1];
    n += 1 + (v->kind == YN_MAP ? count_leaves(v) : 0);  // an upper bound is enough
  }
  return n;
}

static int parse_cases(Loader *l, const YNode *v) {
  l->n_cases = 0;
  if (ynode_is_null(v)) return 0;
  const KeySpec *spec = &config_schema[config_key_index("sweep.cases")];
  if (v->kind != YN_SEQ) return type_err(l, spec, v, "a list of mappings");
  l->cases = arena_alloc(&l->cf->arena, (size_t)(v->n ? v->n : 1) * sizeof *l->cases);
  if (!l->cases) return oom(l->e);
  for (int i = 0; i < v->n; i++) {
    const YNode *m = v->item[i];
    if (m->kind != YN_MAP)
      return type_err(l, spec, m, "each case to be a mapping of dotted keys to values");
    if (m->n == 0) {  // an empty case would repeat the base config's run
      Loc loc = at(l, m);
      return config_loc_err(l->e, &loc, -1,
                            "sweep.cases: case %d is empty; give it at least one key, such as "
                            "{unlearn.method: ft}",
                            i + 1);
    }
    GridCase *c = &l->cases[l->n_cases++];
    c->loc = at(l, m);
    c->set = arena_alloc(&l->cf->arena, (size_t)count_leaves(m) * sizeof *c->set);
    if (!c->set) return oom(l->e);
    int rc = walk(l, "", m, WALK_CASE, add_setting, c);
    if (rc) return rc;
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------
// sources

static int load_defaults(Loader *l) {
  ConfigFile *cf = l->cf;
  for (int key = 0; key < config_schema_n; key++) {
    const KeySpec *k = &config_schema[key];
    if (k->type == T_GRID || k->type == T_CASES) continue;
    YNode *n;
    char where[MAX_KEY + 32];
    snprintf(where, sizeof where, "default of %s", k->key);
    int rc = ytree_parse(&n, &cf->arena, where, 0, k->def, strlen(k->def), l->e);
    if (rc) return rc;
    // An empty default ("" for a path) parses to no node; it is the empty string.
    CfgValue v = {0};
    if (!n)
      v.s = "";
    else if ((rc = parse_value(l, key, n, &v)))
      return err_context(l->e, "schema default");
    config_set(&cf->defaults, key, &v);
  }
  cf->base = cf->defaults;
  return 0;
}

static int read_file(const char *path, char **text, size_t *len, Err *e) {
  FILE *f = fopen(path, "rb");
  if (!f) return errf(e, ERR_CONFIG, "%s: cannot read the config: %s", path, strerror(errno));
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap);
  while (buf) {
    n += fread(buf + n, 1, cap - n - 1, f);
    if (n < cap - 1) break;
    char *b = realloc(buf, cap *= 2);
    if (!b) free(buf);
    buf = b;
  }
  int bad = ferror(f);
  fclose(f);
  if (!buf) return oom(e);
  if (bad) {
    free(buf);
    return errf(e, ERR_CONFIG, "%s: cannot read the config", path);
  }
  buf[n] = '\0';
  *text = buf;
  *len = n;
  return 0;
}

static int load_text(Loader *l, const char *text, size_t len) {
  ConfigFile *cf = l->cf;
  YNode *root;
  int rc = ytree_parse(&root, &cf->arena, cf->path, 1, text, len, l->e);
  if (rc) return rc;
  if (!root)
    return errf(l->e, ERR_CONFIG,
                "%s:1:1: the config is empty; expected a mapping of sections (data, model, "
                "train, forget, unlearn, ec, eval, sweep, output)",
                cf->path);
  if (root->kind != YN_MAP) {
    char got[160];
    Loc loc = at(l, root);
    return config_loc_err(l->e, &loc, -1,
                          "expected a mapping of sections (data, model, train, ...), got %s",
                          ynode_describe(root, got, sizeof got));
  }
  return walk(l, "", root, WALK_CONFIG, set_key, NULL);
}

static int load_set(Loader *l, const char *arg) {
  ConfigFile *cf = l->cf;
  char *set_arg = arena_alloc(&cf->arena, strlen(arg) + 8);
  if (!set_arg) return oom(l->e);
  sprintf(set_arg, "--set %s", arg);
  l->ctx = (Loc){.set_arg = set_arg};
  const char *eq = strchr(arg, '=');
  if (!eq || eq == arg)
    return errf(l->e, ERR_CONFIG, "%s: expected KEY=VALUE, such as --set train.lr=0.1", set_arg);
  char *key = arena_strndup(&cf->arena, arg, (size_t)(eq - arg));
  if (!key) return oom(l->e);
  YNode *v;
  int rc = ytree_parse(&v, &cf->arena, set_arg, 0, eq + 1, strlen(eq + 1), l->e);
  if (rc) return rc;
  if (!v) return errf(l->e, ERR_CONFIG, "%s: missing value after '='", set_arg);
  // Build a one-entry mapping {key: v} so that the walker handles keys, sections and grid axes
  // ("--set sweep.grid.ec.temperature=[0.5,0.7]") the same way as in the file.
  YNode *kn = arena_alloc(&cf->arena, sizeof *kn), *map = arena_alloc(&cf->arena, sizeof *map);
  YNode **items = arena_alloc(&cf->arena, 2 * sizeof *items);
  if (!kn || !map || !items) return oom(l->e);
  *kn = (YNode){.kind = YN_SCALAR, .text = key, .plain = 1};
  items[0] = kn;
  items[1] = v;
  *map = (YNode){.kind = YN_MAP, .n = 1, .item = items};
  if (!strncmp(key, "sweep.grid.", 11)) {
    kn->text = key + 11;
    return walk(l, "", map, WALK_GRID, add_axis, NULL);
  }
  return walk(l, "", map, WALK_CONFIG, set_key, NULL);
}

int config_load(ConfigFile **out, const char *path, const char *text, int n_sets,
                const char *const *sets, Err *e) {
  *out = NULL;
  ConfigFile *cf = calloc(1, sizeof *cf);
  int *set_by = calloc((size_t)config_schema_n, sizeof *set_by);
  if (!cf || !set_by) {
    free(cf);
    free(set_by);
    return oom(e);
  }
  Loader l = {.cf = cf, .e = e, .set_by = set_by};
  int rc = 0;
  char *file_text = NULL;
  size_t len = 0;
  cf->origin = arena_alloc(&cf->arena, (size_t)config_schema_n * sizeof *cf->origin);
  cf->path = arena_strdup(&cf->arena, path);
  if (!cf->origin || !cf->path) rc = oom(e);
  if (!rc) rc = load_defaults(&l);
  if (!rc && !text) {
    rc = read_file(path, &file_text, &len, e);
    text = file_text;
  } else if (!rc)
    len = strlen(text);
  if (!rc) cf->text = arena_strndup(&cf->arena, text, len);
  if (!rc && !cf->text) rc = oom(e);
  free(file_text);
  if (!rc) {
    l.source = 1;
    l.ctx = (Loc){.file = cf->path};
    rc = load_text(&l, cf->text, len);
  }
  const char **set_copy = arena_alloc(&cf->arena, (size_t)(n_sets + 1) * sizeof *set_copy);
  if (!rc && !set_copy) rc = oom(e);
  for (int i = 0; !rc && i < n_sets; i++) {
    l.source = 2 + i;
    set_copy[i] = arena_strdup(&cf->arena, sets[i]);
    rc = set_copy[i] ? load_set(&l, sets[i]) : oom(e);
  }
  free(set_by);
  if (rc) {
    config_free(cf);
    return rc;
  }
  cf->n_sets = n_sets;
  cf->sets = set_copy;
  cf->base.sweep.axes = l.axes;
  cf->base.sweep.n_axes = l.n_axes;
  cf->base.sweep.cases = l.cases;
  cf->base.sweep.n_cases = l.n_cases;
  cf->base.seed = cf->base.sweep.seeds.n ? cf->base.sweep.seeds.v[0] : 0;
  *out = cf;
  return 0;
}

void config_free(ConfigFile *cf) {
  if (!cf) return;
  arena_free(&cf->arena);
  free(cf);
}

// ---------------------------------------------------------------------------------------------
// typed access by key index (the offsetof table)

size_t config_value_size(KeyType t) {
  switch (t) {
    case T_INT:
    case T_ENUM:
      return sizeof(int);
    case T_FLOAT:
      return sizeof(double);
    case T_BOOL:
      return sizeof(bool);
    case T_STRING:
    case T_PATH:
      return sizeof(const char *);
    case T_INTS:
      return sizeof(IntList);
    case T_FLOATS:
      return sizeof(FloatList);
    case T_STRINGS:
      return sizeof(StrList);
    case T_WEIGHTS:
      return sizeof(LayerWeights);
    case T_GRID:
    case T_CASES:
      return 0;
  }
  return 0;
}

_Static_assert(sizeof(CfgDataName) == sizeof(int) && sizeof(UnlearnMethod) == sizeof(int) &&
                   sizeof(EcWeights) == sizeof(int) && sizeof(Arch) == sizeof(int) &&
                   sizeof(Stem) == sizeof(int) && sizeof(SchedKind) == sizeof(int) &&
                   sizeof(AuxHead) == sizeof(int),
               "enum fields are read and written as int");

void config_get(const Config *c, int key, CfgValue *v) {
  const KeySpec *k = &config_schema[key];
  memset(v, 0, sizeof *v);
  memcpy(v, (const char *)c + k->offset, config_value_size(k->type));
}

void config_set(Config *c, int key, const CfgValue *v) {
  const KeySpec *k = &config_schema[key];
  memcpy((char *)c + k->offset, v, config_value_size(k->type));
}

int config_value_equal(KeyType t, const CfgValue *a, const CfgValue *b) {
  switch (t) {
    case T_INT:
    case T_ENUM:
      return a->i == b->i;
    case T_FLOAT:
      return a->f == b->f;
    case T_BOOL:
      return a->b == b->b;
    case T_STRING:
    case T_PATH:
      return a->s == b->s || (a->s && b->s && !strcmp(a->s, b->s));
    case T_INTS:
      return a->il.n == b->il.n &&
             (!a->il.n || !memcmp(a->il.v, b->il.v, (size_t)a->il.n * sizeof(int)));
    case T_FLOATS:
      if (a->fl.n != b->fl.n) return 0;
      for (int i = 0; i < a->fl.n; i++)
        if (a->fl.v[i] != b->fl.v[i]) return 0;
      return 1;
    case T_STRINGS:
      if (a->sl.n != b->sl.n) return 0;
      for (int i = 0; i < a->sl.n; i++)
        if (strcmp(a->sl.v[i], b->sl.v[i])) return 0;
      return 1;
    case T_WEIGHTS:
      if (a->w.scheme != b->w.scheme) return 0;
      if (a->w.scheme != EC_WEIGHTS_LIST) return 1;
      return config_value_equal(T_FLOATS, &(CfgValue){.fl = a->w.list},
                                &(CfgValue){.fl = b->w.list});
    case T_GRID:
    case T_CASES:
      return 1;
  }
  return 0;
}
