/* The charts of `report --html` (report_chart.c): a time series of counts per bucket and
 * series, drawn as stacked bars in inline SVG with a legend. */
#ifndef P0FSHIM_TOOL_REPORT_CHART_H
#define P0FSHIM_TOOL_REPORT_CHART_H

#include <stddef.h>
#include <stdint.h>

#include "report.h"

struct chart_series {
    const char *label;       /* bytes from the log possibly: escaped when drawn */
    size_t label_len;
    const char *css;         /* the class that colours it (the page's style sheet) */
};

struct chart {
    const char *id;          /* the figure's element id */
    const char *title;
    enum bucket_width width;
    int64_t from;            /* the first bucket's start, wall seconds */
    size_t nbuckets, nseries;
    const struct chart_series *series;   /* bottom of the stack first */
    const char *empty_label; /* for a series whose label is the empty string */
    const uint64_t *m;       /* m[bucket * nseries + series] */
};

/* A <figure> with the SVG and its legend; series without a count are left out. */
void chart_svg(const struct chart *c);
/* "YYYY-MM-DD HH:MM" (or "YYYY-MM-DD" for days) of bucket b. */
void bucket_label(const struct chart *c, size_t b, char *buf, size_t size);
/* n with a comma between groups of three digits. */
void put_count(uint64_t n);

#endif
