/* Classifying log lines and parsing the shim's logfmt messages: pure functions, no
 * allocation, one pass over the bytes. Nothing inside a quoted value can end the value,
 * start a field or a line: \" \\ and \xHH are the only escapes the shim writes, and any
 * raw control or non-ASCII byte means the text is not what the shim wrote. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "report.h"

#define TAG "p0fshim"
#define TAG_LEN 7

static inline bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static inline bool two_digits(const char *p, unsigned *v)
{
    if (!is_digit(p[0]) || !is_digit(p[1]))
        return false;
    *v = (unsigned)(p[0] - '0') * 10 + (unsigned)(p[1] - '0');
    return true;
}

int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t yy = (int64_t)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = yy + (*m <= 2);
}

void format_wall(int64_t t, char *buf, size_t size)
{
    int64_t days = t >= 0 ? t / 86400 : (t - 86399) / 86400;
    int64_t secs = t - days * 86400, y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    snprintf(buf, size, "%04lld-%02u-%02u %02u:%02u:%02u", (long long)y, m, d, (unsigned)(secs / 3600),
             (unsigned)(secs / 60 % 60), (unsigned)(secs % 60));
}

static bool valid_time(unsigned mon, unsigned day, unsigned h, unsigned mi, unsigned s)
{
    return mon >= 1 && mon <= 12 && day >= 1 && day <= 31 && h < 24 && mi < 60 && s < 61;
}

static int64_t wall(int64_t y, unsigned mon, unsigned day, unsigned h, unsigned mi, unsigned s)
{
    return days_from_civil(y, mon, day) * 86400 + h * 3600 + mi * 60 + s;
}

int parse_time_arg(const char *s, int64_t *out)
{
    unsigned y1, y2, mon, day, h = 0, mi = 0, sec = 0;
    size_t n = strlen(s);
    if (n < 10 || !two_digits(s, &y1) || !two_digits(s + 2, &y2) || s[4] != '-' || !two_digits(s + 5, &mon) ||
        s[7] != '-' || !two_digits(s + 8, &day))
        return -1;
    if (n > 10) {
        if ((s[10] != ' ' && s[10] != 'T') || n < 16 || !two_digits(s + 11, &h) || s[13] != ':' ||
            !two_digits(s + 14, &mi))
            return -1;
        if (n > 16 && (n != 19 || s[16] != ':' || !two_digits(s + 17, &sec)))
            return -1;
    }
    if (!valid_time(mon, day, h, mi, sec))
        return -1;
    *out = wall(y1 * 100 + y2, mon, day, h, mi, sec);
    return 0;
}

static unsigned month_of(const char *p)
{
    switch (p[0]) {
    case 'J':
        if (p[1] == 'a' && p[2] == 'n') return 1;
        if (p[1] == 'u' && p[2] == 'n') return 6;
        if (p[1] == 'u' && p[2] == 'l') return 7;
        return 0;
    case 'F': return p[1] == 'e' && p[2] == 'b' ? 2 : 0;
    case 'M':
        if (p[1] == 'a' && p[2] == 'r') return 3;
        if (p[1] == 'a' && p[2] == 'y') return 5;
        return 0;
    case 'A':
        if (p[1] == 'p' && p[2] == 'r') return 4;
        if (p[1] == 'u' && p[2] == 'g') return 8;
        return 0;
    case 'S': return p[1] == 'e' && p[2] == 'p' ? 9 : 0;
    case 'O': return p[1] == 'c' && p[2] == 't' ? 10 : 0;
    case 'N': return p[1] == 'o' && p[2] == 'v' ? 11 : 0;
    case 'D': return p[1] == 'e' && p[2] == 'c' ? 12 : 0;
    }
    return 0;
}

static const char *skip_fraction(const char *p, const char *end)
{
    if (p < end && *p == '.') {
        p++;
        while (p < end && is_digit(*p))
            p++;
    }
    return p;
}

/* "Nov 27 04:00:01[.123456] " (syslog, journalctl -o short[-precise]). */
static const char *traditional(struct time_ctx *tc, const char *p, const char *end, int64_t *t)
{
    unsigned mon, day, h, mi, s;
    if (end - p < 16 || p[3] != ' ' || p[6] != ' ' || p[9] != ':' || p[12] != ':')
        return NULL;
    if (tc->last_stamp_len == 15 && memcmp(p, tc->last_stamp, 15) == 0) {
        *t = tc->last_t;
    } else {
        mon = month_of(p);
        if (mon == 0)
            return NULL;
        if (p[4] == ' ' && is_digit(p[5]))
            day = (unsigned)(p[5] - '0');
        else if (!two_digits(p + 4, &day))
            return NULL;
        if (!two_digits(p + 7, &h) || !two_digits(p + 10, &mi) || !two_digits(p + 13, &s) ||
            !valid_time(mon, day, h, mi, s))
            return NULL;
        int year = tc->fixed_year ? tc->fixed_year : ((int)mon > tc->ref_mon ? tc->ref_year - 1 : tc->ref_year);
        *t = wall(year, mon, day, h, mi, s);
        memcpy(tc->last_stamp, p, 15);
        tc->last_stamp_len = 15;
        tc->last_t = *t;
    }
    p = skip_fraction(p + 15, end);
    return p < end && *p == ' ' ? p + 1 : NULL;
}

