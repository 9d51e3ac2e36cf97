/* policy_judge_sources(): one verdict from several p0f sources (p0f v3 and v2 at once).
 * The engine passes the v3 view first (smite_os applies to it) and the v2 view second
 * (genre = p0f v2's genre field, no smite_os), which is what these tests model. */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "policy.h"

#define FILE_NAME "/etc/p0fshim/blocked_operating_systems"

static void parse_rules(struct policy *p, const char *text)
{
    struct diag err;
    memset(&err, 0, sizeof(err));
    cr_assert_eq(policy_parse_blocked(p, text, strlen(text), FILE_NAME, &err), 0, "parse failed: %s:%u: %s",
                 err.file, err.line, err.reason);
}

static void smite(struct policy *p, const char *pattern)
{
    char why[256] = "";
    p->smite_os = regex_compile(pattern, why, sizeof(why));
    cr_assert_not_null(p->smite_os, "%s", why);
}

static void exempt(struct policy *p, const char *text)
{
    struct cidr net;
    const char *why = NULL;
    cr_assert_eq(cidr_parse(text, &net, &why), 0, "%s: %s", text, why ? why : "");
    p->exempt = realloc(p->exempt, (p->nexempt + 1) * sizeof(*p->exempt));
    cr_assert_not_null(p->exempt);
    p->exempt[p->nexempt++] = net;
}

static struct endpoint peer_at(const char *ip)
{
    struct endpoint ep;
    cr_assert_eq(endpoint_parse_ip(ip, &ep), 0);
    ep.port = 40000;
    return ep;
}

static struct source_view v3(enum lookup_outcome outcome, const char *genre)
{
    return (struct source_view){outcome, genre, true};
}

static struct source_view v2(enum lookup_outcome outcome, const char *genre)
{
    return (struct source_view){outcome, genre, false};
}

/* Judges v3 and v2 together for a peer outside every exempt network. */
static struct judgement both(const struct policy *p, struct source_view a, struct source_view b)
{
    struct source_view views[2] = {a, b};
    struct endpoint ep = peer_at("203.0.113.9");
    struct judgement j;
    memset(&j, 0x5a, sizeof(j));
    policy_judge_sources(p, &ep, views, 2, &j);
    return j;
}

Test(policy_sources, v2_blocks_while_v3_allows)
{
    struct policy p = {0};
    struct judgement j;
    parse_rules(&p, "/windows/\n");
    j = both(&p, v3(LOOKUP_OS_KNOWN, "Linux 3.11 and newer"), v2(LOOKUP_OS_KNOWN, "Windows"));
    cr_assert_eq(j.verdict, VERDICT_BLOCK, "verdict %s", verdict_name(j.verdict));
    cr_assert_eq(j.rule, &p.rules[0]);
    cr_assert_null(j.exempt);
    cr_assert_eq(j.karma, 0);
    policy_free(&p);
}

Test(policy_sources, v3_blocks_while_v2_allows)
{
    struct policy p = {0};
    struct judgement j;
    parse_rules(&p, "# the v3 genre is \"os_name os_flavor\"\nWindows NT kernel\n");
    j = both(&p, v3(LOOKUP_OS_KNOWN, "Windows NT kernel"), v2(LOOKUP_OS_KNOWN, "Linux"));
    cr_assert_eq(j.verdict, VERDICT_BLOCK);
    cr_assert_eq(j.rule, &p.rules[0]);
    cr_assert_eq(j.rule->line, 2u);
    policy_free(&p);
}

Test(policy_sources, phrase_is_matched_against_each_genre_as_it_is)
{
    /* "Windows" equals the v2 genre but not the v3 one ("Windows NT kernel"). */
    struct policy p = {0};
    struct judgement j;
    parse_rules(&p, "Windows\n");
    j = both(&p, v3(LOOKUP_OS_KNOWN, "Windows NT kernel"), v2(LOOKUP_OS_KNOWN, "Linux"));
    cr_assert_eq(j.verdict, VERDICT_ALLOW);
    cr_assert_null(j.rule);
    j = both(&p, v3(LOOKUP_OS_KNOWN, "Linux 2.2.x-3.x"), v2(LOOKUP_OS_KNOWN, "Windows"));
    cr_assert_eq(j.verdict, VERDICT_BLOCK);
    cr_assert_eq(j.rule, &p.rules[0]);
    policy_free(&p);
}

