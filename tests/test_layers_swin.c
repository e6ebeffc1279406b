// test_layers_swin.c: Swin's layers (layernorm, gelu, patch merging, shifted window attention)
// against naive double-precision references and central finite differences, by the method of
// test_layers.c (layercheck.h): L = Σ out·R, forward within 1e-4, gradients within 1e-3 of the
// differences, and every backward accumulating into buffers that start non-zero.
//
// The window attention reference is written from torchvision's shifted_window_attention
// directly: an explicitly padded and rolled image, the shift mask filled by torchvision's slice
// assignments, the relative position index from coordinate differences.
#include "layercheck.h"
#include "layers.h"

// ----------------------------------------------------------------------------------------------
// layernorm

typedef struct {
  int N, C;
  double *x, *gamma, *beta, *R;
} LnCtx;

static double ln_ref_loss(void *p) {
  LnCtx *c = p;
  double l = 0.0;
  for (int n = 0; n < c->N; n++) {
    const double *x = c->x + (size_t)n * c->C;
    double mu = 0.0, var = 0.0;
    for (int i = 0; i < c->C; i++) mu += x[i] / c->C;
    for (int i = 0; i < c->C; i++) var += (x[i] - mu) * (x[i] - mu) / c->C;
    for (int i = 0; i < c->C; i++)
      l += (c->gamma[i] * (x[i] - mu) / sqrt(var + 1e-5) + c->beta[i]) * c->R[(size_t)n * c->C + i];
  }
  return l;
}

static void test_layernorm(int N, int C, float shift) {
  char label[64], what[128];
  const int f0 = test_failures;
  snprintf(label, sizeof label, "layernorm N%d C%d", N, C);
  const size_t n = (size_t)N * C;
  Rng r = test_rng(9100 + N + C);
  float *x = falloc(n), *g = falloc(C), *b = falloc(C), *R = falloc(n), *out = falloc(n);
  float *mean = falloc(N), *rstd = falloc(N);
  fill_normal(x, n, &r, 2.0f);
  for (size_t i = 0; i < n; i++) x[i] += shift;  // a mean far from 0: the variance's accuracy
  fill_normal(g, C, &r, 1.0f);
  fill_normal(b, C, &r, 1.0f);
  fill_normal(R, n, &r, 1.0f);
  LnCtx ctx = {N, C, to_double(x, n), to_double(g, C), to_double(b, C), to_double(R, n)};
  layernorm_forward(out, mean, rstd, x, g, b, N, C, 1e-5f);
  // forward: L with R = e_i is out_i; check the whole output through the loss of each row
  double *want = dalloc(n);
  for (int k = 0; k < N; k++) {
    const double *xr = ctx.x + (size_t)k * C;
    double mu = 0.0, var = 0.0;
    for (int i = 0; i < C; i++) mu += xr[i] / C;
    for (int i = 0; i < C; i++) var += (xr[i] - mu) * (xr[i] - mu) / C;
    for (int i = 0; i < C; i++)
      want[(size_t)k * C + i] = g[i] * (xr[i] - mu) / sqrt(var + 1e-5) + b[i];
  }
  snprintf(what, sizeof what, "%s: out", label);
  check_array(what, out, want, n, FWD_RTOL, FWD_ATOL);
  float *din = falloc(n), *dg = falloc(C), *db = falloc(C);
  fill_normal(din, n, &r, 1.0f);
  fill_normal(dg, C, &r, 1.0f);
  fill_normal(db, C, &r, 1.0f);
  float *din0 = copy_floats(din, n), *dg0 = copy_floats(dg, C), *db0 = copy_floats(db, C);
  layernorm_backward(din, dg, db, R, x, mean, rstd, g, N, C);
  subtract(din, din0, n), subtract(dg, dg0, C), subtract(db, db0, C);
  snprintf(what, sizeof what, "%s: din vs FD", label);
  check_grad(what, ln_ref_loss, &ctx, ctx.x, n, din, 1e-6);
  snprintf(what, sizeof what, "%s: dgamma vs FD", label);
  check_grad(what, ln_ref_loss, &ctx, ctx.gamma, C, dg, 1e-6);
  snprintf(what, sizeof what, "%s: dbeta vs FD", label);
  check_grad(what, ln_ref_loss, &ctx, ctx.beta, C, db, 1e-6);
  float *dg2 = falloc(C), *db2 = falloc(C);
  layernorm_backward(NULL, dg2, db2, R, x, mean, rstd, g, N, C);
  snprintf(what, sizeof what, "%s: dgamma with NULL din", label);
  check_array_f(what, dg2, dg, C, 1e-5, 1e-6);
  case_done(label, f0);
  free(x), free(g), free(b), free(R), free(out), free(mean), free(rstd), free(want);
  free(ctx.x), free(ctx.gamma), free(ctx.beta), free(ctx.R);
  free(din), free(dg), free(db), free(din0), free(dg0), free(db0), free(dg2), free(db2);
}

