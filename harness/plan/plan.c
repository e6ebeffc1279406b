// plan.c: see plan.h.
#include "plan.h"

#include <stdlib.h>
#include <string.h>

// Far beyond any real sweep; they keep counts in an int and memory in bounds.
enum { MAX_COMBOS = 10000000, MAX_RUNS = 20000000 };

// ---------------------------------------------------------------------------------------------
// hashing: FNV-1a over a canonical byte form of typed values, then a splitmix64 finaliser.
// Numbers are hashed as 64-bit little-endian words and enums by name, so an id does not depend
// on the machine, on how a value was written, or on the order of enum members.

typedef uint64_t Hash;

static Hash h_bytes(Hash h, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
  return h;
}

static Hash h_str(Hash h, const char *s) {
  return h_bytes(h, s, strlen(s) + 1);
}

static Hash h_u64(Hash h, uint64_t x) {
  unsigned char b[8];
  for (int i = 0; i < 8; i++) b[i] = (unsigned char)(x >> (8 * i));
  return h_bytes(h, b, 8);
}

static Hash h_double(Hash h, double x) {
  uint64_t bits;
  memcpy(&bits, &x, sizeof bits);
  return h_u64(h, bits);
}

static uint64_t h_final(Hash h) {
  h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9ull;
  h = (h ^ (h >> 27)) * 0x94D049BB133111EBull;
  return h ^ (h >> 31);
}

static Hash h_begin(const char *what) {
  return h_str(0xcbf29ce484222325ull, what);
}

static Hash h_value(Hash h, int key, const CfgValue *v) {
  const KeySpec *k = &config_schema[key];
  h = h_str(h, k->key);
  switch (k->type) {
    case T_INT:
      return h_u64(h, (uint64_t)(int64_t)v->i);
    case T_FLOAT:
      return h_double(h, v->f);
    case T_BOOL:
      return h_u64(h, v->b);
    case T_STRING:
    case T_PATH:
      return h_str(h, v->s ? v->s : "");
    case T_ENUM:
      return h_str(h, config_enum_name(k, v->i));
    case T_INTS:
      h = h_u64(h, (uint64_t)v->il.n);
      for (int i = 0; i < v->il.n; i++) h = h_u64(h, (uint64_t)(int64_t)v->il.v[i]);
      return h;
    case T_FLOATS:
      h = h_u64(h, (uint64_t)v->fl.n);
      for (int i = 0; i < v->fl.n; i++) h = h_double(h, v->fl.v[i]);
      return h;
    case T_STRINGS:
      h = h_u64(h, (uint64_t)v->sl.n);
      for (int i = 0; i < v->sl.n; i++) h = h_str(h, v->sl.v[i]);
      return h;
    case T_WEIGHTS:
      if (v->w.scheme != EC_WEIGHTS_LIST) return h_str(h, k->choices[v->w.scheme]);
      h = h_u64(h, (uint64_t)v->w.list.n);
      for (int i = 0; i < v->w.list.n; i++) h = h_double(h, v->w.list.v[i]);
      return h;
    case T_GRID:
    case T_CASES:
      break;
  }
  return h;
}

// Folds in every key of the mask (0: every key) that applies to c and differs from its default.
static Hash h_settings(Hash h, const Config *c, const Config *defaults, unsigned mask) {
  for (int key = 0; key < config_schema_n; key++) {
    const KeySpec *k = &config_schema[key];
    if ((k->flags & KF_NOID) || (mask && !(k->flags & mask))) continue;
    if (!config_applies(k->when, c)) continue;
    CfgValue v, d;
    config_get(c, key, &v);
    config_get(defaults, key, &d);
    if (!config_value_equal(k->type, &v, &d)) h = h_value(h, key, &v);
  }
  return h;
}

// Ids fold in only the values that differ from the defaults, so a change of a default changes
// what an id means: the version in "ecore run vN" and "ecore ec_modules vN" is raised with it
// (v2: EC's defaults of docs/ec-study.md), and results files and caches made under other
// defaults are never mistaken for these.
uint64_t plan_config_id(const Config *c, const Config *defaults) {
  Hash h = h_settings(h_begin("ecore run v2"), c, defaults, 0);
  return h_final(h_u64(h, (uint64_t)c->seed));
}

