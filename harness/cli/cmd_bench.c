// cmd_bench.c: `ecore bench`: times training steps on synthetic input and prints key=value
// lines (images_per_s, GFLOP/s, peak memory), or the peak of cblas_sgemm with --sgemm, or each
// convolution timed alone with --convs (bench_convs.c).
#include <cblas.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bench_convs.h"
#include "clock.h"
#include "commands.h"
#include "dist.h"
#include "rng.h"
#include "train.h"

static const char *usage_text =
    "usage: ecore bench [--arch A] [--batch B] [--steps S] [--warmup W] [--ranks-per-run R]\n"
    "                   [--width N] [--stem S] [--patch P] [--window W] [--size HxW]\n"
    "                   [--channels C]\n"
    "                   [--classes K] [--bucket-mb X] [--bn-local] [--profile] [--sgemm]\n"
    "                   [--convs]\n"
    "\n"
    "Times training steps (forward, backward, allreduce, SGD update) on synthetic input and\n"
    "prints key=value lines, among them images_per_s= and gflops=. Run it under mpirun to use\n"
    "several ranks: the world is split into groups of R ranks that each train one model\n"
    "data-parallel on a global batch of B (images_per_s adds up all groups).\n"
    "\n"
    "  --arch A           mlp, cnn4, resnet18, resnet50, swin_t (default cnn4)\n"
    "  --batch B          global batch per group (default 128)\n"
    "  --steps S          timed steps (default 20)\n"
    "  --warmup W         untimed steps first (default 3)\n"
    "  --ranks-per-run R  ranks per group (default: all ranks)\n"
    "  --width N          base width (default: the architecture's own)\n"
    "  --stem S           the resnets' stem: cifar (default) or imagenet (7x7/2 conv, max-pool)\n"
    "  --patch P          swin_t's patch size (default 4)\n"
    "  --window W         swin_t's attention window (default 7)\n"
    "  --size HxW         input size (default 28x28 for mlp/cnn4, 32x32 for resnets, 224x224\n"
    "                     for swin_t)\n"
    "  --channels C       input channels (default 1 for mlp/cnn4, 3 for the others)\n"
    "  --classes K        classes (default 10)\n"
    "  --bucket-mb X      the gradient sum runs in buckets of X MiB overlapping the backward\n"
    "                     (default 4); 0: one allreduce after the backward\n"
    "  --bn-local         BatchNorm statistics of each rank's share alone (no BN messages;\n"
    "                     PyTorch DDP without SyncBatchNorm) instead of the whole batch's\n"
    "  --profile          then as many steps again, profiled: where a step's time goes, per\n"
    "                     rank (forward and backward by layer kind, BN synchronisation, the\n"
    "                     gradient sum, the optimizer, waiting for the slowest rank)\n"
    "  --sgemm            instead: the peak GFLOP/s of cblas_sgemm on square matrices\n"
    "  --convs            instead: each distinct convolution of the model alone (one process,\n"
    "                     batch B): ms per call of the forward, input gradient and weight\n"
    "                     gradient, their algorithm, GFLOP/s counted as the direct method's\n"
    "                     and as the matrix products the algorithm runs, and per training\n"
    "                     step the convolutions' ms against the ms of those products at the\n"
    "                     peak of the kernel that runs them (the floor; the rest is\n"
    "                     transforms, layout and memory)\n"
    "\n"
    "Threads per rank come from OPENBLAS_NUM_THREADS; OPENBLAS_CORETYPE, if set, is printed\n"
    "with the figures (it changes sgemm speed, so compare only runs with the same value).\n";

static void print_env(void) {
  const char *core = getenv("OPENBLAS_CORETYPE"), *threads = getenv("OPENBLAS_NUM_THREADS");
  printf("openblas_coretype=%s\nopenblas_threads=%s\n", core ? core : "unset",
         threads ? threads : "unset");
}

