/* The signature file reader: what it keeps, and that it refuses what p0f 3.09b refuses with
 * p0f's reason (each refusal below was checked with `p0f -f FILE -r x.pcap`). */
#include <criterion/criterion.h>

#include <string.h>
#include <unistd.h>

#include "p0ffp.h"

#define HEAD "classes = win,unix,other\n[tcp:request]\nlabel = s:unix:Linux:3.x\n"
#define LINUX "4:64:0:*:mss*10,7:mss,sok,ts,nop,ws:df,id+:0"

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

static int load(const char *text)
{
    return p0ffp_load_text(&db, "t.fp", text, strlen(text), err, sizeof(err));
}

static void refused(const char *text, const char *message)
{
    cr_assert_eq(load(text), -1, "accepted: %s", text);
    cr_assert_str_eq(err, message);
    cr_assert_eq(db.nsig, 0);
}

TestSuite(p0ffp, .init = setup, .fini = teardown);

Test(p0ffp, one_signature)
{
    cr_assert_eq(load(HEAD "sig = " LINUX "\n"), 0, "%s", err);
    cr_assert_eq(p0ffp_request_count(&db), 1);
    const struct p0ffp_sig *s = &db.sig[0];
    cr_assert_str_eq(s->name, "Linux");
    cr_assert_str_eq(s->flavor, "3.x");
    cr_assert(!s->generic && !s->userland && s->to_server);
    cr_assert_eq(s->line, 4);
    cr_assert_eq(s->ip_ver, 4);
    cr_assert_eq(s->ttl, 64);
    cr_assert_eq(s->mss, -1);
    cr_assert_eq(s->win_type, P0FFP_WIN_MSS);
    cr_assert_eq(s->win, 10);
    cr_assert_eq(s->wscale, 7);
    cr_assert_eq(s->opt_cnt, 5);
    cr_assert_eq(s->quirks, SYN_QUIRK_BIT(SYN_QUIRK_DF) | SYN_QUIRK_BIT(SYN_QUIRK_NZ_ID));
    cr_assert_eq(s->pay_class, 0);
}

Test(p0ffp, every_field_syntax)
{
    cr_assert_eq(load(HEAD "sig = *:128+5:4:1460:%8192,*:mss,nop,?30,eol+3:ecn,flow,seq-,ts2+:*\n"
                           "sig = 6:255-:0:*:mtu*4,0::0+,bad:+\n"),
                 -1);
    cr_assert_str_eq(err, "t.fp:5: '0+' is not valid for IPv6");
    cr_assert_eq(load(HEAD "sig = *:128+5:4:1460:%8192,*:mss,nop,?30,eol+3:ecn,flow,seq-,ts2+:*\n"
                           "sig = 4:255-:0:*:mtu*4,0::0+,bad:+\n"),
                 0, "%s", err);
    const struct p0ffp_sig *a = &db.sig[0], *b = &db.sig[1];
    cr_assert_eq(a->ttl, 133);
    cr_assert_eq(a->ip_opt_len, 4);
    cr_assert_eq(a->win_type, P0FFP_WIN_MOD);
    cr_assert_eq(a->wscale, -1);
    cr_assert_eq(a->opt_layout[2], 30);
    cr_assert_eq(a->opt_eol_pad, 3);
    cr_assert_eq(a->pay_class, -1);
    cr_assert(b->bad_ttl);
    cr_assert_eq(b->win_type, P0FFP_WIN_MTU);
    cr_assert_eq(b->opt_cnt, 0);
    cr_assert_eq(b->pay_class, 1);
}

/* p0f steps one character too far after "ittl-:", so the first digit of the option length
 * is skipped: "64-:12" reads as option length 2. */
Test(p0ffp, random_ttl_reads_as_p0f_reads_it)
{
    cr_assert_eq(load(HEAD "sig = 4:64-:12:*:mss*10,7:mss,sok,ts,nop,ws:df,id+:0\n"), 0, "%s", err);
    cr_assert(db.sig[0].bad_ttl);
    cr_assert_eq(db.sig[0].ip_opt_len, 2);
    cr_assert_eq(load(HEAD "sig = 4:64-:"), -1);
}

Test(p0ffp, already_covered)
{
    refused(HEAD "sig = " LINUX "\nsig = " LINUX "\n", "t.fp:5: Signature is already covered by line 4");
    /* A literal window the earlier mss*10 signature matches is covered too... */
    refused(HEAD "sig = " LINUX "\nsig = 4:64:0:1460:14600,7:mss,sok,ts,nop,ws:df,id+:0\n",
            "t.fp:5: Signature is already covered by line 4");
}

Test(p0ffp, not_covered)
{
    /* ...but not the other way round, and a generic signature covers nothing. */
    cr_assert_eq(load(HEAD "sig = 4:64:0:1460:14600,7:mss,sok,ts,nop,ws:df,id+:0\nsig = " LINUX "\n"), 0, "%s", err);
    cr_assert_eq(load("classes = unix\n[tcp:request]\nlabel = g:unix:Linux:\nsig = " LINUX
                      "\nlabel = s:unix:Linux:3.x\nsig = " LINUX "\n"),
                 0, "%s", err);
    /* Duplicates are looked for within a file: a local file may restate p0f.fp's. */
    cr_assert_eq(load(HEAD "sig = " LINUX "\n"), 0, "%s", err);
    cr_assert_eq(p0ffp_request_count(&db), 5);
}

