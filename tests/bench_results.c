// bench_results.c: the cost of an append as the results file grows (a benchmark, not a test).
//
//   bench_results DIR [ROWS]   (ROWS default 100000)
//
// Appends ROWS rows one by one to DIR/bench.h5 (a fresh file), each with 4 supervision points
// and a trace of 20 entries (5 epochs x (whole model + 3 points)), as a sweep does, and prints
// the mean time per append around rows 10, 100, 1000, ..., 100000 (the 10 appends up to
// each), the total time and the file's size.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "clock.h"
#include "results.h"

static ResultsSchema schema(void) {
  ResultsSchema s = {.n_axes = 1, .n_points = 4};
  strcpy(s.sweep_id, "bench00000000000");
  strcpy(s.axes[0], "ec.temperature");
  for (int p = 0; p < 4; p++) snprintf(s.points[p], RESULTS_NAME_LEN, "layer%d", p + 1);
  return s;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: bench_results DIR [ROWS]\n");
    return 2;
  }
  long rows = argc > 2 ? atol(argv[2]) : 100000;
  char path[4096];
  snprintf(path, sizeof path, "%s/bench.h5", argv[1]);
  remove(path);
  ResultsSchema s = schema();
  ResultsMeta m = {.config_text = "bench", .world_size = 1};
  Err e = {0};
  ResultsFile *f = NULL;
  if (results_open_or_create(path, &s, &m, &f, &e)) {
    fprintf(stderr, "bench_results: %s\n", e.msg);
    return 1;
  }
  ResultTrace trace[20];
  for (int k = 0; k < 20; k++) {
    ResultTrace *t = &trace[k];
    memset(t, 0, sizeof *t);
    snprintf(t->phase, sizeof t->phase, "ec");
    t->epoch = k / 4 + 1;
    if (k % 4) snprintf(t->point, sizeof t->point, "layer%d", k % 4);
    t->loss = t->forget_acc = t->cu = t->ce = t->cos_fr = t->spread = t->weight = 0.5 + k;
  }
  static const long marks[] = {10, 100, 1000, 2000, 5000, 10000, 20000, 50000, 100000, 1000000};
  double t_start = clock_now(), window = 0;
  int mark = 0;
  for (long i = 1; i <= rows; i++) {
    ResultRow r;
    results_row_init(&r);
    snprintf(r.run_id, sizeof r.run_id, "run%08ld", i);
    strcpy(r.method, "ft");
    r.seed = (int)(i % 5);
    snprintf(r.axis[0], RESULTS_VALUE_LEN, "%.2f", 0.01 * (double)(i % 100));
    r.forget_acc = r.retain_acc = r.test_retain_acc = 0.5;
    for (int p = 0; p < 4; p++) r.cka_original[p] = r.cka_retrain[p] = r.knn_forget_acc[p] = 0.9;
    r.trace = trace, r.n_trace = 20;
    double t0 = clock_now();
    if (results_append(f, &r, 1, &e)) {
      fprintf(stderr, "bench_results: row %ld: %s\n", i, e.msg);
      return 1;
    }
    double dt = clock_now() - t0;
    if (i > marks[mark] - 10) window += dt;
    if (i == marks[mark]) {
      printf("rows=%ld ms_per_append=%.3f\n", i, 1e3 * window / 10);
      fflush(stdout);
      window = 0, mark++;
    }
  }
  results_close(f);
  struct stat st;
  stat(path, &st);
  printf("total_rows=%ld total_s=%.1f file_mb=%.1f\n", rows, clock_now() - t_start,
         st.st_size / 1e6);
  return 0;
}
