// cmd_eval.c: `ecore eval`: the evaluation metrics of one checkpoint against an original and a
// retrained model, outside any sweep (models trained elsewhere, saved in ecore's checkpoint
// layout). Prints key=value lines; runs data-parallel under mpirun.
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "commands.h"
#include "metrics.h"

static const char *usage_text =
    "usage: ecore eval MODEL.h5 [--original O.h5] [--retrain R.h5] --data NAME [--root DIR]\n"
    "                 (--forget-classes 3,8 | --forget-random-classes K | --forget-fraction F)\n"
    "                 [options]\n"
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
    "\n"
    "Data (as the config's data section):\n"
    "  --data NAME            mnist, fashion-mnist, cifar10, cifar100, hdf5, synthetic\n"
    "  --root DIR             folder of the files (hdf5: the file or its folder)\n"
    "  --file F               hdf5: the file, relative to --root\n"
    "  --train-files A,B      explicit training files (mnist: images,labels)\n"
    "  --test-files A,B       explicit test files\n"
    "  --max-train N          only the first N training images\n"
    "  --max-test N           only the first N test images\n"
    "\n"
    "Forget scenario (exactly one; --seed draws the random ones):\n"
    "  --forget-classes L     these classes, e.g. 3,8\n"
    "  --forget-random-classes K\n"
    "  --forget-fraction F    a random fraction F of the training images\n"
    "  --seed S               forget split, k-NN probe and MIA draws (default 0)\n"
    "\n"
    "Metrics:\n"
    "  --cka-batch N          images per CKA batch, averaged over batches (default 512)\n"
    "  --cka-min-last N       keep a trailing partial CKA batch of at least N (default half)\n"
    "  --knn-k K              neighbours of the k-NN probe (default 5)\n"
    "  --probe-size N         class-balanced training images in the probe (default 5000; 0: all)\n"
    "  --mia-samples N        members and non-members fitting the attack (default 5000; 0: all)\n"
    "  --batch N              images per forward pass over all ranks (default 512)\n"
    "  --no-cka, --no-knn, --no-mia, --no-gap   leave a part out\n"
    "\n"
    "What is measured (solver/metrics.h has the details):\n"
    "  accuracies     eval-mode BN, no augmentation, on the forget set, the retain set, and the\n"
    "                 test images of retained / forgotten classes (random fraction: whole test "
    "set)\n"
    "  mia_efficacy   logistic regression on (softmax probability of the true label, entropy),\n"
    "                 fitted on N retain images (members) and N test images of retained classes\n"
    "                 (non-members), N = min(both, --mia-samples), drawn with --seed; the "
    "fraction\n"
    "                 of the forget set it judges non-member\n"
    "  cka_*          linear CKA on batches of --cka-batch images in data-set order, averaged;\n"
    "                 images: test images of forgotten classes (random fraction: the forget set)\n"
    "  knn_forget_acc cosine k-NN on globally pooled point features; probe: class-balanced\n"
    "                 training images of all classes (random fraction: from the retain set);\n"
    "                 scored on the same images as CKA; ties go to the nearest neighbour's label\n"
    "  avg_gap        mean |difference| to the retrained model over forget, retain and test\n"
    "                 accuracy and MIA efficacy\n"
    "\n"
    "Exit codes: 0 done; 2 bad flags or data/forget settings; 1 runtime error (unreadable or\n"
    "mismatched checkpoint, corrupt data file).\n";

typedef struct {
  const char *model, *original, *retrain;
  DataSpec data;
  ForgetSpec forget;
  int forget_given;
  uint64_t seed;
  EvalOptions eval;
  int width, norm_data, gap;
} EvalArgs;

static int usage_error(const char *fmt, const char *a, const char *b) {
  fprintf(stderr, "ecore eval: ");
  fprintf(stderr, fmt, a, b);
  fprintf(stderr, "\n(ecore eval --help explains the flags)\n");
  return 2;
}

