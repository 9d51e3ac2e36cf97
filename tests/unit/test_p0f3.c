/* p0f v3 wire format. Expected bytes and test replies are built by hand at the offsets
 * of shared/reference/p0f-protocol.md, never with the codec's own packed structs. */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>

#include "p0f3.h"

#define QLEN 21
#define RLEN 232

/* Response offsets, from the reference table. */
#define OFF_MAGIC 0
#define OFF_STATUS 4
#define OFF_FIRST_SEEN 8
#define OFF_LAST_SEEN 12
#define OFF_TOTAL_CONN 16
#define OFF_UPTIME_MIN 20
#define OFF_UP_MOD_DAYS 24
#define OFF_LAST_NAT 28
#define OFF_LAST_CHG 32
#define OFF_DISTANCE 36
#define OFF_BAD_SW 38
#define OFF_OS_MATCH_Q 39
#define OFF_OS_NAME 40
#define OFF_OS_FLAVOR 72
#define OFF_HTTP_NAME 104
#define OFF_HTTP_FLAVOR 136
#define OFF_LINK_TYPE 168
#define OFF_LANGUAGE 200

static const size_t string_offsets[] = {OFF_OS_NAME, OFF_OS_FLAVOR, OFF_HTTP_NAME,
                                        OFF_HTTP_FLAVOR, OFF_LINK_TYPE, OFF_LANGUAGE};

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

static void put_str(uint8_t *buf, size_t off, const char *s)
{
    size_t n = strlen(s);
    cr_assert_lt(n, 32u);
    memset(buf + off, 0, 32);
    memcpy(buf + off, s, n);
}

/* A full OK reply with a distinct value in every field. */
static void ok_reply(uint8_t buf[RLEN])
{
    memset(buf, 0, RLEN);
    put_u32(buf, OFF_MAGIC, 0x50304602u);
    put_u32(buf, OFF_STATUS, 0x10u);
    put_u32(buf, OFF_FIRST_SEEN, 1700000001u);
    put_u32(buf, OFF_LAST_SEEN, 1700000202u);
    put_u32(buf, OFF_TOTAL_CONN, 0x01020304u);
    put_u32(buf, OFF_UPTIME_MIN, 4321u);
    put_u32(buf, OFF_UP_MOD_DAYS, 49u);
    put_u32(buf, OFF_LAST_NAT, 1699999993u);
    put_u32(buf, OFF_LAST_CHG, 1699999994u);
    put_u16(buf, OFF_DISTANCE, 11);
    buf[OFF_BAD_SW] = 2;
    buf[OFF_OS_MATCH_Q] = 0x02;
    put_str(buf, OFF_OS_NAME, "Windows");
    put_str(buf, OFF_OS_FLAVOR, "NT kernel");
    put_str(buf, OFF_HTTP_NAME, "Firefox");
    put_str(buf, OFF_HTTP_FLAVOR, "10.x or newer");
    put_str(buf, OFF_LINK_TYPE, "Ethernet or modem");
    put_str(buf, OFF_LANGUAGE, "English");
}

static void expect_query(const struct endpoint *ep, uint8_t type, const uint8_t addr[16])
{
    uint8_t out[QLEN + 11];
    uint8_t want[QLEN];

    memset(want, 0, sizeof(want));
    put_u32(want, 0, 0x50304601u);
    want[4] = type;
    memcpy(want + 5, addr, 16);

    memset(out, 0xcc, sizeof(out));
    p0f3_encode_query(ep, out);
    cr_assert_arr_eq(out, want, QLEN, "query bytes differ");
    for (size_t i = QLEN; i < sizeof(out); i++)
        cr_assert_eq(out[i], 0xcc, "wrote beyond 21 bytes (byte %zu)", i);
}

/* ---- query ---- */

Test(p0f3, sizes)
{
    cr_assert_eq(P0F3_QUERY_LEN, 21);
    cr_assert_eq(P0F3_RESPONSE_LEN, 232);
}

Test(p0f3, query_magic_is_host_order)
{
    struct endpoint ep;
    uint8_t out[QLEN];
    uint32_t magic;
    cr_assert_eq(endpoint_parse_ip("192.0.2.1", &ep), 0);
    p0f3_encode_query(&ep, out);
    memcpy(&magic, out, 4);
    cr_assert_eq(magic, 0x50304601u);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    cr_assert_eq(out[0], 0x01);
    cr_assert_eq(out[1], 0x46);
    cr_assert_eq(out[2], 0x30);
    cr_assert_eq(out[3], 0x50);
#endif
}

