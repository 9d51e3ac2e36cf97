/* Regressions from fuzzing (tests/fuzz/): every input a fuzz target found that broke one of its
 * checks is replayed here, byte for byte, with the check as a unit test. No fuzz target has
 * found a failure yet (see mk/hardening.mk: `make fuzz`); the tests below pin the edge inputs
 * of the seed corpora whose handling the fuzz targets check, so that a change in the decoders
 * or parsers that breaks them fails here first, without clang. */
#include <criterion/criterion.h>

#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "logfmt.h"
#include "p0f2.h"
#include "p0f3.h"
#include "policy.h"

/* A v3 reply with the given status and os_name (exactly 32 bytes = no NUL). */
static void v3_reply(uint8_t out[P0F3_RESPONSE_LEN], uint32_t status, const char *os, size_t os_len)
{
    uint32_t magic = P0F3_RESP_MAGIC;
    memset(out, 0, P0F3_RESPONSE_LEN);
    memcpy(out, &magic, 4);
    memcpy(out + 4, &status, 4);
    memcpy(out + 40, os, os_len);
}

static void assert_one_printable_line(const struct logfmt *l)
{
    cr_assert_eq(strlen(l->text), l->len);
    for (size_t i = 0; i < l->len; i++)
        cr_assert(l->text[i] >= 0x20 && l->text[i] < 0x7f, "byte 0x%02x at %zu in: %s",
                  (unsigned)(unsigned char)l->text[i], i, l->text);
}

/* corpus/p0f3/unterminated: os_name fills all 32 bytes. */
Test(regressions, p0f3_os_name_without_nul_is_refused_and_cleared)
{
    uint8_t buf[P0F3_RESPONSE_LEN];
    struct p0f3_answer a;
    v3_reply(buf, P0F3_STATUS_OK, "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX", 32);
    cr_assert_eq(p0f3_decode_response(buf, sizeof(buf), &a), P0F3_ERR_UNTERMINATED);
    cr_assert_eq(a.os_name[0], '\0');
}

/* Any length short of a reply, including 0, is refused without reading past it. */
Test(regressions, p0f3_every_short_length_is_refused)
{
    uint8_t buf[P0F3_RESPONSE_LEN];
    struct p0f3_answer a;
    v3_reply(buf, P0F3_STATUS_OK, "Linux", 5);
    for (size_t n = 0; n < sizeof(buf); n++)
        cr_assert_eq(p0f3_decode_response(buf, n, &a), P0F3_ERR_SHORT, "length %zu", n);
}

/* corpus/p0f3/hostile: whatever p0f says, the connection line stays one line of printable ASCII,
 * and a line full of long values leaves fields out whole. */
Test(regressions, p0f3_hostile_strings_make_one_printable_line)
{
    uint8_t buf[P0F3_RESPONSE_LEN];
    struct p0f3_answer a;
    char genre[2 * P0F3_STR_MAX];
    static const char hostile[] = "Win\" verdict=allow\n<14>\r\xff\x01\\";
    v3_reply(buf, P0F3_STATUS_OK, hostile, sizeof(hostile));
    memset(buf + 72, 0xff, 31);   /* os_flavor: 31 bytes of 0xff, then NUL */
    cr_assert_eq(p0f3_decode_response(buf, sizeof(buf), &a), P0F3_DECODED_OK);
    genre_format(&a, genre, sizeof(genre));

    struct connection_report r;
    memset(&r, 0, sizeof(r));
    r.remote.family = AF_INET;
    r.local.family = AF_INET;
    r.answer = &a;
    r.genre = genre;
    r.greylist_wait_s = -1;
    r.judgement.verdict = VERDICT_ALLOW;
    struct logfmt l;
    logfmt_connection(&l, &r);
    assert_one_printable_line(&l);
    cr_assert(strstr(l.text, " verdict=allow ") != NULL);
    cr_assert(strstr(l.text, "os=\"Win\\\" verdict=allow\\x0a<14>\\x0d\\xff\\x01\\\\\"") != NULL, "%s", l.text);

    logfmt_init(&l);
    for (int i = 0; i < 60; i++)
        logfmt_quoted(&l, "flavor", a.os_flavor);
    assert_one_printable_line(&l);
    cr_assert(l.len < LOGFMT_MAX);
}