// ----------------------------------------------------------------------------------------------
// gelu

typedef struct {
  size_t n;
  double *x, *R;
} GeluCtx;

static double gelu_ref(double x) {
  return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
}

static double gelu_ref_loss(void *p) {
  GeluCtx *c = p;
  double l = 0.0;
  for (size_t i = 0; i < c->n; i++) l += gelu_ref(c->x[i]) * c->R[i];
  return l;
}

static void test_gelu(void) {
  const char *label = "gelu";
  const int f0 = test_failures;
  const size_t n = 257;
  Rng r = test_rng(9200);
  float *x = falloc(n), *R = falloc(n), *out = falloc(n), *din = falloc(n);
  fill_normal(x, n, &r, 3.0f);
  fill_normal(R, n, &r, 1.0f);
  fill_normal(din, n, &r, 1.0f);
  float *din0 = copy_floats(din, n);
  GeluCtx ctx = {n, to_double(x, n), to_double(R, n)};
  gelu_forward(out, x, n);
  double *want = dalloc(n);
  for (size_t i = 0; i < n; i++) want[i] = gelu_ref(ctx.x[i]);
  check_array("gelu: out", out, want, n, FWD_RTOL, FWD_ATOL);
  gelu_backward(din, R, x, n);
  subtract(din, din0, n);
  check_grad("gelu: din vs FD", gelu_ref_loss, &ctx, ctx.x, n, din, 1e-6);
  case_done(label, f0);
  free(x), free(R), free(out), free(din), free(din0), free(want), free(ctx.x), free(ctx.R);
}

// ----------------------------------------------------------------------------------------------
// patch merging

typedef struct {
  int B, H, W, C;
  double *x, *R;
} MergeCtx;

// The merged value at output (b, i, j), channel q*C + c (torchvision's x0..x3 slices).
static double merge_ref(const MergeCtx *m, int b, int i, int j, int q, int c) {
  const int h = 2 * i + (q == 1 || q == 3), w = 2 * j + (q >= 2);
  return h < m->H && w < m->W ? m->x[(((size_t)b * m->H + h) * m->W + w) * m->C + c] : 0.0;
}

static double merge_ref_loss(void *p) {
  MergeCtx *m = p;
  const int OH = (m->H + 1) / 2, OW = (m->W + 1) / 2;
  double l = 0.0;
  size_t k = 0;
  for (int b = 0; b < m->B; b++)
    for (int i = 0; i < OH; i++)
      for (int j = 0; j < OW; j++)
        for (int q = 0; q < 4; q++)
          for (int c = 0; c < m->C; c++) l += merge_ref(m, b, i, j, q, c) * m->R[k++];
  return l;
}

