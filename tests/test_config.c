// test_config.c: the config layer: defaults, --set precedence, every kind of bad input (through
// the library and through the ecore binary: exit code 2, FILE:LINE:COL, no file written), the
// YAML round trip and docs/config.md against the schema.
//
// usage: test_config ECORE_BINARY SOURCE_DIR
#include <dirent.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "plan.h"
#include "runspec.h"
#include "testutil.h"

static const char *ecore_bin, *source_dir;
static char tmp[256];  // a scratch directory for data roots and bad configs

// Loads text (as "c.yaml") with --set args and expands it; returns the error code, e->msg.
static int load_and_plan(const char *text, int n_sets, const char *const *sets, Err *e) {
  ConfigFile *cf = NULL;
  Plan *p = NULL;
  int rc = config_load(&cf, "c.yaml", text, n_sets, sets, e);
  if (!rc) rc = plan_expand(&p, cf, e);
  plan_free(p);
  config_free(cf);
  return rc;
}

// Checks that text fails with a message that starts with prefix and contains part.
#define CHECK_BAD(text, prefix, part) check_bad(__LINE__, text, 0, NULL, prefix, part)
#define CHECK_BAD_SET(text, set, prefix, part) \
  check_bad(__LINE__, text, 1, (const char *[]){set}, prefix, part)
static void check_bad(int line, const char *text, int n_sets, const char *const *sets,
                      const char *prefix, const char *part) {
  Err e = {0};
  int rc = load_and_plan(text, n_sets, sets, &e);
  if (rc != ERR_CONFIG || strncmp(e.msg, prefix, strlen(prefix)) || !strstr(e.msg, part)) {
    fprintf(stderr, "%s:%d: rc %d, message '%s'; expected code 2, '%s...%s'\n", __FILE__, line, rc,
            e.msg, prefix, part);
    test_failures++;
  }
}

static ConfigFile *load_ok(const char *text, int n_sets, const char *const *sets) {
  Err e = {0};
  ConfigFile *cf = NULL;
  if (config_load(&cf, "c.yaml", text, n_sets, sets, &e)) {
    fprintf(stderr, "unexpected error: %s\n", e.msg);
    test_failures++;
  }
  return cf;
}

