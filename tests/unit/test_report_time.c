/* The report's timeline (src/tool/report_time.c): counts land in the bucket of their time,
 * whatever the order of the lines; a full table merges into wider buckets without losing a
 * count, and says what it could not hold; the width a chart draws follows the range; and
 * through report_line, the timeline agrees with the per-hour table and the verdict counts of
 * the text and JSON outputs. */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "report.h"

#define T0 1732680000 /* 2024-11-27 04:00:00 */

static int by_series(uint32_t series, const void *ctx)
{
    (void)ctx;
    return series < 4 ? (int)series : -1;
}

/* The count of (bucket start, series), 0 when there is no such cell. */
static uint64_t cell_count(const struct timeline *t, int64_t start, uint32_t series)
{
    for (size_t i = 0; i < t->nslots; i++)
        if (t->c[i].used && t->c[i].start == start && t->c[i].series == series)
            return t->c[i].n;
    return 0;
}

static uint64_t all_counts(const struct timeline *t)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < t->nslots; i++)
        sum += t->c[i].used ? t->c[i].n : 0;
    return sum;
}

Test(report_time, bucket_start_floors)
{
    cr_assert_eq(bucket_start(T0 + 59, BUCKET_MINUTE), T0);
    cr_assert_eq(bucket_start(T0 + 60, BUCKET_MINUTE), T0 + 60);
    cr_assert_eq(bucket_start(T0 + 3599, BUCKET_HOUR), T0);
    cr_assert_eq(bucket_start(T0 + 3599, BUCKET_DAY), T0 - 4 * 3600);
    cr_assert_eq(bucket_start(-1, BUCKET_MINUTE), -60, "before 1970 the bucket starts earlier, not at 0");
    cr_assert_eq(bucket_start(-86400, BUCKET_DAY), -86400);
    cr_assert_eq(bucket_start(-86401, BUCKET_DAY), -2 * 86400);
}

Test(report_time, counts_land_in_their_minute_in_any_order)
{
    struct timeline t;
    timeline_init(&t, 1000);
    timeline_add(&t, T0 + 125, 1, 1);
    timeline_add(&t, T0 + 5, 1, 1);
    timeline_add(&t, T0 + 130, 1, 3); /* "message repeated 3 times" */
    timeline_add(&t, T0 + 59, 1, 1);
    timeline_add(&t, T0 + 59, 2, 1);
    timeline_add(&t, T0 - 1, 1, 1);
    cr_assert_eq(t.width, BUCKET_MINUTE);
    cr_assert_eq(cell_count(&t, T0, 1), 2);
    cr_assert_eq(cell_count(&t, T0, 2), 1);
    cr_assert_eq(cell_count(&t, T0 + 120, 1), 4);
    cr_assert_eq(cell_count(&t, T0 - 60, 1), 1);
    cr_assert_eq(t.n, 4);
    cr_assert_eq(t.dropped, 0);
    timeline_free(&t);
}

Test(report_time, sum_regroups_into_wider_buckets)
{
    struct timeline t;
    timeline_init(&t, 1000);
    for (int i = 0; i < 180; i++)              /* one a minute for three hours, series 0 */
        timeline_add(&t, T0 + i * 60, 0, 1);
    timeline_add(&t, T0 + 3600 + 10, 3, 7);    /* series 3 in the second hour */
    timeline_add(&t, T0 - 10, 0, 5);           /* before the first bucket drawn */
    timeline_add(&t, T0 + 3 * 3600, 0, 2);     /* after the last one */
    timeline_add(&t, T0 + 20, 9, 100);         /* a series nobody wants */
    uint64_t m[3 * 4] = {0};
    uint64_t outside = timeline_sum(&t, BUCKET_HOUR, T0, 3, by_series, NULL, m, 4);
    cr_assert_eq(m[0 * 4 + 0], 60);
    cr_assert_eq(m[1 * 4 + 0], 60);
    cr_assert_eq(m[2 * 4 + 0], 60);
    cr_assert_eq(m[1 * 4 + 3], 7);
    cr_assert_eq(m[0 * 4 + 3] + m[2 * 4 + 3], 0);
    cr_assert_eq(outside, 7, "the 5 before and the 2 after, not the unwanted series");
    timeline_free(&t);
}

Test(report_time, a_full_table_widens_its_buckets_and_keeps_every_count)
{
    struct timeline t;
    timeline_init(&t, 16);
    for (int i = 0; i < 40; i++)               /* 40 minutes of one hour: more cells than 16 */
        timeline_add(&t, T0 + i * 60, 0, 1);
    cr_assert_eq(t.width, BUCKET_HOUR);
    cr_assert_eq(cell_count(&t, T0, 0), 40);
    cr_assert_eq(t.coarsened, 1);
    for (int i = 0; i < 30; i++)               /* 30 hours of a day and a bit: on to days */
        timeline_add(&t, T0 + i * 3600, 1, 2);
    cr_assert_eq(t.width, BUCKET_DAY);
    cr_assert_eq(all_counts(&t), 40 + 60);
    cr_assert_eq(t.dropped, 0);
    /* days and series beyond what 16 day cells hold: counted as dropped, never lost silently */
    for (int i = 0; i < 40; i++)
        timeline_add(&t, T0 + (int64_t)i * 86400, 2, 1);
    cr_assert_eq(t.n, 16);
    cr_assert_eq(all_counts(&t) + t.dropped, 40 + 60 + 40);
    cr_assert_gt(t.dropped, 0);
    timeline_free(&t);
}

