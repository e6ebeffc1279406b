// split.c: forget splits (data.h). Which training samples are forgotten, and how the test set
// divides, deterministic from the seed and nothing else (not the rank count).
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data.h"
#include "rng.h"

enum { SPLIT_STREAM_CLASSES = 0, SPLIT_STREAM_SAMPLES = 1 };  // rng_derive(seed, RNG_SPLIT, .)

ForgetMode forget_mode(const ForgetSpec *spec) {
  return spec->random_fraction > 0  ? FORGET_RANDOM_FRACTION
         : spec->random_classes > 0 ? FORGET_RANDOM_CLASSES
                                    : FORGET_CLASSES;
}

static int check_classes(const IntList *cl, int num_classes, Err *e) {
  if (cl->n < 1) return errf(e, ERR_CONFIG, "forget.classes: empty; give at least one class");
  if (cl->n >= num_classes || cl->n > FORGET_MAX_CLASSES)
    return errf(e, ERR_CONFIG,
                "forget.classes: %d classes given, but the data set has %d: at most %d can be "
                "forgotten so that some are retained",
                cl->n, num_classes, num_classes - 1);
  for (int i = 0; i < cl->n; i++) {
    int c = cl->v[i];
    if (c < 0 || c >= num_classes)
      return errf(e, ERR_CONFIG, "forget.classes: class %d out of range [0, %d)", c, num_classes);
    for (int j = 0; j < i; j++)
      if (cl->v[j] == c) return errf(e, ERR_CONFIG, "forget.classes: class %d given twice", c);
  }
  return 0;
}

int forget_spec_check(const ForgetSpec *spec, int num_classes, Err *e) {
  switch (forget_mode(spec)) {
    case FORGET_CLASSES:
      return check_classes(&spec->classes, num_classes, e);
    case FORGET_RANDOM_CLASSES:
      if (spec->random_classes >= num_classes)
        return errf(e, ERR_CONFIG,
                    "forget.random_classes: %d, expected 1..%d (the data set has %d classes)",
                    spec->random_classes, num_classes - 1, num_classes);
      return 0;
    case FORGET_RANDOM_FRACTION:
      if (!(spec->random_fraction < 1))
        return errf(e, ERR_CONFIG, "forget.random_fraction: %g, expected a fraction in (0, 1)",
                    spec->random_fraction);
      return 0;
  }
  return 0;
}

// Marks the forgotten classes in fs->forget_class.
static void mark_classes(ForgetSplit *fs, const ForgetSpec *spec, uint64_t seed) {
  if (forget_mode(spec) == FORGET_CLASSES) {
    for (int i = 0; i < spec->classes.n; i++) fs->forget_class[spec->classes.v[i]] = 1;
    return;
  }
  int32_t perm[FORGET_MAX_CLASSES];  // num_classes <= FORGET_MAX_CLASSES, checked by the caller
  for (int c = 0; c < fs->num_classes; c++) perm[c] = c;
  Rng r = rng_derive(seed, RNG_SPLIT, SPLIT_STREAM_CLASSES);
  rng_shuffle(&r, perm, fs->num_classes);
  for (int i = 0; i < spec->random_classes; i++) fs->forget_class[perm[i]] = 1;
}

// Splits 0..n-1 by mask [n] into ascending *in (mask 1) and *out (mask 0).
static int partition(int32_t **in, int64_t *n_in, int32_t **out, int64_t *n_out,
                     const uint8_t *mask, int64_t n) {
  *n_in = 0;
  for (int64_t i = 0; i < n; i++) *n_in += mask[i];
  *n_out = n - *n_in;
  *in = malloc((size_t)(*n_in ? *n_in : 1) * sizeof **in);
  *out = malloc((size_t)(*n_out ? *n_out : 1) * sizeof **out);
  if (!*in || !*out) return ERR_RUNTIME;
  int64_t a = 0, b = 0;
  for (int64_t i = 0; i < n; i++) {
    if (mask[i])
      (*in)[a++] = (int32_t)i;
    else
      (*out)[b++] = (int32_t)i;
  }
  return 0;
}

