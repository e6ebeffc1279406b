// defaults.c: the code's specs holding the schema's defaults (see runspec.h).
#include <string.h>

#include "runspec.h"

// The run spec of the default config with unlearn.method m; nothing in it points into the
// config, which is gone when this returns.
static int defaults(RunSpec *rs, UnlearnMethod m) {
  ConfigFile *cf = NULL;
  Err e;
  memset(rs, 0, sizeof *rs);
  int rc = config_load(&cf, "(defaults)", "{}\n", 0, NULL, &e);
  if (!rc) {
    Config c = cf->base;
    c.unlearn.method = m;
    config_resolve(&c);  // the method's usual lr and epochs
    rc = runspec_from_config(rs, &c, &e);
  }
  config_free(cf);
  rs->model.points = (StrList){0};
  rs->unlearn.ec.layer_weights.list = (FloatList){0};
  rs->train.milestones = rs->unlearn.retrain.milestones = rs->forget.classes = (IntList){0};
  if (rc) memset(rs, 0, sizeof *rs);
  return rc;
}

int unlearn_spec_defaults(UnlearnSpec *s, UnlearnMethod m) {
  RunSpec rs;
  int rc = defaults(&rs, m);
  *s = rs.unlearn;
  s->ec.enabled = false;  // a library caller turns EC on (the config's default is on)
  return rc;
}

int ec_spec_defaults(EcSpec *s) {
  RunSpec rs;
  int rc = defaults(&rs, UNLEARN_NONE);
  *s = rs.unlearn.ec;
  return rc;
}

int aux_spec_defaults(AuxSpec *s) {
  RunSpec rs;
  int rc = defaults(&rs, UNLEARN_NONE);
  *s = rs.unlearn.ec.aux;
  return rc;
}

int train_recipe_defaults(TrainRecipe *r) {
  RunSpec rs;
  int rc = defaults(&rs, UNLEARN_NONE);
  *r = rs.train;
  return rc;
}

int eval_options_default(EvalOptions *o) {
  RunSpec rs;
  int rc = defaults(&rs, UNLEARN_NONE);
  *o = rs.eval;
  return rc;
}
