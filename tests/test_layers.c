// test_layers.c: every layer in solver/layers.h against a naive double-precision reference.
//
// Method. For each layer, random (seeded) inputs and parameters, a fixed random R of the output's
// shape, and the scalar loss L = Σ out·R (so dout = R). Then:
// - forward: the float output against a naive implementation in double (direct convolution,
//   two-pass BN statistics, ...), elementwise: |got - want| <= 1e-4*|want| + 1e-5*max|want|;
// - backward: the analytic gradients against central finite differences of the double reference
//   loss, (L(x + h) - L(x - h))/2h with h = 1e-6 times the input scale. In double the
//   difference is exact to ~1e-9 relative (the layers are linear, or smooth away from ReLU/max
//   kinks, which random inputs do not sit within 1e-6 of), so the tolerance only has to absorb
//   the float arithmetic of the layer: |g - fd| <= 1e-3*|fd| + 1e-4*max|fd|. Small tensors are
//   checked at every entry, large ones at a seeded random subset;
// - conv also against a naive double adjoint (full backward) on shapes large enough that the
//   batch straddles the im2col chunk boundary, where finite differences would be too slow;
// - accumulation: gradient buffers start with random values and must come back as those values
//   plus the gradient, and two backward calls into zeroed buffers must give twice one call;
//   NULL input gradients are skipped without changing the parameter gradients.
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layercheck.h"
#include "layers.h"

// ----------------------------------------------------------------------------------------------
// layout

static void test_layout(void) {
  const int f0 = test_failures;
  const int B = 3, C = 5, H = 7, W = 37;  // W*H > one transpose tile, odd sizes
  const size_t n = (size_t)B * C * H * W;
  Rng r = test_rng(1);
  float *nchw = falloc(n), *nhwc = falloc(n), *back = falloc(n);
  fill_normal(nchw, n, &r, 1.0f);
  nchw_to_nhwc(nhwc, nchw, B, C, H, W);
  size_t bad = 0;
  for (int b = 0; b < B; b++)
    for (int c = 0; c < C; c++)
      for (int h = 0; h < H; h++)
        for (int w = 0; w < W; w++)
          bad += nhwc[(((size_t)b * H + h) * W + w) * C + c] !=
                 nchw[(((size_t)b * C + c) * H + h) * W + w];
  CHECK(bad == 0);
  nhwc_to_nchw(back, nhwc, B, C, H, W);
  CHECK(memcmp(back, nchw, sizeof(float) * n) == 0);
  // A wide-channel case (C > tile) round trip.
  const int C2 = 70, H2 = 5, W2 = 3;
  const size_t n2 = (size_t)2 * C2 * H2 * W2;
  float *a = falloc(n2), *t = falloc(n2), *a2 = falloc(n2);
  fill_normal(a, n2, &r, 1.0f);
  nhwc_to_nchw(t, a, 2, C2, H2, W2);
  CHECK(t[((size_t)1 * C2 + 41) * H2 * W2 + 2 * W2 + 1] == a[((1 * H2 + 2) * W2 + 1) * C2 + 41]);
  nchw_to_nhwc(a2, t, 2, C2, H2, W2);
  CHECK(memcmp(a2, a, sizeof(float) * n2) == 0);
  free(nchw), free(nhwc), free(back), free(a), free(t), free(a2);
  case_done("layout nchw<->nhwc", f0);
}

// ----------------------------------------------------------------------------------------------
// conv2d

static void ref_conv_forward(double *out, const double *in, const double *w, const double *bias,
                             const ConvShape *s) {
  const int Cg = s->C / s->groups, Og = s->O / s->groups;
  for (int b = 0; b < s->B; b++)
    for (int oh = 0; oh < s->OH; oh++)
      for (int ow = 0; ow < s->OW; ow++)
        for (int o = 0; o < s->O; o++) {
          const int g = o / Og;
          double acc = bias ? bias[o] : 0.0;
          for (int cg = 0; cg < Cg; cg++)
            for (int kh = 0; kh < s->KH; kh++)
              for (int kw = 0; kw < s->KW; kw++) {
                const int ih = oh * s->stride - s->pad + kh, iw = ow * s->stride - s->pad + kw;
                if (ih < 0 || ih >= s->H || iw < 0 || iw >= s->W) continue;
                acc += in[(((size_t)b * s->H + ih) * s->W + iw) * s->C + g * Cg + cg] *
                       w[(((size_t)o * Cg + cg) * s->KH + kh) * s->KW + kw];
              }
          out[(((size_t)b * s->OH + oh) * s->OW + ow) * s->O + o] = acc;
        }
}

// The adjoint of ref_conv_forward: din, dw, dbias := gradients of Σ out·dout.
static void ref_conv_backward(double *din, double *dw, double *dbias, const double *dout,
                              const double *in, const double *w, const ConvShape *s) {
  const int Cg = s->C / s->groups, Og = s->O / s->groups;
  memset(din, 0, sizeof(double) * s->B * s->H * s->W * s->C);
  memset(dw, 0, sizeof(double) * s->O * Cg * s->KH * s->KW);
  memset(dbias, 0, sizeof(double) * s->O);
  for (int b = 0; b < s->B; b++)
    for (int oh = 0; oh < s->OH; oh++)
      for (int ow = 0; ow < s->OW; ow++)
        for (int o = 0; o < s->O; o++) {
          const int g = o / Og;
          const double d = dout[(((size_t)b * s->OH + oh) * s->OW + ow) * s->O + o];
          dbias[o] += d;
          for (int cg = 0; cg < Cg; cg++)
            for (int kh = 0; kh < s->KH; kh++)
              for (int kw = 0; kw < s->KW; kw++) {
                const int ih = oh * s->stride - s->pad + kh, iw = ow * s->stride - s->pad + kw;
                if (ih < 0 || ih >= s->H || iw < 0 || iw >= s->W) continue;
                const size_t xi = (((size_t)b * s->H + ih) * s->W + iw) * s->C + g * Cg + cg;
                const size_t wi = (((size_t)o * Cg + cg) * s->KH + kh) * s->KW + kw;
                din[xi] += d * w[wi];
                dw[wi] += d * in[xi];
              }
        }
}

typedef struct {
  ConvShape s;
  double *in, *w, *bias, *R, *out;
} ConvCtx;

static double conv_ref_loss(void *p) {
  ConvCtx *c = p;
  ref_conv_forward(c->out, c->in, c->w, c->bias, &c->s);
  return dot_dd(c->out, c->R, (size_t)c->s.B * c->s.OH * c->s.OW * c->s.O);
}

static const char *algo_name(ConvAlgo a) {
  return a == CONV_AUTO ? "auto" : a == CONV_IM2COL ? "im2col" : a == CONV_WINOGRAD2 ? "F2" : "F4";
}