// Floats by their bytes: every machine ecore runs on is little-endian.
uint64_t plan_model_digest(const Model *m, const CkptMeta *meta) {
  const ModelSpec *s = &m->spec;
  Hash h = h_str(h_begin("ecore model v1"), arch_name(s->arch));
  const int64_t dims[4] = {s->num_classes, s->in_c, s->in_h, s->in_w};
  for (int i = 0; i < 4; i++) h = h_u64(h, (uint64_t)dims[i]);
  int nc = s->in_c < 4 ? s->in_c : 4;
  h = h_bytes(h_bytes(h, meta->mean, (size_t)nc * sizeof(float)), meta->std,
              (size_t)nc * sizeof(float));
  for (int i = 0; i < m->n_params; i++) {
    const ParamInfo *p = &m->params[i];
    h = h_u64(h_str(h, p->name), (uint64_t)p->ndim);
    for (int d = 0; d < p->ndim; d++) h = h_u64(h, (uint64_t)p->shape[d]);
    const float *v = (p->is_buffer ? m->buffer_mem : m->param_mem) + p->offset;
    h = h_bytes(h, v, (size_t)p->size * sizeof(float));
  }
  return h_final(h);
}

// ---------------------------------------------------------------------------------------------
// an id -> index map (open addressing)

typedef struct {
  uint64_t *keys;
  int *vals;  // -1: empty
  size_t cap, n;
} IdMap;

static int idmap_grow(IdMap *m) {
  size_t cap = m->cap ? 2 * m->cap : 1024;
  uint64_t *keys = malloc(cap * sizeof *keys);
  int *vals = malloc(cap * sizeof *vals);
  if (!keys || !vals) {
    free(keys);
    free(vals);
    return -1;
  }
  for (size_t i = 0; i < cap; i++) vals[i] = -1;
  for (size_t i = 0; i < m->cap; i++)
    if (m->vals[i] >= 0) {
      size_t j = h_final(m->keys[i]) & (cap - 1);
      while (vals[j] >= 0) j = (j + 1) & (cap - 1);
      keys[j] = m->keys[i];
      vals[j] = m->vals[i];
    }
  free(m->keys);
  free(m->vals);
  m->keys = keys;
  m->vals = vals;
  m->cap = cap;
  return 0;
}

// The index stored for id, or -1 after storing val for it (when absent). -2: out of memory.
static int idmap_get_or_put(IdMap *m, uint64_t id, int val) {
  if (2 * (m->n + 1) > m->cap && idmap_grow(m)) return -2;
  size_t j = h_final(id) & (m->cap - 1);
  while (m->vals[j] >= 0) {
    if (m->keys[j] == id) return m->vals[j];
    j = (j + 1) & (m->cap - 1);
  }
  m->keys[j] = id;
  m->vals[j] = val;
  m->n++;
  return -1;
}

static void idmap_free(IdMap *m) {
  free(m->keys);
  free(m->vals);
}

// ---------------------------------------------------------------------------------------------
// expansion

typedef struct {
  Plan *p;
  int cfg;  // the config being expanded: p->cfs[cfg]
  const ConfigFile *cf;
  const Config *base;
  IdMap run_ids, job_ids;
  int cap_runs, cap_jobs;
  int labels[JOB_KINDS];
  // Data locations already checked on disk (pointers into the config's memory).
  const void *checked[8][3];
  int n_checked;
  int check_paths;
  // Given checkpoints already checked (plan_check_given reads the whole file): the key, the
  // path, the hash of the settings that determine the original model, and the digest.
  struct {
    int key;
    const char *path;
    uint64_t settings, digest;
  } given[64];
  int n_given;
  long long reached;  // runs the current config reaches, the same twice included
  Err *e;
} Expander;

static int oom(Err *e) {
  return errf(e, ERR_RUNTIME, "out of memory while expanding the grid");
}

static void digits(const Config *base, uint64_t combo, int *d) {
  for (int a = base->sweep.n_axes - 1; a >= 0; a--) {
    uint64_t n = (uint64_t)base->sweep.axes[a].n;
    d[a] = (int)(combo % n);
    combo /= n;
  }
}

// base with a grid combination (source -1) or a case applied; not yet resolved.
static void apply_source(const Config *base, int source, uint64_t combo, Config *c) {
  *c = *base;
  if (source >= 0) {
    const GridCase *cs = &base->sweep.cases[source];
    for (int s = 0; s < cs->n; s++) config_set(c, cs->set[s].key, &cs->set[s].value);
    return;
  }
  int d[base->sweep.n_axes + 1];
  digits(base, combo, d);
  for (int a = 0; a < base->sweep.n_axes; a++)
    config_set(c, base->sweep.axes[a].key, &base->sweep.axes[a].values[d[a]]);
}

