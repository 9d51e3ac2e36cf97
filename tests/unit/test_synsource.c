/* The SYN source's pure parts: a saved SYN read and matched (synsource_match), and the two
 * directives that configure it. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include "config.h"
#include "synsource.h"

#define SIGS "classes = win,unix,other\n[mtu]\nlabel = Ethernet or modem\nsig = 1500\n[tcp:request]\n" \
             "label = s:unix:Linux:3.11 and newer\nsig = *:64:0:*:mss*20,10:mss,sok,ts,nop,ws:df,id+:0\n"

/* A Linux SYN as TCP_SAVED_SYN returns it (IPv4 and TCP headers, no payload): 172.16.0.1:1024
 * -> 192.0.2.1:25, TTL 64, mss 1460, window 29200, ws 10. */
static const char linux_syn_hex[] = "4500003c129440004006ba15ac100001c0000201040000191000006000000000a0027210a1a0"
                                    "0000020405b40402080a00a0b120000000000103030a";

static size_t unhex(const char *hex, unsigned char *out)
{
    size_t n = strlen(hex) / 2;
    for (size_t i = 0; i < n; i++)
        sscanf(hex + 2 * i, "%2hhx", &out[i]);
    return n;
}

Test(synsource, a_saved_syn_is_matched)
{
    struct p0ffp_db db;
    char err[P0FFP_ERROR_MAX];
    unsigned char pkt[64];
    struct syn_reading r;
    p0ffp_db_init(&db);
    cr_assert_eq(p0ffp_load_text(&db, "t.fp", SIGS, strlen(SIGS), err, sizeof(err)), 0, "%s", err);
    size_t n = unhex(linux_syn_hex, pkt);
    synsource_match(&db, pkt, n, SYNPKT_HEADERS_ONLY, &r);
    cr_assert_eq(r.status, SYN_MATCHED);
    cr_assert(r.match.os);
    cr_assert_str_eq(r.match.genre, "Linux 3.11 and newer");
    cr_assert_eq(r.match.match, SYN_MATCH_EXACT);
    cr_assert_str_eq(r.match.link, "Ethernet or modem");
    cr_assert_str_eq(r.match.raw_sig, "4:64+0:0:1460:mss*20,10:mss,sok,ts,nop,ws:df,id+:0");
    p0ffp_db_free(&db);
}

Test(synsource, a_truncated_or_foreign_packet_is_unreadable_with_a_reason)
{
    struct p0ffp_db db;
    unsigned char pkt[64];
    struct syn_reading r;
    p0ffp_db_init(&db);
    size_t n = unhex(linux_syn_hex, pkt);
    synsource_match(&db, pkt, 30, SYNPKT_HEADERS_ONLY, &r);
    cr_assert_eq(r.status, SYN_UNREADABLE);
    cr_assert(strncmp(r.reason, "malformed SYN: ", 15) == 0, "%s", r.reason);
    pkt[33] = 0x12;   /* SYN+ACK: not a SYN */
    synsource_match(&db, pkt, n, SYNPKT_HEADERS_ONLY, &r);
    cr_assert_eq(r.status, SYN_UNREADABLE);
    cr_assert_str_eq(r.reason, "not fingerprinted: not a SYN");
    p0ffp_db_free(&db);
}

Test(synsource, an_unknown_syn_still_has_its_signature)
{
    struct p0ffp_db db;
    unsigned char pkt[64];
    struct syn_reading r;
    p0ffp_db_init(&db);
    size_t n = unhex(linux_syn_hex, pkt);
    synsource_match(&db, pkt, n, SYNPKT_HEADERS_ONLY, &r);
    cr_assert_eq(r.status, SYN_MATCHED);
    cr_assert_not(r.match.os);
    cr_assert_str_eq(r.match.raw_sig, "4:64+0:0:1460:mss*20,10:mss,sok,ts,nop,ws:df,id+:0");
    p0ffp_db_free(&db);
}

Test(synsource, fingerprint_and_fp_file_directives)
{
    static struct config c;
    struct diag err = {0};
    config_init(&c);
    cr_assert_eq(c.fingerprint, FINGERPRINT_AUTO);
    cr_assert_eq(c.nfp_files, 1);
    cr_assert_str_eq(c.fp_files[0], "/etc/p0f/p0f.fp");
    cr_assert(config_uses_syn(&c));
    const char *text = "fingerprint p0f\nfp_file /etc/p0fshim/local.fp\nfp_file /etc/p0f/p0f.fp\n";
    cr_assert_eq(config_parse(&c, text, strlen(text), "t.conf", &err), 0, "%s", err.reason);
    cr_assert_eq(c.fingerprint, FINGERPRINT_P0F);
    cr_assert_not(config_uses_syn(&c));
    /* the first line replaces the default list, the second adds to it */
    cr_assert_eq(c.nfp_files, 2);
    cr_assert_str_eq(c.fp_files[0], "/etc/p0fshim/local.fp");
    cr_assert_str_eq(c.fp_files[1], "/etc/p0f/p0f.fp");
    cr_assert_eq(c.fp_file_lines[0], 2);
    cr_assert_eq(c.fp_file_lines[1], 3);
    config_free(&c);
}