static void test_defaults(void) {
  ConfigFile *cf = load_ok("data: {name: synthetic}\n", 0, NULL);
  if (!cf) return;
  const Config *c = &cf->base;
  CHECK(c->data.name == CFG_DATA_SYNTHETIC && c->data.synthetic.classes == 10);
  CHECK(c->model.arch == ARCH_CNN4 && c->model.points.n == 0);
  CHECK(c->train.epochs == 20 && c->train.batch_size == 128 && c->train.lr == 0.05);
  CHECK(c->train.momentum == 0.9 && c->train.weight_decay == 5e-4 && !c->train.nesterov);
  CHECK(c->train.schedule == SCHED_COSINE);
  CHECK(c->forget.classes.n == 1 && c->forget.classes.v[0] == 0);
  CHECK(c->forget.random_classes == 0 && c->forget.random_fraction == 0);
  CHECK(c->unlearn.method == UNLEARN_NONE && c->unlearn.lr == 0 && c->unlearn.epochs == 0);
  CHECK(c->unlearn.neggrad_plus.alpha == 0.99 && c->unlearn.salun.q == 0.5);
  CHECK(c->unlearn.scrub.temperature == 4 && c->unlearn.scrub.gamma == 0.99);
  CHECK(c->unlearn.scrub.alpha == 0.001 && c->unlearn.scrub.max_epochs == 2);
  CHECK(c->unlearn.bs.eps == 0.1 && c->unlearn.cu.temperature == 0.7);
  CHECK(c->ec.enabled && c->ec.temperature == 0.7 && c->ec.lambda_cu == 3 && c->ec.lambda_ce == 1);
  CHECK(c->ec.layer_weights.scheme == EC_WEIGHTS_UNIFORM && c->ec.variant == EC_LOSS_CU);
  CHECK(c->ec.aux.summariser == AUX_SUMMARISER_GAP && c->ec.retain_per_forget == 4);
  CHECK(c->ec.aux.head == AUX_HEAD_NONE && c->ec.detach_retain && c->ec.aux.own_head_last);
  CHECK(c->ec.pull == EC_PULL_MEAN && !c->ec.freeze_bn);
  CHECK(c->eval.cka && c->eval.cka_batch == 512 && c->eval.knn_k == 5);
  CHECK(c->sweep.seeds.n == 1 && c->sweep.seeds.v[0] == 0 && c->sweep.ranks_per_run == 1);
  CHECK(c->sweep.n_axes == 0 && c->sweep.n_cases == 0);
  CHECK(!strcmp(c->output.file, "results.h5") && !strcmp(c->output.cache_dir, "ecore_cache"));
  CHECK(!c->output.save_models && !strcmp(c->output.models_dir, "models"));
  CHECK(!strcmp(c->data.root, ""));
  // The keys the README and docs name exist.
  static const char *const spec_keys[] = {
      "data.name",        "data.root",        "model.arch",         "train.epochs",
      "train.lr",         "train.batch_size", "forget.classes",     "unlearn.method",
      "unlearn.epochs",   "unlearn.lr",       "ec.enabled",         "ec.temperature",
      "ec.layer_weights", "sweep.seeds",      "sweep.grid",         "sweep.ranks_per_run",
      "output.file",      "output.cache_dir", "output.save_models", "output.models_dir"};
  for (size_t i = 0; i < sizeof spec_keys / sizeof *spec_keys; i++)
    CHECK(config_key_index(spec_keys[i]) >= 0);
  // Every key has a default, a doc line without table breakers, choices where it needs them;
  // the keys of a section are together (the YAML writer and the docs rely on it).
  for (int i = 0; i < config_schema_n; i++) {
    const KeySpec *k = &config_schema[i];
    CHECK(k->def && k->doc && *k->doc && !strchr(k->doc, '|'));
    CHECK((k->type == T_ENUM || k->type == T_WEIGHTS) == (k->choices != NULL));
    for (int j = i + 2; j < config_schema_n; j++) {
      size_t n = (size_t)(strrchr(k->key, '.') - k->key);
      if (!strncmp(config_schema[j].key, k->key, n + 1) &&
          strncmp(config_schema[j - 1].key, k->key, n + 1)) {
        fprintf(stderr, "section of %s is split by %s\n", k->key, config_schema[j - 1].key);
        test_failures++;
      }
    }
  }
  // Resolution fills in a method's usual values, the points of the arch, the augmentation.
  Config r = cf->base;
  r.unlearn.method = UNLEARN_FT;
  config_resolve(&r);
  CHECK(r.unlearn.lr == 0.01 && r.unlearn.epochs == 10);
  CHECK(r.model.points.n == 4 && !strcmp(r.model.points.v[3], "layer4"));
  CHECK(r.data.augment == CFG_AUG_NONE);
  config_free(cf);
}

// The config written as YAML reads back as the same config.
static void test_yaml_round_trip(void) {
  const char *text =
      "data: {name: synthetic, root: 'a b: c', mean: [0.5], std: [0.25]}\n"
      "forget: {classes: [3, 8]}\n"
      "unlearn: {method: neggrad+, neggrad+: {alpha: 0.95}, lr: 1e-3}\n"
      "ec: {layer_weights: [1, 0.5, 0.25, 0.125], temperature: 0.1}\n"
      "model: {points: [layer1, layer2, layer3, layer4]}\n"
      "sweep: {seeds: [1, 2], grid: {ec.temperature: [0.3, 0.7], forget.classes: [[1], [1, 2]]},\n"
      "        cases: [{unlearn.method: scrub, sweep.seeds: [5]}]}\n"
      "output: {file: 'true'}\n";
  ConfigFile *a = load_ok(text, 0, NULL);
  if (!a) return;
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  config_write_yaml(f, &a->base);
  fclose(f);
  ConfigFile *b = load_ok(buf, 0, NULL);
  if (b) {
    for (int i = 0; i < config_schema_n; i++) {
      CfgValue va, vb;
      config_get(&a->base, i, &va);
      config_get(&b->base, i, &vb);
      if (!config_value_equal(config_schema[i].type, &va, &vb)) {
        fprintf(stderr, "round trip changed %s\n", config_schema[i].key);
        test_failures++;
      }
    }
    CHECK(b->base.sweep.n_axes == 2 && b->base.sweep.n_cases == 1);
    CHECK(b->base.sweep.axes[1].n == 2 && b->base.sweep.axes[1].values[1].il.n == 2);
    CHECK(b->base.sweep.cases[0].n == 2);
  } else
    fprintf(stderr, "%s", buf);
  config_free(b);
  free(buf);
  config_free(a);
}

