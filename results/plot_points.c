// plot_points.c: a per-point metric (cka_original, cka_retrain, knn_forget_acc) against the
// supervision point: one line per group with mean ± std error bars at each point.
//
// Up to MAX_SINGLE groups share one panel; beyond that (large grids) the figure becomes
// small multiples: methods (with and without EC side by side) packed into panels of at most
// MAX_PER_PANEL groups, two panels a row, every panel with its references. Each panel's y range
// is fitted to what it shows (references included, so they anchor every panel). Within a
// panel the series at a point are spread a few pixels apart in x (dodged), so lines, markers
// and error bars that coincide stay visible.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plot.h"

enum { MAX_SINGLE = 8, MAX_PER_PANEL = 6, PW = 460, PH = 280, ML = 74, MT = 30, MB = 58, MR = 24 };
enum { CELL_W = ML + PW + MR, CELL_H = MT + PH + MB, LEFT = 16 };

typedef struct {
  int first, n;     // non-reference series [first, first + n)
  int part, parts;  // a method split over several panels: this is part `part` of `parts`
} Panel;

static bool same_method(const Series *a, const Series *b) {
  return !strcmp(a->group->key->method, b->group->key->method);
}

// Splits the non-reference series into panels; returns their number (at least 1). Up to
// MAX_SINGLE groups: one panel. Else methods (with and without EC together) in order, packed
// into panels of at most MAX_PER_PANEL groups; a method with more is split.
static int make_panels(const Plot *p, Panel *panels) {
  int n_groups = p->n_series - p->n_refs, n = 0;
  if (n_groups <= MAX_SINGLE) {
    panels[0] = (Panel){0, n_groups, 0, 0};
    return 1;
  }
  for (int i = 0, j; i < n_groups; i = j) {
    for (j = i; j < n_groups && same_method(&p->series[j], &p->series[i]);) j++;
    if (n && !panels[n - 1].parts && panels[n - 1].n + (j - i) <= MAX_PER_PANEL) {
      panels[n - 1].n += j - i;
      continue;
    }
    int parts = (j - i + MAX_PER_PANEL - 1) / MAX_PER_PANEL;
    for (int k = 0; k < parts; k++) {
      int first = i + k * MAX_PER_PANEL,
          len = j - first < MAX_PER_PANEL ? j - first : MAX_PER_PANEL;
      panels[n++] = (Panel){first, len, parts > 1 ? k + 1 : 0, parts > 1 ? parts : 0};
    }
  }
  return n;
}

// The series drawn in a panel: its groups, then the references that match one of them (all
// references when the file has no other groups). Returns their number.
static int panel_series(const Plot *p, const Panel *pn, const Series **out) {
  int m = 0;
  for (int i = 0; i < pn->n; i++) out[m++] = &p->series[pn->first + i];
  for (int r = p->n_series - p->n_refs; r < p->n_series; r++) {
    bool match = pn->n == 0;
    for (int i = 0; i < pn->n && !match; i++) match = plot_ref_matches(p, &p->series[r], out[i]);
    if (match) out[m++] = &p->series[r];
  }
  return m;
}

// The extent of mean ± std over the series [m] at every point.
static void extent(const Plot *p, const Series **series, int m, int curve, double *lo, double *hi) {
  *lo = INFINITY, *hi = -INFINITY;
  for (int i = 0; i < m; i++)
    for (int pt = 0; pt < p->g.s->n_points; pt++) {
      GroupStat st = plot_stat(p, series[i], (GroupMetric){curve, pt});
      if (st.n == 0) continue;
      double sd = isnan(st.std) ? 0 : st.std;
      *lo = fmin(*lo, st.mean - sd), *hi = fmax(*hi, st.mean + sd);
    }
}

static void draw_series(FILE *out, const Plot *p, const Series *s, int curve, double dx, double x0,
                        const Scale *ys) {
  int P = p->g.s->n_points;
  GroupStat st[RESULTS_MAX_POINTS];
  for (int pt = 0; pt < P; pt++) st[pt] = plot_stat(p, s, (GroupMetric){curve, pt});
  double bin = (double)PW / P;
  fprintf(out, "<g><title>");
  plot_label(out, s);
  fprintf(out, "</title>\n<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"%s\"", s->color,
          s->reference ? "2.2" : "1.8");
  if (*s->dash) fprintf(out, " stroke-dasharray=\"%s\"", s->dash);
  fprintf(out, " points=\"");
  for (int pt = 0; pt < P; pt++)  // points without a value are left out
    if (st[pt].n) fprintf(out, "%.1f,%.1f ", x0 + bin * (pt + 0.5) + dx, scale_px(ys, st[pt].mean));
  fprintf(out, "\"/>\n");
  for (int pt = 0; pt < P; pt++) {
    if (!st[pt].n) continue;
    double x = x0 + bin * (pt + 0.5) + dx, y = scale_px(ys, st[pt].mean);
    if (st[pt].n > 1)
      svg_errbar(out, x, scale_px(ys, st[pt].mean - st[pt].std), x,
                 scale_px(ys, st[pt].mean + st[pt].std), s->color);
    svg_marker(out, s->marker, x, y, s->color, s->filled);
  }
  fprintf(out, "</g>\n");
}

