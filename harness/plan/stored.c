// stored.c: the plan of the config a results file stores (see plan.h).
#include <stdio.h>
#include <string.h>

#include "plan.h"

int plan_load_stored(ConfigFile **cf, Plan **plan, const ResultsTable *t, const char *file,
                     StoredUse use, const char **from, Err *e) {
  static const char *names[2] = {"/config/expanded", "/config/given"};
  const char *texts[2] = {t->config_expanded, t->config_text};
  const int n = use == STORED_IDS ? 2 : 1;
  char why[2][480] = {"", ""};
  *cf = NULL, *plan = NULL;
  for (int k = 0; k < n; k++) {
    char where[4200], id[17];
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
      if (!strcmp(id, t->schema.sweep_id)) {
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
