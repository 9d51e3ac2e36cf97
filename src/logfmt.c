#include "logfmt.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

void logfmt_init(struct logfmt *l)
{
    l->len = 0;
    l->truncated = false;
    l->text[0] = '\0';
}

/* Appends a whole field or nothing, so a line never ends in half a value. */
static void append_field(struct logfmt *l, const char *field, size_t len)
{
    size_t sep = l->len ? 1 : 0;
    if (l->len + sep + len >= sizeof(l->text)) {
        l->truncated = true;
        return;
    }
    if (sep)
        l->text[l->len++] = ' ';
    memcpy(l->text + l->len, field, len);
    l->len += len;
    l->text[l->len] = '\0';
}

void logfmt_quoted(struct logfmt *l, const char *key, const char *value)
{
    static const char hex[] = "0123456789abcdef";
    char field[LOGFMT_MAX];
    int prefix = snprintf(field, sizeof(field), "%s=\"", key);
    size_t n = prefix > 0 ? (size_t)prefix : 0;

    for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
        /* Room for the longest escape and the closing quote, or the field is left out. */
        if (n + 5 >= sizeof(field)) {
            l->truncated = true;
            return;
        }
        if (*p == '"' || *p == '\\') {
            field[n++] = '\\';
            field[n++] = (char)*p;
        } else if (*p < 0x20 || *p >= 0x7f) {
            field[n++] = '\\';
            field[n++] = 'x';
            field[n++] = hex[*p >> 4];
            field[n++] = hex[*p & 15];
        } else {
            field[n++] = (char)*p;
        }
    }
    field[n++] = '"';
    append_field(l, field, n);
}

void logfmt_word(struct logfmt *l, const char *key, const char *value)
{
    char field[256];
    int n = snprintf(field, sizeof(field), "%s=%s", key, value);
    if (n > 0 && (size_t)n < sizeof(field))
        append_field(l, field, (size_t)n);
    else
        l->truncated = true;
}

void logfmt_int(struct logfmt *l, const char *key, long long value)
{
    char field[96];
    int n = snprintf(field, sizeof(field), "%s=%lld", key, value);
    append_field(l, field, (size_t)n);
}

void genre_format(const struct p0f3_answer *a, char *buf, size_t size)
{
    if (a->os_flavor[0])
        snprintf(buf, size, "%s %s", a->os_name, a->os_flavor);
    else
        snprintf(buf, size, "%s", a->os_name);
}

void logfmt_connection(struct logfmt *l, const struct connection_report *r)
{
    char text[ENDPOINT_TEXT_MAX];

    logfmt_init(l);
    endpoint_format(&r->remote, text, sizeof(text));
    logfmt_word(l, "remote", text);
    endpoint_format(&r->local, text, sizeof(text));
    logfmt_word(l, "local", text);
    logfmt_word(l, "verdict", verdict_name(r->judgement.verdict));
    logfmt_int(l, "ms", r->elapsed_ms);

    const struct p0f3_answer *a = r->answer;
    if (a) {
        logfmt_quoted(l, "os", a->os_name);
        logfmt_quoted(l, "flavor", a->os_flavor);
        logfmt_quoted(l, "genre", r->genre ? r->genre : "");
        logfmt_word(l, "match", p0f3_match_word(a->os_match_q));
        logfmt_int(l, "distance", a->distance);
        logfmt_quoted(l, "link", a->link_type);
        logfmt_int(l, "uptime_min", a->uptime_min);
        logfmt_int(l, "total_conn", a->total_conn);
        if (a->last_nat)
            logfmt_int(l, "nat", a->last_nat);
        if (a->last_chg)
            logfmt_int(l, "os_change", a->last_chg);
    }
    const struct p0f2_answer *a2 = r->answer_v2;
    if (a2) {
        logfmt_quoted(l, "v2_genre", a2->genre);
        logfmt_quoted(l, "v2_detail", a2->detail);
        logfmt_int(l, "v2_dist", a2->dist);
        logfmt_quoted(l, "v2_link", a2->link);
        logfmt_int(l, "v2_uptime_h", a2->uptime_h);
        logfmt_int(l, "v2_nat", a2->nat);
        logfmt_int(l, "v2_fw", a2->fw);
        logfmt_int(l, "v2_real", a2->real);
        logfmt_int(l, "v2_score", a2->score);
        logfmt_int(l, "v2_mflags", a2->mflags);
    }
    if (r->judgement.verdict == VERDICT_BLOCK && r->judgement.rule) {
        char at[PATH_MAX + 16];
        logfmt_quoted(l, "rule", r->judgement.rule->text);
        snprintf(at, sizeof(at), "%s:%u", r->blocked_file ? r->blocked_file : "", r->judgement.rule->line);
        logfmt_quoted(l, "rule_at", at);
    }
    if (r->judgement.karma)
        logfmt_int(l, "karma", r->judgement.karma);
    if (r->judgement.exempt) {
        cidr_format(r->judgement.exempt, text, sizeof(text));
        logfmt_quoted(l, "exempt", text);
    }
    if (r->action)
        logfmt_word(l, "action", r->action);
    if (r->reply)
        logfmt_quoted(l, "reply", r->reply);
    if (r->cutoff != CUTOFF_NONE) {
        static const char *const words[] = {
            [CUTOFF_IN_TIME] = "in_time", [CUTOFF_AFTER_DATA] = "after_data", [CUTOFF_TOO_LATE] = "too_late"};
        logfmt_word(l, "cutoff", words[r->cutoff]);
        if (r->client_sent_known)
            logfmt_int(l, "client_sent", (long long)r->client_sent);
    }
    if (r->judgement.verdict == VERDICT_PASS_GREYLIST && r->greylist_wait_s >= 0)
        logfmt_int(l, "greylist_wait_s", r->greylist_wait_s);
    if (r->reason)
        logfmt_quoted(l, "reason", r->reason);
    if (r->reason_v2)
        logfmt_quoted(l, "v2_reason", r->reason_v2);
}
