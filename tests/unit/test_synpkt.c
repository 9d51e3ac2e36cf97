/* The SYN parser: features and raw signatures of hand-built packets, checked against what
 * p0f 3.09b's `p0f -r` printed for the same bytes (the expected strings below are its
 * output), and refusal of every truncation. */
#include <criterion/criterion.h>

#include <stdint.h>
#include <string.h>

#include "synpkt.h"

/* A Linux 6.x SYN from 10.0.0.3:40002 to 10.0.0.2:25, TTL 57: mss 1460, sok, ts, nop, ws 7. */
static const uint8_t linux_syn[60] = {
    0x45, 0x00, 0x00, 0x3c, 0x04, 0xd2, 0x40, 0x00, 0x39, 0x06, 0x00, 0x00, 10, 0, 0, 3, 10, 0, 0, 2,
    0x9c, 0x42, 0x00, 0x19, 0, 0, 0, 1, 0, 0, 0, 0, 0xa0, 0x02, 0x72, 0x10, 0, 0, 0, 0,
    0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x00, 0x00, 0x30, 0x39, 0, 0, 0, 0, 0x01, 0x03, 0x03, 0x07,
};

static void raw_sig_of(const uint8_t *pkt, size_t len, unsigned flags, const char *expected)
{
    struct syn_features f;
    const char *why = NULL;
    char sig[SYNPKT_RAW_SIG_MAX];
    cr_assert_eq(synpkt_parse(pkt, len, flags, &f, &why), 0, "refused: %s", why);
    synpkt_raw_sig(&f, sig, sizeof(sig));
    cr_assert_str_eq(sig, expected);
}

Test(synpkt, linux_syn_features)
{
    struct syn_features f;
    cr_assert_eq(synpkt_parse(linux_syn, sizeof(linux_syn), 0, &f, NULL), 0);
    cr_assert_eq(f.ip_ver, 4);
    cr_assert_eq(f.ttl, 57);
    cr_assert_eq(f.mss, 1460);
    cr_assert_eq(f.win, 29200);
    cr_assert_eq(f.wscale, 7);
    cr_assert_eq(f.opt_cnt, 5);
    cr_assert_eq(f.ts1, 12345);
    cr_assert_eq(f.tot_hdr, 60);
    cr_assert_eq(f.sport, 40002);
    cr_assert_eq(f.dport, 25);
    cr_assert_eq(f.quirks, SYN_QUIRK_BIT(SYN_QUIRK_DF) | SYN_QUIRK_BIT(SYN_QUIRK_NZ_ID));
    raw_sig_of(linux_syn, sizeof(linux_syn), 0, "4:57+7:0:1460:mss*20,7:mss,sok,ts,nop,ws:df,id+:0");
}

Test(synpkt, every_truncation_is_refused)
{
    struct syn_features f;
    const char *why;
    for (size_t n = 0; n < sizeof(linux_syn); n++) {
        why = NULL;
        cr_assert_eq(synpkt_parse(linux_syn, n, 0, &f, &why), SYNPKT_MALFORMED, "length %zu", n);
        cr_assert_not_null(why);
        cr_assert_eq(synpkt_parse(linux_syn, n, SYNPKT_HEADERS_ONLY, &f, &why), SYNPKT_MALFORMED, "length %zu", n);
    }
    cr_assert_eq(synpkt_parse(NULL, 0, 0, &f, &why), SYNPKT_MALFORMED);
}

Test(synpkt, not_a_syn_is_ignored)
{
    uint8_t p[60];
    struct syn_features f;
    memcpy(p, linux_syn, sizeof(p));
    p[33] = 0x12;                                   /* SYN+ACK */
    cr_assert_eq(synpkt_parse(p, sizeof(p), 0, &f, NULL), SYNPKT_IGNORED);
    p[33] = 0x03;                                   /* SYN+FIN */
    cr_assert_eq(synpkt_parse(p, sizeof(p), 0, &f, NULL), SYNPKT_IGNORED);
    p[33] = 0x02;
    p[9] = 17;                                      /* UDP */
    cr_assert_eq(synpkt_parse(p, sizeof(p), 0, &f, NULL), SYNPKT_IGNORED);
    p[9] = 6;
    p[6] = 0x20;                                    /* MF: a fragment */
    cr_assert_eq(synpkt_parse(p, sizeof(p), 0, &f, NULL), SYNPKT_IGNORED);
}

/* A saved SYN stops at the TCP header; its IP length still counts a Fast Open payload. */
Test(synpkt, saved_syn_with_payload)
{
    uint8_t p[60];
    struct syn_features f;
    memcpy(p, linux_syn, sizeof(p));
    p[3] = 60 + 5;
    cr_assert_eq(synpkt_parse(p, sizeof(p), 0, &f, NULL), SYNPKT_MALFORMED);   /* as a capture: cut off */
    raw_sig_of(p, sizeof(p), SYNPKT_HEADERS_ONLY, "4:57+7:0:1460:mss*20,7:mss,sok,ts,nop,ws:df,id+:+");
}