static void test_patch_merge(int B, int H, int W, int C) {
  char label[64], what[128];
  const int f0 = test_failures;
  snprintf(label, sizeof label, "patch_merge B%d H%d W%d C%d", B, H, W, C);
  const int OH = (H + 1) / 2, OW = (W + 1) / 2;
  const size_t n = (size_t)B * H * W * C, no = (size_t)B * OH * OW * 4 * C;
  Rng r = test_rng(9300 + H * 7 + W);
  float *x = falloc(n), *R = falloc(no), *out = falloc(no), *din = falloc(n);
  fill_normal(x, n, &r, 1.0f);
  fill_normal(R, no, &r, 1.0f);
  fill_normal(din, n, &r, 1.0f);
  float *din0 = copy_floats(din, n);
  MergeCtx ctx = {B, H, W, C, to_double(x, n), to_double(R, no)};
  patch_merge_forward(out, x, B, H, W, C);
  double *want = dalloc(no);
  size_t k = 0;
  for (int b = 0; b < B; b++)
    for (int i = 0; i < OH; i++)
      for (int j = 0; j < OW; j++)
        for (int q = 0; q < 4; q++)
          for (int c = 0; c < C; c++) want[k++] = merge_ref(&ctx, b, i, j, q, c);
  snprintf(what, sizeof what, "%s: out", label);
  check_array(what, out, want, no, 0, 0);
  patch_merge_backward(din, R, B, H, W, C);
  subtract(din, din0, n);
  snprintf(what, sizeof what, "%s: din vs FD", label);
  check_grad(what, merge_ref_loss, &ctx, ctx.x, n, din, 1e-6);
  case_done(label, f0);
  free(x), free(R), free(out), free(din), free(din0), free(want), free(ctx.x), free(ctx.R);
}

// ----------------------------------------------------------------------------------------------
// shifted window attention

typedef struct {
  WinAttnShape s;
  double *x, *wqkv, *bqkv, *wproj, *bproj, *table, *R;
} WaCtx;

// Python's slice bounds: a negative index counts from the end (-0 is 0), None (INT32_MIN) is n.
static int py_index(int i, int n) {
  return i == INT32_MIN ? n : i < 0 ? i + n : i;
}

// torchvision's attention mask regions over the rolled, padded image: id [PH*PW].
static void ref_regions(int *id, const WinAttnShape *s) {
  memset(id, 0, sizeof(int) * s->PH * s->PW);
  if (s->sh + s->sw == 0) return;
  const int hs[3][2] = {{0, -s->win}, {-s->win, -s->sh}, {-s->sh, INT32_MIN}};
  const int ws[3][2] = {{0, -s->win}, {-s->win, -s->sw}, {-s->sw, INT32_MIN}};
  int count = 0;
  for (int a = 0; a < 3; a++)
    for (int b = 0; b < 3; b++, count++)
      for (int h = py_index(hs[a][0], s->PH); h < py_index(hs[a][1], s->PH); h++)
        for (int w = py_index(ws[b][0], s->PW); w < py_index(ws[b][1], s->PW); w++)
          id[h * s->PW + w] = count;
}

