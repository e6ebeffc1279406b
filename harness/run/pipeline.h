// pipeline.h: one run's pipeline, the same steps for a sweep's work items (sweep/sweep_items.c)
// and for `ecore eval` (cli/cmd_eval.c):
//
//   RunSpec -> data set (checked) -> forget split D_f, D_r -> θ_o and θ_rt (trained or loaded)
//   and EC's modules -> θ_u = unlearn(θ_o) -> metrics of θ_u against θ_o and θ_rt -> avg gap
//
// A Pipe holds what the steps share. Every function is collective over the Pipe's group of
// ranks unless it says otherwise; each returns 0 or an ERR_* code with e filled.
#pragma once

#include <mpi.h>

#include "runspec.h"

// HDF5 is not thread-safe: when another thread of the process uses it (the sweep's results
// writer), fn(user, 1) and fn(user, 0) bracket every file access. fn NULL: no lock.
typedef struct {
  void (*fn)(void *user, int begin);
  void *user;
} PipeLock;

typedef struct {
  RunSpec rs;
  const Dataset *d;  // the caller's (pipe_load_data)
  ForgetSplit fs;
  MPI_Comm g;
  int grank, gsize;
  int capacity;  // local batch capacity of new models: train.batch_size over the group
  PipeLock lock;
} Pipe;

// Loads the run's data set and checks it against data.allow_reduced (one rank's work: every
// rank that needs the data calls it).
int pipe_load_data(Dataset *d, const RunSpec *rs, PipeLock lock, Err *e);
// Makes the forget split of d for rs (d must outlive p).
int pipe_open(Pipe *p, const RunSpec *rs, const Dataset *d, MPI_Comm g, PipeLock lock, Err *e);
void pipe_close(Pipe *p);

// Creates "dir" and its parents as needed (one rank's work).
int pipe_mkdir(const char *dir, Err *e);
// A new, uninitialised model of the run's network with p->capacity, data-parallel over p->g.
int pipe_new_model(const Pipe *p, Model *m, Err *e);
// A new model holding the checkpoint at path (every rank reads it).
int pipe_load_model(const Pipe *p, const char *path, Model *m, Err *e);
// A new model holding a checkpoint given for θ_o or θ_rt (model.original, model.retrained),
// checked against the run's data set: it must take its image shape and normalisation (ERR_CONFIG
// naming both). meta: the file's attributes. Every rank reads it.
int pipe_load_given(const Pipe *p, const char *path, Model *m, CkptMeta *meta, Err *e);
// Saves m to path (ckpt_save with role, run_id and the data set's normalisation) on the group's
// first rank, after creating dir; the others wait, so the file is complete when this returns.
int pipe_save_model(const Pipe *p, const char *dir, const char *path, const Model *m,
                    const char *role, const char *run_id, Err *e);
// Trains m from scratch with the run's recipe: on D (retrain 0) or D_r (retrain 1). partial: the
// resumable checkpoint's path (train.checkpoint_every; dir is created first when saving).
int pipe_train(const Pipe *p, Model *m, int retrain, const char *dir, const char *partial,
               const UnlearnProgress *prog, Err *e);
// EC's modules for the run's supervision points on orig's network (parameters zero until
// aux_init or aux_load). aux->comm is the group.
int pipe_modules(const Pipe *p, const Model *orig, AuxModules *aux, Err *e);
// θ_u: u starts as a copy of θ_o and is unlearned by the run's method (and EC with modules).
int pipe_unlearn(const Pipe *p, Model *u, const Model *orig, const AuxModules *modules,
                 const UnlearnProgress *prog, Err *e);
// The metrics of m against orig and rt (either may be NULL) with the input normalisation
// mean, std (NULL: the data set's).
int pipe_evaluate(const Pipe *p, EvalResult *r, Model *m, Model *orig, Model *rt, const float *mean,
                  const float *std, Err *e);
// avg gap of r to the retrained model's own metrics: ref when given (a sweep keeps them beside
// θ_rt's checkpoint), else measured now on rt (accuracies and MIA; into *own when not NULL).
int pipe_gap(const Pipe *p, double *gap, const EvalResult *r, const EvalResult *ref, Model *rt,
             EvalResult *own, const float *mean, const float *std, Err *e);