// One conv shape: forward against the naive conv, backward against its adjoint, and (fd) against
// finite differences, with the algorithms forced: fwd for the forward, data and weight for the
// two backward products (CONV_AUTO: conv_forward/conv_backward's own choice). straddle: the
// batch must span several chunks of samples (im2col), or blocks of tiles (Winograd, when fwd
// is one), the last one partial.
static void test_conv_algos(int B, int H, int W, int C, int O, int KH, int KW, int stride, int pad,
                            int groups, int fd, int straddle, ConvAlgo fwd, ConvAlgo data,
                            ConvAlgo weight) {
  char label[200], what[240];
  const int f0 = test_failures;
  snprintf(label, sizeof label, "conv B%d %dx%dx%d->%d k%dx%d s%d p%d g%d [%s/%s/%s]", B, H, W, C,
           O, KH, KW, stride, pad, groups, algo_name(fwd), algo_name(data), algo_name(weight));
  const ConvShape s = conv_shape(B, H, W, C, O, KH, KW, stride, pad, groups);
  const size_t n_in = (size_t)B * H * W * C, n_out = (size_t)B * s.OH * s.OW * O;
  const size_t n_w = (size_t)O * (C / groups) * KH * KW;
  const size_t n_scratch = conv_scratch_floats(&s);
  const int winograd = conv_winograd_applicable(&s, fwd);
  // im2col: samples per chunk. Winograd: tiles per block, of the forward/data passes and of the
  // weight pass; the chunk or block buffers stay bounded (<= 8M floats) unless one sample (for
  // im2col) or the minimum block alone needs more.
  int chunk;
  if (winograd) {
    const int mt = fwd == CONV_WINOGRAD2 ? 2 : 4;
    const int nf = stride == 1 ? (mt + 2) * (mt + 2) : (2 * mt + 1) * (2 * mt + 1);
    const int tiles = B * ((s.OH + mt - 1) / mt) * ((s.OW + mt - 1) / mt);
    const int tb = conv_winograd_block_tiles(&s, fwd, CONV_PASS_FORWARD);
    const int tw = conv_winograd_block_tiles(&s, fwd, CONV_PASS_WEIGHT);
    CHECK(tb >= 1 && tb <= tiles && tw >= tb && tw <= tiles);
    if (straddle) CHECK(tb < tiles && tiles % tb != 0 && tw < tiles && tiles % tw != 0);
    const size_t per_tile = (size_t)nf * ((C + 15) / 16 * 16 + (O + 15) / 16 * 16);
    CHECK(tw <= 32 || (size_t)tw * per_tile <= ((size_t)8 << 20));
    chunk = tb;
  } else {
    chunk = conv_chunk_samples(&s);
    CHECK(chunk >= 1 && chunk <= B);
    if (straddle) CHECK(chunk < B && B % chunk != 0);
    const size_t per_sample = (size_t)s.OH * s.OW * KH * KW * C;
    CHECK(chunk == 1 || (size_t)chunk * per_sample <= ((size_t)8 << 20));
  }
  // Scratch sized for B suffices for any smaller batch.
  for (int b = 1; b < B; b++) {
    ConvShape sb = s;
    sb.B = b;
    CHECK(conv_scratch_floats(&sb) <= n_scratch);
  }

  Rng r = test_rng(1000 + (uint64_t)B * 7919 + H * 131 + C * 17 + O * 5 + KH * 3 + groups);
  float *in = falloc(n_in), *w = falloc(n_w), *bias = falloc(O), *R = falloc(n_out);
  float *out = falloc(n_out), *scratch = malloc(sizeof(float) * (n_scratch ? n_scratch : 1));
  fill_normal(in, n_in, &r, 1.0f);
  fill_normal(w, n_w, &r, 1.0f / sqrtf((float)(C / groups) * KH * KW));
  fill_normal(bias, O, &r, 0.5f);
  fill_normal(R, n_out, &r, 1.0f);

  // forward, with and without bias
  ConvCtx ctx = {s,
                 to_double(in, n_in),
                 to_double(w, n_w),
                 to_double(bias, O),
                 to_double(R, n_out),
                 dalloc(n_out)};
  conv_forward_algo(out, in, w, bias, &s, scratch, fwd);
  ref_conv_forward(ctx.out, ctx.in, ctx.w, ctx.bias, &s);
  snprintf(what, sizeof what, "%s: out", label);
  // F(4x4)'s largest errors reach 1.5e-5 of the output's scale (C = 512); the others' 1e-6.
  const int f4 = winograd && fwd == CONV_WINOGRAD4;
  check_array(what, out, ctx.out, n_out, FWD_RTOL, f4 ? 5 * FWD_ATOL : FWD_ATOL);
  // The forward's rms error relative to the largest output: im2col and F(2x2) ~5e-8, F(4x4)
  // ~3e-7 (it grows with C). conv_forward uses only the first two: the forward pass feeds ReLU
  // masks and max-pool argmaxes, which an error of F(4x4)'s size flips near ties.
  double err2 = 0.0, maxabs = 0.0;
  for (size_t i = 0; i < n_out; i++) {
    err2 += (out[i] - ctx.out[i]) * (out[i] - ctx.out[i]);
    maxabs = fmax(maxabs, fabs(ctx.out[i]));
  }
  const double rms = sqrt(err2 / (double)n_out) / maxabs;
  if (!(rms <= (f4 ? 2e-6 : 3e-7))) {
    fprintf(stderr, "%s: forward rms error %.3g of the largest output\n", label, rms);
    test_failures++;
  }
  float *out_nb = falloc(n_out);
  conv_forward_algo(out_nb, in, w, NULL, &s, scratch, fwd);
  for (size_t i = 0; i < n_out; i++) out_nb[i] += bias[i % O];
  snprintf(what, sizeof what, "%s: out without bias + bias", label);
  check_array_f(what, out_nb, out, n_out, 1e-5, 1e-6);

  // backward into buffers holding random values: they must come back as base + gradient
  float *din = falloc(n_in), *dw = falloc(n_w), *db = falloc(O);
  fill_normal(din, n_in, &r, 1.0f);
  fill_normal(dw, n_w, &r, 1.0f);
  fill_normal(db, O, &r, 1.0f);
  float *din0 = copy_floats(din, n_in), *dw0 = copy_floats(dw, n_w), *db0 = copy_floats(db, O);
  conv_backward_algo(din, dw, db, R, in, w, &s, scratch, data, weight);
  subtract(din, din0, n_in);
  subtract(dw, dw0, n_w);
  subtract(db, db0, O);

  double *rdin = dalloc(n_in), *rdw = dalloc(n_w), *rdb = dalloc(O);
  ref_conv_backward(rdin, rdw, rdb, ctx.R, ctx.in, ctx.w, &s);
  snprintf(what, sizeof what, "%s: din vs adjoint", label);
  check_array(what, din, rdin, n_in, FD_RTOL, FD_ATOL);
  snprintf(what, sizeof what, "%s: dw vs adjoint", label);
  check_array(what, dw, rdw, n_w, FD_RTOL, FD_ATOL);
  snprintf(what, sizeof what, "%s: dbias vs adjoint", label);
  check_array(what, db, rdb, O, FD_RTOL, FD_ATOL);
  if (fd) {
    snprintf(what, sizeof what, "%s: din vs FD", label);
    check_grad(what, conv_ref_loss, &ctx, ctx.in, n_in, din, 1e-6);
    snprintf(what, sizeof what, "%s: dw vs FD", label);
    check_grad(what, conv_ref_loss, &ctx, ctx.w, n_w, dw, 1e-6);
    snprintf(what, sizeof what, "%s: dbias vs FD", label);
    check_grad(what, conv_ref_loss, &ctx, ctx.bias, O, db, 1e-6);
  }

  // two calls into zeroed buffers double the gradients; NULL din and dbias are skipped
  float *din2 = falloc(n_in), *dw2 = falloc(n_w), *db2 = falloc(O), *dw3 = falloc(n_w);
  conv_backward_algo(din2, dw2, db2, R, in, w, &s, scratch, data, weight);
  conv_backward_algo(din2, dw2, db2, R, in, w, &s, scratch, data, weight);
  snprintf(what, sizeof what, "%s: din twice", label);
  check_doubled(what, din2, din, n_in);
  snprintf(what, sizeof what, "%s: dw twice", label);
  check_doubled(what, dw2, dw, n_w);
  snprintf(what, sizeof what, "%s: dbias twice", label);
  check_doubled(what, db2, db, O);
  conv_backward_algo(NULL, dw3, NULL, R, in, w, &s, scratch, data, weight);
  snprintf(what, sizeof what, "%s: dw with NULL din, dbias", label);
  check_array_f(what, dw3, dw, n_w, 1e-5, 1e-6);
  // din alone: the same numbers as din2's first call, which computed dw too
  float *din3 = falloc(n_in), *din4 = falloc(n_in), *dw4 = falloc(n_w);
  conv_backward_algo(din3, NULL, NULL, R, in, w, &s, scratch, data, weight);
  conv_backward_algo(din4, dw4, NULL, R, in, w, &s, scratch, data, weight);
  if (memcmp(din3, din4, sizeof(float) * n_in)) {
    fprintf(stderr, "%s: din with NULL dw differs from din with dw\n", label);
    test_failures++;
  }

  snprintf(what, sizeof what, "%s (%s %d)", label, winograd ? "block" : "chunk", chunk);
  case_done(what, f0);
  free(in), free(w), free(bias), free(R), free(out), free(scratch), free(out_nb);
  free(ctx.in), free(ctx.w), free(ctx.bias), free(ctx.R), free(ctx.out);
  free(din), free(dw), free(db), free(din0), free(dw0), free(db0);
  free(rdin), free(rdw), free(rdb), free(din2), free(dw2), free(db2), free(dw3), free(din3),
      free(din4), free(dw4);
}

static void test_conv_case(int B, int H, int W, int C, int O, int KH, int KW, int stride, int pad,
                           int groups, int fd, int straddle) {
  test_conv_algos(B, H, W, C, O, KH, KW, stride, pad, groups, fd, straddle, CONV_IM2COL,
                  CONV_IM2COL, CONV_IM2COL);
}

// A 3x3 stride-1 pad-1 shape with every product done by Winograd F(2x2), then by F(4x4).
static void test_winograd_case(int B, int H, int W, int C, int O, int fd, int straddle) {
  test_conv_algos(B, H, W, C, O, 3, 3, 1, 1, 1, fd, straddle, CONV_WINOGRAD2, CONV_WINOGRAD2,
                  CONV_WINOGRAD2);
  test_conv_algos(B, H, W, C, O, 3, 3, 1, 1, 1, fd, straddle, CONV_WINOGRAD4, CONV_WINOGRAD4,
                  CONV_WINOGRAD4);
}

// conv_scratch_floats for a batch covers every smaller batch (models size the scratch once, for
// their capacity), also where the Winograd blocking changes with the batch (ResNet's last stage
// is "fused" up to 128 samples, not beyond).
static void test_conv_scratch(void) {
  const int f0 = test_failures;
  static const int shapes[][5] = {{4, 512, 512, 3, 1}, {8, 256, 256, 3, 1}, {32, 64, 64, 3, 1},
                                  {7, 128, 256, 3, 1}, {16, 64, 128, 3, 2}, {32, 64, 128, 1, 2},
                                  {28, 1, 32, 3, 1}};
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
    const int *d = shapes[i];
    const ConvShape big = conv_shape(300, d[0], d[0], d[1], d[2], d[3], d[3], d[4], d[3] / 2, 1);
    const size_t n = conv_scratch_floats(&big);
    for (int b = 1; b < 300; b++) {
      ConvShape sb = big;
      sb.B = b;
      CHECK(conv_scratch_floats(&sb) <= n);
    }
  }
  case_done("conv scratch covers smaller batches", f0);
}

