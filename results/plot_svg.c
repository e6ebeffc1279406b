// plot_svg.c: one self-contained SVG per per-point metric: x = supervision point, y in [0,1],
// one line per (method, ec), the mean over its finished runs (all seeds and grid values).
// A method keeps its colour; with EC the line is solid, without it dashed; the original and
// retrained models are dotted references.
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "results.h"
#include "results_internal.h"

enum { WIDTH = 800, PLOT_X0 = 80, PLOT_X1 = 560, PLOT_Y0 = 70, PLOT_Y1 = 400, LEGEND_X = 585 };

static const char *const PALETTE[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                      "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

typedef struct {
  const ResultRow *key;  // method and ec
  int color;
} Line;

static int method_rank(const char *m) {
  return groups_method_rank(m, false);
}

static int cmp_line(const Line *a, const Line *b) {
  int c = method_rank(a->key->method) - method_rank(b->key->method);
  if (!c) c = strcmp(a->key->method, b->key->method);
  return c ? c : a->key->ec - b->key->ec;
}

// The distinct (method, ec) of the ok rows, sorted, each with its method's colour.
static int find_lines(const ResultsTable *t, const int *rows, int n, Line *lines) {
  int n_lines = 0;
  for (int i = 0; i < n; i++) {
    const ResultRow *r = &t->rows[rows[i]];
    if (!results_row_ok(r)) continue;
    int j = 0;
    while (j < n_lines && (strcmp(lines[j].key->method, r->method) || lines[j].key->ec != r->ec))
      j++;
    if (j == n_lines) lines[n_lines++] = (Line){r, 0};
  }
  for (int i = 1; i < n_lines; i++)
    for (int j = i; j > 0 && cmp_line(&lines[j - 1], &lines[j]) > 0; j--) {
      Line tmp = lines[j];
      lines[j] = lines[j - 1], lines[j - 1] = tmp;
    }
  for (int i = 0, color = -1; i < n_lines; i++) {
    if (method_rank(lines[i].key->method) < 2) continue;  // reference models: own style
    if (color < 0 || strcmp(lines[i].key->method, lines[i - 1].key->method)) color++;
    lines[i].color = color % (int)(sizeof PALETTE / sizeof *PALETTE);
  }
  return n_lines;
}

static void xml_text(FILE *out, const char *s) {
  for (; *s; s++) {
    switch (*s) {
      case '&':
        fputs("&amp;", out);
        break;
      case '<':
        fputs("&lt;", out);
        break;
      case '>':
        fputs("&gt;", out);
        break;
      case '"':
        fputs("&quot;", out);
        break;
      default:
        fputc(*s, out);
    }
  }
}

static void line_label(FILE *out, const ResultRow *key) {
  if (!strcmp(key->method, "none") && key->ec) {
    fputs("EC alone", out);
    return;
  }
  xml_text(out, key->method);
  if (key->ec) fputs(" + EC", out);
}

static double x_of(int p, int n_points) {
  if (n_points == 1) return (PLOT_X0 + PLOT_X1) / 2.0;
  return PLOT_X0 + 20 + (PLOT_X1 - PLOT_X0 - 40) * (double)p / (n_points - 1);
}

static double y_of(double v) {
  v = v < 0 ? 0 : v > 1 ? 1 : v;
  return PLOT_Y1 - (PLOT_Y1 - PLOT_Y0) * v;
}

static void draw_axes(FILE *out, const ResultsTable *t, int curve, int height) {
  const ResultsSchema *s = &t->schema;
  fprintf(out, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n", WIDTH, height);
  fprintf(out, "<text x=\"%d\" y=\"28\" font-size=\"18\" font-weight=\"bold\">", PLOT_X0);
  xml_text(out, results_curve_title(curve));
  fprintf(out, " per supervision point</text>\n");
  fprintf(out, "<text x=\"%d\" y=\"50\" font-size=\"12\" fill=\"#555\">sweep ", PLOT_X0);
  xml_text(out, s->sweep_id);
  fprintf(out,
          "; mean over seeds and grid values; solid: with EC, dashed: without, dotted: "
          "references</text>\n");
  for (int k = 0; k <= 5; k++) {  // horizontal grid and y ticks
    double v = k / 5.0, y = y_of(v);
    fprintf(out,
            "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>\n"
            "<text x=\"%d\" y=\"%.1f\" font-size=\"12\" text-anchor=\"end\">%.1f</text>\n",
            PLOT_X0, y, PLOT_X1, y, PLOT_X0 - 8, y + 4, v);
  }
  for (int p = 0; p < s->n_points; p++) {
    double x = x_of(p, s->n_points);
    fprintf(out, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#333\"/>\n", x,
            PLOT_Y1, x, PLOT_Y1 + 5);
    fprintf(out, "<text x=\"%.1f\" y=\"%d\" font-size=\"12\" text-anchor=\"middle\">", x,
            PLOT_Y1 + 20);
    xml_text(out, s->points[p]);
    fprintf(out, "</text>\n");
  }
  fprintf(out,
          "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" "
          "stroke=\"#333\"/>\n",
          PLOT_X0, PLOT_Y0, PLOT_X1 - PLOT_X0, PLOT_Y1 - PLOT_Y0);
  fprintf(out,
          "<text x=\"%d\" y=\"%d\" font-size=\"14\" text-anchor=\"middle\">supervision "
          "point</text>\n",
          (PLOT_X0 + PLOT_X1) / 2, PLOT_Y1 + 45);
  fprintf(out,
          "<text x=\"22\" y=\"%d\" font-size=\"14\" text-anchor=\"middle\" "
          "transform=\"rotate(-90 22 %d)\">",
          (PLOT_Y0 + PLOT_Y1) / 2, (PLOT_Y0 + PLOT_Y1) / 2);
  xml_text(out, results_curve_name(curve));
  fprintf(out, "</text>\n");
}

// Mean over the ok rows of `line` at point p (NaN if none).
static double line_mean(const ResultsTable *t, const int *rows, int n, const Line *line, int curve,
                        int p) {
  double sum = 0;
  int k = 0;
  for (int i = 0; i < n; i++) {
    const ResultRow *r = &t->rows[rows[i]];
    if (!results_row_ok(r) || r->ec != line->key->ec || strcmp(r->method, line->key->method))
      continue;
    double v = results_row_curve(r, curve)[p];
    if (!isnan(v)) sum += v, k++;
  }
  return k ? sum / k : NAN;
}

static void draw_line(FILE *out, const ResultsTable *t, const int *rows, int n, const Line *line,
                      int curve, int index) {
  // The original and retrained models are references: dotted, grey and black.
  int rank = method_rank(line->key->method);
  const char *color = rank == 0 ? "#888888" : rank == 1 ? "#000000" : PALETTE[line->color];
  const char *dash = rank < 2        ? " stroke-dasharray=\"2 4\""
                     : line->key->ec ? ""
                                     : " stroke-dasharray=\"7 5\"";
  int P = t->schema.n_points;
  fprintf(out, "<g><title>");
  line_label(out, line->key);
  fprintf(out, "</title>\n<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2.5\"%s points=\"",
          color, dash);
  for (int p = 0; p < P; p++) {  // points without a value are left out
    double v = line_mean(t, rows, n, line, curve, p);
    if (!isnan(v)) fprintf(out, "%.1f,%.1f ", x_of(p, P), y_of(v));
  }
  fprintf(out, "\"/>\n");
  for (int p = 0; p < P; p++) {
    double v = line_mean(t, rows, n, line, curve, p);
    if (!isnan(v))
      fprintf(out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\"/>\n", x_of(p, P), y_of(v),
              color);
  }
  fprintf(out, "</g>\n");
  double y = PLOT_Y0 + 10 + 22.0 * index;  // legend entry
  fprintf(out,
          "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"%s\" "
          "stroke-width=\"2.5\"%s/>\n",
          LEGEND_X, y, LEGEND_X + 34, y, color, dash);
  fprintf(out, "<text x=\"%d\" y=\"%.1f\" font-size=\"13\">", LEGEND_X + 42, y + 4);
  line_label(out, line->key);
  fprintf(out, "</text>\n");
}

static int write_plot(const char *path, const ResultsTable *t, const int *rows, int n,
                      const Line *lines, int n_lines, int curve, Err *e) {
  FILE *out = fopen(path, "w");
  if (!out) return errf(e, ERR_RUNTIME, "%s: cannot create: %s", path, strerror(errno));
  int height = PLOT_Y1 + 70;
  if (PLOT_Y0 + 30 + 22 * n_lines > height) height = PLOT_Y0 + 30 + 22 * n_lines;
  fprintf(out,
          "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
          "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
          "viewBox=\"0 0 %d %d\" font-family=\"Helvetica, Arial, sans-serif\">\n",
          WIDTH, height, WIDTH, height);
  draw_axes(out, t, curve, height);
  for (int i = 0; i < n_lines; i++) draw_line(out, t, rows, n, &lines[i], curve, i);
  fprintf(out, "</svg>\n");
  int bad = ferror(out);
  if (fclose(out) != 0 || bad)
    return errf(e, ERR_RUNTIME, "%s: write failed: %s", path, strerror(errno));
  return 0;
}

static int make_dir(const char *dir, Err *e) {
  struct stat st;
  if (mkdir(dir, 0777) < 0 && errno != EEXIST)
    return errf(e, ERR_RUNTIME, "%s: cannot create the plot directory: %s", dir, strerror(errno));
  if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
    return errf(e, ERR_RUNTIME, "%s: not a directory", dir);
  return 0;
}

int results_plot_svg(const ResultsTable *t, const char *dir, Err *e) {
  int *rows = NULL, n = 0;
  int rc = make_dir(dir, e);
  if (!rc) rc = results_latest_rows(t, &rows, &n, e);
  Line *lines = rc ? NULL : malloc(sizeof *lines * (size_t)(n ? n : 1));
  if (!rc && !lines) rc = errf(e, ERR_RUNTIME, "out of memory");
  int n_lines = rc ? 0 : find_lines(t, rows, n, lines);
  if (!rc && n_lines == 0)
    rc = errf(e, ERR_RUNTIME, "sweep %s: no finished runs to plot", t->schema.sweep_id);
  for (int c = 0; !rc && c < RESULTS_N_CURVES; c++) {
    size_t len = strlen(dir) + strlen(results_curve_name(c)) + 6;
    char *path = malloc(len);
    if (!path)
      rc = errf(e, ERR_RUNTIME, "out of memory");
    else
      snprintf(path, len, "%s/%s.svg", dir, results_curve_name(c));
    if (!rc) rc = write_plot(path, t, rows, n, lines, n_lines, c, e);
    free(path);
  }
  free(lines), free(rows);
  return rc;
}