/* corpus/p0f2/unterminated and wrongid. */
Test(regressions, p0f2_unterminated_genre_and_wrong_id)
{
    uint8_t buf[P0F2_RESPONSE_LEN];
    struct p0f2_answer a;
    uint32_t magic = P0F2_MAGIC, id = 7;
    memset(buf, 0, sizeof(buf));
    memcpy(buf, &magic, 4);
    memcpy(buf + 4, &id, 4);
    memset(buf + 9, 'G', 20);
    cr_assert_eq(p0f2_decode_response(buf, sizeof(buf), 7, &a), P0F2_ERR_UNTERMINATED);
    cr_assert_eq(p0f2_decode_response(buf, sizeof(buf), 8, &a), P0F2_ERR_ID);
    for (size_t n = 0; n < sizeof(buf); n++)
        cr_assert_eq(p0f2_decode_response(buf, n, 7, &a), P0F2_ERR_SHORT, "length %zu", n);
}

static int parse_config(struct config *c, const char *text, size_t len, struct diag *err)
{
    memset(err, 0, sizeof(*err));
    config_init(c);
    return config_parse(c, text, len, "fuzz.conf", err);
}

/* corpus/config/nul: a NUL inside a line is an error on that line, not a cut. */
Test(regressions, config_nul_byte_is_an_error_with_its_line)
{
    static struct config c;
    struct diag err;
    static const char text[] = "ports 25\n# ok\nports 25\0 587\n";
    cr_assert_eq(parse_config(&c, text, sizeof(text) - 1, &err), -1);
    cr_assert_eq(err.line, 3);
    cr_assert_str_eq(err.file, "fuzz.conf");
    config_free(&c);
}

/* corpus/config/many-words: more words than the parser holds is an error, and frees what the
 * line before it allocated. */
Test(regressions, config_too_many_words_is_an_error)
{
    static struct config c;
    static char text[4096];
    struct diag err;
    size_t off = (size_t)snprintf(text, sizeof(text), "smite_os windows\nexempt");
    for (int i = 0; i < 70; i++)
        off += (size_t)snprintf(text + off, sizeof(text) - off, " 10.0.%d.0/24", i);
    text[off++] = '\n';
    cr_assert_eq(parse_config(&c, text, off, &err), -1);
    cr_assert_eq(err.line, 2);
    config_free(&c);
}

/* corpus/config/bad-regex, crlf, p0f_user-numeric. */
Test(regressions, config_edge_lines)
{
    static struct config c;
    struct diag err;
    static const char bad[] = "smite_os ((\n";
    cr_assert_eq(parse_config(&c, bad, sizeof(bad) - 1, &err), -1);
    cr_assert_eq(err.line, 1);
    config_free(&c);
    static const char crlf[] = "socket /run/p0f/p0f.sock\r\nports 25\r\np0f_user 65534\r\n";
    cr_assert_eq(parse_config(&c, crlf, sizeof(crlf) - 1, &err), 0, "%s", err.reason);
    cr_assert_str_eq(c.v3.socket_path, "/run/p0f/p0f.sock");
    cr_assert_eq(c.p0f_uid, (uid_t)65534);
    config_free(&c);
}

/* corpus/blocked/slash-only: "/" is a phrase; "/ /" a regex of one blank; and both are rules on
 * their own lines. A NUL byte in a line is an error naming it. */
Test(regressions, blocked_slash_lines_and_nul)
{
    struct policy p;
    struct diag err;
    static const char text[] = "/\n/ /\n";
    memset(&p, 0, sizeof(p));
    cr_assert_eq(policy_parse_blocked(&p, text, sizeof(text) - 1, "b", &err), 0, "%s", err.reason);
    cr_assert_eq(p.nrules, 2);
    cr_assert_null(p.rules[0].re);
    cr_assert_not_null(p.rules[1].re);
    cr_assert_eq(p.rules[1].line, 2);
    policy_free(&p);
    static const char nul[] = "/win/\nab\0cd\n";
    memset(&p, 0, sizeof(p));
    cr_assert_eq(policy_parse_blocked(&p, nul, sizeof(nul) - 1, "b", &err), -1);
    cr_assert_eq(err.line, 2);
    policy_free(&p);
}

/* corpus/blocked/phrases-regexes: a catastrophic pattern against a long genre ends (the match
 * limit), as no match. */
Test(regressions, blocked_backtracking_pattern_is_bounded)
{
    struct policy p;
    struct diag err;
    struct judgement j;
    struct endpoint peer;
    static const char text[] = "/(a+)+b/\n";
    memset(&p, 0, sizeof(p));
    memset(&peer, 0, sizeof(peer));
    peer.family = AF_INET;
    cr_assert_eq(policy_parse_blocked(&p, text, sizeof(text) - 1, "b", &err), 0);
    policy_judge(&p, &peer, LOOKUP_OS_KNOWN, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaac", &j);
    cr_assert_eq(j.verdict, VERDICT_ALLOW);
    policy_free(&p);
}
