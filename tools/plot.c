// SVG line plots with logarithmic axes: see plot.h.
#include "plot.h"

#include <math.h>
#include <stdio.h>

enum { W = 720, H = 440, LEFT = 70, RIGHT = 150, TOP = 40, BOTTOM = 50 };

static const char *const colors[] = {"#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"};

static double lg(double v) { return log10(v); }

bool plot_write_svg(const char *path, const char *title, const char *x_label, const char *y_label,
                    const plot_series *series, size_t series_count) {
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  for (size_t s = 0; s < series_count; s++) {
    for (size_t i = 0; i < series[s].count; i++) {
      if (series[s].y[i] <= 0 || series[s].x[i] <= 0) continue;
      x0 = fmin(x0, lg(series[s].x[i])), x1 = fmax(x1, lg(series[s].x[i]));
      y0 = fmin(y0, lg(series[s].y[i])), y1 = fmax(y1, lg(series[s].y[i]));
    }
  }
  if (!(x1 >= x0) || !(y1 >= y0)) return false;
  x0 = floor(x0), x1 = ceil(x1 > x0 ? x1 : x0 + 1), y0 = floor(y0), y1 = ceil(y1 > y0 ? y1 : y0 + 1);
  FILE *f = fopen(path, "w");
  if (!f) return false;
  double pw = W - LEFT - RIGHT, ph = H - TOP - BOTTOM;
#define PX(v) (LEFT + (lg(v) - x0) / (x1 - x0) * pw)
#define PY(v) (TOP + ph - (lg(v) - y0) / (y1 - y0) * ph)
  fprintf(f,
          "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" "
          "font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
          W, H);
  fprintf(f, "<text x=\"%d\" y=\"22\" font-size=\"15\">%s</text>\n", LEFT, title);
  for (int e = (int)x0; e <= (int)x1; e++) { // decades: grid and labels
    double x = LEFT + (e - x0) / (x1 - x0) * pw;
    fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", x, TOP, x, TOP + ph);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%g</text>\n", x, TOP + ph + 16, pow(10, e));
  }
  for (int e = (int)y0; e <= (int)y1; e++) {
    for (int m = 1; m < 10; m++) {
      double v = m * pow(10, e);
      if (lg(v) > y1) break;
      double y = TOP + ph - (lg(v) - y0) / (y1 - y0) * ph;
      fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>\n", LEFT, y, LEFT + pw, y,
              m == 1 ? "#ccc" : "#f0f0f0");
      if (m == 1 || m == 2 || m == 5)
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n", LEFT - 6, y + 4, v);
    }
  }
  fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" stroke=\"#444\"/>\n", LEFT, TOP, pw,
          ph);
  fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n", LEFT + pw / 2, H - 12, x_label);
  fprintf(f, "<text transform=\"translate(18,%.1f) rotate(-90)\" text-anchor=\"middle\">%s</text>\n", TOP + ph / 2,
          y_label);
  for (size_t s = 0; s < series_count; s++) {
    const char *c = colors[s % (sizeof colors / sizeof colors[0])];
    fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", c);
    for (size_t i = 0; i < series[s].count; i++) {
      if (series[s].y[i] > 0) fprintf(f, "%.1f,%.1f ", PX(series[s].x[i]), PY(series[s].y[i]));
    }
    fprintf(f, "\"/>\n");
    for (size_t i = 0; i < series[s].count; i++) {
      if (series[s].y[i] > 0)
        fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n", PX(series[s].x[i]), PY(series[s].y[i]),
                c);
    }
    double ly = TOP + 14 + 18.0 * (double)s;
    fprintf(f, "<line x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"/>\n",
            LEFT + pw + 12, ly, LEFT + pw + 34, ly, c);
    fprintf(f, "<text x=\"%.0f\" y=\"%.1f\">%s</text>\n", LEFT + pw + 40, ly + 4, series[s].name);
  }
  fprintf(f, "</svg>\n");
  return fclose(f) == 0;
}
