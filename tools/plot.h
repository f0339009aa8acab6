// A minimal SVG line plot for `gpubatch bench chain --sweep --plot`.
#ifndef GPB_TOOLS_PLOT_H
#define GPB_TOOLS_PLOT_H

#include <stdbool.h>
#include <stddef.h>

typedef struct plot_series {
  const char *name;
  const double *x, *y; // y <= 0 means no point
  size_t count;
} plot_series;

// Writes a log-log plot of the series to `path`; false if it cannot.
bool plot_write_svg(const char *path, const char *title, const char *x_label, const char *y_label,
                    const plot_series *series, size_t series_count);

#endif
