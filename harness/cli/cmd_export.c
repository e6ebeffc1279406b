// cmd_export.c: `ecore export FILE.h5 [--format csv|jsonl] [--output PATH]`.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "export.h"

static const char *usage_text =
    "usage: ecore export FILE.h5 [--format csv|jsonl] [--output|-o PATH]\n"
    "\n"
    "Writes the results of a sweep as one line per run (the latest row of each run id, sorted\n"
    "by run id), for pandas, R or a spreadsheet. Columns: run_id, method, ec, seed, status,\n"
    "each grid axis with its own type, the run's other settings (every config key that\n"
    "applies to it and changes what it computes, with the value it ran with, e.g. the\n"
    "method's usual unlearn.lr), the scalar metrics, every other field of the file's rows,\n"
    "and the per-point metrics as cka_original.<point>, cka_retrain.<point>,\n"
    "knn_forget_acc.<point>. `method` stands for unlearn.method (\"original\" and \"retrain\" for\n"
    "the models' rows) and `ec` for ec.enabled: neither key is repeated.\n"
    "\n"
    "  --format csv    a header line, then one line per run (default); NaN and values that\n"
    "                  do not apply are empty cells\n"
    "  --format jsonl  one JSON object per line; NaN and values that do not apply are null\n"
    "  --output, -o PATH  write to PATH (replaced whole, never left half written) instead of\n"
    "                  stdout\n"
    "\n"
    "The settings are recomputed from the config the file stores: when this ecore no longer\n"
    "expands it into the file's runs (keys or defaults changed since), the runs are written\n"
    "without their other settings and a warning says why. See docs/results.md.\n"
    "\n"
    "Exit codes: 0 done; 2 bad arguments, not an ecore results file, or --output naming the\n"
    "results file; 1 I/O error.\n";

int cmd_export(int argc, char **argv) {
  const char *output = NULL;
  int fmt = 0;  // EXPORT_CSV, EXPORT_JSONL: the order of the choices
  CliList pos = {0};
  const CliOpt opts[] = {
      {"--format", NULL, CLI_CHOICE, &fmt, "csv|jsonl",
       .choices = (const char *const[]){"csv", "jsonl", NULL}},
      {"--output", "-o", CLI_STR, &output, .meta = "PATH"},
  };
  const CliSpec spec = {"export", usage_text, NULL, opts,          CLI_COUNT(opts),
                        &pos,     1,          1,    "results file"};
  int code = cli_parse(&spec, argc, argv);
  const char *file = pos.n ? pos.v[0] : NULL;
  free(pos.v);
  if (code >= 0) return code;

  Err e = {0};
  ExportInfo info;
  int rc = export_file(file, output, (ExportFormat)fmt, &info, &e);
  if (rc) {
    fprintf(stderr, "ecore export: %s\n", e.msg);
    return e.code == ERR_CONFIG ? 2 : 1;
  }
  if (info.n_unmatched)
    fprintf(stderr,
            "ecore export: warning: %d of %d run(s) written without their settings "
            "beyond the grid axes: %s\n",
            info.n_unmatched, info.n_runs, info.why);
  if (output) fprintf(stderr, "%d run(s) written to %s\n", info.n_runs, output);
  return 0;
}