Test(policy_sources, both_block_the_first_source_names_the_rule)
{
    struct policy p = {0};
    struct judgement j;
    parse_rules(&p, "Windows\n/linux/\n");
    j = both(&p, v3(LOOKUP_OS_KNOWN, "Linux 3.11 and newer"), v2(LOOKUP_OS_KNOWN, "Windows"));
    cr_assert_eq(j.verdict, VERDICT_BLOCK);
    cr_assert_eq(j.rule, &p.rules[1], "the v3 view comes first and its rule is named (line %u)", j.rule->line);
    j = both(&p, v2(LOOKUP_OS_KNOWN, "Windows"), v3(LOOKUP_OS_KNOWN, "Linux 3.11 and newer"));
    cr_assert_eq(j.rule, &p.rules[0]);
    policy_free(&p);
}

Test(policy_sources, neither_blocks_allow)
{
    struct policy p = {0};
    struct judgement j;
    parse_rules(&p, "/windows/\n");
    j = both(&p, v3(LOOKUP_OS_KNOWN, "Linux 3.11 and newer"), v2(LOOKUP_OS_KNOWN, "Linux"));
    cr_assert_eq(j.verdict, VERDICT_ALLOW);
    cr_assert_null(j.rule);
    cr_assert_null(j.exempt);
    cr_assert_eq(j.karma, 0);
    policy_free(&p);
}

Test(policy_sources, a_failed_or_unknown_source_does_not_stop_the_other_from_blocking)
{
    struct policy p = {0};
    static const enum lookup_outcome weak[] = {LOOKUP_FAILED, LOOKUP_NO_MATCH, LOOKUP_NO_OS};
    parse_rules(&p, "/windows/\n");
    for (size_t i = 0; i < 3; i++) {
        struct judgement j = both(&p, v3(weak[i], NULL), v2(LOOKUP_OS_KNOWN, "Windows"));
        cr_assert_eq(j.verdict, VERDICT_BLOCK, "v3 outcome %d, v2 Windows: %s", (int)weak[i],
                     verdict_name(j.verdict));
        cr_assert_eq(j.rule, &p.rules[0]);
        j = both(&p, v3(LOOKUP_OS_KNOWN, "Windows NT kernel"), v2(weak[i], NULL));
        cr_assert_eq(j.verdict, VERDICT_BLOCK, "v2 outcome %d, v3 Windows", (int)weak[i]);
        j = both(&p, v3(weak[i], ""), v2(LOOKUP_OS_KNOWN, "Linux"));
        cr_assert_eq(j.verdict, VERDICT_ALLOW, "an OS known by one source allows");
        cr_assert_null(j.rule);
    }
    policy_free(&p);
}

Test(policy_sources, unknown_and_error_combinations)
{
    struct policy p = {0};
    struct judgement j;
    parse_rules(&p, "/windows/\n");

    j = both(&p, v3(LOOKUP_FAILED, NULL), v2(LOOKUP_NO_MATCH, NULL));
    cr_assert_eq(j.verdict, VERDICT_UNKNOWN, "one source answered: unknown, not error (%s)", verdict_name(j.verdict));
    j = both(&p, v3(LOOKUP_NO_MATCH, NULL), v2(LOOKUP_FAILED, NULL));
    cr_assert_eq(j.verdict, VERDICT_UNKNOWN);
    j = both(&p, v3(LOOKUP_NO_OS, ""), v2(LOOKUP_FAILED, NULL));
    cr_assert_eq(j.verdict, VERDICT_UNKNOWN);
    j = both(&p, v3(LOOKUP_NO_MATCH, NULL), v2(LOOKUP_NO_OS, ""));
    cr_assert_eq(j.verdict, VERDICT_UNKNOWN);
    j = both(&p, v3(LOOKUP_FAILED, NULL), v2(LOOKUP_FAILED, NULL));
    cr_assert_eq(j.verdict, VERDICT_ERROR, "no source answered: error");
    cr_assert_null(j.rule);
    cr_assert_null(j.exempt);
    cr_assert_eq(j.karma, 0);
    policy_free(&p);
}

Test(policy_sources, unidentified_genre_never_blocks)
{
    /* An empty genre with NO_OS (p0f knows the host, not its OS) is never matched, even by a
     * rule that would match the empty string. */
    struct policy p = {0};
    struct judgement j;
    parse_rules(&p, "/^$/\n/.*/\n");
    j = both(&p, v3(LOOKUP_NO_OS, ""), v2(LOOKUP_NO_OS, ""));
    cr_assert_eq(j.verdict, VERDICT_UNKNOWN);
    cr_assert_null(j.rule);
    policy_free(&p);
}

