/* p0fshim report --html: the report as one self-contained page for a browser. An overview
 * (time range, connections, verdicts, refusals that came late), two charts over time
 * (report_chart.c: connections per genre, and verdicts, from the timeline report_count.c
 * keeps), and the tables an admin choosing blocked_operating_systems wants: genres with their
 * share, blocked networks, the worst karma, the rules that blocked, and the signatures of
 * hosts no OS was named for. The counts are the same ones the text, JSON and CSV outputs
 * draw. The page loads nothing (inline CSS and SVG, no script, and a Content-Security-Policy
 * that forbids any), and every string from the log or the command line is escaped
 * (put_html). A number the JSON output also gives carries that output's path in data-json
 * and its exact value in data-n, so a test can hold the page to the JSON report. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "output.h"
#include "report_chart.h"
#include "report_out.h"

/* Rows of a table even with --top 0 (all): a page stays a few MB with 50,000 genres. */
#define HTML_ROWS_MAX 500
#define HTML_ROWS_MAX_TEXT "500"
/* Bars of a chart: past these (days: almost three years), the latest are drawn. */
#define CHART_BUCKETS_MAX 1000
/* Genres drawn on their own in the genre chart; the rest are one "other genres" series. */
#define CHART_GENRES 8
/* The empty genre: p0f answered, but named no OS. */
#define NOT_IDENTIFIED "(not identified)"
/* A connection line without genre=: no answer from p0f, no signature matched the SYN. */
#define NO_GENRE "no genre (unknown, error)"
/* IPv4 addresses are grouped by /24, IPv6 by /64: a provider's pool, an office, a host. */
#define NET4_BITS 24
#define NET6_BITS 64

static const char page_style[] =
    "body{font:14px/1.4 system-ui,sans-serif;margin:0 auto;max-width:1100px;padding:0 16px 32px;color:#222;"
    "background:#fff}"
    "h1{font-size:22px;margin:20px 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd}"
    ".range{color:#555;margin:0 0 12px}"
    ".cards{display:flex;flex-wrap:wrap;gap:10px;margin:8px 0 14px}"
    ".card{border:1px solid #ddd;border-radius:6px;padding:8px 14px;min-width:120px}"
    ".card b{display:block;font-size:22px;font-variant-numeric:tabular-nums}"
    "table{border-collapse:collapse;margin:4px 0 8px}"
    "th,td{padding:3px 10px;border-bottom:1px solid #eee;text-align:left;vertical-align:top}"
    "th{font-weight:600;background:#f6f6f6}"
    "td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}"
    "td.t{font-family:ui-monospace,monospace;word-break:break-all;max-width:640px}"
    ".note{color:#666;font-size:13px}em{color:#888}"
    ".grid2{display:grid;grid-template-columns:repeat(auto-fit,minmax(480px,1fr));gap:0 24px}"
    "figure.chart{margin:8px 0 18px}figcaption{font-weight:600;margin-bottom:4px}"
    "svg{width:100%;height:auto;display:block}"
    "svg .grid{stroke:#e4e4e4}svg .tick{stroke:#999}"
    "svg text{font-size:11px;fill:#555}svg .ylab{text-anchor:end}svg .xlab{text-anchor:middle}"
    "svg .hit{fill:transparent}svg .hit:hover{fill:rgba(0,0,0,.07)}"
    ".legend{list-style:none;padding:0;margin:4px 0;display:flex;flex-wrap:wrap;gap:4px 16px}"
    ".legend .n{color:#666}"
    ".sw{display:inline-block;width:11px;height:11px;margin-right:5px;border-radius:2px;vertical-align:-1px}"
    /* genres: a palette for the first CHART_GENRES, greys for the rest and for no answer */
    ".g0{fill:#4e79a7;background:#4e79a7}.g1{fill:#f28e2b;background:#f28e2b}"
    ".g2{fill:#e15759;background:#e15759}.g3{fill:#76b7b2;background:#76b7b2}"
    ".g4{fill:#59a14f;background:#59a14f}.g5{fill:#edc948;background:#edc948}"
    ".g6{fill:#b07aa1;background:#b07aa1}.g7{fill:#ff9da7;background:#ff9da7}"
    ".g-other{fill:#9c9c9c;background:#9c9c9c}.g-none{fill:#d0d0d0;background:#d0d0d0}"
    /* verdicts */
    ".v-allow{fill:#59a14f;background:#59a14f}.v-block{fill:#e15759;background:#e15759}"
    ".v-exempt{fill:#4e79a7;background:#4e79a7}.v-unknown{fill:#bab0ac;background:#bab0ac}"
    ".v-error{fill:#f28e2b;background:#f28e2b}.v-greylist{fill:#edc948;background:#edc948}"
    ".v-pass_greylist{fill:#76b7b2;background:#76b7b2}";

