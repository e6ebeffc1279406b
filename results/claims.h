// claims.h: `ecore report --claims`: the paper's claims about Erase at the Core (EC), each
// stated and marked holds / fails per setting and supervision point, from a sweep's results.
// The rules are in claims.c and in results_claims_rules().
#pragma once

#include <stdio.h>

#include "err.h"
#include "results.h"

// Writes the claims report of t to out: Markdown (the rules, then one table per claim and a
// summary line each) or CSV (one line per comparison: claim,setting,point,a,a_mean,a_std,a_n,
// b,b_mean,b_std,b_n,margin,spread,verdict). *n_failed (may be NULL): the comparisons whose
// verdict is "fails". ERR_RUNTIME if the table has no rows or out cannot be written;
// ERR_CONFIG if rows of one seed and reference setting name different models (groups.c).
int results_claims(const ResultsTable *t, ReportFormat fmt, FILE *out, int *n_failed, Err *e);

// The definitions the verdicts follow, as text (Markdown list items, lines under 96 columns):
// written in the report's preamble and in `ecore report --help`.
const char *results_claims_rules(void);
