// layers.h: every layer as a pair of plain functions, forward and backward (llm.c style).
//
// Conventions, for every function here:
// - Activations are NHWC ("channels last"): x[((b*H + h)*W + w)*C + c]. A [B, D] tensor is the
//   same thing with H = W = 1. Models convert their NCHW input once (nchw_to_nhwc).
// - Parameters are stored in PyTorch's shapes (conv weight OIHW, linear weight [out, in]).
// - Backward functions ACCUMULATE (+=) into every gradient they write: input gradients and
//   parameter gradients alike. Callers zero gradient buffers before the first write.
//   A NULL input gradient means "not needed" (e.g. the first layer) and is skipped.
// - No layer allocates memory or talks to MPI. Where a layer needs a reduction over the whole
//   (possibly distributed) batch, it is split into a "stats" function that returns local sums,
//   which the caller may allreduce, and an "apply" function that takes the global sums.
#pragma once

#include <stddef.h>
#include <stdint.h>

// ----------------------------------------------------------------------------------------------
// layout

// in [B, C, H, W] -> out [B, H, W, C]; and back. out and in must not overlap.
void nchw_to_nhwc(float *out, const float *in, int B, int C, int H, int W);
void nhwc_to_nchw(float *out, const float *in, int B, int C, int H, int W);

// ----------------------------------------------------------------------------------------------
// conv2d: any kernel, stride, padding, groups. im2col (chunks of samples) + sgemm.

typedef struct {
  int B, H, W, C;  // input [B, H, W, C]
  int O, KH, KW;   // weight [O, C/groups, KH, KW]
  int stride, pad, groups;
  int OH, OW;  // output [B, OH, OW, O]
} ConvShape;

// Fills a ConvShape, deriving OH = (H + 2*pad - KH)/stride + 1 (likewise OW).
ConvShape conv_shape(int B, int H, int W, int C, int O, int KH, int KW, int stride, int pad,
                     int groups);
// Floats of scratch memory conv_forward/conv_backward need for this shape (the largest of the
// two). Bounded: im2col is done in chunks of samples, not for the whole batch at once.
size_t conv_scratch_floats(const ConvShape *s);
// Samples per im2col chunk for this shape (B for the convs that need no im2col: pointwise 1x1
// stride 1 pad 0, and depthwise groups = C = O). Exposed for tests and benchmarks.
int conv_chunk_samples(const ConvShape *s);
// out [B,OH,OW,O] = conv(in [B,H,W,C], w [O,C/g,KH,KW]) + bias [O] (bias may be NULL).
void conv_forward(float *out, const float *in, const float *w, const float *bias,
                  const ConvShape *s, float *scratch);
// din [B,H,W,C] += ..., dw [O,C/g,KH,KW] += ..., dbias [O] += ... (any of the three may be
// NULL: that gradient is not computed).
void conv_backward(float *din, float *dw, float *dbias, const float *dout, const float *in,
                   const float *w, const ConvShape *s, float *scratch);