Test(report_time, countless_genres_are_drawn_as_other_genres)
{
    struct timeline t;
    timeline_init(&t, 16); /* genres may take 14 cells, the last 2 are kept for the rest */
    t.width = BUCKET_DAY;
    for (uint32_t g = 0; g < 20; g++)
        timeline_add(&t, T0, SERIES_GENRE + g, 1);
    cr_assert_eq(cell_count(&t, T0 - 4 * 3600, SERIES_GENRE + 13), 1, "the 14th genre has its cell");
    cr_assert_eq(cell_count(&t, T0 - 4 * 3600, SERIES_GENRE + 14), 0, "the 15th has none");
    cr_assert_eq(cell_count(&t, T0 - 4 * 3600, SERIES_GENRE_OVERFLOW), 6, "it is under other genres");
    cr_assert_eq(t.folded, 6);
    timeline_add(&t, T0, SERIES_VERDICT + VERDICT_BLOCK, 4);
    cr_assert_eq(cell_count(&t, T0 - 4 * 3600, SERIES_VERDICT + VERDICT_BLOCK), 4, "verdicts have the reserve");
    cr_assert_eq(t.dropped, 0);
    cr_assert_eq(all_counts(&t), 24);
    timeline_free(&t);
}

Test(report_time, the_width_drawn_follows_the_range)
{
    struct timeline t;
    timeline_init(&t, 1000);
    cr_assert_eq(timeline_width_for(&t, T0, T0), BUCKET_MINUTE);
    cr_assert_eq(timeline_width_for(&t, T0, T0 + 6 * 3600), BUCKET_MINUTE);
    cr_assert_eq(timeline_width_for(&t, T0, T0 + 6 * 3600 + 1), BUCKET_HOUR);
    cr_assert_eq(timeline_width_for(&t, T0, T0 + 14 * 86400), BUCKET_HOUR);
    cr_assert_eq(timeline_width_for(&t, T0, T0 + 14 * 86400 + 1), BUCKET_DAY);
    t.width = BUCKET_DAY;
    cr_assert_eq(timeline_width_for(&t, T0, T0 + 60), BUCKET_DAY, "never finer than the counts were kept");
    timeline_free(&t);
}

/* ---- through report_line: the counting every output shares ---- */

static struct report *new_report(void)
{
    static struct input in = {.name = "test"};
    struct report *r = calloc(1, sizeof(*r));
    cr_assert_not_null(r);
    r->inputs = &in;
    r->ninputs = 1;
    r->fixed_year = 2024;
    r->tc.fixed_year = 2024;
    r->ms_hist = calloc(MS_BUCKETS, sizeof(*r->ms_hist));
    strtab_init(&r->os, 100, 1 << 16);
    strtab_init(&r->genre, 3, 1 << 16); /* room for three genres: the fourth overflows */
    strtab_init(&r->rules, 100, 1 << 16);
    strtab_init(&r->reasons, 100, 1 << 16);
    strtab_init(&r->exempts, 100, 1 << 16);
    strtab_init(&r->diags, 100, 1 << 16);
    strtab_init(&r->sigs, 100, 1 << 16);
    iptab_init(&r->ips, 100);
    hourtab_init(&r->hours, 100);
    r->with_timeline = true;
    timeline_init(&r->timeline, 1000);
    return r;
}

static void free_report(struct report *r)
{
    struct strtab *tabs[] = {&r->os, &r->genre, &r->rules, &r->reasons, &r->exempts, &r->diags, &r->sigs};
    for (size_t i = 0; i < sizeof(tabs) / sizeof(tabs[0]); i++)
        strtab_free(tabs[i]);
    iptab_free(&r->ips);
    hourtab_free(&r->hours);
    timeline_free(&r->timeline);
    free(r->ms_hist);
    free(r);
}

static void line(struct report *r, const char *text)
{
    report_line(r, text, strlen(text), false);
}

static int genre_series(uint32_t series, const void *ctx)
{
    (void)ctx;
    if (series == SERIES_NO_GENRE)
        return 0;
    if (series == SERIES_GENRE_OVERFLOW)
        return 1;
    return series >= SERIES_GENRE && series < SERIES_GENRE + 3 ? (int)(2 + series - SERIES_GENRE) : -1;
}

static int verdict_series(uint32_t series, const void *ctx)
{
    (void)ctx;
    return series < VERDICTS ? (int)series : -1;
}

