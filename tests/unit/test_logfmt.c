/* logfmt lines (formatting, escaping, truncation), syslog_format and rate_limit_allow. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "logfmt.h"
#include "syslog_writer.h"

#define BLOCKED "/etc/p0fshim/blocked_operating_systems"

/* ---- an independent logfmt reader ---- */

struct kv {
    char key[64];
    char value[2048];        /* unescaped */
    bool quoted;
};

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Splits on unquoted single spaces; fails the test on anything that is not well-formed:
 * raw control or non-ASCII bytes, unknown escapes, unterminated quotes, empty keys. */
static size_t parse_line(const char *text, struct kv *out, size_t max)
{
    size_t n = 0;
    const char *p = text;

    for (const unsigned char *q = (const unsigned char *)text; *q; q++)
        cr_assert(*q >= 0x20 && *q < 0x7f, "raw byte 0x%02x at %zu in: %s", *q, (size_t)((const char *)q - text),
                  text);
    while (*p) {
        cr_assert_lt(n, max, "too many fields in: %s", text);
        struct kv *f = &out[n++];
        size_t k = 0, v = 0;
        memset(f, 0, sizeof(*f));
        while (*p && *p != '=' && *p != ' ' && *p != '"') {
            cr_assert(*p == '_' || (*p >= 'a' && *p <= 'z'), "bad key byte '%c' in: %s", *p, text);
            cr_assert_lt(k, sizeof(f->key) - 1);
            f->key[k++] = *p++;
        }
        cr_assert_gt(k, 0u, "empty key at \"%s\"", p);
        cr_assert_eq(*p, '=', "key %s without '=' in: %s", f->key, text);
        p++;
        if (*p == '"') {
            f->quoted = true;
            p++;
            for (;;) {
                cr_assert_neq(*p, '\0', "unterminated quoted value for %s in: %s", f->key, text);
                cr_assert_lt(v, sizeof(f->value) - 1);
                if (*p == '"') {
                    p++;
                    break;
                }
                if (*p == '\\') {
                    p++;
                    if (*p == '"' || *p == '\\') {
                        f->value[v++] = *p++;
                    } else {
                        cr_assert_eq(*p, 'x', "unknown escape \\%c in: %s", *p, text);
                        int hi = hexval(p[1]), lo = hi >= 0 ? hexval(p[2]) : -1;
                        cr_assert(hi >= 0 && lo >= 0, "bad \\x escape in: %s", text);
                        f->value[v++] = (char)(hi * 16 + lo);
                        p += 3;
                    }
                    continue;
                }
                f->value[v++] = *p++;
            }
        } else {
            while (*p && *p != ' ') {
                cr_assert_neq(*p, '"', "quote inside an unquoted value in: %s", text);
                cr_assert_lt(v, sizeof(f->value) - 1);
                f->value[v++] = *p++;
            }
        }
        if (*p) {
            cr_assert_eq(*p, ' ', "fields must be separated by one space: %s", text);
            p++;
            cr_assert(*p != '\0' && *p != ' ', "stray space in: %s", text);
        }
    }
    return n;
}

static void expect_keys(const char *text, const char *const *keys, size_t nkeys)
{
    struct kv *f = calloc(64, sizeof(*f));
    size_t n = parse_line(text, f, 64);
    cr_assert_eq(n, nkeys, "%zu fields, want %zu: %s", n, nkeys, text);
    for (size_t i = 0; i < n; i++)
        cr_assert_str_eq(f[i].key, keys[i], "field %zu is %s, want %s: %s", i, f[i].key, keys[i], text);
    free(f);
}

static const char *value_of(const char *text, const char *key, char *buf, size_t size)
{
    struct kv *f = calloc(64, sizeof(*f));
    size_t n = parse_line(text, f, 64);
    const char *found = NULL;
    for (size_t i = 0; i < n; i++)
        if (strcmp(f[i].key, key) == 0) {
            size_t vlen = strlen(f[i].value);
            cr_assert_lt(vlen, size, "value of %s too long for the test buffer", key);
            memcpy(buf, f[i].value, vlen + 1);
            found = buf;
            break;
        }
    free(f);
    return found;
}

/* ---- fixtures ---- */

static struct endpoint ep_of(const char *ip, uint16_t port)
{
    struct endpoint ep;
    cr_assert_eq(endpoint_parse_ip(ip, &ep), 0);
    ep.port = port;
    return ep;
}

