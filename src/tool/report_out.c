/* Drawing the report: one table of sections (report_sections, at the end) in the order of the
 * JSON and CSV outputs, each drawn by a text, a JSON and a CSV emitter. Groups of counters
 * and top-N tables of strings are drawn by generic emitters (report_emit.c) from their
 * section's parameters: a new counter is a line of its group's counters function, a new
 * table of strings a row of the section table. */
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "output.h"
#include "report_out.h"

/* ---- groups of counters ---- */

static size_t summary_counters(const struct report *r, const struct section *s, struct counter *c)
{
    (void)s;
    const struct {
        const char *name;
        uint64_t n;
    } v[] = {
        {"lines", r->lines},
        {"shim_lines", r->shim_lines},
        {"connection_lines", r->conn_lines},
        {"connections", r->connections},
        {"diagnostics", r->diagnostics},
        {"other_lines", r->other},
        {"not_syslog", r->not_syslog},
        {"unparsable", r->bad},
        {"unparsable_shim", r->bad_shim},
        {"undated", r->undated},
        {"outside_window", r->outside},
        {"undated_left_out", r->undated_left_out},
    };
    size_t n = sizeof(v) / sizeof(v[0]);
    for (size_t i = 0; i < n; i++)
        c[i] = (struct counter){.name = v[i].name, .kind = COUNT, .n = v[i].n};
    return n;
}

static size_t verdict_counters(const struct report *r, const struct section *s, struct counter *c)
{
    (void)s;
    for (int v = 0; v < VERDICTS; v++)
        c[v] = (struct counter){.name = verdict_name((enum verdict)v), .kind = COUNT, .n = r->verdict[v]};
    return VERDICTS;
}

static size_t percent_counters(const struct report *r, const struct section *s, struct counter *c)
{
    (void)s;
    for (int v = 0; v < VERDICTS; v++)
        c[v] = (struct counter){.name = verdict_name((enum verdict)v), .kind = PERCENT,
                                .pct = percent(r->verdict[v], r->connections)};
    return VERDICTS;
}

/* A count per word of the field's vocabulary, then "other" for the words it does not know. */
static size_t word_counters(const struct report *r, const struct section *s, struct counter *c)
{
    const struct log_field_spec *f = &log_field_table[s->field];
    const uint64_t *n = (const uint64_t *)((const char *)r + s->words);
    for (unsigned i = 0; i < f->nwords; i++)
        c[i] = (struct counter){.name = f->words[i], .kind = COUNT, .n = n[i]};
    c[f->nwords] = (struct counter){.name = "other", .kind = COUNT, .n = n[f->nwords]};
    return f->nwords + 1u;
}

static size_t cutoff_counters(const struct report *r, const struct section *s, struct counter *c)
{
    (void)s;
    if (!r->saw_cutoff)
        return 0;
    for (size_t i = 0; i < CUTOFF_ROWS; i++)
        c[i] = (struct counter){.name = cutoff_rows[i].key, .label = cutoff_rows[i].label, .kind = COUNT,
                                .n = r->cutoff[i]};
    return CUTOFF_ROWS;
}

static size_t karma_counters(const struct report *r, const struct section *s, struct counter *c)
{
    (void)s;
    c[0] = (struct counter){.name = "connections", .kind = COUNT, .n = r->karma_lines};
    c[1] = (struct counter){.name = "sum", .kind = SIGNED, .s = r->karma_sum};
    if (r->karma_total_lines == 0)   /* no karma store: the counts of a single host only */
        return 2;
    c[2] = (struct counter){.name = "fleet_lines", .kind = COUNT, .n = r->karma_total_lines};
    c[3] = (struct counter){.name = "fleet_max", .kind = SIGNED, .s = r->karma_total_max};
    c[4] = (struct counter){.name = "limit_blocks", .kind = COUNT, .n = r->karma_limit_blocks};
    return 5;
}

