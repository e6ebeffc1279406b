// test_unlearn_mpi.c: data-parallel EC. Within one mpirun of P ranks, the same runs are made by a
// group of 1 rank and then of 2 and 4 (those that fit in P): module pretraining (with SupCon across
// ranks), and several EC runs whose contrastive losses couple samples held by different ranks.
// Per-epoch losses (1e-4 relative) and the final backbone (1e-3 of its largest magnitude: see the
// check) must agree, and every rank of a group must end with the same parameters. Batches are
// odd-sized so that the ranks' shares differ.
//   1. EC alone, random-fraction forgetting (N(i) not empty), conv summariser, cka layer weights
//      (re-measured every 2 steps), push_original, retain_per_forget 2;
//   2. rl + EC (union batches), class-wise forgetting (N(i) empty);
//   3. scrub + EC, forget_only variant, two forgotten classes, own head at the last point;
//   4. salun + EC; 5. cu; 6. bs + EC; 7. neggrad+ + EC with decreasing weights;
//   8. bad_teacher + EC (union batches over a retain subset, two teachers); 9. ssd + EC (the
//   dampening, then EC alone's schedule); 10. unsir + EC (the noise, then impair and repair over
//   a retain subset, the repair at a scaled lr); 11. be + EC (the shadow row's gradient summed
//   over the ranks).
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"
#include "runspec.h"  // the specs' defaults (the config schema's)
#include "testutil.h"
#include "unlearn.h"

enum { MAX_CURVE = 64, N_RUNS = 11 };

typedef struct {
  double curve[MAX_CURVE];
  int n;
} Curve;

static void on_epoch(void *user, const char *phase, int epoch, int epochs, double loss) {
  (void)phase, (void)epoch, (void)epochs;
  Curve *c = user;
  if (c->n < MAX_CURVE) c->curve[c->n++] = loss;
}

typedef struct {
  Dataset d;
  ForgetSplit fs_fraction, fs_class, fs_two;
  Model orig;
} World;

static void die(const char *what, const Err *e) {
  fprintf(stderr, "%s: %s\n", what, e->msg);
  MPI_Abort(MPI_COMM_WORLD, 1);
}

static void world_init(World *w) {
  Err e = {0};
  DataSpec spec;
  data_spec_init(&spec);
  spec.synth.n_train = 400, spec.synth.n_test = 40, spec.synth.h = spec.synth.w = 16;
  if (dataset_load(&w->d, &spec, &e)) die("data", &e);
  ForgetSpec frac = {.random_fraction = 0.1};
  ForgetSpec cls = {.classes = {1, (const int[]){2}}};
  ForgetSpec two = {.classes = {2, (const int[]){2, 5}}};
  if (forget_split_make(&w->fs_fraction, &frac, &w->d.train, &w->d.test, 3, &e) ||
      forget_split_make(&w->fs_class, &cls, &w->d.train, &w->d.test, 3, &e) ||
      forget_split_make(&w->fs_two, &two, &w->d.train, &w->d.test, 3, &e))
    die("split", &e);
  ModelSpec ms = {.arch = ARCH_CNN4,
                  .in_c = 1,
                  .in_h = 16,
                  .in_w = 16,
                  .num_classes = 10,
                  .batch_capacity = 32,
                  .width = 8};
  if (model_create(&w->orig, &ms, &e)) die("model", &e);
  TrainRecipe r;
  train_recipe_defaults(&r);
  r.epochs = 1, r.batch_size = 32, r.lr = 0.05f;
  // θ_o is trained alone on every rank (the same everywhere), outside the groups compared.
  if (train_recipe_run(&w->orig, &w->d, NULL, 0, &r, 1, MPI_COMM_NULL, NULL, &e)) die("train", &e);
}

static void world_free(World *w) {
  model_free(&w->orig);
  forget_split_free(&w->fs_fraction), forget_split_free(&w->fs_class);
  forget_split_free(&w->fs_two);
  dataset_free(&w->d);
}

