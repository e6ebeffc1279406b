// config.h: the experiment config as a plain C struct, and how it is made from YAML.
//
// Config is what the rest of the program reads; nothing outside harness/ sees YAML. Its sections
// are the structs the code runs on (ForgetSpec, TrainRecipe, UnlearnSpec, EcSpec, EvalOptions),
// so the schema fills them directly; data, model, sweep and output are the config's own. Values
// come, in increasing precedence, from the defaults in the schema (schema.c), the config file
// and --set overrides. Every key is one line of the schema table: dotted name, type, offset in
// Config, default, range, when it applies and a doc line; docs/config.md is generated from it.
//
// Strings and lists in a Config point into memory owned by the ConfigFile it came from (and by
// the Plan, for per-run values), so a Config is a small value that can be copied freely while
// those live.
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "aux.h"
#include "err.h"
#include "lists.h"
#include "metrics.h"
#include "model.h"
#include "optim.h"
#include "unlearn.h"
#include "ytree.h"

// An enum key stores the value of the code's own enum (Arch, SchedKind, UnlearnMethod, ...): its
// schema line lists the names and, where they are not 0, 1, 2, ... in order, the values. The
// two enums below exist only here: the data section is the config's own (runspec.c resolves it
// into the solver's DataSpec: files by name, a normalisation mode, augmentation flags).
typedef enum {
  CFG_DATA_MNIST,
  CFG_DATA_FASHION_MNIST,
  CFG_DATA_CIFAR10,
  CFG_DATA_CIFAR100,
  CFG_DATA_HDF5,
  CFG_DATA_SYNTHETIC
} CfgDataName;
typedef enum {
  CFG_AUG_AUTO,
  CFG_AUG_NONE,
  CFG_AUG_FLIP,
  CFG_AUG_CROP,
  CFG_AUG_CROP_FLIP
} CfgAugment;

typedef struct {
  CfgDataName name;
  const char *root;  // relative paths are relative to the current working directory
  StrList train_files, test_files;
  bool allow_reduced;
  int max_train, max_test;
  bool normalize;
  FloatList mean, std;
  CfgAugment augment;  // CFG_AUG_AUTO is resolved per data set in every run's config
  int crop_padding;
  struct {
    int classes, train_per_class, test_per_class, channels, size;
    double noise;
  } synthetic;
} DataCfg;

// The network a run unlearns (the config's model section; the rest of its ModelSpec comes from
// the data set).
typedef struct {
  Arch arch;
  int width;          // 0: the architecture's own
  int patch, window;  // swin_t's patch size and attention window
  Stem stem;          // resnets' stem (model.h); the others take only STEM_CIFAR
  StrList points;     // EC's supervision points; resolved to the arch's stage names in every
                      // run's config
  // Checkpoints to use instead of training θ_o and θ_rt ("": train it). Runs and jobs take the
  // file's content digest into their ids, not its path (docs/own-models.md).
  const char *original, *retrained;
} ModelCfg;

typedef struct GridAxis GridAxis;
typedef struct GridCase GridCase;

typedef struct {
  IntList seeds;
  int ranks_per_run;
  // sweep.grid and sweep.cases, parsed and typed (see GridAxis, GridCase below).
  int n_axes, n_cases;
  const GridAxis *axes;
  const GridCase *cases;
} SweepCfg;

typedef struct {
  const char *file, *cache_dir, *models_dir;
  bool save_models;
} OutputCfg;

typedef struct {
  DataCfg data;
  ModelCfg model;
  TrainRecipe train;
  ForgetSpec forget;
  UnlearnSpec unlearn;  // epochs 0 and lr 0 are resolved to the method's usual values;
                        // retrain and ec are filled in each run's RunSpec (runspec.c)
  EcSpec ec;            // ec.aux.n_points and points: from model.points, per model
  EvalOptions eval;     // seed: the run's
  SweepCfg sweep;
  OutputCfg output;
  int seed;  // the run's seed (one of sweep.seeds); the first seed in a base config
} Config;

