/* Golden connection lines: logfmt_connection on a representative set of reports (every
 * verdict, p0f v3 and v2 answers, exempt, greylist wait, cutoff, action and reply, hostile
 * strings, IPv6, a line too long for the buffer) must write exactly these bytes. Log
 * readers (fail2ban filters, the report, operators' scripts) depend on them, so any
 * difference is a format change and must be deliberate. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include "logfmt.h"
#include "verdict.h"

#define BLOCKED "/etc/p0fshim/blocked_operating_systems"

/* What a case may point its report at: everything lives as long as the test. */
struct fixture {
    struct p0f3_answer answer;
    struct p0f2_answer answer_v2;
    struct blocked_rule rule;
    struct cidr net;
    char genre[2 * P0F3_STR_MAX];
    char rule_text[320];
};

static struct endpoint ep_of(const char *ip, uint16_t port)
{
    struct endpoint ep;
    cr_assert_eq(endpoint_parse_ip(ip, &ep), 0, "%s", ip);
    ep.port = port;
    return ep;
}

static void base(struct connection_report *r, enum verdict v)
{
    memset(r, 0, sizeof(*r));
    r->remote = ep_of("192.0.2.10", 40000);
    r->local = ep_of("198.51.100.1", 25);
    r->elapsed_ms = 12;
    r->blocked_file = BLOCKED;
    r->greylist_wait_s = -1;
    r->judgement.verdict = v;
}

static void with_answer(struct connection_report *r, struct fixture *fx, const char *os, const char *flavor,
                        const char *link, uint8_t match_q, int distance)
{
    struct p0f3_answer *a = &fx->answer;
    memset(a, 0, sizeof(*a));
    a->status = P0F3_STATUS_OK;
    snprintf((char *)a->os_name, sizeof(a->os_name), "%s", os);
    snprintf((char *)a->os_flavor, sizeof(a->os_flavor), "%s", flavor);
    snprintf((char *)a->link_type, sizeof(a->link_type), "%s", link);
    a->os_match_q = match_q;
    a->distance = (int16_t)distance;
    a->uptime_min = 120;
    a->total_conn = 3;
    genre_format(a, fx->genre, sizeof(fx->genre));
    r->answer = a;
    r->genre = fx->genre;
}

static void with_answer_v2(struct connection_report *r, struct fixture *fx, const char *genre, const char *detail)
{
    struct p0f2_answer *a = &fx->answer_v2;
    memset(a, 0, sizeof(*a));
    snprintf(a->genre, sizeof(a->genre), "%s", genre);
    snprintf(a->detail, sizeof(a->detail), "%s", detail);
    snprintf(a->link, sizeof(a->link), "ethernet/modem");
    a->dist = 11;
    a->uptime_h = 37;
    a->nat = true;
    a->fw = false;
    a->real = true;
    a->score = 10;
    a->mflags = 3;
    r->answer_v2 = a;
}

static void with_rule(struct connection_report *r, struct fixture *fx, const char *text, unsigned line)
{
    snprintf(fx->rule_text, sizeof(fx->rule_text), "%s", text);
    fx->rule = (struct blocked_rule){.text = fx->rule_text, .re = NULL, .line = line};
    r->judgement.rule = &fx->rule;
}

static void with_exempt(struct connection_report *r, struct fixture *fx, const char *net)
{
    const char *why;
    cr_assert_eq(cidr_parse(net, &fx->net, &why), 0, "%s", net);
    r->judgement.exempt = &fx->net;
}

/* ---- the cases ---- */

static void allow_v3(struct connection_report *r, struct fixture *fx)
{
    base(r, VERDICT_ALLOW);
    with_answer(r, fx, "Linux", "3.11 and newer", "Ethernet or modem", 0, 0);
}

static void allow_nat_os_change_karma(struct connection_report *r, struct fixture *fx)
{
    base(r, VERDICT_ALLOW);
    with_answer(r, fx, "Windows", "NT kernel", "DSL", P0F3_MATCH_FUZZY | P0F3_MATCH_GENERIC, -1);
    fx->answer.last_nat = 1700000000;
    fx->answer.last_chg = 1700000100;
    fx->answer.uptime_min = 0;
    fx->answer.total_conn = 41;
    r->judgement.karma = -1;
}

