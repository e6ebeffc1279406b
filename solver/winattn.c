// winattn.c: Swin's (shifted) window multi-head self-attention, torchvision's
// shifted_window_attention (Swin v1): pad H, W to whole windows with zero tokens, roll the
// tokens by (-sh, -sw), cut win x win windows, qkv linear, per head
// softmax(q kᵀ/sqrt(dh) + relative position bias + shift mask) v, proj linear, then undo the
// windows, the roll and the padding.
//
// Shapes (R = B*nW*N window rows, dh = C/heads):
//   x, out, dx, dout [B, H, W, C]; wqkv [3C, C], bqkv [3C]; wproj [C, C], bproj [C];
//   table [(2win-1)², heads] (relative position bias, torchvision's relative_position_bias_table)
//   saved: xw [R, C] (windowed input) | qkv [R, 3C] | P [B*nW, heads, N, N] | o [R, C]
//   scratch: [R, C] | [R, C] | [R, 3C] | [N, N]
// The shift mask adds -100 (torchvision's value) between tokens of different regions of the
// rolled image; padding tokens take part in attention unmasked, as in torchvision.
#include <cblas.h>
#include <math.h>
#include <string.h>

#include "layers.h"

WinAttnShape winattn_shape(int B, int H, int W, int C, int heads, int win, int shift) {
  WinAttnShape s = {.B = B, .H = H, .W = W, .C = C, .heads = heads, .win = win};
  s.PH = (H + win - 1) / win * win, s.PW = (W + win - 1) / win * win;
  // torchvision: no shift along an axis that one window covers
  s.sh = win >= s.PH ? 0 : shift, s.sw = win >= s.PW ? 0 : shift;
  s.nW = (s.PH / win) * (s.PW / win), s.N = win * win;
  return s;
}

static size_t rows(const WinAttnShape *s) {
  return (size_t)s->B * s->nW * s->N;
}

size_t winattn_saved_floats(const WinAttnShape *s) {
  return rows(s) * 5 * s->C + (size_t)s->B * s->nW * s->heads * s->N * s->N;
}

size_t winattn_scratch_floats(const WinAttnShape *s) {
  return rows(s) * 5 * s->C + (size_t)s->N * s->N;
}

// The input token window row r holds, as b*H*W + h*W + w; -1 for a padding token.
static long src_token(const WinAttnShape *s, size_t r) {
  const int t = (int)(r % s->N), wi = (int)(r / s->N % s->nW), per_row = s->PW / s->win;
  const long b = (long)(r / s->N / s->nW);
  const int ph = wi / per_row * s->win + t / s->win, pw = wi % per_row * s->win + t % s->win;
  const int h = (ph + s->sh) % s->PH, w = (pw + s->sw) % s->PW;
  return h < s->H && w < s->W ? (b * s->H + h) * s->W + w : -1;
}

// win [R, C] = the windows of t [B, H, W, C]: padded, rolled, cut (zero rows for padding).
static void partition(float *win, const float *t, const WinAttnShape *s) {
  for (size_t r = 0; r < rows(s); r++) {
    const long src = src_token(s, r);
    if (src >= 0)
      memcpy(win + r * s->C, t + (size_t)src * s->C, (size_t)s->C * sizeof(float));
    else
      memset(win + r * s->C, 0, (size_t)s->C * sizeof(float));
  }
}

// Region of rolled coordinate p along an axis of padded size P: the mask's slices
// [0, P - win), [P - win, P - shift), [P - shift, P); one region when not shifted.
static int region(int p, int P, int win, int shift) {
  return shift == 0 ? 0 : p < P - win ? 0 : p < P - shift ? 1 : 2;
}

// S [N, N] += relative position bias of head hd (and the shift mask of window wi).
static void add_bias_mask(float *S, const float *table, int hd, int wi, const WinAttnShape *s) {
  const int win = s->win, N = s->N, per_row = s->PW / win, span = 2 * win - 1;
  const int oh = wi / per_row * win, ow = wi % per_row * win;
  for (int i = 0; i < N; i++) {
    const int ih = i / win, iw = i % win;
    const int ri = region(oh + ih, s->PH, win, s->sh) * 3 + region(ow + iw, s->PW, win, s->sw);
    for (int j = 0; j < N; j++) {
      const int jh = j / win, jw = j % win;
      const int rj = region(oh + jh, s->PH, win, s->sh) * 3 + region(ow + jw, s->PW, win, s->sw);
      const int idx = (ih - jh + win - 1) * span + (iw - jw + win - 1);
      S[i * N + j] += table[idx * s->heads + hd] + (ri != rj ? -100.0f : 0.0f);
    }
  }
}

// Row-wise softmax of S [N, N] in place.
static void softmax_rows(float *S, int N) {
  for (int i = 0; i < N; i++) {
    float *row = S + (size_t)i * N, mx = row[0], sum = 0.0f;
    for (int j = 1; j < N; j++) mx = row[j] > mx ? row[j] : mx;
    for (int j = 0; j < N; j++) row[j] = expf(row[j] - mx), sum += row[j];
    for (int j = 0; j < N; j++) row[j] /= sum;
  }
}

