// test_mnist_train.c: training on the real MNIST (../shared/data/mnist) reaches the accuracy
// the solver issue asks for: cnn4 >= 99.0% and mlp >= 97.5% test accuracy after 2 epochs.
// Runs data-parallel over however many ranks mpirun gives it. Skips (77) without the data.
#include <mpi.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "dist.h"
#include "testutil.h"
#include "train.h"

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

// Trains arch on d for 2 epochs (SGD momentum 0.9, wd 5e-4, cosine from lr, batch 128) and
// returns the test accuracy.
static double train_and_test(Dataset *d, Arch arch, float lr, int rank, int size) {
  Err e = {0};
  enum { BATCH = 128, EPOCHS = 2 };
  ModelSpec ms = {.arch = arch,
                  .in_c = 1,
                  .in_h = 28,
                  .in_w = 28,
                  .num_classes = 10,
                  .batch_capacity = (BATCH + size - 1) / size};
  Model m;
  if (model_create(&m, &ms, &e)) {
    fprintf(stderr, "%s\n", e.msg);
    return 0;
  }
  m.comm = MPI_COMM_WORLD;
  model_init(&m, 1);
  dist_broadcast_model(&m);
  Sgd opt;
  sgd_init(&opt, m.n_param_floats, 0.9f, 5e-4f, 0, &e);
  Batches train, test;
  batches_init(&train, &d->train, d->mean, d->std, NULL, NULL, 0, BATCH, 1, MPI_COMM_WORLD, &e);
  batches_init(&test, &d->test, d->mean, d->std, NULL, NULL, 0, BATCH, 1, MPI_COMM_WORLD, &e);
  LossBuf lb;
  lossbuf_init(&lb, ms.batch_capacity, 10, &e);
  LrSchedule sched = {.kind = SCHED_COSINE, .base_lr = lr, .epochs = EPOCHS};
  double t0 = now();
  double loss = train_ce_epochs(&m, &opt, &train, &sched, 0, EPOCHS, &lb);
  double t1 = now();
  double test_loss, acc = eval_accuracy(&m, &test, &test_loss);
  if (rank == 0)
    printf(
        "%s: 2 epochs in %.1f s on %d rank(s), last epoch loss %.4f, test loss %.4f, test "
        "accuracy %.2f%%\n",
        arch_name(arch), t1 - t0, size, loss, test_loss, 100 * acc);
  lossbuf_free(&lb);
  batches_free(&train), batches_free(&test);
  sgd_free(&opt);
  model_free(&m);
  return acc;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  struct stat st;
  if (argc < 2 || stat(argv[1], &st) != 0) {
    if (rank == 0) fprintf(stderr, "SKIPPED: no MNIST at %s\n", argc > 1 ? argv[1] : "(none)");
    MPI_Finalize();
    return 77;
  }
  DataSpec spec;
  data_spec_init(&spec);
  strcpy(spec.name, "mnist");
  snprintf(spec.root, sizeof spec.root, "%s", argv[1]);
  Dataset d;
  Err e = {0};
  if (dataset_load(&d, &spec, &e)) {
    fprintf(stderr, "%s\n", e.msg);
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  const char *which = argc > 2 ? argv[2] : "cnn4,mlp";
  if (strstr(which, "cnn4")) {
    double acc = train_and_test(&d, ARCH_CNN4, 0.05f, rank, size);
    CHECK(acc >= 0.990);
  }
  if (strstr(which, "mlp")) {
    double acc = train_and_test(&d, ARCH_MLP, 0.05f, rank, size);
    CHECK(acc >= 0.975);
  }
  dataset_free(&d);
  int rc = rank == 0 ? test_finish("mnist_train") : 0;
  MPI_Finalize();
  return rc;
}