Test(policy_sources, smite_os_applies_to_v3_only)
{
    struct policy p = {0};
    struct judgement j;
    smite(&p, "windows");

    j = both(&p, v3(LOOKUP_OS_KNOWN, "Linux 3.11 and newer"), v2(LOOKUP_OS_KNOWN, "Windows"));
    cr_assert_eq(j.karma, 0, "a v2 genre never smites");
    cr_assert_eq(j.verdict, VERDICT_ALLOW);

    j = both(&p, v3(LOOKUP_OS_KNOWN, "Windows 7 or 8"), v2(LOOKUP_OS_KNOWN, "Linux"));
    cr_assert_eq(j.karma, -1, "the v3 genre smites");
    cr_assert_eq(j.verdict, VERDICT_ALLOW, "karma alone does not block");

    j = both(&p, v3(LOOKUP_FAILED, NULL), v2(LOOKUP_OS_KNOWN, "Windows"));
    cr_assert_eq(j.karma, 0, "v3 failed, v2 Windows: no karma");
    cr_assert_eq(j.verdict, VERDICT_ALLOW);

    j = both(&p, v3(LOOKUP_OS_KNOWN, "Windows NT kernel"), v2(LOOKUP_FAILED, NULL));
    cr_assert_eq(j.karma, -1);
    policy_free(&p);
}

Test(policy_sources, smite_and_block_from_different_sources)
{
    struct policy p = {0};
    struct judgement j;
    parse_rules(&p, "Windows\n");
    smite(&p, "^windows");
    /* v3 smites (karma) while v2's genre blocks: both are reported. */
    j = both(&p, v3(LOOKUP_OS_KNOWN, "Windows NT kernel"), v2(LOOKUP_OS_KNOWN, "Windows"));
    cr_assert_eq(j.verdict, VERDICT_BLOCK);
    cr_assert_eq(j.rule, &p.rules[0]);
    cr_assert_eq(j.karma, -1);
    policy_free(&p);
}

Test(policy_sources, exempt_comes_first)
{
    struct policy p = {0};
    struct source_view views[2] = {v3(LOOKUP_OS_KNOWN, "Windows NT kernel"), v2(LOOKUP_OS_KNOWN, "Windows")};
    struct endpoint inside = peer_at("192.0.2.77"), outside = peer_at("192.0.3.1");
    struct judgement j;

    parse_rules(&p, "/windows/\n");
    smite(&p, "windows");
    exempt(&p, "192.0.2.0/24");
    policy_judge_sources(&p, &inside, views, 2, &j);
    cr_assert_eq(j.verdict, VERDICT_EXEMPT);
    cr_assert_eq(j.exempt, &p.exempt[0]);
    cr_assert_null(j.rule);
    /* never blocked, but still fingerprinted: its karma is kept */
    cr_assert_eq(j.karma, -1);

    /* exempt even when no source answered */
    struct source_view failed[2] = {v3(LOOKUP_FAILED, NULL), v2(LOOKUP_FAILED, NULL)};
    policy_judge_sources(&p, &inside, failed, 2, &j);
    cr_assert_eq(j.verdict, VERDICT_EXEMPT);

    policy_judge_sources(&p, &outside, views, 2, &j);
    cr_assert_eq(j.verdict, VERDICT_BLOCK);
    cr_assert_null(j.exempt);
    cr_assert_eq(j.karma, -1);
    policy_free(&p);
}

Test(policy_sources, single_source_is_policy_judge)
{
    struct policy p = {0};
    struct endpoint ep = peer_at("203.0.113.9");
    static const char *const genres[] = {"Windows NT kernel", "Linux 3.11 and newer", "Windows"};
    parse_rules(&p, "/windows/\n");
    smite(&p, "nt");
    for (size_t i = 0; i < 3; i++) {
        struct judgement a, b;
        struct source_view view = v3(LOOKUP_OS_KNOWN, genres[i]);
        policy_judge(&p, &ep, LOOKUP_OS_KNOWN, genres[i], &a);
        policy_judge_sources(&p, &ep, &view, 1, &b);
        cr_assert_eq(a.verdict, b.verdict, "%s", genres[i]);
        cr_assert_eq(a.rule, b.rule, "%s", genres[i]);
        cr_assert_eq(a.karma, b.karma, "%s", genres[i]);
    }
    policy_free(&p);
}

Test(policy_sources, no_source_is_error)
{
    struct policy p = {0};
    struct endpoint ep = peer_at("203.0.113.9");
    struct judgement j;
    parse_rules(&p, "/windows/\n");
    policy_judge_sources(&p, &ep, NULL, 0, &j);
    cr_assert_eq(j.verdict, VERDICT_ERROR);
    cr_assert_null(j.rule);
    policy_free(&p);
}