static void test_set_precedence(void) {
  const char *file = "ec: {temperature: 0.5}\nsweep: {grid: {unlearn.lr: [0.1, 0.2]}}\n";
  ConfigFile *cf = load_ok(file, 0, NULL);
  if (cf) CHECK(cf->base.ec.temperature == 0.5 && cf->base.ec.lambda_ce == 1);  // file, default
  config_free(cf);
  cf = load_ok(file, 1, (const char *[]){"ec.temperature=0.9"});
  if (cf) CHECK(cf->base.ec.temperature == 0.9);  // --set beats the file
  config_free(cf);
  cf = load_ok(file, 2, (const char *[]){"ec.temperature=0.9", "ec.temperature=0.3"});
  if (cf) CHECK(cf->base.ec.temperature == 0.3);  // the last --set wins
  config_free(cf);
  cf = load_ok(file, 2,
               (const char *[]){"forget.classes=[3,8]", "ec={lambda_cu: 2, enabled: false}"});
  if (cf) {
    CHECK(cf->base.forget.classes.n == 2 && cf->base.forget.classes.v[1] == 8);
    CHECK(cf->base.ec.lambda_cu == 2 && !cf->base.ec.enabled && cf->base.ec.temperature == 0.5);
  }
  config_free(cf);
  cf = load_ok(file, 2,
               (const char *[]){"sweep.grid.unlearn.lr=[0.5]", "sweep.grid.ec.lambda_cu=[1,2]"});
  if (cf) {
    CHECK(cf->base.sweep.n_axes == 2);  // one axis replaced, one added
    CHECK(cf->base.sweep.axes[0].n == 1 && cf->base.sweep.axes[0].values[0].f == 0.5);
    CHECK(cf->base.sweep.axes[1].n == 2);
  }
  config_free(cf);
  cf = load_ok(file, 1, (const char *[]){"sweep.grid={}"});
  if (cf) CHECK(cf->base.sweep.n_axes == 0);  // the whole grid replaced
  config_free(cf);
  cf = load_ok(file, 1, (const char *[]){"data.root=/a:b"});
  if (cf) CHECK(!strcmp(cf->base.data.root, "/a:b"));
  config_free(cf);
  CHECK_BAD_SET(file, "train.epochs=abc", "--set train.epochs=abc: ", "expected an integer");
  CHECK_BAD_SET(file, "trian.epochs=3", "--set trian.epochs=3: ", "did you mean 'train.epochs'?");
  CHECK_BAD_SET(file, "train.epochs", "--set train.epochs: ", "KEY=VALUE");
  CHECK_BAD_SET(file, "train.epochs=", "--set train.epochs=: ", "missing value");
  CHECK_BAD_SET(file, "ec.temperature=[0.5", "--set ec.temperature=[0.5: ", "invalid YAML");
  CHECK_BAD_SET(file, "forget.classes=[3,99]", "--set forget.classes=[3,99]: ", "outside");
  CHECK_BAD_SET(file, "sweep.grid.ec.tau=[1]",
                "--set sweep.grid.ec.tau=[1]: ", "names no config key");
}

// One case per kind of bad input, through the library, with the exact position.
// Writes an idx file: magic, dims, then body bytes (zeros) of `body` bytes.
static void write_idx(const char *dir, const char *name, uint32_t magic, int n_dims,
                      const uint32_t *dims, long body) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  uint32_t words[4] = {magic, dims[0], n_dims > 1 ? dims[1] : 0, n_dims > 2 ? dims[2] : 0};
  for (int i = 0; i <= n_dims; i++) {
    uint8_t be[4] = {words[i] >> 24, words[i] >> 16 & 255, words[i] >> 8 & 255, words[i] & 255};
    fwrite(be, 1, 4, f);
  }
  for (long i = 0; i < body; i++) fputc(0, f);
  fclose(f);
}

// An idx set of 2 images of 4x4 pixels (test: its `test_*` files); damage: 0 none, 1 images cut
// short, 2 a labels file with the images' magic, 3 one label too many.
static void write_idx_set(const char *dir, const char *prefix, int damage) {
  char img[64], lab[64];
  snprintf(img, sizeof img, "%s-images-idx3-ubyte", prefix);
  snprintf(lab, sizeof lab, "%s-labels-idx1-ubyte", prefix);
  uint32_t d[3] = {2, 4, 4}, n = damage == 3 ? 3 : 2;
  write_idx(dir, img, 0x803, 3, d, damage == 1 ? 20 : 32);
  write_idx(dir, lab, damage == 2 ? 0x803 : 0x801, 1, &n, n);
}

