// m_bs.c: Boundary Shrink's labels (Chen et al. 2023). For each forget image x with label y, one
// FGSM step against the frozen original, x_adv = clip(x + ε·sign(∇_x CE(θ_o(x), y))), finds the
// nearest decision boundary; the label θ_o gives x_adv (the best class other than y, so that the
// label is always a wrong one) is what the student is then trained to predict on x.
//
// ε is in [0,1] pixel units; inputs are normalised per channel, (p − mean)/std, so the step in
// channel c is ε/std_c and x_adv is clipped to the normalised image of [0,1], [−mean/std,
// (1 − mean)/std]. θ_o runs in eval mode: no collective, each rank labels its own rows.
#include <string.h>

#include "run.h"

void bs_targets(Run *r) {
  Model *o = &r->orig;
  const int nf = r->rs.nf, K = o->spec.num_classes;
  if (nf == 0) return;
  const ImageSet *s = &r->d->train;
  const int C = s->c, HW = s->h * s->w;
  const size_t n = (size_t)nf * C * HW;
  model_forward(o, r->x, nf, 0);
  // d(CE)/d(logits) = p − onehot(y); its scale does not matter to the sign.
  float *dl = r->tlogits;
  memset(dl, 0, (size_t)nf * K * sizeof(float));
  softmax_xent_forward(r->probs, model_logits(o), r->y, nf, K);
  softmax_xent_backward(dl, r->probs, r->y, nf, K, 1.0f);
  model_zero_grads(o);  // θ_o's gradient arena is scratch here; θ_o never takes a step
  model_backward(o, dl, NULL, r->dinput);
  const float eps = r->spec->bs.eps;
  for (size_t t = 0; t < n; t++) {
    const int c = (int)((t / HW) % C);
    const float lo = -r->d->mean[c] / r->d->std[c], hi = (1.0f - r->d->mean[c]) / r->d->std[c];
    const float g = r->dinput[t], step = eps / r->d->std[c];
    float v = r->x[t] + (g > 0 ? step : g < 0 ? -step : 0.0f);
    r->xadv[t] = v < lo ? lo : v > hi ? hi : v;
  }
  model_forward(o, r->xadv, nf, 0);
  const float *logits = model_logits(o);
  for (int i = 0; i < nf; i++) {
    int best = -1;
    for (int k = 0; k < K; k++)
      if (k != r->y[i] && (best < 0 || logits[i * K + k] > logits[i * K + best])) best = k;
    r->target[i] = best;
  }
}
