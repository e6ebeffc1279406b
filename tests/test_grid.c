// test_grid.c: grid expansion: counts and ids for products, cases, seeds and axes that do not
// apply; stable ids (across loads, key order, how values are written); shared jobs; the sweep's
// identity (what its runs share) and plans that join configs; and a 100,000-run expansion
// (count checked, time printed, not asserted).
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "plan.h"
#include "testutil.h"

typedef struct {
  ConfigFile *cf;
  Plan *p;
} Loaded;

static Loaded plan_text(const char *text) {
  Loaded l = {0};
  Err e = {0};
  if (config_load(&l.cf, "g.yaml", text, 0, NULL, &e) || plan_expand(&l.p, l.cf, &e)) {
    fprintf(stderr, "unexpected error: %s\n", e.msg);
    test_failures++;
  }
  return l;
}

static void unload(Loaded *l) {
  plan_free(l->p);
  config_free(l->cf);
}

static int n_runs(const char *text) {
  Loaded l = plan_text(text);
  int n = l.p ? l.p->n_runs : -1;
  unload(&l);
  return n;
}

static int count_jobs(const Plan *p, JobKind kind) {
  int n = 0;
  for (int j = 0; j < p->n_jobs; j++) n += p->jobs[j].kind == kind;
  return n;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

// The run ids of a plan, sorted, in ids (at most max); returns how many.
static int sorted_ids(const char *text, uint64_t *ids, int max, uint64_t *sweep_id) {
  Loaded l = plan_text(text);
  int n = 0;
  if (l.p) {
    for (int i = 0; i < l.p->n_runs && n < max; i++) ids[n++] = l.p->runs[i].id;
    if (sweep_id) *sweep_id = l.p->sweep_id;
  }
  qsort(ids, (size_t)n, sizeof *ids, cmp_u64);
  unload(&l);
  return n;
}

static uint64_t first_id(const char *text) {
  uint64_t id = 0;
  sorted_ids(text, &id, 1, NULL);
  return id;
}

static int same_ids(const char *a, const char *b) {
  uint64_t x[256], y[256], sx = 0, sy = 0;
  int n = sorted_ids(a, x, 256, &sx), m = sorted_ids(b, y, 256, &sy);
  return n == m && n > 0 && !memcmp(x, y, (size_t)n * sizeof *x) && sx == sy;
}

static void test_products(void) {
  const char *g =
      "ec: {enabled: false}\n"
      "sweep: {grid: {unlearn.method: [ft, rl, ga], unlearn.lr: [0.01, 0.1]}}\n";
  CHECK(n_runs(g) == 6);
  Loaded l = plan_text(g);
  if (l.p) {
    for (int i = 0; i < l.p->n_runs; i++)
      for (int j = 0; j < i; j++) CHECK(l.p->runs[i].id != l.p->runs[j].id);
    // Each run's config gives back its id; the first axis varies slowest.
    for (int i = 0; i < l.p->n_runs; i++) {
      Config c;
      plan_run_config(l.p, i, &c);
      CHECK(plan_config_id(&c, &l.cf->defaults) == l.p->runs[i].id);
    }
    Config c0, c1, c2;
    plan_run_config(l.p, 0, &c0);
    plan_run_config(l.p, 1, &c1);
    plan_run_config(l.p, 2, &c2);
    CHECK(c0.unlearn.method == UNLEARN_FT && c1.unlearn.method == UNLEARN_FT);
    CHECK(c0.unlearn.lr == 0.01 && c1.unlearn.lr == 0.1 && c2.unlearn.method == UNLEARN_RL);
    CHECK(l.p->n_columns == 2);
    CHECK(count_jobs(l.p, JOB_ORIGINAL) == 1 && count_jobs(l.p, JOB_RETRAIN) == 1);
    CHECK(count_jobs(l.p, JOB_EC_MODULES) == 0);
  }
  unload(&l);
  // Three axes, and a list-valued key as an axis.
  CHECK(n_runs("sweep: {grid: {ec.temperature: [0.1, 0.2], ec.lambda_cu: [1, 2, 3],"
               " forget.classes: [[1], [1, 2]]}}\n") == 12);
  // No grid: the config is one run.
  CHECK(n_runs("data: {name: synthetic}\n") == 1);
}

static void test_stable_ids(void) {
  // Same settings, other key order, other axis order, other spelling of numbers.
  const char *a =
      "train: {lr: 0.1, epochs: 5}\nunlearn: {method: ft}\n"
      "sweep: {seeds: [0, 1], grid: {unlearn.lr: [0.01, 0.02], ec.temperature: [0.5, 0.7]}}\n";
  const char *b =
      "sweep: {grid: {ec.temperature: [5e-1, 0.70], unlearn.lr: [1e-2, 2e-2]}, seeds: [1, 0]}\n"
      "unlearn: {method: ft}\ntrain: {epochs: 5, lr: 1.0e-1}\n";
  CHECK(same_ids(a, b));
  CHECK(same_ids(a, a));  // and across runs of the expansion
  // Writing a default explicitly does not change the id; a setting that does not apply neither.
  uint64_t plain = first_id("unlearn: {method: ft}\n");
  CHECK(plain == first_id("unlearn: {method: ft}\ntrain: {lr: 0.05, momentum: 0.9}\n"));
  CHECK(plain == first_id("unlearn: {method: ft, lr: 0.01, epochs: 10}\n"));  // usual values
  CHECK(plain == first_id("unlearn: {method: ft, scrub: {temperature: 8}}\n"));
  CHECK(first_id("unlearn: {method: ft}\nec: {enabled: false}\n") ==
        first_id("unlearn: {method: ft}\nec: {enabled: false, temperature: 0.1}\n"));
  // data.root and output are not part of ids (shards on other machines merge).
  CHECK(plain == first_id("unlearn: {method: ft}\noutput: {file: x.h5}\neval: {batch_size: 64}\n"));
  // A setting that applies changes it.
  CHECK(plain != first_id("unlearn: {method: ft, lr: 0.02}\n"));
  CHECK(plain != first_id("unlearn: {method: ft}\nec: {temperature: 0.5}\n"));
  CHECK(plain != first_id("unlearn: {method: ft}\nsweep: {seeds: [1]}\n"));
  CHECK(plain != first_id("unlearn: {method: rl}\n"));
  // Pinned: if this changes, results files written before no longer recognise their runs.
  // (v2, "ecore run v2": EC's defaults changed — ec.head none, detach_retain, own_head_last —
  // so runs and EC modules computed under the v1 defaults must not be taken for v2 ones.)
  char hex[17];
  plan_id_text(first_id("data: {name: synthetic}\n"), hex);
  if (strcmp(hex, "cdc55467e88de033")) {
    fprintf(stderr, "the id of the default run changed to %s\n", hex);
    test_failures++;
  }
}

// Which jobs a setting changes: the original model only for data, model and training.
static void test_jobs(void) {
  Loaded base = plan_text("unlearn: {method: ft}\nsweep: {seeds: [0, 1, 2]}\n");
  Loaded lr = plan_text("unlearn: {method: ft, lr: 0.5}\nsweep: {seeds: [0, 1, 2]}\n");
  Loaded forget =
      plan_text("unlearn: {method: ft}\nforget: {classes: [4]}\nsweep: {seeds: [0, 1, 2]}\n");
  Loaded train = plan_text("unlearn: {method: ft}\ntrain: {lr: 0.1}\nsweep: {seeds: [0, 1, 2]}\n");
  Loaded mods =
      plan_text("unlearn: {method: ft}\nec: {pretrain: {epochs: 9}}\nsweep: {seeds: [0, 1, 2]}\n");
  if (base.p && lr.p && forget.p && train.p && mods.p) {
    const Plan *b = base.p;
    CHECK(b->n_runs == 3 && count_jobs(b, JOB_ORIGINAL) == 3 && count_jobs(b, JOB_RETRAIN) == 3);
    CHECK(count_jobs(b, JOB_EC_MODULES) == 3);
    for (int i = 0; i < b->n_runs; i++) {
      const PlanRun *r = &b->runs[i];
      CHECK(b->jobs[r->job[JOB_ORIGINAL]].kind == JOB_ORIGINAL);
      CHECK(b->jobs[r->job[JOB_ORIGINAL]].seed == r->seed);
      CHECK(b->jobs[r->job[JOB_RETRAIN]].kind == JOB_RETRAIN);
      CHECK(b->jobs[r->job[JOB_EC_MODULES]].needs == r->job[JOB_ORIGINAL]);
    }
#define JOB_ID(l, kind) (l).p->jobs[(l).p->runs[0].job[kind]].id
    CHECK(JOB_ID(lr, JOB_ORIGINAL) == JOB_ID(base, JOB_ORIGINAL));
    CHECK(JOB_ID(lr, JOB_RETRAIN) == JOB_ID(base, JOB_RETRAIN));
    CHECK(JOB_ID(lr, JOB_EC_MODULES) == JOB_ID(base, JOB_EC_MODULES));
    CHECK(lr.p->runs[0].id != b->runs[0].id);
    CHECK(JOB_ID(forget, JOB_ORIGINAL) == JOB_ID(base, JOB_ORIGINAL));
    CHECK(JOB_ID(forget, JOB_RETRAIN) != JOB_ID(base, JOB_RETRAIN));
    CHECK(JOB_ID(forget, JOB_EC_MODULES) == JOB_ID(base, JOB_EC_MODULES));
    CHECK(JOB_ID(train, JOB_ORIGINAL) != JOB_ID(base, JOB_ORIGINAL));
    CHECK(JOB_ID(train, JOB_RETRAIN) != JOB_ID(base, JOB_RETRAIN));
    CHECK(JOB_ID(mods, JOB_ORIGINAL) == JOB_ID(base, JOB_ORIGINAL));
    CHECK(JOB_ID(mods, JOB_EC_MODULES) != JOB_ID(base, JOB_EC_MODULES));
  }
  unload(&base);
  unload(&lr);
  unload(&forget);
  unload(&train);
  unload(&mods);
  // Two forget sets over two seeds: 2 originals, 4 retrained models.
  Loaded two = plan_text(
      "unlearn: {method: ft}\nec: {enabled: false}\n"
      "sweep: {seeds: [0, 1], grid: {forget.classes: [[1], [2]]}}\n");
  if (two.p) {
    CHECK(two.p->n_runs == 4 && count_jobs(two.p, JOB_ORIGINAL) == 2);
    CHECK(count_jobs(two.p, JOB_RETRAIN) == 4 && count_jobs(two.p, JOB_EC_MODULES) == 0);
  }
  unload(&two);
}

static void test_non_applying_axes(void) {
  // The brief's example: EC off is not multiplied by the temperature.
  CHECK(n_runs("sweep: {grid: {ec.temperature: [0.5, 0.7, 0.9], unlearn.method: [ft, rl],"
               " ec.enabled: [false, true]}}\n") == 2 + 6);
  // none with EC off is the original model: dropped; none with EC is multiplied.
  CHECK(n_runs("sweep: {grid: {ec.temperature: [0.5, 0.7, 0.9], unlearn.method: [none, ft, rl],"
               " ec.enabled: [false, true]}}\n") == 2 + 9);
  // A method's own knobs multiply that method only.
  CHECK(n_runs("ec: {enabled: false}\nsweep: {grid: {unlearn.method: [ft, scrub, ga],"
               " unlearn.scrub.temperature: [2, 4, 8]}}\n") == 1 + 3 + 1);
  // The axis order does not matter, nor does it if the condition's axis comes last.
  CHECK(n_runs("ec: {enabled: false}\nsweep: {grid: {unlearn.scrub.temperature: [2, 4, 8],"
               " unlearn.method: [ft, scrub]}}\n") == 1 + 3);
  // Knobs under a condition on another key: cka_every only with the cka scheme.
  CHECK(n_runs("sweep: {grid: {ec.layer_weights: [uniform, cka], ec.cka_every: [10, 20]}}\n") ==
        1 + 2);
  // A default-valued axis value and the key's default are one run.
  CHECK(n_runs("unlearn: {method: ft}\nsweep: {grid: {unlearn.lr: [0, 0.01]}}\n") == 1);
  // The columns (one per axis) say '-' where they do not apply: see ecore plan; here the plan
  // records the axes as columns.
  Loaded l =
      plan_text("sweep: {grid: {unlearn.method: [ft, scrub], unlearn.scrub.gamma: [0.5, 1]}}\n");
  if (l.p) CHECK(l.p->n_columns == 2 && l.p->n_runs == 3 && l.p->combos == 3);
  unload(&l);
}

static void test_cases_and_seeds(void) {
  // Cases alone: the runs are the cases.
  const char *cases =
      "ec: {enabled: false}\n"
      "sweep: {cases: [{unlearn.method: ft, unlearn.lr: 0.1},"
      " {unlearn.method: scrub, unlearn.scrub.alpha: 0.01}]}\n";
  CHECK(n_runs(cases) == 2);
  // Grid and cases: a case equal to a grid run is one run; a case may set its seeds.
  CHECK(n_runs("ec: {enabled: false}\nsweep: {grid: {unlearn.method: [ft, rl]},"
               " cases: [{unlearn.method: ft}, {unlearn.method: ga}]}\n") == 3);
  CHECK(n_runs("ec: {enabled: false}\nsweep: {seeds: [0, 1, 2], grid: {unlearn.method: [ft, rl]},"
               " cases: [{unlearn.method: ga, sweep.seeds: [7]}]}\n") == 6 + 1);
  // Seeds multiply every run; each seed has its own original model.
  Loaded l = plan_text(
      "ec: {enabled: false}\n"
      "sweep: {seeds: [3, 1, 2, 0], grid: {unlearn.method: [ft, rl, ga]}}\n");
  if (l.p) {
    CHECK(l.p->n_runs == 12 && count_jobs(l.p, JOB_ORIGINAL) == 4);
    CHECK(l.p->runs[0].seed == 3 && l.p->runs[1].seed == 1);  // seeds vary fastest
  }
  unload(&l);
  // Case keys become columns after the grid's.
  l = plan_text(cases);
  if (l.p) CHECK(l.p->n_columns == 3);
  unload(&l);
  // The mnist config's shape: 5 methods x EC on/off - (none, off) + 1 case, x 3 seeds.
  CHECK(n_runs("sweep: {seeds: [0, 1, 2], grid: {unlearn.method: [none, ft, rl, salun, scrub],"
               " ec.enabled: [false, true]}, cases: [{unlearn.method: none,"
               " ec.layer_weights: increasing}]}\n") == 30);
}

static void test_big_expansion(void) {
  // 10 seeds x 100 learning rates x 100 temperatures = 100,000 runs.
  size_t cap = 1 << 16;
  char *text = malloc(cap);
  size_t n = (size_t)snprintf(text, cap, "unlearn: {method: ft}\nsweep:\n  seeds: [0");
  for (int s = 1; s < 10; s++) n += (size_t)snprintf(text + n, cap - n, ", %d", s);
  n += (size_t)snprintf(text + n, cap - n, "]\n  grid:\n    unlearn.lr: [0.0001");
  for (int i = 2; i <= 100; i++) n += (size_t)snprintf(text + n, cap - n, ", %g", 1e-4 * i);
  n += (size_t)snprintf(text + n, cap - n, "]\n    ec.temperature: [0.01");
  for (int i = 2; i <= 100; i++) n += (size_t)snprintf(text + n, cap - n, ", %g", 0.01 * i);
  snprintf(text + n, cap - n, "]\n");
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  Loaded l = plan_text(text);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double s = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
  if (l.p) {
    CHECK(l.p->n_runs == 100000);
    CHECK(count_jobs(l.p, JOB_ORIGINAL) == 10 && count_jobs(l.p, JOB_EC_MODULES) == 10);
    printf("100,000-run plan: loaded and expanded in %.3f s\n", s);
  }
  unload(&l);
  free(text);
}

// The sweep id: the same for configs that add seeds, grid values or cases over the same keys;
// another for a changed shared key or a new varied key; plan_same_sweep names the difference.
static void test_sweep_identity(void) {
  const char *base =
      "unlearn: {method: ft}\nforget: {classes: [1]}\n"
      "sweep: {seeds: [0], grid: {unlearn.lr: [0.01]}}\n";
  const char *more[] = {
      "unlearn: {method: ft}\nforget: {classes: [1]}\n"
      "sweep: {seeds: [0, 1, 2], grid: {unlearn.lr: [0.01, 0.02]}}\n",
      "forget: {classes: [1]}\nunlearn: {method: ft}\n"
      "sweep: {seeds: [7], grid: {unlearn.lr: [0.5]},\n"
      "        cases: [{unlearn.lr: 0.03, sweep.seeds: [4]}]}\n"};
  const char *other[][2] = {
      {"unlearn: {method: ft}\nforget: {classes: [2]}\n"
       "sweep: {seeds: [0], grid: {unlearn.lr: [0.01]}}\n",
       "g.yaml and g.yaml are different sweeps: forget.classes is [1] in g.yaml but [2] in g.yaml"},
      {"unlearn: {method: ft}\nforget: {classes: [1]}\n"
       "sweep: {seeds: [0], grid: {unlearn.lr: [0.01], unlearn.epochs: [3]}}\n",
       "g.yaml varies unlearn.epochs"},
      {"unlearn: {method: ft}\nforget: {classes: [1]}\nsweep: {seeds: [0]}\n",
       "g.yaml varies unlearn.lr"}};
  Loaded b = plan_text(base);
  Err e = {0};
  for (int i = 0; i < 2 && b.p; i++) {
    Loaded m = plan_text(more[i]);
    int n_new = -1;
    CHECK(m.p && m.p->sweep_id == b.p->sweep_id && m.p->run_set_id != b.p->run_set_id);
    CHECK(m.p && plan_same_sweep(b.p, "g.yaml", m.p, "g.yaml", &e) == 0);
    CHECK(m.p && plan_new_runs(b.p, m.p, &n_new, &e) == 0 && n_new == m.p->n_runs - (i == 0));
    unload(&m);
  }
  for (int i = 0; i < 3 && b.p; i++) {
    Loaded o = plan_text(other[i][0]);
    CHECK(o.p && o.p->sweep_id != b.p->sweep_id);
    CHECK(o.p && plan_same_sweep(b.p, "g.yaml", o.p, "g.yaml", &e) == ERR_CONFIG &&
          strstr(e.msg, other[i][1]));
    unload(&o);
  }
  // A plan joining two configs: the runs of each once, each run's settings from its own.
  Loaded m = plan_text(more[1]);
  Plan *all = NULL;
  const ConfigFile *cfs[3] = {b.cf, m.cf, b.cf};
  CHECK(b.p && m.p && plan_expand_all(&all, cfs, 3, 0, &e) == 0);
  if (all) {
    CHECK(all->n_runs == b.p->n_runs + m.p->n_runs && all->sweep_id == b.p->sweep_id);
    for (int i = 0; i < all->n_runs; i++) {
      Config c;
      plan_run_config(all, i, &c);
      CHECK(plan_config_id(&c, &b.cf->defaults) == all->runs[i].id);
      CHECK(all->runs[i].cfg == (i < b.p->n_runs ? 0 : 1));
    }
  }
  plan_free(all);
  unload(&m);
  unload(&b);
}

// Keys set in the file or as grid axes that apply to no run are listed, with where and when;
// keys that apply to some run are not.
static void test_unused_keys(void) {
  Loaded l = plan_text(
      "unlearn: {method: ft, scrub: {temperature: 8}}\nec: {enabled: false}\n"
      "sweep: {grid: {ec.temperature: [0.1, 0.5]}}\n");
  CHECK(l.p && l.p->n_unused == 2);
  char msg[1024];
  for (int i = 0; l.p && i < l.p->n_unused; i++) {
    plan_unused_message(l.p, i, msg, sizeof msg);
    const char *want = i == 0 ? "g.yaml:1:" : "g.yaml:3:";
    CHECK(strstr(msg, want) && strstr(msg, "applies to no run of this sweep (only when"));
  }
  unload(&l);
  l = plan_text(
      "unlearn: {method: scrub, scrub: {temperature: 8}}\n"
      "sweep: {grid: {ec.enabled: [false, true], ec.temperature: [0.1, 0.5]}}\n");
  CHECK(l.p && l.p->n_unused == 0);
  unload(&l);
}

int main(void) {
  test_products();
  test_stable_ids();
  test_jobs();
  test_non_applying_axes();
  test_unused_keys();
  test_cases_and_seeds();
  test_sweep_identity();
  test_big_expansion();
  return test_finish("test_grid");
}
