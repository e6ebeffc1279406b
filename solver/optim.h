// optim.h: SGD with momentum (PyTorch semantics) and learning-rate schedules.
#pragma once

#include <stdint.h>

#include "err.h"

typedef struct {
  float momentum, weight_decay;
  int nesterov;
  int64_t n;        // parameters updated
  float *velocity;  // [n], the momentum buffer
  int64_t steps;    // updates done (the first one initialises the buffer, as PyTorch does)
} Sgd;

int sgd_init(Sgd *o, int64_t n, float momentum, float weight_decay, int nesterov, Err *e);
void sgd_free(Sgd *o);
// One update of params [n] with grads [n] at learning rate lr:
//   g = grad + wd*p; v = momentum*v + g (v = g on the first step);
//   p -= lr * (nesterov ? g + momentum*v : v).
// mask [n] (may be NULL) multiplies g before anything else: masked parameters stay put
// (SalUn's saliency mask; weight decay does not move them either).
void sgd_step(Sgd *o, float *params, const float *grads, float lr, const float *mask);

typedef enum { SCHED_CONSTANT, SCHED_STEP, SCHED_MULTISTEP, SCHED_COSINE } SchedKind;

typedef struct {
  SchedKind kind;
  float base_lr;
  int epochs;         // cosine: the whole length
  int step_size;      // step: every step_size epochs ...
  float gamma;        // ... multiply by gamma (step and multistep)
  int milestones[8];  // multistep: epochs at which to multiply by gamma
  int n_milestones;
  int warmup_epochs;  // linear warm-up from 0 over these epochs (0: none)
} LrSchedule;

// Learning rate at fractional progress epoch + step/steps_per_epoch. Step-wise schedules
// change at epoch boundaries; cosine is smooth per step: 0.5*base*(1 + cos(pi*t/epochs)).
float lr_at(const LrSchedule *s, int epoch, int step, int steps_per_epoch);
// "constant", "step", "multistep", "cosine" -> kind; -1 if unknown.
int sched_from_name(const char *name);