static const char *const genre_css[CHART_GENRES] = {"g0", "g1", "g2", "g3", "g4", "g5", "g6", "g7"};

/* ---- cells: every number the page shows goes through these ---- */

/* A number the JSON output also gives, at json_path (NULL: a number it does not give). */
static void count_td(const char *json_path, uint64_t n)
{
    printf("<td class=\"n\"");
    if (json_path)
        printf(" data-json=\"%s\"", json_path);
    printf(" data-n=\"%" PRIu64 "\">", n);
    put_count(n);
    printf("</td>");
}

static void signed_td(const char *json_path, int64_t n)
{
    printf("<td class=\"n\" data-json=\"%s\" data-n=\"%" PRId64 "\">%s", json_path, n, n < 0 ? "-" : "");
    put_count(n < 0 ? -(uint64_t)n : (uint64_t)n);
    printf("</td>");
}

static void share_td(uint64_t part, uint64_t whole)
{
    printf("<td class=\"n\">%.1f%%</td>", percent(part, whole));
}

/* A string from the log; the empty string shown as empty_label. The cell is marked
 * key_attr="key" (data-json="its JSON path", or data-sig="row") unless key_attr is NULL. */
static void text_td(const char *key_attr, const char *key, const char *s, size_t n, const char *empty_label)
{
    printf("<td class=\"t\"");
    if (key_attr)
        printf(" %s=\"%s\"", key_attr, key);
    if (n == 0) {
        printf(" data-empty=\"1\"><em>%s</em></td>", empty_label);
        return;
    }
    putchar('>');
    put_html(stdout, s, n);
    printf("</td>");
}

/* "section.top.i.member" */
static const char *path(char *buf, size_t size, const char *section, size_t i, const char *member)
{
    snprintf(buf, size, "%s.top.%zu.%s", section, i, member);
    return buf;
}

static size_t rows_of(const struct report *r, size_t n)
{
    size_t rows = top_limit(r, n);
    return rows > HTML_ROWS_MAX ? HTML_ROWS_MAX : rows;
}

static void more_rows(const struct report *r, size_t shown, size_t n, const char *what)
{
    if (shown < n) {
        printf("<p class=\"note\">");
        put_count(n - shown);
        printf(" more %s not shown (%s).</p>", what,
               shown < top_limit(r, n) ? "a table of the page has at most " HTML_ROWS_MAX_TEXT " rows" : "--top");
    }
}

static void overflow_note(uint64_t overflow, const char *what)
{
    if (overflow) {
        printf("<p class=\"note\">");
        put_count(overflow);
        printf(" connections had %s beyond the most the report keeps: in the totals, in no row.</p>", what);
    }
}

/* ---- the page's parts ---- */

