/* Writing logfmt lines: each field whole or not at all, every value from outside quoted and
 * escaped; a connection's line is its fields in the log field table's order. */
#include "logfmt.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "verdict.h"

void logfmt_init(struct logfmt *l)
{
    l->len = 0;
    l->truncated = false;
    l->text[0] = '\0';
}

/* Fields are written in place, a whole field or nothing, so a line never ends in half a
 * value: begin_field() writes the separator and "key=" when they fit (start: where to roll
 * back to), a value that does not fit rolls the field back. (No stdio: a verdict made inside
 * accept() writes its line there.) */
static bool begin_field(struct logfmt *l, const char *key, size_t *start)
{
    size_t klen = strlen(key), sep = l->len ? 1 : 0;
    *start = l->len;
    if (l->len + sep + klen + 1 >= sizeof(l->text)) {
        l->truncated = true;
        return false;
    }
    if (sep)
        l->text[l->len++] = ' ';
    memcpy(l->text + l->len, key, klen);
    l->len += klen;
    l->text[l->len++] = '=';
    return true;
}

static void end_field(struct logfmt *l)
{
    l->text[l->len] = '\0';
}

static void roll_back(struct logfmt *l, size_t start)
{
    l->len = start;
    l->text[start] = '\0';
    l->truncated = true;
}

/* key="value" with value escaped, then tail (the shim's own ASCII, e.g. ":12"; NULL for none)
 * inside the same quotes. */
static void quoted_with_tail(struct logfmt *l, const char *key, const char *value, const char *tail)
{
    static const char hex[] = "0123456789abcdef";
    size_t start;
    if (!begin_field(l, key, &start))
        return;
    char *t = l->text;
    size_t n = l->len;
    t[n++] = '"';
    for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
        /* Room for the longest escape, the closing quote and the NUL, or the field is left out. */
        if (n + 6 >= sizeof(l->text)) {
            roll_back(l, start);
            return;
        }
        if (*p == '"' || *p == '\\') {
            t[n++] = '\\';
            t[n++] = (char)*p;
        } else if (*p < 0x20 || *p >= 0x7f) {
            t[n++] = '\\';
            t[n++] = 'x';
            t[n++] = hex[*p >> 4];
            t[n++] = hex[*p & 15];
        } else {
            t[n++] = (char)*p;
        }
    }
    size_t tail_len = tail ? strlen(tail) : 0;
    if (n + tail_len + 1 >= sizeof(l->text)) {
        roll_back(l, start);
        return;
    }
    if (tail_len) {
        memcpy(t + n, tail, tail_len);
        n += tail_len;
    }
    t[n++] = '"';
    l->len = n;
    end_field(l);
}

void logfmt_quoted(struct logfmt *l, const char *key, const char *value)
{
    quoted_with_tail(l, key, value, NULL);
}

static void append_bytes(struct logfmt *l, size_t start, const char *bytes, size_t len)
{
    if (l->len + len >= sizeof(l->text)) {
        roll_back(l, start);
        return;
    }
    memcpy(l->text + l->len, bytes, len);
    l->len += len;
    end_field(l);
}

void logfmt_word(struct logfmt *l, const char *key, const char *value)
{
    size_t start;
    if (begin_field(l, key, &start))
        append_bytes(l, start, value, strlen(value));
}

void logfmt_int(struct logfmt *l, const char *key, long long value)
{
    char digits[24];
    size_t n = sizeof(digits), start;
    unsigned long long magnitude = value < 0 ? 0ull - (unsigned long long)value : (unsigned long long)value;
    do {
        digits[--n] = (char)('0' + magnitude % 10);
        magnitude /= 10;
    } while (magnitude);
    if (value < 0)
        digits[--n] = '-';
    if (begin_field(l, key, &start))
        append_bytes(l, start, digits + n, sizeof(digits) - n);
}

void genre_format(const struct p0f3_answer *a, char *buf, size_t size)
{
    if (a->os_flavor[0])
        snprintf(buf, size, "%s %s", a->os_name, a->os_flavor);
    else
        snprintf(buf, size, "%s", a->os_name);
}

/* One connection line's values, by field: a field is written when present, as its kind says
 * (only the present ones are ever set: the line is built for every connection). */
_Static_assert(LOG_CONNECTION_FIELDS <= 64, "a bit per field");

struct line_values {
    uint64_t present;        /* bit f: field f */
    struct {
        const char *text;    /* endpoint, word, quoted */
        long long number;
    } v[LOG_CONNECTION_FIELDS];
};

static void put_text(struct line_values *lv, enum log_field f, const char *text)
{
    lv->present |= 1ull << f;
    lv->v[f].text = text;
}

static void put_number(struct line_values *lv, enum log_field f, long long number)
{
    lv->present |= 1ull << f;
    lv->v[f].number = number;
}

static void put_word(struct line_values *lv, enum log_field f, unsigned index)
{
    put_text(lv, f, log_field_table[f].words[index]);
}

