/* The SYN matcher's rules (p0f's tcp_find_match()), each on a small signature file, and a
 * Linux SYN against the system's p0f.fp (the answer p0f -r gave for the same packet). */
#include <criterion/criterion.h>

#include <string.h>
#include <unistd.h>

#include "synmatch.h"

static struct p0ffp_db db;
static char err[P0FFP_ERROR_MAX];

static void setup(void)
{
    p0ffp_db_init(&db);
}

static void teardown(void)
{
    p0ffp_db_free(&db);
}

TestSuite(synmatch, .init = setup, .fini = teardown);

static void load(const char *text)
{
    cr_assert_eq(p0ffp_load_text(&db, "t.fp", text, strlen(text), err, sizeof(err)), 0, "%s", err);
}

/* A Linux-like SYN: mss 1460, sok, ts, nop, ws 7, window 10 * 1460, df, id+. */
static struct syn_features linux_like(uint8_t ttl)
{
    struct syn_features f;
    memset(&f, 0, sizeof(f));
    f.ip_ver = 4;
    f.ttl = ttl;
    f.mss = 1460;
    f.win = 14600;
    f.wscale = 7;
    f.opt_cnt = 5;
    memcpy(f.opt_layout, (const uint8_t[]){SYN_OPT_MSS, SYN_OPT_SACKOK, SYN_OPT_TS, SYN_OPT_NOP, SYN_OPT_WS}, 5);
    f.quirks = SYN_QUIRK_BIT(SYN_QUIRK_DF) | SYN_QUIRK_BIT(SYN_QUIRK_NZ_ID);
    f.ts1 = 1000;
    f.tot_hdr = 60;
    return f;
}

#define HEAD "classes = win,unix,other\n[mtu]\nlabel = Ethernet or modem\nsig = 1500\n[tcp:request]\n"
#define LAYOUT "mss,sok,ts,nop,ws"

Test(synmatch, specific_beats_an_earlier_generic)
{
    load(HEAD "label = g:unix:Linux:\nsig = *:64:0:*:mss*10,*:" LAYOUT ":df,id+:0\n"
              "label = s:unix:Linux:3.x\nsig = 4:64:0:*:mss*10,7:" LAYOUT ":df,id+:0\n");
    struct syn_features f = linux_like(60);
    struct syn_match m;
    synmatch_packet(&db, &f, &m);
    cr_assert(m.os);
    cr_assert_eq(m.match, SYN_MATCH_EXACT);
    cr_assert_str_eq(m.genre, "Linux 3.x");
    cr_assert_eq(m.distance, 4);
    cr_assert_str_eq(m.link, "Ethernet or modem");
    cr_assert_str_eq(m.raw_sig, "4:60+4:0:1460:mss*10,7:" LAYOUT ":df,id+:0");
    cr_assert_str_eq(synmatch_match_word(m.match), "exact");

    f.wscale = 6;                                   /* only the generic one fits */
    synmatch_packet(&db, &f, &m);
    cr_assert_eq(m.match, SYN_MATCH_GENERIC);
    cr_assert_str_eq(m.genre, "Linux");
}

Test(synmatch, quirk_differences_that_make_a_fuzzy_match)
{
    load(HEAD "label = s:unix:Linux:3.x\nsig = 4:64:0:*:mss*10,7:" LAYOUT ":df,id+:0\n");
    struct syn_features f = linux_like(64);
    struct syn_match m;

    f.quirks = SYN_QUIRK_BIT(SYN_QUIRK_ZERO_ID) | SYN_QUIRK_BIT(SYN_QUIRK_ECN);   /* df, id+ gone; id-, ecn came */
    synmatch_packet(&db, &f, &m);
    cr_assert_eq(m.match, SYN_MATCH_FUZZY);
    cr_assert_eq(m.distance, 0);

    f.quirks |= SYN_QUIRK_BIT(SYN_QUIRK_PUSH);     /* anything else: no match */
    synmatch_packet(&db, &f, &m);
    cr_assert_eq(m.match, SYN_MATCH_NONE);
    cr_assert_null(m.sig);
    cr_assert_str_eq(synmatch_match_word(m.match), "none");
}

Test(synmatch, ttl_rules)
{
    load(HEAD "label = s:unix:Linux:3.x\nsig = 4:64:0:*:mss*10,7:" LAYOUT ":df,id+:0\n");
    struct syn_match m;
    struct syn_features f = linux_like(20);        /* 44 hops: beyond MAX_DIST, fuzzy */
    synmatch_packet(&db, &f, &m);
    cr_assert_eq(m.match, SYN_MATCH_FUZZY);
    cr_assert_eq(m.distance, 12);                  /* guessed from 32 */
    f = linux_like(70);                            /* above the initial TTL: fuzzy, guessed */
    synmatch_packet(&db, &f, &m);
    cr_assert_eq(m.match, SYN_MATCH_FUZZY);
    cr_assert_eq(m.distance, 58);
}

