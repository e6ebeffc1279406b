// main.c: the ecore command line: dispatch to a subcommand.
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "config.h"      // config_suggest
#include "git_commit.h"  // ECORE_GIT_COMMIT, written at build time

typedef struct {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *summary;
} Command;

static const Command commands[] = {
    {"plan", cmd_plan, "check a config and list its runs and shared jobs"},
    {"sweep", cmd_sweep, "run a config's sweep into an HDF5 results file"},
    {"status", cmd_status, "how far a sweep has got: done, failed, to do, ETA"},
    {"bench", cmd_bench, "time training steps on synthetic input"},
    {"merge", cmd_merge, "merge the results files of a sharded sweep"},
    {"report", cmd_report, "tables and plots of a results file"},
    {"export", cmd_export, "a results file as CSV or JSON lines, one line per run"},
    {"eval", cmd_eval, "evaluate a checkpoint against an original and a retrained model"},
    {"help", NULL, "this page"},
};
static const int n_commands = sizeof commands / sizeof commands[0];

static void usage(FILE *f) {
  fprintf(f,
          "usage: ecore COMMAND [ARGS]\n\n"
          "ecore runs machine-unlearning experiments (Erase at the Core and its baselines).\n\n"
          "commands:\n");
  for (int i = 0; i < n_commands; i++)
    fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
  fprintf(f,
          "\n'ecore COMMAND --help' explains each; 'ecore -V' prints the version. ecore %s (%s)\n",
          ECORE_VERSION, ECORE_GIT_COMMIT);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
    usage(stdout);
    return 0;
  }
  if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
    printf("ecore %s (%s)\n", ECORE_VERSION, ECORE_GIT_COMMIT);
    return 0;
  }
  for (int i = 0; i < n_commands; i++)
    if (!strcmp(argv[1], commands[i].name))
      if (commands[i].run) return commands[i].run(argc - 2, argv + 2);
  const char *names[sizeof commands / sizeof commands[0]];
  for (int i = 0; i < n_commands; i++) names[i] = commands[i].name;
  const char *near = config_suggest(argv[1], names, n_commands);
  if (near)
    fprintf(stderr, "ecore: unknown command '%s'; did you mean '%s'?\n\n", argv[1], near);
  else
    fprintf(stderr, "ecore: unknown command '%s'\n\n", argv[1]);
  usage(stderr);
  return 2;
}