// Algorithms. 3x3 pad-1 convs with groups 1 may also be done with Winograd (conv_winograd.c):
// stride 1 with F(2x2, 3x3) or F(4x4, 3x3), 2.25x or 4x fewer multiplications; stride 2 with
// F(2x2) (1.44x fewer). F(2x2) is as accurate as im2col, F(4x4) about 5x less. conv_forward and
// conv_backward pick per shape and per product (conv_algo): F(2x2) for the forward pass, whose
// values decide ReLU masks and max-pool argmaxes, F(4x4) for the gradients (F(2x2) for the input
// gradient of tiny wide layers), each only where it is faster than im2col. The _algo variants force
// an algorithm (tests, benchmarks). conv_scratch_floats covers every algorithm the shape allows.
typedef enum { CONV_AUTO = 0, CONV_IM2COL, CONV_WINOGRAD2, CONV_WINOGRAD4 } ConvAlgo;
typedef enum { CONV_PASS_FORWARD, CONV_PASS_DATA, CONV_PASS_WEIGHT } ConvPass;
// 1 if algo (CONV_WINOGRAD2 or 4) can serve this shape: 3x3 kernel, pad 1, groups 1, and
// stride 1, or stride 2 with CONV_WINOGRAD2.
int conv_winograd_applicable(const ConvShape *s, ConvAlgo algo);
// Winograd works on blocks of consecutive m x m output tiles (m = 2, 4) over the whole batch
// (t = (b*TH + th)*TW + tw, TH = ceil(OH/m), TW = ceil(OW/m); a block may split a sample).
// Tiles per block of algo (CONV_WINOGRAD2 or 4) in pass for this shape (tests, benchmarks).
int conv_winograd_block_tiles(const ConvShape *s, ConvAlgo algo, ConvPass pass);
// The algorithm conv_forward (CONV_PASS_FORWARD) or conv_backward (the input gradient,
// CONV_PASS_DATA; the weight gradient, CONV_PASS_WEIGHT) uses for this shape.
ConvAlgo conv_algo(const ConvShape *s, ConvPass pass);
// Floating-point operations (2 per multiply-add) of the matrix products that conv_algo's
// algorithm runs for this shape in one pass: im2col's 2*B*OH*OW*O*(C/groups)*KH*KW, Winograd's
// n² products per tile of m x m outputs over channels padded to 16 (ecore bench --convs sets
// them against the time taken).
double conv_product_flops(const ConvShape *s, ConvPass pass);
// conv_forward / conv_backward with the algorithm of each product forced; CONV_AUTO is
// conv_algo's choice, a Winograd algorithm on a shape it cannot serve falls back to im2col.
void conv_forward_algo(float *out, const float *in, const float *w, const float *bias,
                       const ConvShape *s, float *scratch, ConvAlgo algo);
void conv_backward_algo(float *din, float *dw, float *dbias, const float *dout, const float *in,
                        const float *w, const ConvShape *s, float *scratch, ConvAlgo data_algo,
                        ConvAlgo weight_algo);

// ----------------------------------------------------------------------------------------------
// batchnorm2d over NHWC rows: N = B*H*W rows of C channels. Optionally fused with a ReLU after
// it (relu = 1), so that the pre-ReLU output need not be stored.

// Local sums for training mode: sums[c] = Σ_rows x, sums[C + c] = Σ_rows x² (double).
void bn_stats(double *sums, const float *x, int N, int C);
// Training-mode forward with the (global) sums over n_total rows:
// mean = Σx/n, var = Σx²/n - mean² (biased), rstd = 1/sqrt(var + eps);
// out = gamma*(x - mean)*rstd + beta (then ReLU if relu). Saves mean [C] and rstd [C] for
// backward. Updates running_mean/running_var (PyTorch semantics: running = (1-momentum)*running +
// momentum*batch, with the unbiased variance var*n/(n-1)) when they are not NULL.
void bn_forward_train(float *out, float *mean, float *rstd, float *running_mean, float *running_var,
                      const float *x, const float *gamma, const float *beta, const double *sums,
                      long n_total, int N, int C, float momentum, float eps, int relu);
// Eval-mode forward with the running statistics.
void bn_forward_eval(float *out, const float *x, const float *gamma, const float *beta,
                     const float *running_mean, const float *running_var, int N, int C, float eps,
                     int relu);
// Training-mode backward, step 1: with g = relu ? dout*(out > 0) : dout and
// xhat = (x - mean)*rstd, local sums: sums[c] = Σ g, sums[C + c] = Σ g*xhat (double).
// Also adds the local sums into dgamma [C] (+= Σ g*xhat) and dbeta [C] (+= Σ g), so that the
// usual allreduce of the gradient arena completes them.
void bn_backward_stats(double *sums, float *dgamma, float *dbeta, const float *dout,
                       const float *out, const float *x, const float *mean, const float *rstd,
                       int N, int C, int relu);
// Training-mode backward, step 2, with the (global) sums over n_total rows:
// din += gamma*rstd*(g - sums[c]/n - xhat*sums[C+c]/n).
void bn_backward_apply(float *din, const float *dout, const float *out, const float *x,
                       const float *mean, const float *rstd, const float *gamma, const double *sums,
                       long n_total, int N, int C, int relu);