double bench_sgemm_gflops(int n) {
  float *a = malloc((size_t)n * n * sizeof(float)), *b = malloc((size_t)n * n * sizeof(float)),
        *c = malloc((size_t)n * n * sizeof(float));
  double gf = 0;
  if (a && b && c) {
    Rng r = rng_derive(1, RNG_METHOD, (uint64_t)n);
    for (size_t i = 0; i < (size_t)n * n; i++) a[i] = rng_uniform(&r), b[i] = rng_uniform(&r);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a, n, b, n, 0, c, n);
    int reps = (int)(4e9 / (2.0 * n * n * n)) + 1;
    double t0 = clock_now();
    for (int i = 0; i < reps; i++)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a, n, b, n, 0, c, n);
    gf = 2.0 * n * n * n * reps / (clock_now() - t0) / 1e9;
  }
  free(a), free(b), free(c);
  return gf;
}

static int bench_sgemm(void) {
  static const int sizes[] = {256, 512, 1024, 2048};
  double best = 0;
  for (int s = 0; s < 4; s++) {
    double gf = bench_sgemm_gflops(sizes[s]);
    if (!(gf > 0)) return 1;
    printf("sgemm_%d_gflops=%.1f\n", sizes[s], gf);
    if (gf > best) best = gf;
  }
  printf("sgemm_peak_gflops=%.1f\n", best);
  return 0;
}

typedef struct {
  Arch arch;
  int batch, steps, warmup, ranks_per_run, width, patch, window, h, w, c, classes, stem;
  double bucket_mb;
  bool sgemm, convs, profile, bn_local;
} BenchArgs;

static int take_mb(void *dest, const char *name, const char *v) {
  char *end;
  double x = strtod(v, &end);
  if (end == v || *end || !(x >= 0 && x <= 1e6))
    return cli_usage_error("bench", "%s %s: expected a size in MiB, 0 or more", name, v);
  *(double *)dest = x;
  return 0;
}

static int take_arch(void *dest, const char *name, const char *v) {
  Arch a = arch_from_name(v);
  if ((int)a < 0)
    return cli_usage_error("bench", "%s %s: unknown (mlp, cnn4, resnet18, resnet50, swin_t)", name,
                           v);
  *(Arch *)dest = a;
  return 0;
}

static int take_size(void *dest, const char *name, const char *v) {
  BenchArgs *a = dest;
  char tail;
  if (sscanf(v, "%dx%d%c", &a->h, &a->w, &tail) != 2 || a->h <= 0 || a->w <= 0)
    return cli_usage_error("bench", "%s %s: expected HxW, e.g. 32x32", name, v);
  return 0;
}