static const char *date_time(const char *p, char sep, int64_t *t)
{
    unsigned y1, y2, mon, day, h, mi, s;
    if (!two_digits(p, &y1) || !two_digits(p + 2, &y2) || p[4] != '-' || !two_digits(p + 5, &mon) || p[7] != '-' ||
        !two_digits(p + 8, &day) || p[10] != sep || !two_digits(p + 11, &h) || p[13] != ':' ||
        !two_digits(p + 14, &mi) || p[16] != ':' || !two_digits(p + 17, &s) || !valid_time(mon, day, h, mi, s))
        return NULL;
    *t = wall(y1 * 100 + y2, mon, day, h, mi, s);
    return p + 19;
}

/* "2024-11-27T04:00:01[.frac][Z|+01:00|+0100] " (rsyslog RFC 3339, journalctl -o short-iso).
 * The wall time is taken as written: the zone is not applied. */
static const char *iso(struct time_ctx *tc, const char *p, const char *end, int64_t *t)
{
    if (end - p < 20)
        return NULL;
    if (tc->last_stamp_len == 19 && memcmp(p, tc->last_stamp, 19) == 0) {
        *t = tc->last_t;
        p += 19;
    } else {
        const char *q = date_time(p, 'T', t);
        if (q == NULL)
            return NULL;
        memcpy(tc->last_stamp, p, 19);
        tc->last_stamp_len = 19;
        tc->last_t = *t;
        p = q;
    }
    p = skip_fraction(p, end);
    if (p < end && *p == 'Z') {
        p++;
    } else if (p < end && (*p == '+' || *p == '-')) {
        p++;
        while (p < end && (is_digit(*p) || *p == ':'))
            p++;
    }
    return p < end && *p == ' ' ? p + 1 : NULL;
}

/* "Wed 2024-11-27 04:00:01 CET " (journalctl -o short-full). */
static const char *short_full(const char *p, const char *end, int64_t *t)
{
    if (end - p < 25 || p[3] != ' ')
        return NULL;
    const char *q = date_time(p + 4, ' ', t);
    if (q == NULL || *q != ' ')
        return NULL;
    q++;
    while (q < end && *q != ' ')
        q++;
    return q < end ? q + 1 : NULL;
}

/* "p0fshim[123]: " or "p0fshim: " at p; the message after it. */
static const char *shim_tag(const char *p, const char *end)
{
    if (end - p < TAG_LEN + 2 || memcmp(p, TAG, TAG_LEN) != 0)
        return NULL;
    p += TAG_LEN;
    if (*p == '[') {
        const char *digits = ++p;
        while (p < end && is_digit(*p))
            p++;
        if (p == digits || p >= end || *p != ']')
            return NULL;
        p++;
    }
    if (p >= end || *p != ':')
        return NULL;
    p++;
    if (p < end && *p == ' ')
        p++;
    return p;
}

static bool starts(const char *p, size_t n, const char *word, size_t wlen)
{
    return n >= wlen && memcmp(p, word, wlen) == 0;
}

/* rsyslog's "message repeated N times: [ MSG]". */
static void unwrap_repeat(struct line_info *out)
{
    static const char prefix[] = "message repeated ";
    const char *p = out->msg, *end = out->msg + out->msg_len;
    if (!starts(p, out->msg_len, prefix, sizeof(prefix) - 1))
        return;
    p += sizeof(prefix) - 1;
    unsigned n = 0;
    const char *digits = p;
    while (p < end && is_digit(*p) && p - digits < 9)
        n = n * 10 + (unsigned)(*p++ - '0');
    if (p == digits || n == 0 || !starts(p, (size_t)(end - p), " times: [", 9) || end[-1] != ']')
        return;
    p += 9;
    while (p < end && *p == ' ')
        p++;
    out->msg = p;
    out->msg_len = (size_t)(end - 1 - p);
    out->repeat = n;
}

