/* p0f v2 wire format (p0f 2.0.8 -Q). Expected query bytes and test replies are built byte by
 * byte at the offsets of shared/reference/p0f-protocol.md, never with the codec's own
 * structs: the layout is natural alignment (24-byte query, 144-byte reply), addresses in
 * network order, ports and integers in host order. */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>

#include "p0f2.h"

#define QLEN 24
#define RLEN 144
#define MAGIC 0x0defacedu

/* Query offsets. */
#define Q_MAGIC 0
#define Q_TYPE 4
#define Q_PAD 5         /* 3 bytes */
#define Q_ID 8
#define Q_SRC_AD 12
#define Q_DST_AD 16
#define Q_SRC_PORT 20
#define Q_DST_PORT 22

/* Reply offsets. */
#define R_MAGIC 0
#define R_ID 4
#define R_TYPE 8
#define R_GENRE 9       /* 20 */
#define R_DETAIL 29     /* 40 */
#define R_DIST 69
#define R_LINK 70       /* 30 */
#define R_TOS 100       /* 30 */
#define R_FW 130
#define R_NAT 131
#define R_REAL 132
#define R_PAD1 133
#define R_SCORE 134
#define R_MFLAGS 136
#define R_PAD2 138      /* 2 bytes */
#define R_UPTIME 140

#define REPLY_ID 0x5a17c0deu

static const struct {
    const char *name;
    size_t off, size;
} string_fields[] = {
    {"genre", R_GENRE, 20}, {"detail", R_DETAIL, 40}, {"link", R_LINK, 30}, {"tos", R_TOS, 30},
};

/* Host byte order, byte by byte. */
static void put_u32(uint8_t *buf, size_t off, uint32_t v)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    buf[off] = (uint8_t)v;
    buf[off + 1] = (uint8_t)(v >> 8);
    buf[off + 2] = (uint8_t)(v >> 16);
    buf[off + 3] = (uint8_t)(v >> 24);
#else
    buf[off] = (uint8_t)(v >> 24);
    buf[off + 1] = (uint8_t)(v >> 16);
    buf[off + 2] = (uint8_t)(v >> 8);
    buf[off + 3] = (uint8_t)v;
#endif
}

static void put_u16(uint8_t *buf, size_t off, uint16_t v)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    buf[off] = (uint8_t)v;
    buf[off + 1] = (uint8_t)(v >> 8);
#else
    buf[off] = (uint8_t)(v >> 8);
    buf[off + 1] = (uint8_t)v;
#endif
}

static void put_str(uint8_t *buf, size_t off, size_t size, const char *s)
{
    size_t n = strlen(s);
    cr_assert_lt(n, size);
    memset(buf + off, 0, size);
    memcpy(buf + off, s, n);
}

/* An OK reply with a distinct value in every field, and junk in the three padding bytes
 * (a decoder that reads them, as qpsmtpd's unpack does, gets score/mflags/uptime wrong). */
static void ok_reply(uint8_t buf[RLEN])
{
    memset(buf, 0, RLEN);
    put_u32(buf, R_MAGIC, MAGIC);
    put_u32(buf, R_ID, REPLY_ID);
    buf[R_TYPE] = 0;
    put_str(buf, R_GENRE, 20, "Windows");
    put_str(buf, R_DETAIL, 40, "XP/2000 (RFC1323+, w+, tstamp-)");
    buf[R_DIST] = 0xff;                    /* -1: unknown */
    put_str(buf, R_LINK, 30, "ethernet/modem");
    put_str(buf, R_TOS, 30, "low delay");
    buf[R_FW] = 1;
    buf[R_NAT] = 1;
    buf[R_REAL] = 1;
    buf[R_PAD1] = 0xa5;
    put_u16(buf, R_SCORE, (uint16_t)-100); /* NO_SCORE */
    put_u16(buf, R_MFLAGS, 0x0c35);        /* D_GENRE|D_LINK|D_NAT|D_FW|D_FW2_2|D_FAST|D_TNEG */
    buf[R_PAD2] = 0x5a;
    buf[R_PAD2 + 1] = 0xc3;
    put_u32(buf, R_UPTIME, 1390);          /* hours */
}

static struct endpoint ep(const char *ip, uint16_t port)
{
    struct endpoint e;
    cr_assert_eq(endpoint_parse_ip(ip, &e), 0, "%s", ip);
    e.port = port;
    return e;
}