void plan_run_config(const Plan *p, int i, Config *out) {
  const PlanRun *r = &p->runs[i];
  apply_source(&p->cfs[r->cfg]->base, r->source, r->combo, out);
  config_resolve(out);
  out->seed = r->seed;
}

static int has_place(const Loc *l) {
  return l && (l->file || l->set_arg);
}

// Where key's value in this run came from: the grid value, the case's setting, or the config.
static const Loc *origin_of(const Expander *x, int source, const int *d, int key) {
  const Config *b = x->base;
  if (source >= 0) {
    const GridCase *cs = &b->sweep.cases[source];
    for (int s = 0; s < cs->n; s++)
      if (cs->set[s].key == key) return &cs->set[s].loc;
  } else
    for (int a = 0; a < b->sweep.n_axes; a++)
      if (b->sweep.axes[a].key == key) return &b->sweep.axes[a].value_locs[d[a]];
  return &x->cf->origin[key];
}

static int run_error(Expander *x, int source, uint64_t combo, const CheckFail *f) {
  const Config *b = x->base;
  int d[b->sweep.n_axes + 1];
  if (source < 0) digits(b, combo, d);
  const Loc *loc = f->key >= 0 ? origin_of(x, source, d, f->key) : NULL;
  int elem = f->elem;
  if (!has_place(loc) && f->alt >= 0) {
    loc = origin_of(x, source, d, f->alt);
    elem = -1;
  }
  Loc file_only = {.file = x->cf->path};
  if (!has_place(loc)) loc = &file_only;
  // Say which run, when the config makes more than one.
  char which[600] = "";
  if (source >= 0)
    snprintf(which, sizeof which, " (in case %d of sweep.cases)", source + 1);
  else if (b->sweep.n_axes) {
    size_t n = (size_t)snprintf(which, sizeof which, " (in the grid run with");
    for (int a = 0; a < b->sweep.n_axes && n < sizeof which; a++) {
      char v[128];
      const GridAxis *ax = &b->sweep.axes[a];
      n += (size_t)snprintf(which + n, sizeof which - n, "%s %s=%s", a ? "," : "",
                            config_schema[ax->key].key,
                            config_value_text(ax->key, &ax->values[d[a]], v, sizeof v));
    }
    if (n < sizeof which) snprintf(which + n, sizeof which - n, ")");
  }
  return config_loc_err(x->e, loc, elem, "%s%s", f->msg, which);
}

// Checking paths means stat calls: do it once per distinct data location.
static int need_path_check(Expander *x, const Config *c) {
  const void *key[3] = {c->data.root, c->data.train_files.v, c->data.test_files.v};
  for (int i = 0; i < x->n_checked; i++)
    if (!memcmp(x->checked[i], key, sizeof key)) return 0;
  if (x->n_checked < 8) memcpy(x->checked[x->n_checked++], key, sizeof key);
  return 1;
}

static int add_job(Expander *x, JobKind kind, uint64_t id, int seed, int needs, uint64_t digest,
                   int *index) {
  Plan *p = x->p;
  int found = idmap_get_or_put(&x->job_ids, id, p->n_jobs);
  if (found == -2) return oom(x->e);
  if (found >= 0) {
    *index = found;
    return 0;
  }
  if (p->n_jobs == x->cap_jobs) {
    int cap = x->cap_jobs ? 2 * x->cap_jobs : 64;
    PlanJob *j = realloc(p->jobs, (size_t)cap * sizeof *j);
    if (!j) return oom(x->e);
    p->jobs = j;
    x->cap_jobs = cap;
  }
  *index = p->n_jobs;
  p->jobs[p->n_jobs++] =
      (PlanJob){kind, id, seed, needs, p->n_runs, ++x->labels[kind], .digest = digest};
  return 0;
}

