// test_dist.c: data parallelism. Within one mpirun of P ranks, the same training (seed, global
// batch, synchronised BN) is run by a group of 1 rank, then 2, then 4 (those that fit in P);
// their loss curves and final parameters must agree to float tolerance. Also: with per-rank
// BN statistics (bn_sync = 0) training still runs and the ranks' models stay identical. And the
// gradient sum overlapping the backward in buckets (dist_backward) gives the gradients of one
// blocking allreduce after it, for any bucket size: bit for bit on 2 ranks, to rounding on 4.
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"
#include "rng.h"
#include "testutil.h"
#include "train.h"

enum { STEPS = 8, BATCH = 24 };

// Trains cnn4 (width 8) for STEPS steps on synthetic data in group comm; losses [STEPS] and
// the final parameters (on every rank of the group) are returned.
static void train(MPI_Comm comm, int bn_sync, double *losses, float **params, int64_t *n_params) {
  Err e = {0};
  DataSpec spec;
  data_spec_init(&spec);
  spec.synth.n_train = 96, spec.synth.n_test = 16, spec.synth.h = spec.synth.w = 12;
  Dataset d;
  if (dataset_load(&d, &spec, &e)) {
    fprintf(stderr, "%s\n", e.msg);
    exit(1);
  }
  int size;
  MPI_Comm_size(comm, &size);
  ModelSpec ms = {.arch = ARCH_CNN4,
                  .in_c = 1,
                  .in_h = 12,
                  .in_w = 12,
                  .num_classes = 10,
                  .batch_capacity = (BATCH + size - 1) / size,
                  .width = 8};
  Model m;
  CHECK(model_create(&m, &ms, &e) == 0);
  m.comm = comm;
  m.bn_sync = bn_sync;
  model_init(&m, 7);
  dist_broadcast_model(&m);
  Sgd opt;
  sgd_init(&opt, m.n_param_floats, 0.9f, 5e-4f, 0, &e);
  Batches b;
  Augment aug = {.crop_pad = 2, .hflip = 1};  // augmentation must not depend on the rank
  batches_init(&b, &d.train, d.mean, d.std, &aug, NULL, 0, BATCH, 11, comm, &e);
  LossBuf lb;
  lossbuf_init(&lb, ms.batch_capacity, 10, &e);
  int step = 0;
  for (int epoch = 0; step < STEPS; epoch++) {
    batches_start(&b, (uint64_t)epoch, 1, 0);
    while (step < STEPS && batches_next(&b))
      losses[step++] = train_step_ce(&m, &opt, 0.05f, b.x, b.y, b.local_batch, b.this_global, &lb);
  }
  *n_params = m.n_param_floats;
  *params = malloc((size_t)m.n_param_floats * sizeof(float));
  memcpy(*params, m.param_mem, (size_t)m.n_param_floats * sizeof(float));
  lossbuf_free(&lb);
  batches_free(&b);
  sgd_free(&opt);
  model_free(&m);
  dataset_free(&d);
}

// One training-mode backward of a model on rank-dependent inputs; the summed gradients of the
// whole arena (malloc'd) with the given bucket size (-1: model_backward, dist_allreduce_grads).
static float *summed_grads(Arch arch, int64_t bucket, int64_t *n) {
  Err e = {0};
  enum { B = 3, HW = 8, K = 5 };
  ModelSpec ms = {.arch = arch,
                  .in_c = 3,
                  .in_h = HW,
                  .in_w = HW,
                  .num_classes = K,
                  .batch_capacity = B,
                  .width = arch == ARCH_SWIN_T ? 12 : 4,  // swin_t: heads 3-6-12-24
                  .patch = 2};                            // (swin_t's alone)
  Model m;
  CHECK(model_create(&m, &ms, &e) == 0);
  m.comm = MPI_COMM_WORLD;
  model_init(&m, 3);
  int rank;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  float x[B * 3 * HW * HW], dlogits[B * K];
  Rng r = rng_derive(5, RNG_SYNTH, (uint64_t)rank);
  for (int i = 0; i < B * 3 * HW * HW; i++) x[i] = rng_normal(&r);
  for (int i = 0; i < B * K; i++) dlogits[i] = rng_normal(&r);
  model_forward(&m, x, B, 1);
  model_zero_grads(&m);
  if (bucket < 0) {
    model_backward(&m, dlogits, NULL, NULL);
    dist_allreduce_grads(&m);
  } else {
    m.bucket_floats = bucket;
    dist_backward(&m, dlogits, NULL);
  }
  *n = m.n_param_floats;
  float *g = malloc((size_t)*n * sizeof(float));
  memcpy(g, m.grad_mem, (size_t)*n * sizeof(float));
  model_free(&m);
  return g;
}

