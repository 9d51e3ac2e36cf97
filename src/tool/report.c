/* p0fshim report [FILE...]: summarises the shim's syslog lines, in the manner of
 * Postfix's pflogsumm. Regular files are mapped, pipes and `gzip -dc` read in 4 MiB
 * blocks; no line is copied or allocated; the tables have ceilings. Every line is
 * counted as the shim's, another program's, or unparsable (and the first few of those
 * are shown): none is dropped silently. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "policy.h"
#include "report.h"
#include "tool.h"

extern char **environ;

#define READ_BUF (4u << 20)
#define MS_BUCKETS 10000
#define EXAMPLE_TEXT_MAX 160
#define STR_KEYS_MAX 50000
#define STR_ARENA_MAX (8u << 20)
#define IPS_MAX_DEFAULT 1000000
#define HOURS_MAX 200000
#define TOP_DEFAULT 10
#define SHOW_BAD_DEFAULT 5

static const char *const match_words[] = {"exact", "generic", "fuzzy", "other"};
static const char *const action_words[] = {"close", "reject", "tempfail", "other"};
/* The count of match= and action= words the table does not know. */
#define OTHER_WORD 3

/* Refusals the library carried out itself after the MTA already had the connection (async
 * mode, or a hold that timed out), that could no longer stop everything: cutoff= on a block
 * or greylist line. One row per counter; the text, JSON and CSV outputs all walk this table.
 * cutoff=in_time, the usual and effective case, is no row: these are the ones to look at. */
static const struct cutoff_row {
    const char *key;         /* JSON and CSV */
    const char *label;       /* text */
    int verdict;
    enum cutoff cutoff;
} cutoff_rows[] = {
    {"blocks_too_late", "block too late (the session was already over)", VERDICT_BLOCK, CUTOFF_TOO_LATE},
    {"blocks_after_client_data", "block after the client had sent data", VERDICT_BLOCK, CUTOFF_AFTER_DATA},
    {"greylists_too_late", "greylist too late (the session was already over)", VERDICT_GREYLIST, CUTOFF_TOO_LATE},
    {"greylists_after_client_data", "greylist after the client had sent data", VERDICT_GREYLIST, CUTOFF_AFTER_DATA},
};
#define CUTOFF_ROWS (sizeof(cutoff_rows) / sizeof(cutoff_rows[0]))

struct example {
    size_t input;
    uint64_t line;
    const char *why;
    char text[EXAMPLE_TEXT_MAX + 1];
    size_t len;
    size_t full_len;
};

struct input {
    const char *name;
    uint64_t lines, bytes;
    char error[300];
};

struct report {
    /* options */
    bool has_since, has_until, json, csv;
    int64_t since, until;
    size_t top, show_bad;
    int fixed_year;
    /* the input being read */
    struct input *inputs;
    size_t ninputs, cur;
    struct time_ctx tc;
    uint64_t lineno;
    /* counts */
    /* lines = shim_lines + other + not_syslog; shim_lines = connection lines + diagnostics +
     * bad_shim + outside + undated_left_out; bad = bad_shim + not_syslog */
    uint64_t lines, shim_lines, conn_lines, connections, diagnostics, other, bad, bad_shim, not_syslog;
    uint64_t undated, outside, undated_left_out;
    uint64_t verdict[VERDICTS], match[4], action[4], karma_lines;
    /* saw_cutoff: a block or greylist line said cutoff=, so the log is new enough for the
     * cutoff counters to mean something (an older log has none, and shows none) */
    uint64_t cutoff[CUTOFF_ROWS];
    bool saw_cutoff;
    int64_t karma_sum;
    bool have_period;
    int64_t first_t, last_t;
    uint64_t *ms_hist, ms_over, ms_count, ms_max;
    struct strtab os, genre, rules, reasons, exempts, diags;
    struct iptab ips;
    struct hourtab hours;
    struct example *examples;
    size_t nexamples;
    bool input_errors;
};

static void report_bad(struct report *r, const char *why, const char *p, size_t n)
{
    r->bad++;
    if (r->nexamples >= r->show_bad)
        return;
    struct example *e = &r->examples[r->nexamples++];
    e->input = r->cur;
    e->line = r->lineno;
    e->why = why;
    e->full_len = n;
    e->len = n < EXAMPLE_TEXT_MAX ? n : EXAMPLE_TEXT_MAX;
    memcpy(e->text, p, e->len);
}

/* The key of a value: the bytes as written, or unescaped into buf. */
static const char *key_of(const struct field *f, char *buf, size_t *len)
{
    if (!f->escaped) {
        *len = f->len;
        return f->v;
    }
    *len = unescape_value(f->v, f->len, buf);
    return buf;
}

