// runspec.c: see runspec.h. The config's sections are the code's structs and are copied; the
// data section is resolved into the solver's DataSpec here.
#include "runspec.h"

#include <stdio.h>
#include <string.h>

// data.name's text, as the schema names it (and the solver takes it).
static const char *data_name(CfgDataName n) {
  return config_enum_name(&config_schema[config_key_index("data.name")], n);
}

static int copy_files(char dst[][DATA_PATH_MAX], int *n, const StrList *src, const char *key,
                      Err *e) {
  if (src->n > DATA_MAX_FILES)
    return errf(e, ERR_CONFIG, "%s: at most %d files, got %d", key, DATA_MAX_FILES, src->n);
  for (int i = 0; i < src->n; i++) snprintf(dst[i], DATA_PATH_MAX, "%s", src->v[i]);
  *n = src->n;
  return 0;
}

static int data_from_config(DataSpec *d, const DataCfg *c, Err *e) {
  data_spec_init(d);
  snprintf(d->name, sizeof d->name, "%s", data_name(c->name));
  snprintf(d->root, sizeof d->root, "%s", c->root ? c->root : "");
  if (c->name == CFG_DATA_HDF5) {
    // One file holds /train and /test: the first train file, else data.root itself.
    if (c->train_files.n > 0) snprintf(d->file, sizeof d->file, "%s", c->train_files.v[0]);
  } else if (copy_files(d->train_files, &d->n_train_files, &c->train_files, "data.train_files",
                        e) ||
             copy_files(d->test_files, &d->n_test_files, &c->test_files, "data.test_files", e)) {
    return e->code;
  }
  d->max_train = c->max_train, d->max_test = c->max_test;
  if (!c->normalize) {
    d->norm = DATA_NORM_NONE;
  } else if (c->mean.n > 0) {
    d->norm = DATA_NORM_EXPLICIT;
    for (int i = 0; i < DATA_MAX_CHANNELS; i++)  // the channels past the list: as they come
      d->mean[i] = 0, d->std[i] = 1;
    for (int i = 0; i < c->mean.n && i < DATA_MAX_CHANNELS; i++)
      d->mean[i] = (float)c->mean.v[i], d->std[i] = (float)c->std.v[i];
  }
  int crop = c->augment == CFG_AUG_CROP || c->augment == CFG_AUG_CROP_FLIP;
  int flip = c->augment == CFG_AUG_FLIP || c->augment == CFG_AUG_CROP_FLIP;
  d->aug.crop_pad = crop ? c->crop_padding : 0;
  d->aug.hflip = flip;
  const int K = c->synthetic.classes;
  d->synth.classes = K;
  d->synth.n_train = (int64_t)K * c->synthetic.train_per_class;
  d->synth.n_test = (int64_t)K * c->synthetic.test_per_class;
  d->synth.c = c->synthetic.channels;
  d->synth.h = d->synth.w = c->synthetic.size;
  d->synth.noise = (float)c->synthetic.noise;
  d->synth.seed = 0;  // the data set is the same for every seed of a sweep
  return 0;
}

void runspec_fixed(UnlearnSpec *u) {
  u->ec.cka_probe = 128;
  u->ec.pretrain.momentum = 0.9f, u->ec.pretrain.weight_decay = 5e-4f;
  u->ec.pretrain.supcon_temperature = 0.1f;  // SupCon's usual
  u->cu.lambda_cu = 3.0f, u->cu.lambda_ce = 1.0f;
}

int runspec_from_config(RunSpec *s, const Config *c, Err *e) {
  memset(s, 0, sizeof *s);
  s->seed = (uint64_t)c->seed;
  s->allow_reduced = c->data.allow_reduced;
  if (data_from_config(&s->data, &c->data, e)) return e->code;
  s->forget = c->forget;
  s->split_seed = c->forget.split_seed >= 0 ? (uint64_t)c->forget.split_seed : s->seed;
  s->model = c->model;
  s->train = c->train;
  s->unlearn = c->unlearn;
  s->unlearn.retrain = s->train;
  s->unlearn.ec = c->ec;
  runspec_fixed(&s->unlearn);
  s->eval = c->eval;
  s->eval.seed = s->seed;
  return 0;
}

ModelSpec runspec_model(const RunSpec *s, const Dataset *d, int batch_capacity) {
  ModelSpec m = {.arch = s->model.arch,
                 .in_c = d->train.c,
                 .in_h = d->train.h,
                 .in_w = d->train.w,
                 .num_classes = d->train.num_classes,
                 .batch_capacity = batch_capacity,
                 .width = s->model.width,
                 .patch = s->model.patch,
                 .window = s->model.window,
                 .stem = s->model.stem};
  return m;
}

int runspec_check_data(const RunSpec *s, const Dataset *d, Err *e) {
  static const struct {
    const char *name;
    int64_t train, test;
  } full[] = {{"mnist", 60000, 10000},
              {"fashion-mnist", 60000, 10000},
              {"cifar10", 50000, 10000},
              {"cifar100", 50000, 10000}};
  for (size_t i = 0; i < sizeof full / sizeof *full && !s->allow_reduced; i++) {
    if (strcmp(s->data.name, full[i].name)) continue;
    int64_t want_train = s->data.max_train > 0 ? s->data.max_train : full[i].train;
    int64_t want_test = s->data.max_test > 0 ? s->data.max_test : full[i].test;
    if (d->train.n < want_train || d->test.n < want_test)
      return errf(e, ERR_CONFIG,
                  "data %s in %s holds %lld training and %lld test images, not the full %lld and "
                  "%lld: set data.allow_reduced: true to use a sample",
                  s->data.name, s->data.root, (long long)d->train.n, (long long)d->test.n,
                  (long long)want_train, (long long)want_test);
  }
  return 0;
}