// Returns -1 to go on, else the exit code.
static int parse(int argc, char **argv, BenchArgs *a) {
  enum { BIG = 1 << 30 };
  *a = (BenchArgs){.arch = ARCH_CNN4,
                   .batch = 128,
                   .steps = 20,
                   .warmup = 3,
                   .classes = 10,
                   .bucket_mb = DIST_BUCKET_FLOATS * 4.0 / (1 << 20)};
  const CliOpt opts[] = {
      {"--arch", NULL, CLI_CALL, &a->arch, "A", .fn = take_arch},
      {"--batch", NULL, CLI_INT, &a->batch, .meta = "B", .min = 1, .max = BIG},
      {"--steps", NULL, CLI_INT, &a->steps, .meta = "S", .min = 1, .max = BIG},
      {"--warmup", NULL, CLI_INT, &a->warmup, .meta = "W", .min = 0, .max = BIG},
      {"--ranks-per-run", NULL, CLI_INT, &a->ranks_per_run, .meta = "R", .min = 1, .max = BIG},
      {"--width", NULL, CLI_INT, &a->width, .meta = "N", .min = 1, .max = BIG},
      {"--stem", NULL, CLI_CHOICE, &a->stem, .meta = "S", .choices = stem_names},
      {"--patch", NULL, CLI_INT, &a->patch, .meta = "P", .min = 1, .max = 64},
      {"--window", NULL, CLI_INT, &a->window, .meta = "W", .min = 1, .max = 64},
      {"--size", NULL, CLI_CALL, a, "HxW", .fn = take_size},
      {"--channels", NULL, CLI_INT, &a->c, .meta = "C", .min = 1, .max = BIG},
      {"--classes", NULL, CLI_INT, &a->classes, .meta = "K", .min = 2, .max = BIG},
      {"--bucket-mb", NULL, CLI_CALL, &a->bucket_mb, "X", .fn = take_mb},
      {"--bn-local", NULL, CLI_SWITCH, .dest = &a->bn_local},
      {"--profile", NULL, CLI_SWITCH, .dest = &a->profile},
      {"--sgemm", NULL, CLI_SWITCH, .dest = &a->sgemm},
      {"--convs", NULL, CLI_SWITCH, .dest = &a->convs},
  };
  const CliSpec spec = {"bench", usage_text, NULL, opts, CLI_COUNT(opts), NULL, 0, 0, NULL};
  int code = cli_parse(&spec, argc, argv);
  if (code >= 0) return code;
  if ((a->patch || a->window) && a->arch != ARCH_SWIN_T)
    return cli_usage_error("bench", "--patch and --window are swin_t's; --arch is %s",
                           arch_name(a->arch));
  if (a->stem != STEM_CIFAR && a->arch != ARCH_RESNET18 && a->arch != ARCH_RESNET50)
    return cli_usage_error("bench", "--stem %s is the resnets'; --arch is %s", stem_names[a->stem],
                           arch_name(a->arch));
  if (a->convs && (a->sgemm || a->profile || a->bn_local || a->ranks_per_run))
    return cli_usage_error("bench",
                           "--convs times convolutions alone, in one process: it takes "
                           "none of --sgemm, --profile, --bn-local, --ranks-per-run");
  int small = a->arch == ARCH_MLP || a->arch == ARCH_CNN4;
  if (!a->h) a->h = a->w = small ? 28 : a->arch == ARCH_SWIN_T ? 224 : 32;
  if (!a->c) a->c = small ? 1 : 3;
  return -1;
}

// The model of the flags, for batches of up to `capacity` per rank.
static ModelSpec model_spec(const BenchArgs *a, int capacity) {
  return (ModelSpec){.arch = a->arch,
                     .in_c = a->c,
                     .in_h = a->h,
                     .in_w = a->w,
                     .num_classes = a->classes,
                     .batch_capacity = capacity,
                     .width = a->width,
                     .patch = a->patch,
                     .window = a->window,
                     .stem = (Stem)a->stem};
}

// --convs: the model's convolutions timed alone, in this process.
static int convs(const BenchArgs *a) {
  Err e = {0};
  ModelSpec ms = model_spec(a, a->batch);
  Model m;
  if (model_create(&m, &ms, &e)) {
    fprintf(stderr, "ecore bench: %s\n", e.msg);
    return 1;
  }
  printf("arch=%s\nwidth=%d\ninput=%dx%dx%d\nbatch=%d\nstem=%s\n", arch_name(a->arch), a->width,
         a->c, a->h, a->w, a->batch, stem_names[a->stem]);
  print_env();
  int rc = bench_convs(&m, a->batch, a->warmup, a->steps);
  model_free(&m);
  return rc;
}

// One line of the profile: ms per step, the mean over the group's ranks and the largest.
static void profile_line(const char *what, double secs, long steps, MPI_Comm group, int print) {
  double mean = 0, max = 0, ms = 1e3 * secs / (double)steps;
  int n;
  MPI_Comm_size(group, &n);
  MPI_Reduce(&ms, &mean, 1, MPI_DOUBLE, MPI_SUM, 0, group);
  MPI_Reduce(&ms, &max, 1, MPI_DOUBLE, MPI_MAX, 0, group);
  if (print) printf("  %-34s %9.2f %9.2f\n", what, mean / n, max);
}

