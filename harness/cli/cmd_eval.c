// cmd_eval.c: `ecore eval`: the evaluation metrics of one checkpoint against an original and a
// retrained model, outside any sweep (models trained elsewhere, saved in ecore's checkpoint
// layout): the evaluation steps of one run's pipeline (run/pipeline.h) with the settings taken
// through the config schema. Prints key=value lines; runs data-parallel under mpirun.
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "commands.h"
#include "metrics.h"
#include "pipeline.h"

static const char *usage_text =
    "usage: ecore eval MODEL.h5 [--original O.h5] [--retrain R.h5] [--config CONFIG.yaml]\n"
    "                 [--data NAME ...] [--forget-classes 3,8 | ...] [--set KEY=VALUE]... "
    "[options]\n"
    "\n"
    "Evaluates MODEL.h5 (an ecore checkpoint: README \"Checkpoints\") as a sweep does and prints\n"
    "key=value lines: forget_acc, retain_acc, test_retain_acc, test_forget_acc, mia_efficacy,\n"
    "avg_gap (with --retrain), cka_original_<point>, cka_retrain_<point>, knn_forget_acc_<point>,\n"
    "and the time of each part. Accuracies are fractions; nan means not computed or no such\n"
    "images (test_forget_acc under --forget-fraction). Under mpirun the ranks share the work.\n"
    "\n"
    "Models: the architecture, classes and input shape come from each checkpoint, the width from\n"
    "its first conv weight. The three models must be the same network.\n"
    "  --original FILE        the original model: CKA to it at every supervision point\n"
    "  --retrain FILE         the retrained model: CKA to it, and avg_gap (which evaluates it "
    "too)\n"
    "  --width N              base width, instead of reading it from the checkpoints\n"
    "  --norm checkpoint|data input normalisation: MODEL's stored mean/std (default; the data\n"
    "                         set's when it has none) or the data set's own\n"
    "  --no-gap               leave avg_gap out\n"
    "\n"
    "Settings: the data, forget and eval keys of a sweep's config (docs/config.md), with the same\n"
    "types, ranges, defaults and checks. They come, in increasing precedence, from the defaults,\n"
    "--config FILE (a sweep's config: its base values, grids aside), then the flags below and\n"
    "--set KEY=VALUE in the order given. Without --config, --data and one forget flag are "
    "needed.\n"
    "  --config FILE          take the settings from a sweep's config\n"
    "  --set KEY=VALUE        any key, VALUE in YAML (--set data.allow_reduced=true)\n"
    "Each of these flags is short for one key:\n"
    "  --data NAME            data.name: mnist, fashion-mnist, cifar10, cifar100, hdf5, synthetic\n"
    "  --root DIR             data.root: folder of the files\n"
    "  --file F               data.train_files=[F]: hdf5, the file (relative to --root)\n"
    "  --train-files A,B      data.train_files=[A,B] (mnist: images,labels)\n"
    "  --test-files A,B       data.test_files=[A,B]\n"
    "  --max-train N          data.max_train: only the first N training images\n"
    "  --max-test N           data.max_test: only the first N test images\n"
    "  --forget-classes L     forget.classes=[L], e.g. 3,8\n"
    "  --forget-random-classes K   forget.random_classes\n"
    "  --forget-fraction F    forget.random_fraction: a random fraction F of the training images\n"
    "  --seed S               sweep.seeds=[S]: the forget split, k-NN probe and MIA draws (0)\n"
    "  --cka-batch N          eval.cka_batch: images per CKA batch, averaged over batches (512)\n"
    "  --cka-min-last N       eval.cka_min_last: keep a trailing partial CKA batch of at least N\n"
    "                         (0: half a batch)\n"
    "  --knn-k K              eval.knn_k: neighbours of the k-NN probe (5)\n"
    "  --probe-size N         eval.knn_probe_size: class-balanced training images in the probe\n"
    "                         (5000; 0: all)\n"
    "  --mia-samples N        eval.mia_samples: members and non-members fitting the attack (5000;\n"
    "                         0: all)\n"
    "  --mia-model M          eval.mia_model: the attack, logistic or svm (SalUn's) (logistic)\n"
    "  --batch N              eval.batch_size: images per forward pass over all ranks (512)\n"
    "  --no-cka, --no-knn, --no-mia   eval.cka=false, eval.knn=false, eval.mia=false\n"
    "The named data sets must hold their full size unless --max-train/--max-test cut them or\n"
    "data.allow_reduced is true; synthetic data is data.synthetic.* (docs/config.md).\n"
    "\n"
    "What is measured (solver/metrics.h has the details):\n"
    "  accuracies     eval-mode BN, no augmentation, on the forget set, the retain set, and the\n"
    "                 test images of retained / forgotten classes (random fraction: whole test "
    "set)\n"
    "  mia_efficacy   logistic regression on (softmax probability of the true label, entropy),\n"
    "                 or with --mia-model svm SalUn's RBF SVM (libsvm, C 3, gamma 1) on that\n"
    "                 probability alone, fitted on N retain images (members) and N test images\n"
    "                 of retained classes (non-members), N = min(both, eval.mia_samples), drawn\n"
    "                 with the seed; the fraction of the forget set it judges non-member\n"
    "  cka_*          linear CKA on batches of eval.cka_batch images in data-set order, averaged;\n"
    "                 images: test images of forgotten classes (random fraction: the forget set)\n"
    "  knn_forget_acc cosine k-NN on globally pooled point features; probe: class-balanced\n"
    "                 training images of all classes (random fraction: from the retain set);\n"
    "                 scored on the same images as CKA; ties go to the nearest neighbour's label\n"
    "  avg_gap        mean |difference| to the retrained model over forget, retain and test\n"
    "                 accuracy and MIA efficacy\n"
    "\n"
    "Exit codes: 0 done; 2 bad flags or settings (the message names the key and where its value\n"
    "came from); 1 runtime error (unreadable or mismatched checkpoint, corrupt data file).\n";

