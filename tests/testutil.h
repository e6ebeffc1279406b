// testutil.h: the few macros every C test uses. A test binary runs its checks, prints one
// line per failure with file:line, and exits non-zero if any failed. Exit code 77 means
// "skipped" (CTest's SKIP_RETURN_CODE, set by the fragments), with the reason printed.
#pragma once

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int test_failures = 0;

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      test_failures++;                                                         \
    }                                                                          \
  } while (0)

// |a - b| <= atol + rtol*|b|
#define CHECK_CLOSE(a, b, rtol, atol)                                                           \
  do {                                                                                          \
    double a_ = (a), b_ = (b);                                                                  \
    if (!(fabs(a_ - b_) <= (atol) + (rtol)*fabs(b_))) {                                         \
      fprintf(stderr, "%s:%d: %s = %.9g, expected %s = %.9g\n", __FILE__, __LINE__, #a, a_, #b, \
              b_);                                                                              \
      test_failures++;                                                                          \
    }                                                                                           \
  } while (0)

#define TEST_SKIP(...)            \
  do {                            \
    fprintf(stderr, "SKIPPED: "); \
    fprintf(stderr, __VA_ARGS__); \
    fprintf(stderr, "\n");        \
    exit(77);                     \
  } while (0)

// The whole file as a NUL-terminated string (malloc'd; NULL if it cannot be opened); its
// length in *n unless n is NULL.
static inline char *test_slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)(size > 0 ? size : 0) + 1);
  size_t got = buf ? fread(buf, 1, (size_t)(size > 0 ? size : 0), f) : 0;
  if (buf) buf[got] = '\0';
  if (n) *n = got;
  fclose(f);
  return buf;
}

// EXPECT_EXIT(run, code, fmt, ...): formats a shell command into `cmd` (a char array in scope),
// runs it with run(const char *) -> exit status, and checks the status is `code`.
#define EXPECT_EXIT(run, code, ...)                     \
  do {                                                  \
    snprintf(cmd, sizeof cmd, __VA_ARGS__);             \
    int got_ = run(cmd);                                \
    if (got_ != (code)) {                               \
      fprintf(stderr, "  '%s' exited %d\n", cmd, got_); \
      CHECK(got_ == (code));                            \
    }                                                   \
  } while (0)

static inline int test_finish(const char *name) {
  if (test_failures)
    fprintf(stderr, "%s: %d check(s) failed\n", name, test_failures);
  else
    printf("%s: all checks passed\n", name);
  return test_failures ? 1 : 0;
}
