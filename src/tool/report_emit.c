/* The report's emitters' primitives: sorting the tables, the text, JSON and CSV forms of a
 * value, and the generic emitters that draw a group of counters or a top-N table of strings
 * from a section's parameters (report_out.h). Everything a log line brought (OS names, rules,
 * reasons, messages) is escaped for each output. */
#include <stdlib.h>
#include <string.h>

#include "output.h"
#include "report_out.h"

static const struct strtab *table_of(const struct report *r, const struct section *s)
{
    return (const struct strtab *)((const char *)r + s->table);
}

/* ---- sorting and small helpers ---- */

size_t top_limit(const struct report *r, size_t n)
{
    return r->top == 0 || r->top > n ? n : r->top;
}

static int by_total(const void *a, const void *b, void *table)
{
    const struct sent *x = *(const struct sent *const *)a, *y = *(const struct sent *const *)b;
    if (x->total != y->total)
        return x->total > y->total ? -1 : 1;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(strtab_key(table, x), strtab_key(table, y), n);
    if (c)
        return c;
    return x->len < y->len ? -1 : x->len > y->len;
}

const struct sent **sorted(const struct strtab *t)
{
    const struct sent **v = malloc((t->n + 1) * sizeof(*v));
    if (v == NULL)
        return NULL;
    for (size_t i = 0; i < t->n; i++)
        v[i] = &t->e[i];
    qsort_r(v, t->n, sizeof(*v), by_total, (void *)t);
    return v;
}

static int by_blocks(const void *a, const void *b)
{
    const struct ient *x = *(const struct ient *const *)a, *y = *(const struct ient *const *)b;
    if (x->blocks != y->blocks)
        return x->blocks > y->blocks ? -1 : 1;
    if (x->key.family != y->key.family)
        return x->key.family - y->key.family;
    return memcmp(x->key.ip, y->key.ip, 16);
}

static int by_karma(const void *a, const void *b)
{
    const struct ient *x = *(const struct ient *const *)a, *y = *(const struct ient *const *)b;
    if (x->karma != y->karma)
        return x->karma < y->karma ? -1 : 1;
    if (x->karma_total_max != y->karma_total_max)   /* the fleet's count: highest first */
        return x->karma_total_max > y->karma_total_max ? -1 : 1;
    if (x->key.family != y->key.family)
        return x->key.family - y->key.family;
    return memcmp(x->key.ip, y->key.ip, 16);
}

/* The IPs with blocks (or karma), sorted; *n how many. */
const struct ient **sorted_ips(const struct report *r, bool karma, size_t *n)
{
    const struct ient **v = malloc((r->ips.n + 1) * sizeof(*v));
    *n = 0;
    if (v == NULL)
        return NULL;
    for (size_t i = 0; i < r->ips.nslots; i++) {
        const struct ient *e = &r->ips.e[i];
        if (e->used && (karma ? e->karma != 0 || e->karma_total_max != 0 : e->blocks != 0))
            v[(*n)++] = e;
    }
    qsort(v, *n, sizeof(*v), karma ? by_karma : by_blocks);
    return v;
}

static int by_hour(const void *a, const void *b)
{
    const struct hent *x = *(const struct hent *const *)a, *y = *(const struct hent *const *)b;
    return x->hour < y->hour ? -1 : x->hour > y->hour;
}

const struct hent **sorted_hours(const struct report *r)
{
    const struct hent **v = malloc((r->hours.n + 1) * sizeof(*v));
    size_t n = 0;
    if (v == NULL)
        return NULL;
    for (size_t i = 0; i < r->hours.nslots; i++)
        if (r->hours.e[i].used)
            v[n++] = &r->hours.e[i];
    qsort(v, n, sizeof(*v), by_hour);
    return v;
}

uint64_t ms_percentile(const struct report *r, unsigned pct)
{
    if (r->ms_count == 0)
        return 0;
    uint64_t want = (r->ms_count * pct + 99) / 100, seen = 0;
    if (want == 0)
        want = 1;
    for (size_t i = 0; i < MS_BUCKETS; i++) {
        seen += r->ms_hist[i];
        if (seen >= want)
            return i;
    }
    return r->ms_max;
}

