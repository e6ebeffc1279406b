// ckpt.h: model checkpoints in HDF5 (README "Checkpoints").
//
// Layout:
//   /params/<state_dict key>    float32, PyTorch shape (BN running stats among them)
//   /optim/<state_dict key>     float32, the SGD momentum buffer (resumable checkpoints only)
//   /aux/<name>                 float32, extra tensors (EC auxiliary modules)
//   attributes on /: arch, stem (model.h's Stem by name; absent in files written before it:
//   cifar), num_classes, role, run_id, input_shape [C,H,W], mean [C], std [C],
//   and for resumable checkpoints: seed, epoch, step, opt_steps (where training stopped).
// Saving writes PATH.tmp and renames it over PATH, so a crash never leaves a torn checkpoint.
#pragma once

#include <stdint.h>

#include "err.h"
#include "model.h"
#include "optim.h"

typedef struct {
  char role[16];          // "original", "retrain", "ec_modules", "unlearned"
  char run_id[64];        // for an unlearned model; "" otherwise
  float mean[4], std[4];  // input normalisation, one value per channel
  // Training progress (resumable checkpoints). A run resumed from here continues at
  // (epoch, step) with the optimiser's momentum and step count restored.
  int has_progress;
  uint64_t seed;
  int64_t epoch, step, opt_steps;
} CkptMeta;

// A named float tensor saved under /aux/ (shape up to 4 dims).
typedef struct {
  const char *name;
  const float *data;
  int ndim;
  int shape[4];
} CkptTensor;

// Saves m's parameters and buffers, meta, the optimiser state when opt != NULL, and the
// n_aux tensors under /aux/.
int ckpt_save(const char *path, const Model *m, const CkptMeta *meta, const Sgd *opt,
              const CkptTensor *aux, int n_aux, Err *e);
// Loads into m (built with the same arch, stem and classes; checked, as is every key and shape).
// Fills meta if not NULL; restores opt if not NULL (the file must then hold /optim).
int ckpt_load(const char *path, Model *m, CkptMeta *meta, Sgd *opt, Err *e);
// Reads /aux/<name> into data [count floats]; the stored size must equal count.
int ckpt_load_aux(const char *path, const char *name, float *data, int64_t count, Err *e);
// Reads the attributes that say which model a file holds, without building one (stem may be NULL).
int ckpt_peek(const char *path, char *arch, int arch_len, int *num_classes, int input_shape[3],
              Stem *stem, Err *e);
// Whether meta's input normalisation equals mean, std [c] (within 1e-6, float rounding of the
// same decimal values).
int ckpt_same_norm(const CkptMeta *meta, const float *mean, const float *std, int c);