static size_t ms_counters(const struct report *r, const struct section *s, struct counter *c)
{
    (void)s;
    c[0] = (struct counter){.name = "count", .kind = COUNT, .n = r->ms_count};
    c[1] = (struct counter){.name = "median", .kind = COUNT, .n = ms_percentile(r, 50)};
    c[2] = (struct counter){.name = "p95", .kind = COUNT, .n = ms_percentile(r, 95)};
    c[3] = (struct counter){.name = "max", .kind = COUNT, .n = r->ms_max};
    return 4;
}

/* ---- the summary: lines read, inputs, period ---- */

static void text_summary(const struct report *r, const struct section *s)
{
    (void)s;
    char a[32], b[32];
    printf("p0fshim report: %zu input%s, %llu lines: %llu from p0fshim, %llu from other programs, %llu not syslog "
           "lines\n",
           r->ninputs, r->ninputs == 1 ? "" : "s", (unsigned long long)r->lines, (unsigned long long)r->shim_lines,
           (unsigned long long)r->other, (unsigned long long)r->not_syslog);
    printf("p0fshim lines: %llu connection lines (%llu connections), %llu diagnostics, %llu unparsable",
           (unsigned long long)r->conn_lines, (unsigned long long)r->connections,
           (unsigned long long)r->diagnostics, (unsigned long long)r->bad_shim);
    if (r->has_since || r->has_until)
        printf(", %llu outside the time window, %llu undated", (unsigned long long)r->outside,
               (unsigned long long)r->undated_left_out);
    putchar('\n');
    for (size_t i = 0; i < r->ninputs; i++)
        if (r->inputs[i].error[0])
            printf("input error: %s: %s\n", r->inputs[i].name, r->inputs[i].error);
    if (r->has_since || r->has_until) {
        printf("time window:");
        if (r->has_since) {
            format_wall(r->since, a, sizeof(a));
            printf(" from %s", a);
        }
        if (r->has_until) {
            format_wall(r->until, b, sizeof(b));
            printf(" until %s", b);
        }
        if (r->undated_left_out)
            printf(" (lines without a timestamp, journalctl -o cat?, are left out)");
        printf("\n");
    }
    if (r->undated)
        printf("undated: %llu connections without a timestamp (journalctl -o cat): counted, but in no hour\n",
               (unsigned long long)r->undated);
    if (r->have_period) {
        format_wall(r->first_t, a, sizeof(a));
        format_wall(r->last_t, b, sizeof(b));
        printf("period: %s .. %s\n", a, b);
    }
}

static void json_time(const char *name, bool known, int64_t t)
{
    char a[32];
    json_member(name);
    if (known) {
        format_wall(t, a, sizeof(a));
        put_json_str(stdout, a);
    } else {
        printf("null");
    }
}

/* The inputs, then the line counts and the period as members of the top object. */
static void json_summary(const struct report *r, const struct section *s)
{
    struct counter c[COUNTERS_MAX];
    size_t n = s->counters(r, s, c);
    json_member("inputs");
    putchar('[');
    for (size_t i = 0; i < r->ninputs; i++) {
        printf("%s{\"name\":", i ? "," : "");
        put_json_str(stdout, r->inputs[i].name);
        printf(",\"lines\":%llu,\"bytes\":%llu,\"error\":", (unsigned long long)r->inputs[i].lines,
               (unsigned long long)r->inputs[i].bytes);
        if (r->inputs[i].error[0])
            put_json_str(stdout, r->inputs[i].error);
        else
            printf("null");
        putchar('}');
    }
    putchar(']');
    for (size_t i = 0; i < n; i++) {
        json_member(c[i].name);
        json_counter_value(&c[i]);
    }
    json_time("first", r->have_period, r->first_t);
    json_time("last", r->have_period, r->last_t);
}

static void csv_summary(const struct report *r, const struct section *s)
{
    char a[32], num[64];
    csv_num(s->csv, "inputs", "", (long long)r->ninputs);
    csv_counters(r, s);
    if (r->have_period) {
        format_wall(r->first_t, a, sizeof(a));
        csv_row(s->csv, "first", 5, "", 0, a);
        format_wall(r->last_t, a, sizeof(a));
        csv_row(s->csv, "last", 4, "", 0, a);
    }
    for (size_t i = 0; i < r->ninputs; i++) {
        snprintf(num, sizeof(num), "%llu", (unsigned long long)r->inputs[i].lines);
        csv_row("input", r->inputs[i].name, strlen(r->inputs[i].name), "lines", 5, num);
        if (r->inputs[i].error[0]) {
            fputs("input,", stdout);
            put_csv(stdout, r->inputs[i].name, strlen(r->inputs[i].name));
            fputs(",error,", stdout);
            put_csv(stdout, r->inputs[i].error, strlen(r->inputs[i].error));
            putchar('\n');
        }
    }
}

