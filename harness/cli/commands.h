// commands.h: the ecore subcommands. Each takes the arguments after its name and returns the
// process exit code (0 success, 1 runtime error, 2 usage or config error, 3 some runs failed).
#pragma once

#include "cli.h"  // cli_parse, cli_usage_error

int cmd_bench(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_merge(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_sweep(int argc, char **argv);
