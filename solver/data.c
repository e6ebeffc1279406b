// data.c: dataset_load (dispatch, checks, normalisation, augmentation), batches, epoch order.
// The file formats live in data_idx.c, data_cifar.c, data_hdf5.c, data_synth.c.
#include "data.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "rng.h"

// ----------------------------------------------------------------------------------------------
// spec

void data_spec_init(DataSpec *spec) {
  memset(spec, 0, sizeof *spec);
  snprintf(spec->name, sizeof spec->name, "synthetic");
  spec->norm = DATA_NORM_AUTO;
  spec->aug.crop_pad = -1;
  spec->aug.hflip = -1;
  spec->synth.n_train = 10000;
  spec->synth.n_test = 2000;
  spec->synth.classes = 10;
  spec->synth.c = 1;
  spec->synth.h = 28;
  spec->synth.w = 28;
  spec->synth.seed = 0;
  spec->synth.noise = 0.3f;
}

static int is_name(const DataSpec *spec, const char *name) {
  return !strcmp(spec->name, name);
}
static int is_idx(const DataSpec *spec) {
  return is_name(spec, "mnist") || is_name(spec, "fashion-mnist");
}
static int is_cifar(const DataSpec *spec) {
  return is_name(spec, "cifar10") || is_name(spec, "cifar100");
}

int data_join(char *out, const char *root, const char *name, Err *e) {
  int n = (name[0] == '/' || !root[0]) ? snprintf(out, DATA_PATH_MAX, "%s", name)
                                       : snprintf(out, DATA_PATH_MAX, "%s/%s", root, name);
  if (n < 0 || n >= DATA_PATH_MAX)
    return errf(e, ERR_CONFIG, "path too long (max %d): %s/%s", DATA_PATH_MAX - 1, root, name);
  return 0;
}