static void page_head(const struct report *r)
{
    char a[32], b[32];
    printf("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
           "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
           "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
           "<title>p0fshim report");
    if (r->have_period) {
        format_wall(r->first_t, a, sizeof(a));
        format_wall(r->last_t, b, sizeof(b));
        printf(" %.10s to %.10s", a, b);
    }
    printf("</title><style>%s</style></head>\n<body>\n<h1>p0fshim report</h1>\n<p class=\"range\">", page_style);
    if (r->have_period) {
        printf("<time data-json=\"first\">%s</time> to <time data-json=\"last\">%s</time>", a, b);
    } else {
        printf("No connection line with a timestamp.");
    }
    printf(" &middot; ");
    put_count(r->lines);
    printf(" lines read from %zu input%s</p>\n", r->ninputs, r->ninputs == 1 ? "" : "s");
}

static void card(const char *label, const char *json_path, uint64_t n)
{
    printf("<div class=\"card\"><b");
    if (json_path)
        printf(" data-json=\"%s\"", json_path);
    printf(" data-n=\"%" PRIu64 "\">", n);
    put_count(n);
    printf("</b>%s</div>", label);
}

static void overview(const struct report *r)
{
    char p[64];
    printf("<section id=\"overview\"><h2>Overview</h2><div class=\"cards\">");
    card("connections", "connections", r->connections);
    card("blocked", "verdicts.block", r->verdict[VERDICT_BLOCK]);
    if (r->saw_cutoff)
        card("blocks too late", "cutoff.blocks_too_late", r->cutoff[0]);
    card("distinct genres", "genre.distinct", r->genre.n);
    /* not held to the JSON output: its "diagnostics" member is given twice, the count and the list */
    card("diagnostics", NULL, r->diagnostics);
    card("unparsable lines", "unparsable", r->bad);
    printf("</div>\n<div class=\"grid2\"><div><table id=\"verdicts\"><thead><tr><th>verdict</th>"
           "<th class=\"n\">connections</th><th class=\"n\">share</th></tr></thead><tbody>");
    for (int v = 0; v < VERDICTS; v++) {
        const char *name = verdict_name((enum verdict)v);
        snprintf(p, sizeof(p), "verdicts.%s", name);
        printf("<tr><td><i class=\"sw v-%s\"></i>%s</td>", name, name);
        count_td(p, r->verdict[v]);
        share_td(r->verdict[v], r->connections);
        printf("</tr>");
    }
    printf("</tbody></table></div><div>");
    /* cutoff= rows only once the log is new enough to say (see report.h) */
    if (r->saw_cutoff) {
        printf("<table id=\"late\"><thead><tr><th>refused after the MTA had the connection</th>"
               "<th class=\"n\">connections</th></tr></thead><tbody>");
        for (size_t i = 0; i < CUTOFF_ROWS; i++) {
            snprintf(p, sizeof(p), "cutoff.%s", cutoff_rows[i].key);
            printf("<tr><td>%s</td>", cutoff_rows[i].label);
            count_td(p, r->cutoff[i]);
            printf("</tr>");
        }
        printf("</tbody></table>");
    } else {
        printf("<p class=\"note\">This log does not say whether refusals came late (no cutoff= field).</p>");
    }
    printf("<table id=\"timing\"><tbody><tr><td>verdict time, median (ms)</td>");
    count_td("ms.median", ms_percentile(r, 50));
    printf("</tr><tr><td>verdict time, 95th percentile (ms)</td>");
    count_td("ms.p95", ms_percentile(r, 95));
    printf("</tr><tr><td>connections with karma</td>");
    count_td("karma.connections", r->karma_lines);
    printf("</tr><tr><td>karma, sum</td>");
    signed_td("karma.sum", r->karma_sum);
    if (r->karma_total_lines) {
        printf("</tr><tr><td>lines with a fleet karma_total=</td>");
        count_td("karma.fleet_lines", r->karma_total_lines);
        printf("</tr><tr><td>refused by karma_limit</td>");
        count_td("karma.limit_blocks", r->karma_limit_blocks);
    }
    printf("</tr></tbody></table></div></div></section>\n");
}

