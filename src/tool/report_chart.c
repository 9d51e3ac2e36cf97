/* The charts of `report --html`: counts per time bucket drawn as stacked bars in inline SVG,
 * one path per series (so a chart of a thousand bars stays a few hundred kB), a transparent
 * column per bucket whose <title> is the browser's own tooltip (no script), a legend with each
 * series' total, and axes. Every label from the log is escaped (put_html). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "output.h"
#include "report_chart.h"

/* The drawing's coordinates (the SVG scales to the page's width through its viewBox). */
#define SVG_W 960
#define SVG_H 280
#define PLOT_LEFT 64
#define PLOT_RIGHT 12
#define PLOT_TOP 12
#define PLOT_BOTTOM 40
#define PLOT_W (SVG_W - PLOT_LEFT - PLOT_RIGHT)
#define PLOT_H (SVG_H - PLOT_TOP - PLOT_BOTTOM)
#define Y_GRID_LINES 4
/* At most this many labels under the time axis: each is up to 16 characters wide. */
#define X_LABELS_MAX 8

/* The smallest 1, 2 or 5 times a power of ten that is at least n (at least 1): the step
 * between grid lines, whose labels are then round numbers. */
static uint64_t nice_ceiling(uint64_t n)
{
    uint64_t p = 1;
    while (p <= UINT64_MAX / 10 && p * 10 <= n)
        p *= 10;
    if (n <= p)
        return p;
    if (n <= 2 * p)
        return 2 * p;
    if (n <= 5 * p)
        return 5 * p;
    return 10 * p;
}

void bucket_label(const struct chart *c, size_t b, char *buf, size_t size)
{
    char full[32];
    format_wall(c->from + (int64_t)b * bucket_units[c->width].seconds, full, sizeof(full));
    snprintf(buf, size, "%.*s", bucket_units[c->width].label_len, full);
}

/* What the axis writes under a bar: the time of day for minutes, the date (and hour) else. */
static void axis_label(const struct chart *c, size_t b, char *buf, size_t size)
{
    char full[32];
    bucket_label(c, b, full, sizeof(full));
    if (c->width == BUCKET_MINUTE)
        snprintf(buf, size, "%s", full + 11);
    else if (c->width == BUCKET_HOUR)
        snprintf(buf, size, "%s", full + 5);
    else
        snprintf(buf, size, "%s", full);
}

static uint64_t cell(const struct chart *c, size_t b, size_t s)
{
    return c->m[b * c->nseries + s];
}

void put_count(uint64_t n)
{
    char digits[24];
    int len = snprintf(digits, sizeof(digits), "%" PRIu64, n);
    for (int i = 0; i < len; i++) {
        if (i && (len - i) % 3 == 0)
            putchar(',');
        putchar(digits[i]);
    }
}

static void draw_grid(uint64_t step)
{
    for (int i = 0; i <= Y_GRID_LINES; i++) {
        double y = PLOT_TOP + PLOT_H - (double)PLOT_H * i / Y_GRID_LINES;
        printf("<line class=\"grid\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>", PLOT_LEFT, y, SVG_W - PLOT_RIGHT,
               y);
        printf("<text class=\"ylab\" x=\"%d\" y=\"%.1f\">", PLOT_LEFT - 6, y + 4);
        put_count(step * (uint64_t)i);
        printf("</text>");
    }
}

static void draw_time_axis(const struct chart *c, double bar_w)
{
    char label[32];
    size_t step = (c->nbuckets + X_LABELS_MAX - 1) / X_LABELS_MAX;
    if (step == 0)
        step = 1;
    for (size_t b = 0; b < c->nbuckets; b += step) {
        double x = PLOT_LEFT + bar_w * ((double)b + 0.5);
        axis_label(c, b, label, sizeof(label));
        printf("<line class=\"tick\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>", x, PLOT_TOP + PLOT_H, x,
               PLOT_TOP + PLOT_H + 5);
        printf("<text class=\"xlab\" x=\"%.1f\" y=\"%d\">%s</text>", x, PLOT_TOP + PLOT_H + 18, label);
    }
}

