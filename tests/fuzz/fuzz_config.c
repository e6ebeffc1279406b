// fuzz_config.c: a config through the entry point of `ecore plan` and `ecore sweep`:
// config_load (YAML text, then --set overrides) and plan_expand.
//
// Input: the YAML text, then optionally a NUL byte and the --set arguments ("K=V", without the
// flag), each ended by a NUL byte (the last one may run to the end of the input).
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fuzz.h"
#include "plan.h"

enum { FUZZ_MAX_SETS = 16 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = malloc(size + 1);  // [size + 1]: the input, NUL-terminated
  if (!text) return 0;
  memcpy(text, data, size);
  text[size] = '\0';
  const char *sets[FUZZ_MAX_SETS];
  int n_sets = 0;
  size_t at = strlen(text) + 1;
  while (at < size && n_sets < FUZZ_MAX_SETS) {
    sets[n_sets++] = text + at;
    at += strlen(text + at) + 1;
  }
  Err e = {0};
  ConfigFile *cf = NULL;
  Plan *p = NULL;
  if (!config_load(&cf, "fuzz.yaml", text, n_sets, sets, &e)) plan_expand(&p, cf, &e);
  plan_free(p);
  config_free(cf);
  free(text);
  return 0;
}