// Eval-mode backward (running statistics are constants):
// din += g*gamma/sqrt(running_var + eps); dgamma += Σ g*xhat; dbeta += Σ g.
// din, dgamma, dbeta may each be NULL.
void bn_backward_eval(float *din, float *dgamma, float *dbeta, const float *dout, const float *out,
                      const float *x, const float *gamma, const float *running_mean,
                      const float *running_var, int N, int C, float eps, int relu);

// ----------------------------------------------------------------------------------------------
// elementwise

// out[i] = max(in[i], 0). out may equal in.
void relu_forward(float *out, const float *in, size_t n);
// din[i] += out[i] > 0 ? dout[i] : 0.
void relu_backward(float *din, const float *dout, const float *out, size_t n);
// out = a + b (then ReLU if relu). out may equal a or b.
void add_forward(float *out, const float *a, const float *b, size_t n, int relu);
// g = relu ? dout*(out > 0) : dout; da += g; db += g (da, db may be NULL).
void add_backward(float *da, float *db, const float *dout, const float *out, size_t n, int relu);

// GELU, exact erf form (PyTorch's nn.GELU()): out[i] = in[i]*Φ(in[i]).
void gelu_forward(float *out, const float *in, size_t n);
// din[i] += dout[i]*(Φ(x) + x*φ(x)), x = in[i].
void gelu_backward(float *din, const float *dout, const float *in, size_t n);

// ----------------------------------------------------------------------------------------------
// layernorm over the C channels of each of N rows (PyTorch's nn.LayerNorm(C)); Swin applies it
// to every token of an NHWC activation (N = B*H*W).

// out [N,C] = gamma*(x - mean)*rstd + beta; saves mean [N] and rstd [N] = 1/sqrt(var + eps)
// (biased variance) for backward.
void layernorm_forward(float *out, float *mean, float *rstd, const float *x, const float *gamma,
                       const float *beta, int N, int C, float eps);
// din [N,C] += ..., dgamma [C] += Σ dout*xhat, dbeta [C] += Σ dout (din may be NULL).
void layernorm_backward(float *din, float *dgamma, float *dbeta, const float *dout, const float *x,
                        const float *mean, const float *rstd, const float *gamma, int N, int C);

// ----------------------------------------------------------------------------------------------
// Swin: patch merging's gather and (shifted) window attention (torchvision's swin_t, v1)

// out [B, ceil(H/2), ceil(W/2), 4C] = the 2x2 neighbourhoods of in [B,H,W,C] concatenated in
// torchvision's order (h,w), (h+1,w), (h,w+1), (h+1,w+1); zeros beyond an odd edge.
void patch_merge_forward(float *out, const float *in, int B, int H, int W, int C);
// din [B,H,W,C] += dout routed back.
void patch_merge_backward(float *din, const float *dout, int B, int H, int W, int C);

typedef struct {
  int B, H, W, C;  // input and output [B, H, W, C]
  int heads, win;  // C/heads channels per head; windows of win x win tokens
  int sh, sw;      // cyclic shift per axis (0 along an axis one window covers)
  int PH, PW;      // H, W padded up to whole windows
  int nW, N;       // windows per sample, tokens per window (win²)
} WinAttnShape;
typedef struct {
  const float *wqkv, *bqkv;    // [3C, C], [3C]
  const float *wproj, *bproj;  // [C, C], [C]
  const float *table;          // [(2win-1)², heads]: relative position bias
} WinAttnParams;
typedef struct {
  float *dwqkv, *dbqkv, *dwproj, *dbproj, *dtable;  // as WinAttnParams
} WinAttnGrads;

// The shape of one attention layer; shift is win/2 in every second block, else 0.
WinAttnShape winattn_shape(int B, int H, int W, int C, int heads, int win, int shift);
// Floats the forward saves for the backward, and the scratch both need, for this shape.
size_t winattn_saved_floats(const WinAttnShape *s);
size_t winattn_scratch_floats(const WinAttnShape *s);
// out [B,H,W,C] = proj(attention(qkv(windows(x)))) un-windowed; fills saved.
void winattn_forward(float *out, float *saved, const float *x, const WinAttnParams *p,
                     const WinAttnShape *s, float *scratch);
