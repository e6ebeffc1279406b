// stored.c: the plan of the configs a results file stores (see plan.h).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"

// The file's first config: its plan gives the file's sweep id (or, in a file written before
// sweep ids named what runs share, the set of its runs').
static int load_first(ConfigFile **cf, Plan **plan, const ResultsTable *t, const char *file,
                      StoredUse use, const char **from, Err *e) {
  static const char *names[2] = {"/config/expanded", "/config/given"};
  const char *texts[2] = {t->config_expanded, t->config_text};
  const int n = use == STORED_IDS ? 2 : 1;
  char why[2][480] = {"", ""};
  *cf = NULL, *plan = NULL;
  for (int k = 0; k < n; k++) {
    char where[4200], id[17], old[17];
    Err le = {0};
    snprintf(where, sizeof where, "%s:%s", file, names[k]);
    if (!texts[k] || !texts[k][0]) {
      snprintf(why[k], sizeof why[k], "%s is empty", names[k]);
      continue;
    }
    if (config_load(cf, where, texts[k], 0, NULL, &le) || plan_expand_paths(plan, *cf, 0, &le)) {
      snprintf(why[k], sizeof why[k], "%.470s", le.msg);  // it says where
    } else {
      plan_id_text((*plan)->sweep_id, id);
      plan_id_text((*plan)->run_set_id, old);
      if (!strcmp(id, t->schema.sweep_id) || !strcmp(old, t->schema.sweep_id)) {
        if (from) *from = names[k];
        return 0;
      }
      snprintf(why[k], sizeof why[k], "%s gives sweep %s", names[k], id);
    }
    plan_free(*plan), config_free(*cf);
    *cf = NULL, *plan = NULL;
  }
  return errf(e, ERR_CONFIG,
              "%s: its stored config does not give the file's sweep %s under this ecore %s "
              "(the file was written by ecore %s, %s: keys or defaults changed since?): %s%s%s",
              file, t->schema.sweep_id, ECORE_VERSION, t->ecore_version, t->git_commit, why[0],
              n > 1 ? "; " : "", n > 1 ? why[1] : "");
}

int plan_load_stored(Plan **plan, const ResultsTable *t, const char *file, StoredUse use,
                     const char **from, Err *e) {
  ConfigFile *first;
  Plan *p0;
  int rc = load_first(&first, &p0, t, file, use, from, e);
  if (rc) return rc;
  int n = 1 + t->n_config_added;
  ConfigFile **cfs = calloc((size_t)n, sizeof *cfs);
  if (!cfs) rc = errf(e, ERR_RUNTIME, "out of memory");
  if (!rc) cfs[0] = first;
  // Each added config is of the first one's sweep; the plan joins them all.
  for (int k = 1; !rc && k < n; k++) {
    char where[4200];
    Plan *pk = NULL;
    snprintf(where, sizeof where, "%s:/config/added_%d", file, k);
    rc = config_load(&cfs[k], where, t->config_added[k - 1], 0, NULL, e);
    if (!rc) rc = plan_expand_paths(&pk, cfs[k], 0, e);
    if (!rc) rc = plan_same_sweep(p0, file, pk, where, e);
    plan_free(pk);
  }
  if (!rc && n > 1) {
    plan_free(p0);
    p0 = NULL;
    rc = plan_expand_all(&p0, (const ConfigFile *const *)cfs, n, 0, e);
  }
  if (!rc) {
    free(p0->cfs);  // the plan takes the configs
    p0->cfs = (const ConfigFile **)cfs, p0->n_cfs = n, p0->owns_cfs = true;
    *plan = p0;
    return 0;
  }
  plan_free(p0);
  for (int k = 0; cfs && k < n; k++) config_free(cfs[k]);
  if (!cfs) config_free(first);
  free(cfs);
  return rc;
}

int plan_same_stored(const ResultsTable *t, const char *const *files, int n, Err *e) {
  Plan *p0 = NULL;
  int rc = 0;
  for (int i = 1; !rc && i < n; i++) {
    if (!strcmp(t[i].schema.sweep_id, t[0].schema.sweep_id)) continue;
    Plan *pi = NULL;
    if (!p0) rc = plan_load_stored(&p0, &t[0], files[0], STORED_IDS, NULL, e);
    if (!rc) rc = plan_load_stored(&pi, &t[i], files[i], STORED_IDS, NULL, e);
    if (!rc) rc = plan_same_sweep(p0, files[0], pi, files[i], e);
    plan_free(pi);
  }
  plan_free(p0);
  return rc;
}