static int is_file(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int data_find(char *out, const char *root, const char *name, int gz, const char *const *subdirs,
              int n_subdirs, Err *e) {
  char tried[DATA_PATH_MAX * 2] = "";
  int n_tried = 0;
  for (int d = -1; d < n_subdirs; d++) {
    for (int z = 0; z <= (gz ? 1 : 0); z++) {
      char rel[DATA_PATH_MAX];
      int n = snprintf(rel, sizeof rel, "%s%s%s%s", d < 0 ? "" : subdirs[d], d < 0 ? "" : "/", name,
                       z ? ".gz" : "");
      if (n < 0 || n >= (int)sizeof rel) return errf(e, ERR_CONFIG, "path too long: %s", name);
      int rc = data_join(out, root, rel, e);
      if (rc) return rc;
      if (is_file(out)) return 0;
      size_t len = strlen(tried);
      snprintf(tried + len, sizeof tried - len, "%s%s", len ? ", " : "", out);
      n_tried++;
    }
  }
  out[0] = '\0';
  struct stat st;
  if (root[0] && name[0] != '/' && stat(root, &st) != 0)
    return errf(e, ERR_CONFIG, "%s: data root does not exist (looking for %s)", root, name);
  if (n_tried == 1) return errf(e, ERR_CONFIG, "%s: no such file", tried);
  return errf(e, ERR_CONFIG, "%s: no such file (tried %s)", name, tried);
}

// Resolves every file the spec names (defaults included) and checks its header and size
// (data_*_peek), so that a wrong root, name or file is found at config time.
static int check_files(const DataSpec *spec, Err *e) {
  if (is_idx(spec)) return data_idx_peek(spec, e);
  if (is_cifar(spec)) return data_cifar_peek(spec, e);
  if (is_name(spec, "hdf5")) return data_hdf5_peek(spec, e);
  return 0;
}

static int check_counts(const DataSpec *spec, Err *e) {
  if (spec->max_train < 0 || spec->max_test < 0)
    return errf(e, ERR_CONFIG, "max_train and max_test must be >= 0 (got %lld, %lld)",
                (long long)spec->max_train, (long long)spec->max_test);
  if (spec->n_train_files < 0 || spec->n_train_files > DATA_MAX_FILES || spec->n_test_files < 0 ||
      spec->n_test_files > DATA_MAX_FILES)
    return errf(e, ERR_CONFIG, "at most %d train and %d test files", DATA_MAX_FILES,
                DATA_MAX_FILES);
  if (is_idx(spec) && (spec->n_train_files % 2 || spec->n_test_files % 2 ||
                       spec->n_train_files > 2 || spec->n_test_files > 2))
    return errf(e, ERR_CONFIG, "%s: explicit files must be two per set: images, then labels",
                spec->name);
  if ((is_name(spec, "hdf5") || is_name(spec, "synthetic")) &&
      (spec->n_train_files || spec->n_test_files))
    return errf(e, ERR_CONFIG, "%s: takes no train/test file lists", spec->name);
  return 0;
}

static int check_norm_aug(const DataSpec *spec, Err *e) {
  if (spec->norm < DATA_NORM_AUTO || spec->norm > DATA_NORM_NONE)
    return errf(e, ERR_CONFIG, "unknown normalisation mode %d", spec->norm);
  if (spec->norm == DATA_NORM_EXPLICIT)
    for (int ch = 0; ch < DATA_MAX_CHANNELS; ch++)
      if (!(spec->std[ch] > 0) || !isfinite(spec->mean[ch]) || !isfinite(spec->std[ch]))
        return errf(e, ERR_CONFIG, "normalisation: std[%d] = %g must be > 0 (mean[%d] = %g)", ch,
                    spec->std[ch], ch, spec->mean[ch]);
  if (spec->aug.crop_pad < -1 || spec->aug.crop_pad > 64)
    return errf(e, ERR_CONFIG, "augmentation: crop padding must be in 0..64 (got %d)",
                spec->aug.crop_pad);
  if (spec->aug.hflip < -1 || spec->aug.hflip > 1)
    return errf(e, ERR_CONFIG, "augmentation: hflip must be 0 or 1 (got %d)", spec->aug.hflip);
  return 0;
}

int data_spec_check(const DataSpec *spec, Err *e) {
  if (!is_idx(spec) && !is_cifar(spec) && !is_name(spec, "hdf5") && !is_name(spec, "synthetic"))
    return errf(e, ERR_CONFIG,
                "unknown data set '%s' (expected mnist, fashion-mnist, cifar10, cifar100, hdf5 "
                "or synthetic)",
                spec->name);
  int rc = check_counts(spec, e);
  if (!rc) rc = check_norm_aug(spec, e);
  if (!rc && is_name(spec, "synthetic")) rc = data_synth_check(&spec->synth, e);
  if (!rc) rc = check_files(spec, e);
  return rc;
}

// ----------------------------------------------------------------------------------------------
// load

void imageset_free(ImageSet *s) {
  free(s->images);
  free(s->labels);
  memset(s, 0, sizeof *s);
}

void dataset_free(Dataset *d) {
  imageset_free(&d->train);
  imageset_free(&d->test);
  memset(d, 0, sizeof *d);
}

// Loaders check their own files; this checks what holds across them, as a last line of defence.
static int check_sets(const Dataset *d, Err *e) {
  const ImageSet *a = &d->train, *b = &d->test;
  if (a->n < 1 || b->n < 1)
    return errf(e, ERR_RUNTIME, "%s: empty set (train %lld, test %lld samples)", d->name,
                (long long)a->n, (long long)b->n);
  if (a->c != b->c || a->h != b->h || a->w != b->w || a->num_classes != b->num_classes)
    return errf(e, ERR_RUNTIME, "%s: train is [%d,%d,%d] with %d classes, test [%d,%d,%d] with %d",
                d->name, a->c, a->h, a->w, a->num_classes, b->c, b->h, b->w, b->num_classes);
  if (a->c < 1 || a->c > DATA_MAX_CHANNELS)
    return errf(e, ERR_RUNTIME, "%s: %d channels, expected 1..%d", d->name, a->c,
                DATA_MAX_CHANNELS);
  if (a->num_classes < 2)
    return errf(e, ERR_RUNTIME, "%s: %d classes, expected at least 2", d->name, a->num_classes);
  return 0;
}

int data_known_norm(const char *name, float *mean, float *std) {
  static const struct {
    const char *name;
    float mean[3], std[3];
  } known[] = {
      {"mnist", {0.1307f}, {0.3081f}},
      {"fashion-mnist", {0.2860f}, {0.3530f}},
      {"cifar10", {0.4914f, 0.4822f, 0.4465f}, {0.2470f, 0.2435f, 0.2616f}},
      {"cifar100", {0.5071f, 0.4865f, 0.4409f}, {0.2673f, 0.2564f, 0.2762f}},
  };
  for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
    if (!strcmp(name, known[i].name)) {
      memcpy(mean, known[i].mean, sizeof known[i].mean);
      memcpy(std, known[i].std, sizeof known[i].std);
      return 1;
    }
  return 0;
}

void data_channel_stats(const ImageSet *s, float *mean, float *std) {
  int64_t plane = (int64_t)s->h * s->w;
  for (int ch = 0; ch < s->c; ch++) {
    uint64_t sum = 0, sum2 = 0;  // exact: 255^2 * 2^40 pixels would still fit
    for (int64_t i = 0; i < s->n; i++) {
      const uint8_t *p = s->images + (i * s->c + ch) * plane;
      for (int64_t j = 0; j < plane; j++) {
        sum += p[j];
        sum2 += (uint64_t)p[j] * p[j];
      }
    }
    double cnt = (double)s->n * (double)plane, m = sum / cnt;
    double var = sum2 / cnt - m * m;
    double sd = sqrt(var > 0 ? var : 0) / 255.0;
    mean[ch] = (float)(m / 255.0);
    std[ch] = sd > 1e-6 ? (float)sd : 1.0f;
  }
}

static void resolve_norm(Dataset *d, const DataSpec *spec) {
  for (int ch = 0; ch < DATA_MAX_CHANNELS; ch++) d->mean[ch] = 0, d->std[ch] = 1;
  switch (spec->norm) {
    case DATA_NORM_EXPLICIT:
      memcpy(d->mean, spec->mean, sizeof d->mean);
      memcpy(d->std, spec->std, sizeof d->std);
      break;
    case DATA_NORM_NONE:
      break;
    case DATA_NORM_AUTO:
      if (!data_known_norm(spec->name, d->mean, d->std))
        data_channel_stats(&d->train, d->mean, d->std);
      break;
    default:
      data_channel_stats(&d->train, d->mean, d->std);
  }
}

static void resolve_aug(Dataset *d, const DataSpec *spec) {
  int cifar = is_cifar(spec);
  d->aug.crop_pad = spec->aug.crop_pad >= 0 ? spec->aug.crop_pad : (cifar ? 4 : 0);
  d->aug.hflip = spec->aug.hflip >= 0 ? spec->aug.hflip : cifar;
}

int dataset_load(Dataset *d, const DataSpec *spec, Err *e) {
  memset(d, 0, sizeof *d);
  int rc = data_spec_check(spec, e);
  if (rc) return rc;
  snprintf(d->name, sizeof d->name, "%s", spec->name);
  if (is_idx(spec))
    rc = data_load_idx(&d->train, &d->test, spec, e);
  else if (is_cifar(spec))
    rc = data_load_cifar(&d->train, &d->test, spec, e);
  else if (is_name(spec, "hdf5"))
    rc = data_load_hdf5(&d->train, &d->test, spec, e);
  else
    rc = data_load_synthetic(&d->train, &d->test, &spec->synth, spec->max_train, spec->max_test, e);
  if (!rc) rc = check_sets(d, e);
  if (rc) {
    dataset_free(d);
    return rc;
  }
  resolve_norm(d, spec);
  resolve_aug(d, spec);
  return 0;
}

// ----------------------------------------------------------------------------------------------
// batches

// One sample, out [c, h, w]: a crop at offset (oy, ox) of the image padded by p, then flipped.
// lut [c][256] maps a byte to its normalised value; pad is the value of a padding pixel.
static void put_sample(float *out, const uint8_t *img, int c, int h, int w, int p, int oy, int ox,
                       int flip, const float (*lut)[256]) {
  for (int ch = 0; ch < c; ch++) {
    const uint8_t *src = img + (int64_t)ch * h * w;
    for (int y = 0; y < h; y++) {
      float *row = out + ((int64_t)ch * h + y) * w;
      int sy = y + oy - p;
      if (sy < 0 || sy >= h) {
        for (int x = 0; x < w; x++) row[x] = lut[ch][0];
        continue;
      }
      for (int x = 0; x < w; x++) {
        int sx = (flip ? w - 1 - x : x) + ox - p;
        row[x] = lut[ch][(sx < 0 || sx >= w) ? 0 : src[(int64_t)sy * w + sx]];
      }
    }
  }
}

void data_batch(float *x, int32_t *y, const ImageSet *s, const float *mean, const float *std,
                const int32_t *idx, int B, const Augment *aug, uint64_t seed, uint64_t epoch,
                const int64_t *pos) {
  float lut[DATA_MAX_CHANNELS][256];
  for (int ch = 0; ch < s->c; ch++)
    for (int v = 0; v < 256; v++) lut[ch][v] = ((float)v / 255.0f - mean[ch]) / std[ch];
  int p = aug ? aug->crop_pad : 0, flip_on = aug ? aug->hflip : 0;
  uint64_t epoch_seed = rng_hash(seed, epoch);
  int64_t size = (int64_t)s->c * s->h * s->w;
  for (int b = 0; b < B; b++) {
    int oy = p, ox = p, flip = 0;  // no augmentation: the centre crop of the padded image
    if (p > 0 || flip_on) {
      Rng r = rng_derive(epoch_seed, RNG_AUGMENT, pos ? (uint64_t)pos[b] : (uint64_t)idx[b]);
      // Always draw in the same order, so that turning one part off leaves the other's draws.
      oy = (int)rng_below(&r, (uint32_t)(2 * p + 1));
      ox = (int)rng_below(&r, (uint32_t)(2 * p + 1));
      flip = flip_on && (rng_u64(&r) >> 63);
    }
    put_sample(x + b * size, s->images + (int64_t)idx[b] * size, s->c, s->h, s->w, p, oy, ox, flip,
               (const float(*)[256])lut);
    y[b] = s->labels[idx[b]];
  }
}

void data_epoch_order(int32_t *order, const int32_t *subset, int64_t n, uint64_t seed,
                      uint64_t epoch) {
  for (int64_t i = 0; i < n; i++) order[i] = subset ? subset[i] : (int32_t)i;
  Rng r = rng_derive(seed, RNG_ORDER, epoch);
  rng_shuffle(&r, order, n);
}
