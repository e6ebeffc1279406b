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

static inline int test_finish(const char *name) {
  if (test_failures)
    fprintf(stderr, "%s: %d check(s) failed\n", name, test_failures);
  else
    printf("%s: all checks passed\n", name);
  return test_failures ? 1 : 0;
}
