// cmd_status.c: `ecore status FILE.h5 [CONFIG]`.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "status.h"

static const char *usage_text =
    "usage: ecore status FILE.h5 [CONFIG]\n"
    "\n"
    "How far a sweep has got: per kind of work item (the shared original, EC module and\n"
    "retrained models, then each method with and without EC) how many are done, failed and\n"
    "to do, overall, the failed runs with their reasons, and an estimate of the time a resume\n"
    "would take. Safe while the sweep is writing the file, and on a finished or merged file.\n"
    "\n"
    "  CONFIG   the sweep's config (default: the ones stored in the file). A config that adds\n"
    "           runs to the file's sweep (seeds, grid values, cases) is counted with them; a\n"
    "           config of another sweep is refused, naming the setting that differs. The\n"
    "           counts are those of `ecore sweep CONFIG` resumed from here: shared models are\n"
    "           looked for in output.cache_dir, relative to the current directory.\n"
    "\n"
    "The estimate: per kind, the mean wall time of its items measured so far (the wall_s of\n"
    "its rows; for the original's training and EC's pretraining, which have no row, the time\n"
    "the sweep keeps beside their checkpoint in the cache); a kind with nothing measured yet\n"
    "borrows from others (the basis column says how, e.g. its epochs times the seconds per\n"
    "epoch of the measured runs). The sum over the failed and to-do items is divided by the\n"
    "parallel rank groups (MPI ranks when the file was created / sweep.ranks_per_run); items\n"
    "waiting for shared models can make the sweep take longer.\n"
    "\n"
    "Exit codes: 0 done (whatever the sweep's state); 2 bad arguments, not an ecore results\n"
    "file, or a config error or a config of another sweep; 1 I/O error.\n";

static void duration(double secs, char *buf, size_t size) {
  if (!isfinite(secs))
    snprintf(buf, size, "?");
  else if (secs < 90)
    snprintf(buf, size, "%.0fs", secs);
  else if (secs < 5400)
    snprintf(buf, size, "%.0fm%02.0fs", floor(secs / 60), fmod(secs, 60));
  else
    snprintf(buf, size, "%.0fh%02.0fm", floor(secs / 3600), fmod(secs / 60, 60));
}

static void print_status(const SweepStatus *st, const char *file) {
  printf("sweep %s (%s), config: %s", st->sweep_id, file, st->config_from);
  if (st->n_new) printf(" (adds %d runs to it)", st->n_new);
  printf("\n%d runs%s%s\n\n", st->n_runs, st->shard[0] ? ", this file is shard " : "", st->shard);
  printf("%-22s %6s %6s %6s %8s %9s %9s  %s\n", "kind", "done", "failed", "to do", "measured",
         "mean s", "left s", "basis of the estimate");
  for (int k = 0; k < st->n_kinds; k++) {
    const StatusKind *K = &st->kinds[k];
    if (!K->done && !K->failed && !K->todo) continue;
    char failed[16] = "-", mean[32] = "-", left[32] = "-";
    if (K->has_rows) snprintf(failed, sizeof failed, "%d", K->failed);
    if (K->n_measured) snprintf(mean, sizeof mean, "%.2f", K->mean_s);
    if (K->failed || K->todo)
      snprintf(left, sizeof left, isfinite(K->left_s) ? "%.2f" : "?", K->left_s);
    printf("%-22s %6d %6s %6d %8d %9s %9s  %s\n", K->name, K->done, failed, K->todo, K->n_measured,
           mean, left, K->basis);
  }
  if (!st->cache_found)
    printf("\nthe cache %s is not found from here: its shared models count as to do\n",
           st->cache_dir);
  printf("\noverall: %d done, %d failed, %d to do: a resume runs %d item(s)\n", st->done,
         st->failed, st->todo, st->failed + st->todo);
  if (st->n_failures) printf("\nfailed (a resume runs them again):\n");
  for (int i = 0; i < st->n_failures; i++)
    printf("  %s  %s seed %d: %s\n", st->failures[i].run_id, st->failures[i].kind,
           st->failures[i].seed, st->failures[i].status);
  if (!st->failed && !st->todo) {
    printf("\nnothing left to run\n");
    return;
  }
  if (st->work_s == 0 && st->n_unestimated) {
    printf("\nETA not known yet: nothing measured that the %d item(s) left can go by\n",
           st->n_unestimated);
    return;
  }
  char eta[32], work[32];
  duration(st->eta_s, eta, sizeof eta);
  duration(st->work_s, work, sizeof work);
  printf("\nETA ~%s (%.1f s): %s (%.1f s) of work", eta, st->eta_s, work, st->work_s);
  if (st->groups > 0)
    printf(" over %d parallel group(s) (%d MPI rank(s) when the file was created / %d per run)",
           st->groups, st->world_size, st->ranks_per_run);
  else
    printf(", one group at a time (the parallel groups are not known)");
  if (st->n_unestimated) printf("; %d item(s) not estimated (not counted)", st->n_unestimated);
  printf("\n");
}

// The work: the status of file's sweep, printed. Returns the exit code.
static int run_status(const char *file, const char *config) {
  Err e = {0};
  SweepStatus st;
  int rc = sweep_status(&st, file, config, &e);
  if (rc) {
    fprintf(stderr, "ecore status: %s\n", e.msg);
    return rc == ERR_CONFIG ? 2 : 1;
  }
  print_status(&st, file);
  sweep_status_free(&st);
  return 0;
}

int cmd_status(int argc, char **argv) {
  CliList pos = {0};
  const CliSpec spec = {"status", usage_text, NULL, NULL, 0, &pos, 1, 2, "FILE.h5 [CONFIG]"};
  int code = cli_parse(&spec, argc, argv);
  const char *file = pos.n ? pos.v[0] : NULL, *config = pos.n > 1 ? pos.v[1] : NULL;
  if (code < 0) code = run_status(file, config);
  free(pos.v);
  return code;
}