// out [B,H,W,C] of the reference attention.
static void ref_winattn(const WaCtx *c, double *out) {
  const WinAttnShape *s = &c->s;
  const int C = s->C, win = s->win, N = win * win, dh = C / s->heads;
  int *id = xcalloc((size_t)s->PH * s->PW, sizeof(int));
  ref_regions(id, s);
  double *tok = dalloc((size_t)N * C), *qkv = dalloc((size_t)N * 3 * C), *o = dalloc((size_t)N * C);
  double *sc = dalloc(N);
  int *src = xcalloc(N, sizeof(int)), *at = xcalloc(N, sizeof(int));
  for (int b = 0; b < s->B; b++)
    for (int wh = 0; wh < s->PH / win; wh++)
      for (int ww = 0; ww < s->PW / win; ww++) {
        for (int t = 0; t < N; t++) {  // rolled (i, j) holds padded ((i + sh) % PH, ...)
          const int i = wh * win + t / win, j = ww * win + t % win;
          const int h = (i + s->sh) % s->PH, w = (j + s->sw) % s->PW;
          src[t] = h < s->H && w < s->W ? (b * s->H + h) * s->W + w : -1;
          at[t] = id[i * s->PW + j];
          for (int k = 0; k < C; k++)
            tok[t * C + k] = src[t] >= 0 ? c->x[(size_t)src[t] * C + k] : 0;
        }
        for (int t = 0; t < N; t++)
          for (int f = 0; f < 3 * C; f++) {
            double a = c->bqkv[f];
            for (int k = 0; k < C; k++) a += tok[t * C + k] * c->wqkv[(size_t)f * C + k];
            qkv[t * 3 * C + f] = a;
          }
        for (int hd = 0; hd < s->heads; hd++)
          for (int t = 0; t < N; t++) {
            double mx = -1e300, sum = 0.0;
            for (int u = 0; u < N; u++) {
              double d = 0.0;
              for (int k = 0; k < dh; k++)
                d += qkv[t * 3 * C + hd * dh + k] * qkv[u * 3 * C + C + hd * dh + k];
              const int rh = t / win - u / win + win - 1, rw = t % win - u % win + win - 1;
              sc[u] = d / sqrt((double)dh) + c->table[(rh * (2 * win - 1) + rw) * s->heads + hd] +
                      (at[t] != at[u] ? -100.0 : 0.0);
              mx = sc[u] > mx ? sc[u] : mx;
            }
            for (int u = 0; u < N; u++) sc[u] = exp(sc[u] - mx), sum += sc[u];
            for (int k = 0; k < dh; k++) {
              double a = 0.0;
              for (int u = 0; u < N; u++) a += sc[u] / sum * qkv[u * 3 * C + 2 * C + hd * dh + k];
              o[t * C + hd * dh + k] = a;
            }
          }
        for (int t = 0; t < N; t++) {
          if (src[t] < 0) continue;
          for (int f = 0; f < C; f++) {
            double a = c->bproj[f];
            for (int k = 0; k < C; k++) a += o[t * C + k] * c->wproj[(size_t)f * C + k];
            out[(size_t)src[t] * C + f] = a;
          }
        }
      }
  free(id), free(tok), free(qkv), free(o), free(sc), free(src), free(at);
}

static double winattn_ref_loss(void *p) {
  WaCtx *c = p;
  const size_t n = (size_t)c->s.B * c->s.H * c->s.W * c->s.C;
  double *out = dalloc(n);
  ref_winattn(c, out);
  double l = dot_dd(out, c->R, n);
  free(out);
  return l;
}

