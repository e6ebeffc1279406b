// cli.c: the argument parser every ecore command uses, and its usage errors.
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"  // config_suggest

int cli_usage_error(const char *cmd, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "ecore %s: ", cmd);
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, " (see 'ecore %s --help')\n", cmd);
  va_end(ap);
  return 2;
}

static bool takes_value(const CliOpt *o) {
  return o->kind != CLI_SWITCH && !(o->kind == CLI_CALL && !o->meta);
}

// Appends v to l, whose room is cap entries plus the closing NULL.
static int list_add(CliList *l, int cap, const char *v) {
  if (!l->v && !(l->v = calloc((size_t)cap + 1, sizeof *l->v))) return -1;
  l->v[l->n++] = v;
  return 0;
}

// The option named `name` (length n: the part before '=' of "--name=value"), or NULL.
static const CliOpt *find(const CliSpec *s, const char *name, size_t n) {
  for (int i = 0; i < s->n_opts; i++) {
    const CliOpt *o = &s->opts[i];
    if ((strlen(o->name) == n && !strncmp(o->name, name, n)) ||
        (o->alt && strlen(o->alt) == n && !strncmp(o->alt, name, n)))
      return o;
  }
  return NULL;
}

static int unknown(const CliSpec *s, const char *arg) {
  const char *names[64 + 2];
  int n = 0;
  for (int i = 0; i < s->n_opts && n < 64; i++) names[n++] = s->opts[i].name;
  names[n++] = "--help";  // a mistyped --help too
  size_t len = strcspn(arg, "=");
  char word[128];
  snprintf(word, sizeof word, "%.*s", (int)(len < sizeof word ? len : sizeof word - 1), arg);
  const char *near = config_suggest(word, names, n);
  if (near) return cli_usage_error(s->cmd, "unknown option '%s'; did you mean '%s'?", word, near);
  return cli_usage_error(s->cmd, "unknown option '%s'", word);
}

static int take(const CliSpec *s, const CliOpt *o, const char *v, int cap) {
  switch (o->kind) {
    case CLI_SWITCH:
      *(bool *)o->dest = true;
      return 0;
    case CLI_STR:
      *(const char **)o->dest = v;
      return 0;
    case CLI_LIST:
      return list_add(o->dest, cap, v) ? cli_usage_error(s->cmd, "out of memory") : 0;
    case CLI_INT: {
      char *end;
      errno = 0;
      long x = strtol(v, &end, 10);
      if (!*v || *end || errno || x < o->min || x > o->max)
        return cli_usage_error(s->cmd, "%s %s: expected a whole number in [%d, %d]", o->name, v,
                               o->min, o->max);
      *(int *)o->dest = (int)x;
      return 0;
    }
    case CLI_CHOICE: {
      char names[256] = "";
      for (int i = 0; o->choices[i]; i++) {
        if (!strcmp(v, o->choices[i])) return *(int *)o->dest = i, 0;
        size_t n = strlen(names);
        snprintf(names + n, sizeof names - n, "%s%s", i ? ", " : "", o->choices[i]);
      }
      return cli_usage_error(s->cmd, "%s %s: expected one of %s", o->name, v, names);
    }
    case CLI_CALL:
      return o->fn(o->dest, o->name, v);
  }
  return 0;
}

static int positional(const CliSpec *s, const char *arg, int cap) {
  if (!s->pos || (s->max_pos >= 0 && s->pos->n >= s->max_pos)) {
    if (!s->pos || s->max_pos == 0) return cli_usage_error(s->cmd, "unexpected argument '%s'", arg);
    return cli_usage_error(s->cmd, "unexpected argument '%s' (%s %s only)", arg,
                           s->max_pos == 1 ? "one" : "at most that many", s->pos_name);
  }
  return list_add(s->pos, cap, arg) ? cli_usage_error(s->cmd, "out of memory") : 0;
}

// --help or -h before any "--": the help wins over any other argument, right or wrong.
static bool wants_help(int argc, char **argv) {
  for (int i = 0; i < argc && strcmp(argv[i], "--"); i++)
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return true;
  return false;
}

int cli_parse(const CliSpec *s, int argc, char **argv) {
  if (wants_help(argc, argv)) {
    fputs(s->usage, stdout);
    if (s->help) s->help(stdout);
    return 0;
  }
  bool options = true;  // until "--"
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    int rc = 0;
    if (!options || a[0] != '-' || !a[1]) {
      rc = positional(s, a, argc);
    } else if (!strcmp(a, "--")) {
      options = false;
    } else {
      size_t n = strcspn(a, "=");
      const CliOpt *o = find(s, a, n);
      const char *v = a[n] == '=' ? a + n + 1 : NULL;
      if (!o)
        rc = unknown(s, a);
      else if (!takes_value(o) && v)
        rc = cli_usage_error(s->cmd, "%s takes no value", o->name);
      else if (takes_value(o) && !v && i + 1 == argc)
        rc = cli_usage_error(s->cmd, "%s needs a value (%s)", o->name, o->meta ? o->meta : "");
      else
        rc = take(s, o, takes_value(o) && !v ? argv[++i] : v, argc);
    }
    if (rc) return rc;
  }
  if (s->pos && s->pos->n < s->min_pos) return cli_usage_error(s->cmd, "missing %s", s->pos_name);
  return -1;
}