/* ---- the charts ---- */

struct genre_columns {
    uint32_t *of_entry;      /* by the genre's index in report.genre: its column */
    size_t ntop;             /* columns 0..ntop-1 are genres; then "other", then "none" */
};

static int genre_column(uint32_t series, const void *ctx)
{
    const struct genre_columns *g = ctx;
    if (series < SERIES_NO_GENRE)
        return -1;
    if (series == SERIES_NO_GENRE)
        return (int)g->ntop + 1;
    if (series == SERIES_GENRE_OVERFLOW)
        return (int)g->ntop;
    return (int)g->of_entry[series - SERIES_GENRE];
}

static int verdict_column(uint32_t series, const void *ctx)
{
    (void)ctx;
    return series < SERIES_VERDICT + VERDICTS ? (int)(series - SERIES_VERDICT) : -1;
}

/* What the bars of both charts leave out. */
static void chart_notes(const struct report *r, const struct chart *c, uint64_t outside)
{
    char a[32];
    if (outside) {
        bucket_label(c, 0, a, sizeof(a));
        printf("<p class=\"note\" data-outside=\"%" PRIu64 "\">", outside);
        put_count(outside);
        printf(" connections before %s are not drawn: a chart has at most %d bars.</p>", a, CHART_BUCKETS_MAX);
    }
    if (r->undated) {
        printf("<p class=\"note\">");
        put_count(r->undated);
        printf(" connections without a timestamp (journalctl -o cat) are counted, but in no bar.</p>");
    }
    if (r->timeline.folded) {
        printf("<p class=\"note\">");
        put_count(r->timeline.folded);
        printf(" connections are drawn as other genres: the log has more days and genres than the chart holds.</p>");
    }
    if (r->timeline.dropped) {
        printf("<p class=\"note\">");
        put_count(r->timeline.dropped);
        printf(" counts are in no bar: the log has more days than the chart holds.</p>");
    }
}

static void charts(const struct report *r)
{
    printf("<section id=\"charts\"><h2>Over time</h2>");
    if (!r->have_period) {
        printf("<p class=\"note\">No connection line with a timestamp: nothing to draw.</p></section>\n");
        return;
    }
    enum bucket_width width = timeline_width_for(&r->timeline, r->first_t, r->last_t);
    int64_t secs = bucket_units[width].seconds;
    int64_t from = bucket_start(r->first_t, width), last = bucket_start(r->last_t, width);
    size_t nb = (size_t)((last - from) / secs) + 1;
    if (nb > CHART_BUCKETS_MAX) {
        nb = CHART_BUCKETS_MAX;
        from = last - (int64_t)(nb - 1) * secs;
    }

    uint64_t outside = 0;
    /* connections per genre: the most frequent ones on their own, bottom first */
    const struct sent **genres = sorted(&r->genre);
    struct genre_columns g = {.of_entry = malloc((r->genre.n + 1) * sizeof(uint32_t))};
    struct chart_series series[CHART_GENRES + 2];
    uint64_t *m = calloc(nb * (CHART_GENRES + 2), sizeof(*m));
    if (genres && g.of_entry && m) {
        g.ntop = r->genre.n < CHART_GENRES ? r->genre.n : CHART_GENRES;
        for (size_t i = 0; i < r->genre.n; i++)
            g.of_entry[genres[i] - r->genre.e] = (uint32_t)(i < g.ntop ? i : g.ntop);
        for (size_t i = 0; i < g.ntop; i++)
            series[i] = (struct chart_series){strtab_key(&r->genre, genres[i]), genres[i]->len, genre_css[i]};
        series[g.ntop] = (struct chart_series){"other genres", 12, "g-other"};
        series[g.ntop + 1] = (struct chart_series){NO_GENRE, sizeof(NO_GENRE) - 1, "g-none"};
        struct chart c = {.id = "chart-genres", .title = "Connections per OS genre", .width = width, .from = from,
                          .nbuckets = nb, .nseries = g.ntop + 2, .series = series, .m = m,
                          .empty_label = NOT_IDENTIFIED};
        outside = timeline_sum(&r->timeline, width, from, nb, genre_column, &g, m, c.nseries);
        chart_svg(&c);
    }
    free(genres);
    free(g.of_entry);
    free(m);

    m = calloc(nb * VERDICTS, sizeof(*m));
    if (m) {
        static char css[VERDICTS][24];
        for (int v = 0; v < VERDICTS; v++) {
            const char *name = verdict_name((enum verdict)v);
            snprintf(css[v], sizeof(css[v]), "v-%s", name);
            series[v] = (struct chart_series){name, strlen(name), css[v]};
        }
        struct chart c = {.id = "chart-verdicts", .title = "Verdicts", .width = width, .from = from,
                          .nbuckets = nb, .nseries = VERDICTS, .series = series, .m = m, .empty_label = ""};
        timeline_sum(&r->timeline, width, from, nb, verdict_column, NULL, m, VERDICTS);
        chart_svg(&c);
        chart_notes(r, &c, outside);
    }
    free(m);
    printf("</section>\n");
}

