// unlearn_spec.c: checks of an UnlearnSpec (see unlearn.h); each method's own knobs' checks come
// from its descriptor (method.h). The defaults are the config schema's (harness/config).
#include <stdio.h>
#include <string.h>

#include "method.h"

int unlearn_uses_ec(const UnlearnSpec *s) {
  return s->ec.enabled && s->method != UNLEARN_ORIGINAL && s->method != UNLEARN_RETRAIN;
}

int unlearn_needs_original(const UnlearnSpec *s) {
  const UnlearnMethodDef *def = unlearn_method_def(s->method);
  return (def && def->needs_original) || (unlearn_uses_ec(s) && s->ec.push_original);
}

#define BAD(cond, ...) \
  if (cond) return errf(e, ERR_CONFIG, __VA_ARGS__)

static int check_ec(const EcSpec *s, const Model *m, Err *e) {
  BAD(!(s->temperature > 0), "ec.temperature must be positive, got %g", s->temperature);
  BAD(!(s->lambda_cu >= 0) || !(s->lambda_ce >= 0), "ec.lambda_cu and ec.lambda_ce must be >= 0");
  BAD(!(s->log_eps > 0), "ec.log_eps must be positive, got %g", s->log_eps);
  BAD(s->variant != EC_LOSS_CU && s->variant != EC_LOSS_FORGET_ONLY, "bad ec.variant %d",
      (int)s->variant);
  BAD(s->batch_size < 1, "ec.batch_size must be positive, got %d", s->batch_size);
  BAD(s->retain_per_forget < 1, "ec.retain_per_forget must be positive, got %d",
      s->retain_per_forget);
  BAD(s->epochs < 0, "ec.epochs must be >= 0, got %d", s->epochs);
  BAD(!(s->lr > 0), "ec.lr must be positive, got %g", s->lr);
  BAD(!(s->momentum >= 0 && s->momentum < 1), "ec.momentum must be in [0, 1)");
  BAD(!(s->weight_decay >= 0), "ec.weight_decay must be >= 0");
  BAD(s->cka_every < 1, "ec.cka_every must be positive, got %d", s->cka_every);
  const LayerWeights *w = &s->layer_weights;
  BAD(w->scheme == EC_WEIGHTS_CKA && s->cka_probe < 2, "the cka probe needs >= 2 images");
  int rc = aux_spec_check(&s->aux, m->spec.arch, e);
  if (rc) return rc;
  const int n = s->aux.n_points ? s->aux.n_points : m->n_points;
  BAD(w->scheme == EC_WEIGHTS_LIST && w->list.n != n,
      "ec.layer_weights has %d weights for %d supervision points", w->list.n, n);
  for (int k = 0; w->scheme == EC_WEIGHTS_LIST && k < n; k++)
    BAD(!(w->list.v[k] >= 0), "ec.layer_weights[%d] must be >= 0", k);
  for (int k = 0; k < s->aux.n_points; k++)
    BAD(s->aux.points[k] < 0 || s->aux.points[k] >= m->n_points, "bad supervision point %d",
        s->aux.points[k]);
  return 0;
}

int unlearn_spec_check(const UnlearnSpec *s, const Model *m, Err *e) {
  BAD(s->method < 0 || s->method >= UNLEARN_METHOD_COUNT, "unknown unlearning method %d",
      (int)s->method);
  if (s->method == UNLEARN_RETRAIN) {
    const TrainRecipe *r = &s->retrain;
    BAD(r->epochs < 0 || r->batch_size < 1 || !(r->lr > 0), "bad retrain recipe");
    return 0;
  }
  const UnlearnMethodDef *def = unlearn_method_def(s->method);
  if (s->method != UNLEARN_ORIGINAL && s->method != UNLEARN_NONE)
    BAD(s->batch_size < 1, "unlearn.batch_size must be positive, got %d", s->batch_size);
  if (s->method != UNLEARN_ORIGINAL && !def->ec_alone) {  // its own optimiser and schedule
    BAD(s->epochs < 0, "unlearn.epochs must be >= 0, got %d", s->epochs);
    BAD(!(s->lr > 0), "unlearn.lr must be positive, got %g", s->lr);
    BAD(!(s->momentum >= 0 && s->momentum < 1), "unlearn.momentum must be in [0, 1)");
    BAD(!(s->weight_decay >= 0), "unlearn.weight_decay must be >= 0");
    BAD(s->schedule != SCHED_CONSTANT && s->schedule != SCHED_COSINE,
        "unlearn.schedule must be constant or cosine");
  }
  // Every method's knobs, whatever the method: a spec is valid or not whichever it names.
  for (int i = 0; i < UNLEARN_METHOD_COUNT; i++) {
    const UnlearnMethodDef *def = unlearn_methods[i];
    int rc = def->check ? def->check(s, e) : 0;
    if (rc) return rc;
  }
  if (unlearn_uses_ec(s)) return check_ec(&s->ec, m, e);
  return 0;
}