// A 3x3 stride-2 pad-1 shape with every product done by Winograd F(2x2).
static void test_s2_case(int B, int H, int W, int C, int O, int fd, int straddle) {
  test_conv_algos(B, H, W, C, O, 3, 3, 2, 1, 1, fd, straddle, CONV_WINOGRAD2, CONV_WINOGRAD2,
                  CONV_WINOGRAD2);
}

// conv_product_flops counts what each algorithm multiplies, worked out by hand here: im2col
// 2*B*OH*OW*O*(C/g)*KH*KW; Winograd 2 * tiles * n² * (summed channels) * (output channels
// padded to 16): forward sums C into O, the two backward products O into C.
static void test_conv_product_flops(void) {
  const int f0 = test_failures;
  // 2 x 8x8x16 -> 40, 3x3/1: forward F(2x2): 2*16 tiles, 16 frequencies, 16 x 48 (40 padded)
  ConvShape s = conv_shape(2, 8, 8, 16, 40, 3, 3, 1, 1, 1);
  if (conv_algo(&s, CONV_PASS_FORWARD) == CONV_WINOGRAD2) {
    CHECK(conv_product_flops(&s, CONV_PASS_FORWARD) == 2.0 * 32 * 16 * 16 * 48);
    // the gradients F(4x4): 2*4 tiles, 36 frequencies, 40 x 16
    CHECK(conv_algo(&s, CONV_PASS_DATA) == CONV_WINOGRAD4);
    CHECK(conv_product_flops(&s, CONV_PASS_DATA) == 2.0 * 8 * 36 * 40 * 16);
    CHECK(conv_product_flops(&s, CONV_PASS_WEIGHT) == 2.0 * 8 * 36 * 40 * 16);
    // stride 2, 7x7 -> 4x4 outputs: 2*4 tiles of 2x2, 25 frequencies
    ConvShape s2 = conv_shape(2, 7, 7, 16, 40, 3, 3, 2, 1, 1);
    CHECK(conv_product_flops(&s2, CONV_PASS_FORWARD) == 2.0 * 8 * 25 * 16 * 48);
    CHECK(conv_product_flops(&s2, CONV_PASS_DATA) == 2.0 * 8 * 25 * 40 * 16);
  } else {  // no AVX-512: im2col throughout
    CHECK(conv_product_flops(&s, CONV_PASS_FORWARD) == 2.0 * 2 * 64 * 40 * 16 * 9);
  }
  // im2col: 3 input channels (too few for Winograd), and 1x1 stride 2 with groups 2
  ConvShape a = conv_shape(2, 8, 8, 3, 40, 3, 3, 1, 1, 1);
  CHECK(conv_algo(&a, CONV_PASS_WEIGHT) == CONV_IM2COL);
  CHECK(conv_product_flops(&a, CONV_PASS_WEIGHT) == 2.0 * 2 * 64 * 40 * 3 * 9);
  ConvShape p = conv_shape(3, 8, 8, 16, 32, 1, 1, 2, 0, 2);
  CHECK(conv_product_flops(&p, CONV_PASS_FORWARD) == 2.0 * 3 * 16 * 32 * 8);
  case_done("conv product flops", f0);
}

static void test_conv(void) {
  test_conv_scratch();
  test_conv_product_flops();
  // B, H, W, C, O, KH, KW, stride, pad, groups, fd, straddle
  test_conv_case(2, 5, 6, 3, 4, 3, 3, 1, 1, 1, 1, 0);  // 3x3, the common case
  test_conv_case(2, 7, 7, 4, 6, 3, 3, 2, 1, 2, 1, 0);  // stride 2, groups 2
  test_conv_case(3, 3, 4, 5, 3, 1, 1, 1, 0, 1, 1, 0);  // pointwise: no im2col
  test_conv_case(2, 3, 3, 4, 6, 1, 1, 1, 0, 2, 1, 0);  // pointwise, groups 2
  test_conv_case(2, 5, 5, 4, 3, 1, 1, 2, 0, 1, 1, 0);  // 1x1 stride 2 (ResNet downsample)
  test_conv_case(1, 7, 9, 3, 2, 5, 5, 1, 0, 1, 1, 0);  // 5x5, no padding
  test_conv_case(2, 8, 7, 2, 3, 5, 5, 2, 2, 1, 1, 0);  // 5x5 stride 2
  test_conv_case(2, 9, 9, 3, 4, 7, 7, 2, 3, 1, 1, 0);  // 7x7 stride 2 pad 3 (ResNet stem)
  test_conv_case(2, 5, 6, 5, 5, 3, 3, 1, 1, 5, 1, 0);  // depthwise
  test_conv_case(2, 7, 7, 4, 4, 3, 3, 2, 1, 4, 1, 0);  // depthwise, stride 2
  test_conv_case(1, 6, 5, 3, 6, 3, 3, 1, 1, 3, 1, 0);  // groups = C, 2 outputs per group
  test_conv_case(1, 4, 4, 2, 2, 1, 1, 1, 1, 1, 1, 0);  // padding wider than the kernel
  test_conv_case(1, 3, 3, 2, 3, 3, 3, 1, 3, 1, 1, 0);  // pad 3 on a 3x3 input
  test_conv_case(2, 4, 5, 3, 2, 1, 3, 1, 1, 1, 1, 0);  // non-square kernel
  test_conv_case(1, 1, 1, 3, 2, 3, 3, 1, 1, 1, 1, 0);  // 1x1 image, 3x3 kernel
  // Batches that straddle im2col chunks (the chunk size depends on the shape; each case checks
  // that the batch holds several chunks, the last one partial):
  test_conv_case(5, 24, 24, 32, 4, 5, 5, 1, 2, 1, 0, 1);    // 5x5
  test_conv_case(5, 24, 24, 32, 4, 5, 5, 1, 2, 2, 0, 1);    // the same with groups 2
  test_conv_case(5, 56, 56, 64, 4, 3, 3, 2, 1, 1, 0, 1);    // 3x3 stride 2
  test_conv_case(35, 4, 4, 256, 4, 3, 3, 1, 1, 1, 0, 1);    // tiny images: many samples a chunk
  test_conv_case(5, 24, 24, 64, 8, 1, 1, 1, 0, 1, 0, 0);    // large pointwise
  test_conv_case(3, 20, 20, 64, 64, 3, 3, 1, 1, 64, 0, 0);  // large depthwise
  // The im2col products on conv_gemm.c's micro-kernel (groups 1, at most 16 taps; forward and
  // weight gradient with O a multiple of 16, the input gradient with C one too; the rest, and
  // the shapes above that are not, take OpenBLAS): two panels of outputs, the last narrower;
  // stride 2 over several chunks; the strided 1x1 of a ResNet downsample; a stem with 3 input
  // channels (forward and weight on the micro-kernel, input gradient on OpenBLAS).
  test_conv_case(3, 9, 9, 16, 80, 3, 3, 1, 1, 1, 1, 0);
  test_conv_case(5, 56, 56, 32, 48, 3, 3, 2, 1, 1, 0, 1);
  test_conv_case(2, 8, 8, 32, 16, 1, 1, 2, 0, 1, 1, 0);
  test_conv_case(2, 6, 7, 3, 32, 3, 3, 1, 1, 1, 1, 0);
  test_conv_case(4, 28, 28, 1, 32, 3, 3, 1, 1, 1, 0, 0);

  // Winograd F(4x4, 3x3): every product, on images that are whole tiles (8x8, 4x4), partial
  // tiles (7x7, 5x6, 3x3, 2x2, 1x1), channel counts below, at and above the vector width of 16,
  // and not multiples of it.
  test_winograd_case(2, 8, 8, 3, 4, 1, 0);
  test_winograd_case(2, 5, 6, 3, 5, 1, 0);
  test_winograd_case(1, 7, 7, 17, 2, 1, 0);
  test_winograd_case(2, 3, 3, 2, 19, 1, 0);
  test_winograd_case(3, 1, 1, 5, 3, 1, 0);
  test_winograd_case(2, 2, 2, 4, 4, 1, 0);
  test_winograd_case(1, 4, 4, 33, 16, 1, 0);
  test_winograd_case(4, 7, 7, 64, 128, 0, 0);   // cnn4 layer3
  test_winograd_case(3, 3, 3, 128, 256, 0, 0);  // cnn4 layer4
  test_winograd_case(2, 32, 32, 64, 64, 0, 0);  // resnet layer1
  test_winograd_case(2, 4, 4, 512, 512, 0, 0);  // resnet layer4: the accuracy of long sums
  test_winograd_case(3, 5, 5, 250, 240, 0, 0);  // F(4x4) "fused" (kernels a panel at a time)
  // Batches that straddle Winograd blocks of tiles (splitting samples), the last one partial.
  test_winograd_case(11, 28, 28, 64, 48, 0, 1);
  test_winograd_case(17, 14, 14, 160, 40, 0, 1);
  // Each product by Winograd alone, the others by im2col (conv_backward mixes them per product),
  // and the automatic choice.
  test_conv_algos(2, 9, 7, 20, 24, 3, 3, 1, 1, 1, 1, 0, CONV_IM2COL, CONV_WINOGRAD4, CONV_IM2COL);
  test_conv_algos(2, 9, 7, 20, 24, 3, 3, 1, 1, 1, 1, 0, CONV_IM2COL, CONV_IM2COL, CONV_WINOGRAD4);
  test_conv_algos(2, 9, 7, 20, 24, 3, 3, 1, 1, 1, 0, 0, CONV_WINOGRAD2, CONV_WINOGRAD4,
                  CONV_WINOGRAD2);
  test_conv_algos(3, 16, 16, 32, 32, 3, 3, 1, 1, 1, 0, 0, CONV_AUTO, CONV_AUTO, CONV_AUTO);
  test_conv_algos(3, 8, 8, 32, 64, 3, 3, 2, 1, 1, 0, 0, CONV_WINOGRAD4, CONV_WINOGRAD4,
                  CONV_WINOGRAD2);  // stride 2: F(4x4) falls back to im2col, F(2x2) serves

  // Stride 2 (F(2x2) only: output tiles of 2x2 from 5x5 input windows that overlap by one):
  // whole and partial tiles, odd sizes, images smaller than a window, channels below and above
  // the vector width, the ResNet downsampling shapes (the last one "fused"), blocks straddled.
  test_s2_case(2, 8, 8, 3, 4, 1, 0);
  test_s2_case(2, 7, 7, 5, 3, 1, 0);
  test_s2_case(1, 5, 6, 17, 18, 1, 0);
  test_s2_case(2, 2, 2, 3, 2, 1, 0);
  test_s2_case(3, 1, 1, 2, 3, 1, 0);
  test_s2_case(2, 9, 3, 16, 33, 1, 0);
  test_s2_case(3, 32, 32, 64, 128, 0, 0);
  test_s2_case(2, 8, 8, 256, 512, 0, 0);
  test_s2_case(9, 32, 32, 64, 48, 0, 1);
  test_conv_algos(2, 9, 7, 20, 24, 3, 3, 2, 1, 1, 1, 0, CONV_IM2COL, CONV_WINOGRAD2, CONV_IM2COL);
  test_conv_algos(2, 9, 7, 20, 24, 3, 3, 2, 1, 1, 1, 0, CONV_WINOGRAD2, CONV_IM2COL, CONV_AUTO);
  test_conv_algos(3, 16, 16, 32, 32, 3, 3, 2, 1, 1, 0, 0, CONV_AUTO, CONV_AUTO, CONV_AUTO);
}

