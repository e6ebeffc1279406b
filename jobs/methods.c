// methods.c: the registry of unlearning methods, indexed by UnlearnMethod, and what unlearn.h
// reads from it (names, usual settings). A method's descriptor is in its m_<name>.c.
#include <string.h>

#include "method.h"

// Not run by phases: unlearn_run handles them itself.
static const UnlearnMethodDef method_original = {.name = "original"};
static const UnlearnMethodDef method_retrain = {.name = "retrain"};

// The registry: one line per method run by phases, its UnlearnMethod value and its descriptor.
#define METHODS(X)                             \
  X(UNLEARN_NONE, method_none)                 \
  X(UNLEARN_FT, method_ft)                     \
  X(UNLEARN_GA, method_ga)                     \
  X(UNLEARN_NEGGRAD_PLUS, method_neggrad_plus) \
  X(UNLEARN_RL, method_rl)                     \
  X(UNLEARN_SALUN, method_salun)               \
  X(UNLEARN_L1SPARSE, method_l1sparse)         \
  X(UNLEARN_SCRUB, method_scrub)               \
  X(UNLEARN_BS, method_bs)                     \
  X(UNLEARN_CU, method_cu)                     \
  X(UNLEARN_BAD_TEACHER, method_bad_teacher)   \
  X(UNLEARN_SSD, method_ssd)                   \
  X(UNLEARN_UNSIR, method_unsir)               \
  X(UNLEARN_BE, method_be)

#define DECLARE(value, def) extern const UnlearnMethodDef def;
METHODS(DECLARE)
#define ENTRY(value, def) [value] = &def,
const UnlearnMethodDef *const unlearn_methods[UNLEARN_METHOD_COUNT] = {
    [UNLEARN_ORIGINAL] = &method_original, [UNLEARN_RETRAIN] = &method_retrain, METHODS(ENTRY)};

const UnlearnMethodDef *unlearn_method_def(UnlearnMethod m) {
  return m >= 0 && m < UNLEARN_METHOD_COUNT ? unlearn_methods[m] : NULL;
}

int unlearn_method_from_name(const char *name) {
  for (int i = 0; i < UNLEARN_METHOD_COUNT; i++)
    if (!strcmp(name, unlearn_methods[i]->name)) return i;
  return -1;
}

const char *unlearn_method_name(UnlearnMethod m) {
  const UnlearnMethodDef *def = unlearn_method_def(m);
  return def ? def->name : "?";
}

void unlearn_method_usual(UnlearnMethod m, double *lr, int *epochs) {
  const UnlearnMethodDef *def = unlearn_method_def(m);
  *lr = def ? def->usual_lr : 0.0;
  *epochs = def ? def->usual_epochs : 0;
}