// a->steps more steps with a Profile attached, then the table (the first group's ranks print
// through its rank 0; every group takes part in the reductions of its own).
static void profile_steps(Model *m, Sgd *opt, const float *x, const int32_t *y, int cnt,
                          const BenchArgs *a, LossBuf *lb, MPI_Comm group) {
  Profile p = {0};
  m->prof = &p;
  MPI_Barrier(MPI_COMM_WORLD);
  double t0 = clock_now();
  for (int s = 0; s < a->steps; s++) train_step_ce(m, opt, 0.01f, x, y, cnt, a->batch, lb);
  p.step = clock_now() - t0, p.steps = a->steps;
  m->prof = NULL;
  int world_rank, n;
  MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
  MPI_Comm_size(group, &n);
  int show = world_rank == 0;  // the first group's rank 0
  if (show)
    printf(
        "\nprofile: %d steps with barriers before each collective; ms per step over the "
        "group's %d ranks\n  %-34s %9s %9s\n",
        a->steps, n, "", "mean", "max");
  double accounted = 0;
  char what[64];
  for (int pass = 0; pass < 2; pass++)
    for (int k = 0; k < OP_KIND_COUNT; k++) {
      double t = pass ? p.bwd[k] : p.fwd[k];
      int any = t > 0, every = 0;
      MPI_Allreduce(&any, &every, 1, MPI_INT, MPI_MAX, group);
      if (!every || (k == OP_INPUT && pass)) continue;
      snprintf(what, sizeof what, "%s %s", pass ? "backward" : "forward", op_kind_name(k));
      profile_line(what, t, p.steps, group, show);
      accounted += t;
    }
  const struct {
    const char *what;
    double t;
  } rows[] = {
      {"BN sync: waiting for the slowest", p.bn_wait},
      {"BN sync: allreduce", p.bn_sync},
      {"grad sum: starting/testing buckets", p.grad_overlap},
      {"grad sum: waiting for the slowest", p.grad_wait},
      {"grad sum: after the backward", p.grad_sync},
      {"optimizer (SGD)", p.optim},
  };
  for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
    profile_line(rows[r].what, rows[r].t, p.steps, group, show);
    accounted += rows[r].t;
  }
  profile_line("other (loss, zeroing, layout)", p.step - accounted, p.steps, group, show);
  profile_line("step", p.step, p.steps, group, show);
  if (show)
    printf("  BN allreduces per step %ld, gradient messages per step %ld\n", p.bn_msgs / p.steps,
           p.grad_msgs / p.steps);
}