/* The 24 bytes a correct client sends. */
static void want_query(uint8_t want[QLEN], uint32_t id, const uint8_t src[4], const uint8_t dst[4],
                       uint16_t sport, uint16_t dport)
{
    memset(want, 0, QLEN);
    put_u32(want, Q_MAGIC, MAGIC);
    want[Q_TYPE] = 1;
    put_u32(want, Q_ID, id);
    memcpy(want + Q_SRC_AD, src, 4);
    memcpy(want + Q_DST_AD, dst, 4);
    put_u16(want, Q_SRC_PORT, sport);
    put_u16(want, Q_DST_PORT, dport);
}

/* Encodes into a guarded buffer and compares the 24 bytes; nothing may be written past them. */
static void expect_query(const struct endpoint *remote, const struct endpoint *local, const struct endpoint *local_ip,
                         uint32_t id, const uint8_t want[QLEN])
{
    uint8_t out[QLEN + 8];
    memset(out, 0xcc, sizeof(out));
    cr_assert_eq(p0f2_encode_query(remote, local, local_ip, id, out), 0);
    for (size_t i = 0; i < QLEN; i++)
        cr_assert_eq(out[i], want[i], "query byte %zu is 0x%02x, want 0x%02x", i, out[i], want[i]);
    for (size_t i = QLEN; i < sizeof(out); i++)
        cr_assert_eq(out[i], 0xcc, "wrote beyond 24 bytes (byte %zu)", i);
}

static void expect_refused(const struct endpoint *remote, const struct endpoint *local, const struct endpoint *local_ip)
{
    uint8_t out[QLEN];
    memset(out, 0xcc, sizeof(out));
    cr_assert_eq(p0f2_encode_query(remote, local, local_ip, 1, out), -1);
    for (size_t i = 0; i < QLEN; i++)
        cr_assert_eq(out[i], 0xcc, "a refused query wrote byte %zu", i);
}

static enum p0f2_decode_status decode(const uint8_t *buf, size_t len, struct p0f2_answer *a)
{
    return p0f2_decode_response(buf, len, REPLY_ID, a);
}

static void assert_answer_empty(const struct p0f2_answer *a, const char *what)
{
    cr_assert_str_eq(a->genre, "", "%s: genre", what);
    cr_assert_str_eq(a->detail, "", "%s: detail", what);
    cr_assert_str_eq(a->link, "", "%s: link", what);
    cr_assert_str_eq(a->tos, "", "%s: tos", what);
}

/* ---- sizes ---- */

Test(p0f2, sizes)
{
    cr_assert_eq(P0F2_QUERY_LEN, 24);
    cr_assert_eq(P0F2_RESPONSE_LEN, 144);
    cr_assert_eq(P0F2_MAGIC, 0x0defacedu);
}

/* ---- query ---- */

Test(p0f2, query_every_byte)
{
    struct endpoint remote = ep("192.0.2.33", 40123), local = ep("192.0.2.1", 25);
    static const uint8_t src[4] = {192, 0, 2, 33}, dst[4] = {192, 0, 2, 1};
    uint8_t want[QLEN];
    want_query(want, 0x11223344u, src, dst, 40123, 25);
    expect_query(&remote, &local, NULL, 0x11223344u, want);
}

Test(p0f2, query_literal_bytes_little_endian)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    /* Written out by hand once: magic and id in host order, addresses in network order,
     * ports in host order (40123 = 0x9cbb, 587 = 0x024b). */
    static const uint8_t want[QLEN] = {
        0xed, 0xac, 0xef, 0x0d,     /* magic 0x0defaced */
        0x01, 0x00, 0x00, 0x00,     /* type 1, padding */
        0x44, 0x33, 0x22, 0x11,     /* id 0x11223344 */
        198, 51, 100, 7,            /* src_ad 198.51.100.7 */
        192, 0, 2, 1,               /* dst_ad 192.0.2.1 */
        0xbb, 0x9c,                 /* src_port 40123 */
        0x4b, 0x02,                 /* dst_port 587 */
    };
    struct endpoint remote = ep("198.51.100.7", 40123), local = ep("192.0.2.1", 587);
    expect_query(&remote, &local, NULL, 0x11223344u, want);
#else
    cr_skip_test("little-endian literal");
#endif
}