// ----------------------------------------------------------------------------------------------
// batchnorm

typedef struct {
  int N, C, relu, eval;
  float eps;
  double *x, *gamma, *beta, *R, *out;
  const double *run_mean, *run_var;  // eval mode
} BnCtx;

// Reference BN in double: training mode with two-pass batch statistics, or eval mode.
static void ref_bn_forward(BnCtx *c) {
  const int N = c->N, C = c->C;
  for (int ch = 0; ch < C; ch++) {
    double m, var;
    if (c->eval) {
      m = c->run_mean[ch];
      var = c->run_var[ch];
    } else {
      m = var = 0.0;
      for (int n = 0; n < N; n++) m += c->x[(size_t)n * C + ch];
      m /= N;
      for (int n = 0; n < N; n++) var += pow(c->x[(size_t)n * C + ch] - m, 2);
      var /= N;
    }
    const double rs = 1.0 / sqrt(var + c->eps);
    for (int n = 0; n < N; n++) {
      const size_t i = (size_t)n * C + ch;
      double v = c->gamma[ch] * (c->x[i] - m) * rs + c->beta[ch];
      c->out[i] = c->relu && v < 0.0 ? 0.0 : v;
    }
  }
}

static double bn_ref_loss(void *p) {
  BnCtx *c = p;
  ref_bn_forward(c);
  return dot_dd(c->out, c->R, (size_t)c->N * c->C);
}

// Random BN inputs: x with a per-channel offset and scale, so that centring matters.
static void bn_inputs(float *x, float *gamma, float *beta, float *R, int N, int C, Rng *r) {
  for (int c = 0; c < C; c++) {
    const float offset = 3.0f * rng_normal(r), scale = 0.5f + 2.0f * rng_uniform(r);
    for (int n = 0; n < N; n++) x[(size_t)n * C + c] = offset + scale * rng_normal(r);
  }
  fill_normal(gamma, C, r, 1.0f);
  fill_normal(beta, C, r, 1.0f);
  fill_normal(R, (size_t)N * C, r, 1.0f);
}

static void test_bn_train(int N, int C, int relu) {
  char label[96], what[160];
  const int f0 = test_failures;
  snprintf(label, sizeof label, "bn train N%d C%d relu%d", N, C, relu);
  const size_t n = (size_t)N * C;
  const float momentum = 0.1f, eps = 1e-5f;
  Rng r = test_rng(2000 + N * 31 + C * 3 + relu);
  float *x = falloc(n), *gamma = falloc(C), *beta = falloc(C), *R = falloc(n), *out = falloc(n);
  float *mean = falloc(C), *rstd = falloc(C), *rm = falloc(C), *rv = falloc(C);
  bn_inputs(x, gamma, beta, R, N, C, &r);
  for (int c = 0; c < C; c++) rm[c] = rng_normal(&r), rv[c] = 0.5f + rng_uniform(&r);
  float *rm0 = copy_floats(rm, C), *rv0 = copy_floats(rv, C);
  double *sums = dalloc(2 * C);

  // forward
  bn_stats(sums, x, N, C);
  bn_forward_train(out, mean, rstd, rm, rv, x, gamma, beta, sums, N, N, C, momentum, eps, relu);
  BnCtx ctx = {N,
               C,
               relu,
               0,
               eps,
               to_double(x, n),
               to_double(gamma, C),
               to_double(beta, C),
               to_double(R, n),
               dalloc(n),
               NULL,
               NULL};
  ref_bn_forward(&ctx);
  snprintf(what, sizeof what, "%s: out", label);
  check_array(what, out, ctx.out, n, FWD_RTOL, FWD_ATOL);
  double *want_mean = dalloc(C), *want_rstd = dalloc(C), *want_rm = dalloc(C), *want_rv = dalloc(C);
  for (int c = 0; c < C; c++) {
    double m = 0.0, var = 0.0;
    for (int i = 0; i < N; i++) m += x[(size_t)i * C + c];
    m /= N;
    for (int i = 0; i < N; i++) var += pow(x[(size_t)i * C + c] - m, 2);
    var /= N;
    want_mean[c] = m;
    want_rstd[c] = 1.0 / sqrt(var + eps);
    want_rm[c] = (1.0 - momentum) * rm0[c] + momentum * m;
    want_rv[c] = (1.0 - momentum) * rv0[c] + momentum * var * N / (N - 1);  // unbiased
  }
  snprintf(what, sizeof what, "%s: mean", label);
  check_array(what, mean, want_mean, C, 1e-5, 1e-6);
  snprintf(what, sizeof what, "%s: rstd", label);
  check_array(what, rstd, want_rstd, C, 1e-5, 0.0);
  snprintf(what, sizeof what, "%s: running_mean", label);
  check_array(what, rm, want_rm, C, 1e-5, 1e-6);
  snprintf(what, sizeof what, "%s: running_var", label);
  check_array(what, rv, want_rv, C, 1e-5, 0.0);
  if (relu) {
    size_t negative = 0;
    for (size_t i = 0; i < n; i++) negative += out[i] < 0.0f;
    CHECK(negative == 0);
  }

  // backward into random base values, against finite differences
  float *din = falloc(n), *dgamma = falloc(C), *dbeta = falloc(C);
  fill_normal(din, n, &r, 1.0f);
  fill_normal(dgamma, C, &r, 1.0f);
  fill_normal(dbeta, C, &r, 1.0f);
  float *din0 = copy_floats(din, n), *dg0 = copy_floats(dgamma, C), *db0 = copy_floats(dbeta, C);
  double *gsums = dalloc(2 * C);
  bn_backward_stats(gsums, dgamma, dbeta, R, out, x, mean, rstd, N, C, relu);
  bn_backward_apply(din, R, out, x, mean, rstd, gamma, gsums, N, N, C, relu);
  subtract(din, din0, n);
  subtract(dgamma, dg0, C);
  subtract(dbeta, db0, C);
  snprintf(what, sizeof what, "%s: din vs FD", label);
  check_grad(what, bn_ref_loss, &ctx, ctx.x, n, din, 1e-6);
  snprintf(what, sizeof what, "%s: dgamma vs FD", label);
  check_grad(what, bn_ref_loss, &ctx, ctx.gamma, C, dgamma, 1e-6);
  snprintf(what, sizeof what, "%s: dbeta vs FD", label);
  check_grad(what, bn_ref_loss, &ctx, ctx.beta, C, dbeta, 1e-6);

  // accumulation: twice into zeroed buffers
  float *din2 = falloc(n), *dg2 = falloc(C), *db2 = falloc(C);
  for (int k = 0; k < 2; k++) {
    bn_backward_stats(gsums, dg2, db2, R, out, x, mean, rstd, N, C, relu);
    bn_backward_apply(din2, R, out, x, mean, rstd, gamma, gsums, N, N, C, relu);
  }
  snprintf(what, sizeof what, "%s: din twice", label);
  check_doubled(what, din2, din, n);
  snprintf(what, sizeof what, "%s: dgamma twice", label);
  check_doubled(what, dg2, dgamma, C);
  snprintf(what, sizeof what, "%s: dbeta twice", label);
  check_doubled(what, db2, dbeta, C);
  bn_backward_apply(NULL, R, out, x, mean, rstd, gamma, gsums, N, N, C, relu);  // skipped

  // Two "ranks" holding rows [0, N1) and [N1, N): local sums added (the allreduce) must
  // reproduce the whole batch's statistics, outputs, running stats and gradients.
  const int N1 = N / 2 - 1, N2 = N - N1;
  const size_t off = (size_t)N1 * C;
  double *sa = dalloc(2 * C), *sb = dalloc(2 * C);
  bn_stats(sa, x, N1, C);
  bn_stats(sb, x + off, N2, C);
  for (int i = 0; i < 2 * C; i++) sa[i] += sb[i];
  for (int i = 0; i < 2 * C; i++) CHECK_CLOSE(sa[i], sums[i], 1e-12, 1e-12 * N);
  float *out_s = falloc(n), *mean_s = falloc(C), *rstd_s = falloc(C);
  float *rm_a = copy_floats(rm0, C), *rv_a = copy_floats(rv0, C);
  float *rm_b = copy_floats(rm0, C), *rv_b = copy_floats(rv0, C);
  bn_forward_train(out_s, mean_s, rstd_s, rm_a, rv_a, x, gamma, beta, sa, N, N1, C, momentum, eps,
                   relu);
  bn_forward_train(out_s + off, mean_s, rstd_s, rm_b, rv_b, x + off, gamma, beta, sa, N, N2, C,
                   momentum, eps, relu);
  snprintf(what, sizeof what, "%s: split out", label);
  check_array_f(what, out_s, out, n, 1e-5, 1e-6);
  snprintf(what, sizeof what, "%s: split running_mean (rank 0)", label);
  check_array_f(what, rm_a, rm, C, 1e-6, 1e-7);
  snprintf(what, sizeof what, "%s: split running_var (rank 1)", label);
  check_array_f(what, rv_b, rv, C, 1e-6, 0.0);
  float *din_s = falloc(n), *dg_s = falloc(C), *db_s = falloc(C);
  bn_backward_stats(sa, dg_s, db_s, R, out_s, x, mean_s, rstd_s, N1, C, relu);
  bn_backward_stats(sb, dg_s, db_s, R + off, out_s + off, x + off, mean_s, rstd_s, N2, C, relu);
  for (int i = 0; i < 2 * C; i++) sa[i] += sb[i];
  bn_backward_apply(din_s, R, out_s, x, mean_s, rstd_s, gamma, sa, N, N1, C, relu);
  bn_backward_apply(din_s + off, R + off, out_s + off, x + off, mean_s, rstd_s, gamma, sa, N, N2, C,
                    relu);
  snprintf(what, sizeof what, "%s: split din", label);
  check_array_f(what, din_s, din, n, 1e-4, 1e-5);
  snprintf(what, sizeof what, "%s: split dgamma", label);
  check_array_f(what, dg_s, dgamma, C, 1e-5, 1e-6);
  snprintf(what, sizeof what, "%s: split dbeta", label);
  check_array_f(what, db_s, dbeta, C, 1e-5, 1e-6);

  case_done(label, f0);
  free(x), free(gamma), free(beta), free(R), free(out), free(mean), free(rstd), free(rm), free(rv);
  free(rm0), free(rv0), free(sums), free(ctx.x), free(ctx.gamma), free(ctx.beta), free(ctx.R);
  free(ctx.out), free(want_mean), free(want_rstd), free(want_rm), free(want_rv);
  free(din), free(dgamma), free(dbeta), free(din0), free(dg0), free(db0), free(gsums);
  free(din2), free(dg2), free(db2), free(sa), free(sb), free(out_s), free(mean_s), free(rstd_s);
  free(rm_a), free(rv_a), free(rm_b), free(rv_b), free(din_s), free(dg_s), free(db_s);
}