// Files that exist but are damaged are found by plan, naming the file and what is wrong.
static void test_damaged_files(char *text, size_t size) {
  static const struct {
    int damage;
    const char *part;
  } cases[] = {
      {0, NULL},
      {1, "t10k-images-idx3-ubyte: 36 bytes, but its header declares 48 (truncated)"},
      {2, "t10k-labels-idx1-ubyte: bad magic 0x00000803, expected 0x00000801"},
      {3, "t10k-images-idx3-ubyte: 2 images, but"},
  };
  char dir[300];
  snprintf(dir, sizeof dir, "%s/idx", tmp);
  mkdir(dir, 0700);
  for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
    write_idx_set(dir, "train", 0);
    write_idx_set(dir, "t10k", cases[k].damage);
    snprintf(text, size, "data: {name: mnist, root: %s, allow_reduced: true}\n", dir);
    if (cases[k].part) {
      CHECK_BAD(text, "c.yaml:1:", cases[k].part);
    } else {
      Err e = {0};
      CHECK(load_and_plan(text, 0, NULL, &e) == 0);
    }
  }
  // CIFAR: a file whose size is not a whole number of 3073-byte records.
  char path[512];
  snprintf(path, sizeof path, "%s/a.bin", tmp);
  FILE *f = fopen(path, "wb");
  for (int i = 0; i < 3000; i++) fputc(0, f);
  fclose(f);
  snprintf(text, size,
           "data: {name: cifar10, root: %s, train_files: [a.bin], test_files: [a.bin]}\n", tmp);
  CHECK_BAD(text, "c.yaml:1:", "a.bin: truncated or not a CIFAR binary file: size 3000 bytes");
}

static void test_bad_inputs(void) {
  CHECK_BAD("sweep:\n  cases: [{}]\n", "c.yaml:2:11:", "case 1 is empty");
  char text[1024];
  CHECK_BAD("", "c.yaml:1:1: ", "empty");
  CHECK_BAD("# nothing but a comment\n", "c.yaml:1:1: ", "empty");
  CHECK_BAD("train:\n  epochs: 3\n   lr: 0.1\n", "c.yaml:3:6: ", "invalid YAML");
  CHECK_BAD("data:\n\tname: mnist\n", "c.yaml:2:1: ", "tab");
  CHECK_BAD("data:\n  name: synthetic\n  \tsynthetic: {}\n", "c.yaml:3:3: ", "tab");
  CHECK_BAD("train:\n  epochs: two\n", "c.yaml:2:11: ", "train.epochs: expected an integer");
  CHECK_BAD("train:\n  epochs: 2.5\n", "c.yaml:2:11: ", "expected an integer");
  CHECK_BAD("train:\n  lr: '0.1'\n", "c.yaml:2:7: ", "expected a number");
  CHECK_BAD("ec:\n  enabled: yes\n", "c.yaml:2:12: ", "expected true or false");
  CHECK_BAD("forget:\n  classes: 3\n", "c.yaml:2:12: ", "expected a list of integers");
  CHECK_BAD("ec: true\n", "c.yaml:1:5: ", "'ec' is a section");
  CHECK_BAD("- a\n", "c.yaml:1:1: ", "expected a mapping of sections");
  CHECK_BAD("ec:\n  temperature: -1\n", "c.yaml:2:16: ", "out of range; must be in (0, 100]");
  CHECK_BAD("train: {epochs: 0}\n", "c.yaml:1:17: ", "out of range");
  CHECK_BAD("forget: {random_fraction: 1}\n", "c.yaml:1:27: ", "out of range");
  CHECK_BAD("ec:\n  temperature: 0.5\n  temperature: 0.6\n", "c.yaml:3:3: ", "duplicate key");
  CHECK_BAD("ec.temperature: 0.5\nec:\n  temperature: 0.6\n", "c.yaml:3:3: ", "duplicate key");
  CHECK_BAD("sweep:\n  grid:\n    ec.temprature: [0.5]\n", "c.yaml:3:5: ",
            "grid axis 'ec.temprature' names no config key; did you mean 'ec.temperature'?");
  CHECK_BAD("sweep:\n  grid:\n    ec.temperature: []\n", "c.yaml:3:21: ", "is empty");
  CHECK_BAD("sweep: {grid: {ec.temperature: 0.5}}\n", "c.yaml:1:32: ", "needs a list");
  CHECK_BAD("sweep: {grid: {output.file: [a, b]}}\n", "c.yaml:1:16: ", "can't vary");
  CHECK_BAD("sweep: {grid: {sweep.seeds: [[1]]}}\n", "c.yaml:1:16: ", "not a grid axis");
  CHECK_BAD("sweep: {grid: {ec.temperature: [0.5, 5e-1]}}\n", "c.yaml:1:38: ", "twice");
  CHECK_BAD("sweep: {cases: [{ec.tmp: 1}]}\n", "c.yaml:1:18: ", "case key 'ec.tmp'");
  CHECK_BAD("trian: {epochs: 3}\n", "c.yaml:1:1: ", "unknown key 'trian'; did you mean 'train'?");
  CHECK_BAD("data: {name: mnits}\n", "c.yaml:1:14: ", "did you mean 'mnist'?");
  CHECK_BAD("a: 1\n---\nb: 2\n", "c.yaml:2:1: ", "one YAML document");
  CHECK_BAD("data: &d {name: mnist}\nmodel: *d\n", "c.yaml:2:8: ", "aliases");
  // Forget class outside the data set: mnist has 10 classes; 12 is the second item.
  snprintf(text, sizeof text, "data:\n  name: mnist\n  root: %s\nforget:\n  classes: [3, 12]\n",
           tmp);
  CHECK_BAD(text, "c.yaml:5:16: ", "forget class 12 is outside the data set: mnist has 10 classes");
  CHECK_BAD("data: {synthetic: {classes: 5}}\nforget: {classes: [5]}\n",
            "c.yaml:2:20: ", "outside");
  CHECK_BAD("forget: {random_classes: 10}\n", "c.yaml:1:26: ", "at least one must be retained");
  // A path that does not exist, and a path the data set needs but the config does not give.
  CHECK_BAD("data:\n  name: mnist\n  root: /nonexistent/mnist\n", "c.yaml:3:9: ", "does not exist");
  snprintf(text, sizeof text, "data: {name: cifar10, root: %s, train_files: [a.bin]}\n", tmp);
  CHECK_BAD(text, "c.yaml:1:", "a.bin' does not exist");
  CHECK_BAD("data: {name: mnist}\n", "c.yaml:1:14: ", "data.root must be set");
  // A folder that exists but does not hold the data set's files.
  snprintf(text, sizeof text, "data: {name: mnist, root: %s}\n", tmp);
  CHECK_BAD(text, "c.yaml:1:", "is missing or damaged: train-images-idx3-ubyte");
  test_damaged_files(text, sizeof text);
  // Cross-key checks point at the value at fault, in the grid when it comes from there.
  CHECK_BAD("ec: {layer_weights: [1, 2, 3]}\n", "c.yaml:1:21: ", "4 supervision points");
  CHECK_BAD("model: {points: [layer1, layer5]}\n", "c.yaml:1:26: ", "not a supervision point");
  CHECK_BAD("sweep: {grid: {unlearn.method: [ft, scrub], unlearn.scrub.max_epochs: [1, 5]}}\n",
            "c.yaml:1:75: ", "exceeds unlearn.epochs");
  CHECK_BAD("unlearn: {method: none}\nec: {enabled: false}\n", "c.yaml:1:19: ", "makes no run");
  CHECK_BAD("sweep: {seeds: [1, 1]}\n", "c.yaml:1:20: ", "listed twice");
  CHECK_BAD_SET("data: {name: mnist}\n", "data.root=/nonexistent",
                "--set data.root=/nonexistent: ", "does not exist");
}