// The digest of the checkpoint key names in c (0 when none is given), checked against c once
// per file and settings of the original model.
static int given_digest(Expander *x, const Config *c, const char *name, int source, uint64_t combo,
                        uint64_t *digest) {
  int key = config_key_index(name);
  CfgValue v;
  config_get(c, key, &v);
  *digest = 0;
  if (!v.s || !*v.s) return 0;
  uint64_t settings = h_final(h_settings(h_begin(name), c, &x->p->cf->defaults, J_ORIGINAL));
  for (int i = 0; i < x->n_given; i++)
    if (x->given[i].key == key && x->given[i].settings == settings &&
        !strcmp(x->given[i].path, v.s)) {
      *digest = x->given[i].digest;
      return 0;
    }
  CheckFail f;
  if (plan_check_given(c, key, digest, &f)) return run_error(x, source, combo, &f);
  if (x->n_given < 64) {
    x->given[x->n_given].key = key, x->given[x->n_given].path = v.s;
    x->given[x->n_given].settings = settings, x->given[x->n_given++].digest = *digest;
  }
  return 0;
}

static int add_runs(Expander *x, Config *c, int source, uint64_t combo) {
  Plan *p = x->p;
  const Config *def = &p->cf->defaults;
  uint64_t orig_d, rt_d;  // the given checkpoints' digests, or 0
  int rc = given_digest(x, c, "model.original", source, combo, &orig_d);
  if (!rc) rc = given_digest(x, c, "model.retrained", source, combo, &rt_d);
  if (rc) return rc;
  Hash run_h = h_settings(h_begin("ecore run v2"), c, def, 0);
  Hash orig_h = h_settings(h_begin("ecore original v1"), c, def, J_ORIGINAL);
  Hash retrain_h = h_settings(h_begin("ecore retrain v1"), c, def, J_ORIGINAL | J_FORGET);
  Hash mod_h = h_settings(h_begin("ecore ec_modules v2"), c, def, J_ORIGINAL | J_EC_MODULES);
  if (orig_d) {  // what the original model is: the file's content, not its path
    run_h = h_u64(h_str(run_h, "model.original"), orig_d);
    orig_h = h_u64(h_str(orig_h, "model.original"), orig_d);
    retrain_h = h_u64(h_str(retrain_h, "model.original"), orig_d);
    mod_h = h_u64(h_str(mod_h, "model.original"), orig_d);
  }
  if (rt_d) {
    run_h = h_u64(h_str(run_h, "model.retrained"), rt_d);
    retrain_h = h_u64(h_str(retrain_h, "model.retrained"), rt_d);
  }
  for (int s = 0; s < c->sweep.seeds.n; s++) {
    int seed = c->sweep.seeds.v[s];
    uint64_t id = h_final(h_u64(run_h, (uint64_t)seed));
    int found = idmap_get_or_put(&x->run_ids, id, p->n_runs);
    if (found == -2) return oom(x->e);
    x->reached++;
    if (found >= 0) continue;  // the same settings reached another way: one run
    if (p->n_runs == MAX_RUNS) {
      Loc loc = x->cf->origin[config_key_index("sweep.seeds")];
      if (!has_place(&loc)) loc = (Loc){.file = x->cf->path};
      return config_loc_err(x->e, &loc, -1, "the sweep has more than %d runs", MAX_RUNS);
    }
    PlanRun r = {.id = id, .seed = seed, .cfg = x->cfg, .source = source, .combo = combo};
    // A given original is the same model for every seed: one job, one copy in the cache.
    uint64_t orig_id = orig_d ? h_final(orig_h) : h_final(h_u64(orig_h, (uint64_t)seed));
    rc = add_job(x, JOB_ORIGINAL, orig_id, seed, -1, orig_d, &r.job[JOB_ORIGINAL]);
    if (!rc)
      rc = add_job(x, JOB_RETRAIN, h_final(h_u64(retrain_h, (uint64_t)seed)), seed, -1, rt_d,
                   &r.job[JOB_RETRAIN]);
    r.job[JOB_EC_MODULES] = -1;
    if (!rc && c->ec.enabled)
      rc = add_job(x, JOB_EC_MODULES, h_final(h_u64(mod_h, (uint64_t)seed)), seed,
                   r.job[JOB_ORIGINAL], 0, &r.job[JOB_EC_MODULES]);
    if (rc) return rc;
    if (p->n_runs == x->cap_runs) {
      int cap = x->cap_runs ? 2 * x->cap_runs : 256;
      PlanRun *runs = realloc(p->runs, (size_t)cap * sizeof *runs);
      if (!runs) return oom(x->e);
      p->runs = runs;
      x->cap_runs = cap;
    }
    p->runs[p->n_runs++] = r;
  }
  return 0;
}