static void test_bn_eval(int N, int C, int relu) {
  char label[96], what[160];
  const int f0 = test_failures;
  snprintf(label, sizeof label, "bn eval N%d C%d relu%d", N, C, relu);
  const size_t n = (size_t)N * C;
  const float eps = 1e-5f;
  Rng r = test_rng(3000 + N * 31 + C * 3 + relu);
  float *x = falloc(n), *gamma = falloc(C), *beta = falloc(C), *R = falloc(n), *out = falloc(n);
  float *rm = falloc(C), *rv = falloc(C);
  bn_inputs(x, gamma, beta, R, N, C, &r);
  for (int c = 0; c < C; c++) rm[c] = 2.0f * rng_normal(&r), rv[c] = 0.2f + 3.0f * rng_uniform(&r);
  bn_forward_eval(out, x, gamma, beta, rm, rv, N, C, eps, relu);
  BnCtx ctx = {N,
               C,
               relu,
               1,
               eps,
               to_double(x, n),
               to_double(gamma, C),
               to_double(beta, C),
               to_double(R, n),
               dalloc(n),
               to_double(rm, C),
               to_double(rv, C)};
  ref_bn_forward(&ctx);
  snprintf(what, sizeof what, "%s: out", label);
  check_array(what, out, ctx.out, n, FWD_RTOL, FWD_ATOL);

  float *din = falloc(n), *dgamma = falloc(C), *dbeta = falloc(C);
  fill_normal(din, n, &r, 1.0f);
  fill_normal(dgamma, C, &r, 1.0f);
  fill_normal(dbeta, C, &r, 1.0f);
  float *din0 = copy_floats(din, n), *dg0 = copy_floats(dgamma, C), *db0 = copy_floats(dbeta, C);
  bn_backward_eval(din, dgamma, dbeta, R, out, x, gamma, rm, rv, N, C, eps, relu);
  subtract(din, din0, n);
  subtract(dgamma, dg0, C);
  subtract(dbeta, db0, C);
  snprintf(what, sizeof what, "%s: din vs FD", label);
  check_grad(what, bn_ref_loss, &ctx, ctx.x, n, din, 1e-6);
  snprintf(what, sizeof what, "%s: dgamma vs FD", label);
  check_grad(what, bn_ref_loss, &ctx, ctx.gamma, C, dgamma, 1e-6);
  snprintf(what, sizeof what, "%s: dbeta vs FD", label);
  check_grad(what, bn_ref_loss, &ctx, ctx.beta, C, dbeta, 1e-6);

  // twice doubles; each output may be NULL on its own
  float *din2 = falloc(n), *dg2 = falloc(C), *db2 = falloc(C);
  bn_backward_eval(din2, dg2, db2, R, out, x, gamma, rm, rv, N, C, eps, relu);
  bn_backward_eval(din2, dg2, db2, R, out, x, gamma, rm, rv, N, C, eps, relu);
  snprintf(what, sizeof what, "%s: din twice", label);
  check_doubled(what, din2, din, n);
  snprintf(what, sizeof what, "%s: dgamma twice", label);
  check_doubled(what, dg2, dgamma, C);
  float *din3 = falloc(n), *dg3 = falloc(C), *db3 = falloc(C);
  bn_backward_eval(din3, NULL, NULL, R, out, x, gamma, rm, rv, N, C, eps, relu);
  bn_backward_eval(NULL, dg3, NULL, R, out, x, gamma, rm, rv, N, C, eps, relu);
  bn_backward_eval(NULL, NULL, db3, R, out, x, gamma, rm, rv, N, C, eps, relu);
  snprintf(what, sizeof what, "%s: din alone", label);
  check_array_f(what, din3, din, n, 1e-6, 1e-7);
  snprintf(what, sizeof what, "%s: dgamma alone", label);
  check_array_f(what, dg3, dgamma, C, 1e-6, 1e-7);
  snprintf(what, sizeof what, "%s: dbeta alone", label);
  check_array_f(what, db3, dbeta, C, 1e-6, 1e-7);

  case_done(label, f0);
  free(x), free(gamma), free(beta), free(R), free(out), free(rm), free(rv);
  free(ctx.x), free(ctx.gamma), free(ctx.beta), free(ctx.R), free(ctx.out);
  free((double *)ctx.run_mean), free((double *)ctx.run_var);
  free(din), free(dgamma), free(dbeta), free(din0), free(dg0), free(db0);
  free(din2), free(dg2), free(db2), free(din3), free(dg3), free(db3);
}

static void test_bn(void) {
  test_bn_train(36, 5, 0);   // B=4, 3x3
  test_bn_train(36, 5, 1);   // fused ReLU
  test_bn_train(7, 3, 0);    // tiny batch: the unbiased correction matters
  test_bn_train(8, 300, 1);  // more channels than one tile
  test_bn_eval(36, 5, 0);
  test_bn_eval(36, 5, 1);
  test_bn_eval(6, 300, 0);
}

// ----------------------------------------------------------------------------------------------
// pooling

typedef struct {
  int B, H, W, C, k, s, p, OH, OW;
  double *in, *R;
} PoolCtx;