static void count_connection(struct report *r, const struct message *m, const struct line_info *li, uint64_t w)
{
    static char buf[2 * REPORT_MSG_MAX + 2];
    const char *k;
    size_t klen;
    int v = m->verdict;

    r->connections += w;
    r->verdict[v] += w;
    if (li->dated) {
        int64_t hour = li->t >= 0 ? li->t / 3600 : (li->t - 3599) / 3600;
        hourtab_add(&r->hours, hour, v, w);
        if (!r->have_period || li->t < r->first_t)
            r->first_t = li->t;
        if (!r->have_period || li->t > r->last_t)
            r->last_t = li->t;
        r->have_period = true;
    } else {
        r->undated += w;
    }
    if (m->has_ms) {
        if (m->ms < MS_BUCKETS)
            r->ms_hist[m->ms] += w;
        else
            r->ms_over += w;
        if ((uint64_t)m->ms > r->ms_max)
            r->ms_max = (uint64_t)m->ms;
        r->ms_count += w;
    }
    if (has_field(m, LF_OS)) {
        k = key_of(&m->f[LF_OS], buf, &klen);
        strtab_add(&r->os, k, klen, v, w);
    }
    if (has_field(m, LF_GENRE)) {
        k = key_of(&m->f[LF_GENRE], buf, &klen);
        strtab_add(&r->genre, k, klen, v, w);
    }
    if (has_field(m, LF_MATCH)) {
        int i = log_field_word_index(LF_MATCH, m->f[LF_MATCH].v, m->f[LF_MATCH].len);
        r->match[i < 0 ? OTHER_WORD : i] += w;
    }
    if (has_field(m, LF_ACTION)) {
        int i = log_field_word_index(LF_ACTION, m->f[LF_ACTION].v, m->f[LF_ACTION].len);
        r->action[i < 0 ? OTHER_WORD : i] += w;
    }
    if (m->cutoff != CUTOFF_NONE && (v == VERDICT_BLOCK || v == VERDICT_GREYLIST)) {
        r->saw_cutoff = true;
        for (size_t i = 0; i < CUTOFF_ROWS; i++)
            if (cutoff_rows[i].verdict == v && cutoff_rows[i].cutoff == m->cutoff)
                r->cutoff[i] += w;
    }
    if (v == VERDICT_BLOCK && has_field(m, LF_RULE)) {
        size_t at_len = 0;
        k = key_of(&m->f[LF_RULE], buf, &klen);
        if (k != buf)
            memcpy(buf, k, klen);
        buf[klen] = '\0';
        if (has_field(m, LF_RULE_AT)) {
            const char *at = key_of(&m->f[LF_RULE_AT], buf + klen + 1, &at_len);
            if (at != buf + klen + 1)
                memcpy(buf + klen + 1, at, at_len);
        }
        strtab_add(&r->rules, buf, klen + 1 + at_len, v, w);
    }
    if (has_field(m, LF_REASON)) {
        k = key_of(&m->f[LF_REASON], buf, &klen);
        strtab_add(&r->reasons, k, klen, v, w);
    }
    if (has_field(m, LF_EXEMPT)) {
        k = key_of(&m->f[LF_EXEMPT], buf, &klen);
        strtab_add(&r->exempts, k, klen, v, w);
    }
    int64_t karma = 0;
    if (m->has_karma && m->karma) {
        karma = m->karma * (int64_t)w;
        r->karma_lines += w;
        r->karma_sum += karma;
    }
    if (v == VERDICT_BLOCK || karma)
        iptab_add(&r->ips, &m->remote, v == VERDICT_BLOCK ? (uint32_t)w : 0, karma, karma ? (uint32_t)w : 0);
}

static void count_diagnostic(struct report *r, const struct message *m, uint64_t w)
{
    static char buf[2 * REPORT_MSG_MAX + 2], reason[REPORT_MSG_MAX];
    size_t llen, mlen, rlen;
    const char *level = m->f[LF_LEVEL].v;
    llen = m->f[LF_LEVEL].len;
    memcpy(buf, level, llen);
    buf[llen] = '\0';
    const char *msg = key_of(&m->f[LF_MSG], buf + llen + 1, &mlen);
    if (msg != buf + llen + 1)
        memcpy(buf + llen + 1, msg, mlen);
    r->diagnostics += w;
    struct sent *e = strtab_add(&r->diags, buf, llen + 1 + mlen, VERDICT_ERROR, w);
    if (e) {
        e->extra += m->suppressed * (int64_t)w;
        if (has_field(m, LF_REASON)) {
            const char *why = key_of(&m->f[LF_REASON], reason, &rlen);
            strtab_set_aux(&r->diags, e, why, rlen);
        }
    }
}

static void process_line(struct report *r, const char *p, size_t n, bool overlong)
{
    struct line_info li;
    struct message m;
    const char *why;

    r->lines++;
    r->lineno++;
    r->inputs[r->cur].lines++;
    classify_line(&r->tc, p, n, &li);
    if (li.kind == LINE_OTHER) {
        r->other++;
        return;
    }
    if (li.kind == LINE_BAD) {
        r->not_syslog++;
        report_bad(r, li.why, p, n);
        return;
    }
    r->shim_lines++;
    if (overlong) {
        r->bad_shim++;
        report_bad(r, "line longer than 16 KiB", p, n);
        return;
    }
    if (r->has_since || r->has_until) {
        if (!li.dated) {
            r->undated_left_out++;
            return;
        }
        if ((r->has_since && li.t < r->since) || (r->has_until && li.t > r->until)) {
            r->outside++;
            return;
        }
    }
    if (parse_message(li.msg, li.msg_len, &m, &why) != 0) {
        r->bad_shim++;
        report_bad(r, why, p, n);
        return;
    }
    if (m.kind == MSG_DIAGNOSTIC) {
        count_diagnostic(r, &m, li.repeat);
    } else {
        r->conn_lines++;
        count_connection(r, &m, &li, li.repeat);
    }
}

/* Lines of a mapped file. The pages behind are given back every 64 MiB, so that the
 * resident size stays small however big the file is (they stay in the page cache). */
#define RELEASE_EVERY (64u << 20)

static void process_all(struct report *r, const char *base, size_t n)
{
    const char *p = base, *end = base + n, *released = base;
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = (size_t)((nl ? nl : end) - p);
        if (len > REPORT_LINE_MAX)
            process_line(r, p, REPORT_LINE_MAX, true);
        else
            process_line(r, p, len, false);
        if (nl == NULL)
            break;
        p = nl + 1;
        if ((size_t)(p - released) >= RELEASE_EVERY) {
            const char *upto = (const char *)((uintptr_t)p & ~(page - 1));
            madvise((void *)released, (size_t)(upto - released), MADV_DONTNEED);
            released = upto;
        }
    }
}

static const char *compression_of(const unsigned char *b, size_t n);

