// runspec.h: a run's resolved Config turned into the plain structs the solver and the jobs
// take (nothing below harness/ sees a Config).
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
  uint64_t split_seed;
  Arch arch;
  int width;
  TrainRecipe train;
  UnlearnSpec unlearn;
  EvalOptions eval;
  const char *const *point_names;  // EC supervision points (model.points), n_points of them
  int n_points;
  uint64_t seed;
} RunSpec;

// Fills s from a resolved run config (config_resolve done). ERR_CONFIG for what only shows
// here (e.g. too many files).
int runspec_from_config(RunSpec *s, const Config *c, Err *e);
// Checks a loaded data set against data.allow_reduced: the named data sets must hold their
// full size (mnist 60000/10000, cifar 50000/10000) unless data.max_train/max_test cut them or
// allow_reduced accepts a sample. ERR_CONFIG naming the numbers.
int runspec_check_data(const RunSpec *s, const Dataset *d, Err *e);
// The ModelSpec of the run's network on data d with the given batch capacity.
ModelSpec runspec_model(const RunSpec *s, const Dataset *d, int batch_capacity);
