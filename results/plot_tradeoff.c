// plot_tradeoff.c: forgetting against what it costs, one marker per group (mean over seeds,
// ± std error bars in both directions), the original and retrained models as references.
// x is always the forget accuracy (forget_acc; lower is more forgetting), so the figures read
// side by side:
//   tradeoff_test_retain_acc.svg  y = test accuracy on the retained classes (test_retain_acc)
//   tradeoff_cka_original.svg     y = linear CKA to the original model, one panel per
//                                 supervision point (two a row), x shared, y fitted per panel
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "plot.h"

enum { PW = 380, PH = 300, ML = 74, MT = 30, MB = 56, MR = 24 };
enum { CELL_W = ML + PW + MR, CELL_H = MT + PH + MB, LEFT = 16 };

static void extent(const Plot *p, GroupMetric m, double *lo, double *hi) {
  *lo = INFINITY, *hi = -INFINITY;
  for (int i = 0; i < p->n_series; i++) {
    GroupStat st = plot_stat(p, &p->series[i], m);
    if (st.n == 0) continue;
    double sd = isnan(st.std) ? 0 : st.std;
    *lo = fmin(*lo, st.mean - sd), *hi = fmax(*hi, st.mean + sd);
  }
}

static void draw_panel(FILE *out, const Plot *p, int i, GroupMetric xm, GroupMetric ym,
                       const char *title, const char *ylabel) {
  double x0 = LEFT + (i % 2) * CELL_W + ML, y0 = PLOT_TOP + (i / 2) * CELL_H + MT;
  double x1 = x0 + PW, y1 = y0 + PH, lo, hi;
  extent(p, xm, &lo, &hi);
  Scale xs = scale_fit(lo, hi, x0, x1);
  extent(p, ym, &lo, &hi);
  Scale ys = scale_fit(lo, hi, y1, y0);
  if (*title) svg_text(out, x0, y0 - 10, 13, "start", "font-weight=\"bold\"", title);
  svg_axes(out, x0, y0, x1, y1, &xs, &ys);
  svg_text(out, (x0 + x1) / 2, y1 + 40, 13, "middle", "", "forget_acc (lower: more forgotten)");
  char rot[96];
  snprintf(rot, sizeof rot, "transform=\"rotate(-90 %.1f %.1f)\"", x0 - 56, (y0 + y1) / 2);
  svg_text(out, x0 - 56, (y0 + y1) / 2, 13, "middle", rot, ylabel);

  fprintf(out, "<g class=\"data\">\n");
  for (int k = 0; k < p->n_series; k++) {  // references last: on top
    const Series *s = &p->series[k];
    GroupStat sx = plot_stat(p, s, xm), sy = plot_stat(p, s, ym);
    if (sx.n == 0 || sy.n == 0) continue;
    double x = scale_px(&xs, sx.mean), y = scale_px(&ys, sy.mean);
    fprintf(out, "<g><title>");
    plot_label(out, s);
    fprintf(out, "</title>\n");
    if (sx.n > 1)
      svg_errbar(out, scale_px(&xs, sx.mean - sx.std), y, scale_px(&xs, sx.mean + sx.std), y,
                 s->color);
    if (sy.n > 1)
      svg_errbar(out, x, scale_px(&ys, sy.mean - sy.std), x, scale_px(&ys, sy.mean + sy.std),
                 s->color);
    svg_marker(out, s->marker, x, y, s->color, s->filled);
    fprintf(out, "</g>\n");
  }
  fprintf(out, "</g>\n");
}

// A figure of n_panels panels, panel i plotting ym[i] (titled titles[i]) against forget_acc.
static int tradeoff(const Plot *p, const char *path, const char *title, const char *what,
                    const GroupMetric *ym, const char *const *titles, const char *ylabel,
                    int n_panels, Err *e) {
  int cols = n_panels > 1 ? 2 : 1, rows = (n_panels + cols - 1) / cols, lw, lh;
  plot_legend_size(p, &lw, &lh);
  int width = plot_width(p, cols * CELL_W, title, what);
  int height = PLOT_TOP + rows * CELL_H + 12 + lh;
  char *tmp;
  FILE *out = plot_open(path, &tmp, e);
  if (!out) return ERR_RUNTIME;
  svg_begin(out, width, height);
  plot_title(out, p, title, what);
  GroupMetric xm = groups_scalar("forget_acc");
  for (int i = 0; i < n_panels; i++) draw_panel(out, p, i, xm, ym[i], titles[i], ylabel);
  plot_legend(out, p, LEFT, PLOT_TOP + rows * CELL_H + 12);
  svg_end(out);
  return plot_close(out, tmp, path, e);
}

int plot_tradeoff_retain(const Plot *p, const char *path, Err *e) {
  GroupMetric ym = groups_scalar("test_retain_acc");
  const char *titles[] = {""};
  return tradeoff(p, path, "Forgetting against test accuracy on the retained classes",
                  "x: forget accuracy, y: test accuracy on the retained classes", &ym, titles,
                  "test_retain_acc", 1, e);
}

int plot_tradeoff_cka(const Plot *p, const char *path, Err *e) {
  const ResultsSchema *s = p->g.s;
  GroupMetric ym[RESULTS_MAX_POINTS];
  char names[RESULTS_MAX_POINTS][RESULTS_NAME_LEN + 8];
  const char *titles[RESULTS_MAX_POINTS];
  for (int i = 0; i < s->n_points; i++) {
    ym[i] = (GroupMetric){groups_curve("cka_original", 0).curve, i};
    snprintf(names[i], sizeof names[i], "at %s", s->points[i]);
    titles[i] = names[i];
  }
  return tradeoff(p, path, "Forgetting against linear CKA to the original model",
                  "x: forget accuracy, y: CKA at each supervision point (one panel each)", ym,
                  titles, "cka_original", s->n_points, e);
}
