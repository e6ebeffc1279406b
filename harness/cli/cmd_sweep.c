// cmd_sweep.c: `ecore sweep`: parse the flags, set up MPI and the preemption signals, run.
#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "sweep.h"

static const char *usage_text =
    "usage: ecore sweep CONFIG [--out FILE.h5] [--shard I/N] [--set KEY=VALUE]... [--quiet]\n"
    "\n"
    "Runs every run of the config's sweep and writes one row per finished run into an HDF5\n"
    "results file (output.file, or --out). Run it alone or under mpirun/srun: the ranks are\n"
    "split into groups of sweep.ranks_per_run, each training one run at a time data-parallel,\n"
    "and runs are handed to groups as they free up. The original, retrained and EC-module\n"
    "models are trained once, cached in output.cache_dir and shared.\n"
    "\n"
    "Resuming and extending: on an existing results file of the same sweep, finished runs\n"
    "are skipped and the others run. A sweep is what its runs share: every setting but\n"
    "sweep.seeds, the values of sweep.grid's axes and sweep.cases. So a config that adds\n"
    "seeds, grid values or cases runs only its new runs into the file (and is added to the\n"
    "file's /config); a file of another sweep is refused, naming the setting that differs\n"
    "and its two values. A killed sweep loses only the runs in flight.\n"
    "\n"
    "  --out FILE.h5   results file (default: output.file of the config)\n"
    "  --shard I/N     run only shard I of N (I = 0..N-1) into its own file; join the shards\n"
    "                  with `ecore merge`\n"
    "  --set KEY=VAL   override a config key (YAML value), e.g. --set forget.classes=[3,8]\n"
    "  --quiet         print only errors and the results file's path\n"
    "\n"
    "Progress: a line per finished item, ending with [elapsed, ~time left]; the time left is\n"
    "`ecore status`'s estimate (per kind of item, the mean measured time; see its --help) and\n"
    "says how many items left borrow another kind's time or have no estimate yet.\n"
    "\n"
    "SIGUSR1 or SIGTERM (e.g. Slurm's --signal before the time limit) stops handing out runs;\n"
    "runs in flight finish and are recorded, and the same command resumes later.\n"
    "Exit codes: 0 all runs ok, 1 runtime error, 2 usage or config error (nothing written),\n"
    "3 some runs failed (their rows say why), 4 stopped by a signal before the end.\n";

// The one piece of process-wide state: a signal handler can only reach a global.
static volatile int stop_requested = 0;

static void on_signal(int sig) {
  (void)sig;
  stop_requested = 1;
}

static int parse_shard(const char *s, int *i, int *n) {
  char *end;
  long a = strtol(s, &end, 10);
  if (end == s || *end != '/') return -1;
  const char *q = end + 1;
  long b = strtol(q, &end, 10);
  if (end == q || *end || b < 1 || a < 0 || a >= b || b > 1000000) return -1;
  *i = (int)a, *n = (int)b;
  return 0;
}

static int take_shard(void *dest, const char *name, const char *v) {
  SweepArgs *a = dest;
  if (parse_shard(v, &a->shard_i, &a->shard_n))
    return cli_usage_error("sweep", "%s %s: expected I/N with 0 <= I < N", name, v);
  return 0;
}

int cmd_sweep(int argc, char **argv) {
  SweepArgs a = {.stop_flag = &stop_requested};
  CliList sets = {0}, pos = {0};
  const CliOpt opts[] = {
      {"--out", NULL, CLI_STR, &a.out, .meta = "FILE.h5"},
      {"--shard", NULL, CLI_CALL, &a, "I/N", .fn = take_shard},
      {"--set", NULL, CLI_LIST, &sets, .meta = "KEY=VALUE"},
      {"--quiet", "-q", CLI_SWITCH, .dest = &a.quiet},
  };
  const CliSpec spec = {"sweep", usage_text, NULL, opts, CLI_COUNT(opts), &pos, 1, 1, "CONFIG"};
  int code = cli_parse(&spec, argc, argv);
  a.config_path = pos.n ? pos.v[0] : NULL;
  free(pos.v);
  if (code >= 0) {
    free(sets.v);
    return code;
  }
  a.sets = sets.v, a.n_sets = sets.n;
  // Before MPI starts: a signal that arrives during a slow start must not kill the process.
  signal(SIGUSR1, on_signal);
  signal(SIGTERM, on_signal);
  int provided;
  MPI_Init_thread(NULL, NULL, MPI_THREAD_MULTIPLE, &provided);
  int rc = sweep_main(&a);
  MPI_Finalize();
  free(sets.v);
  return rc;
}