Test(p0f3, query_ipv4)
{
    struct endpoint ep;
    static const uint8_t addr[16] = {192, 0, 2, 33};
    cr_assert_eq(endpoint_parse_ip("192.0.2.33", &ep), 0);
    ep.port = 25;
    expect_query(&ep, 4, addr);
}

Test(p0f3, query_ipv4_padding_is_zero_even_with_junk_in_endpoint)
{
    /* The endpoint's unused bytes must not leak into the query. */
    struct endpoint ep;
    static const uint8_t addr[16] = {10, 1, 2, 3};
    memset(&ep, 0xee, sizeof(ep));
    ep.family = AF_INET;
    ep.ip[0] = 10;
    ep.ip[1] = 1;
    ep.ip[2] = 2;
    ep.ip[3] = 3;
    expect_query(&ep, 4, addr);
}

Test(p0f3, query_ipv6)
{
    struct endpoint ep;
    static const uint8_t addr[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xab, 0xcd};
    cr_assert_eq(endpoint_parse_ip("2001:db8::abcd", &ep), 0);
    expect_query(&ep, 6, addr);
}

Test(p0f3, query_v4mapped_peer_is_ipv4)
{
    struct sockaddr_in6 sa;
    struct endpoint ep;
    static const uint8_t addr[16] = {198, 51, 100, 77};

    memset(&sa, 0, sizeof(sa));
    sa.sin6_family = AF_INET6;
    sa.sin6_port = htons(25);
    cr_assert_eq(inet_pton(AF_INET6, "::ffff:198.51.100.77", &sa.sin6_addr), 1);
    cr_assert_eq(endpoint_from_sockaddr((struct sockaddr *)&sa, sizeof(sa), &ep), 0);
    expect_query(&ep, 4, addr);
}

/* ---- response ---- */

Test(p0f3, decode_every_field)
{
    uint8_t buf[RLEN];
    struct p0f3_answer a;

    ok_reply(buf);
    cr_assert_eq(p0f3_decode_response(buf, sizeof(buf), &a), P0F3_DECODED_OK);
    cr_assert_eq(a.status, 0x10u);
    cr_assert_eq(a.first_seen, 1700000001u);
    cr_assert_eq(a.last_seen, 1700000202u);
    cr_assert_eq(a.total_conn, 0x01020304u);
    cr_assert_eq(a.uptime_min, 4321u);
    cr_assert_eq(a.up_mod_days, 49u);
    cr_assert_eq(a.last_nat, 1699999993u);
    cr_assert_eq(a.last_chg, 1699999994u);
    cr_assert_eq(a.distance, 11);
    cr_assert_eq(a.bad_sw, 2);
    cr_assert_eq(a.os_match_q, 0x02);
    cr_assert_str_eq(a.os_name, "Windows");
    cr_assert_str_eq(a.os_flavor, "NT kernel");
    cr_assert_str_eq(a.http_name, "Firefox");
    cr_assert_str_eq(a.http_flavor, "10.x or newer");
    cr_assert_str_eq(a.link_type, "Ethernet or modem");
    cr_assert_str_eq(a.language, "English");
}

Test(p0f3, decode_from_unaligned_buffer)
{
    uint8_t storage[RLEN + 1];
    struct p0f3_answer a;
    ok_reply(storage + 1);
    cr_assert_eq(p0f3_decode_response(storage + 1, RLEN, &a), P0F3_DECODED_OK);
    cr_assert_eq(a.total_conn, 0x01020304u);
    cr_assert_str_eq(a.language, "English");
}

