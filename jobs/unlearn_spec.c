// unlearn_spec.c: defaults and checks of an UnlearnSpec (see unlearn.h); each method's own
// usual settings, knob defaults and checks come from its descriptor (method.h).
#include <stdio.h>
#include <string.h>

#include "method.h"

void train_recipe_defaults(TrainRecipe *r) {
  memset(r, 0, sizeof *r);
  r->epochs = 30, r->batch_size = 128;
  r->lr = 0.1f, r->momentum = 0.9f, r->weight_decay = 5e-4f;
  r->schedule.kind = SCHED_COSINE;
  r->schedule.gamma = 0.1f;
}

void ec_spec_defaults(EcSpec *s) {
  memset(s, 0, sizeof *s);
  s->temperature = 0.7f;
  s->lambda_cu = 3.0f, s->lambda_ce = 1.0f;
  s->log_eps = 1e-8f;
  s->variant = EC_LOSS_CU;
  s->detach_retain = 1;
  s->weights = EC_WEIGHTS_UNIFORM;
  s->cka_every = 20, s->cka_probe = 128;
  s->batch_size = 64, s->retain_per_forget = 4;
  s->epochs = 5;
  s->lr = 0.01f, s->momentum = 0.9f, s->weight_decay = 5e-4f;
  aux_spec_defaults(&s->aux);
  s->pretrain = (EcPretrainSpec){.epochs = 5,
                                 .batch_size = 128,
                                 .lr = 0.01f,
                                 .momentum = 0.9f,
                                 .weight_decay = 5e-4f,
                                 .supcon_temperature = 0.1f};
}

void unlearn_spec_defaults(UnlearnSpec *s, UnlearnMethod method) {
  memset(s, 0, sizeof *s);
  s->method = method;
  const UnlearnMethodDef *def = unlearn_method_def(method);
  if (def) s->lr = (float)def->usual_lr, s->epochs = def->usual_epochs;
  s->batch_size = 128;
  s->momentum = 0.9f, s->weight_decay = 5e-4f;
  s->schedule = SCHED_CONSTANT;
  for (int i = 0; i < UNLEARN_METHOD_COUNT; i++)  // every method's knobs, whatever the method
    if (unlearn_methods[i]->defaults) unlearn_methods[i]->defaults(s);
  train_recipe_defaults(&s->retrain);
  ec_spec_defaults(&s->ec);
}

int unlearn_check_data(const Model *m, const Dataset *d, Err *e) {
  const ModelSpec *s = &m->spec;
  const ImageSet *t = &d->train;
  if (s->in_c != t->c || s->in_h != t->h || s->in_w != t->w || s->num_classes != t->num_classes)
    return errf(e, ERR_CONFIG,
                "the %s takes %dx%dx%d images in %d classes, the data set has %dx%dx%d in %d",
                arch_name(s->arch), s->in_c, s->in_h, s->in_w, s->num_classes, t->c, t->h, t->w,
                t->num_classes);
  return 0;
}

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
  BAD(s->weights == EC_WEIGHTS_CKA && s->cka_probe < 2, "the cka probe needs >= 2 images");
  BAD(s->aux.proj_dim < 1, "ec.proj_dim must be positive, got %d", s->aux.proj_dim);
  BAD(s->aux.summariser == AUX_SUMMARISER_CONV && m->spec.arch == ARCH_MLP,
      "ec.summariser conv needs a convolutional network, not mlp");
  const int n = s->aux.n_points ? s->aux.n_points : m->n_points;
  BAD(s->weights == EC_WEIGHTS_LIST && s->n_weights != n,
      "ec.layer_weights has %d weights for %d supervision points", s->n_weights, n);
  for (int k = 0; s->weights == EC_WEIGHTS_LIST && k < n; k++)
    BAD(!(s->weight_list[k] >= 0), "ec.layer_weights[%d] must be >= 0", k);
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
  if (s->method != UNLEARN_ORIGINAL && s->method != UNLEARN_NONE) {
    BAD(s->epochs < 0, "unlearn.epochs must be >= 0, got %d", s->epochs);
    BAD(s->batch_size < 1, "unlearn.batch_size must be positive, got %d", s->batch_size);
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