/* ---- the tables ---- */

static void genres_table(const struct report *r)
{
    char p[64];
    const struct sent **v = sorted(&r->genre);
    size_t shown = v ? rows_of(r, r->genre.n) : 0;
    printf("<div><h3>Genres</h3>");
    if (shown == 0)
        printf("<p class=\"note\">No connection line with genre=.</p>");
    else
        printf("<table id=\"genres\"><thead><tr><th>genre</th><th class=\"n\">connections</th>"
               "<th class=\"n\">share</th><th class=\"n\">blocked</th></tr></thead><tbody>");
    for (size_t i = 0; i < shown; i++) {
        printf("<tr>");
        text_td("data-json", path(p, sizeof(p), "genre", i, "value"), strtab_key(&r->genre, v[i]), v[i]->len, NOT_IDENTIFIED);
        count_td(path(p, sizeof(p), "genre", i, "count"), v[i]->total);
        share_td(v[i]->total, r->connections);
        count_td(path(p, sizeof(p), "genre", i, "block"), v[i]->n[VERDICT_BLOCK]);
        printf("</tr>");
    }
    if (shown)
        printf("</tbody></table>");
    more_rows(r, shown, r->genre.n, "genres");
    overflow_note(r->genre.overflow_total, "genres");
    printf("</div>");
    free(v);
}

struct net {
    struct ipkey key;        /* the address with the host bits cleared */
    uint64_t blocks;
    uint32_t addresses;
};

static int net_by_key(const void *a, const void *b)
{
    const struct net *x = a, *y = b;
    if (x->key.family != y->key.family)
        return x->key.family - y->key.family;
    return memcmp(x->key.ip, y->key.ip, 16);
}

static int net_by_blocks(const void *a, const void *b)
{
    const struct net *x = a, *y = b;
    if (x->blocks != y->blocks)
        return x->blocks > y->blocks ? -1 : 1;
    return net_by_key(a, b);
}

/* The blocked addresses (report.ips) summed by network, most blocks first; *n how many. */
static struct net *blocked_networks(const struct report *r, size_t *n)
{
    struct net *nets = malloc((r->ips.n + 1) * sizeof(*nets));
    size_t k = 0;
    *n = 0;
    if (nets == NULL)
        return NULL;
    for (size_t i = 0; i < r->ips.nslots; i++) {
        const struct ient *e = &r->ips.e[i];
        if (!e->used || e->blocks == 0)
            continue;
        struct net *t = &nets[k++];
        *t = (struct net){.key = e->key, .blocks = e->blocks, .addresses = 1};
        size_t keep = (e->key.family == 4 ? NET4_BITS : NET6_BITS) / 8;
        memset(t->key.ip + keep, 0, sizeof(t->key.ip) - keep);
    }
    qsort(nets, k, sizeof(*nets), net_by_key);
    for (size_t i = 0; i < k; i++) {
        if (*n && net_by_key(&nets[*n - 1], &nets[i]) == 0) {
            nets[*n - 1].blocks += nets[i].blocks;
            nets[*n - 1].addresses++;
        } else {
            nets[(*n)++] = nets[i];
        }
    }
    qsort(nets, *n, sizeof(*nets), net_by_blocks);
    return nets;
}