void classify_line(struct time_ctx *tc, const char *p, size_t n, struct line_info *out)
{
    const char *end = p + n, *q = NULL;
    bool pri = false;

    out->kind = LINE_OTHER;
    out->dated = false;
    out->repeat = 1;
    out->why = NULL;
    if (n && end[-1] == '\r')
        end--, n--;
    if (n == 0)
        return;
    /* The raw datagram as the shim sends it: "<22>Nov 27 04:00:01 p0fshim[1]: ..." */
    if (p[0] == '<') {
        const char *r = p + 1;
        while (r < end && r - p < 5 && is_digit(*r))
            r++;
        if (r > p + 1 && r < end && *r == '>') {
            p = r + 1;
            pri = true;
        }
    }
    if (p < end) {
        if (is_digit(p[0]))
            q = iso(tc, p, end, &out->t);
        else if (p[0] >= 'A' && p[0] <= 'Z')
            q = (end - p > 8 && p[8] == '-') ? short_full(p, end, &out->t) : traditional(tc, p, end, &out->t);
    }
    if (q) {
        out->dated = true;
        const char *msg = shim_tag(q, end);
        if (msg == NULL && !pri) {
            /* The host name, then the tag: never further on, where a message could forge one. */
            const char *space = memchr(q, ' ', (size_t)(end - q));
            if (space)
                msg = shim_tag(space + 1, end);
        }
        if (msg == NULL)
            return;
        out->kind = LINE_SHIM;
        out->msg = msg;
        out->msg_len = (size_t)(end - msg);
        unwrap_repeat(out);
        return;
    }
    /* journalctl -o cat: the bare message. */
    if (!pri && (starts(p, n, "remote=", 7) || starts(p, n, "level=", 6))) {
        out->kind = LINE_SHIM;
        out->msg = p;
        out->msg_len = n;
        return;
    }
    if (!pri && starts(p, n, "-- ", 3))
        return;                 /* journalctl's "-- Boot ... --", "-- No entries --" */
    bool blank = true;
    for (const char *r = p; r < end && blank; r++)
        blank = *r == ' ' || *r == '\t';
    if (blank)
        return;
    out->kind = LINE_BAD;
    out->why = pri ? "syslog priority without a timestamp" : "not a syslog line (no timestamp) nor a p0fshim message";
}

/* ---- logfmt ---- */

enum { C_PLAIN, C_QUOTE, C_BACKSLASH, C_BAD };

/* Byte classes inside a quoted value. */
static const uint8_t qclass[256] = {
    [0 ... 0x1f] = C_BAD,     [0x20 ... 0x21] = C_PLAIN, ['"'] = C_QUOTE,         [0x23 ... 0x5b] = C_PLAIN,
    ['\\'] = C_BACKSLASH,     [0x5d ... 0x7e] = C_PLAIN, [0x7f ... 0xff] = C_BAD,
};

/* The bytes of a key, and of a bare value (printable ASCII but the space and the quote). */
static const bool key_chars[256] = {
    ['0' ... '9'] = true, ['A' ... 'Z'] = true, ['_'] = true, ['a' ... 'z'] = true,
};
static const bool bare_chars[256] = {
    [0x21] = true, [0x23 ... 0x7e] = true,
};