// The panel's title: the methods it holds ("EC alone" for method none), and "k/m" for a part
// of a method split over several panels.
static void panel_title(FILE *out, const Plot *p, const Panel *pn, double x, double y) {
  fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"13\" font-weight=\"bold\">", x, y);
  for (int i = 0; i < pn->n; i++) {
    const Series *s = &p->series[pn->first + i];
    if (i && same_method(s, s - 1)) continue;
    if (i) fputs(", ", out);
    bool alone = !strcmp(s->group->key->method, "none") && s->group->key->ec;
    svg_escape(out, alone ? "EC alone" : s->group->key->method);
  }
  if (pn->parts) fprintf(out, " (%d/%d)", pn->part, pn->parts);
  fprintf(out, "</text>\n");
}

// Panel i at its place in the grid, its y range fitted to its series; drawn: room for every
// series.
static void draw_panel(FILE *out, const Plot *p, const Panel *panels, int n_panels, int i,
                       int curve, const Series **drawn) {
  const ResultsSchema *sc = p->g.s;
  double x0 = LEFT + (i % 2) * CELL_W + ML, y0 = PLOT_TOP + (i / 2) * CELL_H + MT;
  double x1 = x0 + PW, y1 = y0 + PH, bin = (double)PW / sc->n_points;
  int m = panel_series(p, &panels[i], drawn);
  double lo, hi;
  extent(p, drawn, m, curve, &lo, &hi);
  Scale ys = scale_fit(lo, hi, y1, y0);
  if (n_panels > 1) panel_title(out, p, &panels[i], x0, y0 - 10);
  svg_axes(out, x0, y0, x1, y1, NULL, &ys);
  for (int pt = 0; pt < sc->n_points; pt++) {
    double x = x0 + bin * (pt + 0.5);
    fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>\n", x, y1,
            x, y1 + 5);
    svg_text(out, x, y1 + 18, 11, "middle", "", sc->points[pt]);
  }
  svg_text(out, (x0 + x1) / 2, y1 + 40, 13, "middle", "", "supervision point");
  char rot[96];
  snprintf(rot, sizeof rot, "transform=\"rotate(-90 %.1f %.1f)\"", x0 - 56, (y0 + y1) / 2);
  svg_text(out, x0 - 56, (y0 + y1) / 2, 13, "middle", rot, results_curve_name(curve));

  double d = fmin(7, 0.7 * bin / m);
  fprintf(out, "<g class=\"data\">\n");
  for (int j = 0; j < m; j++)
    draw_series(out, p, drawn[j], curve, (j - (m - 1) / 2.0) * d, x0, &ys);
  fprintf(out, "</g>\n");
}

int plot_points(const Plot *p, int curve, const char *path, Err *e) {
  Panel *panels = malloc(sizeof *panels * (size_t)(p->n_series + 1));
  const Series **drawn = malloc(sizeof *drawn * (size_t)p->n_series);
  if (!panels || !drawn) {
    free(panels), free(drawn);
    return errf(e, ERR_RUNTIME, "out of memory");
  }
  int n_panels = make_panels(p, panels), cols = n_panels > 1 ? 2 : 1;
  int rows = (n_panels + cols - 1) / cols, lw, lh;
  plot_legend_size(p, &lw, &lh);
  char title[160];
  snprintf(title, sizeof title, "%s per supervision point", results_curve_title(curve));
  const char *what = "the series at a point are spread slightly in x so that none hides another";
  int width = plot_width(p, cols * CELL_W, title, what);
  int height = PLOT_TOP + rows * CELL_H + 12 + lh;
  char *tmp;
  FILE *out = plot_open(path, &tmp, e);
  if (!out) {
    free(panels), free(drawn);
    return ERR_RUNTIME;
  }
  svg_begin(out, width, height);
  plot_title(out, p, title, what);
  for (int i = 0; i < n_panels; i++) draw_panel(out, p, panels, n_panels, i, curve, drawn);
  plot_legend(out, p, LEFT, PLOT_TOP + rows * CELL_H + 12);
  svg_end(out);
  free(panels), free(drawn);
  return plot_close(out, tmp, path, e);
}
