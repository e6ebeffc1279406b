// runspec.h: what one run computes with: the sections of its resolved Config (the code's own
// structs, filled by the schema) and what is derived from them (the split seed, the retraining
// recipe and EC inside the unlearning spec, the data set's files). Nothing below harness/ sees a
// Config; everything below takes these structs.
#pragma once

#include "config.h"
#include "data.h"
#include "metrics.h"
#include "model.h"
#include "unlearn.h"

typedef struct {
  DataSpec data;
  bool allow_reduced;  // data.allow_reduced (runspec_check_data)
  ForgetSpec forget;
  uint64_t split_seed;  // forget.split_seed, or the run's seed
  ModelCfg model;
  TrainRecipe train;
  UnlearnSpec unlearn;
  EvalOptions eval;
  uint64_t seed;
} RunSpec;

// The values a run uses that are not config keys (the CKA probe's size, the modules'
// pretraining momentum, weight decay and SupCon temperature, cu's λ_cu and λ_ce): the one place
// they are written.
void runspec_fixed(UnlearnSpec *u);
// Fills s from a resolved run config (config_resolve done). ERR_CONFIG for what only shows
// here (e.g. too many files).
int runspec_from_config(RunSpec *s, const Config *c, Err *e);
// The code's specs filled with the schema's defaults (and runspec_fixed's values), for callers
// that make a spec without a config: tests and benchmarks. The schema is the only table of
// defaults. unlearn_spec_defaults gives method m's usual lr and epochs and, unlike the config,
// EC off (the caller turns it on). Lists are empty.
// Each returns 0, or ERR_RUNTIME when out of memory (the spec is then zero).
int unlearn_spec_defaults(UnlearnSpec *s, UnlearnMethod m);
int ec_spec_defaults(EcSpec *s);
int aux_spec_defaults(AuxSpec *s);
int train_recipe_defaults(TrainRecipe *r);
int eval_options_default(EvalOptions *o);
// Checks a loaded data set against data.allow_reduced: the named data sets must hold their
// full size (mnist 60000/10000, cifar 50000/10000) unless data.max_train/max_test cut them or
// allow_reduced accepts a sample. ERR_CONFIG naming the numbers.
int runspec_check_data(const RunSpec *s, const Dataset *d, Err *e);
// The ModelSpec of the run's network on data d with the given batch capacity.
ModelSpec runspec_model(const RunSpec *s, const Dataset *d, int batch_capacity);