// dx [B,H,W,C] += ... (may be NULL); every gradient in g += ...; saved from the forward.
void winattn_backward(float *dx, const WinAttnGrads *g, const float *dout, const float *saved,
                      const WinAttnParams *p, const WinAttnShape *s, float *scratch);

// ----------------------------------------------------------------------------------------------
// pooling

// Max-pool, kernel k, stride s, padding p <= k/2, floor mode (PyTorch's MaxPool2d(k, s, p):
// padded cells never win). out [B,OH,OW,C] with OH = (H + 2p - k)/s + 1; argmax [B,OH,OW,C]
// holds the flat input index h*W + w of each maximum.
void maxpool_forward(float *out, int32_t *argmax, const float *in, int B, int H, int W, int C,
                     int k, int s, int p);
// din [B,H,W,C] += dout routed to the argmax positions.
void maxpool_backward(float *din, const float *dout, const int32_t *argmax, int B, int H, int W,
                      int C, int k, int s, int p);
// Global average pool: out [B,C] = mean over H*W of in [B,H,W,C].
void avgpool_forward(float *out, const float *in, int B, int HW, int C);
// din [B,HW,C] += dout [B,C] / HW.
void avgpool_backward(float *din, const float *dout, int B, int HW, int C);

// ----------------------------------------------------------------------------------------------
// linear: out [B,O] = in [B,C] · w[O,C]ᵀ + bias [O] (bias may be NULL).
// (Not "I": OpenBLAS's cblas.h pulls in <complex.h>, which defines I as a macro.)

void linear_forward(float *out, const float *in, const float *w, const float *bias, int B, int C,
                    int O);
// din [B,C] += dout·w; dw [O,C] += doutᵀ·in; dbias [O] += Σ_b dout (din, dbias may be NULL).
void linear_backward(float *din, float *dw, float *dbias, const float *dout, const float *in,
                     const float *w, int B, int C, int O);

// ----------------------------------------------------------------------------------------------
// losses

// Softmax cross-entropy. probs [B,K] = softmax(logits [B,K]); returns Σ_b -log probs[b, y_b]
// (a sum, in double: callers divide by the global batch size). labels in [0, K).
// Index of the largest of v [K] (the first on ties); rows of logits [B, K] whose largest logit is
// their label y [B] (predictions that are right).
int argmax_row(const float *v, int K);
int count_correct(const float *logits, const int32_t *y, int B, int K);
double softmax_xent_forward(float *probs, const float *logits, const int32_t *labels, int B, int K);
// dlogits [B,K] += scale*(probs - onehot(labels)). scale is usually 1/global_batch
// (negative for gradient ascent).
void softmax_xent_backward(float *dlogits, const float *probs, const int32_t *labels, int B, int K,
                           float scale);
// Distillation: Σ over the B rows of KL(teacher‖student) = Σ_k p_t (log p_t − log p_s), with
// p = softmax(logits/T), student s [B,K], teacher t [B,K]; dlogits [B,K] += scale·(p_s − p_t)/T,
// its gradient in the student's logits times scale.
double distill_kl(const float *s, const float *t, int B, int K, float T, float scale,
                  float *dlogits);

// ----------------------------------------------------------------------------------------------
// L2 normalisation of rows: out [B,D] = in / max(‖in‖, eps), norms [B] saved for backward.
// (PyTorch F.normalize, eps = 1e-12.) norms holds the unclamped ‖in‖. Where ‖in‖ < eps the
// denominator is the constant eps, so backward adds just dout/eps there (as PyTorch's autograd).

void l2norm_forward(float *out, float *norms, const float *in, int B, int D);
// din [B,D] += (dout - out*<out, dout>) / max(‖in‖, eps).
void l2norm_backward(float *din, const float *dout, const float *out, const float *norms, int B,
                     int D);
