// bench_ec.c: the time of an EC step against a plain cross-entropy step (not a test; built, not
// registered with CTest).
//
//   bench_ec [ARCH [BATCH [STEPS [WIDTH [SUMMARISER]]]]]   defaults: cnn4 128 10 0 gap
//
// On synthetic data of the arch's usual shape (cnn4 1x28x28, resnets 3x32x32), one rank:
//   plain  train_step_ce on BATCH images (data assembly included), as the solver trains;
//   ft     the same loss through unlearn_run's step (BATCH retain images);
//   EC     EC alone through unlearn_run with its defaults (retain_per_forget R = 4): BATCH/(1+R)
//          forget + R·BATCH/(1+R) retain images, about the images of plain through the backbone,
//          with every module and loss;
//   EC 2x  EC alone with BATCH forget + R·BATCH retain images ((1+R) times the images).
// Prints seconds per step and the ratios EC/plain. Steps are timed after a warm-up epoch.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dist.h"
#include "runspec.h"  // the specs' defaults (the config schema's)
#include "train.h"
#include "unlearn.h"

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

typedef struct {
  double t[64];
  int n;
} Stamps;

static void stamp(void *user, const char *phase, int epoch, int epochs, double loss) {
  (void)phase, (void)epoch, (void)epochs, (void)loss;
  Stamps *s = user;
  if (s->n < 64) s->t[s->n++] = now_s();
}

static void die(const Err *e) {
  fprintf(stderr, "bench_ec: %s\n", e->msg);
  exit(1);
}

// Seconds per step of epoch 2 of unlearn_run(spec) (epoch 1 warms up).
static double time_run(const Model *orig, const Dataset *d, const ForgetSplit *fs,
                       UnlearnSpec *spec, const AuxModules *aux, int steps) {
  Err e = {0};
  Model m;
  if (model_create(&m, &orig->spec, &e)) die(&e);
  memcpy(m.param_mem, orig->param_mem, (size_t)m.n_param_floats * sizeof(float));
  memcpy(m.buffer_mem, orig->buffer_mem, (size_t)m.n_buffer_floats * sizeof(float));
  Stamps st = {0};
  UnlearnProgress p = {.fn = stamp, .user = &st};
  double t0 = now_s();
  if (unlearn_run(&m, orig, d, fs, spec, aux, 1, MPI_COMM_NULL, &p, NULL, &e)) die(&e);
  (void)t0;
  model_free(&m);
  return (st.t[st.n - 1] - st.t[st.n - 2]) / steps;
}