// ---------------------------------------------------------------------------------------------
// The schema: one KeySpec per key, in schema.c.

typedef enum {
  T_INT,
  T_FLOAT,
  T_BOOL,
  T_STRING,
  T_PATH,
  T_ENUM,
  T_INTS,
  T_FLOATS,
  T_STRINGS,
  T_WEIGHTS,  // a float list or a scheme name (choices)
  T_GRID,     // sweep.grid: handled by the loader
  T_CASES,    // sweep.cases: handled by the loader
} KeyType;

// When a key matters for a run. A key that does not apply is ignored: it is not validated, is
// not part of the run's id, and a grid axis over it does not multiply the run.
typedef enum {
  W_ALWAYS,
  W_FILE_DATA,  // data.name is not synthetic
  W_SYNTHETIC,
  W_NORMALIZE,
  W_CROP,  // data.augment crops
  W_STEP,
  W_MULTISTEP,
  W_STEP_OR_MULTISTEP,
  W_FORGET_CLASSES,  // neither random_classes nor random_fraction is set
  W_FORGET_RANDOM,
  W_UNLEARN,         // unlearn.method is not none
  W_UNLEARN_TRAINS,  // unlearn.method trains with its own optimiser: not none, not ssd
  W_NEGGRAD_PLUS,
  W_SALUN,
  W_L1SPARSE,
  W_SCRUB,
  W_BS,
  W_CU,
  W_BAD_TEACHER,
  W_SSD,
  W_UNSIR,
  W_EC,
  W_EC_OR_CU,   // ec.enabled or unlearn.method cu (its contrastive loss)
  W_EC_ALONE,   // ec.enabled and unlearn.method none or ssd (EC alone's schedule)
  W_EC_CKA,     // ec.enabled and ec.layer_weights cka
  W_EC_HEAD,    // ec.enabled and ec.head is not none
  W_EC_SUPCON,  // ec.enabled and the embedding has parameters (a head or a conv summariser)
  W_EVAL_CKA,
  W_EVAL_KNN,
  W_EVAL_MIA,
  W_SAVE_MODELS,
  W_TRAINS,  // a model is trained: model.original or model.retrained is not given
  W_SWIN,    // model.arch is swin_t
  W_COUNT
} When;

enum {
  KF_NOID = 1,       // not part of any id (paths, performance knobs, sweep and output)
  KF_NOAXIS = 2,     // may not be a grid axis or a case key
  KF_CASE_ONLY = 4,  // may be a case key but not a grid axis (sweep.seeds)
  J_ORIGINAL = 8,    // determines the original model (and so every job)
  J_FORGET = 16,     // determines the forget set (so the retrained model)
  J_EC_MODULES = 32  // determines the pretrained EC modules
};

typedef struct {
  const char *key;  // dotted name
  KeyType type;
  size_t offset;    // offsetof(Config, ...)
  const char *def;  // default, as YAML text
  double lo, hi;    // range of a number (or of each list element)
  bool lo_open, hi_open;
  const char *const *choices;  // enum and scheme names, NULL-terminated
  const int *values;           // the enum value of each choice (NULL: 0, 1, 2, ...)
  When when;
  unsigned flags;
  const char *doc;
} KeySpec;

extern const KeySpec config_schema[];
extern const int config_schema_n;
// Index of a dotted key, or -1.
int config_key_index(const char *key);
// Whether some key starts with "prefix." (a section, such as "ec" or "unlearn.scrub").
int config_is_section(const char *prefix);
int config_applies(When w, const Config *c);
const char *config_when_text(When w);  // "unlearn.method is scrub", or NULL for W_ALWAYS
// An enum key's value for its i-th choice, the choice index of a value (-1: none), its name.
int config_enum_value(const KeySpec *k, int i);
int config_enum_index(const KeySpec *k, int value);
const char *config_enum_name(const KeySpec *k, int value);
// Number of classes of a named data set in c (synthetic: its classes key), or 0 if unknown
// before loading (hdf5).
int config_num_classes(const Config *c);
// The [C,H,W] shape of a named data set's images in c, or zeros if unknown before loading (hdf5).
void config_image_shape(const Config *c, int shape[3]);

