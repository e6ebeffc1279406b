// data_synth.c: the synthetic data set (design in data.h, SynthSpec): smooth random class
// prototypes, shifted, blended, with contrast, brightness and noise. Fast (a few ns per pixel)
// because it is the quickstart's data, generated at every start rather than stored.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data.h"
#include "rng.h"

enum {
  SYNTH_GRID = 8,      // prototype = a GRID x GRID random grid, upsampled: smooth, few features
  SYNTH_PROTO_ID = 2,  // stream ids: (set << 40) | sample for samples, this << 40 for prototypes
};
static const float SYNTH_BLEND = 0.45f;  // max weight of the distracting other class

// Largest shift, in pixels: a fifth of the height, so that a fixed template (nearest class mean)
// misses often while a convolutional model, shift-invariant, does not.
static int synth_shift(int h) {
  return h / 5 > 1 ? h / 5 : 1;
}

int data_synth_check(const SynthSpec *s, Err *e) {
  if (s->n_train < 1 || s->n_test < 1)
    return errf(e, ERR_CONFIG, "synthetic: n_train and n_test must be >= 1 (got %lld, %lld)",
                (long long)s->n_train, (long long)s->n_test);
  if (s->n_train > INT32_MAX || s->n_test > INT32_MAX)
    return errf(e, ERR_CONFIG, "synthetic: n_train and n_test must be < 2^31");
  if (s->classes < 2 || s->classes > 1000)
    return errf(e, ERR_CONFIG, "synthetic: classes must be in 2..1000 (got %d)", s->classes);
  if (s->c < 1 || s->c > DATA_MAX_CHANNELS)
    return errf(e, ERR_CONFIG, "synthetic: c must be in 1..%d (got %d)", DATA_MAX_CHANNELS, s->c);
  if (s->h < 4 || s->w < 4 || s->h > 1024 || s->w > 1024)
    return errf(e, ERR_CONFIG, "synthetic: h and w must be in 4..1024 (got %d, %d)", s->h, s->w);
  if (!(s->noise >= 0 && s->noise <= 10))
    return errf(e, ERR_CONFIG, "synthetic: noise must be in [0, 10] (got %g)", s->noise);
  double shift = synth_shift(s->h);
  if ((double)s->classes * s->c * (s->h + 2 * shift) * (s->w + 2 * shift) * 4 > (double)(1u << 30))
    return errf(e, ERR_CONFIG, "synthetic: %d classes of %dx%dx%d need over 1 GiB of prototypes",
                s->classes, s->c, s->h, s->w);
  return 0;
}

typedef struct {
  int K, c, ph, pw, shift;  // prototypes [K, c, ph, pw]: (h + 2 shift) x (w + 2 shift)
  float *proto;
} Protos;

// Bilinear upsampling of grid [G, G] to out [ph, pw], corners aligned.
static void upsample(float *out, const float *grid, int ph, int pw) {
  for (int y = 0; y < ph; y++) {
    float gy = (float)y * (SYNTH_GRID - 1) / (float)(ph - 1);
    int y0 = gy >= SYNTH_GRID - 1 ? SYNTH_GRID - 2 : (int)gy;
    float fy = gy - (float)y0;
    for (int x = 0; x < pw; x++) {
      float gx = (float)x * (SYNTH_GRID - 1) / (float)(pw - 1);
      int x0 = gx >= SYNTH_GRID - 1 ? SYNTH_GRID - 2 : (int)gx;
      float fx = gx - (float)x0;
      const float *g = grid + y0 * SYNTH_GRID + x0;
      float top = g[0] + fx * (g[1] - g[0]);
      float bot = g[SYNTH_GRID] + fx * (g[SYNTH_GRID + 1] - g[SYNTH_GRID]);
      out[y * pw + x] = top + fy * (bot - top);
    }
  }
}

static int make_protos(Protos *p, const SynthSpec *sp, Err *e) {
  p->K = sp->classes, p->c = sp->c;
  p->shift = synth_shift(sp->h);
  p->ph = sp->h + 2 * p->shift, p->pw = sp->w + 2 * p->shift;
  size_t plane = (size_t)p->ph * p->pw;  // data_synth_check bounded K * c * plane
  p->proto = malloc((size_t)p->K * p->c * plane * sizeof(float));
  if (!p->proto) return errf(e, ERR_RUNTIME, "synthetic: out of memory");
  for (int kc = 0; kc < p->K * p->c; kc++) {
    Rng r = rng_derive(sp->seed, RNG_SYNTH, ((uint64_t)SYNTH_PROTO_ID << 40) | (uint64_t)kc);
    float grid[SYNTH_GRID * SYNTH_GRID];
    // Grid values pushed towards 0 and 1, so that prototypes have strong, distinct features.
    for (int i = 0; i < SYNTH_GRID * SYNTH_GRID; i++) {
      float u = 0.5f + 1.6f * (rng_uniform(&r) - 0.5f);
      grid[i] = u < 0 ? 0 : u > 1 ? 1 : u;
    }
    upsample(p->proto + kc * plane, grid, p->ph, p->pw);
  }
  return 0;
}