static void networks_table(const struct report *r)
{
    size_t n;
    char ip[64];
    struct net *nets = blocked_networks(r, &n);
    size_t shown = nets ? rows_of(r, n) : 0;
    printf("<div><h3>Blocked networks (/%d, /%d)</h3>", NET4_BITS, NET6_BITS);
    if (shown == 0)
        printf("<p class=\"note\">Nothing was blocked.</p>");
    else
        printf("<table id=\"networks\"><thead><tr><th>network</th><th class=\"n\">blocks</th>"
               "<th class=\"n\">addresses</th></tr></thead><tbody>");
    for (size_t i = 0; i < shown; i++) {
        ipkey_format(&nets[i].key, ip, sizeof(ip));
        printf("<tr><td class=\"t\" data-net=\"%s/%d\">%s/%d</td>", ip, nets[i].key.family == 4 ? NET4_BITS : NET6_BITS,
               ip, nets[i].key.family == 4 ? NET4_BITS : NET6_BITS);
        count_td(NULL, nets[i].blocks);
        count_td(NULL, nets[i].addresses);
        printf("</tr>");
    }
    if (shown)
        printf("</tbody></table>");
    more_rows(r, shown, n, "networks");
    if (r->ips.evictions)
        printf("<p class=\"note\">Approximate: more addresses than --max-ips %zu; a count may be low by at most "
               "%" PRIu64 ".</p>", r->ips.max, r->ips.evicted_max);
    printf("</div>");
    free(nets);
}

static void karma_table(const struct report *r)
{
    size_t n;
    char ip[64], p[64];
    const struct ient **ips = sorted_ips(r, true, &n);
    size_t shown = ips ? rows_of(r, n) : 0;
    printf("<div><h3>Worst karma</h3>");
    if (shown == 0)
        printf("<p class=\"note\">No connection line with karma=.</p>");
    else
        printf("<table id=\"karma\"><thead><tr><th>address</th><th class=\"n\">karma</th>"
               "<th class=\"n\">connections</th>%s</tr></thead><tbody>",
               r->karma_total_lines ? "<th class=\"n\">fleet karma_total (max)</th>" : "");
    for (size_t i = 0; i < shown; i++) {
        ipkey_format(&ips[i]->key, ip, sizeof(ip));
        printf("<tr><td class=\"t\" data-json=\"%s\">%s</td>", path(p, sizeof(p), "karma_ips", i, "ip"), ip);
        signed_td(path(p, sizeof(p), "karma_ips", i, "karma"), ips[i]->karma);
        count_td(path(p, sizeof(p), "karma_ips", i, "lines"), ips[i]->karma_lines);
        if (r->karma_total_lines)
            count_td(path(p, sizeof(p), "karma_ips", i, "karma_total_max"), ips[i]->karma_total_max);
        printf("</tr>");
    }
    if (shown)
        printf("</tbody></table>");
    more_rows(r, shown, n, "addresses");
    printf("</div>");
    free(ips);
}

