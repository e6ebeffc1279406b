// cli.h: the one argument parser of every ecore command. A command describes its options in a
// table (CliOpt) and its positional arguments in a CliSpec; cli_parse reads argv the same way
// for all: `--name VALUE` or `--name=VALUE`, a short alias (`-o VALUE`), `--` ends the options,
// `--help`/`-h` prints the command's help, and an unknown option gets "did you mean".
#pragma once

#include <stdbool.h>
#include <stdio.h>

typedef enum {
  CLI_SWITCH,  // no value: sets *(bool *)dest
  CLI_STR,     // *(const char **)dest = value (the last one given wins)
  CLI_LIST,    // appends value to *(CliList *)dest (the option may be repeated)
  CLI_INT,     // *(int *)dest = value, a whole number in [min, max]
  CLI_CHOICE,  // *(int *)dest = the index of value in choices
  CLI_CALL,    // fn(dest, name, value): value NULL when meta is NULL (a switch)
} CliKind;

typedef struct {
  const char *name;  // "--out"
  const char *alt;   // "-o", or NULL
  CliKind kind;
  void *dest;
  const char *meta;            // the value's name in messages ("FILE"); CLI_CALL: NULL for a switch
  int min, max;                // CLI_INT's range
  const char *const *choices;  // CLI_CHOICE's names, NULL-terminated
  // CLI_CALL: takes the option; returns 0, or the exit code of a usage error (2, from
  // cli_usage_error, which the callee prints).
  int (*fn)(void *dest, const char *name, const char *value);
} CliOpt;

// The values of a repeated option, or the positional arguments: v[n], malloc'd by cli_parse
// (free(list.v)); v[n] is NULL.
typedef struct {
  const char **v;
  int n;
} CliList;

typedef struct {
  const char *cmd;        // "sweep": messages read "ecore sweep: ..."
  const char *usage;      // printed to stdout by --help
  void (*help)(FILE *f);  // if set, also called by --help after the usage
  const CliOpt *opts;
  int n_opts;
  CliList *pos;          // the positional arguments (may be NULL: none accepted)
  int min_pos, max_pos;  // how many; max_pos < 0: no limit
  const char *pos_name;  // their name in messages: "CONFIG", "FILE.h5"
} CliSpec;

#define CLI_COUNT(a) ((int)(sizeof(a) / sizeof *(a)))  // entries of an option table

// Parses argv[argc] (the arguments after the command's name) into the options' destinations
// and s->pos. Returns -1 to go on, else the exit code: 0 after --help, 2 after a usage error
// (printed to stderr, with a suggestion for a mistyped option).
int cli_parse(const CliSpec *s, int argc, char **argv);

// Prints "ecore CMD: message (see 'ecore CMD --help')" to stderr; returns 2 (a usage error).
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