// The spec and forget split of run i.
static const ForgetSplit *run_spec(World *w, int i, UnlearnSpec *s) {
  static const UnlearnMethod methods[N_RUNS] = {
      UNLEARN_NONE, UNLEARN_RL,           UNLEARN_SCRUB,       UNLEARN_SALUN, UNLEARN_CU,
      UNLEARN_BS,   UNLEARN_NEGGRAD_PLUS, UNLEARN_BAD_TEACHER, UNLEARN_SSD,   UNLEARN_UNSIR,
      UNLEARN_BE};
  unlearn_spec_defaults(s, methods[i]);
  s->ec.enabled = methods[i] != UNLEARN_CU;
  s->epochs = 2, s->batch_size = 27, s->lr = 0.01f;
  s->ec.epochs = 3, s->ec.batch_size = 13, s->ec.lr = 0.02f;
  switch (i) {
    case 0:
      s->ec.retain_per_forget = 2;
      s->ec.aux.summariser = AUX_SUMMARISER_CONV;
      s->ec.layer_weights.scheme = EC_WEIGHTS_CKA, s->ec.cka_every = 2, s->ec.cka_probe = 24;
      s->ec.push_original = 1;
      return &w->fs_fraction;
    case 2:
      // One retain batch per forget batch: with four (the default) this run's parameters differ
      // between 1 rank and 2 or 4 ranks by 8e-4 of their scale after three epochs (2 and 4 ranks
      // agree exactly; the loss curves to 2e-6), the other configurations by 1e-7.
      s->ec.retain_per_forget = 1;
      s->ec.variant = EC_LOSS_FORGET_ONLY;
      s->ec.aux.own_head_last = 1;
      s->scrub.max_epochs = 1;
      return &w->fs_two;
    case 5:
      s->lr = 1e-3f;
      return &w->fs_class;
    case 6:
      s->lr = 0.003f;  // at 0.01, ascent with EC amplifies rounding to 1.5e-3 of the params
      s->ec.layer_weights.scheme = EC_WEIGHTS_DECREASING;
      s->epochs = 1;
      return &w->fs_fraction;
    case 7:
      s->bad_teacher.retain_fraction = 0.5;
      return &w->fs_class;
    case 9:
      s->unsir.noise_per_class = 20, s->unsir.noise_steps = 5, s->unsir.retain_fraction = 0.5;
      return &w->fs_two;
    case 10:
      s->lr = 1e-3f;
      return &w->fs_class;
    default:
      return &w->fs_class;
  }
}