/* The text's verdicts block also holds the karma and verdict-time lines, which the JSON and
 * CSV outputs give after the match, action and cutoff groups (their sections have no text). */
static void text_verdicts(const struct report *r, const struct section *s)
{
    (void)s;
    printf("\nverdicts:\n");
    for (int v = 0; v < VERDICTS; v++)
        printf("  %-13s %10llu %6.1f%%\n", verdict_name((enum verdict)v), (unsigned long long)r->verdict[v],
               percent(r->verdict[v], r->connections));
    printf("  unknown rate %.1f%%, error rate %.1f%%, block rate %.1f%%\n",
           percent(r->verdict[VERDICT_UNKNOWN], r->connections), percent(r->verdict[VERDICT_ERROR], r->connections),
           percent(r->verdict[VERDICT_BLOCK], r->connections));
    printf("  karma: %llu connections with karma, sum %lld\n", (unsigned long long)r->karma_lines,
           (long long)r->karma_sum);
    if (r->karma_total_lines)
        printf("  fleet karma: %llu lines with karma_total=, highest %lld, %llu refused by karma_limit\n",
               (unsigned long long)r->karma_total_lines, (long long)r->karma_total_max,
               (unsigned long long)r->karma_limit_blocks);
    if (r->ms_count)
        printf("  verdict time: median %llu ms, 95th percentile %llu ms, max %llu ms\n",
               (unsigned long long)ms_percentile(r, 50), (unsigned long long)ms_percentile(r, 95),
               (unsigned long long)r->ms_max);
}

/* ---- rules that blocked ---- */

static void text_rules(const struct report *r, const struct section *s)
{
    (void)s;
    if (r->rules.n == 0 && r->rules.overflow_total == 0)
        return;
    const struct sent **v = sorted(&r->rules);
    size_t shown = v ? top_limit(r, r->rules.n) : 0;
    printf("\nblocked by rule (%zu of %zu):\n", shown, r->rules.n);
    for (size_t i = 0; i < shown; i++) {
        const char *rule, *at;
        size_t rule_len, at_len;
        split_rule(&r->rules, v[i], &rule, &rule_len, &at, &at_len);
        printf("  %10llu  ", (unsigned long long)v[i]->total);
        put_key(stdout, rule, rule_len);
        if (rule_len + 1 < v[i]->len) {
            printf("  at ");
            put_escaped(stdout, at, at_len);
        }
        putchar('\n');
    }
    if (r->rules.overflow_total)
        printf("  %10llu  (more distinct rules than the table holds)\n", (unsigned long long)r->rules.overflow_total);
    free(v);
}

static void json_rules(const struct report *r, const struct section *s)
{
    const struct sent **v = sorted(&r->rules);
    size_t shown = v ? top_limit(r, r->rules.n) : 0;
    json_member(s->json);
    printf("{\"distinct\":%zu,\"top\":[", r->rules.n);
    for (size_t i = 0; i < shown; i++) {
        const char *rule, *at;
        size_t rule_len, at_len;
        split_rule(&r->rules, v[i], &rule, &rule_len, &at, &at_len);
        printf("%s{\"rule\":", i ? "," : "");
        put_json(stdout, rule, rule_len);
        printf(",\"at\":");
        put_json(stdout, at, at_len);
        printf(",\"count\":%llu}", (unsigned long long)v[i]->total);
    }
    printf("]}");
    free(v);
}