static void check_buckets(int world) {
  static const Arch archs[] = {ARCH_CNN4, ARCH_RESNET18, ARCH_SWIN_T};
  static const int64_t buckets[] = {0, 1, 100, 777, DIST_BUCKET_FLOATS};
  for (int a = 0; a < 3; a++) {
    int64_t n, n2;
    float *ref = summed_grads(archs[a], -1, &n);
    double scale = 0;
    for (int64_t i = 0; i < n; i++)
      if (fabs(ref[i]) > scale) scale = fabs(ref[i]);
    for (int k = 0; k < 5; k++) {
      float *g = summed_grads(archs[a], buckets[k], &n2);
      CHECK(n2 == n);
      double diff = 0;
      for (int64_t i = 0; i < n; i++)
        if (fabs(g[i] - ref[i]) > diff) diff = fabs(g[i] - ref[i]);
      if (world == 2) CHECK(diff == 0);  // each float is the same a + b
      CHECK(diff <= 1e-6 * scale);
      free(g);
    }
    free(ref);
  }
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank, world;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world);

  double ref[STEPS];
  float *ref_params = NULL;
  int64_t n = 0;
  for (int size = 1; size <= world && size <= 4; size *= 2) {
    MPI_Comm group;
    MPI_Comm_split(MPI_COMM_WORLD, rank < size ? 0 : MPI_UNDEFINED, rank, &group);
    if (group != MPI_COMM_NULL) {
      double losses[STEPS];
      float *params;
      train(group, 1, losses, &params, &n);
      if (rank == 0) {
        if (size == 1) {
          memcpy(ref, losses, sizeof ref);
          ref_params = params;
          params = NULL;
          CHECK(losses[STEPS - 1] < losses[0]);
        } else {
          for (int s = 0; s < STEPS; s++) CHECK_CLOSE(losses[s], ref[s], 1e-4, 1e-6);
          double scale = 0, diff = 0;
          for (int64_t i = 0; i < n; i++) {
            if (fabs(ref_params[i]) > scale) scale = fabs(ref_params[i]);
            if (fabs(params[i] - ref_params[i]) > diff) diff = fabs(params[i] - ref_params[i]);
          }
          printf("%d ranks: final loss %.6f (1 rank %.6f), max param diff %.3g of %.3g\n", size,
                 losses[STEPS - 1], ref[STEPS - 1], diff, scale);
          CHECK(diff <= 1e-4 * scale);
        }
      }
      free(params);
      MPI_Comm_free(&group);
    }
    MPI_Barrier(MPI_COMM_WORLD);
  }

  // Per-rank BN statistics: trains, and every rank ends with the same parameters.
  if (world > 1) {
    double losses[STEPS];
    float *params;
    train(MPI_COMM_WORLD, 0, losses, &params, &n);
    float *first = malloc((size_t)n * sizeof(float));
    memcpy(first, params, (size_t)n * sizeof(float));
    MPI_Bcast(first, (int)n, MPI_FLOAT, 0, MPI_COMM_WORLD);
    CHECK(memcmp(first, params, (size_t)n * sizeof(float)) == 0);
    CHECK(isfinite(losses[STEPS - 1]));
    free(first), free(params);
  }
  if (world > 1) check_buckets(world);
  free(ref_params);
  int failures = test_failures, total = 0;
  MPI_Allreduce(&failures, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  test_failures = total;
  int rc = rank == 0 ? test_finish("dist") : (total ? 1 : 0);
  MPI_Finalize();
  return rc;
}