// Reference max pool in double: the first maximum of each window's cells inside the image, as
// PyTorch (its padding is -inf).
static void ref_maxpool(double *out, int32_t *arg, const PoolCtx *c) {
  for (int b = 0; b < c->B; b++)
    for (int oh = 0; oh < c->OH; oh++)
      for (int ow = 0; ow < c->OW; ow++)
        for (int ch = 0; ch < c->C; ch++) {
          double best = -INFINITY;
          int32_t bi = -1;
          for (int i = 0; i < c->k; i++)
            for (int j = 0; j < c->k; j++) {
              const int y = oh * c->s - c->p + i, x = ow * c->s - c->p + j;
              if (y < 0 || y >= c->H || x < 0 || x >= c->W) continue;
              const int32_t idx = y * c->W + x;
              const double v = c->in[((size_t)b * c->H * c->W + idx) * c->C + ch];
              if (v > best) best = v, bi = idx;
            }
          const size_t o = (((size_t)b * c->OH + oh) * c->OW + ow) * c->C + ch;
          if (out) out[o] = best;
          if (arg) arg[o] = bi;
        }
}

static double maxpool_ref_loss(void *p) {
  PoolCtx *c = p;
  const size_t n_out = (size_t)c->B * c->OH * c->OW * c->C;
  double *out = dalloc(n_out);
  ref_maxpool(out, NULL, c);
  const double l = dot_dd(out, c->R, n_out);
  free(out);
  return l;
}

static void test_maxpool_case(int B, int H, int W, int C, int k, int s, int p, int OH, int OW) {
  char label[96], what[160];
  const int f0 = test_failures;
  snprintf(label, sizeof label, "maxpool B%d %dx%dx%d k%d s%d p%d", B, H, W, C, k, s, p);
  PoolCtx ctx = {B, H, W, C, k, s, p, (H + 2 * p - k) / s + 1, (W + 2 * p - k) / s + 1, NULL, NULL};
  CHECK(ctx.OH == OH && ctx.OW == OW);  // floor mode
  const size_t n_in = (size_t)B * H * W * C, n_out = (size_t)B * OH * OW * C;
  Rng r = test_rng(4000 + H * 17 + C * 3 + k);
  float *in = falloc(n_in), *out = falloc(n_out), *R = falloc(n_out), *din = falloc(n_in);
  int32_t *arg = xcalloc(n_out, sizeof(int32_t)), *want_arg = xcalloc(n_out, sizeof(int32_t));
  fill_normal(in, n_in, &r, 1.0f);
  fill_normal(R, n_out, &r, 1.0f);
  fill_normal(din, n_in, &r, 1.0f);
  float *din0 = copy_floats(din, n_in);
  ctx.in = to_double(in, n_in);
  ctx.R = to_double(R, n_out);
  double *want = dalloc(n_out);
  maxpool_forward(out, arg, in, B, H, W, C, k, s, p);
  ref_maxpool(want, want_arg, &ctx);
  snprintf(what, sizeof what, "%s: out", label);
  check_array(what, out, want, n_out, 0.0, 0.0);
  CHECK(memcmp(arg, want_arg, sizeof(int32_t) * n_out) == 0);
  maxpool_backward(din, R, arg, B, H, W, C, k, s, p);
  subtract(din, din0, n_in);
  snprintf(what, sizeof what, "%s: din vs FD", label);
  check_grad(what, maxpool_ref_loss, &ctx, ctx.in, n_in, din, 1e-6);
  float *din2 = falloc(n_in);
  maxpool_backward(din2, R, arg, B, H, W, C, k, s, p);
  maxpool_backward(din2, R, arg, B, H, W, C, k, s, p);
  snprintf(what, sizeof what, "%s: din twice", label);
  check_doubled(what, din2, din, n_in);
  case_done(label, f0);
  free(in), free(out), free(R), free(din), free(arg), free(want_arg), free(din0), free(ctx.in);
  free(ctx.R), free(want), free(din2);
}

static void test_maxpool_ties_nan(void) {
  const int f0 = test_failures;
  // A constant image: every window's maximum is its first element (PyTorch's choice).
  const int H = 5, W = 5, C = 3, k = 3, s = 2;
  float in[5 * 5 * 3], out[2 * 2 * 3], dout[2 * 2 * 3], din[5 * 5 * 3] = {0};
  int32_t arg[2 * 2 * 3];
  for (int i = 0; i < H * W * C; i++) in[i] = 1.5f;
  for (int i = 0; i < 12; i++) dout[i] = 1.0f;
  maxpool_forward(out, arg, in, 1, H, W, C, k, s, 0);
  for (int oh = 0; oh < 2; oh++)
    for (int ow = 0; ow < 2; ow++)
      for (int c = 0; c < C; c++) {
        CHECK(arg[(oh * 2 + ow) * C + c] == oh * 2 * W + ow * 2);
        CHECK(out[(oh * 2 + ow) * C + c] == 1.5f);
      }
  maxpool_backward(din, dout, arg, 1, H, W, C, k, s, 0);
  CHECK(din[(2 * W + 2) * C + 1] == 1.0f);  // (2,2) starts the last window only
  CHECK(din[(1 * W + 1) * C + 1] == 0.0f);
  // A NaN in a window makes that window's output NaN (so divergence stays visible).
  in[(1 * W + 1) * C + 2] = NAN;
  maxpool_forward(out, arg, in, 1, H, W, C, k, s, 0);
  CHECK(isnan(out[2]));
  CHECK(out[3 * C + 2] == 1.5f);  // window (1,1) does not contain (1,1)
  case_done("maxpool ties and NaN", f0);
}

// Padding is -inf, never zero: on an image of negative values a zero-padded pool would output 0
// at the border; the first in-image pixel of each window wins the ties (the ImageNet stem's
// 3x3 stride 2 padding 1 pool, 5x5 -> 3x3).
static void test_maxpool_padding(void) {
  const int f0 = test_failures;
  const int H = 5, W = 5, C = 2, k = 3, s = 2, p = 1;
  float in[5 * 5 * 2], out[3 * 3 * 2];
  int32_t arg[3 * 3 * 2];
  for (int i = 0; i < H * W * C; i++) in[i] = -2.0f;
  maxpool_forward(out, arg, in, 1, H, W, C, k, s, p);
  for (int oh = 0; oh < 3; oh++)
    for (int ow = 0; ow < 3; ow++) {
      const int y0 = oh * s - p < 0 ? 0 : oh * s - p, x0 = ow * s - p < 0 ? 0 : ow * s - p;
      for (int c = 0; c < C; c++) {
        CHECK(out[(oh * 3 + ow) * C + c] == -2.0f);
        CHECK(arg[(oh * 3 + ow) * C + c] == y0 * W + x0);
      }
    }
  case_done("maxpool padding never wins", f0);
}

typedef struct {
  int B, HW, C;
  double *in, *R;
} AvgCtx;

static double avgpool_ref_loss(void *p) {
  AvgCtx *c = p;
  double l = 0.0;
  for (int b = 0; b < c->B; b++)
    for (int ch = 0; ch < c->C; ch++) {
      double m = 0.0;
      for (int i = 0; i < c->HW; i++) m += c->in[((size_t)b * c->HW + i) * c->C + ch];
      l += m / c->HW * c->R[(size_t)b * c->C + ch];
    }
  return l;
}

static void test_avgpool(int B, int HW, int C) {
  char label[96], what[160];
  const int f0 = test_failures;
  snprintf(label, sizeof label, "avgpool B%d HW%d C%d", B, HW, C);
  const size_t n_in = (size_t)B * HW * C, n_out = (size_t)B * C;
  Rng r = test_rng(5000 + HW + C);
  float *in = falloc(n_in), *out = falloc(n_out), *R = falloc(n_out), *din = falloc(n_in);
  fill_normal(in, n_in, &r, 1.0f);
  fill_normal(R, n_out, &r, 1.0f);
  fill_normal(din, n_in, &r, 1.0f);
  float *din0 = copy_floats(din, n_in);
  AvgCtx ctx = {B, HW, C, to_double(in, n_in), to_double(R, n_out)};
  avgpool_forward(out, in, B, HW, C);
  double *want = dalloc(n_out);
  for (int b = 0; b < B; b++)
    for (int c = 0; c < C; c++) {
      for (int i = 0; i < HW; i++) want[(size_t)b * C + c] += ctx.in[((size_t)b * HW + i) * C + c];
      want[(size_t)b * C + c] /= HW;
    }
  snprintf(what, sizeof what, "%s: out", label);
  check_array(what, out, want, n_out, FWD_RTOL, FWD_ATOL);
  avgpool_backward(din, R, B, HW, C);
  subtract(din, din0, n_in);
  snprintf(what, sizeof what, "%s: din vs FD", label);
  check_grad(what, avgpool_ref_loss, &ctx, ctx.in, n_in, din, 1e-6);
  float *din2 = falloc(n_in);
  avgpool_backward(din2, R, B, HW, C);
  avgpool_backward(din2, R, B, HW, C);
  snprintf(what, sizeof what, "%s: din twice", label);
  check_doubled(what, din2, din, n_in);
  case_done(label, f0);
  free(in), free(out), free(R), free(din), free(din0), free(ctx.in), free(ctx.R), free(want);
  free(din2);
}