Test(p0f2, query_padding_is_zero_even_with_junk_in_endpoints)
{
    struct endpoint remote, local;
    static const uint8_t src[4] = {10, 1, 2, 3}, dst[4] = {10, 9, 8, 7};
    uint8_t want[QLEN];

    memset(&remote, 0xee, sizeof(remote));
    memset(&local, 0xdd, sizeof(local));
    remote.family = local.family = AF_INET;
    memcpy(remote.ip, src, 4);
    memcpy(local.ip, dst, 4);
    remote.port = 1025;
    local.port = 25;
    want_query(want, 9, src, dst, 1025, 25);
    expect_query(&remote, &local, NULL, 9, want);
}

Test(p0f2, query_id_is_carried_as_given)
{
    struct endpoint remote = ep("192.0.2.33", 1), local = ep("192.0.2.1", 25);
    static const uint8_t src[4] = {192, 0, 2, 33}, dst[4] = {192, 0, 2, 1};
    static const uint32_t ids[] = {0, 1, 0x80000000u, 0xffffffffu};
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        uint8_t want[QLEN];
        want_query(want, ids[i], src, dst, 1, 25);
        expect_query(&remote, &local, NULL, ids[i], want);
    }
}

Test(p0f2, query_ports_extremes)
{
    struct endpoint remote = ep("192.0.2.33", 65535), local = ep("192.0.2.1", 1);
    static const uint8_t src[4] = {192, 0, 2, 33}, dst[4] = {192, 0, 2, 1};
    uint8_t want[QLEN];
    want_query(want, 5, src, dst, 65535, 1);
    expect_query(&remote, &local, NULL, 5, want);
}

Test(p0f2, query_local_ip_overrides_the_address_not_the_port)
{
    /* The seed's example: the server is 127.0.0.6, the world knows it as 208.75.177.101. */
    struct endpoint remote = ep("192.0.2.33", 40000), local = ep("127.0.0.6", 25);
    struct endpoint public_ip = ep("208.75.177.101", 0);
    static const uint8_t src[4] = {192, 0, 2, 33}, dst[4] = {208, 75, 177, 101};
    uint8_t want[QLEN];
    want_query(want, 77, src, dst, 40000, 25);
    expect_query(&remote, &local, &public_ip, 77, want);
}

Test(p0f2, query_local_ip_lets_an_ipv6_listener_ask_about_an_ipv4_peer)
{
    /* The dst address comes from local_ip alone; the local port is still the local one. */
    struct endpoint remote = ep("192.0.2.33", 40000), local = ep("2001:db8::25", 587);
    struct endpoint public_ip = ep("198.51.100.25", 0);
    static const uint8_t src[4] = {192, 0, 2, 33}, dst[4] = {198, 51, 100, 25};
    uint8_t want[QLEN];
    want_query(want, 3, src, dst, 40000, 587);
    expect_query(&remote, &local, &public_ip, 3, want);
}

Test(p0f2, query_ipv6_is_refused)
{
    struct endpoint v6 = ep("2001:db8::1", 40000), v6_local = ep("2001:db8::25", 25);
    struct endpoint v4 = ep("192.0.2.33", 40000), v4_local = ep("192.0.2.1", 25);
    struct endpoint v4_public = ep("198.51.100.25", 0), v6_public = ep("2001:db8::99", 0);
    expect_refused(&v6, &v6_local, NULL);
    expect_refused(&v6, &v4_local, NULL);
    expect_refused(&v4, &v6_local, NULL);
    expect_refused(&v6, &v6_local, &v4_public);   /* an IPv6 peer stays unaskable */
    expect_refused(&v4, &v4_local, &v6_public);   /* an IPv6 local_ip cannot be sent */
}

Test(p0f2, query_v4mapped_peer_is_ipv4)
{
    struct sockaddr_in6 sa;
    struct endpoint remote, local = ep("192.0.2.1", 25);
    static const uint8_t src[4] = {198, 51, 100, 77}, dst[4] = {192, 0, 2, 1};
    uint8_t want[QLEN];

    memset(&sa, 0, sizeof(sa));
    sa.sin6_family = AF_INET6;
    sa.sin6_port = htons(40001);
    cr_assert_eq(inet_pton(AF_INET6, "::ffff:198.51.100.77", &sa.sin6_addr), 1);
    cr_assert_eq(endpoint_from_sockaddr((struct sockaddr *)&sa, sizeof(sa), &remote), 0);
    want_query(want, 4, src, dst, 40001, 25);
    expect_query(&remote, &local, NULL, 4, want);
}

/* ---- reply ---- */

