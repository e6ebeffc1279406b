// plot_svg.c: `ecore report --plots DIR`: the series (one per group of runs that differ only
// by seed: method × EC × grid values, never averaged across grid values), their styles, the
// legend table, and the five figures:
//   cka_original.svg, cka_retrain.svg, knn_forget_acc.svg   per supervision point (plot_points.c)
//   tradeoff_test_retain_acc.svg, tradeoff_cka_original.svg  one marker per group (plot_tradeoff.c)
//
// Styles: group k (in the report's order, references left out) gets colour k mod 9 and marker
// k mod 5, so up to 45 groups look different; with EC its markers are filled and its line solid,
// without EC hollow and dashed. The retrained model is a black star on a solid line, the
// original a grey hollow square on a dotted line; both are drawn last, on top.
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "plot.h"

static const char *const PALETTE[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                      "#8c564b", "#e377c2", "#bcbd22", "#17becf"};
enum { N_COLORS = sizeof PALETTE / sizeof *PALETTE, N_GROUP_MARKERS = 5 };

static bool is_reference(const Group *g) {
  return groups_method_rank(g->key->method, false) < 2;
}

static bool same_method_ec(const ResultRow *a, const ResultRow *b) {
  return a->ec == b->ec && !strcmp(a->method, b->method);
}

// Axes whose value differs between two groups of the same method and EC.
static void find_label_axes(Plot *p) {
  const ResultsSchema *s = p->g.s;
  for (int i = 0; i < s->n_axes; i++) {
    bool differs = false;
    for (int a = 0; a < p->g.n_groups && !differs; a++)
      for (int b = a + 1; b < p->g.n_groups && !differs; b++) {
        const ResultRow *x = p->g.groups[a].key, *y = p->g.groups[b].key;
        differs = same_method_ec(x, y) && strcmp(x->axis[i], y->axis[i]);
      }
    if (differs) p->label_axes[p->n_label_axes++] = i;
  }
}

static int plot_build(const ResultsTable *t, Plot *p, Err *e) {
  *p = (Plot){0};
  int rc = groups_build(t, true, &p->g, e);
  if (rc) return rc;
  p->series = malloc(sizeof *p->series * (size_t)(p->g.n_groups ? p->g.n_groups : 1));
  if (!p->series) return errf(e, ERR_RUNTIME, "out of memory");
  int k = 0;
  for (int pass = 0; pass < 2; pass++)  // the groups, then the references
    for (int i = 0; i < p->g.n_groups; i++) {
      const Group *g = &p->g.groups[i];
      if (is_reference(g) != (pass == 1) || g->n_ok == 0) continue;
      Series *s = &p->series[p->n_series++];
      if (pass == 0) {
        *s = (Series){g,
                      false,
                      PALETTE[k % N_COLORS],
                      k % N_GROUP_MARKERS,
                      g->key->ec != 0,
                      g->key->ec ? "" : "6 4"};
        k++;
      } else if (!strcmp(g->key->method, "retrain")) {
        *s = (Series){g, true, "#000000", MARKER_STAR, true, ""};
      } else {
        *s = (Series){g, true, "#777777", MARKER_SQUARE, false, "2 3"};
      }
      p->n_refs += pass;
    }
  find_label_axes(p);
  if (p->n_series == 0)
    return errf(e, ERR_RUNTIME, "sweep %s: no finished runs to plot", t->schema.sweep_id);
  return 0;
}

static void plot_free(Plot *p) {
  free(p->series);
  groups_free(&p->g);
}

// ---------------------------------------------------------------- shared by the figures

void plot_label(FILE *out, const Series *s) {
  const ResultRow *k = s->group->key;
  if (!strcmp(k->method, "none") && k->ec) {
    fputs("EC alone", out);
    return;
  }
  svg_escape(out, k->method);
  if (k->ec) fputs(" + EC", out);
}

static int label_width(const Series *s, int size) {
  const ResultRow *k = s->group->key;
  int w = svg_text_width(k->method, size);
  return !strcmp(k->method, "none") && k->ec ? svg_text_width("EC alone", size)
         : k->ec                             ? w + svg_text_width(" + EC", size)
                                             : w;
}

GroupStat plot_stat(const Plot *p, const Series *s, GroupMetric m) {
  return groups_stat(&p->g, s->group->key, NULL, false, m);
}

bool plot_ref_matches(const Plot *p, const Series *r, const Series *s) {
  return groups_agree_reference(p->g.s, r->group->key, s->group->key, false);
}

// Legend columns: sample, label, one per label axis, n.
enum { LEG_ROW = 19, LEG_FONT = 12, LEG_SAMPLE = 44, LEG_GAP = 18 };

static void legend_columns(const Plot *p, int *w) {  // w[2 + n_label_axes]: widths
  const ResultsSchema *s = p->g.s;
  w[0] = svg_text_width("group", LEG_FONT);
  for (int i = 0; i < p->n_series; i++) {
    int lw = label_width(&p->series[i], LEG_FONT);
    if (lw > w[0]) w[0] = lw;
  }
  for (int a = 0; a < p->n_label_axes; a++) {
    int ax = p->label_axes[a];
    w[1 + a] = svg_text_width(s->axes[ax], LEG_FONT);
    for (int i = 0; i < p->n_series; i++) {
      int vw = svg_text_width(p->series[i].group->key->axis[ax], LEG_FONT);
      if (vw > w[1 + a]) w[1 + a] = vw;
    }
  }
  w[1 + p->n_label_axes] = svg_text_width("seeds", LEG_FONT);
}

void plot_legend_size(const Plot *p, int *width, int *height) {
  int w[RESULTS_MAX_AXES + 2];
  legend_columns(p, w);
  *width = LEG_SAMPLE;
  for (int c = 0; c < p->n_label_axes + 2; c++) *width += w[c] + LEG_GAP;
  *height = LEG_ROW * (p->n_series + 1) + 8;
}