static struct p0f3_answer linux_answer(void)
{
    struct p0f3_answer a;
    memset(&a, 0, sizeof(a));
    a.status = P0F3_STATUS_OK;
    strcpy(a.os_name, "Linux");
    strcpy(a.os_flavor, "3.11 and newer");
    strcpy(a.link_type, "Ethernet or modem");
    a.os_match_q = 0;
    a.distance = 0;
    a.uptime_min = 120;
    a.total_conn = 3;
    return a;
}

static struct p0f3_answer windows_answer(void)
{
    struct p0f3_answer a;
    memset(&a, 0, sizeof(a));
    a.status = P0F3_STATUS_OK;
    strcpy(a.os_name, "Windows");
    strcpy(a.os_flavor, "NT kernel");
    strcpy(a.link_type, "DSL");
    a.os_match_q = P0F3_MATCH_GENERIC;
    a.distance = 7;
    a.uptime_min = 0;
    a.total_conn = 41;
    return a;
}

static struct connection_report base_report(void)
{
    struct connection_report r;
    memset(&r, 0, sizeof(r));
    r.remote = ep_of("192.0.2.10", 40000);
    r.local = ep_of("198.51.100.1", 25);
    r.elapsed_ms = 12;
    r.blocked_file = BLOCKED;
    return r;
}

/* ---- primitives ---- */

Test(logfmt, word_int_quoted)
{
    struct logfmt l;
    logfmt_init(&l);
    cr_assert_str_eq(l.text, "");
    cr_assert_eq(l.len, 0u);
    logfmt_word(&l, "verdict", "allow");
    logfmt_int(&l, "ms", -3);
    logfmt_int(&l, "big", 4294967295LL);
    logfmt_quoted(&l, "os", "Windows");
    logfmt_quoted(&l, "empty", "");
    cr_assert_str_eq(l.text, "verdict=allow ms=-3 big=4294967295 os=\"Windows\" empty=\"\"");
    cr_assert_eq(l.len, strlen(l.text));
    cr_assert_not(l.truncated);
}

Test(logfmt, escaping)
{
    struct logfmt l;
    logfmt_init(&l);
    logfmt_quoted(&l, "v", "a\"b\\c\nd\re\tf\x7fg\x01h\xc3\xa9i\xff");
    cr_assert_str_eq(l.text, "v=\"a\\\"b\\\\c\\x0ad\\x0de\\x09f\\x7fg\\x01h\\xc3\\xa9i\\xff\"");
    char buf[64];
    cr_assert_str_eq(value_of(l.text, "v", buf, sizeof(buf)), "a\"b\\c\nd\re\tf\x7fg\x01h\xc3\xa9i\xff");
}

Test(logfmt, escaping_keeps_printable_ascii)
{
    struct logfmt l;
    char all[128];
    size_t n = 0;
    for (int c = 0x20; c < 0x7f; c++)
        if (c != '"' && c != '\\')
            all[n++] = (char)c;
    all[n] = '\0';
    logfmt_init(&l);
    logfmt_quoted(&l, "v", all);
    cr_assert_eq(l.len, strlen("v=\"\"") + n, "printable ASCII is written as is");
    cr_assert_eq(strncmp(l.text + 3, all, n), 0);
}

/* ---- genre ---- */

Test(logfmt, genre_format)
{
    struct p0f3_answer a = windows_answer();
    char genre[2 * P0F3_STR_MAX];
    genre_format(&a, genre, sizeof(genre));
    cr_assert_str_eq(genre, "Windows NT kernel");
    a.os_flavor[0] = '\0';
    genre_format(&a, genre, sizeof(genre));
    cr_assert_str_eq(genre, "Windows", "no trailing blank without a flavor");

    memset(a.os_name, 'n', 31);
    a.os_name[31] = '\0';
    memset(a.os_flavor, 'f', 31);
    a.os_flavor[31] = '\0';
    genre_format(&a, genre, sizeof(genre));
    cr_assert_eq(strlen(genre), 63u, "the longest genre fits 2 * P0F3_STR_MAX");
    cr_assert_eq(genre[31], ' ');
    cr_assert_eq(genre[62], 'f');
}

/* ---- connection lines ---- */