Test(p0f2, decode_every_field)
{
    uint8_t buf[RLEN];
    struct p0f2_answer a;

    ok_reply(buf);
    cr_assert_eq(decode(buf, sizeof(buf), &a), P0F2_DECODED_OK);
    cr_assert_eq(a.id, REPLY_ID);
    cr_assert_str_eq(a.genre, "Windows");
    cr_assert_str_eq(a.detail, "XP/2000 (RFC1323+, w+, tstamp-)");
    cr_assert_eq(a.dist, -1);
    cr_assert_str_eq(a.link, "ethernet/modem");
    cr_assert_str_eq(a.tos, "low delay");
    cr_assert(a.fw);
    cr_assert(a.nat);
    cr_assert(a.real);
    cr_assert_eq(a.score, -100, "score %d", a.score);
    cr_assert_eq(a.mflags, 0x0c35u, "mflags 0x%x", a.mflags);
    cr_assert_eq(a.uptime_h, 1390, "uptime %d h", a.uptime_h);
}

Test(p0f2, decode_from_unaligned_buffer)
{
    uint8_t storage[RLEN + 3];
    struct p0f2_answer a;
    ok_reply(storage + 3);
    cr_assert_eq(decode(storage + 3, RLEN, &a), P0F2_DECODED_OK);
    cr_assert_eq(a.score, -100);
    cr_assert_eq(a.uptime_h, 1390);
    cr_assert_str_eq(a.tos, "low delay");
}

Test(p0f2, decode_numbers_at_their_offsets)
{
    static const struct {
        uint8_t dist;
        uint16_t score, mflags;
        uint32_t uptime;
        int want_dist, want_score;
        unsigned want_mflags;
        int want_uptime;
    } cases[] = {
        {0x00, 0, 0, 0, 0, 0, 0, 0},
        {0x0c, 40, 0x0001, 0xffffffffu, 12, 40, 0x0001, -1},     /* uptime -1: unknown */
        {0x80, 0x8000, 0xffff, 0x7fffffffu, -128, -32768, 0xffff, 2147483647},
        {0x7f, 0x7fff, 0x8000, 24 * 365, 127, 32767, 0x8000, 8760},
        {0xff, (uint16_t)-100, 0x0c35, 1390, -1, -100, 0x0c35, 1390},
        {0x0a, 0x0a0a, 0x0a0a, 0x0a0a0a0au, 10, 0x0a0a, 0x0a0a, 0x0a0a0a0a}, /* '\n' bytes are data */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t buf[RLEN];
        struct p0f2_answer a;
        ok_reply(buf);
        buf[R_DIST] = cases[i].dist;
        put_u16(buf, R_SCORE, cases[i].score);
        put_u16(buf, R_MFLAGS, cases[i].mflags);
        put_u32(buf, R_UPTIME, cases[i].uptime);
        cr_assert_eq(decode(buf, sizeof(buf), &a), P0F2_DECODED_OK, "case %zu", i);
        cr_assert_eq(a.dist, cases[i].want_dist, "case %zu: dist %d", i, a.dist);
        cr_assert_eq(a.score, cases[i].want_score, "case %zu: score %d", i, a.score);
        cr_assert_eq(a.mflags, cases[i].want_mflags, "case %zu: mflags 0x%x", i, a.mflags);
        cr_assert_eq(a.uptime_h, cases[i].want_uptime, "case %zu: uptime %d", i, a.uptime_h);
        /* neighbours untouched */
        cr_assert_str_eq(a.detail, "XP/2000 (RFC1323+, w+, tstamp-)", "case %zu", i);
        cr_assert_str_eq(a.link, "ethernet/modem", "case %zu", i);
    }
}

Test(p0f2, decode_padding_is_ignored)
{
    uint8_t buf[RLEN];
    struct p0f2_answer a, b;
    ok_reply(buf);
    cr_assert_eq(decode(buf, sizeof(buf), &a), P0F2_DECODED_OK);
    buf[R_PAD1] = 0;
    buf[R_PAD2] = buf[R_PAD2 + 1] = 0;
    cr_assert_eq(decode(buf, sizeof(buf), &b), P0F2_DECODED_OK);
    buf[R_PAD1] = 0xff;
    buf[R_PAD2] = buf[R_PAD2 + 1] = 0xff;
    cr_assert_eq(decode(buf, sizeof(buf), &b), P0F2_DECODED_OK);
    cr_assert_eq(memcmp(&a, &b, sizeof(a)), 0, "padding bytes changed the answer");
}