// ---------------------------------------------------------------------------------------------
// Typed values, as stored at KeySpec.offset.

typedef union {
  int i;  // T_INT, T_ENUM
  double f;
  bool b;
  const char *s;  // T_STRING, T_PATH
  IntList il;
  FloatList fl;
  StrList sl;
  LayerWeights w;
} CfgValue;

size_t config_value_size(KeyType t);
void config_get(const Config *c, int key, CfgValue *v);
void config_set(Config *c, int key, const CfgValue *v);
int config_value_equal(KeyType t, const CfgValue *a, const CfgValue *b);
// Writes a value as YAML flow text ("0.7", "[3, 8]", "mnist", "\"a b\"").
void config_format_value(FILE *f, int key, const CfgValue *v);
// The shortest decimal that reads back as the same double ("0.1", "1e-05"), in buf.
const char *config_double_text(double x, char buf[40]);
// config_format_value into buf (truncated to size).
const char *config_value_text(int key, const CfgValue *v, char *buf, size_t size);
// A key's range in words: "> 0", ">= 1", "in [0, 1)".
void config_range_text(const KeySpec *k, char *buf, size_t size);

// Where a value came from, for messages: a file position, a --set argument, or the default.
typedef struct {
  const char *file;     // the config file, or NULL
  const char *set_arg;  // the whole "--set K=V" text, or NULL
  const YNode *node;    // the value's node (file position; list items for element errors)
} Loc;

// Fills e with "FILE:LINE:COL: msg", "--set K=V: msg" or "KEY (default): msg". elem >= 0 points
// at that list item when the node is a list. Returns ERR_CONFIG.
int config_loc_err(Err *e, const Loc *loc, int elem, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

// A grid axis: key and values; a case: a list of settings.
struct GridAxis {
  int key;
  Loc loc;  // of the axis name
  int n;
  CfgValue *values;
  Loc *value_locs;
};
typedef struct {
  int key;
  CfgValue value;
  Loc loc;
} Setting;
struct GridCase {
  int n;
  Setting *set;
  Loc loc;
};

// ---------------------------------------------------------------------------------------------
// Loading.

typedef struct {
  Config base;      // defaults < file < --set; not yet resolved (see config_resolve)
  Config defaults;  // the schema's defaults
  Loc *origin;      // [config_schema_n]: where each key's value came from
  const char *path;
  const char *text;  // the config file's text as given
  int n_sets;        // the --set arguments, as given
  const char *const *sets;
  Arena arena;
} ConfigFile;

// Loads path (or, with text != NULL, that text under the name path) and applies the --set
// arguments ("K=V", without the flag). Checks types and ranges of every value, the grid and
// the cases; cross-key checks belong to each run (config_check, done by plan_expand).
int config_load(ConfigFile **out, const char *path, const char *text, int n_sets,
                const char *const *sets, Err *e);
void config_free(ConfigFile *cf);

// Fills in what depends on other keys (unlearn lr/epochs 0, data.augment auto, model.points
// empty). Every run's config is resolved; applicability and ids are taken after it.
void config_resolve(Config *c);

// Cross-key checks of a resolved config: forget classes against the data set, layer weights
// against the supervision points, paths that must exist, ... On failure fills key (the key at
// fault), alt (the key that made it so, or -1), elem (list item or -1) and msg.
typedef struct {
  int key, alt, elem;
  char msg[512];
} CheckFail;
// check_paths: also check that paths exist (stat). Returns 0 or ERR_CONFIG.
int config_check(const Config *c, int check_paths, CheckFail *fail);

// The best "did you mean" among names (edit distance), or NULL when none is close.
const char *config_suggest(const char *word, const char *const *names, int n);
// Same, over every key and section name.
const char *config_suggest_key(const char *word, char *buf, size_t size);

// The reference page (docs/config.md), generated from the schema.
void config_explain(FILE *f);
// The config as YAML: every key with its value, then the grid and cases.
void config_write_yaml(FILE *f, const Config *c);