// About N(0, 1) from one draw: the sum of four 16-bit uniforms (Irwin-Hall), rescaled. Much
// cheaper than Box-Muller, and bounded (|z| <= 3.46), which is fine for pixel noise.
static float fast_normal(Rng *r) {
  uint64_t u = rng_u64(r);
  uint32_t sum = (uint32_t)(u & 0xffff) + (uint32_t)((u >> 16) & 0xffff) +
                 (uint32_t)((u >> 32) & 0xffff) + (uint32_t)(u >> 48);
  return ((float)sum * (1.0f / 65536.0f) - 2.0f) * 1.7320508f;
}

// One sample: out [c, h, w] bytes of class y; everything else drawn from r.
static void make_sample(uint8_t *out, int y, const Protos *p, int h, int w, float noise, Rng *r) {
  int span = 2 * p->shift + 1;
  int z = (y + 1 + (int)rng_below(r, (uint32_t)(p->K - 1))) % p->K;  // a different class
  int ay = (int)rng_below(r, span), ax = (int)rng_below(r, span);
  int by = (int)rng_below(r, span), bx = (int)rng_below(r, span);
  float beta = SYNTH_BLEND * rng_uniform(r);
  float contrast = 0.6f + 0.8f * rng_uniform(r), bright = 0.3f * (rng_uniform(r) - 0.5f);
  size_t plane = (size_t)p->ph * p->pw;
  for (int ch = 0; ch < p->c; ch++) {
    const float *py = p->proto + ((size_t)y * p->c + ch) * plane + (size_t)ay * p->pw + ax;
    const float *pz = p->proto + ((size_t)z * p->c + ch) * plane + (size_t)by * p->pw + bx;
    uint8_t *o = out + (size_t)ch * h * w;
    for (int i = 0; i < h; i++)
      for (int j = 0; j < w; j++) {
        float base = (1 - beta) * py[i * p->pw + j] + beta * pz[i * p->pw + j];
        float v = 0.5f + contrast * (base - 0.5f) + bright + noise * fast_normal(r);
        v = v < 0 ? 0 : v > 1 ? 1 : v;
        o[i * w + j] = (uint8_t)(v * 255.0f + 0.5f);
      }
  }
}

static int make_set(ImageSet *s, const Protos *p, const SynthSpec *sp, int64_t n, uint64_t set,
                    Err *e) {
  *s = (ImageSet){.n = n, .c = sp->c, .h = sp->h, .w = sp->w, .num_classes = sp->classes};
  size_t size = (size_t)sp->c * sp->h * sp->w;
  s->images = malloc((size_t)n * size);
  s->labels = malloc((size_t)n * sizeof *s->labels);
  if (!s->images || !s->labels) {
    imageset_free(s);
    return errf(e, ERR_RUNTIME, "synthetic: out of memory for %lld images", (long long)n);
  }
  for (int64_t i = 0; i < n; i++) {
    Rng r = rng_derive(sp->seed, RNG_SYNTH, (set << 40) | (uint64_t)i);
    s->labels[i] = (int32_t)(i % sp->classes);
    make_sample(s->images + i * size, s->labels[i], p, sp->h, sp->w, sp->noise, &r);
  }
  return 0;
}

int data_load_synthetic(ImageSet *train, ImageSet *test, const SynthSpec *spec, int64_t max_train,
                        int64_t max_test, Err *e) {
  memset(train, 0, sizeof *train);
  memset(test, 0, sizeof *test);
  Protos p = {0};
  int rc = data_synth_check(spec, e);
  if (!rc) rc = make_protos(&p, spec, e);
  int64_t n_train = max_train > 0 && max_train < spec->n_train ? max_train : spec->n_train;
  int64_t n_test = max_test > 0 && max_test < spec->n_test ? max_test : spec->n_test;
  if (!rc) rc = make_set(train, &p, spec, n_train, 0, e);
  if (!rc) rc = make_set(test, &p, spec, n_test, 1, e);
  free(p.proto);
  if (rc) {
    imageset_free(train);
    imageset_free(test);
  }
  return rc;
}