void logfmt_connection(struct logfmt *l, const struct connection_report *r)
{
    /* Small on purpose: a line written inside the host's accept() must use little of its stack
     * (every page the parent of a fork-per-connection server writes after a fork is copied). */
    char remote[ENDPOINT_TEXT_MAX], local[ENDPOINT_TEXT_MAX], exempt[ENDPOINT_TEXT_MAX];
    struct line_values lv;

    lv.present = 0;
    endpoint_format(&r->remote, remote, sizeof(remote));
    put_text(&lv, LF_REMOTE, remote);
    endpoint_format(&r->local, local, sizeof(local));
    put_text(&lv, LF_LOCAL, local);
    put_word(&lv, LF_VERDICT, r->judgement.verdict);
    put_number(&lv, LF_MS, r->elapsed_ms);

    if (r->fp != FP_SOURCE_NONE)
        put_word(&lv, LF_FP, r->fp - FP_SOURCE_SYN);
    const struct syn_match *syn = r->syn;
    const struct p0f3_answer *a = r->answer;
    if (syn) {
        if (syn->os) {
            put_text(&lv, LF_OS, syn->sig->name);
            put_text(&lv, LF_FLAVOR, syn->sig->flavor);
            put_text(&lv, LF_GENRE, syn->genre);
            put_text(&lv, LF_MATCH, synmatch_match_word(syn->match));
        }
        put_number(&lv, LF_DISTANCE, syn->distance);
        if (syn->link)
            put_text(&lv, LF_LINK, syn->link);
        put_text(&lv, LF_SIG, syn->raw_sig);
    } else if (a) {
        put_text(&lv, LF_OS, a->os_name);
        put_text(&lv, LF_FLAVOR, a->os_flavor);
        put_text(&lv, LF_GENRE, r->genre ? r->genre : "");
        put_text(&lv, LF_MATCH, p0f3_match_word(a->os_match_q));
        put_number(&lv, LF_DISTANCE, a->distance);
        put_text(&lv, LF_LINK, a->link_type);
    }
    if (a) {
        put_number(&lv, LF_UPTIME_MIN, a->uptime_min);
        put_number(&lv, LF_TOTAL_CONN, a->total_conn);
        if (a->last_nat)
            put_number(&lv, LF_NAT, a->last_nat);
        if (a->last_chg)
            put_number(&lv, LF_OS_CHANGE, a->last_chg);
    }
    const struct p0f2_answer *a2 = r->answer_v2;
    if (a2) {
        put_text(&lv, LF_V2_GENRE, a2->genre);
        put_text(&lv, LF_V2_DETAIL, a2->detail);
        put_number(&lv, LF_V2_DIST, a2->dist);
        put_text(&lv, LF_V2_LINK, a2->link);
        put_number(&lv, LF_V2_UPTIME_H, a2->uptime_h);
        put_number(&lv, LF_V2_NAT, a2->nat);
        put_number(&lv, LF_V2_FW, a2->fw);
        put_number(&lv, LF_V2_REAL, a2->real);
        put_number(&lv, LF_V2_SCORE, a2->score);
        put_number(&lv, LF_V2_MFLAGS, a2->mflags);
    }
    if (r->judgement.verdict == VERDICT_BLOCK && r->judgement.rule) {
        put_text(&lv, LF_RULE, r->judgement.rule->text);
        if (r->judgement.rule != &verdict_karma_rule) {   /* karma_limit's is in no file */
            /* "file:line", written by the loop below: the file's path may be PATH_MAX long */
            put_text(&lv, LF_RULE_AT, r->blocked_file ? r->blocked_file : "");
            lv.v[LF_RULE_AT].number = r->judgement.rule->line;
        }
    }
    if (r->judgement.karma)
        put_number(&lv, LF_KARMA, r->judgement.karma);
    if (r->karma_counted)
        put_number(&lv, LF_KARMA_TOTAL, r->karma_total);
    if (r->judgement.exempt) {
        cidr_format(r->judgement.exempt, exempt, sizeof(exempt));
        put_text(&lv, LF_EXEMPT, exempt);
    }
    if (r->action)
        put_text(&lv, LF_ACTION, r->action);
    if (r->reply)
        put_text(&lv, LF_REPLY, r->reply);
    if (r->cutoff != CUTOFF_NONE) {
        put_word(&lv, LF_CUTOFF, r->cutoff - CUTOFF_IN_TIME);
        if (r->client_sent_known)
            put_number(&lv, LF_CLIENT_SENT, (long long)r->client_sent);
    }
    if (r->judgement.verdict == VERDICT_PASS_GREYLIST && r->greylist_wait_s >= 0)
        put_number(&lv, LF_GREYLIST_WAIT_S, r->greylist_wait_s);
    if (r->reason)
        put_text(&lv, LF_REASON, r->reason);
    if (r->fp_reason)
        put_text(&lv, LF_FP_REASON, r->fp_reason);
    if (r->reason_v2)
        put_text(&lv, LF_V2_REASON, r->reason_v2);

    logfmt_init(l);
    for (int f = 0; f < LOG_CONNECTION_FIELDS; f++) {
        if (!(lv.present >> f & 1))
            continue;
        const char *name = log_field_table[f].name;
        switch (log_field_table[f].kind) {
        case LOG_ENDPOINT:
        case LOG_WORD: logfmt_word(l, name, lv.v[f].text); break;
        case LOG_NUMBER: logfmt_int(l, name, lv.v[f].number); break;
        case LOG_QUOTED:
            if (f == LF_RULE_AT) {
                char line[16];
                snprintf(line, sizeof(line), ":%lld", lv.v[f].number);
                quoted_with_tail(l, name, lv.v[f].text, line);
            } else {
                logfmt_quoted(l, name, lv.v[f].text);
            }
            break;
        }
    }
}
