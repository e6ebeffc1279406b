// cmd_merge.c: `ecore merge OUT.h5 IN.h5...`: joins the results files of one sweep (its shards,
// or files of configs that extend it).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "plan.h"
#include "results.h"

static const char *usage_text =
    "usage: ecore merge OUT.h5 IN.h5...\n"
    "\n"
    "Merges results files of one sweep into OUT.h5: the shards of `ecore sweep --shard I/N`,\n"
    "or files of configs that share every setting but sweep.seeds, the values of sweep.grid's\n"
    "axes and sweep.cases (say, other seeds). Inputs of different sweeps are refused, naming\n"
    "the first setting that differs and its value in each file; all must vary the same keys\n"
    "in the same order and have the same supervision points. OUT.h5 keeps the configs of all\n"
    "inputs (/config/expanded, /config/added_N), so that every run's settings are known.\n"
    "A run found in several inputs must have the same result in each (the same values and\n"
    "the same original and retrained model fingerprints) and is kept once, as the first input\n"
    "holding it has it; how it was computed (wall_s, hosts, ranks, version, commit, BLAS) may\n"
    "differ. The latest row of each run is taken, and OUT.h5 lists the runs sorted by run_id.\n"
    "OUT.h5 is written to OUT.h5.tmp and renamed when complete: a failed merge leaves OUT.h5\n"
    "(if it exists) and the inputs untouched. OUT.h5 may not be one of the inputs.\n"
    "\n"
    "Exit codes: 0 merged; 2 bad arguments, mismatched sweeps or conflicting runs;\n"
    "1 I/O error.\n";

int cmd_merge(int argc, char **argv) {
  CliList pos = {0};
  const CliSpec spec = {
      "merge", usage_text, NULL, NULL, 0, &pos, 2, -1, "OUT.h5 and at least one IN.h5"};
  int code = cli_parse(&spec, argc, argv);
  if (code >= 0) {
    free(pos.v);
    return code;
  }
  Err e = {0};
  int rows = 0, n_in = pos.n - 1, n_read = 0;
  const char *const *in = (const char *const *)pos.v + 1;
  ResultsTable *t = calloc((size_t)n_in, sizeof *t);
  int rc = t ? 0 : errf(&e, ERR_RUNTIME, "out of memory");
  for (; !rc && n_read < n_in; n_read++) rc = results_read(in[n_read], &t[n_read], &e);
  if (!rc) rc = plan_same_stored(t, in, n_in, &e);
  if (!rc) rc = results_merge_tables(pos.v[0], t, in, n_in, &rows, &e);
  if (rc) {
    fprintf(stderr, "ecore merge: %s\n", e.msg);
    code = e.code == ERR_CONFIG ? 2 : 1;
  } else {
    printf("merged %d runs from %d file%s into %s\n", rows, n_in, n_in == 1 ? "" : "s", pos.v[0]);
    code = 0;
  }
  for (int i = 0; i < n_read; i++) results_table_free(&t[i]);
  free(t);
  free(pos.v);
  return code;
}