static void csv_rules(const struct report *r, const struct section *s)
{
    const struct sent **v = sorted(&r->rules);
    size_t shown = v ? top_limit(r, r->rules.n) : 0;
    char num[32];
    for (size_t i = 0; i < shown; i++) {
        const char *rule, *at;
        size_t rule_len, at_len;
        split_rule(&r->rules, v[i], &rule, &rule_len, &at, &at_len);
        snprintf(num, sizeof(num), "%llu", (unsigned long long)v[i]->total);
        csv_row(s->csv, rule, rule_len, at, at_len, num);
    }
    free(v);
}

/* ---- IPs: blocked, and by karma ---- */

static void text_blocked_ips(const struct report *r, const struct section *s)
{
    (void)s;
    size_t n;
    char ip[64];
    const struct ient **ips = sorted_ips(r, false, &n);
    if (ips && n) {
        size_t shown = top_limit(r, n);
        printf("\ntop blocked IPs (%zu of %zu):\n", shown, n);
        for (size_t i = 0; i < shown; i++) {
            ipkey_format(&ips[i]->key, ip, sizeof(ip));
            printf("  %10u  %s\n", ips[i]->blocks, ip);
        }
    }
    free(ips);
}

static void json_blocked_ips(const struct report *r, const struct section *s)
{
    size_t n;
    char ip[64];
    const struct ient **ips = sorted_ips(r, false, &n);
    size_t shown = ips ? top_limit(r, n) : 0;
    json_member(s->json);
    printf("{\"distinct\":%zu,\"top\":[", n);
    for (size_t i = 0; i < shown; i++) {
        ipkey_format(&ips[i]->key, ip, sizeof(ip));
        printf("%s{\"ip\":\"%s\",\"blocks\":%u}", i ? "," : "", ip, ips[i]->blocks);
    }
    printf("]}");
    free(ips);
}

static void csv_blocked_ips(const struct report *r, const struct section *s)
{
    size_t n;
    char ip[64];
    const struct ient **ips = sorted_ips(r, false, &n);
    size_t shown = ips ? top_limit(r, n) : 0;
    for (size_t i = 0; i < shown; i++) {
        ipkey_format(&ips[i]->key, ip, sizeof(ip));
        csv_num(s->csv, ip, "", ips[i]->blocks);
    }
    free(ips);
}

static void text_karma_ips(const struct report *r, const struct section *s)
{
    (void)s;
    size_t n;
    char ip[64];
    const struct ient **ips = sorted_ips(r, true, &n);
    if (ips && n) {
        size_t shown = top_limit(r, n);
        bool fleet = r->karma_total_lines > 0;
        printf("\nkarma per IP (%zu of %zu, most negative first):\n  %10s %8s%s  %s\n", shown, n, "karma", "lines",
               fleet ? "  fleet max" : "", "ip");
        for (size_t i = 0; i < shown; i++) {
            ipkey_format(&ips[i]->key, ip, sizeof(ip));
            printf("  %10d %8u", ips[i]->karma, ips[i]->karma_lines);
            if (fleet)
                printf("  %9u", ips[i]->karma_total_max);
            printf("  %s\n", ip);
        }
    }
    free(ips);
}

static void json_karma_ips(const struct report *r, const struct section *s)
{
    size_t n;
    char ip[64];
    const struct ient **ips = sorted_ips(r, true, &n);
    size_t shown = ips ? top_limit(r, n) : 0;
    json_member(s->json);
    printf("{\"distinct\":%zu,\"top\":[", n);
    for (size_t i = 0; i < shown; i++) {
        ipkey_format(&ips[i]->key, ip, sizeof(ip));
        printf("%s{\"ip\":\"%s\",\"karma\":%d,\"lines\":%u", i ? "," : "", ip, ips[i]->karma,
               ips[i]->karma_lines);
        if (r->karma_total_lines)
            printf(",\"karma_total_max\":%u", ips[i]->karma_total_max);
        printf("}");
    }
    printf("]}");
    free(ips);
}

static void csv_karma_ips(const struct report *r, const struct section *s)
{
    size_t n;
    char ip[64];
    const struct ient **ips = sorted_ips(r, true, &n);
    size_t shown = ips ? top_limit(r, n) : 0;
    for (size_t i = 0; i < shown; i++) {
        ipkey_format(&ips[i]->key, ip, sizeof(ip));
        csv_num(s->csv, ip, "", ips[i]->karma);
    }
    free(ips);
}