// Flags that stand for a config key (the same key, type, range and default as in a sweep's
// config); list flags take "a,b" and become the YAML list [a,b].
static const struct {
  const char *flag, *key;
  int list;
} aliases[] = {
    {"--data", "data.name", 0},
    {"--root", "data.root", 0},
    {"--file", "data.train_files", 1},
    {"--train-files", "data.train_files", 1},
    {"--test-files", "data.test_files", 1},
    {"--max-train", "data.max_train", 0},
    {"--max-test", "data.max_test", 0},
    {"--forget-classes", "forget.classes", 1},
    {"--forget-random-classes", "forget.random_classes", 0},
    {"--forget-fraction", "forget.random_fraction", 0},
    {"--seed", "sweep.seeds", 1},
    {"--cka-batch", "eval.cka_batch", 0},
    {"--cka-min-last", "eval.cka_min_last", 0},
    {"--knn-k", "eval.knn_k", 0},
    {"--probe-size", "eval.knn_probe_size", 0},
    {"--mia-samples", "eval.mia_samples", 0},
    {"--mia-model", "eval.mia_model", 0},
    {"--batch", "eval.batch_size", 0},
};
enum { N_ALIASES = sizeof aliases / sizeof *aliases, EVAL_MAX_SETS = 256 };

typedef struct {
  const char *model, *original, *retrain, *config;
  const char *sets[EVAL_MAX_SETS];  // "KEY=VALUE", in order: the flags' keys and --set
  char *owned[EVAL_MAX_SETS];       // the ones made from flags
  int n_sets, n_owned;
  int data_given, forget_given;
  const char *forget_flag;  // the forget flag given, if any
  int width, norm_data, gap;
} EvalArgs;

static int add_set(EvalArgs *a, const char *key, const char *value, int list) {
  if (a->n_sets == EVAL_MAX_SETS) return cli_usage_error("eval", "too many flags");
  size_t n = strlen(key) + strlen(value) + 4;
  char *s = malloc(n);
  if (!s) return cli_usage_error("eval", "out of memory");
  snprintf(s, n, list ? "%s=[%s]" : "%s=%s", key, value);
  a->owned[a->n_owned++] = s;
  a->sets[a->n_sets++] = s;
  return 0;
}

static void args_free(EvalArgs *a) {
  for (int i = 0; i < a->n_owned; i++) free(a->owned[i]);
}

// The aliases[] index of flag f, or -1.
static int alias_of(const char *f) {
  for (int k = 0; k < N_ALIASES; k++)
    if (!strcmp(f, aliases[k].flag)) return k;
  return -1;
}