static void test_suggest(void) {
  char buf[256];
  CHECK(!strcmp(config_suggest_key("ec.temprature", buf, sizeof buf), "ec.temperature"));
  CHECK(!strcmp(config_suggest_key("unlearn.scrb", buf, sizeof buf), "unlearn.scrub"));
  CHECK(!strcmp(config_suggest_key("train.temperature", buf, sizeof buf), "ec.temperature"));
  CHECK(config_suggest_key("completely.different", buf, sizeof buf) == NULL);
}

// docs/config.md is what `ecore plan --explain` prints.
static void test_docs_match(void) {
  char path[512], *want = NULL;
  size_t len = 0;
  snprintf(path, sizeof path, "%s/docs/config.md", source_dir);
  FILE *f = open_memstream(&want, &len);
  config_explain(f);
  fclose(f);
  FILE *doc = fopen(path, "r");
  CHECK(doc != NULL);
  if (doc) {
    char *have = malloc(len + 2);
    size_t n = fread(have, 1, len + 1, doc);
    fclose(doc);
    if (n != len || memcmp(have, want, len)) {
      fprintf(stderr,
              "%s differs from `ecore plan --explain`; regenerate it with\n"
              "  ecore plan --explain > docs/config.md\n",
              path);
      test_failures++;
    }
    free(have);
  }
  free(want);
}

// ---------------------------------------------------------------------------------------------
// through the binary

static int count_entries(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
  closedir(d);
  return n;
}