/* Past --max-ips the lightest IPs were evicted: the IP counts are then approximate. */
static void text_ip_table(const struct report *r, const struct section *s)
{
    (void)s;
    if (r->ips.evictions)
        printf("  (approximate: more IPs than --max-ips %zu; counts may be low by at most %llu)\n", r->ips.max,
               (unsigned long long)r->ips.evicted_max);
}

static void json_ip_table(const struct report *r, const struct section *s)
{
    json_member(s->json);
    printf("{\"max\":%zu,\"approximate\":%s,\"error_bound\":%llu}", r->ips.max, r->ips.evictions ? "true" : "false",
           (unsigned long long)r->ips.evicted_max);
}

static void csv_ip_table(const struct report *r, const struct section *s)
{
    if (r->ips.evictions)
        csv_num(s->csv, "ips", "error_bound", (long long)r->ips.evicted_max);
}

/* ---- diagnostics: "level\0msg" keys (report_count.c), every one shown ---- */

static void split_diagnostic(const struct sent *e, const char *k, size_t *level_len, const char **msg,
                             size_t *msg_len)
{
    *level_len = strnlen(k, e->len);
    *msg = k + *level_len + 1;
    *msg_len = e->len - *level_len - 1;
}

static void text_diagnostics(const struct report *r, const struct section *s)
{
    (void)s;
    if (r->diags.n == 0 && r->diags.overflow_total == 0)
        return;
    const struct sent **v = sorted(&r->diags);
    size_t nd = v ? r->diags.n : 0;
    printf("\ndiagnostics (%zu):\n  %10s %10s  %-7s  %s\n", nd, "count", "suppressed", "level", "message");
    for (size_t i = 0; i < nd; i++) {
        const char *k = strtab_key(&r->diags, v[i]), *msg;
        size_t ll, ml;
        split_diagnostic(v[i], k, &ll, &msg, &ml);
        printf("  %10llu %10lld  ", (unsigned long long)v[i]->total, (long long)v[i]->extra);
        put_escaped(stdout, k, ll);
        printf("%*s  ", ll < 7 ? (int)(7 - ll) : 0, "");
        put_escaped(stdout, msg, ml);
        if (v[i]->aux_len) {
            printf(" (first reason: ");
            put_escaped(stdout, r->diags.arena + v[i]->aux_off, v[i]->aux_len);
            printf(")");
        }
        putchar('\n');
    }
    free(v);
}

static void json_diagnostics(const struct report *r, const struct section *s)
{
    const struct sent **v = sorted(&r->diags);
    json_member(s->json);
    putchar('[');
    for (size_t i = 0; v && i < r->diags.n; i++) {
        const char *k = strtab_key(&r->diags, v[i]), *msg;
        size_t ll, ml;
        split_diagnostic(v[i], k, &ll, &msg, &ml);
        printf("%s{\"level\":", i ? "," : "");
        put_json(stdout, k, ll);
        printf(",\"msg\":");
        put_json(stdout, msg, ml);
        printf(",\"count\":%llu,\"suppressed\":%lld,\"reason\":", (unsigned long long)v[i]->total,
               (long long)v[i]->extra);
        if (v[i]->aux_len)
            put_json(stdout, r->diags.arena + v[i]->aux_off, v[i]->aux_len);
        else
            printf("null");
        putchar('}');
    }
    putchar(']');
    free(v);
}

static void csv_diagnostics(const struct report *r, const struct section *s)
{
    const struct sent **v = sorted(&r->diags);
    char num[32];
    for (size_t i = 0; v && i < r->diags.n; i++) {
        const char *k = strtab_key(&r->diags, v[i]), *msg;
        size_t ll, ml;
        split_diagnostic(v[i], k, &ll, &msg, &ml);
        snprintf(num, sizeof(num), "%llu", (unsigned long long)v[i]->total);
        csv_row(s->csv, msg, ml, k, ll, num);
        if (v[i]->extra) {
            snprintf(num, sizeof(num), "%lld", (long long)v[i]->extra);
            csv_row("diagnostic_suppressed", msg, ml, k, ll, num);
        }
    }
    free(v);
}