Test(p0f2, decode_flags_nat_fw_real)
{
    static const struct { uint8_t fw, nat, real; } cases[] = {
        {0, 0, 0}, {1, 0, 0}, {0, 1, 0}, {0, 0, 1}, {2, 0x80, 0xff},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t buf[RLEN];
        struct p0f2_answer a;
        ok_reply(buf);
        buf[R_FW] = cases[i].fw;
        buf[R_NAT] = cases[i].nat;
        buf[R_REAL] = cases[i].real;
        cr_assert_eq(decode(buf, sizeof(buf), &a), P0F2_DECODED_OK);
        cr_assert_eq(a.fw, cases[i].fw != 0, "case %zu: fw", i);
        cr_assert_eq(a.nat, cases[i].nat != 0, "case %zu: nat", i);
        cr_assert_eq(a.real, cases[i].real != 0, "case %zu: real", i);
        cr_assert_eq(a.score, -100, "case %zu: score untouched", i);
    }
}

Test(p0f2, decode_longest_strings)
{
    uint8_t buf[RLEN];
    struct p0f2_answer a;
    char text[41];

    ok_reply(buf);
    for (size_t i = 0; i < 4; i++) {
        memset(text, (int)('a' + i), string_fields[i].size - 1);
        text[string_fields[i].size - 1] = '\0';
        put_str(buf, string_fields[i].off, string_fields[i].size, text);
    }
    cr_assert_eq(decode(buf, sizeof(buf), &a), P0F2_DECODED_OK);
    cr_assert_eq(strlen(a.genre), 19u);
    cr_assert_eq(strlen(a.detail), 39u);
    cr_assert_eq(strlen(a.link), 29u);
    cr_assert_eq(strlen(a.tos), 29u);
    cr_assert_eq(a.genre[0], 'a');
    cr_assert_eq(a.detail[38], 'b');
    cr_assert_eq(a.link[0], 'c');
    cr_assert_eq(a.tos[28], 'd');
    cr_assert_eq(a.dist, -1, "dist right after detail is untouched");
    cr_assert(a.fw, "fw right after tos is untouched");
}

Test(p0f2, decode_empty_genre_is_ok)
{
    uint8_t buf[RLEN];
    struct p0f2_answer a;
    ok_reply(buf);
    memset(buf + R_GENRE, 0, 60);
    cr_assert_eq(decode(buf, sizeof(buf), &a), P0F2_DECODED_OK);
    cr_assert_str_eq(a.genre, "");
    cr_assert_str_eq(a.detail, "");
    cr_assert_str_eq(a.link, "ethernet/modem");
}

Test(p0f2, decode_each_unterminated_string)
{
    for (size_t i = 0; i < 4; i++) {
        uint8_t buf[RLEN];
        struct p0f2_answer a;
        ok_reply(buf);
        memset(buf + string_fields[i].off, 'A', string_fields[i].size);
        cr_assert_eq(decode(buf, sizeof(buf), &a), P0F2_ERR_UNTERMINATED, "%s without a NUL must be rejected",
                     string_fields[i].name);
        assert_answer_empty(&a, string_fields[i].name);
        cr_assert_eq(a.score, 0, "%s: no partial answer", string_fields[i].name);
        cr_assert_eq(a.uptime_h, 0, "%s: no partial answer", string_fields[i].name);
    }
    cr_assert_str_eq(p0f2_decode_strerror(P0F2_ERR_UNTERMINATED), "p0f v2: string field not terminated");
}

Test(p0f2, decode_nomatch)
{
    uint8_t buf[RLEN];
    struct p0f2_answer a;

    /* What p0f 2 sends: magic, the id, type 2, dist -1, the rest zero. */
    memset(buf, 0, sizeof(buf));
    put_u32(buf, R_MAGIC, MAGIC);
    put_u32(buf, R_ID, REPLY_ID);
    buf[R_TYPE] = 2;
    buf[R_DIST] = 0xff;
    cr_assert_eq(decode(buf, sizeof(buf), &a), P0F2_DECODED_NOMATCH);
    assert_answer_empty(&a, "nomatch");

    /* A NOMATCH that carries strings still yields no OS. */
    ok_reply(buf);
    buf[R_TYPE] = 2;
    cr_assert_eq(decode(buf, sizeof(buf), &a), P0F2_DECODED_NOMATCH);
    assert_answer_empty(&a, "nomatch with strings");
    cr_assert_str_eq(p0f2_decode_strerror(P0F2_DECODED_NOMATCH), "no match");
}