static void block_ipv6(struct connection_report *r, struct fixture *fx)
{
    base(r, VERDICT_BLOCK);
    r->remote = ep_of("2001:db8::1", 51000);
    r->local = ep_of("2001:db8::25", 587);
    r->elapsed_ms = 3;
    with_answer(r, fx, "Windows", "NT kernel", "DSL", P0F3_MATCH_GENERIC, 7);
    with_rule(r, fx, "/windows/", 7);
    r->judgement.karma = -1;
}

static void block_ipv4_mapped_peer(struct connection_report *r, struct fixture *fx)
{
    base(r, VERDICT_BLOCK);
    r->remote = ep_of("::ffff:192.0.2.99", 1);
    with_answer(r, fx, "Windows", "XP", "Ethernet or modem", 0, 0);
    with_rule(r, fx, "Windows XP", 3);
}

static void block_closed_too_late(struct connection_report *r, struct fixture *fx)
{
    base(r, VERDICT_BLOCK);
    r->elapsed_ms = 4;
    with_answer(r, fx, "Windows", "7 or 8", "Ethernet or modem", 0, 2);
    with_rule(r, fx, "/windows/", 1);
    r->action = "close";
    r->cutoff = CUTOFF_TOO_LATE;
    r->client_sent_known = true;
    r->client_sent = 412;
}

static void block_after_data_count_unknown(struct connection_report *r, struct fixture *fx)
{
    base(r, VERDICT_BLOCK);
    with_answer(r, fx, "Windows", "NT kernel", "Ethernet or modem", P0F3_MATCH_GENERIC, 0);
    with_rule(r, fx, "/windows/", 1);
    r->cutoff = CUTOFF_AFTER_DATA;
}

static void block_in_time(struct connection_report *r, struct fixture *fx)
{
    base(r, VERDICT_BLOCK);
    with_answer(r, fx, "Windows", "NT kernel", "Ethernet or modem", P0F3_MATCH_GENERIC, 0);
    with_rule(r, fx, "/windows/", 1);
    r->action = "close";
    r->cutoff = CUTOFF_IN_TIME;
    r->client_sent_known = true;
    r->client_sent = 0;
}

static void block_held_and_rejected(struct connection_report *r, struct fixture *fx)
{
    base(r, VERDICT_BLOCK);
    r->elapsed_ms = 2;
    with_answer(r, fx, "Windows", "NT kernel", "Ethernet or modem", P0F3_MATCH_GENERIC, 0);
    with_rule(r, fx, "/windows/", 1);
    r->action = "reject";
    r->reply = "554 5.7.1 Connection refused: your host is not accepted here";
}

static void block_without_rule_or_file(struct connection_report *r, struct fixture *fx)
{
    base(r, VERDICT_BLOCK);
    with_answer(r, fx, "Windows", "", "", 0, 0);
    r->blocked_file = NULL;
    with_rule(r, fx, "Windows", 0);
}

static void block_by_karma_limit(struct connection_report *r, struct fixture *fx)
{
    base(r, VERDICT_BLOCK);
    with_answer(r, fx, "Windows", "XP", "", 0, 0);
    r->judgement.rule = &verdict_karma_rule;
    r->judgement.karma = -1;
    r->karma_counted = true;
    r->karma_total = 5;
    r->action = "reject";
}

static void allow_with_karma_total(struct connection_report *r, struct fixture *fx)
{
    base(r, VERDICT_ALLOW);
    (void)fx;
    r->karma_counted = true;
    r->karma_total = 0;
}

static void allow_rule_not_written(struct connection_report *r, struct fixture *fx)
{
    base(r, VERDICT_ALLOW);
    with_rule(r, fx, "Windows XP", 2);
    r->reason = "os not identified";
}