// Whole number in [lo, hi].
static int parse_int(const char *flag, const char *s, long long lo, long long hi, long long *v) {
  char *end;
  *v = strtoll(s, &end, 10);
  if (*s && !*end && *v >= lo && *v <= hi) return 0;
  fprintf(stderr, "ecore eval: %s %s: expected a whole number in [%lld, %lld]\n", flag, s, lo, hi);
  return 2;
}

// "a,b,c" into up to max strings of out (each at most len).
static int parse_list(const char *flag, const char *s, char (*out)[DATA_PATH_MAX], int max,
                      int *n) {
  *n = 0;
  const char *p = s;
  while (*p) {
    const char *q = strchr(p, ',');
    size_t len = q ? (size_t)(q - p) : strlen(p);
    if (len == 0 || len >= DATA_PATH_MAX || *n == max)
      return usage_error("%s %s: expected a comma-separated list of files", flag, s);
    memcpy(out[*n], p, len);
    out[(*n)++][len] = 0;
    p += len + (q ? 1 : 0);
  }
  return *n ? 0 : usage_error("%s %s: empty list", flag, s);
}

static int parse_classes(const char *s, ForgetSpec *f) {
  const char *p = s;
  f->n_classes = 0;
  while (*p) {
    char *end;
    long v = strtol(p, &end, 10);
    if (end == p || v < 0 || v > 1 << 20 || (*end && *end != ',') ||
        f->n_classes == FORGET_MAX_CLASSES)
      return usage_error("--forget-classes %s: expected class numbers like 3,8%s", s, "");
    f->classes[f->n_classes++] = (int)v;
    p = *end ? end + 1 : end;
  }
  return f->n_classes ? 0 : usage_error("--forget-classes %s: empty list%s", s, "");
}