// Pretrains modules for spec in group comm (θ_o frozen), then runs the method; returns the final
// backbone [n] (malloc'd), the loss curve and the modules' accuracy.
static float *run_in_group(World *w, int i, MPI_Comm comm, Curve *curve, double *aux_acc) {
  Err e = {0};
  UnlearnSpec spec;
  const ForgetSplit *fs = run_spec(w, i, &spec);
  AuxModules aux;
  memset(&aux, 0, sizeof aux);
  const int use_ec = unlearn_uses_ec(&spec);
  if (use_ec) {
    if (aux_create(&aux, &w->orig, &spec.ec.aux, &e)) die("aux", &e);
    aux_init(&aux, 11);
    EcPretrainSpec ps = spec.ec.pretrain;
    ps.epochs = 1, ps.batch_size = 37, ps.supcon = 1;
    if (ec_pretrain(&aux, &w->orig, &w->d, &ps, 4, comm, NULL, &e)) die("pretrain", &e);
    if (ec_aux_accuracy(&aux, &w->orig, &w->d, comm, aux_acc, &e)) die("aux accuracy", &e);
  }
  Model m;
  ModelSpec ms = w->orig.spec;
  if (model_create(&m, &ms, &e)) die("model", &e);
  memcpy(m.param_mem, w->orig.param_mem, (size_t)m.n_param_floats * sizeof(float));
  memcpy(m.buffer_mem, w->orig.buffer_mem, (size_t)m.n_buffer_floats * sizeof(float));
  curve->n = 0;
  UnlearnProgress p = {.fn = on_epoch, .user = curve};
  UnlearnStats st;
  if (unlearn_run(&m, &w->orig, &w->d, fs, &spec, use_ec ? &aux : NULL, 9, comm, &p, &st, &e))
    die(unlearn_method_name(spec.method), &e);
  float *params = malloc((size_t)m.n_param_floats * sizeof(float));
  memcpy(params, m.param_mem, (size_t)m.n_param_floats * sizeof(float));
  // every rank of the group holds the same model
  int size;
  MPI_Comm_size(comm, &size);
  if (size > 1) {
    float *first = malloc((size_t)m.n_param_floats * sizeof(float));
    memcpy(first, params, (size_t)m.n_param_floats * sizeof(float));
    MPI_Bcast(first, (int)m.n_param_floats, MPI_FLOAT, 0, comm);
    CHECK(memcmp(first, params, (size_t)m.n_param_floats * sizeof(float)) == 0);
    free(first);
  }
  if (i == 0) {  // the cka weights moved away from uniform
    double spread = 0;
    for (int k = 0; k < st.n_ec_weights; k++) spread += fabs(st.ec_weights[k] - 1.0);
    CHECK(st.n_ec_weights == 4 && spread > 1e-3);
  }
  if (use_ec) aux_free(&aux);
  model_free(&m);
  return params;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank, world;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  World w;
  world_init(&w);
  const int64_t n = w.orig.n_param_floats;
  for (int i = 0; i < N_RUNS; i++) {
    Curve ref = {0}, got = {0};
    double acc_ref[MODEL_MAX_POINTS] = {0}, acc[MODEL_MAX_POINTS] = {0};
    float *ref_params = NULL;
    for (int size = 1; size <= 4 && size <= world; size *= 2) {
      MPI_Comm group;
      MPI_Comm_split(MPI_COMM_WORLD, rank < size ? 0 : MPI_UNDEFINED, rank, &group);
      if (group != MPI_COMM_NULL) {
        float *params =
            run_in_group(&w, i, group, size == 1 ? &ref : &got, size == 1 ? acc_ref : acc);
        if (size == 1) {
          ref_params = params;
        } else if (rank == 0) {
          CHECK(got.n == ref.n && got.n > 0);
          for (int s = 0; s < got.n && s < ref.n; s++)
            CHECK_CLOSE(got.curve[s], ref.curve[s], 1e-4, 1e-6);
          for (int k = 0; k < 4; k++) CHECK_CLOSE(acc[k], acc_ref[k], 0, 0.026);  // 40 test images
          double scale = 0, diff = 0;
          for (int64_t j = 0; j < n; j++) {
            if (fabs(ref_params[j]) > scale) scale = fabs(ref_params[j]);
            if (fabs(params[j] - ref_params[j]) > diff) diff = fabs(params[j] - ref_params[j]);
          }
          UnlearnSpec spec;
          run_spec(&w, i, &spec);
          printf(
              "%d ranks, %-9s (EC %d): %d epoch losses, last %.6f (1 rank %.6f), max param "
              "diff %.3g of %.3g\n",
              size, unlearn_method_name(spec.method), spec.ec.enabled, got.n, got.curve[got.n - 1],
              ref.curve[ref.n - 1], diff, scale);
          // Typically ~1e-7 of the scale. A rounding-level difference can flip a ReLU or a
          // max-pool tie on one step, which tens of steps later shows as ~1e-4 in parameters
          // while the losses still agree to 1e-7; a wrong reduction shows at once, in the losses.
          CHECK(diff <= 1e-3 * scale);
        }
        if (size > 1) free(params);
        MPI_Comm_free(&group);
      }
      MPI_Barrier(MPI_COMM_WORLD);
    }
    free(ref_params);
  }
  world_free(&w);
  int failures = test_failures, total = 0;
  MPI_Allreduce(&failures, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  test_failures = total;
  int rc = rank == 0 ? test_finish("unlearn_mpi") : (total ? 1 : 0);
  MPI_Finalize();
  return rc;
}