static void test_pool(void) {
  test_maxpool_case(2, 7, 7, 3, 2, 2, 0, 3, 3);   // floor mode: 7x7 -> 3x3, last row/col dropped
  test_maxpool_case(2, 7, 7, 5, 3, 2, 0, 3, 3);   // overlapping windows
  test_maxpool_case(1, 8, 6, 17, 3, 3, 0, 2, 2);  // non-square, odd channel count
  test_maxpool_case(3, 4, 4, 1, 2, 2, 0, 2, 2);
  test_maxpool_case(2, 8, 8, 3, 3, 2, 1, 4, 4);  // the ImageNet stem's pool: k3 s2 p1
  test_maxpool_case(1, 7, 6, 5, 3, 2, 1, 4, 3);  // odd sizes: windows past both borders
  test_maxpool_ties_nan();
  test_maxpool_padding();
  test_avgpool(3, 49, 5);
  test_avgpool(2, 1, 7);
  test_avgpool(2, 16, 64);
}

// ----------------------------------------------------------------------------------------------
// linear

typedef struct {
  int B, I, O;
  double *in, *w, *bias, *R;
} LinCtx;

static double linear_ref_loss(void *p) {
  LinCtx *c = p;
  double l = 0.0;
  for (int b = 0; b < c->B; b++)
    for (int o = 0; o < c->O; o++) {
      double acc = c->bias[o];
      for (int i = 0; i < c->I; i++)
        acc += c->in[(size_t)b * c->I + i] * c->w[(size_t)o * c->I + i];
      l += acc * c->R[(size_t)b * c->O + o];
    }
  return l;
}

static void test_linear(int B, int I, int O) {
  char label[96], what[160];
  const int f0 = test_failures;
  snprintf(label, sizeof label, "linear B%d I%d O%d", B, I, O);
  const size_t n_in = (size_t)B * I, n_w = (size_t)O * I, n_out = (size_t)B * O;
  Rng r = test_rng(6000 + B * 7 + I * 3 + O);
  float *in = falloc(n_in), *w = falloc(n_w), *bias = falloc(O), *R = falloc(n_out);
  float *out = falloc(n_out), *out_nb = falloc(n_out);
  fill_normal(in, n_in, &r, 1.0f);
  fill_normal(w, n_w, &r, 1.0f / sqrtf((float)I));
  fill_normal(bias, O, &r, 0.5f);
  fill_normal(R, n_out, &r, 1.0f);
  LinCtx ctx = {
      B, I, O, to_double(in, n_in), to_double(w, n_w), to_double(bias, O), to_double(R, n_out)};
  linear_forward(out, in, w, bias, B, I, O);
  double *want = dalloc(n_out);
  for (int b = 0; b < B; b++)
    for (int o = 0; o < O; o++) {
      double acc = bias[o];
      for (int i = 0; i < I; i++) acc += ctx.in[(size_t)b * I + i] * ctx.w[(size_t)o * I + i];
      want[(size_t)b * O + o] = acc;
    }
  snprintf(what, sizeof what, "%s: out", label);
  check_array(what, out, want, n_out, FWD_RTOL, FWD_ATOL);
  linear_forward(out_nb, in, w, NULL, B, I, O);
  for (size_t i = 0; i < n_out; i++) out_nb[i] += bias[i % O];
  snprintf(what, sizeof what, "%s: out without bias + bias", label);
  check_array_f(what, out_nb, out, n_out, 1e-5, 1e-6);

  float *din = falloc(n_in), *dw = falloc(n_w), *db = falloc(O);
  fill_normal(din, n_in, &r, 1.0f);
  fill_normal(dw, n_w, &r, 1.0f);
  fill_normal(db, O, &r, 1.0f);
  float *din0 = copy_floats(din, n_in), *dw0 = copy_floats(dw, n_w), *db0 = copy_floats(db, O);
  linear_backward(din, dw, db, R, in, w, B, I, O);
  subtract(din, din0, n_in);
  subtract(dw, dw0, n_w);
  subtract(db, db0, O);
  snprintf(what, sizeof what, "%s: din vs FD", label);
  check_grad(what, linear_ref_loss, &ctx, ctx.in, n_in, din, 1e-6);
  snprintf(what, sizeof what, "%s: dw vs FD", label);
  check_grad(what, linear_ref_loss, &ctx, ctx.w, n_w, dw, 1e-6);
  snprintf(what, sizeof what, "%s: dbias vs FD", label);
  check_grad(what, linear_ref_loss, &ctx, ctx.bias, O, db, 1e-6);

  float *din2 = falloc(n_in), *dw2 = falloc(n_w), *db2 = falloc(O), *dw3 = falloc(n_w);
  linear_backward(din2, dw2, db2, R, in, w, B, I, O);
  linear_backward(din2, dw2, db2, R, in, w, B, I, O);
  snprintf(what, sizeof what, "%s: din twice", label);
  check_doubled(what, din2, din, n_in);
  snprintf(what, sizeof what, "%s: dw twice", label);
  check_doubled(what, dw2, dw, n_w);
  snprintf(what, sizeof what, "%s: dbias twice", label);
  check_doubled(what, db2, db, O);
  linear_backward(NULL, dw3, NULL, R, in, w, B, I, O);
  snprintf(what, sizeof what, "%s: dw with NULL din, dbias", label);
  check_array_f(what, dw3, dw, n_w, 1e-5, 1e-6);
  case_done(label, f0);
  free(in), free(w), free(bias), free(R), free(out), free(out_nb), free(want);
  free(ctx.in), free(ctx.w), free(ctx.bias), free(ctx.R);
  free(din), free(dw), free(db), free(din0), free(dw0), free(db0);
  free(din2), free(dw2), free(db2), free(dw3);
}

// ----------------------------------------------------------------------------------------------
// elementwise

typedef struct {
  size_t n;
  int relu;
  double *a, *b, *R;  // relu test: b == NULL
} EwCtx;

static double ew_ref_loss(void *p) {
  EwCtx *c = p;
  double l = 0.0;
  for (size_t i = 0; i < c->n; i++) {
    double v = c->a[i] + (c->b ? c->b[i] : 0.0);
    if (c->relu && v < 0.0) v = 0.0;
    l += v * c->R[i];
  }
  return l;
}

static void test_relu(void) {
  const int f0 = test_failures;
  const size_t n = 1001;
  Rng r = test_rng(7000);
  float *in = falloc(n), *out = falloc(n), *R = falloc(n), *din = falloc(n);
  fill_normal(in, n, &r, 1.0f);
  fill_normal(R, n, &r, 1.0f);
  fill_normal(din, n, &r, 1.0f);
  float *din0 = copy_floats(din, n);
  EwCtx ctx = {n, 1, to_double(in, n), NULL, to_double(R, n)};
  relu_forward(out, in, n);
  size_t bad = 0;
  for (size_t i = 0; i < n; i++) bad += out[i] != (in[i] > 0.0f ? in[i] : 0.0f);
  CHECK(bad == 0);
  relu_backward(din, R, out, n);
  subtract(din, din0, n);
  check_grad("relu: din vs FD", ew_ref_loss, &ctx, ctx.a, n, din, 1e-6);
  float *din2 = falloc(n);
  relu_backward(din2, R, out, n);
  relu_backward(din2, R, out, n);
  check_doubled("relu: din twice", din2, din, n);
  float *inplace = copy_floats(in, n);
  relu_forward(inplace, inplace, n);
  CHECK(memcmp(inplace, out, sizeof(float) * n) == 0);
  float nan_in[2] = {NAN, -1.0f}, nan_out[2];
  relu_forward(nan_out, nan_in, 2);
  CHECK(isnan(nan_out[0]) && nan_out[1] == 0.0f);  // NaNs stay visible
  case_done("relu", f0);
  free(in), free(out), free(R), free(din), free(din0), free(ctx.a), free(ctx.R), free(din2);
  free(inplace);
}

static void test_add(int relu) {
  char what[96];
  const int f0 = test_failures;
  const size_t n = 777;
  Rng r = test_rng(7100 + relu);
  float *a = falloc(n), *b = falloc(n), *out = falloc(n), *R = falloc(n);
  float *da = falloc(n), *db = falloc(n);
  fill_normal(a, n, &r, 1.0f);
  fill_normal(b, n, &r, 1.0f);
  fill_normal(R, n, &r, 1.0f);
  fill_normal(da, n, &r, 1.0f);
  fill_normal(db, n, &r, 1.0f);
  float *da0 = copy_floats(da, n), *db0 = copy_floats(db, n);
  EwCtx ctx = {n, relu, to_double(a, n), to_double(b, n), to_double(R, n)};
  add_forward(out, a, b, n, relu);
  size_t bad = 0;
  for (size_t i = 0; i < n; i++) {
    const float v = a[i] + b[i];
    bad += out[i] != (relu && v < 0.0f ? 0.0f : v);
  }
  CHECK(bad == 0);
  add_backward(da, db, R, out, n, relu);
  subtract(da, da0, n);
  subtract(db, db0, n);
  snprintf(what, sizeof what, "add relu%d: da vs FD", relu);
  check_grad(what, ew_ref_loss, &ctx, ctx.a, n, da, 1e-6);
  snprintf(what, sizeof what, "add relu%d: db vs FD", relu);
  check_grad(what, ew_ref_loss, &ctx, ctx.b, n, db, 1e-6);
  float *da2 = falloc(n), *db2 = falloc(n);
  add_backward(da2, NULL, R, out, n, relu);
  add_backward(da2, NULL, R, out, n, relu);
  add_backward(NULL, db2, R, out, n, relu);
  snprintf(what, sizeof what, "add relu%d: da twice", relu);
  check_doubled(what, da2, da, n);
  snprintf(what, sizeof what, "add relu%d: db alone", relu);
  check_array_f(what, db2, db, n, 1e-5, 1e-5);
  // in place: out == a, then out == b
  float *ia = copy_floats(a, n), *ib = copy_floats(b, n);
  add_forward(ia, ia, b, n, relu);
  add_forward(ib, a, ib, n, relu);
  CHECK(memcmp(ia, out, sizeof(float) * n) == 0);
  CHECK(memcmp(ib, out, sizeof(float) * n) == 0);
  snprintf(what, sizeof what, "add relu%d", relu);
  case_done(what, f0);
  free(a), free(b), free(out), free(R), free(da), free(db), free(da0), free(db0);
  free(ctx.a), free(ctx.b), free(ctx.R), free(da2), free(db2), free(ia), free(ib);
}

