// plan.h: a loaded config expanded into runs, each with a stable id, and the shared jobs they
// need (original models, retrained models, pretrained EC modules).
//
// Runs: the product of sweep.grid's axes, plus sweep.cases, each for every seed (a plan may
// join several configs of one sweep, plan_expand_all: the runs of each, once). An axis that
// does not apply to a run (config_applies) does not multiply it; unlearn.method none with EC
// off is dropped. A run's id hashes its seed and its applying settings that differ from the
// defaults (after config_resolve), so that neither the order of keys nor the way a value is
// written changes it. Two settings that give the same id are one run.
//
// A sweep's identity (its sweep id) is what its runs share, not the list of runs: the keys it
// varies (grid axes and keys set by cases, as a set) and the value of every other key that is
// part of run ids (data, model, recipes, forget set, ...), and the content of given checkpoints.
// Configs that only add seeds, grid values or cases over the same keys are of one sweep: their
// runs go into one results file (ecore sweep extends it) and their files merge.
#pragma once

#include <stdint.h>

#include "ckpt.h"
#include "config.h"
#include "results.h"

typedef enum { JOB_ORIGINAL, JOB_RETRAIN, JOB_EC_MODULES, JOB_KINDS } JobKind;

typedef struct {
  JobKind kind;
  uint64_t id;
  int seed;
  int needs;  // the job this one starts from (the original model), or -1
  int run;    // the first run that needs it: its config holds the job's settings
  int label;  // 1-based number among jobs of its kind, for listings (O1, R2, M1)
  // Original and retrain jobs of a given checkpoint (model.original, model.retrained): its
  // content digest (plan_model_digest), which the job's id and its runs' ids fold in; 0: trained.
  uint64_t digest;
} PlanJob;

typedef struct {
  uint64_t id;
  int seed;
  int cfg;             // the config it comes from: Plan.cfs[cfg]
  int source;          // -1: the grid (or the config alone); >= 0: that case of sweep.cases
  uint64_t combo;      // grid combination: mixed-radix digits, one per axis, first axis slowest
  int job[JOB_KINDS];  // indices into Plan.jobs; job[JOB_EC_MODULES] is -1 without EC
} PlanRun;

typedef struct {
  const ConfigFile *cf;    // the first config (cfs[0]); must outlive the plan
  const ConfigFile **cfs;  // [n_cfs] the configs it joins; the plan frees them if owns_cfs
  int n_cfs;
  bool owns_cfs;
  uint64_t sweep_id;    // the sweep's identity: a hash of what its runs share (above)
  uint64_t run_set_id;  // a hash of the set of run ids: the sweep id files had before (v1)
  int n_runs, n_jobs;
  PlanRun *runs;
  PlanJob *jobs;
  // The keys that vary between runs: the grid's axes, then keys set by cases, in first-seen
  // order (one column each in listings and results).
  int n_columns;
  int *columns;
  long long combos, dropped;  // grid combinations looked at; dropped as the original model
  // plan_expand: the keys the config sets (file, --set, grid axis) that apply to none of its
  // runs, so take no effect; the commands warn of each (plan_unused_message).
  int n_unused;
  int *unused;
} Plan;

// Expands cf into runs and jobs, checking every run (config_check, paths included), and lists
// the keys the config sets that apply to no run (p->unused). Errors point at the value at
// fault: FILE:LINE:COL, or the --set argument.
int plan_expand(Plan **out, const ConfigFile *cf, Err *e);
// "FILE:LINE:COL: KEY is set but applies to no run of this sweep (only when ...)" for the
// i-th of p->unused, into buf.
void plan_unused_message(const Plan *p, int i, char *buf, size_t size);
// The same, checking paths (that the data files exist) only when check_paths: a results file's
// stored config expands to its runs anywhere, its data elsewhere or gone (ecore export).
int plan_expand_paths(Plan **out, const ConfigFile *cf, int check_paths, Err *e);
// The runs of every config of cfs[n] (configs of one sweep: plan_same_sweep), each run once, in
// config order; columns: the first config's, then any other's new ones. The sweep id is the
// first config's.
int plan_expand_all(Plan **out, const ConfigFile *const *cfs, int n, int check_paths, Err *e);
// 0 when a and b are plans of one sweep, the same keys varied in the same order; else
// ERR_CONFIG naming a_name and b_name (a file, a config) and the first difference: a key one
// varies and the other does not, a shared key and its two values, a given checkpoint's two
// digests, or the order of the varied keys (the columns of a results file).
int plan_same_sweep(const Plan *a, const char *a_name, const Plan *b, const char *b_name, Err *e);
// *n: how many runs of q are not runs of p.
int plan_new_runs(const Plan *p, const Plan *q, int *n, Err *e);
void plan_free(Plan *p);
// The resolved config of run i (seed included).
void plan_run_config(const Plan *p, int i, Config *out);
// The id of a run with this resolved config (its seed included): what plan_expand gives it
// when the config gives no checkpoint (plan_expand folds in the digests of given ones).
// defaults: the schema's defaults (ConfigFile.defaults).
uint64_t plan_config_id(const Config *resolved, const Config *defaults);
// 16 lowercase hex digits.
void plan_id_text(uint64_t id, char buf[17]);
const char *plan_job_kind_name(JobKind k);  // "original", "retrain", "ec_modules"

// What a results file's stored config is loaded for (plan_load_stored).
typedef enum {
  // The settings its runs used (ecore export): /config/expanded only, which writes out every
  // value (defaults and --set arguments included), so a plan of the file's sweep from it has
  // exactly the runs' settings.
  STORED_SETTINGS,
  // Its runs and their ids (ecore status): /config/expanded, else /config/given. The given
  // config still plans the file's sweep when a default changed since (the expanded one then
  // pins the old value, which changes the ids), but a run's setting left at that default then
  // reads as today's default, not the one the run used.
  STORED_IDS,
} StoredUse;
// Loads the configs the results file t (read from `file`) stores and expands them without
// looking for the data (stored.c): the first of the sources `use` allows that plans the file's
// sweep (its sweep id, or the set of its runs' in a file written before sweep ids named what
// runs share), joined with the configs added to the file (/config/added_N, each of the first
// one's sweep: plan_same_sweep). *from (may be NULL): "/config/expanded" or "/config/given".
// The plan owns its configs (plan_free). ERR_CONFIG when none plans the sweep, saying why for
// each (its load error with the position, or the sweep it gives) and which ecore wrote the
// file, or when an added config is not of the sweep.
int plan_load_stored(Plan **plan, const ResultsTable *t, const char *file, StoredUse use,
                     const char **from, Err *e);
// 0 when the results files t[n] (read from files) hold one sweep: the same sweep id, else their
// stored configs plan one sweep (plan_same_sweep, naming the files); what `ecore merge` checks.
int plan_same_stored(const ResultsTable *t, const char *const *files, int n, Err *e);

// Given checkpoints (given.c). The digest of a model's content: architecture, classes, input
// shape, normalisation (meta's mean and std), and every parameter and buffer by name, shape and
// value; a copy of the same model in another file, or under another path, has the same digest.
uint64_t plan_model_digest(const Model *m, const CkptMeta *meta);
// Checks the checkpoint that key (model.original or model.retrained) names in the resolved run
// config c: it exists, is an ecore checkpoint, and holds model.arch at model.width with the data
// set's classes, image shape and normalisation (those known before the data loads; the sweep
// checks the rest when it uses the file). Fills *digest. ERR_CONFIG with f filled (f->key: key).
int plan_check_given(const Config *c, int key, uint64_t *digest, CheckFail *f);