void winattn_forward(float *out, float *saved, const float *x, const WinAttnParams *p,
                     const WinAttnShape *s, float *scratch) {
  const size_t R = rows(s);
  const int C = s->C, C3 = 3 * C, N = s->N, dh = C / s->heads;
  float *xw = saved, *qkv = xw + R * C, *P = qkv + R * C3;
  float *o = P + (size_t)s->B * s->nW * s->heads * N * N, *y = scratch;
  partition(xw, x, s);
  linear_forward(qkv, xw, p->wqkv, p->bqkv, (int)R, C, C3);
  const float scale = 1.0f / sqrtf((float)dh);
  for (size_t bw = 0; bw < (size_t)s->B * s->nW; bw++)
    for (int hd = 0; hd < s->heads; hd++) {
      const float *q = qkv + bw * N * C3 + hd * dh, *k = q + C, *v = q + 2 * C;
      float *Pw = P + (bw * s->heads + hd) * N * N;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, N, dh, scale, q, C3, k, C3, 0.0f, Pw,
                  N);
      add_bias_mask(Pw, p->table, hd, (int)(bw % s->nW), s);
      softmax_rows(Pw, N);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, dh, N, 1.0f, Pw, N, v, C3, 0.0f,
                  o + bw * N * C + hd * dh, C);
    }
  linear_forward(y, o, p->wproj, p->bproj, (int)R, C, C);
  for (size_t r = 0; r < R; r++) {
    const long t = src_token(s, r);
    if (t >= 0) memcpy(out + (size_t)t * C, y + r * C, (size_t)C * sizeof(float));
  }
}

void winattn_backward(float *dx, const WinAttnGrads *g, const float *dout, const float *saved,
                      const WinAttnParams *p, const WinAttnShape *s, float *scratch) {
  const size_t R = rows(s);
  const int C = s->C, C3 = 3 * C, N = s->N, dh = C / s->heads, span = 2 * s->win - 1;
  const float *xw = saved, *qkv = xw + R * C, *P = qkv + R * C3;
  const float *o = P + (size_t)s->B * s->nW * s->heads * N * N;
  float *dyw = scratch, *dO = dyw + R * C, *dqkv = dO + R * C, *dS = dqkv + R * C3;
  partition(dyw, dout, s);
  memset(dO, 0, R * C * sizeof(float));
  linear_backward(dO, g->dwproj, g->dbproj, dyw, o, p->wproj, (int)R, C, C);
  const float scale = 1.0f / sqrtf((float)dh);
  for (size_t bw = 0; bw < (size_t)s->B * s->nW; bw++)
    for (int hd = 0; hd < s->heads; hd++) {
      const float *q = qkv + bw * N * C3 + hd * dh, *k = q + C, *v = q + 2 * C;
      const float *Pw = P + (bw * s->heads + hd) * N * N, *dOw = dO + bw * N * C + hd * dh;
      float *dq = dqkv + bw * N * C3 + hd * dh, *dk = dq + C, *dv = dq + 2 * C;
      // dP = dO vᵀ; dv = Pᵀ dO
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, N, dh, 1.0f, dOw, C, v, C3, 0.0f, dS,
                  N);
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, N, dh, N, 1.0f, Pw, N, dOw, C, 0.0f, dv,
                  C3);
      // softmax backward: dS = P ⊙ (dP - Σ_j P dP); the bias table gathers dS
      for (int i = 0; i < N; i++) {
        float *row = dS + (size_t)i * N, dot = 0.0f;
        const float *pr = Pw + (size_t)i * N;
        for (int j = 0; j < N; j++) dot += pr[j] * row[j];
        for (int j = 0; j < N; j++) {
          row[j] = pr[j] * (row[j] - dot);
          const int idx = (i / s->win - j / s->win + s->win - 1) * span +
                          (i % s->win - j % s->win + s->win - 1);
          g->dtable[idx * s->heads + hd] += row[j];
        }
      }
      // S = scale q kᵀ: dq = scale dS k, dk = scale dSᵀ q
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, dh, N, scale, dS, N, k, C3, 0.0f,
                  dq, C3);
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, N, dh, N, scale, dS, N, q, C3, 0.0f, dk,
                  C3);
    }
  float *dxw = dyw;
  if (dx) memset(dxw, 0, R * C * sizeof(float));
  linear_backward(dx ? dxw : NULL, g->dwqkv, g->dbqkv, dqkv, xw, p->wqkv, (int)R, C, C3);
  if (!dx) return;
  for (size_t r = 0; r < R; r++) {
    const long t = src_token(s, r);
    if (t < 0) continue;
    float *d = dx + (size_t)t * C;
    for (int c = 0; c < C; c++) d[c] += dxw[r * C + c];
  }
}