// Runs `ecore ARGS` in dir; stdout and stderr go to files outside dir. Returns the exit code.
static int run_ecore(const char *dir, const char *args, char *out, size_t out_size, char *err,
                     size_t err_size) {
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "cd '%s' && '%s' %s >'%s/stdout' 2>'%s/stderr'", dir, ecore_bin, args,
           tmp, tmp);
  int status = system(cmd);
  char path[600];
  snprintf(path, sizeof path, "%s/stdout", tmp);
  FILE *f = fopen(path, "r");
  size_t n = f ? fread(out, 1, out_size - 1, f) : 0;
  out[n] = '\0';
  if (f) fclose(f);
  snprintf(path, sizeof path, "%s/stderr", tmp);
  f = fopen(path, "r");
  n = f ? fread(err, 1, err_size - 1, f) : 0;
  err[n] = '\0';
  if (f) fclose(f);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Writes body (after an output section pointing into a fresh directory) as DIR/bad.yaml, runs
// `ecore plan bad.yaml`, and checks code 2, the position, and that DIR holds only bad.yaml.
#define CHECK_BINARY_BAD(body, pos) check_binary_bad(__LINE__, body, pos)
static void check_binary_bad(int line, const char *body, const char *pos) {
  static int n = 0;
  char dir[400], path[500];
  snprintf(dir, sizeof dir, "%s/bad%d", tmp, n++);
  mkdir(dir, 0700);
  snprintf(path, sizeof path, "%s/bad.yaml", dir);
  FILE *f = fopen(path, "w");
  fputs(body, f);
  fclose(f);
  char out[8192], err[4096], args[1600], want[64];
  snprintf(args, sizeof args,
           "plan bad.yaml --set output.file=%s/out.h5 --set output.cache_dir=%s/cache "
           "--set output.save_models=true --set output.models_dir=%s/models",
           dir, dir, dir);
  int rc = run_ecore(dir, args, out, sizeof out, err, sizeof err);
  snprintf(want, sizeof want, "bad.yaml:%s: ", pos);
  if (rc != 2 || strncmp(err, want, strlen(want)) || count_entries(dir) != 1) {
    fprintf(stderr, "%s:%d: exit %d, %d entries, stderr '%s'; expected 2, 1, '%s...'\n", __FILE__,
            line, rc, count_entries(dir), err, want);
    test_failures++;
  }
}

static void test_binary(void) {
  char out[1 << 16], err[4096], text[1024];
  // One case per kind of bad input.
  CHECK_BINARY_BAD("", "1:1");
  CHECK_BINARY_BAD("data: [\n", "2:1");
  CHECK_BINARY_BAD("data:\n\tname: mnist\n", "2:1");
  CHECK_BINARY_BAD("train:\n  epochs: two\n", "2:11");
  CHECK_BINARY_BAD("ec:\n  temperature: 0\n", "2:16");
  CHECK_BINARY_BAD("ec:\n  temperature: 0.5\n  temperature: 0.6\n", "3:3");
  CHECK_BINARY_BAD("sweep:\n  grid:\n    ec.temprature: [0.5]\n", "3:5");
  CHECK_BINARY_BAD("sweep:\n  grid:\n    ec.temperature: []\n", "3:21");
  snprintf(text, sizeof text, "data:\n  name: mnist\n  root: %s\nforget:\n  classes: [3, 12]\n",
           tmp);
  CHECK_BINARY_BAD(text, "5:16");
  CHECK_BINARY_BAD("data:\n  name: mnist\n  root: does/not/exist\n", "3:9");
  CHECK_BINARY_BAD("unknown: 1\n", "1:1");

  // Usage errors: code 2.
  CHECK(run_ecore(tmp, "plan", out, sizeof out, err, sizeof err) == 2);
  CHECK(run_ecore(tmp, "plan --bogus x.yaml", out, sizeof out, err, sizeof err) == 2);
  CHECK(run_ecore(tmp, "plan missing.yaml", out, sizeof out, err, sizeof err) == 2);
  CHECK(strstr(err, "missing.yaml") != NULL);
  CHECK(run_ecore(tmp, "plan --help", out, sizeof out, err, sizeof err) == 0);
  CHECK(strstr(out, "usage: ecore plan") != NULL);

  // The quickstart: 10 runs, the last line says so, and --set reaches the plan.
  char args[1024];
  snprintf(args, sizeof args, "plan '%s/configs/quickstart.yaml'", source_dir);
  CHECK(run_ecore(tmp, args, out, sizeof out, err, sizeof err) == 0);
  size_t n = strlen(out);
  CHECK(n > 9 && !strcmp(out + n - 9, "\n10 runs\n"));
  CHECK(!strncmp(out, "sweep ", 6) && strstr(out, "\njob O1 original ") && strstr(out, "\nrun "));
  snprintf(args, sizeof args, "plan '%s/configs/quickstart.yaml' --set sweep.seeds=[0,1,2]",
           source_dir);
  CHECK(run_ecore(tmp, args, out, sizeof out, err, sizeof err) == 0);
  n = strlen(out);
  CHECK(n > 9 && !strcmp(out + n - 9, "\n15 runs\n"));

  // --explain prints docs/config.md.
  CHECK(run_ecore(tmp, "plan --explain", out, sizeof out, err, sizeof err) == 0);
  char path[600];
  snprintf(path, sizeof path, "%s/docs/config.md", source_dir);
  FILE *f = fopen(path, "r");
  if (f) {
    static char doc[1 << 16];
    size_t m = fread(doc, 1, sizeof doc - 1, f);
    doc[m] = '\0';
    fclose(f);
    CHECK(!strcmp(doc, out));
  }

  // The MNIST config, from the repository's root where its relative data.root points.
  snprintf(path, sizeof path, "%s/../shared/data/mnist", source_dir);
  struct stat st;
  if (!stat(path, &st)) {
    CHECK(run_ecore(source_dir, "plan configs/mnist_cnn4.yaml", out, sizeof out, err, sizeof err) ==
          0);
    n = strlen(out);
    CHECK(n > 9 && !strcmp(out + n - 9, "\n30 runs\n"));
  } else
    fprintf(stderr, "note: %s missing; configs/mnist_cnn4.yaml not planned\n", path);
}

