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
    "Resuming: on an existing results file of the same sweep, finished runs are skipped and\n"
    "the others run; a file of another sweep is refused. A killed sweep loses only the runs\n"
    "in flight.\n"
    "\n"
    "  --out FILE.h5   results file (default: output.file of the config)\n"
    "  --shard I/N     run only shard I of N (I = 0..N-1) into its own file; join the shards\n"
    "                  with `ecore merge`\n"
    "  --set KEY=VAL   override a config key (YAML value), e.g. --set forget.classes=[3,8]\n"
    "  --quiet         print only errors and the results file's path\n"
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

int cmd_sweep(int argc, char **argv) {
  SweepArgs a = {.stop_flag = &stop_requested};
  const char **sets = calloc((size_t)argc + 1, sizeof(char *));
  int n_sets = 0;
  for (int i = 0; i < argc; i++) {
    const char *arg = argv[i], *val = NULL;
    int takes = !strcmp(arg, "--out") || !strcmp(arg, "--shard") || !strcmp(arg, "--set");
    if (takes) {
      if (i + 1 >= argc) {
        fprintf(stderr, "ecore sweep: %s needs a value\n", arg);
        free(sets);
        return 2;
      }
      val = argv[++i];
    }
    if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
      fputs(usage_text, stdout);
      free(sets);
      return 0;
    } else if (!strcmp(arg, "--quiet") || !strcmp(arg, "-q")) {
      a.quiet = true;
    } else if (!strcmp(arg, "--out")) {
      a.out = val;
    } else if (!strcmp(arg, "--set")) {
      sets[n_sets++] = val;
    } else if (!strncmp(arg, "--set=", 6)) {
      sets[n_sets++] = arg + 6;
    } else if (!strcmp(arg, "--shard")) {
      if (parse_shard(val, &a.shard_i, &a.shard_n)) {
        fprintf(stderr, "ecore sweep: --shard %s: expected I/N with 0 <= I < N\n", val);
        free(sets);
        return 2;
      }
    } else if (arg[0] == '-' || a.config_path) {
      free(sets);
      return arg[0] == '-'
                 ? cli_usage_error("sweep", "unknown option '%s'", arg)
                 : cli_usage_error("sweep", "unexpected argument '%s' (one CONFIG only)", arg);
    } else {
      a.config_path = arg;
    }
  }
  if (!a.config_path) {
    fprintf(stderr, "ecore sweep: missing CONFIG\n\n%s", usage_text);
    free(sets);
    return 2;
  }
  a.sets = sets, a.n_sets = n_sets;
  // Before MPI starts: a signal that arrives during a slow start must not kill the process.
  signal(SIGUSR1, on_signal);
  signal(SIGTERM, on_signal);
  int provided;
  MPI_Init_thread(NULL, NULL, MPI_THREAD_MULTIPLE, &provided);
  int rc = sweep_main(&a);
  MPI_Finalize();
  free(sets);
  return rc;
}
