// cmd_merge.c: `ecore merge OUT.h5 IN.h5...`: joins the results files of a sharded sweep.
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "results.h"

static const char *usage_text =
    "usage: ecore merge OUT.h5 IN.h5...\n"
    "\n"
    "Merges results files of one sweep (the shards of `ecore sweep --shard I/N`) into OUT.h5.\n"
    "All inputs must hold the same sweep (same sweep id, grid axes and supervision points).\n"
    "A run found in several inputs must have the same values in each and is kept once; the\n"
    "latest row of each run is taken, and OUT.h5 lists the runs sorted by run_id.\n"
    "OUT.h5 is written to OUT.h5.tmp and renamed when complete: a failed merge leaves OUT.h5\n"
    "(if it exists) and the inputs untouched. OUT.h5 may not be one of the inputs.\n"
    "\n"
    "Exit codes: 0 merged; 2 bad arguments, mismatched sweeps or conflicting runs;\n"
    "1 I/O error.\n";

int cmd_merge(int argc, char **argv) {
  for (int i = 0; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      fputs(usage_text, stdout);
      return 0;
    }
    if (argv[i][0] == '-' && argv[i][1] != '\0') {
      return cli_usage_error("merge", "unknown option '%s'", argv[i]);
    }
  }
  if (argc < 2) {
    fprintf(stderr, "ecore merge: needs OUT.h5 and at least one IN.h5\n\n%s", usage_text);
    return 2;
  }
  Err e = {0};
  int rows = 0;
  const char *const *inputs = (const char *const *)argv + 1;
  if (results_merge(argv[0], inputs, argc - 1, &rows, &e)) {
    fprintf(stderr, "ecore merge: %s\n", e.msg);
    return e.code == ERR_CONFIG ? 2 : 1;
  }
  printf("merged %d runs from %d file%s into %s\n", rows, argc - 1, argc == 2 ? "" : "s", argv[0]);
  return 0;
}