// ----------------------------------------------------------------------------------------------
// softmax cross-entropy

typedef struct {
  int B, K;
  const int32_t *labels;
  double *logits;
  double scale;
} XentCtx;

// scale * Σ_b -log softmax(logits_b)[y_b], computed stably in double.
static double xent_ref_loss(void *p) {
  XentCtx *c = p;
  double l = 0.0;
  for (int b = 0; b < c->B; b++) {
    const double *z = c->logits + (size_t)b * c->K;
    double m = z[0], s = 0.0;
    for (int k = 1; k < c->K; k++) m = fmax(m, z[k]);
    for (int k = 0; k < c->K; k++) s += exp(z[k] - m);
    l += log(s) - (z[c->labels[b]] - m);
  }
  return c->scale * l;
}

static void test_xent_case(int B, int K, float logit_scale, float scale) {
  char label[96], what[160];
  const int f0 = test_failures;
  snprintf(label, sizeof label, "softmax_xent B%d K%d logits*%g scale %g", B, K, logit_scale,
           scale);
  const size_t n = (size_t)B * K;
  Rng r = test_rng(8000 + B * 3 + K + (uint64_t)logit_scale);
  float *logits = falloc(n), *probs = falloc(n), *d = falloc(n);
  int32_t *labels = xcalloc(B, sizeof(int32_t));
  fill_normal(logits, n, &r, logit_scale);
  for (int b = 0; b < B; b++) labels[b] = (int32_t)rng_below(&r, (uint32_t)K);
  fill_normal(d, n, &r, 1.0f);
  float *d0 = copy_floats(d, n);
  XentCtx ctx = {B, K, labels, to_double(logits, n), 1.0};
  const double loss = softmax_xent_forward(probs, logits, labels, B, K);
  CHECK(isfinite(loss));
  CHECK_CLOSE(loss, xent_ref_loss(&ctx), 1e-6, 1e-6);
  double *want = dalloc(n);
  for (int b = 0; b < B; b++) {
    const double *z = ctx.logits + (size_t)b * K;
    double m = z[0], s = 0.0;
    for (int k = 1; k < K; k++) m = fmax(m, z[k]);
    for (int k = 0; k < K; k++) s += exp(z[k] - m);
    for (int k = 0; k < K; k++) want[(size_t)b * K + k] = exp(z[k] - m) / s;
  }
  snprintf(what, sizeof what, "%s: probs", label);
  check_array(what, probs, want, n, 1e-5, 1e-7);
  softmax_xent_backward(d, probs, labels, B, K, scale);
  subtract(d, d0, n);
  ctx.scale = scale;
  // The gradient is only as accurate as the float probabilities; with huge logits the FD step
  // must stay small relative to the logit gaps, which it does (h = 1e-6 * logit_scale).
  snprintf(what, sizeof what, "%s: dlogits vs FD", label);
  check_grad(what, xent_ref_loss, &ctx, ctx.logits, n, d, 1e-6 * logit_scale);
  float *d2 = falloc(n);
  softmax_xent_backward(d2, probs, labels, B, K, scale);
  softmax_xent_backward(d2, probs, labels, B, K, scale);
  snprintf(what, sizeof what, "%s: dlogits twice", label);
  check_doubled(what, d2, d, n);
  case_done(label, f0);
  free(logits), free(probs), free(d), free(labels), free(d0), free(ctx.logits), free(want);
  free(d2);
}

static void test_xent(void) {
  test_xent_case(5, 10, 1.0f, 1.0f / 5);
  test_xent_case(3, 100, 3.0f, -1.0f / 3);  // gradient ascent
  test_xent_case(4, 10, 1e4f, 1.0f);        // huge logits: must not overflow
  const int f0 = test_failures;
  // The true class far below another: probs[y] underflows to 0 in float, yet the loss is exact.
  float logits[3] = {200.0f, -200.0f, 0.0f}, probs[3];
  int32_t y = 1;
  const double loss = softmax_xent_forward(probs, logits, &y, 1, 3);
  CHECK_CLOSE(loss, 400.0, 1e-9, 0.0);
  CHECK(probs[0] == 1.0f && probs[1] == 0.0f);
  case_done("softmax_xent underflow", f0);
}

// ----------------------------------------------------------------------------------------------
// l2norm

typedef struct {
  int B, D;
  double *in, *R;
} L2Ctx;

static double l2norm_ref_loss(void *p) {
  L2Ctx *c = p;
  double l = 0.0;
  for (int b = 0; b < c->B; b++) {
    const double *x = c->in + (size_t)b * c->D, *R = c->R + (size_t)b * c->D;
    double ss = 0.0;
    for (int d = 0; d < c->D; d++) ss += x[d] * x[d];
    const double denom = fmax(sqrt(ss), 1e-12);
    for (int d = 0; d < c->D; d++) l += x[d] / denom * R[d];
  }
  return l;
}

// Rows of scale `scale`: 1 (ordinary), 1e-8 (tiny, but above eps) and 1e-14 (below eps, where
// the denominator is the constant eps).
static void test_l2norm_case(int B, int D, float scale) {
  char label[96], what[160];
  const int f0 = test_failures;
  snprintf(label, sizeof label, "l2norm B%d D%d scale %g", B, D, scale);
  const size_t n = (size_t)B * D;
  Rng r = test_rng(9000 + B + D * 3);
  float *in = falloc(n), *out = falloc(n), *norms = falloc(B), *R = falloc(n), *din = falloc(n);
  fill_normal(in, n, &r, scale);
  fill_normal(R, n, &r, 1.0f);
  L2Ctx ctx = {B, D, to_double(in, n), to_double(R, n)};
  l2norm_forward(out, norms, in, B, D);
  double *want = dalloc(n);
  for (int b = 0; b < B; b++) {
    double ss = 0.0;
    for (int d = 0; d < D; d++) ss += ctx.in[(size_t)b * D + d] * ctx.in[(size_t)b * D + d];
    CHECK_CLOSE(norms[b], sqrt(ss), 1e-6, 0.0);
    for (int d = 0; d < D; d++)
      want[(size_t)b * D + d] = ctx.in[(size_t)b * D + d] / fmax(sqrt(ss), 1e-12);
  }
  snprintf(what, sizeof what, "%s: out", label);
  check_array(what, out, want, n, 1e-5, 1e-6);
  // The gradient scales as 1/scale: use a base of that size, so accumulation is exercised.
  fill_normal(din, n, &r, 1.0f / fmaxf(scale, 1e-12f));
  float *din0 = copy_floats(din, n);
  l2norm_backward(din, R, out, norms, B, D);
  subtract(din, din0, n);
  snprintf(what, sizeof what, "%s: din vs FD", label);
  // Base values of the gradient's own size make the subtraction lose a few float bits.
  check_grad(what, l2norm_ref_loss, &ctx, ctx.in, n, din, 1e-6 * scale);
  float *din2 = falloc(n), *din1 = falloc(n);
  l2norm_backward(din1, R, out, norms, B, D);
  l2norm_backward(din2, R, out, norms, B, D);
  l2norm_backward(din2, R, out, norms, B, D);
  snprintf(what, sizeof what, "%s: din twice", label);
  check_doubled(what, din2, din1, n);
  case_done(label, f0);
  free(in), free(out), free(norms), free(R), free(din), free(din0), free(ctx.in), free(ctx.R);
  free(want), free(din2), free(din1);
}

static void test_l2norm(void) {
  test_l2norm_case(4, 16, 1.0f);
  test_l2norm_case(3, 33, 1e-8f);
  test_l2norm_case(2, 4, 1e-14f);
  const int f0 = test_failures;
  // A zero row: out 0, norm 0, gradient dout/eps, nothing NaN.
  float in[3] = {0}, out[3], norm, dout[3] = {1.0f, -2.0f, 0.5f}, din[3] = {0};
  l2norm_forward(out, &norm, in, 1, 3);
  CHECK(out[0] == 0.0f && out[1] == 0.0f && out[2] == 0.0f && norm == 0.0f);
  l2norm_backward(din, dout, out, &norm, 1, 3);
  for (int d = 0; d < 3; d++) CHECK_CLOSE(din[d], dout[d] * 1e12, 1e-6, 0.0);
  case_done("l2norm zero row", f0);
}

// ----------------------------------------------------------------------------------------------

int main(void) {
  test_layout();
  test_conv();
  test_bn();
  test_pool();
  test_linear(5, 7, 3);
  test_linear(33, 64, 10);
  test_relu();
  test_add(0);
  test_add(1);
  test_xent();
  test_l2norm();
  return test_finish("test_layers");
}