Test(logfmt, connection_allow)
{
    struct logfmt l;
    struct connection_report r = base_report();
    struct p0f3_answer a = linux_answer();
    char genre[64];
    genre_format(&a, genre, sizeof(genre));
    r.judgement.verdict = VERDICT_ALLOW;
    r.answer = &a;
    r.genre = genre;
    logfmt_connection(&l, &r);
    cr_assert_str_eq(l.text, "remote=192.0.2.10:40000 local=198.51.100.1:25 verdict=allow ms=12 os=\"Linux\" "
                             "flavor=\"3.11 and newer\" genre=\"Linux 3.11 and newer\" match=exact distance=0 "
                             "link=\"Ethernet or modem\" uptime_min=120 total_conn=3");
    cr_assert_eq(l.len, strlen(l.text));
    cr_assert_not(l.truncated);
}

Test(logfmt, connection_allow_with_nat_os_change_karma_unknown_distance)
{
    struct logfmt l;
    struct connection_report r = base_report();
    struct p0f3_answer a = windows_answer();
    char genre[64];
    genre_format(&a, genre, sizeof(genre));
    a.distance = -1;
    a.os_match_q = P0F3_MATCH_FUZZY | P0F3_MATCH_GENERIC;
    a.last_nat = 1700000000;
    a.last_chg = 1700000100;
    r.judgement.verdict = VERDICT_ALLOW;
    r.judgement.karma = -1;
    r.answer = &a;
    r.genre = genre;
    logfmt_connection(&l, &r);
    cr_assert_str_eq(l.text, "remote=192.0.2.10:40000 local=198.51.100.1:25 verdict=allow ms=12 os=\"Windows\" "
                             "flavor=\"NT kernel\" genre=\"Windows NT kernel\" match=fuzzy distance=-1 link=\"DSL\" "
                             "uptime_min=0 total_conn=41 nat=1700000000 os_change=1700000100 karma=-1");
}

Test(logfmt, connection_block)
{
    struct logfmt l;
    struct connection_report r = base_report();
    struct p0f3_answer a = windows_answer();
    struct blocked_rule rule = {.text = "/windows/", .re = NULL, .line = 7};
    char genre[64];
    genre_format(&a, genre, sizeof(genre));
    r.remote = ep_of("2001:db8::1", 51000);
    r.local = ep_of("2001:db8::25", 587);
    r.elapsed_ms = 3;
    r.judgement.verdict = VERDICT_BLOCK;
    r.judgement.rule = &rule;
    r.judgement.karma = -1;
    r.answer = &a;
    r.genre = genre;
    logfmt_connection(&l, &r);
    cr_assert_str_eq(l.text, "remote=[2001:db8::1]:51000 local=[2001:db8::25]:587 verdict=block ms=3 "
                             "os=\"Windows\" flavor=\"NT kernel\" genre=\"Windows NT kernel\" match=generic "
                             "distance=7 link=\"DSL\" uptime_min=0 total_conn=41 rule=\"/windows/\" "
                             "rule_at=\"" BLOCKED ":7\" karma=-1");
}

/* A block the shim carried out after the MTA had the connection says how far the client got. */
Test(logfmt, connection_block_cut_off_too_late)
{
    struct logfmt l;
    struct connection_report r = base_report();
    r.judgement.verdict = VERDICT_BLOCK;
    r.elapsed_ms = 4;
    r.action = "close";
    r.cutoff = CUTOFF_TOO_LATE;
    r.client_sent_known = true;
    r.client_sent = 412;
    r.reason = "p0f timeout";
    logfmt_connection(&l, &r);
    cr_assert(strstr(l.text, " action=close cutoff=too_late client_sent=412 reason=\"p0f timeout\"") != NULL, "%s",
              l.text);
    r.cutoff = CUTOFF_IN_TIME;
    r.client_sent_known = false;
    logfmt_connection(&l, &r);
    cr_assert(strstr(l.text, " cutoff=in_time reason=") != NULL, "%s", l.text);
    cr_assert_null(strstr(l.text, "client_sent"), "%s", l.text);
    r.cutoff = CUTOFF_NONE;
    logfmt_connection(&l, &r);
    cr_assert_null(strstr(l.text, "cutoff"), "%s", l.text);
}

Test(logfmt, connection_rule_only_with_block)
{
    struct logfmt l;
    struct connection_report r = base_report();
    struct blocked_rule rule = {.text = "Windows XP", .re = NULL, .line = 2};
    r.judgement.verdict = VERDICT_ALLOW;
    r.judgement.rule = &rule;
    logfmt_connection(&l, &r);
    cr_assert_null(strstr(l.text, "rule"), "%s", l.text);
}

