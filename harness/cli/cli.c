// cli.c: what every ecore command says the same way.
#include <stdarg.h>
#include <stdio.h>

#include "commands.h"

int cli_usage_error(const char *cmd, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "ecore %s: ", cmd);
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, " (see 'ecore %s --help')\n", cmd);
  va_end(ap);
  return 2;
}
