// plot.h: what the figure files of results/ share (svg.c, plot_svg.c, plot_points.c,
// plot_tradeoff.c). Not part of the interface: nothing outside results/ includes it.
//
// A figure is one SVG file: a title, a grid of panels (each a plot rectangle with its axes),
// then one legend table below them. Every group of runs that differ only by seed (groups.c:
// method × EC × grid values) is one series with its own style; the original and retrained
// models are references, drawn last (on top) in black and grey.
#pragma once

#include <stdbool.h>
#include <stdio.h>

#include "results.h"
#include "results_internal.h"

// ---- SVG (svg.c)
enum {
  MARKER_CIRCLE,
  MARKER_SQUARE,
  MARKER_TRIANGLE,
  MARKER_TRIANGLE_DOWN,
  MARKER_DIAMOND,
  MARKER_STAR,
  N_MARKERS
};

void svg_begin(FILE *out, int width, int height);  // the header and a white background
void svg_end(FILE *out);
void svg_escape(FILE *out, const char *s);  // text for XML
// <text> at (x, y); anchor "start", "middle" or "end"; attrs (may be "") go into the tag.
void svg_text(FILE *out, double x, double y, int size, const char *anchor, const char *attrs,
              const char *text);
int svg_text_width(const char *text, int size);  // an estimate in pixels (UTF-8 aware)
// A marker of radius about 4.5 px centred at (x, y); hollow: white inside.
void svg_marker(FILE *out, int shape, double x, double y, const char *color, bool filled);
// An error bar from (x0, y0) to (x1, y1) with caps across it.
void svg_errbar(FILE *out, double x0, double y0, double x1, double y1, const char *color);

// A linear axis: values [lo, hi] onto pixels [p0, p1] (p1 < p0 for a y axis), with ticks at
// the multiples of step in [lo, hi], printed with `decimals` digits.
typedef struct {
  double lo, hi, p0, p1, step;
  int decimals;
} Scale;
// Fits a scale to data spanning [lo, hi] (NaN or infinite: no data, then [0, 1]): a margin of
// 6% of the span on each side (so markers and error bars stay inside the plot rectangle),
// ticks every 1, 2 or 5 × 10^k, 3 to 8 of them. A span of zero gets ± 5% of the value
// (at least 0.01).
Scale scale_fit(double lo, double hi, double p0, double p1);
double scale_px(const Scale *s, double v);
// The frame of a plot rectangle (class "frame", which the tests look for), y ticks and grid
// lines from ys, and x ticks and grid lines from xs (NULL: the caller labels x).
void svg_axes(FILE *out, double x0, double y0, double x1, double y1, const Scale *xs,
              const Scale *ys);

// ---- series and legend (plot_svg.c)
typedef struct {
  const Group *group;
  bool reference;  // method original or retrain
  const char *color;
  int marker;
  bool filled;       // with EC (and the references)
  const char *dash;  // stroke-dasharray, "" for a solid line
} Series;

typedef struct {
  Groups g;
  Series *series;  // [n_series] the groups in groups_build's order, references moved last
  int n_series, n_refs;
  // The axes named in the legend: those that tell apart groups of the same method and EC
  // (an axis that follows from method and EC, e.g. unlearn.method, is left out).
  int n_label_axes, label_axes[RESULTS_MAX_AXES];
} Plot;

void plot_label(FILE *out, const Series *s);  // "ft + EC", "EC alone", "retrain", ...
// Mean ± std over the seeds of a series' group.
GroupStat plot_stat(const Plot *p, const Series *s, GroupMetric m);
// Whether reference r belongs with group s: same values on the axes that determine the
// retrained model.
bool plot_ref_matches(const Plot *p, const Series *r, const Series *s);
// The legend table (one row per series: its line and marker, label, the label axes' values,
// n seeds) at (x, y); its size.
void plot_legend_size(const Plot *p, int *width, int *height);
void plot_legend(FILE *out, const Plot *p, double x, double y);
// The figure's title and two lines of subtitle (sweep id and `what`, then how series are
// made) at the top (height PLOT_TOP).
enum { PLOT_TOP = 82 };
void plot_title(FILE *out, const Plot *p, const char *title, const char *what);
// The figure's width: its panels' (`width`), its legend's or its title's, with margins.
int plot_width(const Plot *p, int width, const char *title, const char *what);

// ---- the figures
// DIR/<curve>.svg: the per-point metric `curve` (plot_points.c).
int plot_points(const Plot *p, int curve, const char *path, Err *e);
// DIR/tradeoff_<name>.svg: forget accuracy (x) against test_retain_acc, or against CKA to the
// original at every supervision point (plot_tradeoff.c).
int plot_tradeoff_retain(const Plot *p, const char *path, Err *e);
int plot_tradeoff_cka(const Plot *p, const char *path, Err *e);

// Opens PATH.tmp for writing (*tmp: its name, malloc'd); plot_close checks, closes and renames
// it onto PATH (on error it removes PATH.tmp: a figure already there stays whole).
FILE *plot_open(const char *path, char **tmp, Err *e);
int plot_close(FILE *out, char *tmp, const char *path, Err *e);