/* ---- connections per hour ---- */

static void text_hours(const struct report *r, const struct section *s)
{
    (void)s;
    char a[32];
    const struct hent **hours = sorted_hours(r);
    if (hours && r->hours.n) {
        printf("\nper hour:\n  %-16s %10s", "hour", "conns");
        verdict_header(r);
        putchar('\n');
        for (size_t i = 0; i < r->hours.n; i++) {
            hour_label(hours[i]->hour, a, sizeof(a));
            printf("  %-16s %10llu", a, (unsigned long long)hours[i]->total);
            verdict_cells(r, hours[i]->n);
            putchar('\n');
        }
        if (r->hours.overflow)
            printf("  (%llu connections in more hours than the table holds)\n",
                   (unsigned long long)r->hours.overflow);
    }
    free(hours);
}

static void json_hours(const struct report *r, const struct section *s)
{
    char a[32];
    const struct hent **hours = sorted_hours(r);
    json_member(s->json);
    putchar('[');
    for (size_t i = 0; hours && i < r->hours.n; i++) {
        hour_label(hours[i]->hour, a, sizeof(a));
        printf("%s{\"hour\":\"%s\",\"count\":%llu", i ? "," : "", a, (unsigned long long)hours[i]->total);
        for (int k = 0; k < VERDICTS; k++)
            printf(",\"%s\":%llu", verdict_name((enum verdict)k), (unsigned long long)hours[i]->n[k]);
        putchar('}');
    }
    putchar(']');
    json_member("hours_overflow");
    printf("%llu", (unsigned long long)r->hours.overflow);
    free(hours);
}

static void csv_hours(const struct report *r, const struct section *s)
{
    char a[32];
    const struct hent **hours = sorted_hours(r);
    for (size_t i = 0; hours && i < r->hours.n; i++) {
        hour_label(hours[i]->hour, a, sizeof(a));
        csv_num(s->csv, a, "all", (long long)hours[i]->total);
        for (int k = 0; k < VERDICTS; k++)
            if (hours[i]->n[k])
                csv_num(s->csv, a, verdict_name((enum verdict)k), (long long)hours[i]->n[k]);
    }
    free(hours);
    if (r->hours.overflow)
        csv_num("overflow", s->csv, "", (long long)r->hours.overflow);
}

/* ---- the first unparsable lines ---- */

static void text_unparsable(const struct report *r, const struct section *s)
{
    (void)s;
    if (r->bad == 0)
        return;
    printf("\nunparsable lines: %llu (the first %zu shown)\n", (unsigned long long)r->bad, r->nexamples);
    for (size_t i = 0; i < r->nexamples; i++) {
        const struct example *e = &r->examples[i];
        printf("  %s:%llu: %s: \"", r->inputs[e->input].name, (unsigned long long)e->line, e->why);
        put_escaped(stdout, e->text, e->len);
        printf("\"%s\n", e->full_len > e->len ? "..." : "");
    }
}

static void json_unparsable(const struct report *r, const struct section *s)
{
    json_member(s->json);
    putchar('[');
    for (size_t i = 0; i < r->nexamples; i++) {
        const struct example *e = &r->examples[i];
        printf("%s{\"input\":", i ? "," : "");
        put_json_str(stdout, r->inputs[e->input].name);
        printf(",\"line\":%llu,\"reason\":", (unsigned long long)e->line);
        put_json_str(stdout, e->why);
        printf(",\"text\":");
        put_json(stdout, e->text, e->len);
        printf(",\"length\":%zu}", e->full_len);
    }
    putchar(']');
}

static void csv_unparsable(const struct report *r, const struct section *s)
{
    for (size_t i = 0; i < r->nexamples; i++) {
        const struct example *e = &r->examples[i];
        char where[PATH_MAX + 32];
        snprintf(where, sizeof(where), "%s:%llu", r->inputs[e->input].name, (unsigned long long)e->line);
        fputs(s->csv, stdout);
        putchar(',');
        put_csv(stdout, where, strlen(where));
        putchar(',');
        put_csv(stdout, e->why, strlen(e->why));
        putchar(',');
        put_csv(stdout, e->text, e->len);
        putchar('\n');
    }
}

