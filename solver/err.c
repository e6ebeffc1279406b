// err.c: see err.h.
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int errf(Err *e, int code, const char *fmt, ...) {
  if (!e) return code;
  e->code = code;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->msg, sizeof e->msg, fmt, ap);
  va_end(ap);
  return code;
}

int err_context(Err *e, const char *fmt, ...) {
  if (!e) return ERR_RUNTIME;
  char prefix[512], old[sizeof e->msg];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(prefix, sizeof prefix, fmt, ap);
  va_end(ap);
  memcpy(old, e->msg, sizeof old);
  size_t n = strlen(prefix);
  if (n > sizeof e->msg - 3) n = sizeof e->msg - 3;
  memcpy(e->msg, prefix, n);
  memcpy(e->msg + n, ": ", 2);
  size_t room = sizeof e->msg - n - 3;
  size_t m = strnlen(old, room);
  memcpy(e->msg + n + 2, old, m);
  e->msg[n + 2 + m] = '\0';
  return e->code;
}