double percent(uint64_t part, uint64_t whole)
{
    return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

void hour_label(int64_t hour, char *buf, size_t size)
{
    char full[32];
    format_wall(hour * 3600, full, sizeof(full));
    snprintf(buf, size, "%.16s", full);
}

/* "rule\0at" keys (report_count.c): the rule, and where it is ("" when not said). */
void split_rule(const struct strtab *t, const struct sent *e, const char **rule, size_t *rule_len,
                       const char **at, size_t *at_len)
{
    *rule = strtab_key(t, e);
    *rule_len = strnlen(*rule, e->len);
    *at = *rule_len < e->len ? *rule + *rule_len + 1 : "";
    *at_len = *rule_len < e->len ? e->len - *rule_len - 1 : 0;
}

/* ---- the three outputs' primitives ---- */

/* The verdict columns of the text tables: allow and block, and every other verdict that
 * occurs (greylisting is off on most machines). */
static bool column(const struct report *r, int v)
{
    return v == VERDICT_ALLOW || v == VERDICT_BLOCK || r->verdict[v] != 0;
}

void verdict_header(const struct report *r)
{
    for (int v = 0; v < VERDICTS; v++)
        if (column(r, v))
            printf(" %8.8s", verdict_name((enum verdict)v));
}

void verdict_cells(const struct report *r, const uint64_t *n)
{
    for (int v = 0; v < VERDICTS; v++)
        if (column(r, v))
            printf(" %8llu", (unsigned long long)n[v]);
}

/* A key for humans: "(empty)" for the empty string, escapes otherwise. */
void put_key(FILE *f, const char *k, size_t n)
{
    if (n == 0)
        fputs("(empty)", f);
    else
        put_escaped(f, k, n);
}

/* No member written yet: the next one needs no comma. */
static bool json_first;

void json_open(void)
{
    putchar('{');
    json_first = true;
}

void json_member(const char *name)
{
    printf("%s\"%s\":", json_first ? "" : ",", name);
    json_first = false;
}

void json_close(void)
{
    printf("}\n");
}

/* section,key,subkey,value */
void csv_row(const char *section, const char *key, size_t klen, const char *sub, size_t slen, const char *value)
{
    fputs(section, stdout);
    putchar(',');
    put_csv(stdout, key, klen);
    putchar(',');
    put_csv(stdout, sub, slen);
    putchar(',');
    fputs(value, stdout);
    putchar('\n');
}

void csv_num(const char *section, const char *key, const char *sub, long long value)
{
    char num[32];
    snprintf(num, sizeof(num), "%lld", value);
    csv_row(section, key, strlen(key), sub, strlen(sub), num);
}

void json_counter_value(const struct counter *c)
{
    if (c->kind == COUNT)
        printf("%llu", (unsigned long long)c->n);
    else if (c->kind == SIGNED)
        printf("%lld", (long long)c->s);
    else
        printf("%.2f", c->pct);
}

/* "name":{"counter":value,...} */
void json_counters(const struct report *r, const struct section *s)
{
    struct counter c[COUNTERS_MAX];
    size_t n = s->counters(r, s, c);
    if (n == 0)
        return;
    json_member(s->json);
    putchar('{');
    for (size_t i = 0; i < n; i++) {
        printf("%s\"%s\":", i ? "," : "", c[i].name);
        json_counter_value(&c[i]);
    }
    putchar('}');
}

/* section,counter,,value */
void csv_counters(const struct report *r, const struct section *s)
{
    struct counter c[COUNTERS_MAX];
    size_t n = s->counters(r, s, c);
    for (size_t i = 0; i < n; i++) {
        if (c[i].kind == PERCENT) {
            char num[32];
            snprintf(num, sizeof(num), "%.2f", c[i].pct);
            csv_row(s->csv, c[i].name, strlen(c[i].name), "", 0, num);
        } else {
            csv_num(s->csv, c[i].name, "", c[i].kind == COUNT ? (long long)c[i].n : (long long)c[i].s);
        }
    }
}

/* "  title: word N, word N" (the known words: "other" is for the machine-readable outputs). */
void text_word_counters(const struct report *r, const struct section *s)
{
    struct counter c[COUNTERS_MAX];
    size_t n = s->counters(r, s, c);
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += c[i].n;
    if (s->text_if_counted && total == 0)
        return;
    printf("  %s:", s->title);
    for (size_t i = 0; i + 1 < n; i++)
        printf("%s %s %llu", i ? "," : "", c[i].name, (unsigned long long)c[i].n);
    putchar('\n');
}

/* "  title:" and a line per counter, by label. */
void text_counter_rows(const struct report *r, const struct section *s)
{
    struct counter c[COUNTERS_MAX];
    size_t n = s->counters(r, s, c);
    if (n == 0)
        return;
    printf("  %s:\n", s->title);
    for (size_t i = 0; i < n; i++)
        printf("    %-48s %10llu\n", c[i].label, (unsigned long long)c[i].n);
}

/* ---- top-N tables of strings ---- */

void text_strtab(const struct report *r, const struct section *s)
{
    const struct strtab *t = table_of(r, s);
    if (t->n == 0 && t->overflow_total == 0)
        return;
    const struct sent **v = sorted(t);
    if (v == NULL)
        return;
    size_t shown = top_limit(r, t->n);
    printf("\n%s (%zu of %zu):\n", s->title, shown, t->n);
    if (s->verdict_columns) {
        printf("  %10s", "count");
        verdict_header(r);
        printf("  value\n");
    }
    for (size_t i = 0; i < shown; i++) {
        const struct sent *e = v[i];
        printf("  %10llu", (unsigned long long)e->total);
        if (s->verdict_columns)
            verdict_cells(r, e->n);
        printf("  ");
        if (e->len == 0 && s->empty_label)
            fputs(s->empty_label, stdout);
        else
            put_key(stdout, strtab_key(t, e), e->len);
        putchar('\n');
    }
    if (t->overflow_total)
        printf("  %10llu  (more distinct values than the table holds)\n", (unsigned long long)t->overflow_total);
    free(v);
}

void json_strtab(const struct report *r, const struct section *s)
{
    const struct strtab *t = table_of(r, s);
    const struct sent **v = sorted(t);
    size_t shown = v ? top_limit(r, t->n) : 0;
    json_member(s->json);
    printf("{\"distinct\":%zu,\"overflow\":%llu,\"top\":[", t->n, (unsigned long long)t->overflow_total);
    for (size_t i = 0; i < shown; i++) {
        printf("%s{\"value\":", i ? "," : "");
        put_json(stdout, strtab_key(t, v[i]), v[i]->len);
        printf(",\"count\":%llu", (unsigned long long)v[i]->total);
        if (s->verdict_columns)
            for (int k = 0; k < VERDICTS; k++)
                printf(",\"%s\":%llu", verdict_name((enum verdict)k), (unsigned long long)v[i]->n[k]);
        putchar('}');
    }
    printf("]}");
    free(v);
}

/* section,value,all,total and section,value,verdict,count for each verdict that occurs. */
void csv_strtab(const struct report *r, const struct section *s)
{
    const struct strtab *t = table_of(r, s);
    const struct sent **v = sorted(t);
    size_t shown = v ? top_limit(r, t->n) : 0;
    char num[32];
    for (size_t i = 0; i < shown; i++) {
        const char *k = strtab_key(t, v[i]);
        snprintf(num, sizeof(num), "%llu", (unsigned long long)v[i]->total);
        csv_row(s->csv, k, v[i]->len, "all", 3, num);
        for (int j = 0; j < VERDICTS; j++)
            if (v[i]->n[j]) {
                const char *verdict = verdict_name((enum verdict)j);
                snprintf(num, sizeof(num), "%llu", (unsigned long long)v[i]->n[j]);
                csv_row(s->csv, k, v[i]->len, verdict, strlen(verdict), num);
            }
    }
    if (t->overflow_total)
        csv_num("overflow", s->csv, "", (long long)t->overflow_total);
    free(v);
}