static void test_winattn(int B, int H, int W, int C, int heads, int win, int shift) {
  char label[96], what[160];
  const int f0 = test_failures;
  const WinAttnShape s = winattn_shape(B, H, W, C, heads, win, shift);
  snprintf(label, sizeof label, "winattn B%d H%d W%d C%d heads%d win%d shift%d (%d,%d)", B, H, W, C,
           heads, win, shift, s.sh, s.sw);
  const size_t n = (size_t)B * H * W * C, nq = (size_t)3 * C * C,
               nt = (size_t)(2 * win - 1) * (2 * win - 1) * heads;
  Rng r = test_rng(9400 + H * 13 + W * 3 + shift);
  float *x = falloc(n), *R = falloc(n), *out = falloc(n);
  float *wqkv = falloc(nq), *bqkv = falloc(3 * C), *wp = falloc((size_t)C * C), *bp = falloc(C);
  float *table = falloc(nt);
  fill_normal(x, n, &r, 1.0f);
  fill_normal(R, n, &r, 1.0f);
  fill_normal(wqkv, nq, &r, 1.0f / sqrtf((float)C));  // scores of order 1: softmax not saturated
  fill_normal(bqkv, 3 * C, &r, 0.3f);
  fill_normal(wp, (size_t)C * C, &r, 1.0f / sqrtf((float)C));
  fill_normal(bp, C, &r, 0.3f);
  fill_normal(table, nt, &r, 0.5f);
  WaCtx ctx = {s,
               to_double(x, n),
               to_double(wqkv, nq),
               to_double(bqkv, 3 * C),
               to_double(wp, (size_t)C * C),
               to_double(bp, C),
               to_double(table, nt),
               to_double(R, n)};
  float *saved = falloc(winattn_saved_floats(&s)), *scratch = falloc(winattn_scratch_floats(&s));
  WinAttnParams p = {wqkv, bqkv, wp, bp, table};
  winattn_forward(out, saved, x, &p, &s, scratch);
  double *want = dalloc(n);
  ref_winattn(&ctx, want);
  snprintf(what, sizeof what, "%s: out", label);
  check_array(what, out, want, n, FWD_RTOL, FWD_ATOL);

  // backward into buffers that start random; the gradient is what was added
  float *dx = falloc(n), *dwq = falloc(nq), *dbq = falloc(3 * C), *dwp = falloc((size_t)C * C);
  float *dbp = falloc(C), *dt = falloc(nt);
  float *bufs[6] = {dx, dwq, dbq, dwp, dbp, dt};
  const size_t sizes[6] = {n, nq, (size_t)3 * C, (size_t)C * C, (size_t)C, nt};
  double *refs[6] = {ctx.x, ctx.wqkv, ctx.bqkv, ctx.wproj, ctx.bproj, ctx.table};
  const char *names[6] = {"dx", "dwqkv", "dbqkv", "dwproj", "dbproj", "dtable"};
  float *base[6];
  for (int i = 0; i < 6; i++)
    fill_normal(bufs[i], sizes[i], &r, 1.0f), base[i] = copy_floats(bufs[i], sizes[i]);
  WinAttnGrads g = {dwq, dbq, dwp, dbp, dt};
  winattn_backward(dx, &g, R, saved, &p, &s, scratch);
  for (int i = 0; i < 6; i++) {
    subtract(bufs[i], base[i], sizes[i]);
    snprintf(what, sizeof what, "%s: %s vs FD", label, names[i]);
    check_grad(what, winattn_ref_loss, &ctx, refs[i], sizes[i], bufs[i], 1e-6);
  }
  // without dx: the same parameter gradients
  float *dwq2 = falloc(nq), *dbq2 = falloc(3 * C), *dwp2 = falloc((size_t)C * C), *dbp2 = falloc(C);
  float *dt2 = falloc(nt);
  WinAttnGrads g2 = {dwq2, dbq2, dwp2, dbp2, dt2};
  winattn_backward(NULL, &g2, R, saved, &p, &s, scratch);
  snprintf(what, sizeof what, "%s: dwqkv with NULL dx", label);
  check_array_f(what, dwq2, dwq, nq, 1e-4, 1e-5);
  snprintf(what, sizeof what, "%s: dtable with NULL dx", label);
  check_array_f(what, dt2, dt, nt, 1e-4, 1e-5);
  case_done(label, f0);
  free(x), free(R), free(out), free(wqkv), free(bqkv), free(wp), free(bp), free(table);
  free(ctx.x), free(ctx.wqkv), free(ctx.bqkv), free(ctx.wproj), free(ctx.bproj), free(ctx.table);
  free(ctx.R), free(saved), free(scratch), free(want);
  for (int i = 0; i < 6; i++) free(bufs[i]), free(base[i]);
  free(dwq2), free(dbq2), free(dwp2), free(dbp2), free(dt2);
}

int main(void) {
  test_layernorm(7, 12, 0.0f);
  test_layernorm(33, 96, 50.0f);
  test_gelu();
  test_patch_merge(2, 4, 6, 3);
  test_patch_merge(2, 5, 3, 2);       // odd sides: zero padding
  test_winattn(2, 8, 8, 8, 2, 4, 0);  // plain windows
  test_winattn(2, 8, 8, 8, 2, 4, 2);  // shifted, with the mask
  test_winattn(1, 5, 7, 6, 3, 3, 1);  // padded to 6x9, then shifted
  test_winattn(2, 2, 2, 4, 2, 4, 2);  // one padded window: no shift (torchvision)
  test_winattn(1, 4, 9, 4, 1, 4, 2);  // shifted along W only
  return test_finish("test_layers_swin");
}