Test(logfmt, connection_exempt)
{
    struct logfmt l;
    struct connection_report r = base_report();
    struct p0f3_answer a = windows_answer();
    struct cidr net;
    const char *why;
    char genre[64];
    genre_format(&a, genre, sizeof(genre));
    cr_assert_eq(cidr_parse("192.0.2.0/24", &net, &why), 0);
    r.judgement.verdict = VERDICT_EXEMPT;
    r.judgement.exempt = &net;
    r.answer = &a;
    r.genre = genre;
    logfmt_connection(&l, &r);
    static const char *const keys[] = {"remote", "local", "verdict", "ms", "os", "flavor", "genre", "match",
                                       "distance", "link", "uptime_min", "total_conn", "exempt"};
    expect_keys(l.text, keys, sizeof(keys) / sizeof(keys[0]));
    cr_assert_not_null(strstr(l.text, " verdict=exempt "));
    cr_assert(strstr(l.text, " exempt=\"192.0.2.0/24\"") != NULL && l.text[l.len - 1] == '"', "%s", l.text);

    /* and without an answer (exempt hosts need not be looked up) */
    r.answer = NULL;
    r.genre = NULL;
    r.elapsed_ms = 0;
    logfmt_connection(&l, &r);
    cr_assert_str_eq(l.text, "remote=192.0.2.10:40000 local=198.51.100.1:25 verdict=exempt ms=0 "
                             "exempt=\"192.0.2.0/24\"");
}

Test(logfmt, connection_unknown)
{
    struct logfmt l;
    struct connection_report r = base_report();
    r.judgement.verdict = VERDICT_UNKNOWN;
    r.elapsed_ms = 500;
    r.reason = "no match";
    logfmt_connection(&l, &r);
    cr_assert_str_eq(l.text, "remote=192.0.2.10:40000 local=198.51.100.1:25 verdict=unknown ms=500 "
                             "reason=\"no match\"");

    /* p0f knows the host, not its OS: the answer is there with an empty os. */
    struct p0f3_answer a = linux_answer();
    a.os_name[0] = '\0';
    a.os_flavor[0] = '\0';
    r.answer = &a;
    r.genre = "";
    r.elapsed_ms = 4;
    r.reason = "os not identified";
    logfmt_connection(&l, &r);
    cr_assert_str_eq(l.text, "remote=192.0.2.10:40000 local=198.51.100.1:25 verdict=unknown ms=4 os=\"\" "
                             "flavor=\"\" genre=\"\" match=exact distance=0 link=\"Ethernet or modem\" "
                             "uptime_min=120 total_conn=3 reason=\"os not identified\"");
}

Test(logfmt, connection_error)
{
    struct logfmt l;
    struct connection_report r = base_report();
    r.judgement.verdict = VERDICT_ERROR;
    r.elapsed_ms = 1;
    r.reason = "p0f connect: No such file or directory";
    logfmt_connection(&l, &r);
    cr_assert_str_eq(l.text, "remote=192.0.2.10:40000 local=198.51.100.1:25 verdict=error ms=1 "
                             "reason=\"p0f connect: No such file or directory\"");
}