void plot_legend(FILE *out, const Plot *p, double x, double y) {
  const ResultsSchema *sc = p->g.s;
  int w[RESULTS_MAX_AXES + 2], n_cols = p->n_label_axes + 2;
  legend_columns(p, w);
  double cx[RESULTS_MAX_AXES + 2], at = x + LEG_SAMPLE;
  for (int c = 0; c < n_cols; c++) cx[c] = at, at += w[c] + LEG_GAP;
  fputs("<g class=\"legend\">\n", out);
  const char *bold = "font-weight=\"bold\"";
  svg_text(out, cx[0], y + 13, LEG_FONT, "start", bold, "group");
  for (int a = 0; a < p->n_label_axes; a++)
    svg_text(out, cx[1 + a], y + 13, LEG_FONT, "start", bold, sc->axes[p->label_axes[a]]);
  svg_text(out, cx[n_cols - 1], y + 13, LEG_FONT, "start", bold, "seeds");
  for (int i = 0; i < p->n_series; i++) {
    const Series *s = &p->series[i];
    double ry = y + LEG_ROW * (i + 1) + 9;
    fprintf(out,
            "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
            "stroke-width=\"2\" stroke-dasharray=\"%s\"/>\n",
            x + 2, ry, x + LEG_SAMPLE - 10, ry, s->color, *s->dash ? s->dash : "none");
    svg_marker(out, s->marker, x + (LEG_SAMPLE - 8) / 2.0, ry, s->color, s->filled);
    fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"%d\">", cx[0], ry + 4, LEG_FONT);
    plot_label(out, s);
    fputs("</text>\n", out);
    for (int a = 0; a < p->n_label_axes; a++) {
      const char *v = s->group->key->axis[p->label_axes[a]];
      svg_text(out, cx[1 + a], ry + 4, LEG_FONT, "start", "", *v ? v : "–");
    }
    char n[32];
    snprintf(n, sizeof n, "%d", s->group->n_ok);
    svg_text(out, cx[n_cols - 1], ry + 4, LEG_FONT, "start", "", n);
  }
  fputs("</g>\n", out);
}

static const char *const HOW =
    "one series per method × EC × grid values: mean ± 1 std over its seeds (error bars)";

void plot_title(FILE *out, const Plot *p, const char *title, const char *what) {
  svg_text(out, 16, 26, 17, "start", "font-weight=\"bold\"", title);
  fprintf(out, "<text x=\"16\" y=\"48\" font-size=\"12\" fill=\"#555\">sweep ");
  svg_escape(out, p->g.s->sweep_id);
  fprintf(out, "; %s</text>\n", what);
  svg_text(out, 16, 64, 12, "start", "fill=\"#555\"", HOW);
}

int plot_width(const Plot *p, int width, const char *title, const char *what) {
  int lw, lh,
      w[] = {(int)(svg_text_width(title, 17) * 1.1), svg_text_width(what, 12) + 140,
             svg_text_width(HOW, 12)};
  plot_legend_size(p, &lw, &lh);
  if (lw > width) width = lw;
  for (int i = 0; i < 3; i++)
    if (w[i] > width) width = w[i];
  return width + 32;
}

FILE *plot_open(const char *path, char **tmp, Err *e) {
  size_t len = strlen(path) + 5;
  *tmp = malloc(len);
  if (!*tmp) {
    errf(e, ERR_RUNTIME, "out of memory");
    return NULL;
  }
  snprintf(*tmp, len, "%s.tmp", path);
  FILE *out = fopen(*tmp, "w");
  if (!out) {
    errf(e, ERR_RUNTIME, "%s: cannot create: %s", *tmp, strerror(errno));
    free(*tmp), *tmp = NULL;
  }
  return out;
}

int plot_close(FILE *out, char *tmp, const char *path, Err *e) {
  int bad = ferror(out), rc = 0;
  if (fclose(out) != 0 || bad)
    rc = errf(e, ERR_RUNTIME, "%s: write failed: %s", tmp, strerror(errno));
  else if (rename(tmp, path) != 0)
    rc = errf(e, ERR_RUNTIME, "%s: cannot rename onto %s: %s", tmp, path, strerror(errno));
  if (rc) remove(tmp);
  free(tmp);
  return rc;
}

// ---------------------------------------------------------------- the figures

static int make_dir(const char *dir, Err *e) {
  struct stat st;
  if (mkdir(dir, 0777) < 0 && errno != EEXIST)
    return errf(e, ERR_RUNTIME, "%s: cannot create the plot directory: %s", dir, strerror(errno));
  if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
    return errf(e, ERR_RUNTIME, "%s: not a directory", dir);
  return 0;
}

int results_plot_svg(const ResultsTable *t, const char *dir, Err *e) {
  Plot p;
  int rc = make_dir(dir, e);
  if (rc) return rc;
  rc = plot_build(t, &p, e);
  char *path = malloc(strlen(dir) + 64);
  if (!rc && !path) rc = errf(e, ERR_RUNTIME, "out of memory");
  for (int c = 0; !rc && c < RESULTS_N_CURVES; c++) {
    sprintf(path, "%s/%s.svg", dir, results_curve_name(c));
    rc = plot_points(&p, c, path, e);
  }
  if (!rc) sprintf(path, "%s/tradeoff_test_retain_acc.svg", dir);
  if (!rc) rc = plot_tradeoff_retain(&p, path, e);
  if (!rc) sprintf(path, "%s/tradeoff_cka_original.svg", dir);
  if (!rc) rc = plot_tradeoff_cka(&p, path, e);
  free(path);
  plot_free(&p);
  return rc;
}