/* ---- the table ---- */

#define NAMED(json_member, csv_section) .json = json_member, .csv = csv_section
#define DRAWN_BY(text_emitter, json_emitter, csv_emitter)                                                \
    .text = text_emitter, .to_json = json_emitter, .to_csv = csv_emitter
#define WORDS(f, array) .counters = word_counters, .field = f, .words = offsetof(struct report, array)
#define STRINGS(strtab) DRAWN_BY(text_strtab, json_strtab, csv_strtab), .table = offsetof(struct report, strtab)

static const struct section report_sections[] = {
    {NAMED("summary", "summary"), DRAWN_BY(text_summary, json_summary, csv_summary), .counters = summary_counters},
    {NAMED("verdicts", "verdict"), DRAWN_BY(text_verdicts, json_counters, csv_counters),
     .counters = verdict_counters},
    {NAMED("percent", "percent"), DRAWN_BY(NULL, json_counters, csv_counters), .counters = percent_counters},
    {NAMED("match", "match"), DRAWN_BY(text_word_counters, json_counters, csv_counters), WORDS(LF_MATCH, match),
     .title = "p0f match"},
    {NAMED("fp", "fp"), DRAWN_BY(text_word_counters, json_counters, csv_counters), WORDS(LF_FP, fp),
     .title = "fingerprint source", .text_if_counted = true},
    {NAMED("action", "action"), DRAWN_BY(text_word_counters, json_counters, csv_counters),
     WORDS(LF_ACTION, action), .title = "refused by", .text_if_counted = true},
    {NAMED("cutoff", "cutoff"), DRAWN_BY(text_counter_rows, json_counters, csv_counters),
     .counters = cutoff_counters, .title = "cut off by the library after the MTA had the connection"},
    {NAMED("karma", "karma"), DRAWN_BY(NULL, json_counters, csv_counters), .counters = karma_counters},
    {NAMED("ms", "ms"), DRAWN_BY(NULL, json_counters, csv_counters), .counters = ms_counters},
    {NAMED("os", "os"), STRINGS(os), .title = "operating systems", .verdict_columns = true,
     .empty_label = "(not identified)"},
    {NAMED("genre", "genre"), STRINGS(genre), .title = "genres", .verdict_columns = true,
     .empty_label = "(not identified)"},
    {NAMED("rules", "rule"), DRAWN_BY(text_rules, json_rules, csv_rules)},
    {NAMED("blocked_ips", "blocked_ip"), DRAWN_BY(text_blocked_ips, json_blocked_ips, csv_blocked_ips)},
    {NAMED("karma_ips", "karma_ip"), DRAWN_BY(text_karma_ips, json_karma_ips, csv_karma_ips)},
    {NAMED("ip_table", "approximate"), DRAWN_BY(text_ip_table, json_ip_table, csv_ip_table)},
    {NAMED("reasons", "reason"), STRINGS(reasons), .title = "unknown and error reasons", .verdict_columns = true},
    {NAMED("exempt", "exempt"), STRINGS(exempts), .title = "exempt networks"},
    {NAMED("diagnostics", "diagnostic"), DRAWN_BY(text_diagnostics, json_diagnostics, csv_diagnostics)},
    {NAMED("hours", "hour"), DRAWN_BY(text_hours, json_hours, csv_hours)},
    {NAMED("unparsable_examples", "unparsable"), DRAWN_BY(text_unparsable, json_unparsable, csv_unparsable)},
};

void report_print(const struct report *r, enum report_format format)
{
    if (format == REPORT_HTML) {
        report_html(r);
        return;
    }
    if (format == REPORT_JSON)
        json_open();
    else if (format == REPORT_CSV)
        puts("section,key,subkey,value");
    for (size_t i = 0; i < sizeof(report_sections) / sizeof(report_sections[0]); i++) {
        const struct section *s = &report_sections[i];
        emitter *draw = format == REPORT_JSON ? s->to_json : format == REPORT_CSV ? s->to_csv : s->text;
        if (draw)
            draw(r, s);
    }
    if (format == REPORT_JSON)
        json_close();
}
