// cmd_plan.c: `ecore plan`: check a config, expand it and list the runs and shared jobs.
// It never writes a file.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "config.h"
#include "plan.h"

static const char *usage_text =
    "usage: ecore plan CONFIG [--set KEY=VALUE]... [--yaml]\n"
    "       ecore plan --explain\n"
    "\n"
    "Checks CONFIG (YAML), expands its sweep (sweep.grid, sweep.cases, sweep.seeds) and prints\n"
    "one line per run: its id, method, whether EC is on, seed, the values of the keys that\n"
    "vary and the shared jobs it needs. Then one line per shared job (O: original model,\n"
    "R: retrained model, M: pretrained EC modules) and a last line 'N runs'. Writes no file.\n"
    "\n"
    "options:\n"
    "  --set KEY=VALUE  override a key; VALUE is YAML (--set forget.classes=[3,8]); repeatable,\n"
    "                   later ones win; --set sweep.grid.KEY=[...] sets one grid axis\n"
    "  --yaml           print the config with every default filled in, instead of the runs\n"
    "  --explain        print the reference of every key, type and default (docs/config.md)\n"
    "  -h, --help       this text\n"
    "\n"
    "Exit codes: 0 the config is valid; 2 usage or config error, reported as\n"
    "FILE:LINE:COL: message (or --set KEY=VALUE: message); 1 runtime error.\n";

static const char job_letter[JOB_KINDS] = {'O', 'R', 'M'};

static void print_run(FILE *f, const Plan *p, int i) {
  const PlanRun *r = &p->runs[i];
  Config c;
  plan_run_config(p, i, &c);
  char id[17], text[256];
  plan_id_text(r->id, id);
  fprintf(f, "run %s %s ec=%d seed=%d", id, unlearn_method_name(c.unlearn.method),
          c.ec.enabled ? 1 : 0, r->seed);
  for (int k = 0; k < p->n_columns; k++) {
    int key = p->columns[k];
    const KeySpec *spec = &config_schema[key];
    if (!strcmp(spec->key, "unlearn.method") || !strcmp(spec->key, "ec.enabled")) continue;
    CfgValue v;
    config_get(&c, key, &v);
    fprintf(f, " %s=%s", spec->key,
            config_applies(spec->when, &c) ? config_value_text(key, &v, text, sizeof text) : "-");
  }
  fputs(" needs", f);
  for (int k = 0; k < JOB_KINDS; k++)
    if (r->job[k] >= 0) fprintf(f, " %c%d", job_letter[k], p->jobs[r->job[k]].label);
  fputc('\n', f);
}

static void print_job(FILE *f, const Plan *p, const PlanJob *j) {
  char id[17], text[1024];
  plan_id_text(j->id, id);
  fprintf(f, "job %c%d %s %s seed=%d", job_letter[j->kind], j->label, plan_job_kind_name(j->kind),
          id, j->seed);
  Config c;
  plan_run_config(p, j->run, &c);
  if (j->kind == JOB_RETRAIN) {
    if (c.forget.random_classes)
      fprintf(f, " forget.random_classes=%d", c.forget.random_classes);
    else if (c.forget.random_fraction > 0)
      fprintf(f, " forget.random_fraction=%g", c.forget.random_fraction);
    else {
      int key = config_key_index("forget.classes");
      CfgValue v;
      config_get(&c, key, &v);
      fprintf(f, " forget.classes=%s", config_value_text(key, &v, text, sizeof text));
    }
  }
  if (j->digest) {  // a given checkpoint, used instead of training
    plan_id_text(j->digest, id);
    fprintf(f, " given=%s digest=%s",
            j->kind == JOB_ORIGINAL ? c.model.original : c.model.retrained, id);
  }
  if (j->needs >= 0)
    fprintf(f, " needs %c%d", job_letter[p->jobs[j->needs].kind], p->jobs[j->needs].label);
  fputc('\n', f);
}

// The keys the config sets that take no effect, as warnings on stderr.
static void print_unused(const Plan *p) {
  char msg[1024];
  for (int i = 0; i < p->n_unused; i++) {
    plan_unused_message(p, i, msg, sizeof msg);
    fprintf(stderr, "warning: %s\n", msg);
  }
}

static void print_plan(FILE *f, const Plan *p) {
  char id[17];
  plan_id_text(p->sweep_id, id);
  fprintf(f, "sweep %s %s\n", id, p->cf->path);
  for (int i = 0; i < p->n_runs; i++) print_run(f, p, i);
  for (int kind = 0; kind < JOB_KINDS; kind++)
    for (int j = 0; j < p->n_jobs; j++)
      if (p->jobs[j].kind == (JobKind)kind) print_job(f, p, &p->jobs[j]);
  fprintf(f, "%d runs\n", p->n_runs);
}

int cmd_plan(int argc, char **argv) {
  bool explain = false, yaml = false;
  CliList sets = {0}, pos = {0};
  const CliOpt opts[] = {
      {"--explain", NULL, CLI_SWITCH, .dest = &explain},
      {"--yaml", NULL, CLI_SWITCH, .dest = &yaml},
      {"--set", NULL, CLI_LIST, &sets, .meta = "KEY=VALUE"},
  };
  const CliSpec spec = {"plan", usage_text, NULL, opts, CLI_COUNT(opts), &pos, 0, 1, "CONFIG"};
  int rc = cli_parse(&spec, argc, argv);
  const char *path = pos.n ? pos.v[0] : NULL;
  free(pos.v);
  if (rc >= 0) {
    free(sets.v);
    return rc;
  }
  rc = 0;
  if (explain) {
    config_explain(stdout);
  } else if (!path) {
    rc = cli_usage_error("plan", "missing CONFIG");
  } else {
    Err e = {0};
    ConfigFile *cf = NULL;
    Plan *p = NULL;
    if (config_load(&cf, path, NULL, sets.n, sets.v, &e) || plan_expand(&p, cf, &e)) {
      fprintf(stderr, "%s\n", e.msg);
      rc = e.code == ERR_CONFIG ? 2 : 1;
    } else if (yaml) {
      config_write_yaml(stdout, &cf->base);
      print_unused(p);
    } else {
      print_plan(stdout, p);
      print_unused(p);
    }
    plan_free(p);
    config_free(cf);
  }
  free(sets.v);
  if (!rc && (fflush(stdout) || ferror(stdout))) {
    fprintf(stderr, "ecore plan: cannot write the listing\n");
    rc = 1;
  }
  return rc;
}