// mask [n]: 1 for samples whose class is forgotten.
static void class_mask(uint8_t *mask, const ImageSet *s, const uint8_t *forget_class) {
  for (int64_t i = 0; i < s->n; i++) mask[i] = forget_class[s->labels[i]];
}

// mask [n]: 1 for round(fraction * n) samples (at least 1) drawn from the seed.
static void fraction_mask(uint8_t *mask, int64_t n, double fraction, uint64_t seed,
                          int32_t *scratch) {
  int64_t m = llround(fraction * (double)n);
  if (m < 1) m = 1;
  if (m > n) m = n;
  for (int64_t i = 0; i < n; i++) scratch[i] = (int32_t)i, mask[i] = 0;
  Rng r = rng_derive(seed, RNG_SPLIT, SPLIT_STREAM_SAMPLES);
  rng_shuffle(&r, scratch, n);
  for (int64_t i = 0; i < m; i++) mask[scratch[i]] = 1;
}

static int split_sets(ForgetSplit *fs, const ForgetSpec *spec, const ImageSet *train,
                      const ImageSet *test, uint64_t seed) {
  int64_t n_max = train->n > test->n ? train->n : test->n;
  uint8_t *mask = malloc((size_t)n_max);
  int32_t *scratch = malloc((size_t)train->n * sizeof *scratch);
  int rc = (!mask || !scratch) ? ERR_RUNTIME : 0;
  if (!rc) {
    if (forget_mode(spec) == FORGET_RANDOM_FRACTION)
      fraction_mask(mask, train->n, spec->random_fraction, seed, scratch);
    else
      class_mask(mask, train, fs->forget_class);
    rc = partition(&fs->train_forget, &fs->n_train_forget, &fs->train_retain, &fs->n_train_retain,
                   mask, train->n);
  }
  if (!rc) {
    // random_fraction forgets no class: the whole test set is "retained" (see data.h).
    if (forget_mode(spec) == FORGET_RANDOM_FRACTION)
      memset(mask, 0, (size_t)test->n);
    else
      class_mask(mask, test, fs->forget_class);
    rc = partition(&fs->test_forget, &fs->n_test_forget, &fs->test_retain, &fs->n_test_retain, mask,
                   test->n);
  }
  free(mask);
  free(scratch);
  return rc;
}

int forget_split_make(ForgetSplit *fs, const ForgetSpec *spec, const ImageSet *train,
                      const ImageSet *test, uint64_t seed, Err *e) {
  memset(fs, 0, sizeof *fs);
  int K = train->num_classes;
  if (K < 2 || K > FORGET_MAX_CLASSES || test->num_classes != K)
    return errf(e, ERR_CONFIG, "forget split: %d classes (test %d), expected 2..%d", K,
                test->num_classes, FORGET_MAX_CLASSES);
  int rc = forget_spec_check(spec, K, e);
  if (rc) return rc;
  fs->num_classes = K;
  fs->forget_class = calloc((size_t)K, 1);
  if (!fs->forget_class) return errf(e, ERR_RUNTIME, "forget split: out of memory");
  if (forget_mode(spec) != FORGET_RANDOM_FRACTION) mark_classes(fs, spec, seed);
  rc = split_sets(fs, spec, train, test, seed);
  if (rc)
    rc = errf(e, ERR_RUNTIME, "forget split: out of memory");
  else if (fs->n_train_forget == 0)
    rc = errf(e, ERR_CONFIG, "forget split: no training sample belongs to a forgotten class");
  else if (fs->n_train_retain == 0)
    rc = errf(e, ERR_CONFIG, "forget split: every training sample is forgotten; none retained");
  if (rc) forget_split_free(fs);
  return rc;
}

void forget_split_free(ForgetSplit *fs) {
  free(fs->forget_class);
  free(fs->train_forget);
  free(fs->train_retain);
  free(fs->test_forget);
  free(fs->test_retain);
  memset(fs, 0, sizeof *fs);
}