// The enum keys name the code's own enums: each choice is the name the code gives its value,
// and unlearn.method offers every method of the jobs' registry but original and retrain.
static void test_enum_names(void) {
  const KeySpec *m = &config_schema[config_key_index("unlearn.method")];
  int seen[UNLEARN_METHOD_COUNT] = {0};
  for (int i = 0; m->choices[i]; i++) {
    const int v = config_enum_value(m, i);
    CHECK(v >= 0 && v < UNLEARN_METHOD_COUNT && !strcmp(unlearn_method_name(v), m->choices[i]));
    if (v >= 0 && v < UNLEARN_METHOD_COUNT) seen[v]++;
  }
  for (int v = 0; v < UNLEARN_METHOD_COUNT; v++)
    CHECK(seen[v] == (v != UNLEARN_ORIGINAL && v != UNLEARN_RETRAIN));
  const KeySpec *a = &config_schema[config_key_index("model.arch")];
  for (int v = 0; v < ARCH_COUNT; v++) CHECK(!strcmp(config_enum_name(a, v), arch_name(v)));
  const KeySpec *u = &config_schema[config_key_index("unlearn.schedule")];
  CHECK(!strcmp(config_enum_name(u, SCHED_COSINE), "cosine") &&
        config_enum_index(u, SCHED_STEP) < 0);
}

// ---------------------------------------------------------------------------------------------
// Every key is read: a key that is part of run ids changes the RunSpec a run computes with.

// Configs that make every applicability condition true for some key.
static const char *const bases[] = {
    "data: {name: synthetic, mean: [0.4], std: [0.3]}\n",
    "data: {name: mnist, augment: crop}\ntrain: {schedule: step}\n",
    "train: {schedule: multistep}\nforget: {random_classes: 2}\n",
    "unlearn: {method: neggrad+}\n",
    "unlearn: {method: salun}\n",
    "unlearn: {method: l1sparse}\n",
    "unlearn: {method: scrub}\n",
    "unlearn: {method: bs}\n",
    "unlearn: {method: cu}\n",
    "unlearn: {method: bad_teacher}\n",
    "unlearn: {method: ssd}\n",
    "unlearn: {method: unsir}\n",
    "ec: {enabled: true, layer_weights: cka, head: mlp}\n",
    "ec: {enabled: true, summariser: conv}\noutput: {save_models: true}\n",
    "model: {arch: swin_t, width: 12}\n",
};