Test(report_time, report_lines_fill_the_timeline_as_they_fill_the_counts)
{
    struct report *r = new_report();
    line(r, "Nov 27 04:00:01 mx1 p0fshim[1]: remote=192.0.2.1:1 local=192.0.2.9:25 verdict=allow ms=2 os=\"Linux\" "
            "flavor=\"3.x\" genre=\"Linux 3.x\" match=exact");
    line(r, "Nov 27 04:00:59 mx1 p0fshim[1]: remote=192.0.2.2:1 local=192.0.2.9:25 verdict=block ms=2 "
            "os=\"Windows\" flavor=\"XP\" genre=\"Windows XP\" match=exact rule=\"/windows/\" rule_at=\"b:1\"");
    line(r, "Nov 27 05:10:00 mx1 p0fshim[1]: message repeated 3 times: [ remote=192.0.2.2:1 local=192.0.2.9:25 "
            "verdict=block ms=2 os=\"Windows\" flavor=\"XP\" genre=\"Windows XP\" match=exact]");
    line(r, "Nov 27 03:59:59 mx1 p0fshim[1]: remote=192.0.2.3:1 local=192.0.2.9:25 verdict=unknown ms=500 "
            "reason=\"no match\" sig=\"4:64+0:0:1460:mss*20,7:mss,sok,ts,nop,ws:df,id+:0\"");
    line(r, "Nov 27 04:30:00 mx1 p0fshim[1]: remote=192.0.2.4:1 local=192.0.2.9:25 verdict=allow ms=2 os=\"\" "
            "flavor=\"\" genre=\"\" match=fuzzy");
    line(r, "Nov 27 04:31:00 mx1 p0fshim[1]: remote=192.0.2.5:1 local=192.0.2.9:25 verdict=allow ms=2 os=\"BSD\" "
            "flavor=\"\" genre=\"BSD\" match=exact");
    line(r, "Nov 27 04:32:00 mx1 p0fshim[1]: level=warning msg=\"cannot reach p0f\"");
    line(r, "remote=192.0.2.6:1 local=192.0.2.9:25 verdict=allow ms=2"); /* no timestamp: in no bucket */

    cr_assert_eq(r->connections, 9);
    cr_assert_eq(r->undated, 1);
    cr_assert_eq(r->timeline.width, BUCKET_MINUTE);

    /* verdicts per hour: the same numbers as the per-hour table of the text report */
    uint64_t v[3 * VERDICTS] = {0};
    int64_t from = bucket_start(T0 - 1, BUCKET_HOUR);
    cr_assert_eq(timeline_sum(&r->timeline, BUCKET_HOUR, from, 3, verdict_series, NULL, v, VERDICTS), 0);
    uint64_t total = 0;
    for (size_t h = 0; h < 3; h++) {
        uint64_t hour_total = 0;
        for (int k = 0; k < VERDICTS; k++)
            hour_total += v[h * VERDICTS + k];
        const struct hent *e = NULL;
        for (size_t i = 0; i < r->hours.nslots; i++)
            if (r->hours.e[i].used && r->hours.e[i].hour * 3600 == from + (int64_t)h * 3600)
                e = &r->hours.e[i];
        cr_assert_not_null(e, "hour %zu", h);
        cr_assert_eq(hour_total, e->total, "hour %zu", h);
        for (int k = 0; k < VERDICTS; k++)
            cr_assert_eq(v[h * VERDICTS + k], e->n[k], "hour %zu verdict %d", h, k);
        total += hour_total;
    }
    cr_assert_eq(total, r->connections - r->undated);
    cr_assert_eq(v[1 * VERDICTS + VERDICT_BLOCK], 1);
    cr_assert_eq(v[2 * VERDICTS + VERDICT_BLOCK], 3, "a repeated line counts as often as it was repeated");

    /* genres per minute: entries in their table's order, the fourth one overflowing */
    uint64_t g[5] = {0};
    cr_assert_eq(timeline_sum(&r->timeline, BUCKET_MINUTE, T0, 1, genre_series, NULL, g, 5), 6,
                 "everything but the first minute lies outside it");
    cr_assert_eq(g[2], 1, "Linux 3.x");
    cr_assert_eq(g[3], 1, "Windows XP");
    uint64_t all[2 * 5] = {0};
    timeline_sum(&r->timeline, BUCKET_DAY, bucket_start(T0, BUCKET_DAY), 1, genre_series, NULL, all, 5);
    cr_assert_eq(all[0], 1, "no genre= (the unknown line)");
    cr_assert_eq(all[1], 1, "BSD: the genre table was full");
    cr_assert_eq(all[2] + all[3] + all[4], 6);
    cr_assert_eq(r->genre.overflow_total, 1);

    /* the signature of the host no OS was named for, and not of the others */
    cr_assert_eq(r->sigs.n, 1);
    cr_assert_eq(r->sigs.e[0].n[VERDICT_UNKNOWN], 1);
    free_report(r);
}

Test(report_time, no_timeline_unless_asked)
{
    struct report *r = new_report();
    r->with_timeline = false;
    line(r, "Nov 27 04:00:01 mx1 p0fshim[1]: remote=192.0.2.1:1 local=192.0.2.9:25 verdict=allow ms=2");
    cr_assert_eq(r->connections, 1);
    cr_assert_eq(r->timeline.n, 0);
    free_report(r);
}