static int parse(int argc, char **argv, EvalArgs *a) {
  memset(a, 0, sizeof *a);
  data_spec_init(&a->data);
  a->data.name[0] = 0;
  eval_options_default(&a->eval);
  a->gap = 1;
  for (int i = 0; i < argc; i++) {
    const char *f = argv[i];
    if (f[0] != '-' || !f[1]) {
      if (a->model) return usage_error("unexpected argument '%s' (one MODEL.h5 only)%s", f, "");
      a->model = f;
      continue;
    }
    if (!strcmp(f, "--no-cka") || !strcmp(f, "--no-knn") || !strcmp(f, "--no-mia") ||
        !strcmp(f, "--no-gap")) {
      if (f[5] == 'c') a->eval.cka = 0;
      if (f[5] == 'k') a->eval.knn = 0;
      if (f[5] == 'm') a->eval.mia = 0;
      if (f[5] == 'g') a->gap = 0;
      continue;
    }
    if (i + 1 >= argc) return usage_error("%s needs a value%s", f, "");
    const char *v = argv[++i];
    long long n;
    int rc = 0;
    if (!strcmp(f, "--original")) {
      a->original = v;
    } else if (!strcmp(f, "--retrain")) {
      a->retrain = v;
    } else if (!strcmp(f, "--data")) {
      snprintf(a->data.name, sizeof a->data.name, "%s", v);
    } else if (!strcmp(f, "--root") || !strcmp(f, "--file")) {
      char *dst = f[2] == 'r' ? a->data.root : a->data.file;
      if (strlen(v) >= DATA_PATH_MAX) return usage_error("%s: path too long%s", f, "");
      strcpy(dst, v);
    } else if (!strcmp(f, "--train-files")) {
      rc = parse_list(f, v, a->data.train_files, DATA_MAX_FILES, &a->data.n_train_files);
    } else if (!strcmp(f, "--test-files")) {
      rc = parse_list(f, v, a->data.test_files, DATA_MAX_FILES, &a->data.n_test_files);
    } else if (!strcmp(f, "--max-train") || !strcmp(f, "--max-test")) {
      if (!(rc = parse_int(f, v, 1, INT32_MAX, &n)))
        *(!strcmp(f, "--max-train") ? &a->data.max_train : &a->data.max_test) = n;
    } else if (!strcmp(f, "--forget-classes")) {
      a->forget.mode = FORGET_CLASSES, a->forget_given++;
      rc = parse_classes(v, &a->forget);
    } else if (!strcmp(f, "--forget-random-classes")) {
      a->forget.mode = FORGET_RANDOM_CLASSES, a->forget_given++;
      if (!(rc = parse_int(f, v, 1, 1 << 20, &n))) a->forget.k = (int)n;
    } else if (!strcmp(f, "--forget-fraction")) {
      a->forget.mode = FORGET_RANDOM_FRACTION, a->forget_given++;
      char *end;
      a->forget.fraction = strtod(v, &end);
      if (!*v || *end || !(a->forget.fraction > 0 && a->forget.fraction < 1))
        return usage_error("--forget-fraction %s: expected a number in (0, 1)%s", v, "");
    } else if (!strcmp(f, "--seed")) {
      if (!(rc = parse_int(f, v, 0, INT64_MAX, &n))) a->seed = a->eval.seed = (uint64_t)n;
    } else if (!strcmp(f, "--cka-batch")) {
      if (!(rc = parse_int(f, v, 2, 1 << 20, &n))) a->eval.cka_batch = (int)n;
    } else if (!strcmp(f, "--cka-min-last")) {
      if (!(rc = parse_int(f, v, 1, 1 << 20, &n))) a->eval.cka_min_last = (int)n;
    } else if (!strcmp(f, "--knn-k")) {
      if (!(rc = parse_int(f, v, 1, 1000, &n))) a->eval.knn_k = (int)n;
    } else if (!strcmp(f, "--probe-size")) {
      if (!(rc = parse_int(f, v, 0, INT32_MAX, &n))) a->eval.knn_probe_size = n;
    } else if (!strcmp(f, "--mia-samples")) {
      if (!(rc = parse_int(f, v, 0, INT32_MAX, &n))) a->eval.mia_samples = n;
    } else if (!strcmp(f, "--batch")) {
      if (!(rc = parse_int(f, v, 1, 1 << 20, &n))) a->eval.batch_size = (int)n;
    } else if (!strcmp(f, "--width")) {
      if (!(rc = parse_int(f, v, 1, 1 << 16, &n))) a->width = (int)n;
    } else if (!strcmp(f, "--norm")) {
      if (strcmp(v, "checkpoint") && strcmp(v, "data"))
        return usage_error("--norm %s: expected checkpoint or data%s", v, "");
      a->norm_data = !strcmp(v, "data");
    } else {
      return usage_error("unknown flag '%s'%s", f, "");
    }
    if (rc) return rc;
  }
  if (!a->model) return usage_error("needs MODEL.h5%s%s", "", "");
  if (!a->data.name[0]) return usage_error("needs --data NAME%s%s", "", "");
  if (a->forget_given != 1)
    return usage_error(
        "needs exactly one of --forget-classes, --forget-random-classes, --forget-fraction%s%s", "",
        "");
  return 0;
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

static int run(EvalArgs *a, int rank, int size) {
  double t0 = clock_now();
  Err e = {0};
  Dataset d = {0};
  ForgetSplit fs = {0};
  Model m = {0}, o = {0}, rt = {0};
  CkptMeta meta = {0}, meta_o = {0}, meta_rt = {0};
  const float *mean = NULL, *std = NULL;
  EvalResult r, rr;
  int code, rc = dataset_load(&d, &a->data, &e);
  if (!rc) rc = forget_split_make(&fs, &a->forget, &d.train, &d.test, a->seed, &e);
  if ((code = settle(rc, &e, rank))) goto done;

  // Forward chunks of at most 128 images per rank bound the activation memory of big models.
  int cap = (a->eval.batch_size + size - 1) / size;
  if (cap > 128) cap = 128;
  rc = eval_load_model(&m, a->model, a->width, cap, &meta, &e);
  if (!rc && a->original) rc = eval_load_model(&o, a->original, a->width, cap, &meta_o, &e);
  if (!rc && a->retrain) rc = eval_load_model(&rt, a->retrain, a->width, cap, &meta_rt, &e);
  const int c = d.train.c;
  mean = d.mean, std = d.std;
  if (!rc && !a->norm_data && stored_norm(&meta, c)) {
    mean = meta.mean, std = meta.std;
    const char *paths[2] = {a->original, a->retrain};
    const CkptMeta *other[2] = {&meta_o, &meta_rt};
    for (int j = 0; j < 2 && !rc; j++) {
      if (!paths[j] || !stored_norm(other[j], c)) continue;
      for (int k = 0; k < c && !rc; k++)
        if (fabsf(other[j]->mean[k] - mean[k]) > 1e-6f || fabsf(other[j]->std[k] - std[k]) > 1e-6f)
          rc = errf(&e, ERR_RUNTIME,
                    "%s and %s store different input normalisations (channel %d: mean %g/%g, std "
                    "%g/%g); use --norm data to evaluate all with the data set's",
                    a->model, paths[j], k, mean[k], other[j]->mean[k], std[k], other[j]->std[k]);
    }
  }
  if ((code = settle(rc, &e, rank))) goto done;
  double t_load = clock_now() - t0;

  rc = evaluate(&r, &m, a->original ? &o : NULL, a->retrain ? &rt : NULL, &d, &fs, mean, std,
                &a->eval, MPI_COMM_WORLD, &e);
  if ((code = settle(rc, &e, rank))) goto done;
  double t_gap = clock_now(), gap = NAN;
  int with_gap = a->retrain && a->gap;
  if (with_gap) {
    // avg_gap needs the retrained model's own accuracies and MIA efficacy.
    EvalOptions go = a->eval;
    go.cka = 0, go.knn = 0;
    rc = evaluate(&rr, &rt, NULL, NULL, &d, &fs, mean, std, &go, MPI_COMM_WORLD, &e);
    if ((code = settle(rc, &e, rank))) goto done;
    gap = eval_avg_gap(&r, &rr);
  }
  t_gap = clock_now() - t_gap;

  if (rank == 0) {
    printf("model=%s\noriginal=%s\nretrain=%s\n", a->model, a->original ? a->original : "",
           a->retrain ? a->retrain : "");
    printf("arch=%s\nwidth=%d\nclasses=%d\nranks=%d\n", arch_name(m.spec.arch), m.spec.width,
           m.spec.num_classes, size);
    printf("normalisation=%s\n", mean == d.mean ? "data" : "checkpoint");
    printf("train_forget=%lld\ntrain_retain=%lld\ntest_forget=%lld\ntest_retain=%lld\n",
           (long long)fs.n_train_forget, (long long)fs.n_train_retain, (long long)fs.n_test_forget,
           (long long)fs.n_test_retain);
    print_metrics("", &r, 1);
    if (with_gap) {
      printf("avg_gap=%.6f\n", gap);
      print_metrics("retrain_", &rr, 0);
    }
    printf("cka_batches=%d\ncka_images=%lld\nknn_probe=%lld\nknn_queries=%lld\nmia_samples=%lld\n",
           r.cka_batches, (long long)r.cka_images, (long long)r.knn_probe, (long long)r.knn_queries,
           (long long)r.mia_n);
    printf("time_load_s=%.3f\ntime_accuracy_s=%.3f\ntime_mia_s=%.3f\ntime_knn_s=%.3f\n", t_load,
           r.time_acc, r.time_mia, r.time_knn);
    printf("time_cka_s=%.3f\ntime_gap_s=%.3f\ntime_total_s=%.3f\n", r.time_cka, t_gap, clock_now() - t0);
  }
done:
  model_free(&m), model_free(&o), model_free(&rt);
  forget_split_free(&fs);
  dataset_free(&d);
  return code;
}

int cmd_eval(int argc, char **argv) {
  for (int i = 0; i < argc; i++)
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      fputs(usage_text, stdout);
      return 0;
    }
  EvalArgs a;
  int code = parse(argc, argv, &a);
  if (code) return code;
  int inited = 0, rank = 0, size = 1;
  MPI_Initialized(&inited);
  if (!inited) MPI_Init(NULL, NULL);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  code = run(&a, rank, size);
  if (!inited) MPI_Finalize();
  return code;
}