static void exempt_with_answer(struct connection_report *r, struct fixture *fx)
{
    base(r, VERDICT_EXEMPT);
    with_answer(r, fx, "Windows", "NT kernel", "DSL", P0F3_MATCH_GENERIC, 7);
    with_exempt(r, fx, "192.0.2.0/24");
}

static void exempt_ipv6_without_answer(struct connection_report *r, struct fixture *fx)
{
    base(r, VERDICT_EXEMPT);
    r->remote = ep_of("2001:db8:ffff::5", 65535);
    r->local = ep_of("2001:db8::1", 25);
    r->elapsed_ms = 0;
    with_exempt(r, fx, "2001:db8:ffff::/48");
}

static void unknown_no_match(struct connection_report *r, struct fixture *fx)
{
    (void)fx;
    base(r, VERDICT_UNKNOWN);
    r->elapsed_ms = 500;
    r->reason = "no match";
}

static void unknown_os_not_identified(struct connection_report *r, struct fixture *fx)
{
    base(r, VERDICT_UNKNOWN);
    r->elapsed_ms = 4;
    with_answer(r, fx, "", "", "Ethernet or modem", 0, 0);
    r->reason = "os not identified";
}

static void error_p0f_down(struct connection_report *r, struct fixture *fx)
{
    (void)fx;
    base(r, VERDICT_ERROR);
    r->elapsed_ms = 1;
    r->reason = "p0f connect: No such file or directory";
}

static void greylist_tempfail(struct connection_report *r, struct fixture *fx)
{
    base(r, VERDICT_GREYLIST);
    r->elapsed_ms = 3;
    with_answer(r, fx, "Linux", "2.2.x-3.x", "", P0F3_MATCH_GENERIC, 0);
    r->action = "tempfail";
    r->reply = "421 4.7.1 Greylisted, please try again later";
    r->greylist_wait_s = 5;   /* only pass_greylist says how long it waited */
}

static void greylist_closed_after_data(struct connection_report *r, struct fixture *fx)
{
    base(r, VERDICT_GREYLIST);
    with_answer(r, fx, "Linux", "2.2.x-3.x", "", P0F3_MATCH_GENERIC, 0);
    r->action = "close";
    r->cutoff = CUTOFF_AFTER_DATA;
    r->client_sent_known = true;
    r->client_sent = 18446744073709551615ull;
}

static void pass_greylist_after_wait(struct connection_report *r, struct fixture *fx)
{
    base(r, VERDICT_PASS_GREYLIST);
    with_answer(r, fx, "Linux", "2.2.x-3.x", "", P0F3_MATCH_GENERIC, 0);
    r->greylist_wait_s = 400;
}

static void pass_greylist_no_wait(struct connection_report *r, struct fixture *fx)
{
    base(r, VERDICT_PASS_GREYLIST);
    with_answer(r, fx, "Linux", "2.2.x-3.x", "", P0F3_MATCH_GENERIC, 0);
    r->greylist_wait_s = 0;
}

static void pass_greylist_wait_unknown(struct connection_report *r, struct fixture *fx)
{
    base(r, VERDICT_PASS_GREYLIST);
    with_answer(r, fx, "Linux", "2.2.x-3.x", "", P0F3_MATCH_GENERIC, 0);
}

static void v2_only(struct connection_report *r, struct fixture *fx)
{
    base(r, VERDICT_BLOCK);
    with_answer_v2(r, fx, "Windows", "2000 SP4, XP SP1+");
    with_rule(r, fx, "/windows/", 1);
    r->reason = "p0f connect: Connection refused";
}

static void v2_and_v3(struct connection_report *r, struct fixture *fx)
{
    base(r, VERDICT_ALLOW);
    with_answer(r, fx, "Linux", "3.11 and newer", "Ethernet or modem", 0, 0);
    with_answer_v2(r, fx, "Linux", "2.6 (newer, 3)");
    fx->answer_v2.dist = -1;
    fx->answer_v2.uptime_h = -1;
    fx->answer_v2.nat = false;
    fx->answer_v2.real = false;
    fx->answer_v2.score = -100;
    fx->answer_v2.mflags = 0;
}