Test(p0ffp, refusals)
{
    refused(HEAD "sig = " LINUX " \n", "t.fp:4: Malformed payload class");
    refused(HEAD "sig = 6:64:0:*:mss*10,7:mss:df:0\n", "t.fp:4: 'df' is not valid for IPv6");
    refused(HEAD "sig = 4:64:0:*:mss*10,7:mss:flow:0\n", "t.fp:4: 'flow' is not valid for IPv4");
    refused("classes = win,unix,other\n[tcp:request]\nlabel = s:!:nmap:SYN scan\nsig = " LINUX "\n",
            "t.fp:4: Misplaced 'sig'");
    refused(HEAD "label = s:bsd:Linux:3.x\n", "t.fp:4: Unknown class 'bsd'");
    refused("classes = win,unix,\n", "t.fp:1: Malformed class entry");
    refused("label = s:unix:Linux:3.x\n", "t.fp:1: misplaced 'label'");
    refused("[tcp:sideways]\n", "t.fp:1: Unrecognized traffic direction");
    refused("[udp:request]\n", "t.fp:1: Unrecognized fingerprinting module 'udp'");
    refused("colour = blue\n", "t.fp:1: Unrecognized field 'colour'");
    refused(HEAD "sig = 4:0:0:*:*,*:mss::0\n", "t.fp:4: Bogus initial TTL");
    refused(HEAD "sig = 4:64:0:*:mss*1001,*:mss::0\n", "t.fp:4: Bogus MSS/MTU multiplier");
    refused(HEAD "sig = 4:64:0:*:*,*:mss,eol+1,nop::0\n", "t.fp:4: EOL must be the last option");
    refused(HEAD "sig = 4:64:0:*:*,*:mss,tcp::0\n", "t.fp:4: Unrecognized TCP option");
    refused(HEAD "sig = 4:64:0:*:*,*:mss:df,sometimes:0\n", "t.fp:4: Unrecognized quirk");
    refused("[mtu]\nlabel = DSL\nsig = 0\n", "t.fp:3: Malformed MTU value");
}

Test(p0ffp, comments_sections_and_mtu)
{
    const char *text = "; a comment\n   ; an indented one\n\nclasses = win,unix,other\n"
                       "[mtu]\nlabel = Ethernet or modem\nsig = 1500\nlabel = DSL\nsig = 1492\nsig = 1500\n"
                       "[tcp:response]\nlabel = s:unix:Linux:3.x\nsig = " LINUX "\n"
                       "[http:request]\nua_os = Linux,Windows\nlabel = s:!:wget:\nsys = Linux\n"
                       "sig = *:Host,User-Agent:Accept:Wget/\n";
    cr_assert_eq(load(text), 0, "%s", err);
    cr_assert_str_eq(p0ffp_link_for_mtu(&db, 1500), "Ethernet or modem");
    cr_assert_str_eq(p0ffp_link_for_mtu(&db, 1492), "DSL");
    cr_assert_null(p0ffp_link_for_mtu(&db, 1400));
    cr_assert_eq(p0ffp_request_count(&db), 0);   /* response signatures are not matched */
}

Test(p0ffp, a_refused_file_leaves_the_database_as_it_was)
{
    cr_assert_eq(load(HEAD "sig = " LINUX "\n"), 0);
    cr_assert_eq(load("classes = unix\n[mtu]\nlabel = DSL\nsig = 1492\n[tcp:request]\nlabel = s:unix:X:\nsig = 9\n"), -1);
    cr_assert_eq(db.nsig, 1);
    cr_assert_eq(db.nmtu, 0);
    cr_assert_eq(p0ffp_request_count(&db), 1);
}

Test(p0ffp, names_keep_their_first_spelling)
{
    cr_assert_eq(load(HEAD "sig = " LINUX "\nlabel = s:unix:LINUX:4.x\nsig = 4:64:0:*:mss*11,7:mss,sok,ts,nop,ws:df,id+:0\n"),
                 0, "%s", err);
    cr_assert_str_eq(db.sig[1].name, "Linux");
}

Test(p0ffp, text_ends_at_a_nul)
{
    const char text[] = HEAD "sig = " LINUX "\n\0garbage that p0f never reads\n";
    cr_assert_eq(p0ffp_load_text(&db, "t.fp", text, sizeof(text) - 1, err, sizeof(err)), 0, "%s", err);
}

Test(p0ffp, missing_file)
{
    cr_assert_eq(p0ffp_load_file(&db, "/nonexistent/p0f.fp", err, sizeof(err)), -1);
    cr_assert(strstr(err, "/nonexistent/p0f.fp: cannot open") == err, "%s", err);
}

/* The system's p0f.fp, when p0f is installed: loads, with its 91 SYN signatures. */
Test(p0ffp, system_p0f_fp)
{
    if (access(P0FFP_DEFAULT_FILE, R_OK) != 0)
        cr_skip_test("no %s", P0FFP_DEFAULT_FILE);
    cr_assert_eq(p0ffp_load_file(&db, P0FFP_DEFAULT_FILE, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(p0ffp_request_count(&db), 91);
    cr_assert_str_eq(p0ffp_link_for_mtu(&db, 1500), "Ethernet or modem");
}
