// methods.c: the registry of unlearning methods, indexed by UnlearnMethod, and what unlearn.h
// reads from it (names, usual settings). A method's descriptor is in its m_<name>.c.
#include <string.h>

#include "method.h"

// Not run by phases: unlearn_run handles them itself.
static const UnlearnMethodDef method_original = {.name = "original"};
static const UnlearnMethodDef method_retrain = {.name = "retrain"};

extern const UnlearnMethodDef method_none, method_ft, method_ga, method_neggrad_plus, method_rl,
    method_salun, method_l1sparse, method_scrub, method_bs, method_cu;

const UnlearnMethodDef *const unlearn_methods[UNLEARN_METHOD_COUNT] = {
    [UNLEARN_ORIGINAL] = &method_original,
    [UNLEARN_RETRAIN] = &method_retrain,
    [UNLEARN_NONE] = &method_none,
    [UNLEARN_FT] = &method_ft,
    [UNLEARN_GA] = &method_ga,
    [UNLEARN_NEGGRAD_PLUS] = &method_neggrad_plus,
    [UNLEARN_RL] = &method_rl,
    [UNLEARN_SALUN] = &method_salun,
    [UNLEARN_L1SPARSE] = &method_l1sparse,
    [UNLEARN_SCRUB] = &method_scrub,
    [UNLEARN_BS] = &method_bs,
    [UNLEARN_CU] = &method_cu,
};

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