/* p0f's ack+ test is "ack & 1" on the field read in host order: the first byte's low bit. */
Test(synpkt, ack_quirk_as_p0f_tests_it)
{
    uint8_t p[60];
    struct syn_features f;
    memcpy(p, linux_syn, sizeof(p));
    p[31] = 1;                                      /* ack = 1: not flagged by p0f */
    cr_assert_eq(synpkt_parse(p, sizeof(p), 0, &f, NULL), 0);
    cr_assert_eq(f.quirks & SYN_QUIRK_BIT(SYN_QUIRK_NZ_ACK), 0);
    p[28] = 1;                                      /* ack = 0x01000001: flagged */
    cr_assert_eq(synpkt_parse(p, sizeof(p), 0, &f, NULL), 0);
    cr_assert_neq(f.quirks & SYN_QUIRK_BIT(SYN_QUIRK_NZ_ACK), 0);
}

/* Quirks and option oddities; expected strings from p0f -r on the same packets. */
Test(synpkt, quirks_and_odd_options)
{
    uint8_t p[60];
    memcpy(p, linux_syn, sizeof(p));
    p[6] = 0x00;                                    /* no DF, id 1234: neither df nor id- */
    p[1] = 0x02;                                    /* ECT */
    p[33] = 0x02 | 0x08 | 0x20;                     /* PSH, URG */
    memset(p + 56, 0, 4);                           /* nop, ws -> eol and zero padding */
    raw_sig_of(p, sizeof(p), 0, "4:57+7:0:1460:mss*20,0:mss,sok,ts,eol+3:ecn,urgf+,pushf+:0");
    p[59] = 0x07;                                   /* a non-zero pad byte in the last place: unnoticed */
    raw_sig_of(p, sizeof(p), 0, "4:57+7:0:1460:mss*20,0:mss,sok,ts,eol+3:ecn,urgf+,pushf+:0");
    p[58] = 0x07;                                   /* one before it: opt+ */
    raw_sig_of(p, sizeof(p), 0, "4:57+7:0:1460:mss*20,0:mss,sok,ts,eol+3:ecn,urgf+,pushf+,opt+:0");
}

Test(synpkt, option_errors_are_quirks)
{
    uint8_t p[60];
    memcpy(p, linux_syn, sizeof(p));
    p[57] = 30;                                     /* nop -> unknown kind 30 with length 3 */
    p[58] = 3;
    p[59] = 0;
    raw_sig_of(p, sizeof(p), 0, "4:57+7:0:1460:mss*20,0:mss,sok,ts,nop,?30:df,id+:0");
    p[58] = 1;                                      /* an impossible length: parsing stops, bad */
    raw_sig_of(p, sizeof(p), 0, "4:57+7:0:1460:mss*20,0:mss,sok,ts,nop,?30:df,id+,bad:0");
    memcpy(p, linux_syn, sizeof(p));
    p[59] = 15;                                     /* ws 15: exws */
    p[44 + 6] = 0;                                  /* ts1 = 0 */
    p[44 + 7] = 0;
    p[52] = 1;                                      /* ts2 != 0 */
    raw_sig_of(p, sizeof(p), 0, "4:57+7:0:1460:mss*20,15:mss,sok,ts,nop,ws:df,id+,ts1-,ts2+,exws:0");
}

Test(synpkt, ipv6)
{
    uint8_t p[80] = {0x60, 0x00, 0x30, 0x39, 0x00, 0x28, 0x06, 0x40};   /* flow 12345, hop limit 64 */
    p[8] = 0x20, p[9] = 0x01, p[23] = 1, p[24] = 0x20, p[25] = 0x01, p[39] = 2;
    memcpy(p + 40, linux_syn + 20, 40);
    p[40 + 14] = 0xfd, p[40 + 15] = 0x20;           /* window 64800 = 45 * 1440 */
    p[40 + 22] = 0x05, p[40 + 23] = 0xa0;           /* mss 1440 */
    raw_sig_of(p, sizeof(p), 0, "6:64+0:0:1440:mss*45,7:mss,sok,ts,nop,ws:flow:0");
}

Test(synpkt, window_multiplier_order)
{
    bool mtu;
    cr_assert_eq(synpkt_window_multiplier(14600, 1460, false, 4, 60, &mtu), 10);
    cr_assert(!mtu);
    cr_assert_eq(synpkt_window_multiplier(1448 * 3, 1460, true, 4, 60, &mtu), 3);   /* MSS - 12 */
    cr_assert_eq(synpkt_window_multiplier(1448 * 3, 1460, false, 4, 60, &mtu), 3);  /* 1448, IPv4 - 12 */
    cr_assert_eq(synpkt_window_multiplier(1500 * 7, 1000, false, 4, 60, &mtu), 7);
    cr_assert(mtu);
    cr_assert_eq(synpkt_window_multiplier(1040 * 3, 1000, false, 4, 60, &mtu), 3);  /* MSS + 40: MTU */
    cr_assert(mtu);
    cr_assert_eq(synpkt_window_multiplier(1440 * 2, 1000, false, 6, 60, &mtu), 2);  /* IPv6 1440 */
    cr_assert(!mtu);
    cr_assert_eq(synpkt_window_multiplier(1440 * 2, 1000, false, 4, 60, &mtu), -1);
    cr_assert_eq(synpkt_window_multiplier(5000, 99, false, 4, 60, &mtu), -1);       /* MSS too small */
    cr_assert_eq(synpkt_window_multiplier(0, 1460, false, 4, 60, &mtu), -1);
}

Test(synpkt, guessed_distance)
{
    cr_assert_eq(synpkt_guess_distance(30), 2);
    cr_assert_eq(synpkt_guess_distance(64), 0);
    cr_assert_eq(synpkt_guess_distance(120), 8);
    cr_assert_eq(synpkt_guess_distance(200), 55);
}
