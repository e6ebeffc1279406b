// given.c: a checkpoint given for a shared model (model.original, model.retrained), checked
// against a run's config before anything runs, and its content digest (see plan.h).
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "ckpt.h"
#include "data.h"
#include "metrics.h"
#include "plan.h"

static int failf(CheckFail *f, int key, const char *alt, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int failf(CheckFail *f, int key, const char *alt, const char *fmt, ...) {
  f->key = key, f->alt = alt ? config_key_index(alt) : -1, f->elem = -1;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(f->msg, sizeof f->msg, fmt, ap);
  va_end(ap);
  return ERR_CONFIG;
}

// "[0.1307, 0.3081]" of n floats into buf.
static const char *floats_text(const float *v, int n, char *buf, size_t size) {
  size_t k = (size_t)snprintf(buf, size, "[");
  for (int i = 0; i < n && k < size; i++)
    k += (size_t)snprintf(buf + k, size - k, i ? ", %g" : "%g", v[i]);
  if (k < size) snprintf(buf + k, size - k, "]");
  return buf;
}

// The normalisation the config gives its images, when known before loading: data.normalize
// false (0 and 1), data.mean and data.std, or a named data set's usual values. 0: measured on
// the training images when the data set loads (hdf5, synthetic), checked then.
static int config_norm(const Config *c, float *mean, float *std) {
  for (int i = 0; i < 4; i++) mean[i] = 0, std[i] = 1;
  if (!c->data.normalize) return 1;
  if (c->data.mean.n > 0) {
    for (int i = 0; i < c->data.mean.n && i < 4; i++)
      mean[i] = (float)c->data.mean.v[i], std[i] = (float)c->data.std.v[i];
    return 1;
  }
  const char *name = config_schema[config_key_index("data.name")].choices[c->data.name];
  return data_known_norm(name, mean, std);
}

// Whether the file's model has the shapes of the config's (model.width), its parameters alike.
static int same_shapes(const Model *file, const Model *want) {
  if (file->n_params != want->n_params) return 0;
  for (int i = 0; i < want->n_params; i++) {
    int j = model_find_param(file, want->params[i].name);
    if (j < 0 || file->params[j].ndim != want->params[i].ndim) return 0;
    for (int d = 0; d < want->params[i].ndim; d++)
      if (file->params[j].shape[d] != want->params[i].shape[d]) return 0;
  }
  return 1;
}

static int check_loaded(const Config *c, int key, const char *path, const Model *m,
                        const CkptMeta *meta, CheckFail *f) {
  const ModelSpec *s = &m->spec;
  const char *data = config_schema[config_key_index("data.name")].choices[c->data.name];
  if (s->arch != c->model.arch)
    return failf(f, key, "model.arch", "'%s' holds a %s, but model.arch is %s", path,
                 arch_name(s->arch), arch_name(c->model.arch));
  if (s->stem != c->model.stem)
    return failf(f, key, "model.stem", "'%s' holds a %s with the %s stem, but model.stem is %s",
                 path, arch_name(s->arch), stem_name(s->stem), stem_name(c->model.stem));
  int classes = config_num_classes(c), shape[3];
  config_image_shape(c, shape);
  if (classes && s->num_classes != classes)
    return failf(f, key, "data.name", "'%s' has %d classes, but %s has %d", path, s->num_classes,
                 data, classes);
  if (shape[0] && (s->in_c != shape[0] || s->in_h != shape[1] || s->in_w != shape[2]))
    return failf(f, key, "data.name", "'%s' takes %dx%dx%d images, but %s images are %dx%dx%d",
                 path, s->in_c, s->in_h, s->in_w, data, shape[0], shape[1], shape[2]);
  ModelSpec ws = *s;
  ws.width = c->model.width;
  if (s->arch == ARCH_SWIN_T) ws.patch = c->model.patch, ws.window = c->model.window;
  Model want;
  Err e = {0};
  if (model_create(&want, &ws, &e))
    return failf(f, key, NULL, "'%s': cannot build the config's model: %s", path, e.msg);
  int same = same_shapes(m, &want);
  model_free(&want);
  if (!same && s->arch == ARCH_SWIN_T && (s->patch != ws.patch || s->window != ws.window))
    return failf(f, key, s->patch != ws.patch ? "model.patch" : "model.window",
                 "'%s' holds a swin_t of patch %d and window %d, not of model.patch %d and "
                 "model.window %d",
                 path, s->patch, s->window, ws.patch, ws.window);
  if (!same)
    return failf(f, key, "model.width", "'%s' holds a %s of width %d, not of model.width %d%s",
                 path, arch_name(s->arch), s->width, c->model.width,
                 c->model.width ? "" : " (the architecture's own)");
  float mean[4], std[4];
  int n = s->in_c < 4 ? s->in_c : 4;
  if (config_norm(c, mean, std) && !ckpt_same_norm(meta, mean, std, n)) {
    char a[96], b[96], x[96], y[96];
    return failf(f, key, "data.mean",
                 "'%s' expects images normalised with mean %s and std %s, but the config "
                 "normalises with mean %s and std %s: set data.mean and data.std to the model's "
                 "(data.normalize false: 0 and 1)",
                 path, floats_text(meta->mean, n, a, sizeof a),
                 floats_text(meta->std, n, b, sizeof b), floats_text(mean, n, x, sizeof x),
                 floats_text(std, n, y, sizeof y));
  }
  return 0;
}

int plan_check_given(const Config *c, int key, uint64_t *digest, CheckFail *f) {
  const char *path =
      key == config_key_index("model.original") ? c->model.original : c->model.retrained;
  struct stat st;
  if (stat(path, &st) != 0) return failf(f, key, NULL, "'%s' does not exist", path);
  if (!S_ISREG(st.st_mode)) return failf(f, key, NULL, "'%s' is not a file", path);
  Model m;
  CkptMeta meta;
  Err e = {0};
  if (eval_load_model(&m, path, 0, 1, &meta, &e))
    return failf(f, key, NULL, "'%s' is not a usable ecore checkpoint: %s", path, e.msg);
  int rc = check_loaded(c, key, path, &m, &meta, f);
  if (!rc) *digest = plan_model_digest(&m, &meta);
  model_free(&m);
  return rc;
}