Test(p0f2, decode_badquery)
{
    uint8_t buf[RLEN];
    struct p0f2_answer a;
    ok_reply(buf);
    buf[R_TYPE] = 1;
    cr_assert_eq(decode(buf, sizeof(buf), &a), P0F2_ERR_BADQUERY);
    assert_answer_empty(&a, "badquery");
    cr_assert_not_null(strstr(p0f2_decode_strerror(P0F2_ERR_BADQUERY), "BADQUERY"));
    cr_assert_not_null(strstr(p0f2_decode_strerror(P0F2_ERR_BADQUERY), "p0f v2"));
}

Test(p0f2, decode_bad_magic)
{
    static const uint32_t bad[] = {0xedacef0du /* byte-swapped */, 0x50304602u /* v3 reply */, 0, 0xdeadbeefu};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint8_t buf[RLEN];
        struct p0f2_answer a;
        ok_reply(buf);
        put_u32(buf, R_MAGIC, bad[i]);
        cr_assert_eq(decode(buf, sizeof(buf), &a), P0F2_ERR_MAGIC, "magic 0x%08x", bad[i]);
        assert_answer_empty(&a, "bad magic");
    }
    cr_assert_str_eq(p0f2_decode_strerror(P0F2_ERR_MAGIC), "p0f v2: bad magic");
}

Test(p0f2, decode_wrong_id)
{
    static const uint32_t other[] = {REPLY_ID + 1, REPLY_ID - 1, 0, 0xdec0175au /* byte-swapped */};
    for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
        uint8_t buf[RLEN];
        struct p0f2_answer a;
        ok_reply(buf);
        put_u32(buf, R_ID, other[i]);
        cr_assert_eq(decode(buf, sizeof(buf), &a), P0F2_ERR_ID, "id 0x%08x", other[i]);
        assert_answer_empty(&a, "wrong id");
        /* a NOMATCH for another query is not ours either */
        buf[R_TYPE] = 2;
        cr_assert_eq(decode(buf, sizeof(buf), &a), P0F2_ERR_ID, "nomatch with id 0x%08x", other[i]);
    }
    cr_assert_not_null(strstr(p0f2_decode_strerror(P0F2_ERR_ID), "p0f v2"));
}

Test(p0f2, decode_unknown_type)
{
    static const uint8_t bad[] = {3, 4, 0x10, 0x80, 0xff};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint8_t buf[RLEN];
        struct p0f2_answer a;
        ok_reply(buf);
        buf[R_TYPE] = bad[i];
        cr_assert_eq(decode(buf, sizeof(buf), &a), P0F2_ERR_TYPE, "type %u", bad[i]);
        assert_answer_empty(&a, "unknown type");
    }
    cr_assert_str_eq(p0f2_decode_strerror(P0F2_ERR_TYPE), "p0f v2: unknown reply type");
}

Test(p0f2, decode_short_reply)
{
    uint8_t buf[RLEN];
    struct p0f2_answer a;
    static const size_t lens[] = {RLEN - 1, 140, 100, 72, 9, 0};
    ok_reply(buf);
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        cr_assert_eq(decode(buf, lens[i], &a), P0F2_ERR_SHORT, "%zu bytes", lens[i]);
        assert_answer_empty(&a, "short");
        cr_assert_eq(a.uptime_h, 0);
    }
    cr_assert_str_eq(p0f2_decode_strerror(P0F2_ERR_SHORT), "p0f v2: short reply");
}

Test(p0f2, strerror_every_error_names_p0f_v2)
{
    static const enum p0f2_decode_status errors[] = {P0F2_ERR_SHORT, P0F2_ERR_MAGIC, P0F2_ERR_BADQUERY,
                                                     P0F2_ERR_TYPE, P0F2_ERR_ID, P0F2_ERR_UNTERMINATED};
    for (size_t i = 0; i < sizeof(errors) / sizeof(errors[0]); i++)
        cr_assert_not_null(strstr(p0f2_decode_strerror(errors[i]), "p0f v2"), "status %d: \"%s\"", (int)errors[i],
                           p0f2_decode_strerror(errors[i]));
    cr_assert_str_eq(p0f2_decode_strerror(P0F2_DECODED_OK), "ok");
}
