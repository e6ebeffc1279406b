// config_check.c: what depends on more than one key: filling in derived values (resolve) and
// the checks that need several keys at once (forget classes against the data set, ...).
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "runspec.h"

void config_resolve(Config *c) {
  UnlearnSpec *u = &c->unlearn;
  if (u->method != UNLEARN_NONE) {
    double lr;
    int epochs;
    unlearn_method_usual(u->method, &lr, &epochs);
    if (u->lr == 0) u->lr = lr;
    if (u->epochs == 0) u->epochs = epochs;
  }
  if (c->data.augment == CFG_AUG_AUTO)
    c->data.augment = c->data.name == CFG_DATA_CIFAR10 || c->data.name == CFG_DATA_CIFAR100
                          ? CFG_AUG_CROP_FLIP
                          : CFG_AUG_NONE;
  if (c->model.points.n == 0) {
    const char *const *p = arch_points(c->model.arch);
    int n = 0;
    while (p[n]) n++;
    c->model.points = (StrList){n, p};
  }
}

static int key_of(const char *name) {
  return config_key_index(name);
}

// key: the key at fault; alt: the key that made it so, pointed at when key has its default.
static int fail(CheckFail *f, const char *key, const char *alt, int elem, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int fail(CheckFail *f, const char *key, const char *alt, int elem, const char *fmt, ...) {
  f->key = key_of(key);
  f->alt = alt ? key_of(alt) : -1;
  f->elem = elem;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(f->msg, sizeof f->msg, fmt, ap);
  va_end(ap);
  return ERR_CONFIG;
}

static const char *data_name(const Config *c) {
  return config_schema[key_of("data.name")].choices[c->data.name];
}

static int check_forget(const Config *c, CheckFail *f) {
  const ForgetSpec *g = &c->forget;
  int k = config_num_classes(c);
  if (g->random_classes > 0 && g->random_fraction > 0)
    return fail(f, "forget.random_fraction", "forget.random_classes", -1,
                "set at most one of forget.random_classes and forget.random_fraction");
  if (g->random_classes > 0 && k && g->random_classes >= k)
    return fail(f, "forget.random_classes", "data.name", -1,
                "forget.random_classes is %d but %s has %d classes; at least one must be "
                "retained",
                g->random_classes, data_name(c), k);
  if (!config_applies(W_FORGET_CLASSES, c)) return 0;
  if (g->classes.n == 0)
    return fail(f, "forget.classes", "data.name", -1,
                "forget.classes is empty; list the classes to forget");
  for (int i = 0; i < g->classes.n; i++) {
    int x = g->classes.v[i];
    if (k && x >= k)
      return fail(f, "forget.classes", "data.name", i,
                  "forget class %d is outside the data set: %s has %d classes (0 to %d)", x,
                  data_name(c), k, k - 1);
    for (int j = 0; j < i; j++)
      if (g->classes.v[j] == x)
        return fail(f, "forget.classes", "data.name", i, "forget class %d is listed twice", x);
  }
  if (k && g->classes.n >= k)
    return fail(f, "forget.classes", "data.name", -1,
                "forget.classes lists all %d classes of %s; nothing would be retained", k,
                data_name(c));
  return 0;
}

// swin_t's knobs against each other and the images.
static int check_swin(const Config *c, CheckFail *f) {
  if (c->model.width % 3)
    return fail(f, "model.width", "model.arch", -1,
                "swin_t's width must be a multiple of 3 (its heads are 3, 6, 12, 24), not %d",
                c->model.width);
  int shape[3];
  config_image_shape(c, shape);
  if (shape[0] && (c->model.patch > shape[1] || c->model.patch > shape[2]))
    return fail(f, "model.patch", "data.name", -1,
                "model.patch %d is larger than %s's %dx%d images", c->model.patch, data_name(c),
                shape[1], shape[2]);
  return 0;
}

static int check_model(const Config *c, CheckFail *f) {
  if (config_applies(W_SWIN, c) && check_swin(c, f)) return ERR_CONFIG;
  const char *const *names = arch_points(c->model.arch);
  int n = 0;
  while (names[n]) n++;
  const char *arch = arch_name(c->model.arch);
  if (c->model.stem != STEM_CIFAR && c->model.arch != ARCH_RESNET18 &&
      c->model.arch != ARCH_RESNET50)
    return fail(f, "model.stem", "model.arch", -1,
                "model.stem %s: %s has no stem to choose (only resnet18 and resnet50 do)",
                stem_name(c->model.stem), arch);
  const StrList *p = &c->model.points;
  for (int i = 0; i < p->n; i++) {
    int known = 0;
    for (int j = 0; j < n; j++) known |= !strcmp(p->v[i], names[j]);
    if (!known) {
      const char *near = config_suggest(p->v[i], names, n);
      return fail(f, "model.points", "model.arch", i,
                  "'%s' is not a supervision point of %s (%s to %s)%s%s%s", p->v[i], arch, names[0],
                  names[n - 1], near ? "; did you mean '" : "", near ? near : "", near ? "'?" : "");
    }
    for (int j = 0; j < i; j++)
      if (!strcmp(p->v[j], p->v[i]))
        return fail(f, "model.points", "model.arch", i, "supervision point '%s' is listed twice",
                    p->v[i]);
  }
  if (!config_applies(W_EC, c)) return 0;
  const LayerWeights *w = &c->ec.layer_weights;
  if (w->scheme == EC_WEIGHTS_LIST) {
    if (w->list.n != p->n)
      return fail(f, "ec.layer_weights", "model.points", -1,
                  "ec.layer_weights lists %d weights but there are %d supervision points (%s)",
                  w->list.n, p->n, p->n == n ? arch : "model.points");
    double sum = 0;
    for (int i = 0; i < w->list.n; i++) sum += w->list.v[i];
    if (sum <= 0)
      return fail(f, "ec.layer_weights", "model.points", -1, "ec.layer_weights are all 0");
  }
  Err e = {0};
  if (aux_spec_check(&c->ec.aux, c->model.arch, &e))
    return fail(f, "ec.summariser", "model.arch", -1, "%s", e.msg);
  return 0;
}

static int check_train(const Config *c, CheckFail *f) {
  const TrainRecipe *t = &c->train;
  if (config_applies(W_MULTISTEP, c))
    for (int i = 0; i < t->milestones.n; i++) {
      if (t->milestones.v[i] >= t->epochs)
        return fail(f, "train.milestones", "train.epochs", i,
                    "milestone %d is not below train.epochs (%d)", t->milestones.v[i], t->epochs);
      if (i && t->milestones.v[i] <= t->milestones.v[i - 1])
        return fail(f, "train.milestones", "train.epochs", i, "train.milestones must increase");
    }
  if (config_applies(W_TRAINS, c) && t->warmup_epochs >= t->epochs)
    return fail(f, "train.warmup_epochs", "train.epochs", -1,
                "train.warmup_epochs (%d) leaves no epoch of train.epochs (%d) to the schedule",
                t->warmup_epochs, t->epochs);
  if (config_applies(W_SCRUB, c) && c->unlearn.scrub.max_epochs > c->unlearn.epochs)
    return fail(f, "unlearn.scrub.max_epochs", "unlearn.epochs", -1,
                "unlearn.scrub.max_epochs (%d) exceeds unlearn.epochs (%d)",
                c->unlearn.scrub.max_epochs, c->unlearn.epochs);
  return 0;
}

static int channels(const Config *c) {
  int shape[3];
  config_image_shape(c, shape);
  return shape[0];
}

static int check_data(const Config *c, CheckFail *f) {
  const DataCfg *d = &c->data;
  if (config_applies(W_NORMALIZE, c)) {
    if ((d->mean.n == 0) != (d->std.n == 0))
      return fail(f, d->mean.n ? "data.std" : "data.mean", NULL, -1,
                  "set both data.mean and data.std, or neither");
    int ch = channels(c);
    if (d->mean.n && ch && d->mean.n != ch)
      return fail(f, "data.mean", "data.name", -1,
                  "data.mean has %d values but %s images have %d channel%s", d->mean.n,
                  data_name(c), ch, ch > 1 ? "s" : "");
    if (d->std.n != d->mean.n)
      return fail(f, "data.std", "data.mean", -1, "data.std has %d values but data.mean has %d",
                  d->std.n, d->mean.n);
  }
  if (config_applies(W_EVAL_KNN, c) && c->eval.knn_probe_size &&
      c->eval.knn_k > c->eval.knn_probe_size)
    return fail(f, "eval.knn_k", "eval.knn_probe_size", -1,
                "eval.knn_k (%d) exceeds eval.knn_probe_size (%d)", c->eval.knn_k,
                c->eval.knn_probe_size);
  return 0;
}

static int check_files(const Config *c, CheckFail *f, const char *key, StrList files) {
  for (int i = 0; i < files.n; i++) {
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", c->data.root, files.v[i]);
    if (stat(path, &st)) return fail(f, key, "data.root", i, "'%s' does not exist", path);
  }
  return 0;
}

static int check_paths(const Config *c, CheckFail *f) {
  if (!config_applies(W_FILE_DATA, c)) return 0;
  struct stat st;
  const char *root = c->data.root;
  if (!root || !*root)
    return fail(f, "data.root", "data.name", -1, "data.root must be set for data.name %s",
                data_name(c));
  if (stat(root, &st))
    return fail(f, "data.root", "data.name", -1, "data.root '%s' does not exist", root);
  if (!S_ISDIR(st.st_mode))
    return fail(f, "data.root", "data.name", -1, "data.root '%s' is not a directory", root);
  int rc = check_files(c, f, "data.train_files", c->data.train_files);
  if (!rc) rc = check_files(c, f, "data.test_files", c->data.test_files);
  if (rc) return rc;
  // The data set's own files (its standard names unless listed) must be there too: a folder
  // that exists but does not hold them fails here, not after a job's queue wait.
  RunSpec rs;
  Err e = {0};
  if (runspec_from_config(&rs, c, &e) || data_spec_check(&rs.data, &e))
    return fail(f, "data.root", "data.name", -1,
                "data.root '%s': a file of the %s data set is missing or damaged: %s", root,
                data_name(c), e.msg);
  return 0;
}

int config_check(const Config *c, int paths, CheckFail *f) {
  f->key = f->alt = -1;
  f->elem = -1;
  f->msg[0] = '\0';
  const IntList *s = &c->sweep.seeds;
  if (s->n == 0)
    return fail(f, "sweep.seeds", NULL, -1, "sweep.seeds is empty; give at least one seed");
  for (int i = 0; i < s->n; i++)
    for (int j = 0; j < i; j++)
      if (s->v[i] == s->v[j])
        return fail(f, "sweep.seeds", NULL, i, "seed %d is listed twice", s->v[i]);
  int rc = check_forget(c, f);
  if (!rc) rc = check_model(c, f);
  if (!rc) rc = check_train(c, f);
  if (!rc) rc = check_data(c, f);
  if (!rc && paths) rc = check_paths(c, f);
  return rc;
}