Test(logfmt, connection_hostile_strings_stay_inside_their_values)
{
    struct logfmt l;
    struct connection_report r = base_report();
    struct p0f3_answer a = linux_answer();
    struct blocked_rule rule = {.text = "/linux\" x=\"y/", .re = NULL, .line = 1};
    const char *hostile = "Linux\" verdict=allow\nfoo";
    char genre[64], buf[256];

    strcpy(a.os_name, hostile);
    strcpy(a.os_flavor, "x\r\ny=\"z\\");
    strcpy(a.link_type, "a b=c\x1b[2J\xe2\x80\xae");
    genre_format(&a, genre, sizeof(genre));
    r.judgement.verdict = VERDICT_BLOCK;
    r.judgement.rule = &rule;
    r.answer = &a;
    r.genre = genre;
    r.reason = NULL;
    logfmt_connection(&l, &r);

    cr_assert_null(strchr(l.text, '\n'), "raw newline in: %s", l.text);
    cr_assert_null(strchr(l.text, '\r'), "raw CR in: %s", l.text);
    static const char *const keys[] = {"remote", "local", "verdict", "ms", "os", "flavor", "genre", "match",
                                       "distance", "link", "uptime_min", "total_conn", "rule", "rule_at"};
    expect_keys(l.text, keys, sizeof(keys) / sizeof(keys[0]));
    cr_assert_str_eq(value_of(l.text, "verdict", buf, sizeof(buf)), "block", "the forged verdict did not win");
    cr_assert_str_eq(value_of(l.text, "os", buf, sizeof(buf)), hostile, "the value round-trips");
    cr_assert_str_eq(value_of(l.text, "flavor", buf, sizeof(buf)), "x\r\ny=\"z\\");
    cr_assert_str_eq(value_of(l.text, "link", buf, sizeof(buf)), "a b=c\x1b[2J\xe2\x80\xae");
    cr_assert_str_eq(value_of(l.text, "rule", buf, sizeof(buf)), "/linux\" x=\"y/");
    cr_assert_not_null(strstr(l.text, "os=\"Linux\\\" verdict=allow\\x0afoo\""), "%s", l.text);
}

/* ---- truncation ---- */

Test(logfmt, field_that_does_not_fit_is_left_out_whole)
{
    struct logfmt l;
    char value[400];
    memset(value, 'v', sizeof(value) - 1);
    value[sizeof(value) - 1] = '\0';
    logfmt_init(&l);
    for (int i = 0; i < 10; i++)
        logfmt_quoted(&l, "k", value);
    cr_assert(l.truncated);
    cr_assert_lt(l.len, (size_t)LOGFMT_MAX);
    cr_assert_eq(l.len, strlen(l.text));
    struct kv *f = calloc(64, sizeof(*f));
    size_t n = parse_line(l.text, f, 64);
    cr_assert_eq(n, 3u, "three 404-byte fields fit in %d bytes, a fourth does not", LOGFMT_MAX);
    for (size_t i = 0; i < n; i++)
        cr_assert_str_eq(f[i].value, value, "field %zu is whole", i);
    free(f);

    /* Small fields after a refused one still fit, and still whole. */
    size_t before = l.len;
    logfmt_int(&l, "n", 5);
    cr_assert_eq(l.len, before + 4);
    cr_assert_str_eq(l.text + before, " n=5");
}

Test(logfmt, exact_fit_boundary)
{
    struct logfmt l;
    char value[LOGFMT_MAX];
    logfmt_init(&l);
    size_t vlen = 500;
    memset(value, 'a', vlen);
    value[vlen] = '\0';
    logfmt_quoted(&l, "a", value);
    logfmt_quoted(&l, "b", value);
    logfmt_quoted(&l, "c", value);
    cr_assert_not(l.truncated);
    cr_assert_eq(l.len, 3 * (vlen + 4) + 2);
    /* A field of `room` bytes (after its separating space) ends exactly at LOGFMT_MAX - 1. */
    size_t room = LOGFMT_MAX - 1 - l.len - 1;
    char word[64];
    cr_assert_lt(room, sizeof(word) - 1);
    memset(word, 'w', room - 2);
    word[room - 2] = '\0';                            /* "d=" + word == room */
    struct logfmt copy = l;
    logfmt_word(&copy, "d", word);
    cr_assert_not(copy.truncated, "a field that exactly fits is written");
    cr_assert_eq(copy.len, (size_t)LOGFMT_MAX - 1);
    cr_assert_eq(copy.text[copy.len], '\0');
    cr_assert_eq(copy.text[copy.len - 1], 'w');
    word[room - 2] = 'w';
    word[room - 1] = '\0';
    copy = l;
    logfmt_word(&copy, "d", word);
    cr_assert(copy.truncated, "one byte more does not fit");
    cr_assert_eq(copy.len, l.len, "nothing of the refused field is written");
    cr_assert_str_eq(copy.text, l.text);
    copy = l;
    logfmt_int(&copy, "distance", 1234567890123LL);
    cr_assert(copy.truncated);
    cr_assert_str_eq(copy.text, l.text);
}