/* check_magic: standard input, where a compressed stream can only be refused. */
static int process_stream(struct report *r, int fd, char *buf, bool check_magic)
{
    size_t have = 0;
    bool skipping = false;
    for (;;) {
        ssize_t got = read(fd, buf + have, READ_BUF - have);
        if (got > 0 && check_magic) {
            /* Enough bytes to tell: a short first read is completed before the check. */
            if (have + (size_t)got < 6) {
                have += (size_t)got;
                r->inputs[r->cur].bytes += (uint64_t)got;
                continue;
            }
            check_magic = false;
            const char *comp = compression_of((const unsigned char *)buf, have + (size_t)got);
            if (comp) {
                snprintf(r->inputs[r->cur].error, sizeof(r->inputs[r->cur].error),
                         "standard input is %s-compressed: give the file name instead (or decompress it first)",
                         comp);
                return 0;
            }
        }
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return -errno;
        if (got == 0)
            break;
        r->inputs[r->cur].bytes += (uint64_t)got;
        have += (size_t)got;
        size_t start = 0;
        const char *nl;
        while ((nl = memchr(buf + start, '\n', have - start)) != NULL) {
            size_t len = (size_t)(nl - (buf + start));
            if (skipping)
                skipping = false;
            else if (len > REPORT_LINE_MAX)
                process_line(r, buf + start, REPORT_LINE_MAX, true);
            else
                process_line(r, buf + start, len, false);
            start = (size_t)(nl - buf) + 1;
        }
        size_t rest = have - start;
        if (skipping) {
            have = 0;
        } else if (rest > REPORT_LINE_MAX) {
            process_line(r, buf + start, REPORT_LINE_MAX, true);
            skipping = true;
            have = 0;
        } else {
            memmove(buf, buf + start, rest);
            have = rest;
        }
    }
    if (have && !skipping)
        process_line(r, buf, have, false);
    return 0;
}

static void set_reference_time(struct report *r, time_t when)
{
    struct tm tm;
    if (localtime_r(&when, &tm) == NULL)
        memset(&tm, 0, sizeof(tm));
    r->tc.fixed_year = r->fixed_year;
    r->tc.ref_year = tm.tm_year + 1900;
    r->tc.ref_mon = tm.tm_mon + 1;
    r->tc.last_stamp_len = 0;
}

static const char *compression_of(const unsigned char *b, size_t n)
{
    if (n >= 2 && b[0] == 0x1f && b[1] == 0x8b)
        return "gzip";
    if (n >= 6 && memcmp(b, "\xfd" "7zXZ\0", 6) == 0)
        return "xz";
    if (n >= 3 && memcmp(b, "BZh", 3) == 0)
        return "bzip2";
    if (n >= 4 && memcmp(b, "\x28\xb5\x2f\xfd", 4) == 0)
        return "zstd";
    return NULL;
}

