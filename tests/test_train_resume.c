// test_train_resume.c: interval checkpoints of a training from scratch. A training stopped
// after epoch 1 (checkpoint.stop_after) and started again with the same recipe resumes after
// epoch 1 and ends bit-identical to the uninterrupted training, on 1 rank; on every rank of
// a larger group, equal within float tolerance. A checkpoint of another seed is ignored.
#include <mpi.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"
#include "runspec.h"  // the specs' defaults (the config schema's)
#include "unlearn.h"

typedef struct {
  int resumed_at;
} Seen;

static void on_epoch(void *user, const char *phase, int epoch, int epochs, double loss) {
  (void)epochs, (void)loss;
  if (!strcmp(phase, "resume")) ((Seen *)user)->resumed_at = epoch;
}

static void train(Model *m, const Dataset *d, const TrainRecipe *r, uint64_t seed, Seen *seen,
                  int expect_rc) {
  TrainProgress p = {.fn = on_epoch, .user = seen};
  Err e = {0};
  int rc = train_recipe_run(m, d, NULL, 0, r, seed, m->comm, &p, &e);
  if ((rc != 0) != expect_rc) fprintf(stderr, "train_recipe_run: rc %d: %s\n", rc, e.msg);
  CHECK((rc != 0) == expect_rc);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  Err e = {0};
  DataSpec spec;
  data_spec_init(&spec);
  spec.synth.n_train = 120, spec.synth.n_test = 20, spec.synth.h = spec.synth.w = 10;
  Dataset d;
  if (dataset_load(&d, &spec, &e)) return fprintf(stderr, "%s\n", e.msg), 1;
  ModelSpec ms = {.arch = ARCH_CNN4,
                  .in_c = 1,
                  .in_h = 10,
                  .in_w = 10,
                  .num_classes = 10,
                  .batch_capacity = 32,
                  .width = 4};
  Model full, part;
  model_create(&full, &ms, &e);
  model_create(&part, &ms, &e);
  full.comm = part.comm = MPI_COMM_WORLD;
  TrainRecipe r;
  train_recipe_defaults(&r);
  r.epochs = 3, r.batch_size = 32, r.lr = 0.05f;
  Seen seen = {0};
  train(&full, &d, &r, 7, &seen, 0);
  CHECK(seen.resumed_at == 0);

  char path[] = "/tmp/ecore_resume_XXXXXX";
  if (rank == 0) {
    int fd = mkstemp(path);
    close(fd);
    remove(path);  // the name only: no file yet
  }
  MPI_Bcast(path, sizeof path, MPI_CHAR, 0, MPI_COMM_WORLD);
  TrainRecipe rp = r;
  rp.checkpoint.path = path, rp.checkpoint.every = 1, rp.checkpoint.stop_after = 1;
  train(&part, &d, &rp, 7, &seen, 1);  // "stopped after epoch 1"
  CHECK(access(path, R_OK) == 0);
  rp.checkpoint.stop_after = 0;
  Model other;  // another seed's training ignores the file (and starts from scratch)
  model_create(&other, &ms, &e);
  other.comm = MPI_COMM_WORLD;
  Seen other_seen = {0};
  TrainRecipe ro = rp;
  ro.checkpoint.every = 0;  // and does not overwrite it
  train(&other, &d, &ro, 8, &other_seen, 0);
  CHECK(other_seen.resumed_at == 0);
  train(&part, &d, &rp, 7, &seen, 0);
  CHECK(seen.resumed_at == 1);
  if (size == 1) {
    CHECK(memcmp(full.param_mem, part.param_mem, (size_t)full.n_param_floats * 4) == 0);
    CHECK(memcmp(full.buffer_mem, part.buffer_mem, (size_t)full.n_buffer_floats * 4) == 0);
  } else {
    double scale = 0, diff = 0;
    for (int64_t i = 0; i < full.n_param_floats; i++) {
      scale = fmax(scale, fabs(full.param_mem[i]));
      diff = fmax(diff, fabs(full.param_mem[i] - part.param_mem[i]));
    }
    CHECK(diff <= 1e-4 * scale);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  if (rank == 0) remove(path);
  model_free(&full), model_free(&part), model_free(&other);
  dataset_free(&d);
  int failures = test_failures, total = 0;
  MPI_Allreduce(&failures, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  test_failures = total;
  int rc = rank == 0 ? test_finish("train_resume") : (total ? 1 : 0);
  MPI_Finalize();
  return rc;
}