// A flag that stands for a config key.
static int take_alias(void *dest, const char *name, const char *v) {
  EvalArgs *a = dest;
  int k = alias_of(name);
  if (add_set(a, aliases[k].key, v, aliases[k].list)) return 2;
  if (!strncmp(aliases[k].key, "data.", 5)) a->data_given = 1;
  if (!strncmp(aliases[k].key, "forget.", 7)) a->forget_given++, a->forget_flag = name;
  return 0;
}

// --no-cka, --no-knn, --no-mia: eval.cka, eval.knn, eval.mia = false.
static int take_off(void *dest, const char *name, const char *v) {
  (void)v;
  char key[16];
  snprintf(key, sizeof key, "eval.%s", name + 5);
  return add_set(dest, key, "false", 0) ? 2 : 0;
}

static int take_set(void *dest, const char *name, const char *v) {
  (void)name;
  EvalArgs *a = dest;
  if (a->n_sets == EVAL_MAX_SETS) return cli_usage_error("eval", "too many flags");
  a->sets[a->n_sets++] = v;
  a->data_given |= !strncmp(v, "data.", 5);
  a->forget_given += !strncmp(v, "forget.", 7);
  return 0;
}

// Returns -1 to go on, else the exit code.
static int parse(int argc, char **argv, EvalArgs *a) {
  memset(a, 0, sizeof *a);
  bool no_gap = false;
  CliOpt opts[N_ALIASES + 10] = {
      {"--set", NULL, CLI_CALL, a, "KEY=VALUE", .fn = take_set},
      {"--config", NULL, CLI_STR, &a->config, .meta = "CONFIG.yaml"},
      {"--original", NULL, CLI_STR, &a->original, .meta = "O.h5"},
      {"--retrain", NULL, CLI_STR, &a->retrain, .meta = "R.h5"},
      {"--width", NULL, CLI_INT, &a->width, .meta = "N", .min = 1, .max = 1 << 16},
      {"--norm", NULL, CLI_CHOICE, &a->norm_data, "checkpoint|data",
       .choices = (const char *const[]){"checkpoint", "data", NULL}},
      {"--no-gap", NULL, CLI_SWITCH, .dest = &no_gap},
      {"--no-cka", NULL, CLI_CALL, a, .fn = take_off},
      {"--no-knn", NULL, CLI_CALL, a, .fn = take_off},
      {"--no-mia", NULL, CLI_CALL, a, .fn = take_off},
  };
  for (int k = 0; k < N_ALIASES; k++)
    opts[10 + k] = (CliOpt){aliases[k].flag, NULL, CLI_CALL, a, "VALUE", .fn = take_alias};
  CliList pos = {0};
  const CliSpec spec = {"eval", usage_text, NULL, opts, CLI_COUNT(opts), &pos, 1, 1, "MODEL.h5"};
  int code = cli_parse(&spec, argc, argv);
  a->model = pos.n ? pos.v[0] : NULL;
  a->gap = !no_gap;
  free(pos.v);
  if (code >= 0) return code;
  if (!a->config && !a->data_given)
    return cli_usage_error("eval",
                           "needs the data: --data NAME (or --config FILE, --set data.name=...)");
  if (!a->config && a->forget_given != 1)
    return cli_usage_error("eval",
                           "needs exactly one of --forget-classes, --forget-random-classes, "
                           "--forget-fraction (or --config FILE)");
  return -1;
}

// The settings the flags stand for, through the config layer: a sweep's defaults, types, ranges
// and cross-key checks (paths must exist). Fills rs, whose lists point into *cf (the caller
// frees it after the run); ERR_CONFIG with a located message.
static int load_settings(const EvalArgs *a, ConfigFile **cfp, RunSpec *rs, Err *e) {
  ConfigFile *cf = NULL;
  int rc = config_load(&cf, a->config ? a->config : "(flags)", a->config ? NULL : "{}\n", a->n_sets,
                       a->sets, e);
  Config c;
  if (!rc) c = cf->base, config_resolve(&c);
  if (!rc && a->forget_flag && !strcmp(a->forget_flag, "--forget-fraction") &&
      !(c.forget.random_fraction > 0))
    rc = errf(e, ERR_CONFIG, "--forget-fraction: expected a number in (0, 1)");
  if (!rc && a->forget_flag && !strcmp(a->forget_flag, "--forget-random-classes") &&
      c.forget.random_classes < 1)
    rc = errf(e, ERR_CONFIG, "--forget-random-classes: expected a number of classes >= 1");
  CheckFail f;
  if (!rc && config_check(&c, 1, &f)) {
    const int key = f.key >= 0 ? f.key : f.alt;
    const Loc *loc = key >= 0 ? &cf->origin[key] : NULL;
    rc = config_loc_err(e, loc, loc && loc->node ? f.elem : -1, "%s", f.msg);
  }
  if (!rc) rc = runspec_from_config(rs, &c, e);
  *cfp = cf;
  return rc;
}