// One grid combination or case: skip it if a non-applying axis is off its first value (that
// combination is the same run as the one with the first value), or if it is the original model.
static int expand_one(Expander *x, int source, uint64_t combo) {
  const Config *b = x->base;
  Config c;
  apply_source(b, source, combo, &c);
  config_resolve(&c);
  if (source < 0 && b->sweep.n_axes) {
    int d[b->sweep.n_axes];
    digits(b, combo, d);
    for (int a = 0; a < b->sweep.n_axes; a++)
      if (d[a] && !config_applies(config_schema[b->sweep.axes[a].key].when, &c)) return 0;
  }
  x->p->combos++;
  if (c.unlearn.method == UNLEARN_NONE && !c.ec.enabled) {
    x->p->dropped++;
    return 0;
  }
  CheckFail f;
  if (config_check(&c, x->check_paths && need_path_check(x, &c), &f)) {
    x->n_checked = 0;  // the failed location must not count as checked
    return run_error(x, source, combo, &f);
  }
  return add_runs(x, &c, source, combo);
}

static bool has_column(const Plan *p, int key) {
  for (int i = 0; i < p->n_columns; i++)
    if (p->columns[i] == key) return true;
  return false;
}

// Adds the keys b varies (its grid's axes, then keys its cases set) that p has not yet.
static int add_columns(Plan *p, const Config *b, Err *e) {
  int n = p->n_columns + b->sweep.n_axes;
  for (int i = 0; i < b->sweep.n_cases; i++) n += b->sweep.cases[i].n;
  int *cols = realloc(p->columns, (size_t)(n ? n : 1) * sizeof *cols);
  if (!cols) return oom(e);
  p->columns = cols;
  for (int a = 0; a < b->sweep.n_axes; a++)
    if (!has_column(p, b->sweep.axes[a].key)) p->columns[p->n_columns++] = b->sweep.axes[a].key;
  for (int i = 0; i < b->sweep.n_cases; i++)
    for (int s = 0; s < b->sweep.cases[i].n; s++) {
      int key = b->sweep.cases[i].set[s].key;
      if (!(config_schema[key].flags & KF_NOID) && !has_column(p, key))
        p->columns[p->n_columns++] = key;
    }
  return 0;
}

