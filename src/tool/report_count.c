/* Counting: each line of the input is classified, its message parsed, and what it says
 * added to the report's counters and tables. Every line is counted as the shim's, another
 * program's, or unparsable (the first few of those kept to be shown): none is dropped
 * silently. Nothing is allocated per line. */
#include <string.h>

#include "report.h"

const struct cutoff_row cutoff_rows[CUTOFF_ROWS] = {
    {"blocks_too_late", "block too late (the session was already over)", VERDICT_BLOCK, CUTOFF_TOO_LATE},
    {"blocks_after_client_data", "block after the client had sent data", VERDICT_BLOCK, CUTOFF_AFTER_DATA},
    {"greylists_too_late", "greylist too late (the session was already over)", VERDICT_GREYLIST, CUTOFF_TOO_LATE},
    {"greylists_after_client_data", "greylist after the client had sent data", VERDICT_GREYLIST, CUTOFF_AFTER_DATA},
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

/* The counter of an enumerated word: its index in the field's vocabulary, else the one after
 * the vocabulary's (an unknown word). */
static unsigned word_counter(const struct message *m, enum log_field f)
{
    int i = log_field_word_index(f, m->f[f].v, m->f[f].len);
    return i < 0 ? log_field_table[f].nwords : (unsigned)i;
}

/* A signature is worth showing when no OS was named for it: the admin may write one. */
static bool os_named(const struct message *m)
{
    return has_field(m, LF_OS) && m->f[LF_OS].len > 0;
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
    uint32_t genre_series = SERIES_NO_GENRE;
    if (has_field(m, LF_GENRE)) {
        k = key_of(&m->f[LF_GENRE], buf, &klen);
        const struct sent *e = strtab_add(&r->genre, k, klen, v, w);
        genre_series = e ? SERIES_GENRE + (uint32_t)(e - r->genre.e) : SERIES_GENRE_OVERFLOW;
    }
    if (li->dated && r->with_timeline) {
        timeline_add(&r->timeline, li->t, SERIES_VERDICT + (uint32_t)v, w);
        timeline_add(&r->timeline, li->t, genre_series, w);
    }
    if (has_field(m, LF_SIG) && !os_named(m)) {
        k = key_of(&m->f[LF_SIG], buf, &klen);
        strtab_add(&r->sigs, k, klen, v, w);
    }
    if (has_field(m, LF_MATCH))
        r->match[word_counter(m, LF_MATCH)] += w;
    if (has_field(m, LF_ACTION))
        r->action[word_counter(m, LF_ACTION)] += w;
    if (has_field(m, LF_FP))
        r->fp[word_counter(m, LF_FP)] += w;
    if (m->cutoff != CUTOFF_NONE && (v == VERDICT_BLOCK || v == VERDICT_GREYLIST)) {
        r->saw_cutoff = true;
        for (size_t i = 0; i < CUTOFF_ROWS; i++)
            if (cutoff_rows[i].verdict == v && cutoff_rows[i].cutoff == m->cutoff)
                r->cutoff[i] += w;
    }
    if (v == VERDICT_BLOCK && has_field(m, LF_RULE)) {
        /* one key "rule\0at": the same rule text on two lines of the files is two rows */
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
    int64_t fleet = m->has_karma_total ? m->karma_total : 0;
    if (m->has_karma_total) {
        r->karma_total_lines += w;
        if (fleet > r->karma_total_max)
            r->karma_total_max = fleet;
        if (v == VERDICT_BLOCK && has_field(m, LF_RULE) && m->f[LF_RULE].len == 5 &&
            memcmp(m->f[LF_RULE].v, "karma", 5) == 0)
            r->karma_limit_blocks += w;
    }
    if (v == VERDICT_BLOCK || karma || fleet)
        iptab_add(&r->ips, &m->remote, v == VERDICT_BLOCK ? (uint32_t)w : 0, karma, karma ? (uint32_t)w : 0, fleet);
}

/* Diagnostics are keyed "level\0msg"; the first reason= seen is kept with each. */
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

void report_line(struct report *r, const char *p, size_t n, bool overlong)
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
