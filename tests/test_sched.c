// test_sched.c: the dynamic scheduler. Every item runs exactly once, after its dependencies;
// an item whose dependency failed is skipped and recorded as failed; with several groups the
// work spreads over them. Run under mpirun with 1, 2 or 4 ranks, ranks_per_run from argv[1].
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "scheduler.h"
#include "testutil.h"

enum { N = 24 };

typedef struct {
  int runs[N];      // on rank 0: how often each item finished
  int order[N], n;  // finish order
  int skipped[N];
  int ran_on_group[N];
  int world_rank;
} Ctx;

// Item i depends on i-8 (so three waves) and item 5 fails; 13 and 21 depend on it.
static int deps_of(int i, int *deps) {
  return i >= 8 ? (deps[0] = i - 8, 1) : 0;
}

static int run(void *p, int item, MPI_Comm group, ResultRow *row, bool *has_row) {
  Ctx *c = p;
  int size;
  MPI_Comm_size(group, &size);
  int sum = 1;  // the whole group takes part
  MPI_Allreduce(MPI_IN_PLACE, &sum, 1, MPI_INT, MPI_SUM, group);
  struct timespec t = {0, 2000000L * (item % 3 + 1)};
  nanosleep(&t, NULL);
  snprintf(row->run_id, sizeof row->run_id, "item%d", item);
  row->seed = c->world_rank;  // who ran it
  *has_row = true;
  if (sum != size) return 1;
  if (item == 5) {
    snprintf(row->status, sizeof row->status, "failed: on purpose");
    return 1;
  }
  return 0;
}

static void done(void *p, int item, int status, const ResultRow *row, bool has_row, int d,
                 int total) {
  Ctx *c = p;
  (void)status, (void)d, (void)total;
  CHECK(has_row);
  c->runs[item]++;
  c->order[c->n++] = item;
  c->ran_on_group[item] = row->seed;
}

static bool skip(void *p, int item, int failed_dep, ResultRow *row) {
  Ctx *c = p;
  c->skipped[item] = 1;
  snprintf(row->status, sizeof row->status, "failed: dependency %d failed", failed_dep);
  return true;
}

int main(int argc, char **argv) {
  int provided;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
  int rank, world;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  int rpr = argc > 1 ? atoi(argv[1]) : 1;
  SchedItem items[N];
  int deps[N][1];
  for (int i = 0; i < N; i++) items[i] = (SchedItem){deps_of(i, deps[i]), deps[i]};
  bool already[N] = {0};
  already[2] = true;  // resumed: item 2 is done from an earlier sweep
  Ctx c = {.world_rank = rank};
  Sched s = {.n_items = N,
             .items = items,
             .already_done = already,
             .ranks_per_run = rpr,
             .run = run,
             .done = done,
             .skip = skip,
             .ctx = &c};
  Err e = {0};
  int rc = sched_run(&s, NULL, &e);
  if (rank == 0) {
    CHECK(rc == 3);  // item 5 failed
    int pos[N];
    for (int i = 0; i < N; i++) pos[i] = -1;
    for (int k = 0; k < c.n; k++) pos[c.order[k]] = k;
    for (int i = 0; i < N; i++) {
      if (i == 2) {
        CHECK(c.runs[i] == 0);  // already done: not run again
        continue;
      }
      CHECK(c.runs[i] == 1);
      if (i >= 8 && i - 8 != 2) CHECK(pos[i - 8] < pos[i]);
    }
    CHECK(c.skipped[13] && c.skipped[21] && !c.skipped[12]);
    int groups = world / rpr, used[4] = {0}, n_used = 0;
    for (int i = 0; i < N; i++)
      if (!c.skipped[i] && i != 2) used[(c.ran_on_group[i] / rpr) % 4] = 1;
    for (int g = 0; g < 4; g++) n_used += used[g];
    printf("%d ranks, %d per run: %d items over %d of %d groups\n", world, rpr, c.n, n_used,
           groups);
    CHECK(n_used == groups);
  }
  int rc2 = rank == 0 ? test_finish("sched") : 0;
  MPI_Finalize();
  return rc2;
}
