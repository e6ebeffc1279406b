// cmd_report.c: `ecore report FILE.h5 [--format md|csv] [--plots DIR] [--claims]`.
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "claims.h"
#include "commands.h"
#include "results.h"

static const char *usage_text =
    "usage: ecore report FILE.h5 [--format md|csv] [--plots DIR] [--claims | --claims-strict]\n"
    "\n"
    "Prints the results of a sweep: one row per group of runs that differ only by seed (same\n"
    "method, EC on/off and grid values), with mean ± std over the seeds of every metric, the\n"
    "gap to the retrained model beside each value, and the avg gap (mean gap over forget,\n"
    "retain and test accuracy and MIA efficacy). Failed runs are counted, not averaged; when a\n"
    "run has several rows (a failed run rerun), its latest row counts. Grid axes\n"
    "unlearn.method and ec.enabled are not repeated as columns: method and ec say them.\n"
    "\n"
    "  --format md   Markdown tables (default): metrics, then CKA to the original model, CKA\n"
    "                to the retrained model and k-NN accuracy per supervision point\n"
    "  --format csv  one line per group, metric and point: method,ec,<axes>,metric,point,n,\n"
    "                mean,std,retrain,gap,n_failed\n"
    "  --plots DIR   also write SVG figures into DIR (created if needed):\n"
    "                cka_original.svg, cka_retrain.svg, knn_forget_acc.svg: the metric per\n"
    "                  supervision point, one line per group (method, EC and grid values;\n"
    "                  never averaged across grid values), mean ± std over seeds as error\n"
    "                  bars, y fitted to the data, lines at one point spread slightly in x;\n"
    "                  more than 8 groups: small multiples (methods packed into panels of\n"
    "                  at most 6 groups, y fitted per panel)\n"
    "                tradeoff_test_retain_acc.svg: forget_acc (x) against test_retain_acc,\n"
    "                  one marker per group, ± std error bars in x and y\n"
    "                tradeoff_cka_original.svg: forget_acc (x) against CKA to the original,\n"
    "                  one panel per supervision point\n"
    "                The retrained model (black stars) and the original (grey squares) are\n"
    "                references in every figure; a legend table names each group's grid\n"
    "                values (the axes that tell groups of one method and EC apart)\n"
    "  --claims      instead of the metrics, the paper's claims about EC (C1 EC alone forgets,\n"
    "                C2 EC alone reaches the core, C3 EC as a plug-in), each marked holds /\n"
    "                fails per setting and supervision point, with mean ± std over seeds, the\n"
    "                margin and the spread (rules below). md: one table per claim and a\n"
    "                summary line; csv: one line per comparison: claim,setting,point,a,a_mean,\n"
    "                a_std,a_n,b,b_mean,b_std,b_n,margin,spread,verdict (claim ref.*: the\n"
    "                retrained model's values, verdict \"reference\")\n"
    "  --claims-strict  --claims, and exit 5 when some comparison fails\n"
    "\n"
    "Models: the runs of one seed and the same values of the axes that determine the retrained\n"
    "model were measured against one original and one retrained model, which each row names\n"
    "by fingerprint (original_fingerprint, retrain_fingerprint). A file where they name\n"
    "different models mixes two trainings of a model (a sweep resumed, or shards run, without\n"
    "the cache they began with): its numbers do not compare, so the report (tables, claims\n"
    "and plots) refuses it (exit 2), naming the runs and fingerprints of each, rather than\n"
    "average them or split them into groups whose reference is unclear. `ecore export` still\n"
    "lists every row; rerun the sweep into a new file with one cache. Rows without\n"
    "fingerprints (files from before them) are not checked.\n"
    "\n"
    "Exit codes: 0 done (whatever the claims' verdicts); 2 bad arguments, not an ecore\n"
    "results file, or a file that mixes models; 1 I/O error or a file with no runs yet;\n"
    "5 --claims-strict and a claim fails.\n";

static void print_rules(FILE *f) {
  fprintf(f, "\nHow --claims checks the claims:\n%s", results_claims_rules());
}

int cmd_report(int argc, char **argv) {
  const char *plots = NULL;
  int fmt = 0;  // REPORT_MARKDOWN, REPORT_CSV: the order of the choices
  bool claims = false, strict = false;
  CliList pos = {0};
  const CliOpt opts[] = {
      {"--format", NULL, CLI_CHOICE, &fmt, "md|csv",
       .choices = (const char *const[]){"md", "csv", NULL}},
      {"--plots", NULL, CLI_STR, &plots, .meta = "DIR"},
      {"--claims", NULL, CLI_SWITCH, .dest = &claims},
      {"--claims-strict", NULL, CLI_SWITCH, .dest = &strict},
  };
  const CliSpec spec = {"report", usage_text, print_rules, opts,          CLI_COUNT(opts),
                        &pos,     1,          1,           "results file"};
  int code = cli_parse(&spec, argc, argv);
  const char *file = pos.n ? pos.v[0] : NULL;
  free(pos.v);
  if (code >= 0) return code;
  claims |= strict;

  Err e = {0};
  ResultsTable t;
  int rc = results_read(file, &t, &e);
  if (!rc && t.n_rows == 0)
    rc = errf(&e, ERR_RUNTIME, "%s: holds no runs yet (sweep %s)", file, t.schema.sweep_id);
  int n_failed = 0;
  if (!rc)
    rc = claims ? results_claims(&t, (ReportFormat)fmt, stdout, &n_failed, &e)
                : results_report(&t, (ReportFormat)fmt, stdout, &e);
  if (!rc && plots) {
    rc = results_plot_svg(&t, plots, &e);
    if (!rc) fprintf(stderr, "plots written to %s/\n", plots);
  }
  if (rc) fprintf(stderr, "ecore report: %s\n", e.msg);
  results_table_free(&t);
  if (!rc && strict && n_failed)
    fprintf(stderr, "ecore report: %d comparison%s fail%s\n", n_failed, n_failed == 1 ? "" : "s",
            n_failed == 1 ? "s" : "");
  if (rc) return e.code == ERR_CONFIG ? 2 : 1;
  return strict && n_failed ? 5 : 0;
}