static int gunzip(struct report *r, int fd, char *buf)
{
    int pipefd[2];
    pid_t pid;
    posix_spawn_file_actions_t fa;
    char *argv[] = {"gzip", "-dc", NULL};
    struct input *in = &r->inputs[r->cur];

    if (pipe2(pipefd, O_CLOEXEC) != 0) {
        snprintf(in->error, sizeof(in->error), "pipe: %s", strerror(errno));
        return -1;
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fd, 0);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
    int rc = posix_spawnp(&pid, "gzip", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(pipefd[1]);
    if (rc != 0) {
        close(pipefd[0]);
        snprintf(in->error, sizeof(in->error), "cannot run gzip -dc: %s", strerror(rc));
        return -1;
    }
    rc = process_stream(r, pipefd[0], buf, false);
    close(pipefd[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (rc != 0) {
        snprintf(in->error, sizeof(in->error), "reading gzip -dc: %s", strerror(-rc));
        return -1;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        snprintf(in->error, sizeof(in->error), "gzip -dc failed (%s %d): the file is damaged or truncated",
                 WIFEXITED(status) ? "exit status" : "signal",
                 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        return -1;
    }
    return 0;
}

static int run_input(struct report *r, const char *path, char *buf)
{
    struct input *in = &r->inputs[r->cur];
    struct stat st;
    int fd = path ? open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY) : 0;
    int rc = 0;

    r->lineno = 0;
    if (fd < 0) {
        snprintf(in->error, sizeof(in->error), "%s", strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) != 0) {
        snprintf(in->error, sizeof(in->error), "%s", strerror(errno));
        rc = -1;
        goto out;
    }
    if (S_ISDIR(st.st_mode)) {
        snprintf(in->error, sizeof(in->error), "is a directory");
        rc = -1;
        goto out;
    }
    set_reference_time(r, S_ISREG(st.st_mode) ? st.st_mtime : time(NULL));
    if (S_ISREG(st.st_mode)) {
        unsigned char magic[6];
        ssize_t n = pread(fd, magic, sizeof(magic), 0);
        const char *comp = n > 0 ? compression_of(magic, (size_t)n) : NULL;
        if (comp && strcmp(comp, "gzip") == 0) {
            rc = gunzip(r, fd, buf);
            goto out;
        }
        if (comp) {
            snprintf(in->error, sizeof(in->error), "%s-compressed: decompress it first (e.g. %scat FILE | "
                     "p0fshim report)", comp, comp[0] == 'g' ? "z" : comp[0] == 'b' ? "bz" : comp);
            rc = -1;
            goto out;
        }
        if (st.st_size == 0)
            goto out;
        void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map != MAP_FAILED) {
            madvise(map, (size_t)st.st_size, MADV_SEQUENTIAL);
            in->bytes = (uint64_t)st.st_size;
            process_all(r, map, (size_t)st.st_size);
            munmap(map, (size_t)st.st_size);
            goto out;
        }
    }
    /* A pipe or a terminal: a compressed stream cannot be handed to gzip after the fact. */
    rc = process_stream(r, fd, buf, true);
    if (rc != 0) {
        snprintf(in->error, sizeof(in->error), "%s", strerror(-rc));
        rc = -1;
    }
out:
    if (path)
        close(fd);
    return rc;
}

/* ---- output ---- */

static size_t g_top_limit(const struct report *r, size_t n)
{
    return r->top == 0 || r->top > n ? n : r->top;
}

static const struct strtab *g_sort_table;

static int by_total(const void *a, const void *b)
{
    const struct sent *x = *(const struct sent *const *)a, *y = *(const struct sent *const *)b;
    if (x->total != y->total)
        return x->total > y->total ? -1 : 1;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(strtab_key(g_sort_table, x), strtab_key(g_sort_table, y), n);
    if (c)
        return c;
    return x->len < y->len ? -1 : x->len > y->len;
}

static const struct sent **sorted(const struct strtab *t)
{
    const struct sent **v = malloc((t->n + 1) * sizeof(*v));
    if (v == NULL)
        return NULL;
    for (size_t i = 0; i < t->n; i++)
        v[i] = &t->e[i];
    g_sort_table = t;
    qsort(v, t->n, sizeof(*v), by_total);
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
    if (x->key.family != y->key.family)
        return x->key.family - y->key.family;
    return memcmp(x->key.ip, y->key.ip, 16);
}

/* The IPs with blocks (or karma), sorted; *n how many. */
static const struct ient **sorted_ips(const struct report *r, bool karma, size_t *n)
{
    const struct ient **v = malloc((r->ips.n + 1) * sizeof(*v));
    *n = 0;
    if (v == NULL)
        return NULL;
    for (size_t i = 0; i < r->ips.nslots; i++) {
        const struct ient *e = &r->ips.e[i];
        if (e->used && (karma ? e->karma != 0 : e->blocks != 0))
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

static const struct hent **sorted_hours(const struct report *r)
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

static uint64_t ms_percentile(const struct report *r, unsigned pct)
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

static double percent(uint64_t part, uint64_t whole)
{
    return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

static void hour_label(int64_t hour, char *buf, size_t size)
{
    char full[32];
    format_wall(hour * 3600, full, sizeof(full));
    snprintf(buf, size, "%.16s", full);
}

/* The verdict columns of the text tables: allow and block, and every other verdict that
 * occurs (greylisting is off on most machines). */
static bool column(const struct report *r, int v)
{
    return v == VERDICT_ALLOW || v == VERDICT_BLOCK || r->verdict[v] != 0;
}

static void verdict_header(const struct report *r)
{
    for (int v = 0; v < VERDICTS; v++)
        if (column(r, v))
            printf(" %8.8s", verdict_name((enum verdict)v));
}

static void verdict_cells(const struct report *r, const uint64_t *n)
{
    for (int v = 0; v < VERDICTS; v++)
        if (column(r, v))
            printf(" %8llu", (unsigned long long)n[v]);
}

/* A key for humans: "(not identified)" for the empty genre, escapes otherwise. */
static void put_key(FILE *f, const char *k, size_t n)
{
    if (n == 0)
        fputs("(empty)", f);
    else
        put_escaped(f, k, n);
}

static void text_strtab(const struct report *r, const char *title, const struct strtab *t, bool verdicts,
                        const char *empty_label)
{
    if (t->n == 0 && t->overflow_total == 0)
        return;
    const struct sent **v = sorted(t);
    if (v == NULL)
        return;
    size_t shown = g_top_limit(r, t->n);
    printf("\n%s (%zu of %zu):\n", title, shown, t->n);
    if (verdicts) {
        printf("  %10s", "count");
        verdict_header(r);
        printf("  value\n");
    }
    for (size_t i = 0; i < shown; i++) {
        const struct sent *e = v[i];
        printf("  %10llu", (unsigned long long)e->total);
        if (verdicts)
            verdict_cells(r, e->n);
        printf("  ");
        if (e->len == 0 && empty_label)
            fputs(empty_label, stdout);
        else
            put_key(stdout, strtab_key(t, e), e->len);
        putchar('\n');
    }
    if (t->overflow_total)
        printf("  %10llu  (more distinct values than the table holds)\n", (unsigned long long)t->overflow_total);
    free(v);
}

static void print_text(const struct report *r)
{
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

    printf("\nverdicts:\n");
    for (int v = 0; v < VERDICTS; v++)
        printf("  %-13s %10llu %6.1f%%\n", verdict_name((enum verdict)v), (unsigned long long)r->verdict[v],
               percent(r->verdict[v], r->connections));
    printf("  unknown rate %.1f%%, error rate %.1f%%, block rate %.1f%%\n",
           percent(r->verdict[VERDICT_UNKNOWN], r->connections), percent(r->verdict[VERDICT_ERROR], r->connections),
           percent(r->verdict[VERDICT_BLOCK], r->connections));
    printf("  karma: %llu connections with karma, sum %lld\n", (unsigned long long)r->karma_lines,
           (long long)r->karma_sum);
    if (r->ms_count)
        printf("  verdict time: median %llu ms, 95th percentile %llu ms, max %llu ms\n",
               (unsigned long long)ms_percentile(r, 50), (unsigned long long)ms_percentile(r, 95),
               (unsigned long long)r->ms_max);
    printf("  p0f match: exact %llu, generic %llu, fuzzy %llu\n", (unsigned long long)r->match[0],
           (unsigned long long)r->match[1], (unsigned long long)r->match[2]);
    if (r->action[0] + r->action[1] + r->action[2] + r->action[3])
        printf("  refused by: close %llu, reject %llu, tempfail %llu\n", (unsigned long long)r->action[0],
               (unsigned long long)r->action[1], (unsigned long long)r->action[2]);
    if (r->saw_cutoff) {
        printf("  cut off by the library after the MTA had the connection:\n");
        for (size_t i = 0; i < CUTOFF_ROWS; i++)
            printf("    %-48s %10llu\n", cutoff_rows[i].label, (unsigned long long)r->cutoff[i]);
    }

    text_strtab(r, "operating systems", &r->os, true, "(not identified)");
    text_strtab(r, "genres", &r->genre, true, "(not identified)");

    if (r->rules.n || r->rules.overflow_total) {
        const struct sent **v = sorted(&r->rules);
        size_t shown = v ? g_top_limit(r, r->rules.n) : 0;
        printf("\nblocked by rule (%zu of %zu):\n", shown, r->rules.n);
        for (size_t i = 0; i < shown; i++) {
            const char *k = strtab_key(&r->rules, v[i]);
            size_t rl = strnlen(k, v[i]->len);
            printf("  %10llu  ", (unsigned long long)v[i]->total);
            put_key(stdout, k, rl);
            if (rl + 1 < v[i]->len) {
                printf("  at ");
                put_escaped(stdout, k + rl + 1, v[i]->len - rl - 1);
            }
            putchar('\n');
        }
        if (r->rules.overflow_total)
            printf("  %10llu  (more distinct rules than the table holds)\n",
                   (unsigned long long)r->rules.overflow_total);
        free(v);
    }

    size_t n;
    char ip[64];
    const struct ient **ips = sorted_ips(r, false, &n);
    if (ips && n) {
        size_t shown = g_top_limit(r, n);
        printf("\ntop blocked IPs (%zu of %zu):\n", shown, n);
        for (size_t i = 0; i < shown; i++) {
            ipkey_format(&ips[i]->key, ip, sizeof(ip));
            printf("  %10u  %s\n", ips[i]->blocks, ip);
        }
    }
    free(ips);
    ips = sorted_ips(r, true, &n);
    if (ips && n) {
        size_t shown = g_top_limit(r, n);
        printf("\nkarma per IP (%zu of %zu, most negative first):\n  %10s %8s  %s\n", shown, n, "karma", "lines",
               "ip");
        for (size_t i = 0; i < shown; i++) {
            ipkey_format(&ips[i]->key, ip, sizeof(ip));
            printf("  %10d %8u  %s\n", ips[i]->karma, ips[i]->karma_lines, ip);
        }
    }
    free(ips);
    if (r->ips.evictions)
        printf("  (approximate: more IPs than --max-ips %zu; counts may be low by at most %llu)\n", r->ips.max,
               (unsigned long long)r->ips.evicted_max);

    text_strtab(r, "unknown and error reasons", &r->reasons, true, NULL);
    text_strtab(r, "exempt networks", &r->exempts, false, NULL);

    if (r->diags.n || r->diags.overflow_total) {
        const struct sent **v = sorted(&r->diags);
        size_t nd = v ? r->diags.n : 0;
        printf("\ndiagnostics (%zu):\n  %10s %10s  %-7s  %s\n", nd, "count", "suppressed", "level", "message");
        for (size_t i = 0; i < nd; i++) {
            const char *k = strtab_key(&r->diags, v[i]);
            size_t ll = strnlen(k, v[i]->len);
            printf("  %10llu %10lld  ", (unsigned long long)v[i]->total, (long long)v[i]->extra);
            put_escaped(stdout, k, ll);
            printf("%*s  ", ll < 7 ? (int)(7 - ll) : 0, "");
            put_escaped(stdout, k + ll + 1, v[i]->len - ll - 1);
            if (v[i]->aux_len) {
                printf(" (first reason: ");
                put_escaped(stdout, r->diags.arena + v[i]->aux_off, v[i]->aux_len);
                printf(")");
            }
            putchar('\n');
        }
        free(v);
    }

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

    if (r->bad) {
        printf("\nunparsable lines: %llu (the first %zu shown)\n", (unsigned long long)r->bad, r->nexamples);
        for (size_t i = 0; i < r->nexamples; i++) {
            const struct example *e = &r->examples[i];
            printf("  %s:%llu: %s: \"", r->inputs[e->input].name, (unsigned long long)e->line, e->why);
            put_escaped(stdout, e->text, e->len);
            printf("\"%s\n", e->full_len > e->len ? "..." : "");
        }
    }
}

/* ---- JSON ---- */

static void json_strtab(const struct report *r, const char *name, const struct strtab *t, bool verdicts)
{
    const struct sent **v = sorted(t);
    size_t shown = v ? g_top_limit(r, t->n) : 0;
    printf(",\"%s\":{\"distinct\":%zu,\"overflow\":%llu,\"top\":[", name, t->n,
           (unsigned long long)t->overflow_total);
    for (size_t i = 0; i < shown; i++) {
        printf("%s{\"value\":", i ? "," : "");
        put_json(stdout, strtab_key(t, v[i]), v[i]->len);
        printf(",\"count\":%llu", (unsigned long long)v[i]->total);
        if (verdicts)
            for (int k = 0; k < VERDICTS; k++)
                printf(",\"%s\":%llu", verdict_name((enum verdict)k), (unsigned long long)v[i]->n[k]);
        printf("}");
    }
    printf("]}");
    free(v);
}

static void print_json(const struct report *r)
{
    char a[32];
    printf("{\"inputs\":[");
    for (size_t i = 0; i < r->ninputs; i++) {
        printf("%s{\"name\":", i ? "," : "");
        put_json_str(stdout, r->inputs[i].name);
        printf(",\"lines\":%llu,\"bytes\":%llu,\"error\":", (unsigned long long)r->inputs[i].lines,
               (unsigned long long)r->inputs[i].bytes);
        if (r->inputs[i].error[0])
            put_json_str(stdout, r->inputs[i].error);
        else
            printf("null");
        printf("}");
    }
    printf("],\"lines\":%llu,\"shim_lines\":%llu,\"connection_lines\":%llu,\"connections\":%llu,"
           "\"diagnostics\":%llu,\"other_lines\":%llu,\"not_syslog\":%llu,\"unparsable\":%llu,"
           "\"unparsable_shim\":%llu,\"undated\":%llu,\"outside_window\":%llu,\"undated_left_out\":%llu",
           (unsigned long long)r->lines, (unsigned long long)r->shim_lines, (unsigned long long)r->conn_lines,
           (unsigned long long)r->connections, (unsigned long long)r->diagnostics, (unsigned long long)r->other,
           (unsigned long long)r->not_syslog, (unsigned long long)r->bad, (unsigned long long)r->bad_shim,
           (unsigned long long)r->undated, (unsigned long long)r->outside, (unsigned long long)r->undated_left_out);
    printf(",\"first\":");
    if (r->have_period) {
        format_wall(r->first_t, a, sizeof(a));
        put_json_str(stdout, a);
        format_wall(r->last_t, a, sizeof(a));
        printf(",\"last\":");
        put_json_str(stdout, a);
    } else {
        printf("null,\"last\":null");
    }
    printf(",\"verdicts\":{");
    for (int v = 0; v < VERDICTS; v++)
        printf("%s\"%s\":%llu", v ? "," : "", verdict_name((enum verdict)v), (unsigned long long)r->verdict[v]);
    printf("},\"percent\":{");
    for (int v = 0; v < VERDICTS; v++)
        printf("%s\"%s\":%.2f", v ? "," : "", verdict_name((enum verdict)v), percent(r->verdict[v], r->connections));
    printf("},\"match\":{\"exact\":%llu,\"generic\":%llu,\"fuzzy\":%llu,\"other\":%llu}",
           (unsigned long long)r->match[0], (unsigned long long)r->match[1], (unsigned long long)r->match[2],
           (unsigned long long)r->match[3]);
    printf(",\"action\":{\"close\":%llu,\"reject\":%llu,\"tempfail\":%llu,\"other\":%llu}",
           (unsigned long long)r->action[0], (unsigned long long)r->action[1], (unsigned long long)r->action[2],
           (unsigned long long)r->action[3]);
    if (r->saw_cutoff) {
        printf(",\"cutoff\":{");
        for (size_t i = 0; i < CUTOFF_ROWS; i++)
            printf("%s\"%s\":%llu", i ? "," : "", cutoff_rows[i].key, (unsigned long long)r->cutoff[i]);
        printf("}");
    }
    printf(",\"karma\":{\"connections\":%llu,\"sum\":%lld}", (unsigned long long)r->karma_lines,
           (long long)r->karma_sum);
    printf(",\"ms\":{\"count\":%llu,\"median\":%llu,\"p95\":%llu,\"max\":%llu}", (unsigned long long)r->ms_count,
           (unsigned long long)ms_percentile(r, 50), (unsigned long long)ms_percentile(r, 95),
           (unsigned long long)r->ms_max);
    json_strtab(r, "os", &r->os, true);
    json_strtab(r, "genre", &r->genre, true);

    const struct sent **v = sorted(&r->rules);
    size_t shown = v ? g_top_limit(r, r->rules.n) : 0;
    printf(",\"rules\":{\"distinct\":%zu,\"top\":[", r->rules.n);
    for (size_t i = 0; i < shown; i++) {
        const char *k = strtab_key(&r->rules, v[i]);
        size_t rl = strnlen(k, v[i]->len);
        printf("%s{\"rule\":", i ? "," : "");
        put_json(stdout, k, rl);
        printf(",\"at\":");
        put_json(stdout, rl < v[i]->len ? k + rl + 1 : "", rl < v[i]->len ? v[i]->len - rl - 1 : 0);
        printf(",\"count\":%llu}", (unsigned long long)v[i]->total);
    }
    printf("]}");
    free(v);

    char ip[64];
    size_t n;
    const struct ient **ips = sorted_ips(r, false, &n);
    shown = ips ? g_top_limit(r, n) : 0;
    printf(",\"blocked_ips\":{\"distinct\":%zu,\"top\":[", n);
    for (size_t i = 0; i < shown; i++) {
        ipkey_format(&ips[i]->key, ip, sizeof(ip));
        printf("%s{\"ip\":\"%s\",\"blocks\":%u}", i ? "," : "", ip, ips[i]->blocks);
    }
    printf("]}");
    free(ips);
    ips = sorted_ips(r, true, &n);
    shown = ips ? g_top_limit(r, n) : 0;
    printf(",\"karma_ips\":{\"distinct\":%zu,\"top\":[", n);
    for (size_t i = 0; i < shown; i++) {
        ipkey_format(&ips[i]->key, ip, sizeof(ip));
        printf("%s{\"ip\":\"%s\",\"karma\":%d,\"lines\":%u}", i ? "," : "", ip, ips[i]->karma, ips[i]->karma_lines);
    }
    printf("]}");
    free(ips);
    printf(",\"ip_table\":{\"max\":%zu,\"approximate\":%s,\"error_bound\":%llu}", r->ips.max,
           r->ips.evictions ? "true" : "false", (unsigned long long)r->ips.evicted_max);

    json_strtab(r, "reasons", &r->reasons, true);
    json_strtab(r, "exempt", &r->exempts, false);

    v = sorted(&r->diags);
    printf(",\"diagnostics\":[");
    for (size_t i = 0; v && i < r->diags.n; i++) {
        const char *k = strtab_key(&r->diags, v[i]);
        size_t ll = strnlen(k, v[i]->len);
        printf("%s{\"level\":", i ? "," : "");
        put_json(stdout, k, ll);
        printf(",\"msg\":");
        put_json(stdout, k + ll + 1, v[i]->len - ll - 1);
        printf(",\"count\":%llu,\"suppressed\":%lld,\"reason\":", (unsigned long long)v[i]->total,
               (long long)v[i]->extra);
        if (v[i]->aux_len)
            put_json(stdout, r->diags.arena + v[i]->aux_off, v[i]->aux_len);
        else
            printf("null");
        printf("}");
    }
    printf("]");
    free(v);

    const struct hent **hours = sorted_hours(r);
    printf(",\"hours\":[");
    for (size_t i = 0; hours && i < r->hours.n; i++) {
        hour_label(hours[i]->hour, a, sizeof(a));
        printf("%s{\"hour\":\"%s\",\"count\":%llu", i ? "," : "", a, (unsigned long long)hours[i]->total);
        for (int k = 0; k < VERDICTS; k++)
            printf(",\"%s\":%llu", verdict_name((enum verdict)k), (unsigned long long)hours[i]->n[k]);
        printf("}");
    }
    printf("],\"hours_overflow\":%llu", (unsigned long long)r->hours.overflow);
    free(hours);

    printf(",\"unparsable_examples\":[");
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
    printf("]}\n");
}

/* ---- CSV: section,key,subkey,value ---- */

static void csv_row(const char *section, const char *key, size_t klen, const char *sub, size_t slen, const char *value)
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

static void csv_num(const char *section, const char *key, const char *sub, long long value)
{
    char num[32];
    snprintf(num, sizeof(num), "%lld", value);
    csv_row(section, key, strlen(key), sub, strlen(sub), num);
}

static void csv_strtab(const struct report *r, const char *section, const struct strtab *t)
{
    const struct sent **v = sorted(t);
    size_t shown = v ? g_top_limit(r, t->n) : 0;
    char num[32];
    for (size_t i = 0; i < shown; i++) {
        const char *k = strtab_key(t, v[i]);
        snprintf(num, sizeof(num), "%llu", (unsigned long long)v[i]->total);
        csv_row(section, k, v[i]->len, "all", 3, num);
        for (int j = 0; j < VERDICTS; j++)
            if (v[i]->n[j]) {
                snprintf(num, sizeof(num), "%llu", (unsigned long long)v[i]->n[j]);
                csv_row(section, k, v[i]->len, verdict_name((enum verdict)j), strlen(verdict_name((enum verdict)j)), num);
            }
    }
    if (t->overflow_total)
        csv_num("overflow", section, "", (long long)t->overflow_total);
    free(v);
}

static void print_csv(const struct report *r)
{
    char a[32], num[64];
    puts("section,key,subkey,value");
    csv_num("summary", "inputs", "", (long long)r->ninputs);
    csv_num("summary", "lines", "", (long long)r->lines);
    csv_num("summary", "shim_lines", "", (long long)r->shim_lines);
    csv_num("summary", "connection_lines", "", (long long)r->conn_lines);
    csv_num("summary", "connections", "", (long long)r->connections);
    csv_num("summary", "diagnostics", "", (long long)r->diagnostics);
    csv_num("summary", "other_lines", "", (long long)r->other);
    csv_num("summary", "not_syslog", "", (long long)r->not_syslog);
    csv_num("summary", "unparsable", "", (long long)r->bad);
    csv_num("summary", "unparsable_shim", "", (long long)r->bad_shim);
    csv_num("summary", "undated", "", (long long)r->undated);
    csv_num("summary", "outside_window", "", (long long)r->outside);
    csv_num("summary", "undated_left_out", "", (long long)r->undated_left_out);
    if (r->have_period) {
        format_wall(r->first_t, a, sizeof(a));
        csv_row("summary", "first", 5, "", 0, a);
        format_wall(r->last_t, a, sizeof(a));
        csv_row("summary", "last", 4, "", 0, a);
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
    for (int v = 0; v < VERDICTS; v++)
        csv_num("verdict", verdict_name((enum verdict)v), "", (long long)r->verdict[v]);
    for (int v = 0; v < VERDICTS; v++) {
        snprintf(num, sizeof(num), "%.2f", percent(r->verdict[v], r->connections));
        csv_row("percent", verdict_name((enum verdict)v), strlen(verdict_name((enum verdict)v)), "", 0, num);
    }
    for (int m = 0; m < 4; m++)
        csv_num("match", match_words[m], "", (long long)r->match[m]);
    for (int a4 = 0; a4 < 4; a4++)
        csv_num("action", action_words[a4], "", (long long)r->action[a4]);
    for (size_t i = 0; r->saw_cutoff && i < CUTOFF_ROWS; i++)
        csv_num("cutoff", cutoff_rows[i].key, "", (long long)r->cutoff[i]);
    csv_num("karma", "connections", "", (long long)r->karma_lines);
    csv_num("karma", "sum", "", (long long)r->karma_sum);
    csv_num("ms", "count", "", (long long)r->ms_count);
    csv_num("ms", "median", "", (long long)ms_percentile(r, 50));
    csv_num("ms", "p95", "", (long long)ms_percentile(r, 95));
    csv_num("ms", "max", "", (long long)r->ms_max);
    csv_strtab(r, "os", &r->os);
    csv_strtab(r, "genre", &r->genre);

    const struct sent **v = sorted(&r->rules);
    size_t shown = v ? g_top_limit(r, r->rules.n) : 0;
    for (size_t i = 0; i < shown; i++) {
        const char *k = strtab_key(&r->rules, v[i]);
        size_t rl = strnlen(k, v[i]->len);
        snprintf(num, sizeof(num), "%llu", (unsigned long long)v[i]->total);
        csv_row("rule", k, rl, rl < v[i]->len ? k + rl + 1 : "", rl < v[i]->len ? v[i]->len - rl - 1 : 0, num);
    }
    free(v);

    char ip[64];
    size_t n;
    const struct ient **ips = sorted_ips(r, false, &n);
    shown = ips ? g_top_limit(r, n) : 0;
    for (size_t i = 0; i < shown; i++) {
        ipkey_format(&ips[i]->key, ip, sizeof(ip));
        csv_num("blocked_ip", ip, "", ips[i]->blocks);
    }
    free(ips);
    ips = sorted_ips(r, true, &n);
    shown = ips ? g_top_limit(r, n) : 0;
    for (size_t i = 0; i < shown; i++) {
        ipkey_format(&ips[i]->key, ip, sizeof(ip));
        csv_num("karma_ip", ip, "", ips[i]->karma);
    }
    free(ips);
    if (r->ips.evictions)
        csv_num("approximate", "ips", "error_bound", (long long)r->ips.evicted_max);

    csv_strtab(r, "reason", &r->reasons);
    csv_strtab(r, "exempt", &r->exempts);

    v = sorted(&r->diags);
    for (size_t i = 0; v && i < r->diags.n; i++) {
        const char *k = strtab_key(&r->diags, v[i]);
        size_t ll = strnlen(k, v[i]->len);
        snprintf(num, sizeof(num), "%llu", (unsigned long long)v[i]->total);
        csv_row("diagnostic", k + ll + 1, v[i]->len - ll - 1, k, ll, num);
        if (v[i]->extra) {
            snprintf(num, sizeof(num), "%lld", (long long)v[i]->extra);
            csv_row("diagnostic_suppressed", k + ll + 1, v[i]->len - ll - 1, k, ll, num);
        }
    }
    free(v);

    const struct hent **hours = sorted_hours(r);
    for (size_t i = 0; hours && i < r->hours.n; i++) {
        hour_label(hours[i]->hour, a, sizeof(a));
        csv_num("hour", a, "all", (long long)hours[i]->total);
        for (int k = 0; k < VERDICTS; k++)
            if (hours[i]->n[k])
                csv_num("hour", a, verdict_name((enum verdict)k), (long long)hours[i]->n[k]);
    }
    free(hours);
    if (r->hours.overflow)
        csv_num("overflow", "hour", "", (long long)r->hours.overflow);

    for (size_t i = 0; i < r->nexamples; i++) {
        const struct example *e = &r->examples[i];
        char where[PATH_MAX + 32];
        snprintf(where, sizeof(where), "%s:%llu", r->inputs[e->input].name, (unsigned long long)e->line);
        fputs("unparsable,", stdout);
        put_csv(stdout, where, strlen(where));
        putchar(',');
        put_csv(stdout, e->why, strlen(e->why));
        putchar(',');
        put_csv(stdout, e->text, e->len);
        putchar('\n');
    }
}

static void report_usage(FILE *f)
{
    fputs("usage: p0fshim report [FILE...] [--since T] [--until T] [--top N] [--year Y] [--max-ips N]\n"
          "                      [--show-unparsable N] [--json | --csv]\n"
          "  FILE: syslog files, plain or gzip-compressed (rotated); none or - reads standard input\n"
          "        (e.g. journalctl -t p0fshim -o short | p0fshim report).\n"
          "  T: YYYY-MM-DD[ HH:MM[:SS]], compared with the wall-clock time written in the log.\n",
          f);
}

int cmd_report(int argc, char **argv)
{
    static const struct option opts[] = {
        {"since", required_argument, NULL, 's'}, {"until", required_argument, NULL, 'u'},
        {"top", required_argument, NULL, 't'},   {"year", required_argument, NULL, 'y'},
        {"json", no_argument, NULL, 'j'},        {"csv", no_argument, NULL, 'c'},
        {"max-ips", required_argument, NULL, 'm'}, {"show-unparsable", required_argument, NULL, 'b'},
        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0},
    };
    static struct report r;
    unsigned long value, max_ips = IPS_MAX_DEFAULT;
    int opt;

    r.top = TOP_DEFAULT;
    r.show_bad = SHOW_BAD_DEFAULT;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (opt) {
        case 's':
        case 'u':
            if (parse_time_arg(optarg, opt == 's' ? &r.since : &r.until) != 0) {
                fprintf(stderr, "p0fshim report: --%s wants YYYY-MM-DD[ HH:MM[:SS]], not \"",
                        opt == 's' ? "since" : "until");
                put_escaped_str(stderr, optarg);
                fprintf(stderr, "\"\n");
                return EXIT_USAGE;
            }
            if (opt == 's')
                r.has_since = true;
            else
                r.has_until = true;
            break;
        case 't':
        case 'y':
        case 'm':
        case 'b':
            if (parse_ulong_arg(optarg, opt == 'y' ? 1970 : opt == 'm' ? 16 : 0,
                                opt == 'y' ? 9999 : opt == 'm' ? 100000000 : 1000000, &value) != 0) {
                fprintf(stderr, "p0fshim report: bad value for %s\n", argv[optind - 1]);
                return EXIT_USAGE;
            }
            if (opt == 't')
                r.top = value;
            else if (opt == 'y')
                r.fixed_year = (int)value;
            else if (opt == 'm')
                max_ips = value;
            else
                r.show_bad = value;
            break;
        case 'j': r.json = true; break;
        case 'c': r.csv = true; break;
        case 'h': report_usage(stdout); return 0;
        case ':': fprintf(stderr, "p0fshim report: %s needs a value\n", argv[optind - 1]); return EXIT_USAGE;
        default:
            fprintf(stderr, "p0fshim report: unknown option %s\n", argv[optind - 1]);
            report_usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (r.json && r.csv) {
        fprintf(stderr, "p0fshim report: --json or --csv, not both\n");
        return EXIT_USAGE;
    }
    if (r.has_since && r.has_until && r.until < r.since) {
        fprintf(stderr, "p0fshim report: --until is before --since\n");
        return EXIT_USAGE;
    }
    size_t nfiles = (size_t)(argc - optind);
    if (nfiles == 0 && isatty(0)) {
        fprintf(stderr, "p0fshim report: no input: give syslog files, or pipe journalctl -t p0fshim -o short into "
                        "it\n");
        report_usage(stderr);
        return EXIT_USAGE;
    }
    r.ninputs = nfiles ? nfiles : 1;
    r.inputs = calloc(r.ninputs, sizeof(*r.inputs));
    r.examples = calloc(r.show_bad ? r.show_bad : 1, sizeof(*r.examples));
    r.ms_hist = calloc(MS_BUCKETS, sizeof(*r.ms_hist));
    char *buf = malloc(READ_BUF);
    if (r.inputs == NULL || r.examples == NULL || r.ms_hist == NULL || buf == NULL) {
        fprintf(stderr, "p0fshim report: out of memory\n");
        return EXIT_NEGATIVE;
    }
    strtab_init(&r.os, STR_KEYS_MAX, STR_ARENA_MAX);
    strtab_init(&r.genre, STR_KEYS_MAX, STR_ARENA_MAX);
    strtab_init(&r.rules, STR_KEYS_MAX, STR_ARENA_MAX);
    strtab_init(&r.reasons, STR_KEYS_MAX, STR_ARENA_MAX);
    strtab_init(&r.exempts, STR_KEYS_MAX, STR_ARENA_MAX);
    strtab_init(&r.diags, STR_KEYS_MAX, STR_ARENA_MAX);
    iptab_init(&r.ips, max_ips);
    hourtab_init(&r.hours, HOURS_MAX);

    for (size_t i = 0; i < r.ninputs; i++) {
        const char *name = nfiles ? argv[optind + (int)i] : "-";
        bool is_stdin = strcmp(name, "-") == 0;
        r.cur = i;
        r.inputs[i].name = is_stdin ? "(stdin)" : name;
        if (run_input(&r, is_stdin ? NULL : name, buf) != 0 || r.inputs[i].error[0]) {
            r.input_errors = true;
            fprintf(stderr, "p0fshim report: %s: %s\n", r.inputs[i].name, r.inputs[i].error);
        }
    }
    free(buf);

    static char outbuf[1 << 16];
    setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));
    if (r.json)
        print_json(&r);
    else if (r.csv)
        print_csv(&r);
    else
        print_text(&r);
    fflush(stdout);

    strtab_free(&r.os);
    strtab_free(&r.genre);
    strtab_free(&r.rules);
    strtab_free(&r.reasons);
    strtab_free(&r.exempts);
    strtab_free(&r.diags);
    iptab_free(&r.ips);
    hourtab_free(&r.hours);
    free(r.inputs);
    free(r.examples);
    free(r.ms_hist);
    return r.input_errors ? EXIT_NEGATIVE : 0;
}