Test(logfmt, connection_line_with_everything_at_its_longest_is_well_formed)
{
    struct logfmt l;
    struct connection_report r = base_report();
    struct p0f3_answer a;
    char rule_text[300];
    struct blocked_rule rule = {.text = rule_text, .re = NULL, .line = 4294967295u};
    struct cidr net;
    const char *why;
    char genre[64];

    memset(&a, 0, sizeof(a));
    a.status = P0F3_STATUS_OK;
    memset(a.os_name, '\n', 31);
    memset(a.os_flavor, '"', 31);
    memset(a.link_type, 0xff, 31);
    a.distance = -1;
    a.uptime_min = 4294967295u;
    a.total_conn = 4294967295u;
    a.last_nat = 4294967295u;
    a.last_chg = 4294967295u;
    genre_format(&a, genre, sizeof(genre));
    memset(rule_text, '\x01', sizeof(rule_text) - 1);
    rule_text[0] = '/';
    rule_text[sizeof(rule_text) - 2] = '/';
    rule_text[sizeof(rule_text) - 1] = '\0';
    cr_assert_eq(cidr_parse("2001:db8:ffff:ffff:ffff:ffff:ffff:0/112", &net, &why), 0);
    r.remote = ep_of("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535);
    r.local = ep_of("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", 65535);
    r.elapsed_ms = 2147483647L;
    r.judgement.verdict = VERDICT_BLOCK;
    r.judgement.rule = &rule;
    r.judgement.karma = -1;
    r.judgement.exempt = &net;
    r.answer = &a;
    r.genre = genre;
    r.reason = "p0f: string field not terminated";
    logfmt_connection(&l, &r);

    cr_assert_lt(l.len, (size_t)LOGFMT_MAX);
    cr_assert_eq(l.len, strlen(l.text));
    struct kv *f = calloc(64, sizeof(*f));
    size_t n = parse_line(l.text, f, 64);
    cr_assert_geq(n, 4u);
    cr_assert_str_eq(f[0].key, "remote");
    cr_assert_str_eq(f[2].value, "block");
    /* whatever was written is whole: p0f strings round-trip exactly */
    for (size_t i = 0; i < n; i++) {
        if (strcmp(f[i].key, "os") == 0)
            cr_assert_str_eq(f[i].value, a.os_name);
        if (strcmp(f[i].key, "flavor") == 0)
            cr_assert_str_eq(f[i].value, a.os_flavor);
        if (strcmp(f[i].key, "genre") == 0)
            cr_assert_str_eq(f[i].value, genre);
        if (strcmp(f[i].key, "link") == 0)
            cr_assert_str_eq(f[i].value, a.link_type);
    }
    if (n < 19)
        cr_assert(l.truncated, "fields were left out (%zu written) but truncated is not set", n);
    free(f);
}

/* A value longer than logfmt_quoted's private buffer must not be silently shortened: the
 * contract is "a whole field or nothing" (here it fits the line, so it must be whole). */
Test(logfmt, long_value_is_written_whole_or_not_at_all)
{
    struct logfmt l;
    char value[700];
    char buf[1024];
    memset(value, 'r', sizeof(value) - 1);
    value[sizeof(value) - 1] = '\0';
    logfmt_init(&l);
    logfmt_word(&l, "verdict", "block");
    logfmt_quoted(&l, "rule", value);
    const char *got = value_of(l.text, "rule", buf, sizeof(buf));
    if (got)
        cr_assert_str_eq(got, value, "rule value cut to %zu of %zu bytes (truncated=%d)", strlen(got),
                         strlen(value), l.truncated);
    else
        cr_assert(l.truncated);
}

/* rule_at must keep its :LINE (or be left out and flagged), however long the file name. */
Test(logfmt, rule_at_keeps_the_line_with_a_long_path)
{
    struct logfmt l;
    struct connection_report r = base_report();
    struct blocked_rule rule = {.text = "/windows/", .re = NULL, .line = 42};
    char path[400], buf[1024], want[450];
    memset(path, 'd', sizeof(path) - 1);
    path[0] = '/';
    path[sizeof(path) - 1] = '\0';
    r.blocked_file = path;
    r.judgement.verdict = VERDICT_BLOCK;
    r.judgement.rule = &rule;
    logfmt_connection(&l, &r);
    snprintf(want, sizeof(want), "%s:42", path);
    const char *got = value_of(l.text, "rule_at", buf, sizeof(buf));
    if (got)
        cr_assert_str_eq(got, want, "rule_at cut to %zu of %zu bytes", strlen(got), strlen(want));
    else
        cr_assert(l.truncated);
}

/* ---- syslog_format ---- */

static struct tm tm_of(int mon, int mday, int hour, int min, int sec)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = 123;
    tm.tm_mon = mon;
    tm.tm_mday = mday;
    tm.tm_hour = hour;
    tm.tm_min = min;
    tm.tm_sec = sec;
    return tm;
}

