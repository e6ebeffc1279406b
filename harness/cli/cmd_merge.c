// cmd_merge.c: `ecore merge OUT.h5 IN.h5...`: joins the results files of a sharded sweep.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "results.h"

static const char *usage_text =
    "usage: ecore merge OUT.h5 IN.h5...\n"
    "\n"
    "Merges results files of one sweep (the shards of `ecore sweep --shard I/N`) into OUT.h5.\n"
    "All inputs must hold the same sweep (same sweep id, grid axes and supervision points).\n"
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
  int rows = 0, n_in = pos.n - 1;
  if (results_merge(pos.v[0], pos.v + 1, n_in, &rows, &e)) {
    fprintf(stderr, "ecore merge: %s\n", e.msg);
    code = e.code == ERR_CONFIG ? 2 : 1;
  } else {
    printf("merged %d runs from %d file%s into %s\n", rows, n_in, n_in == 1 ? "" : "s", pos.v[0]);
    code = 0;
  }
  free(pos.v);
  return code;
}
