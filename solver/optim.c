// optim.c: see optim.h.
#include "optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int sgd_init(Sgd *o, int64_t n, float momentum, float weight_decay, int nesterov, Err *e) {
  memset(o, 0, sizeof *o);
  o->n = n, o->momentum = momentum, o->weight_decay = weight_decay, o->nesterov = nesterov;
  o->velocity = calloc((size_t)n, sizeof(float));
  if (!o->velocity)
    return errf(e, ERR_RUNTIME, "sgd: out of memory for %lld parameters", (long long)n);
  return 0;
}

void sgd_free(Sgd *o) {
  free(o->velocity);
  memset(o, 0, sizeof *o);
}

void sgd_step(Sgd *o, float *params, const float *grads, float lr, const float *mask) {
  const float mu = o->momentum, wd = o->weight_decay;
  const int first = o->steps == 0;
  float *v = o->velocity;
  for (int64_t i = 0; i < o->n; i++) {
    float g = grads[i] + wd * params[i];
    if (mask) g *= mask[i];
    if (mu != 0.0f) {
      v[i] = first ? g : mu * v[i] + g;
      g = o->nesterov ? g + mu * v[i] : v[i];
    }
    params[i] -= lr * g;
  }
  o->steps++;
}

int sched_from_name(const char *name) {
  static const char *names[] = {"constant", "step", "multistep", "cosine"};
  for (int i = 0; i < 4; i++)
    if (!strcmp(name, names[i])) return i;
  return -1;
}

float lr_at(const LrSchedule *s, int epoch, int step, int steps_per_epoch) {
  double t = epoch + (steps_per_epoch > 0 ? (double)step / steps_per_epoch : 0.0);
  double lr = s->base_lr;
  switch (s->kind) {
    case SCHED_CONSTANT:
      break;
    case SCHED_STEP:
      if (s->step_size > 0) lr *= pow(s->gamma, epoch / s->step_size);
      break;
    case SCHED_MULTISTEP:
      for (int i = 0; i < s->n_milestones; i++)
        if (epoch >= s->milestones[i]) lr *= s->gamma;
      break;
    case SCHED_COSINE:
      if (s->epochs > 0)
        lr = 0.5 * s->base_lr * (1.0 + cos(3.14159265358979323846 * t / s->epochs));
      break;
  }
  if (s->warmup_epochs > 0 && t < s->warmup_epochs) lr *= t / s->warmup_epochs;
  return (float)lr;
}