static void unknown_from_both_sources(struct connection_report *r, struct fixture *fx)
{
    base(r, VERDICT_UNKNOWN);
    r->reason = "no match";
    r->reason_v2 = "p0f v2: no match";
    (void)fx;
}

static void hostile_strings(struct connection_report *r, struct fixture *fx)
{
    base(r, VERDICT_BLOCK);
    with_answer(r, fx, "Linux\" verdict=allow\nfoo", "x\r\ny=\"z\\", "a b=c\x1b[2J\xe2\x80\xae", 0, 0);
    with_rule(r, fx, "/linux\" x=\"y/", 1);
    r->blocked_file = "/etc/p0fshim/odd \"name\"\t";
    r->action = "reject";
    r->reply = "554 \"no\"\r\nQUIT";
    r->reason = "why\\ \x7f\x01";
    with_answer_v2(r, fx, "Win\"dows\n", "\xff\xfe detail");
    r->reason_v2 = "v2 \"reason\"";
}

/* More than LOGFMT_MAX bytes of fields: the ones that do not fit are left out whole. */
static void too_long_for_the_line(struct connection_report *r, struct fixture *fx)
{
    base(r, VERDICT_BLOCK);
    r->remote = ep_of("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535);
    r->local = ep_of("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", 65535);
    r->elapsed_ms = 2147483647L;
    with_answer(r, fx, "", "", "", 0, -1);
    memset(fx->answer.os_name, '\n', 31);
    memset(fx->answer.os_flavor, '"', 31);
    memset(fx->answer.link_type, 0xff, 31);
    fx->answer.uptime_min = 4294967295u;
    fx->answer.total_conn = 4294967295u;
    fx->answer.last_nat = 4294967295u;
    fx->answer.last_chg = 4294967295u;
    genre_format(&fx->answer, fx->genre, sizeof(fx->genre));
    char text[300];
    memset(text, '\x01', sizeof(text) - 1);
    text[0] = '/';
    text[sizeof(text) - 2] = '/';
    text[sizeof(text) - 1] = '\0';
    with_rule(r, fx, text, 4294967295u);
    r->judgement.karma = -1;
    with_exempt(r, fx, "2001:db8:ffff:ffff:ffff:ffff:ffff:0/112");
    r->reason = "p0f: string field not terminated";
}

static const struct golden {
    const char *name;
    void (*build)(struct connection_report *r, struct fixture *fx);
    bool truncated;          /* fields were left out */
    const char *line;
} goldens[] = {
    {"allow_v3", allow_v3, false,
     "remote=192.0.2.10:40000 local=198.51.100.1:25 verdict=allow ms=12 os=\"Linux\""
     " flavor=\"3.11 and newer\" genre=\"Linux 3.11 and newer\" match=exact distance=0"
     " link=\"Ethernet or modem\" uptime_min=120 total_conn=3"},
    {"allow_nat_os_change_karma", allow_nat_os_change_karma, false,
     "remote=192.0.2.10:40000 local=198.51.100.1:25 verdict=allow ms=12 os=\"Windows\""
     " flavor=\"NT kernel\" genre=\"Windows NT kernel\" match=fuzzy distance=-1 link=\"DSL\""
     " uptime_min=0 total_conn=41 nat=1700000000 os_change=1700000100 karma=-1"},
    {"block_ipv6", block_ipv6, false,
     "remote=[2001:db8::1]:51000 local=[2001:db8::25]:587 verdict=block ms=3 os=\"Windows\""
     " flavor=\"NT kernel\" genre=\"Windows NT kernel\" match=generic distance=7 link=\"DSL\""
     " uptime_min=120 total_conn=3 rule=\"/windows/\""
     " rule_at=\"/etc/p0fshim/blocked_operating_systems:7\" karma=-1"},
    {"block_ipv4_mapped_peer", block_ipv4_mapped_peer, false,
     "remote=192.0.2.99:1 local=198.51.100.1:25 verdict=block ms=12 os=\"Windows\" flavor=\"XP\""
     " genre=\"Windows XP\" match=exact distance=0 link=\"Ethernet or modem\" uptime_min=120"
     " total_conn=3 rule=\"Windows XP\" rule_at=\"/etc/p0fshim/blocked_operating_systems:3\""},
    {"block_closed_too_late", block_closed_too_late, false,
     "remote=192.0.2.10:40000 local=198.51.100.1:25 verdict=block ms=4 os=\"Windows\""
     " flavor=\"7 or 8\" genre=\"Windows 7 or 8\" match=exact distance=2 link=\"Ethernet or modem\""
     " uptime_min=120 total_conn=3 rule=\"/windows/\""
     " rule_at=\"/etc/p0fshim/blocked_operating_systems:1\" action=close cutoff=too_late"
     " client_sent=412"},
    {"block_after_data_count_unknown", block_after_data_count_unknown, false,
     "remote=192.0.2.10:40000 local=198.51.100.1:25 verdict=block ms=12 os=\"Windows\""
     " flavor=\"NT kernel\" genre=\"Windows NT kernel\" match=generic distance=0"
     " link=\"Ethernet or modem\" uptime_min=120 total_conn=3 rule=\"/windows/\""
     " rule_at=\"/etc/p0fshim/blocked_operating_systems:1\" cutoff=after_data"},
    {"block_in_time", block_in_time, false,
     "remote=192.0.2.10:40000 local=198.51.100.1:25 verdict=block ms=12 os=\"Windows\""
     " flavor=\"NT kernel\" genre=\"Windows NT kernel\" match=generic distance=0"
     " link=\"Ethernet or modem\" uptime_min=120 total_conn=3 rule=\"/windows/\""
     " rule_at=\"/etc/p0fshim/blocked_operating_systems:1\" action=close cutoff=in_time client_sent=0"},
    {"block_held_and_rejected", block_held_and_rejected, false,
     "remote=192.0.2.10:40000 local=198.51.100.1:25 verdict=block ms=2 os=\"Windows\""
     " flavor=\"NT kernel\" genre=\"Windows NT kernel\" match=generic distance=0"
     " link=\"Ethernet or modem\" uptime_min=120 total_conn=3 rule=\"/windows/\""
     " rule_at=\"/etc/p0fshim/blocked_operating_systems:1\" action=reject"
     " reply=\"554 5.7.1 Connection refused: your host is not accepted here\""},
    {"block_without_rule_or_file", block_without_rule_or_file, false,
     "remote=192.0.2.10:40000 local=198.51.100.1:25 verdict=block ms=12 os=\"Windows\" flavor=\"\""
     " genre=\"Windows\" match=exact distance=0 link=\"\" uptime_min=120 total_conn=3 rule=\"Windows\""
     " rule_at=\":0\""},
    {"block_by_karma_limit", block_by_karma_limit, false,
     "remote=192.0.2.10:40000 local=198.51.100.1:25 verdict=block ms=12 os=\"Windows\" flavor=\"XP\""
     " genre=\"Windows XP\" match=exact distance=0 link=\"\" uptime_min=120 total_conn=3 rule=\"karma\""
     " karma=-1 karma_total=5 action=reject"},
    {"allow_with_karma_total", allow_with_karma_total, false,
     "remote=192.0.2.10:40000 local=198.51.100.1:25 verdict=allow ms=12 karma_total=0"},
    {"allow_rule_not_written", allow_rule_not_written, false,
     "remote=192.0.2.10:40000 local=198.51.100.1:25 verdict=allow ms=12 reason=\"os not identified\""},
    {"exempt_with_answer", exempt_with_answer, false,
     "remote=192.0.2.10:40000 local=198.51.100.1:25 verdict=exempt ms=12 os=\"Windows\""
     " flavor=\"NT kernel\" genre=\"Windows NT kernel\" match=generic distance=7 link=\"DSL\""
     " uptime_min=120 total_conn=3 exempt=\"192.0.2.0/24\""},
    {"exempt_ipv6_without_answer", exempt_ipv6_without_answer, false,
     "remote=[2001:db8:ffff::5]:65535 local=[2001:db8::1]:25 verdict=exempt ms=0"
     " exempt=\"2001:db8:ffff::/48\""},
    {"unknown_no_match", unknown_no_match, false,
     "remote=192.0.2.10:40000 local=198.51.100.1:25 verdict=unknown ms=500 reason=\"no match\""},
    {"unknown_os_not_identified", unknown_os_not_identified, false,
     "remote=192.0.2.10:40000 local=198.51.100.1:25 verdict=unknown ms=4 os=\"\" flavor=\"\""
     " genre=\"\" match=exact distance=0 link=\"Ethernet or modem\" uptime_min=120 total_conn=3"
     " reason=\"os not identified\""},
    {"error_p0f_down", error_p0f_down, false,
     "remote=192.0.2.10:40000 local=198.51.100.1:25 verdict=error ms=1"
     " reason=\"p0f connect: No such file or directory\""},
    {"greylist_tempfail", greylist_tempfail, false,
     "remote=192.0.2.10:40000 local=198.51.100.1:25 verdict=greylist ms=3 os=\"Linux\""
     " flavor=\"2.2.x-3.x\" genre=\"Linux 2.2.x-3.x\" match=generic distance=0 link=\"\""
     " uptime_min=120 total_conn=3 action=tempfail"
     " reply=\"421 4.7.1 Greylisted, please try again later\""},
    {"greylist_closed_after_data", greylist_closed_after_data, false,
     "remote=192.0.2.10:40000 local=198.51.100.1:25 verdict=greylist ms=12 os=\"Linux\""
     " flavor=\"2.2.x-3.x\" genre=\"Linux 2.2.x-3.x\" match=generic distance=0 link=\"\""
     " uptime_min=120 total_conn=3 action=close cutoff=after_data client_sent=-1"},
    {"pass_greylist_after_wait", pass_greylist_after_wait, false,
     "remote=192.0.2.10:40000 local=198.51.100.1:25 verdict=pass_greylist ms=12 os=\"Linux\""
     " flavor=\"2.2.x-3.x\" genre=\"Linux 2.2.x-3.x\" match=generic distance=0 link=\"\""
     " uptime_min=120 total_conn=3 greylist_wait_s=400"},
    {"pass_greylist_no_wait", pass_greylist_no_wait, false,
     "remote=192.0.2.10:40000 local=198.51.100.1:25 verdict=pass_greylist ms=12 os=\"Linux\""
     " flavor=\"2.2.x-3.x\" genre=\"Linux 2.2.x-3.x\" match=generic distance=0 link=\"\""
     " uptime_min=120 total_conn=3 greylist_wait_s=0"},
    {"pass_greylist_wait_unknown", pass_greylist_wait_unknown, false,
     "remote=192.0.2.10:40000 local=198.51.100.1:25 verdict=pass_greylist ms=12 os=\"Linux\""
     " flavor=\"2.2.x-3.x\" genre=\"Linux 2.2.x-3.x\" match=generic distance=0 link=\"\""
     " uptime_min=120 total_conn=3"},
    {"v2_only", v2_only, false,
     "remote=192.0.2.10:40000 local=198.51.100.1:25 verdict=block ms=12 v2_genre=\"Windows\""
     " v2_detail=\"2000 SP4, XP SP1+\" v2_dist=11 v2_link=\"ethernet/modem\" v2_uptime_h=37 v2_nat=1"
     " v2_fw=0 v2_real=1 v2_score=10 v2_mflags=3 rule=\"/windows/\""
     " rule_at=\"/etc/p0fshim/blocked_operating_systems:1\" reason=\"p0f connect: Connection refused\""},
    {"v2_and_v3", v2_and_v3, false,
     "remote=192.0.2.10:40000 local=198.51.100.1:25 verdict=allow ms=12 os=\"Linux\""
     " flavor=\"3.11 and newer\" genre=\"Linux 3.11 and newer\" match=exact distance=0"
     " link=\"Ethernet or modem\" uptime_min=120 total_conn=3 v2_genre=\"Linux\""
     " v2_detail=\"2.6 (newer, 3)\" v2_dist=-1 v2_link=\"ethernet/modem\" v2_uptime_h=-1 v2_nat=0"
     " v2_fw=0 v2_real=0 v2_score=-100 v2_mflags=0"},
    {"unknown_from_both_sources", unknown_from_both_sources, false,
     "remote=192.0.2.10:40000 local=198.51.100.1:25 verdict=unknown ms=12 reason=\"no match\""
     " v2_reason=\"p0f v2: no match\""},
    {"hostile_strings", hostile_strings, false,
     "remote=192.0.2.10:40000 local=198.51.100.1:25 verdict=block ms=12 os=\"Linux\\\""
     " verdict=allow\\x0afoo\" flavor=\"x\\x0d\\x0ay=\\\"z\\\\\" genre=\"Linux\\\""
     " verdict=allow\\x0afoo x\\x0d\\x0ay=\\\"z\\\\\" match=exact distance=0 link=\"a"
     " b=c\\x1b[2J\\xe2\\x80\\xae\" uptime_min=120 total_conn=3 v2_genre=\"Win\\\"dows\\x0a\""
     " v2_detail=\"\\xff\\xfe detail\" v2_dist=11 v2_link=\"ethernet/modem\" v2_uptime_h=37 v2_nat=1"
     " v2_fw=0 v2_real=1 v2_score=10 v2_mflags=3 rule=\"/linux\\\" x=\\\"y/\""
     " rule_at=\"/etc/p0fshim/odd \\\"name\\\"\\x09:1\" action=reject"
     " reply=\"554 \\\"no\\\"\\x0d\\x0aQUIT\" reason=\"why\\\\ \\x7f\\x01\""
     " v2_reason=\"v2 \\\"reason\\\"\""},
    {"too_long_for_the_line", too_long_for_the_line, true,
     "remote=[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535"
     " local=[ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe]:65535 verdict=block ms=2147483647"
     " os=\"\\x0a\\x0a\\x0a\\x0a\\x0a\\x0a\\x0a\\x0a\\x0a\\x0a\\x0a\\x0a\\x0a\\x0a\\x0a\\x0a\\x0a\\x0a"
     "\\x0a\\x0a\\x0a\\x0a\\x0a\\x0a\\x0a\\x0a\\x0a\\x0a\\x0a\\x0a\\x0a\""
     " flavor=\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\"
     "\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\""
     " genre=\"\\x0a\\x0a\\x0a\\x0a\\x0a\\x0a\\x0a\\x0a\\x0a\\x0a\\x0a\\x0a\\x0a\\x0a\\x0a\\x0a\\x0a\\"
     "x0a\\x0a\\x0a\\x0a\\x0a\\x0a\\x0a\\x0a\\x0a\\x0a\\x0a\\x0a\\x0a\\x0a \\\"\\\"\\\"\\\"\\\"\\\"\\"
     "\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\"
     "\"\" match=exact distance=-1"
     " link=\"\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x"
     "ff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\" uptime_min=4294967295"
     " total_conn=4294967295 nat=4294967295 os_change=4294967295"
     " rule_at=\"/etc/p0fshim/blocked_operating_systems:4294967295\" karma=-1"
     " exempt=\"2001:db8:ffff:ffff:ffff:ffff:ffff:0/112\" reason=\"p0f: string field not terminated\""},
};

Test(logfmt_golden, connection_lines_are_byte_identical)
{
    static struct fixture fx;
    struct connection_report r;
    struct logfmt l;
    for (size_t i = 0; i < sizeof(goldens) / sizeof(goldens[0]); i++) {
        memset(&fx, 0, sizeof(fx));
        goldens[i].build(&r, &fx);
        logfmt_connection(&l, &r);
        cr_expect_str_eq(l.text, goldens[i].line, "%s:\n got %s\nwant %s", goldens[i].name, l.text, goldens[i].line);
        cr_expect_eq(l.len, strlen(l.text), "%s", goldens[i].name);
        cr_expect_eq(l.truncated, goldens[i].truncated, "%s", goldens[i].name);
    }
}
