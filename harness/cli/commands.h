// commands.h: the ecore subcommands. Each takes the arguments after its name and returns the
// process exit code (0 success, 1 runtime error, 2 usage or config error, 3 some runs failed).
#pragma once

// Prints "ecore CMD: message (see 'ecore CMD --help')" to stderr; returns 2 (a usage error).
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

int cmd_bench(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_merge(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_sweep(int argc, char **argv);