static int run(const BenchArgs *a) {
  int rank, world;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  int rpr = a->ranks_per_run ? a->ranks_per_run : world;
  if (world % rpr) {
    if (rank == 0)
      fprintf(stderr, "ecore bench: --ranks-per-run %d does not divide the %d ranks\n", rpr, world);
    return 2;
  }
  MPI_Comm group;
  MPI_Comm_split(MPI_COMM_WORLD, rank / rpr, rank, &group);
  Err e = {0};
  ModelSpec ms = model_spec(a, (a->batch + rpr - 1) / rpr);
  Model m;
  if (model_create(&m, &ms, &e)) {
    fprintf(stderr, "ecore bench: %s\n", e.msg);
    return 1;
  }
  m.comm = group;
  m.bucket_floats = (int64_t)(a->bucket_mb * (1 << 20) / sizeof(float));
  m.bn_sync = !a->bn_local;
  model_init(&m, 1);
  Sgd opt;
  LossBuf lb;
  if (sgd_init(&opt, m.n_param_floats, 0.9f, 5e-4f, 0, &e) ||
      lossbuf_init(&lb, ms.batch_capacity, a->classes, &e)) {
    fprintf(stderr, "ecore bench: %s\n", e.msg);
    return 1;
  }
  int grank, off, cnt;
  MPI_Comm_rank(group, &grank);
  dist_share(a->batch, grank, rpr, &off, &cnt);
  size_t img = (size_t)a->c * a->h * a->w;
  float *x = malloc((size_t)cnt * img * sizeof(float) + 1);
  int32_t *y = malloc((size_t)cnt * sizeof(int32_t) + 1);
  Rng r = rng_derive(1, RNG_SYNTH, (uint64_t)rank);
  for (size_t i = 0; i < (size_t)cnt * img; i++) x[i] = rng_normal(&r);
  for (int i = 0; i < cnt; i++) y[i] = (int32_t)rng_below(&r, (uint32_t)a->classes);

  for (int s = 0; s < a->warmup; s++) train_step_ce(&m, &opt, 0.01f, x, y, cnt, a->batch, &lb);
  MPI_Barrier(MPI_COMM_WORLD);
  double t0 = clock_now();
  double loss = 0;
  for (int s = 0; s < a->steps; s++)
    loss = train_step_ce(&m, &opt, 0.01f, x, y, cnt, a->batch, &lb);
  MPI_Barrier(MPI_COMM_WORLD);
  double secs = clock_now() - t0;

  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double rss_mb = ru.ru_maxrss / 1024.0, rss_max = 0, rss_sum = 0;
  MPI_Reduce(&rss_mb, &rss_max, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
  MPI_Reduce(&rss_mb, &rss_sum, 1, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
  if (rank == 0) {
    int groups = world / rpr;
    double images = (double)a->batch * a->steps * groups;
    double train_flops = 3.0 * m.flops_fwd;  // forward + two products in backward
    printf("arch=%s\nwidth=%d\ninput=%dx%dx%d\nbatch=%d\nsteps=%d\nranks=%d\nranks_per_run=%d\n",
           arch_name(a->arch), a->width, a->c, a->h, a->w, a->batch, a->steps, world, rpr);
    printf("stem=%s\nbucket_mb=%g\nbn=%s\n", stem_names[a->stem], a->bucket_mb,
           a->bn_local ? "local" : "sync");
    if (a->arch == ARCH_SWIN_T) {
      int width, patch, window;
      swin_knobs(&ms, &width, &patch, &window);
      printf("patch=%d\nwindow=%d\n", patch, window);
    }
    print_env();
    int bn_layers = 0;
    long bn_doubles = 0;  // one synchronised BN message per layer and direction: 2C+1 doubles
    for (int i = 0; i < m.n_ops; i++)
      if (m.ops[i].kind == OP_BN) bn_layers++, bn_doubles += 2L * m.values[m.ops[i].in].c + 1;
    printf("params=%lld\nbn_layers=%d\nbn_message_bytes=%ld\n", (long long)m.n_param_floats,
           bn_layers, 8 * bn_doubles / (bn_layers ? bn_layers : 1));
    printf("step_ms=%.2f\n", 1e3 * secs / a->steps);
    printf("images_per_s=%.1f\n", images / secs);
    printf("gflops=%.1f\n", images * train_flops / secs / 1e9);
    printf("gflop_per_image=%.4f\n", train_flops / 1e9);
    printf("peak_rss_mb_max_rank=%.0f\npeak_rss_mb_total=%.0f\n", rss_max, rss_sum);
    printf("final_loss=%.4f\n", loss);
  }
  if (a->profile) profile_steps(&m, &opt, x, y, cnt, a, &lb, group);
  free(x), free(y);
  lossbuf_free(&lb);
  sgd_free(&opt);
  model_free(&m);
  MPI_Comm_free(&group);
  return 0;
}

int cmd_bench(int argc, char **argv) {
  BenchArgs a;
  int rc = parse(argc, argv, &a);
  if (rc >= 0) return rc;
  if (a.sgemm) {
    print_env();
    return bench_sgemm();
  }
  if (a.convs) return convs(&a);
  MPI_Init(NULL, NULL);
  rc = run(&a);
  MPI_Finalize();
  return rc;
}
