// lists.h: read-only lists of ints, doubles and strings, as the config gives them (the memory
// they point into belongs to whoever made them: the loaded config, or a test's arrays).
#pragma once

typedef struct {
  int n;
  const int *v;
} IntList;
typedef struct {
  int n;
  const double *v;
} FloatList;
typedef struct {
  int n;
  const char *const *v;
} StrList;