Test(synmatch, random_ttl)
{
    load(HEAD "label = s:unix:Linux:3.x\nsig = 4:64-:0:*:mss*10,7:" LAYOUT ":df,id+:0\n");
    struct syn_match m;
    struct syn_features f = linux_like(5);
    synmatch_packet(&db, &f, &m);
    cr_assert_eq(m.match, SYN_MATCH_EXACT);
    cr_assert_eq(m.distance, 59);
    f.ttl = 65;
    synmatch_packet(&db, &f, &m);
    cr_assert_eq(m.match, SYN_MATCH_NONE);
}

Test(synmatch, window_rules)
{
    load(HEAD "label = s:unix:A:\nsig = 4:64:0:*:%4096,7:" LAYOUT ":df,id+:0\n"
              "label = s:unix:B:\nsig = 4:64:0:*:mtu*4,7:" LAYOUT ":df,id+:0\n"
              "label = s:unix:C:\nsig = 4:64:0:1460:*,7:" LAYOUT ":df,id+:0\n");
    struct syn_match m;
    struct syn_features f = linux_like(64);
    f.win = 8192;
    synmatch_packet(&db, &f, &m);
    cr_assert_str_eq(m.genre, "A");
    f.win = 6000;                                  /* 4 * 1500: an MTU multiple */
    synmatch_packet(&db, &f, &m);
    cr_assert_str_eq(m.genre, "B");
    cr_assert_str_eq(m.raw_sig, "4:64+0:0:1460:mtu*4,7:" LAYOUT ":df,id+:0");
    f.win = 1234;
    synmatch_packet(&db, &f, &m);
    cr_assert_str_eq(m.genre, "C");
}

Test(synmatch, tools_are_not_operating_systems)
{
    load(HEAD "label = s:!:nmap:SYN scan\nsys = @unix,@win\nsig = *:64:0:1460:1024,7:" LAYOUT ":df,id+:0\n");
    struct syn_match m;
    struct syn_features f = linux_like(60);
    f.win = 1024;
    synmatch_packet(&db, &f, &m);
    cr_assert_not_null(m.sig);                     /* matched, but names no OS and no link */
    cr_assert(!m.os);
    cr_assert_eq(m.match, SYN_MATCH_NONE);
    cr_assert_eq(m.distance, 4);
    cr_assert_null(m.link);
    f.quirks = 0;                                  /* a fuzzy tool match is not reported at all */
    synmatch_packet(&db, &f, &m);
    cr_assert_null(m.sig);
    cr_assert_eq(m.distance, 0);
    cr_assert_str_eq(m.link, "Ethernet or modem");
}

Test(synmatch, no_mss_no_link)
{
    load(HEAD);
    struct syn_match m;
    struct syn_features f = linux_like(128);
    f.mss = 0;
    synmatch_packet(&db, &f, &m);
    cr_assert_null(m.link);
    cr_assert_eq(m.distance, 0);
}

Test(synmatch, system_p0f_fp)
{
    if (access(P0FFP_DEFAULT_FILE, R_OK) != 0)
        cr_skip_test("no %s", P0FFP_DEFAULT_FILE);
    cr_assert_eq(p0ffp_load_file(&db, P0FFP_DEFAULT_FILE, err, sizeof(err)), 0, "%s", err);
    struct syn_match m;
    struct syn_features f = linux_like(57);
    f.win = 29200;                                 /* 20 * 1460 */
    synmatch_packet(&db, &f, &m);
    cr_assert_str_eq(m.genre, "Linux 3.11 and newer");
    cr_assert_eq(m.match, SYN_MATCH_EXACT);
    cr_assert_eq(m.distance, 7);
    cr_assert_str_eq(m.link, "Ethernet or modem");
}

/* p0f-sendsyn's probe (window 1337, MSS 1331) is reported as a tool, without a link. */
Test(synmatch, sendsyn_probe_is_a_tool)
{
    load(HEAD "label = s:unix:p0f:sendsyn utility\nsig = *:192:0:1331:1337,0:mss,nop,eol+18::0\n");
    struct syn_features f;
    struct syn_match m;
    memset(&f, 0, sizeof(f));
    f.ip_ver = 4, f.ttl = 192, f.mss = 1331, f.win = 1337, f.opt_cnt = 3, f.opt_eol_pad = 18, f.tot_hdr = 64;
    memcpy(f.opt_layout, (const uint8_t[]){SYN_OPT_MSS, SYN_OPT_NOP, SYN_OPT_EOL}, 3);
    synmatch_packet(&db, &f, &m);
    cr_assert_not_null(m.sig);
    cr_assert(!m.os);
    cr_assert_eq(m.match, SYN_MATCH_NONE);
    cr_assert_null(m.link);
}