static inline bool hex_digit(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* The fields the report reads. Any other key, even one given twice, is skipped like an
 * unknown one: a line a newer shim writes with more fields must still be read. */
static const bool report_reads[LOG_FIELDS] = {
    [LF_REMOTE] = true,  [LF_LOCAL] = true,      [LF_VERDICT] = true,     [LF_MS] = true,
    [LF_OS] = true,      [LF_FLAVOR] = true,     [LF_GENRE] = true,       [LF_MATCH] = true,
    [LF_DISTANCE] = true, [LF_LINK] = true,      [LF_UPTIME_MIN] = true,  [LF_TOTAL_CONN] = true,
    [LF_NAT] = true,     [LF_OS_CHANGE] = true,  [LF_RULE] = true,        [LF_RULE_AT] = true,
    [LF_KARMA] = true,   [LF_KARMA_TOTAL] = true, [LF_EXEMPT] = true,     [LF_REASON] = true,      [LF_ACTION] = true,
    [LF_LEVEL] = true,   [LF_MSG] = true,        [LF_SUPPRESSED] = true,  [LF_CUTOFF] = true,
    [LF_SIG] = true,     [LF_FP] = true,
};

/* Built on the first message; the tool is single-threaded. */
static struct log_field_index field_index;
static bool field_index_built;

static int field_of(const char *k, size_t n)
{
    int id = log_field_find(&field_index, k, n);
    return id >= 0 && report_reads[id] ? id : -1;
}

static int parse_int(const struct field *f, int64_t *out)
{
    const char *p = f->v, *end = f->v + f->len;
    bool neg = false;
    if (p < end && *p == '-') {
        neg = true;
        p++;
    }
    if (p == end || end - p > 18)
        return -1;
    int64_t v = 0;
    for (; p < end; p++) {
        if (!is_digit(*p))
            return -1;
        v = v * 10 + (*p - '0');
    }
    *out = neg ? -v : v;
    return 0;
}

static int parse_port(const char *p, const char *end)
{
    unsigned v = 0;
    if (p == end || end - p > 5)
        return -1;
    for (; p < end; p++) {
        if (!is_digit(*p))
            return -1;
        v = v * 10 + (unsigned)(*p - '0');
    }
    return v <= 65535 ? 0 : -1;
}

/* "192.0.2.1:25" or "[2001:db8::1]:25". */
static int parse_endpoint(const struct field *f, struct ipkey *k)
{
    const char *p = f->v, *end = f->v + f->len;
    memset(k, 0, sizeof(*k));
    if (f->escaped)
        return -1;
    if (p < end && *p == '[') {
        const char *close = memchr(p, ']', (size_t)(end - p));
        char text[48];
        if (close == NULL || close - p - 1 >= (ptrdiff_t)sizeof(text) || close + 1 >= end || close[1] != ':')
            return -1;
        memcpy(text, p + 1, (size_t)(close - p - 1));
        text[close - p - 1] = '\0';
        if (inet_pton(AF_INET6, text, k->ip) != 1)
            return -1;
        k->family = 6;
        return parse_port(close + 2, end);
    }
    for (int octet = 0; octet < 4; octet++) {
        unsigned v = 0;
        const char *start = p;
        while (p < end && is_digit(*p) && p - start < 3)
            v = v * 10 + (unsigned)(*p++ - '0');
        if (p == start || v > 255 || p >= end || *p != (octet == 3 ? ':' : '.'))
            return -1;
        k->ip[octet] = (uint8_t)v;
        p++;
    }
    k->family = 4;
    return parse_port(p, end);
}

static int verdict_of(const struct field *f)
{
    return log_field_word_index(LF_VERDICT, f->v, f->len);
}

/* An unknown word is no cutoff: a newer shim may add words, and an old report must still
 * read its lines. */
static enum cutoff cutoff_of(const struct field *f)
{
    int i = log_field_word_index(LF_CUTOFF, f->v, f->len);
    return i < 0 ? CUTOFF_NONE : (enum cutoff)(CUTOFF_IN_TIME + i);
}

int parse_message(const char *msg, size_t len, struct message *m, const char **why)
{
    const char *p = msg, *end = msg + len;
    int first = -1;

    if (len > REPORT_MSG_MAX) {
        *why = "message longer than the shim ever writes";
        return -1;
    }
    if (!field_index_built) {
        log_field_index_build(&field_index);
        field_index_built = true;
    }
    m->present = 0;
    m->has_ms = m->has_karma = m->has_karma_total = false;
    m->suppressed = 0;
    m->cutoff = CUTOFF_NONE;
    while (p < end && *p == ' ')
        p++;
    if (p == end) {
        *why = "empty p0fshim message";
        return -1;
    }
    while (p < end) {
        const char *k = p;
        while (p < end && key_chars[(unsigned char)*p])
            p++;
        if (p == k || p == end || *p != '=') {
            *why = first < 0 ? "neither a connection (remote=...) nor a diagnostic (level=...)"
                 : p == k    ? "expected key=value"
                             : "a key without =value";
            return -1;
        }
        int id = field_of(k, (size_t)(p - k));
        p++;
        const char *v, *vend;
        bool escaped = false;
        if (p < end && *p == '"') {
            v = ++p;
            for (;;) {
                while (p < end && qclass[(unsigned char)*p] == C_PLAIN)
                    p++;
                if (p >= end) {
                    *why = "unterminated quoted value (a truncated line?)";
                    return -1;
                }
                uint8_t c = qclass[(unsigned char)*p];
                if (c == C_QUOTE) {
                    break;
                } else if (c == C_BACKSLASH) {
                    escaped = true;
                    if (p + 1 < end && (p[1] == '"' || p[1] == '\\')) {
                        p += 2;
                    } else if (p + 3 < end && p[1] == 'x' && hex_digit(p[2]) && hex_digit(p[3])) {
                        p += 4;
                    } else {
                        *why = p + 1 >= end ? "unterminated quoted value (a truncated line?)"
                                            : "bad escape in a quoted value";
                        return -1;
                    }
                } else {
                    *why = "raw control or non-ASCII byte in a quoted value";
                    return -1;
                }
            }
            vend = p++;
        } else {
            v = p;
            while (p < end && bare_chars[(unsigned char)*p])
                p++;
            if (p < end && *p != ' ') {
                *why = *p == '"' ? "a quote inside a bare value" : "raw control or non-ASCII byte in a value";
                return -1;
            }
            vend = p;
        }
        if (id >= 0) {
            if (has_field(m, id)) {
                *why = "a field given twice";
                return -1;
            }
            m->f[id] = (struct field){v, (uint32_t)(vend - v), escaped};
            m->present |= 1ull << id;
        }
        if (first < 0)
            first = id == LF_REMOTE ? LF_REMOTE : id == LF_LEVEL ? LF_LEVEL : LOG_FIELDS;
        if (p < end) {
            if (*p != ' ') {
                *why = "text after a quoted value";
                return -1;
            }
            while (p < end && *p == ' ')
                p++;
        }
    }

    if (first == LF_LEVEL) {
        m->kind = MSG_DIAGNOSTIC;
        if (!has_field(m, LF_MSG)) {
            *why = "diagnostic without msg=";
            return -1;
        }
        if (has_field(m, LF_SUPPRESSED) && parse_int(&m->f[LF_SUPPRESSED], &m->suppressed) != 0) {
            *why = "suppressed= is not a number";
            return -1;
        }
        return 0;
    }
    if (first != LF_REMOTE) {
        *why = "neither a connection (remote=...) nor a diagnostic (level=...)";
        return -1;
    }
    m->kind = MSG_CONNECTION;
    if (parse_endpoint(&m->f[LF_REMOTE], &m->remote) != 0) {
        *why = "remote= is not IP:PORT";
        return -1;
    }
    if (!has_field(m, LF_VERDICT) || (m->verdict = verdict_of(&m->f[LF_VERDICT])) < 0) {
        *why = has_field(m, LF_VERDICT) ? "unknown verdict" : "connection without verdict=";
        return -1;
    }
    if (has_field(m, LF_MS)) {
        if (parse_int(&m->f[LF_MS], &m->ms) != 0 || m->ms < 0) {
            *why = "ms= is not a number";
            return -1;
        }
        m->has_ms = true;
    }
    if (has_field(m, LF_KARMA)) {
        if (parse_int(&m->f[LF_KARMA], &m->karma) != 0 || m->karma < -1000000 || m->karma > 1000000) {
            *why = "karma= is not a number";
            return -1;
        }
        m->has_karma = true;
    }
    if (has_field(m, LF_KARMA_TOTAL)) {
        if (parse_int(&m->f[LF_KARMA_TOTAL], &m->karma_total) != 0 || m->karma_total < 0 ||
            m->karma_total > 1000000000000ll) {
            *why = "karma_total= is not a count";
            return -1;
        }
        m->has_karma_total = true;
    }
    if (has_field(m, LF_CUTOFF))
        m->cutoff = cutoff_of(&m->f[LF_CUTOFF]);
    return 0;
}

size_t unescape_value(const char *v, size_t len, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (v[i] != '\\' || i + 1 >= len) {
            out[o++] = v[i];
        } else if (v[i + 1] == 'x' && i + 3 < len) {
            unsigned hi = (unsigned)(is_digit(v[i + 2]) ? v[i + 2] - '0' : (v[i + 2] | 0x20) - 'a' + 10);
            unsigned lo = (unsigned)(is_digit(v[i + 3]) ? v[i + 3] - '0' : (v[i + 3] | 0x20) - 'a' + 10);
            out[o++] = (char)(hi << 4 | lo);
            i += 3;
        } else {
            out[o++] = v[i + 1];
            i++;
        }
    }
    return o;
}

void ipkey_format(const struct ipkey *k, char *buf, size_t size)
{
    if (inet_ntop(k->family == 6 ? AF_INET6 : AF_INET, k->ip, buf, (socklen_t)size) == NULL)
        snprintf(buf, size, "?");
}
