/* libFuzzer target: the p0f v3 reply decoder, and the log line built from what it accepts.
 * Input: bytes as p0f would send them (232 make a reply; shorter ones must be refused).
 * Checks: no memory error (ASan/UBSan); a decoded answer has NUL-terminated strings; the
 * connection line built from it is one line of printable ASCII (nothing p0f says can start a
 * line or a field). */
#include <assert.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>

#include "logfmt.h"
#include "p0f3.h"
#include "policy.h"

static void check_line(const struct logfmt *l)
{
    assert(l->len < sizeof(l->text));
    assert(strlen(l->text) == l->len);
    for (size_t i = 0; i < l->len; i++)
        assert(l->text[i] >= 0x20 && l->text[i] < 0x7f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct p0f3_answer a;
    enum p0f3_decode_status st = p0f3_decode_response(data, size, &a);
    assert(p0f3_decode_strerror(st) != NULL);
    if (size < P0F3_RESPONSE_LEN)
        assert(st == P0F3_ERR_SHORT);
    if (st != P0F3_DECODED_OK)
        return 0;
    assert(memchr(a.os_name, 0, sizeof(a.os_name)) && memchr(a.os_flavor, 0, sizeof(a.os_flavor)));
    assert(memchr(a.http_name, 0, sizeof(a.http_name)) && memchr(a.http_flavor, 0, sizeof(a.http_flavor)));
    assert(memchr(a.link_type, 0, sizeof(a.link_type)) && memchr(a.language, 0, sizeof(a.language)));
    assert(a.distance >= -1);
    (void)p0f3_match_word(a.os_match_q);

    char genre[2 * P0F3_STR_MAX];
    genre_format(&a, genre, sizeof(genre));
    assert(memchr(genre, 0, sizeof(genre)));

    struct connection_report r;
    memset(&r, 0, sizeof(r));
    r.remote.family = AF_INET;
    r.local.family = AF_INET6;
    r.remote.port = 40000;
    r.local.port = 25;
    r.answer = &a;
    r.genre = genre;
    r.reason = a.os_name[0] ? NULL : "os not identified";
    r.blocked_file = "/etc/p0fshim/blocked_operating_systems";
    r.greylist_wait_s = -1;
    r.judgement.verdict = a.os_name[0] ? VERDICT_ALLOW : VERDICT_UNKNOWN;
    struct logfmt l;
    logfmt_connection(&l, &r);
    check_line(&l);
    /* A value as long as the line allows: fields are left out whole, never cut. */
    logfmt_init(&l);
    for (int i = 0; i < 60; i++)
        logfmt_quoted(&l, "os", a.os_name);
    check_line(&l);
    return 0;
}