// The i-th value to try for key k instead of *cur, inside its range; false when there are no
// more. Several are tried because one may resolve to the current value (augment auto is none
// for synthetic data, split_seed -1 is the seed 0).
static bool other_value(const KeySpec *k, const CfgValue *cur, int i, CfgValue *v) {
  static const int one_int[] = {1};
  static const double half[] = {0.5};
  static const char *const one_str[] = {"layer1"};
  memset(v, 0, sizeof *v);
  switch (k->type) {
    case T_INT: {
      const int c[] = {cur->i + 1, cur->i + 2, cur->i - 1};
      for (; i < 3; i++)
        if (c[i] >= k->lo && c[i] <= k->hi) return v->i = c[i], true;
      return false;
    }
    case T_FLOAT: {
      const double c[] = {cur->f * 0.5, cur->f * 1.5, cur->f + 0.5, 1e-3, k->lo + 1e-3};
      for (; i < 5; i++) {
        const double x = c[i];
        if (x != cur->f && (k->lo_open ? x > k->lo : x >= k->lo) &&
            (k->hi_open ? x < k->hi : x <= k->hi))
          return v->f = x, true;
      }
      return false;
    }
    case T_BOOL:
      v->b = !cur->b;
      return i == 0;
    case T_ENUM:
      for (int j = 0, n = 0; k->choices[j]; j++)
        if (j != cur->i && n++ == i) return v->i = j, true;
      return false;
    case T_STRING:
    case T_PATH:
      v->s = "x";
      return i == 0;
    case T_INTS:
      v->il = (IntList){1, one_int};
      return i == 0;
    case T_FLOATS:
      v->fl = (FloatList){1, half};
      return i == 0;
    case T_STRINGS:
      v->sl = (StrList){1, one_str};
      return i == 0;
    case T_WEIGHTS:
      v->w.scheme = i == 0 ? EC_WEIGHTS_INCREASING : EC_WEIGHTS_DECREASING;
      return i < 2;
    default:
      return false;
  }
}

static bool runspec_same(const RunSpec *a, const RunSpec *b) {
  RunSpec x = *a, y = *b;
  const StrList *p = &x.model.points, *q = &y.model.points;
  if (p->n != q->n) return false;
  for (int i = 0; i < p->n; i++)
    if (strcmp(p->v[i], q->v[i])) return false;
  x.model.points = y.model.points = (StrList){0};
  return !memcmp(&x, &y, sizeof x);
}

static void test_every_key_is_read(void) {
  ConfigFile *cf[sizeof bases / sizeof *bases];
  const int nb = (int)(sizeof bases / sizeof *bases);
  for (int b = 0; b < nb; b++)
    if (!(cf[b] = load_ok(bases[b], 0, NULL))) return;
  for (int key = 0; key < config_schema_n; key++) {
    const KeySpec *k = &config_schema[key];
    if ((k->flags & KF_NOID) || k->type == T_GRID || k->type == T_CASES) continue;
    int b = 0;
    Config base;
    for (; b < nb; b++) {
      base = cf[b]->base;
      config_resolve(&base);
      if (config_applies(k->when, &base)) break;
    }
    if (b == nb) {
      fprintf(stderr, "%s: no test config where it applies (%s)\n", k->key,
              config_when_text(k->when));
      test_failures++;
      continue;
    }
    CfgValue cur, v;
    config_get(&cf[b]->base, key, &cur);
    RunSpec ra, rb;
    Err e = {0};
    if (runspec_from_config(&ra, &base, &e)) {
      fprintf(stderr, "%s: %s\n", k->key, e.msg);
      test_failures++;
      continue;
    }
    int read = 0, tried = 0;
    for (int i = 0; !read && other_value(k, &cur, i, &v); i++, tried++) {
      Config changed = cf[b]->base;
      config_set(&changed, key, &v);
      config_resolve(&changed);
      read = runspec_from_config(&rb, &changed, &e) == 0 && !runspec_same(&ra, &rb);
    }
    if (!read) {
      fprintf(stderr,
              "%s: %d other values change nothing a run computes with, yet it is part of run ids "
              "(flag it KF_NOID or make the run read it)\n",
              k->key, tried);
      test_failures++;
    }
  }
  for (int b = 0; b < nb; b++) config_free(cf[b]);
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: test_config ECORE_BINARY SOURCE_DIR\n");
    return 2;
  }
  ecore_bin = argv[1];
  source_dir = argv[2];
  snprintf(tmp, sizeof tmp, "%s/ecore_test_config_XXXXXX",
           getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  if (!mkdtemp(tmp)) TEST_SKIP("cannot make a temporary directory");
  test_defaults();
  test_yaml_round_trip();
  test_set_precedence();
  test_bad_inputs();
  test_suggest();
  test_docs_match();
  test_every_key_is_read();
  test_enum_names();
  test_binary();
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
  if (!test_failures && system(cmd)) fprintf(stderr, "note: could not remove %s\n", tmp);
  return test_finish("test_config");
}