Test(p0f3, decode_strings_of_31_bytes)
{
    uint8_t buf[RLEN];
    struct p0f3_answer a;
    char longest[32];

    memset(longest, 'x', 31);
    longest[31] = '\0';
    ok_reply(buf);
    for (size_t i = 0; i < 6; i++) {
        put_str(buf, string_offsets[i], longest);
        longest[0]++;   /* each field distinct */
    }
    cr_assert_eq(p0f3_decode_response(buf, sizeof(buf), &a), P0F3_DECODED_OK);
    cr_assert_eq(strlen(a.os_name), 31u);
    cr_assert_eq(a.os_name[0], 'x');
    cr_assert_eq(a.os_flavor[0], 'y');
    cr_assert_eq(a.http_name[0], 'z');
    cr_assert_eq(a.http_flavor[0], '{');
    cr_assert_eq(a.link_type[0], '|');
    cr_assert_eq(a.language[0], '}');
    cr_assert_eq(strlen(a.language), 31u);
}

Test(p0f3, decode_empty_os_name)
{
    uint8_t buf[RLEN];
    struct p0f3_answer a;
    ok_reply(buf);
    memset(buf + OFF_OS_NAME, 0, 64);
    cr_assert_eq(p0f3_decode_response(buf, sizeof(buf), &a), P0F3_DECODED_OK);
    cr_assert_str_eq(a.os_name, "");
    cr_assert_str_eq(a.os_flavor, "");
    cr_assert_str_eq(a.link_type, "Ethernet or modem");
}

Test(p0f3, decode_distance)
{
    uint8_t buf[RLEN];
    struct p0f3_answer a;
    static const struct { uint16_t wire; int want; } cases[] = {
        {255, -1}, {0xffff, -1}, {0, 0}, {1, 1}, {64, 64}, {254, 254},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ok_reply(buf);
        put_u16(buf, OFF_DISTANCE, cases[i].wire);
        cr_assert_eq(p0f3_decode_response(buf, sizeof(buf), &a), P0F3_DECODED_OK);
        cr_assert_eq(a.distance, cases[i].want, "distance %u on the wire -> %d, want %d",
                     (unsigned)cases[i].wire, a.distance, cases[i].want);
        /* the neighbours are untouched */
        cr_assert_eq(a.bad_sw, 2);
        cr_assert_eq(a.last_chg, 1699999994u);
    }
}

Test(p0f3, decode_bad_magic)
{
    uint8_t buf[RLEN];
    struct p0f3_answer a;

    ok_reply(buf);
    put_u32(buf, OFF_MAGIC, 0x50304601u);   /* the query magic */
    cr_assert_eq(p0f3_decode_response(buf, sizeof(buf), &a), P0F3_ERR_MAGIC);

    ok_reply(buf);
    put_u32(buf, OFF_MAGIC, 0x02463050u);
    cr_assert_eq(p0f3_decode_response(buf, sizeof(buf), &a), P0F3_ERR_MAGIC, "byte-swapped magic");

    ok_reply(buf);
    memset(buf, 0, 4);
    cr_assert_eq(p0f3_decode_response(buf, sizeof(buf), &a), P0F3_ERR_MAGIC);
    cr_assert_str_eq(a.os_name, "", "nothing decoded from a reply with bad magic");
    cr_assert_str_eq(p0f3_decode_strerror(P0F3_ERR_MAGIC), "p0f: bad magic");
}

Test(p0f3, decode_badquery)
{
    uint8_t buf[RLEN];
    struct p0f3_answer a;
    ok_reply(buf);
    put_u32(buf, OFF_STATUS, 0x00);
    cr_assert_eq(p0f3_decode_response(buf, sizeof(buf), &a), P0F3_ERR_BADQUERY);
    cr_assert_str_eq(a.os_name, "");
    cr_assert_not_null(strstr(p0f3_decode_strerror(P0F3_ERR_BADQUERY), "BADQUERY"));
}

Test(p0f3, decode_nomatch)
{
    uint8_t buf[RLEN];
    struct p0f3_answer a;
    ok_reply(buf);
    put_u32(buf, OFF_STATUS, 0x20);
    cr_assert_eq(p0f3_decode_response(buf, sizeof(buf), &a), P0F3_DECODED_NOMATCH);
    cr_assert_eq(a.status, 0x20u);
    cr_assert_str_eq(a.os_name, "", "no OS from a NOMATCH reply");
    cr_assert_str_eq(p0f3_decode_strerror(P0F3_DECODED_NOMATCH), "no match");
}