/* One path per series: a rectangle per bucket, stacked on the series before it. */
static void draw_bars(const struct chart *c, const uint64_t *series_total, double bar_w, double scale)
{
    double *base = calloc(c->nbuckets ? c->nbuckets : 1, sizeof(*base));
    if (base == NULL)
        return;
    double gap = bar_w > 4 ? bar_w * 0.15 : 0;
    for (size_t s = 0; s < c->nseries; s++) {
        if (series_total[s] == 0)
            continue;
        printf("<path class=\"%s\" d=\"", c->series[s].css);
        for (size_t b = 0; b < c->nbuckets; b++) {
            uint64_t v = cell(c, b, s);
            if (v == 0)
                continue;
            double h = (double)v * scale;
            double x = PLOT_LEFT + bar_w * (double)b + gap / 2;
            double y = PLOT_TOP + PLOT_H - base[b] - h;
            printf("M%.2f %.2fh%.2fv%.2fh%.2fz", x, y, bar_w - gap, h, -(bar_w - gap));
            base[b] += h;
        }
        printf("\"/>");
    }
    free(base);
}

/* A transparent column over each bucket that has counts: its title is the tooltip. */
static void draw_tooltips(const struct chart *c, double bar_w)
{
    char label[32];
    for (size_t b = 0; b < c->nbuckets; b++) {
        uint64_t total = 0;
        for (size_t s = 0; s < c->nseries; s++)
            total += cell(c, b, s);
        if (total == 0)
            continue;
        bucket_label(c, b, label, sizeof(label));
        printf("<rect class=\"hit\" x=\"%.2f\" y=\"%d\" width=\"%.2f\" height=\"%d\"><title>%s (%s): ",
               PLOT_LEFT + bar_w * (double)b, PLOT_TOP, bar_w, PLOT_H, label, bucket_units[c->width].name);
        put_count(total);
        printf(" connections");
        for (size_t s = 0; s < c->nseries; s++) {
            uint64_t v = cell(c, b, s);
            if (v == 0)
                continue;
            printf("\n");
            if (c->series[s].label_len == 0)
                fputs(c->empty_label, stdout);
            else
                put_html(stdout, c->series[s].label, c->series[s].label_len);
            printf(": ");
            put_count(v);
        }
        printf("</title></rect>");
    }
}

static void draw_legend(const struct chart *c, const uint64_t *series_total)
{
    printf("<ul class=\"legend\">");
    for (size_t s = 0; s < c->nseries; s++) {
        if (series_total[s] == 0)
            continue;
        printf("<li data-series=\"");
        put_html(stdout, c->series[s].label, c->series[s].label_len);
        printf("\" data-sum=\"%" PRIu64 "\"><i class=\"sw %s\"></i>", series_total[s], c->series[s].css);
        if (c->series[s].label_len == 0)
            printf("<em>%s</em>", c->empty_label);
        else
            put_html(stdout, c->series[s].label, c->series[s].label_len);
        printf(" <span class=\"n\">");
        put_count(series_total[s]);
        printf("</span></li>");
    }
    printf("</ul>");
}

void chart_svg(const struct chart *c)
{
    uint64_t *series_total = calloc(c->nseries ? c->nseries : 1, sizeof(*series_total));
    if (series_total == NULL)
        return;
    uint64_t drawn = 0, highest = 0;
    for (size_t b = 0; b < c->nbuckets; b++) {
        uint64_t total = 0;
        for (size_t s = 0; s < c->nseries; s++) {
            series_total[s] += cell(c, b, s);
            total += cell(c, b, s);
        }
        drawn += total;
        if (total > highest)
            highest = total;
    }
    uint64_t step = nice_ceiling((highest + Y_GRID_LINES - 1) / Y_GRID_LINES);
    double bar_w = c->nbuckets ? (double)PLOT_W / (double)c->nbuckets : PLOT_W;
    double scale = (double)PLOT_H / ((double)step * Y_GRID_LINES);

    printf("<figure class=\"chart\" id=\"%s\" data-width=\"%s\" data-buckets=\"%zu\" data-drawn=\"%" PRIu64 "\">",
           c->id, bucket_units[c->width].name, c->nbuckets, drawn);
    printf("<figcaption>%s <small>(one bar per %s)</small></figcaption>", c->title, bucket_units[c->width].name);
    printf("<svg viewBox=\"0 0 %d %d\" role=\"img\" xmlns=\"http://www.w3.org/2000/svg\">", SVG_W, SVG_H);
    draw_grid(step);
    draw_bars(c, series_total, bar_w, scale);
    draw_time_axis(c, bar_w);
    draw_tooltips(c, bar_w);
    printf("</svg>");
    draw_legend(c, series_total);
    printf("</figure>\n");
    free(series_total);
}
