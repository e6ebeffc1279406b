// svg.c: the few SVG shapes the figures draw (text, markers, error bars, axes) and a linear
// scale fitted to the data with nice ticks.
#include <math.h>
#include <string.h>

#include "plot.h"

void svg_begin(FILE *out, int width, int height) {
  fprintf(out,
          "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
          "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
          "viewBox=\"0 0 %d %d\" font-family=\"Helvetica, Arial, sans-serif\">\n"
          "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n",
          width, height, width, height, width, height);
}

void svg_end(FILE *out) {
  fputs("</svg>\n", out);
}

void svg_escape(FILE *out, const char *s) {
  for (; *s; s++) {
    if (*s == '&')
      fputs("&amp;", out);
    else if (*s == '<')
      fputs("&lt;", out);
    else if (*s == '>')
      fputs("&gt;", out);
    else if (*s == '"')
      fputs("&quot;", out);
    else
      fputc(*s, out);
  }
}

void svg_text(FILE *out, double x, double y, int size, const char *anchor, const char *attrs,
              const char *text) {
  fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"%d\" text-anchor=\"%s\"%s%s>", x, y, size,
          anchor, *attrs ? " " : "", attrs);
  svg_escape(out, text);
  fputs("</text>\n", out);
}

int svg_text_width(const char *text, int size) {
  int chars = 0;
  for (const unsigned char *s = (const unsigned char *)text; *s; s++)
    if ((*s & 0xC0) != 0x80) chars++;  // UTF-8: count the first byte of each character
  return (int)ceil(chars * size * 0.6);
}

void svg_marker(FILE *out, int shape, double x, double y, const char *color, bool filled) {
  const char *fill = filled ? color : "white";
  const double r = 4.5;
  fprintf(out, "<");
  switch (shape) {
    case MARKER_SQUARE:
      fprintf(out, "rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"", x - r * 0.85,
              y - r * 0.85, r * 1.7, r * 1.7);
      break;
    case MARKER_TRIANGLE:
    case MARKER_TRIANGLE_DOWN: {
      double s = shape == MARKER_TRIANGLE ? 1 : -1;
      fprintf(out, "polygon points=\"%.1f,%.1f %.1f,%.1f %.1f,%.1f\"", x, y - s * r * 1.1,
              x - r * 0.95, y + s * r * 0.65, x + r * 0.95, y + s * r * 0.65);
      break;
    }
    case MARKER_DIAMOND:
      fprintf(out, "polygon points=\"%.1f,%.1f %.1f,%.1f %.1f,%.1f %.1f,%.1f\"", x, y - r * 1.15,
              x + r * 0.85, y, x, y + r * 1.15, x - r * 0.85, y);
      break;
    case MARKER_STAR:
      fprintf(out, "polygon points=\"");
      for (int k = 0; k < 10; k++) {  // 5 outer and 5 inner corners
        double a = 3.14159265358979 * k / 5, rr = k % 2 ? r * 0.55 : r * 1.4;
        fprintf(out, "%.1f,%.1f ", x + rr * sin(a), y - rr * cos(a));
      }
      fprintf(out, "\"");
      break;
    default:
      fprintf(out, "circle cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\"", x, y, r);
  }
  fprintf(out, " fill=\"%s\" stroke=\"%s\" stroke-width=\"1.5\"/>\n", fill, color);
}

void svg_errbar(FILE *out, double x0, double y0, double x1, double y1, const char *color) {
  double len = hypot(x1 - x0, y1 - y0), cap = 3;
  if (len < 0.5) return;                                           // no spread to show
  double ux = -(y1 - y0) / len * cap, uy = (x1 - x0) / len * cap;  // across the bar
  fprintf(out,
          "<path d=\"M%.1f,%.1fL%.1f,%.1fM%.1f,%.1fL%.1f,%.1fM%.1f,%.1fL%.1f,%.1f\" "
          "stroke=\"%s\" stroke-width=\"1.2\" fill=\"none\"/>\n",
          x0, y0, x1, y1, x0 - ux, y0 - uy, x0 + ux, y0 + uy, x1 - ux, y1 - uy, x1 + ux, y1 + uy,
          color);
}

// ---------------------------------------------------------------- scales

Scale scale_fit(double lo, double hi, double p0, double p1) {
  if (!isfinite(lo) || !isfinite(hi) || lo > hi) lo = 0, hi = 1;
  double span = hi - lo;
  double pad = span > 0 ? 0.06 * span : fmax(0.05 * fabs(hi), 0.01);
  Scale s = {lo - pad, hi + pad, p0, p1, 0, 0};
  double raw = (s.hi - s.lo) / 5, mag = pow(10, floor(log10(raw))), m = raw / mag;
  s.step = (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * mag;
  s.decimals = (int)fmax(0, -floor(log10(s.step) + 1e-9));
  return s;
}

double scale_px(const Scale *s, double v) {
  return s->p0 + (s->p1 - s->p0) * (v - s->lo) / (s->hi - s->lo);
}

// Ticks of s: the multiples of step inside [lo, hi]; draws each through `tick` (a line
// across the rectangle and its label).
static void ticks(FILE *out, const Scale *s, bool x_axis, double a0, double a1) {
  for (double k = ceil(s->lo / s->step - 1e-9); k * s->step <= s->hi + 1e-9 * s->step; k++) {
    double v = k * s->step, p = scale_px(s, v);
    char label[32];
    snprintf(label, sizeof label, "%.*f", s->decimals, fabs(v) < 1e-12 ? 0 : v);
    if (x_axis) {
      fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>\n",
              p, a0, p, a1);
      svg_text(out, p, a1 + 16, 11, "middle", "", label);
    } else {
      fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>\n",
              a0, p, a1, p);
      svg_text(out, a0 - 6, p + 4, 11, "end", "", label);
    }
  }
}

void svg_axes(FILE *out, double x0, double y0, double x1, double y1, const Scale *xs,
              const Scale *ys) {
  ticks(out, ys, false, x0, x1);
  if (xs) ticks(out, xs, true, y0, y1);
  fprintf(out,
          "<rect class=\"frame\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
          "fill=\"none\" stroke=\"#333\"/>\n",
          x0, y0, x1 - x0, y1 - y0);
}