int main(int argc, char **argv) {
  const char *arch_s = argc > 1 ? argv[1] : "cnn4";
  const int B = argc > 2 ? atoi(argv[2]) : 128, steps = argc > 3 ? atoi(argv[3]) : 10;
  const int width = argc > 4 ? atoi(argv[4]) : 0;
  const int conv = argc > 5 && !strcmp(argv[5], "conv");
  const int arch = arch_from_name(arch_s);
  if (arch < 0 || B < 2 || steps < 1) {
    fprintf(stderr, "usage: bench_ec [ARCH [BATCH [STEPS [WIDTH [gap|conv]]]]]\n");
    return 2;
  }
  Err e = {0};
  const int rgb = arch != ARCH_MLP && arch != ARCH_CNN4, side = rgb ? 32 : 28;
  // Classes 0-4 forgotten (half the images): one epoch over D_f is `steps` EC steps of B forget
  // images (2*steps of B/2), one over D_r `steps` ft steps of B.
  DataSpec ds;
  data_spec_init(&ds);
  ds.synth.n_train = 2LL * B * steps, ds.synth.n_test = 10;
  ds.synth.c = rgb ? 3 : 1, ds.synth.h = ds.synth.w = side;
  Dataset d;
  if (dataset_load(&d, &ds, &e)) die(&e);
  ForgetSplit fs;
  ForgetSpec f = {.classes = {5, (const int[]){0, 1, 2, 3, 4}}};
  if (forget_split_make(&fs, &f, &d.train, &d.test, 1, &e)) die(&e);
  ModelSpec ms = {.arch = arch,
                  .in_c = ds.synth.c,
                  .in_h = side,
                  .in_w = side,
                  .num_classes = 10,
                  .batch_capacity = B,
                  .width = width};
  Model orig;
  if (model_create(&orig, &ms, &e)) die(&e);
  model_init(&orig, 1);

  // plain: train_step_ce over D in batches of B
  Model m;
  if (model_create(&m, &ms, &e)) die(&e);
  memcpy(m.param_mem, orig.param_mem, (size_t)m.n_param_floats * sizeof(float));
  Sgd opt;
  Batches b;
  LossBuf lb;
  sgd_init(&opt, m.n_param_floats, 0.9f, 5e-4f, 0, &e);
  batches_init(&b, &d.train, d.mean, d.std, NULL, NULL, 0, B, 1, MPI_COMM_NULL, &e);
  lossbuf_init(&lb, B, 10, &e);
  batches_start(&b, 0, 1, 0);
  batches_next(&b);
  train_step_ce(&m, &opt, 0.01f, b.x, b.y, b.local_batch, b.this_global, &lb);  // warm-up
  double t0 = now_s();
  for (int s = 0; s < steps && batches_next(&b); s++)
    train_step_ce(&m, &opt, 0.01f, b.x, b.y, b.local_batch, b.this_global, &lb);
  const double plain = (now_s() - t0) / steps;
  lossbuf_free(&lb), batches_free(&b), sgd_free(&opt), model_free(&m);

  UnlearnSpec spec;
  unlearn_spec_defaults(&spec, UNLEARN_FT);
  spec.epochs = 2, spec.batch_size = B;
  const int ft_steps = (int)(fs.n_train_retain / B);
  const double ft = time_run(&orig, &d, &fs, &spec, NULL, ft_steps);

  AuxModules aux;
  AuxSpec as;
  aux_spec_defaults(&as);
  as.summariser = conv ? AUX_SUMMARISER_CONV : AUX_SUMMARISER_GAP;
  if (aux_create(&aux, &orig, &as, &e)) die(&e);
  aux_init(&aux, 2);
  unlearn_spec_defaults(&spec, UNLEARN_NONE);
  spec.ec.enabled = 1, spec.ec.epochs = 2, spec.ec.aux = as;
  const int R = spec.ec.retain_per_forget, bf = B / (1 + R) > 0 ? B / (1 + R) : 1;
  spec.ec.batch_size = bf;
  const double ec_half = time_run(&orig, &d, &fs, &spec, &aux, (int)(fs.n_train_forget / bf));
  spec.ec.batch_size = B;
  const double ec_full = time_run(&orig, &d, &fs, &spec, &aux, (int)(fs.n_train_forget / B));

  const char *cpu = getenv("OPENBLAS_CORETYPE");
  printf("arch=%s width=%d batch=%d summariser=%s threads=%s coretype=%s\n", arch_s,
         width ? width : (arch == ARCH_CNN4 ? 32 : 64), B, conv ? "conv" : "gap",
         getenv("OPENBLAS_NUM_THREADS") ? getenv("OPENBLAS_NUM_THREADS") : "default",
         cpu ? cpu : "(unset)");
  printf("plain_step_s=%.4f\nft_step_s=%.4f\nec_step_s=%.4f (%d forget + %d retain)\n", plain, ft,
         ec_half, bf, R * bf);
  printf("ec2x_step_s=%.4f (%d forget + %d retain)\n", ec_full, B, R * B);
  printf("ratio_ec_over_plain=%.3f\nratio_ec_over_ft=%.3f\nratio_ec2x_over_plain=%.3f\n",
         ec_half / plain, ec_half / ft, ec_full / plain);
  aux_free(&aux);
  model_free(&orig);
  forget_split_free(&fs);
  dataset_free(&d);
  return 0;
}