// Agrees on a failure across the ranks and prints it once: rank 0's message, or that of a rank
// that failed when rank 0 did not. Returns the exit code (0: all fine).
static int settle(int rc, const Err *e, int rank) {
  int code = rc == 0 ? 0 : (rc == ERR_CONFIG ? 2 : 1), worst = code, code0 = code;
  MPI_Allreduce(&code, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  MPI_Bcast(&code0, 1, MPI_INT, 0, MPI_COMM_WORLD);
  if (code && (rank == 0 || !code0)) fprintf(stderr, "ecore eval: %s\n", e->msg);
  if (!code && worst && rank == 0) fprintf(stderr, "ecore eval: failed on another rank\n");
  return worst;
}

// The normalisation a checkpoint stores, if any (std all positive).
static int stored_norm(const CkptMeta *m, int c) {
  for (int i = 0; i < c; i++)
    if (!(m->std[i] > 0)) return 0;
  return 1;
}

static void print_metrics(const char *prefix, const EvalResult *r, int per_point) {
  printf("%sforget_acc=%.6f\n%sretain_acc=%.6f\n", prefix, r->forget_acc, prefix, r->retain_acc);
  printf("%stest_retain_acc=%.6f\n%stest_forget_acc=%.6f\n", prefix, r->test_retain_acc, prefix,
         r->test_forget_acc);
  printf("%smia_efficacy=%.6f\n", prefix, r->mia_efficacy);
  if (!per_point) return;
  for (int l = 0; l < r->n_points; l++)
    printf("cka_original_%s=%.6f\n", r->point_names[l], r->cka_original[l]);
  for (int l = 0; l < r->n_points; l++)
    printf("cka_retrain_%s=%.6f\n", r->point_names[l], r->cka_retrain[l]);
  for (int l = 0; l < r->n_points; l++)
    printf("knn_forget_acc_%s=%.6f\n", r->point_names[l], r->knn_forget_acc[l]);
}

// The input normalisation: MODEL's stored mean/std unless --norm data or it stores none (then
// the data set's); the other checkpoints must store the same or none. ERR_RUNTIME otherwise.
static int choose_norm(const EvalArgs *a, const Dataset *d, const CkptMeta *meta,
                       const CkptMeta *meta_o, const CkptMeta *meta_rt, const float **mean,
                       const float **std, Err *e) {
  const int c = d->train.c;
  *mean = d->mean, *std = d->std;
  if (a->norm_data || !stored_norm(meta, c)) return 0;
  *mean = meta->mean, *std = meta->std;
  const char *paths[2] = {a->original, a->retrain};
  const CkptMeta *other[2] = {meta_o, meta_rt};
  for (int j = 0; j < 2; j++) {
    if (!paths[j] || !stored_norm(other[j], c)) continue;
    for (int k = 0; k < c; k++)
      if (fabsf(other[j]->mean[k] - meta->mean[k]) > 1e-6f ||
          fabsf(other[j]->std[k] - meta->std[k]) > 1e-6f)
        return errf(e, ERR_RUNTIME,
                    "%s and %s store different input normalisations (channel %d: mean %g/%g, std "
                    "%g/%g); use --norm data to evaluate all with the data set's",
                    a->model, paths[j], k, meta->mean[k], other[j]->mean[k], meta->std[k],
                    other[j]->std[k]);
  }
  return 0;
}

// What was evaluated, the metrics and the time of each part, as key=value lines.
static void print_report(const EvalArgs *a, const Pipe *p, const Model *m, int size, int norm_data,
                         const EvalResult *r, const EvalResult *rr, double gap, double t_load,
                         double t_gap, double t_total) {
  printf("model=%s\noriginal=%s\nretrain=%s\n", a->model, a->original ? a->original : "",
         a->retrain ? a->retrain : "");
  printf("arch=%s\nwidth=%d\nclasses=%d\nranks=%d\n", arch_name(m->spec.arch), m->spec.width,
         m->spec.num_classes, size);
  printf("normalisation=%s\n", norm_data ? "data" : "checkpoint");
  printf("train_forget=%lld\ntrain_retain=%lld\ntest_forget=%lld\ntest_retain=%lld\n",
         (long long)p->fs.n_train_forget, (long long)p->fs.n_train_retain,
         (long long)p->fs.n_test_forget, (long long)p->fs.n_test_retain);
  print_metrics("", r, 1);
  if (rr) {
    printf("avg_gap=%.6f\n", gap);
    print_metrics("retrain_", rr, 0);
  }
  printf("cka_batches=%d\ncka_images=%lld\nknn_probe=%lld\nknn_queries=%lld\nmia_samples=%lld\n",
         r->cka_batches, (long long)r->cka_images, (long long)r->knn_probe,
         (long long)r->knn_queries, (long long)r->mia_n);
  printf("time_load_s=%.3f\ntime_accuracy_s=%.3f\ntime_mia_s=%.3f\ntime_knn_s=%.3f\n", t_load,
         r->time_acc, r->time_mia, r->time_knn);
  printf("time_cka_s=%.3f\ntime_gap_s=%.3f\ntime_total_s=%.3f\n", r->time_cka, t_gap, t_total);
}

static int run(EvalArgs *a, int rank, int size) {
  double t0 = clock_now();
  Err e = {0};
  Dataset d = {0};
  Pipe p = {0};
  Model m = {0}, o = {0}, rt = {0};
  CkptMeta meta = {0}, meta_o = {0}, meta_rt = {0};
  const float *mean = NULL, *std = NULL;
  EvalResult r, rr;
  RunSpec rs;
  ConfigFile *cf = NULL;
  int code, rc = load_settings(a, &cf, &rs, &e);
  if (!rc) rc = pipe_load_data(&d, &rs, (PipeLock){0}, &e);
  if (!rc) rc = pipe_open(&p, &rs, &d, MPI_COMM_WORLD, (PipeLock){0}, &e);
  if ((code = settle(rc, &e, rank))) goto done;

  // Forward chunks of at most 128 images per rank bound the activation memory of big models.
  int cap = (rs.eval.batch_size + size - 1) / size;
  if (cap > 128) cap = 128;
  rc = eval_load_model(&m, a->model, a->width, cap, &meta, &e);
  if (!rc && a->original) rc = eval_load_model(&o, a->original, a->width, cap, &meta_o, &e);
  if (!rc && a->retrain) rc = eval_load_model(&rt, a->retrain, a->width, cap, &meta_rt, &e);
  if (!rc) rc = choose_norm(a, &d, &meta, &meta_o, &meta_rt, &mean, &std, &e);
  if ((code = settle(rc, &e, rank))) goto done;
  double t_load = clock_now() - t0;

  rc = pipe_evaluate(&p, &r, &m, a->original ? &o : NULL, a->retrain ? &rt : NULL, mean, std, &e);
  if ((code = settle(rc, &e, rank))) goto done;
  double t_gap = clock_now(), gap = NAN;
  int with_gap = a->retrain && a->gap;
  if (with_gap) {  // measures the retrained model's own accuracies and MIA efficacy (rr)
    rc = pipe_gap(&p, &gap, &r, NULL, &rt, &rr, mean, std, &e);
    if ((code = settle(rc, &e, rank))) goto done;
  }
  t_gap = clock_now() - t_gap;

  if (rank == 0)
    print_report(a, &p, &m, size, mean == d.mean, &r, with_gap ? &rr : NULL, gap, t_load, t_gap,
                 clock_now() - t0);
done:
  model_free(&m), model_free(&o), model_free(&rt);
  pipe_close(&p);
  dataset_free(&d);
  config_free(cf);
  return code;
}

int cmd_eval(int argc, char **argv) {
  EvalArgs a;
  int code = parse(argc, argv, &a);
  if (code >= 0) {
    args_free(&a);
    return code;
  }
  int inited = 0, rank = 0, size = 1;
  MPI_Initialized(&inited);
  if (!inited) MPI_Init(NULL, NULL);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  code = run(&a, rank, size);
  args_free(&a);
  if (!inited) MPI_Finalize();
  return code;
}