Test(syslog, format_mail_info)
{
    char out[256];
    struct tm tm = tm_of(10, 5, 3, 4, 5);
    cr_assert_eq(LOG_MAIL | LOG_INFO, 22);
    size_t n = syslog_format(out, sizeof(out), LOG_MAIL | LOG_INFO, &tm, 123, "msg");
    cr_assert_str_eq(out, "<22>Nov  5 03:04:05 p0fshim[123]: msg");
    cr_assert_eq(n, strlen(out));
    cr_assert_null(strchr(out, '\n'), "no trailing newline");
}

Test(syslog, format_two_digit_day_and_other_months)
{
    char out[256];
    struct tm tm = tm_of(0, 15, 23, 59, 58);
    syslog_format(out, sizeof(out), LOG_LOCAL3 | LOG_WARNING, &tm, 4194304, "level=warning msg=\"x\"");
    cr_assert_str_eq(out, "<156>Jan 15 23:59:58 p0fshim[4194304]: level=warning msg=\"x\"");
    tm = tm_of(11, 31, 0, 0, 0);
    syslog_format(out, sizeof(out), LOG_MAIL | LOG_ERR, &tm, 1, "");
    cr_assert_str_eq(out, "<19>Dec 31 00:00:00 p0fshim[1]: ");
    tm = tm_of(1, 1, 12, 0, 9);
    syslog_format(out, sizeof(out), LOG_KERN | LOG_EMERG, &tm, 77, "m");
    cr_assert_str_eq(out, "<0>Feb  1 12:00:09 p0fshim[77]: m");
}

Test(syslog, format_truncates_to_the_buffer)
{
    char out[16];
    struct tm tm = tm_of(10, 5, 3, 4, 5);
    memset(out, 'X', sizeof(out));
    size_t n = syslog_format(out, sizeof(out), 22, &tm, 123, "a long message that does not fit");
    cr_assert_eq(n, sizeof(out) - 1, "the length actually in the buffer");
    cr_assert_eq(out[15], '\0');
    cr_assert_eq(strncmp(out, "<22>Nov  5 03:0", 15), 0);
}

Test(syslog, format_into_no_room_returns_zero)
{
    char out[1] = {'X'};
    struct tm tm = tm_of(10, 5, 3, 4, 5);
    size_t n = syslog_format(out, 0, 22, &tm, 123, "msg");
    cr_assert_eq(n, 0u, "nothing was written, yet %zu is returned", n);
    cr_assert_eq(out[0], 'X');
}

/* ---- rate_limit_allow ---- */

Test(syslog, rate_limit_one_per_period)
{
    struct rate_limit r = {0};
    unsigned long suppressed = 999;

    cr_assert(rate_limit_allow(&r, 1000, &suppressed));
    cr_assert_eq(suppressed, 0u);
    cr_assert_not(rate_limit_allow(&r, 1000, &suppressed));
    cr_assert_not(rate_limit_allow(&r, 1001, &suppressed));
    cr_assert_not(rate_limit_allow(&r, 1000 + RATE_LIMIT_PERIOD_S - 1, &suppressed));
    cr_assert(rate_limit_allow(&r, 1000 + RATE_LIMIT_PERIOD_S, &suppressed), "allowed again after one period");
    cr_assert_eq(suppressed, 3u, "three were held back");
    cr_assert_not(rate_limit_allow(&r, 1061, &suppressed));
    cr_assert(rate_limit_allow(&r, 5000, &suppressed));
    cr_assert_eq(suppressed, 1u);
    cr_assert(rate_limit_allow(&r, 6000, &suppressed));
    cr_assert_eq(suppressed, 0u, "the count restarts after it was reported");
}

Test(syslog, rate_limits_are_independent)
{
    struct rate_limit a = {0}, b = {0};
    unsigned long s;
    cr_assert(rate_limit_allow(&a, 100, &s));
    cr_assert(rate_limit_allow(&b, 101, &s), "another category is not held back");
    cr_assert_not(rate_limit_allow(&a, 102, &s));
    cr_assert_not(rate_limit_allow(&b, 103, &s));
}