// The runs of one config (x->cfg), added to those of the configs before it.
static int expand(Expander *x) {
  const Config *b = x->base;
  Plan *p = x->p;
  int rc = add_columns(p, b, x->e);
  if (rc) return rc;
  x->reached = 0;
  if (b->sweep.n_axes || !b->sweep.n_cases) {
    uint64_t total = 1;
    for (int a = 0; a < b->sweep.n_axes; a++) {
      total *= (uint64_t)b->sweep.axes[a].n;
      if (total > MAX_COMBOS) {
        Loc loc = x->cf->origin[config_key_index("sweep.grid")];
        return config_loc_err(x->e, &loc, -1,
                              "the grid's axes multiply to more than %d combinations", MAX_COMBOS);
      }
    }
    for (uint64_t combo = 0; combo < total; combo++)
      if ((rc = expand_one(x, -1, combo))) return rc;
  }
  for (int i = 0; i < b->sweep.n_cases; i++)
    if ((rc = expand_one(x, i, 0))) return rc;
  if (x->reached == 0) {
    Loc loc = x->cf->origin[config_key_index("unlearn.method")];
    if (!has_place(&loc)) loc = (Loc){.file = x->cf->path};
    return config_loc_err(x->e, &loc, -1,
                          "the config makes no run: unlearn.method none with ec.enabled false "
                          "is the original model, which every sweep evaluates anyway; choose a "
                          "method or enable EC");
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------
// the sweep's identity: what its runs share

// The content digest of the checkpoint the shared key model.original or model.retrained
// (kind) names, or 0: trained, or the key varies.
static uint64_t shared_digest(const Plan *p, JobKind kind) {
  if (has_column(p, config_key_index(kind == JOB_ORIGINAL ? "model.original" : "model.retrained")))
    return 0;
  for (int j = 0; j < p->n_jobs; j++)
    if (p->jobs[j].kind == kind && p->jobs[j].digest) return p->jobs[j].digest;
  return 0;
}

// A key every run of p shares: not varied (a column) and part of run ids.
static bool shared_key(const Plan *p, int key) {
  return !(config_schema[key].flags & KF_NOID) && !has_column(p, key);
}

// The keys it varies, as a set, then every shared key that differs from its default, by its
// value in the config (before config_resolve), then the given checkpoints' digests. Adding
// seeds, grid values or cases over the same keys does not change it.
static uint64_t shared_id(const Plan *p) {
  uint64_t cols = 0;
  for (int i = 0; i < p->n_columns; i++)
    cols += h_final(h_str(h_begin("column"), config_schema[p->columns[i]].key));
  Hash h = h_u64(h_begin("ecore sweep v2"), cols);
  const Config *b = &p->cf->base, *def = &p->cf->defaults;
  for (int key = 0; key < config_schema_n; key++) {
    if (!shared_key(p, key)) continue;
    CfgValue v, d;
    config_get(b, key, &v);
    config_get(def, key, &d);
    if (!config_value_equal(config_schema[key].type, &v, &d)) h = h_value(h, key, &v);
  }
  return h_final(h_u64(h_u64(h, shared_digest(p, JOB_ORIGINAL)), shared_digest(p, JOB_RETRAIN)));
}

int plan_same_sweep(const Plan *a, const char *a_name, const Plan *b, const char *b_name, Err *e) {
  for (int k = 0; k < 2; k++) {
    const Plan *x = k ? b : a, *y = k ? a : b;
    for (int i = 0; i < x->n_columns; i++)
      if (!has_column(y, x->columns[i]))
        return errf(e, ERR_CONFIG,
                    "%s and %s are different sweeps: %s varies %s (a sweep.grid axis or a key "
                    "sweep.cases sets), %s does not",
                    a_name, b_name, k ? b_name : a_name, config_schema[x->columns[i]].key,
                    k ? a_name : b_name);
  }
  for (int key = 0; key < config_schema_n; key++) {
    if (!shared_key(a, key)) continue;
    CfgValue v, w;
    config_get(&a->cf->base, key, &v);
    config_get(&b->cf->base, key, &w);
    if (config_value_equal(config_schema[key].type, &v, &w)) continue;
    char tv[RESULTS_VALUE_LEN], tw[RESULTS_VALUE_LEN];
    return errf(e, ERR_CONFIG, "%s and %s are different sweeps: %s is %s in %s but %s in %s",
                a_name, b_name, config_schema[key].key, config_value_text(key, &v, tv, sizeof tv),
                a_name, config_value_text(key, &w, tw, sizeof tw), b_name);
  }
  for (int k = JOB_ORIGINAL; k <= JOB_RETRAIN; k++) {
    uint64_t da = shared_digest(a, (JobKind)k), db = shared_digest(b, (JobKind)k);
    char ta[17], tb[17];
    plan_id_text(da, ta), plan_id_text(db, tb);
    if (da != db)
      return errf(e, ERR_CONFIG,
                  "%s and %s are different sweeps: %s names a checkpoint of other content "
                  "(digest %s in %s, %s in %s)",
                  a_name, b_name, k == JOB_ORIGINAL ? "model.original" : "model.retrained", ta,
                  a_name, tb, b_name);
  }
  for (int i = 0; i < a->n_columns; i++)
    if (a->columns[i] != b->columns[i])
      return errf(e, ERR_CONFIG,
                  "%s and %s vary the same keys in another order (column %d: %s in %s, %s in "
                  "%s): give sweep.grid's axes, then the keys of sweep.cases, in %s's order",
                  a_name, b_name, i + 1, config_schema[a->columns[i]].key, a_name,
                  config_schema[b->columns[i]].key, b_name, a_name);
  return 0;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

int plan_new_runs(const Plan *p, const Plan *q, int *n, Err *e) {
  uint64_t *ids = malloc(sizeof *ids * (size_t)(p->n_runs ? p->n_runs : 1));
  if (!ids) return oom(e);
  for (int i = 0; i < p->n_runs; i++) ids[i] = p->runs[i].id;
  qsort(ids, (size_t)p->n_runs, sizeof *ids, cmp_u64);
  *n = 0;
  for (int i = 0; i < q->n_runs; i++)
    *n += !bsearch(&q->runs[i].id, ids, (size_t)p->n_runs, sizeof *ids, cmp_u64);
  free(ids);
  return 0;
}

// ---------------------------------------------------------------------------------------------

// Where key k was set in cf: its value's place, or its grid axis's; NULL: not set.
static const Loc *set_at(const ConfigFile *cf, int k) {
  if (has_place(&cf->origin[k])) return &cf->origin[k];
  for (int a = 0; a < cf->base.sweep.n_axes; a++)
    if (cf->base.sweep.axes[a].key == k) return &cf->base.sweep.axes[a].loc;
  return NULL;
}

// p->unused: the keys cf sets that apply to none of p's runs.
static int find_unused(Plan *p, const ConfigFile *cf, Err *e) {
  char *used = calloc((size_t)config_schema_n, 1);
  p->unused = malloc((size_t)config_schema_n * sizeof *p->unused);
  if (!used || !p->unused) return free(used), oom(e);
  for (int i = 0; i < p->n_runs; i++) {
    Config c;
    plan_run_config(p, i, &c);
    for (int k = 0; k < config_schema_n; k++)
      if (!used[k] && config_applies(config_schema[k].when, &c)) used[k] = 1;
  }
  for (int k = 0; k < config_schema_n; k++)
    if (!used[k] && set_at(cf, k)) p->unused[p->n_unused++] = k;
  free(used);
  return 0;
}

void plan_unused_message(const Plan *p, int i, char *buf, size_t size) {
  const int k = p->unused[i];
  Err e = {0};
  config_loc_err(&e, set_at(p->cf, k), -1,
                 "%s is set but applies to no run of this sweep (only when %s)",
                 config_schema[k].key, config_when_text(config_schema[k].when));
  snprintf(buf, size, "%s", e.msg);
}

int plan_expand(Plan **out, const ConfigFile *cf, Err *e) {
  int rc = plan_expand_paths(out, cf, 1, e);
  if (!rc && (rc = find_unused(*out, cf, e))) plan_free(*out), *out = NULL;
  return rc;
}

int plan_expand_paths(Plan **out, const ConfigFile *cf, int check_paths, Err *e) {
  return plan_expand_all(out, &cf, 1, check_paths, e);
}

int plan_expand_all(Plan **out, const ConfigFile *const *cfs, int n, int check_paths, Err *e) {
  *out = NULL;
  Plan *p = calloc(1, sizeof *p);
  const ConfigFile **copy = malloc(sizeof *copy * (size_t)(n > 0 ? n : 1));
  if (!p || !copy || n < 1) {
    free(p), free(copy);
    return n < 1 ? errf(e, ERR_RUNTIME, "no config to plan") : oom(e);
  }
  memcpy(copy, cfs, sizeof *copy * (size_t)n);
  p->cf = cfs[0], p->cfs = copy, p->n_cfs = n;
  Expander x = {.p = p, .check_paths = check_paths, .e = e};
  int rc = 0;
  for (int i = 0; !rc && i < n; i++) {
    x.cfg = i, x.cf = cfs[i], x.base = &cfs[i]->base, x.n_checked = 0;
    rc = expand(&x);
  }
  idmap_free(&x.run_ids);
  idmap_free(&x.job_ids);
  if (rc) {
    plan_free(p);
    return rc;
  }
  // Order-independent, so that neither the order of axes nor of cases changes it.
  uint64_t sum = 0;
  for (int i = 0; i < p->n_runs; i++) sum += h_final(p->runs[i].id ^ 0x5eed5eed5eed5eedull);
  p->run_set_id = h_final(h_u64(h_u64(h_begin("ecore sweep v1"), sum), (uint64_t)p->n_runs));
  p->sweep_id = shared_id(p);
  *out = p;
  return 0;
}

void plan_free(Plan *p) {
  if (!p) return;
  for (int i = 0; p->owns_cfs && i < p->n_cfs; i++) config_free((ConfigFile *)p->cfs[i]);
  free(p->cfs);
  free(p->runs);
  free(p->jobs);
  free(p->columns);
  free(p->unused);
  free(p);
}

void plan_id_text(uint64_t id, char buf[17]) {
  static const char hex[] = "0123456789abcdef";
  for (int i = 15; i >= 0; i--, id >>= 4) buf[i] = hex[id & 15];
  buf[16] = '\0';
}

const char *plan_job_kind_name(JobKind k) {
  static const char *const names[JOB_KINDS] = {"original", "retrain", "ec_modules"};
  return k >= 0 && k < JOB_KINDS ? names[k] : "?";
}