static void rules_table(const struct report *r)
{
    char p[64];
    const struct sent **v = sorted(&r->rules);
    size_t shown = v ? rows_of(r, r->rules.n) : 0;
    printf("<div><h3>Rules that blocked</h3>");
    if (shown == 0)
        printf("<p class=\"note\">No block line with rule=.</p>");
    else
        printf("<table id=\"rules\"><thead><tr><th>rule</th><th>where</th><th class=\"n\">blocks</th></tr></thead>"
               "<tbody>");
    for (size_t i = 0; i < shown; i++) {
        const char *rule, *at;
        size_t rule_len, at_len;
        split_rule(&r->rules, v[i], &rule, &rule_len, &at, &at_len);
        printf("<tr>");
        text_td("data-json", path(p, sizeof(p), "rules", i, "rule"), rule, rule_len, "(empty)");
        text_td("data-json", path(p, sizeof(p), "rules", i, "at"), at, at_len, "(not said)");
        count_td(path(p, sizeof(p), "rules", i, "count"), v[i]->total);
        printf("</tr>");
    }
    if (shown)
        printf("</tbody></table>");
    more_rows(r, shown, r->rules.n, "rules");
    overflow_note(r->rules.overflow_total, "rules");
    printf("</div>");
    free(v);
}

static void signatures_table(const struct report *r)
{
    const struct sent **v = sorted(&r->sigs);
    size_t shown = v ? rows_of(r, r->sigs.n) : 0;
    printf("<section id=\"signatures\"><h2>Signatures no OS was named for</h2>");
    if (shown == 0) {
        printf("<p class=\"note\">No such connection line with sig= (the SYN fingerprinter writes it).</p>");
    } else {
        printf("<p class=\"note\">Each is a SYN's raw signature in p0f's form: copy it under a label into a "
               "local signature file (fp_file), the distance after + dropped, to name those hosts.</p>"
               "<table id=\"sigs\"><thead><tr><th>sig</th><th class=\"n\">connections</th>"
               "<th class=\"n\">unknown</th></tr></thead><tbody>");
        for (size_t i = 0; i < shown; i++) {
            char row[24];
            snprintf(row, sizeof(row), "%zu", i);
            printf("<tr>");
            text_td("data-sig", row, strtab_key(&r->sigs, v[i]), v[i]->len, "(empty)");
            count_td(NULL, v[i]->total);
            count_td(NULL, v[i]->n[VERDICT_UNKNOWN]);
            printf("</tr>");
        }
        printf("</tbody></table>");
    }
    more_rows(r, shown, r->sigs.n, "signatures");
    overflow_note(r->sigs.overflow_total, "signatures");
    printf("</section>\n");
    free(v);
}

static void tables(const struct report *r)
{
    printf("<section id=\"tables\"><h2>Who connects, and what was refused</h2><div class=\"grid2\">");
    genres_table(r);
    networks_table(r);
    karma_table(r);
    rules_table(r);
    printf("</div></section>\n");
}

static void page_foot(const struct report *r)
{
    printf("<section id=\"inputs\"><h2>Inputs</h2><table><thead><tr><th>input</th><th class=\"n\">lines</th>"
           "<th>error</th></tr></thead><tbody>");
    for (size_t i = 0; i < r->ninputs; i++) {
        printf("<tr>");
        text_td(NULL, NULL, r->inputs[i].name, strlen(r->inputs[i].name), "");
        count_td(NULL, r->inputs[i].lines);
        text_td(NULL, NULL, r->inputs[i].error, strlen(r->inputs[i].error), "");
        printf("</tr>");
    }
    printf("</tbody></table><p class=\"note\">");
    put_count(r->shim_lines);
    printf(" p0fshim lines (");
    put_count(r->conn_lines);
    printf(" connection lines, ");
    put_count(r->diagnostics);
    printf(" diagnostics), ");
    put_count(r->other);
    printf(" lines of other programs, ");
    put_count(r->bad);
    printf(" unparsable. Written by p0fshim report --html; the same counts as p0fshim report --json.</p>"
           "</section>\n</body></html>\n");
}

void report_html(const struct report *r)
{
    page_head(r);
    overview(r);
    charts(r);
    tables(r);
    signatures_table(r);
    page_foot(r);
}