Test(p0f3, decode_unknown_status)
{
    uint8_t buf[RLEN];
    struct p0f3_answer a;
    static const uint32_t bad[] = {0x01, 0x11, 0x21, 0x30, 0x10000010u, 0xffffffffu};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ok_reply(buf);
        put_u32(buf, OFF_STATUS, bad[i]);
        cr_assert_eq(p0f3_decode_response(buf, sizeof(buf), &a), P0F3_ERR_STATUS, "status 0x%x", bad[i]);
        cr_assert_str_eq(a.os_name, "");
    }
    cr_assert_str_eq(p0f3_decode_strerror(P0F3_ERR_STATUS), "p0f: unknown status");
}

Test(p0f3, decode_short_reply)
{
    uint8_t buf[RLEN];
    struct p0f3_answer a;
    ok_reply(buf);
    cr_assert_eq(p0f3_decode_response(buf, RLEN - 1, &a), P0F3_ERR_SHORT);
    cr_assert_str_eq(a.os_name, "");
    cr_assert_eq(a.total_conn, 0u);
    cr_assert_eq(p0f3_decode_response(buf, 100, &a), P0F3_ERR_SHORT);
    cr_assert_eq(p0f3_decode_response(buf, 0, &a), P0F3_ERR_SHORT);
    cr_assert_str_eq(p0f3_decode_strerror(P0F3_ERR_SHORT), "p0f: short reply");
}

Test(p0f3, decode_each_unterminated_string)
{
    static const char *names[] = {"os_name", "os_flavor", "http_name", "http_flavor", "link_type", "language"};
    for (size_t i = 0; i < 6; i++) {
        uint8_t buf[RLEN];
        struct p0f3_answer a;
        ok_reply(buf);
        memset(buf + string_offsets[i], 'A', 32);
        cr_assert_eq(p0f3_decode_response(buf, sizeof(buf), &a), P0F3_ERR_UNTERMINATED,
                     "%s without a NUL must be rejected", names[i]);
        /* no partial answer is left behind */
        cr_assert_str_eq(a.os_name, "", "%s", names[i]);
        cr_assert_str_eq(a.os_flavor, "", "%s", names[i]);
        cr_assert_str_eq(a.link_type, "", "%s", names[i]);
        cr_assert_str_eq(a.language, "", "%s", names[i]);
        cr_assert_eq(a.total_conn, 0u, "%s", names[i]);
    }
    cr_assert_str_eq(p0f3_decode_strerror(P0F3_ERR_UNTERMINATED), "p0f: string field not terminated");
}

Test(p0f3, decode_nul_in_last_byte_is_fine)
{
    uint8_t buf[RLEN];
    struct p0f3_answer a;
    ok_reply(buf);
    memset(buf + OFF_LANGUAGE, 'L', 31);
    buf[OFF_LANGUAGE + 31] = '\0';
    cr_assert_eq(p0f3_decode_response(buf, sizeof(buf), &a), P0F3_DECODED_OK);
    cr_assert_eq(strlen(a.language), 31u);
}

Test(p0f3, decode_strerror_ok)
{
    cr_assert_str_eq(p0f3_decode_strerror(P0F3_DECODED_OK), "ok");
}

Test(p0f3, match_word)
{
    cr_assert_str_eq(p0f3_match_word(0x00), "exact");
    cr_assert_str_eq(p0f3_match_word(0x01), "fuzzy");
    cr_assert_str_eq(p0f3_match_word(0x02), "generic");
    cr_assert_str_eq(p0f3_match_word(0x03), "fuzzy", "fuzzy is the weaker claim and wins");
    cr_assert_str_eq(p0f3_match_word(0x04), "exact", "unknown bits are ignored");
    cr_assert_str_eq(p0f3_match_word(0xfe), "generic");
}

Test(p0f3, decode_match_word_from_wire)
{
    uint8_t buf[RLEN];
    struct p0f3_answer a;
    ok_reply(buf);
    buf[OFF_OS_MATCH_Q] = 0x01;
    cr_assert_eq(p0f3_decode_response(buf, sizeof(buf), &a), P0F3_DECODED_OK);
    cr_assert_str_eq(p0f3_match_word(a.os_match_q), "fuzzy");
    buf[OFF_OS_MATCH_Q] = 0x00;
    cr_assert_eq(p0f3_decode_response(buf, sizeof(buf), &a), P0F3_DECODED_OK);
    cr_assert_str_eq(p0f3_match_word(a.os_match_q), "exact");
}
