/* policy: the blocked-OS file (qpsmtpd semantics) and policy_judge(). */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "policy.h"

#define FILE_NAME "/etc/p0fshim/blocked_operating_systems"

static void parse_ok(struct policy *p, const char *text)
{
    struct diag err;
    memset(&err, 0, sizeof(err));
    cr_assert_eq(policy_parse_blocked(p, text, strlen(text), FILE_NAME, &err), 0,
                 "parse failed: %s:%u: %s", err.file, err.line, err.reason);
}

static struct endpoint peer(const char *ip)
{
    struct endpoint ep;
    cr_assert_eq(endpoint_parse_ip(ip, &ep), 0);
    ep.port = 40000;
    return ep;
}

static struct judgement judge(const struct policy *p, const char *genre)
{
    struct judgement j;
    struct endpoint ep = peer("203.0.113.9");
    policy_judge(p, &ep, LOOKUP_OS_KNOWN, genre, &j);
    return j;
}

static bool blocks(const struct policy *p, const char *genre)
{
    struct judgement j = judge(p, genre);
    if (j.verdict == VERDICT_BLOCK) {
        cr_assert_not_null(j.rule, "block without a rule");
        return true;
    }
    cr_assert_eq(j.verdict, VERDICT_ALLOW, "genre \"%s\": verdict %s", genre, verdict_name(j.verdict));
    cr_assert_null(j.rule);
    return false;
}

static void add_exempt(struct policy *p, const char *text)
{
    struct cidr net;
    const char *why = NULL;
    cr_assert_eq(cidr_parse(text, &net, &why), 0, "%s: %s", text, why ? why : "");
    p->exempt = realloc(p->exempt, (p->nexempt + 1) * sizeof(*p->exempt));
    cr_assert_not_null(p->exempt);
    p->exempt[p->nexempt++] = net;
}

static void set_smite(struct policy *p, const char *pattern)
{
    char why[256] = "";
    p->smite_os = regex_compile(pattern, why, sizeof(why));
    cr_assert_not_null(p->smite_os, "%s", why);
}

/* ---- phrases and regexes ---- */

Test(policy, phrase_equals_genre_exactly)
{
    struct policy p = {0};
    parse_ok(&p, "Windows 7 or 8\n");
    cr_assert_eq(p.nrules, 1u);
    cr_assert_null(p.rules[0].re, "a phrase has no regex");
    cr_assert(blocks(&p, "Windows 7 or 8"));
    cr_assert_not(blocks(&p, "windows 7 or 8"), "phrases are case-sensitive");
    cr_assert_not(blocks(&p, "WINDOWS 7 OR 8"));
    cr_assert_not(blocks(&p, "Windows 7"), "a prefix is not equal");
    cr_assert_not(blocks(&p, "Windows 7 or 8 or 10"), "a longer genre is not equal");
    cr_assert_not(blocks(&p, "Some Windows 7 or 8"));
    cr_assert_not(blocks(&p, "Windows 7 or 8 "));
    cr_assert_not(blocks(&p, ""));
    policy_free(&p);
}

Test(policy, phrase_is_not_a_regex)
{
    struct policy p = {0};
    parse_ok(&p, "Windows.*\nLinux 2.2.x-3.x\n");
    cr_assert_not(blocks(&p, "Windows NT kernel"), "regex characters in a phrase are literal");
    cr_assert(blocks(&p, "Windows.*"));
    cr_assert_not(blocks(&p, "Linux 2.2.5-3.1"));
    cr_assert(blocks(&p, "Linux 2.2.x-3.x"));
    policy_free(&p);
}

Test(policy, regex_is_caseless_and_unanchored)
{
    struct policy p = {0};
    parse_ok(&p, "/windows/\n");
    cr_assert_eq(p.nrules, 1u);
    cr_assert_not_null(p.rules[0].re);
    cr_assert_str_eq(p.rules[0].text, "/windows/");
    cr_assert(blocks(&p, "Windows NT kernel"));
    cr_assert(blocks(&p, "WINDOWS"));
    cr_assert(blocks(&p, "Microsoft windows XP"), "unanchored: matches in the middle");
    cr_assert_not(blocks(&p, "Linux 3.11 and newer"));
    cr_assert_not(blocks(&p, "Win dows"));
    policy_free(&p);
}

Test(policy, regex_anchors_are_honoured)
{
    struct policy p = {0};
    parse_ok(&p, "/^linux 2\\./\n");
    cr_assert(blocks(&p, "Linux 2.4.x"));
    cr_assert(blocks(&p, "LINUX 2.6"));
    cr_assert_not(blocks(&p, "Linux 3.11 and newer"));
    cr_assert_not(blocks(&p, "Not Linux 2.4"));
    cr_assert_not(blocks(&p, "Linux 2x"), "the escaped dot is literal");
    policy_free(&p);
}

Test(policy, regex_with_inner_slash_and_blanks)
{
    struct policy p = {0};
    parse_ok(&p, "/nt kernel|xp\\/2000/\n");
    cr_assert(blocks(&p, "Windows NT kernel"));
    cr_assert(blocks(&p, "Windows XP/2000"));
    cr_assert_not(blocks(&p, "Windows 7 or 8"));
    policy_free(&p);
}

Test(policy, lone_slash_is_a_phrase)
{
    struct policy p = {0};
    parse_ok(&p, "/\n/windows\n");
    cr_assert_eq(p.nrules, 2u);
    cr_assert_null(p.rules[0].re);
    cr_assert_null(p.rules[1].re, "no closing slash: a phrase");
    cr_assert_not(blocks(&p, "Windows XP"));
    cr_assert(blocks(&p, "/windows"));
    policy_free(&p);
}

/* ---- file format ---- */

Test(policy, comments_and_blank_lines)
{
    struct policy p = {0};
    parse_ok(&p, "# blocked operating systems\n"
                 "\n"
                 "   \t \n"
                 "   # indented comment\n"
                 "Windows XP\n"
                 "#Windows NT kernel\n"
                 "\n"
                 "/solaris/\n");
    cr_assert_eq(p.nrules, 2u);
    cr_assert_str_eq(p.rules[0].text, "Windows XP");
    cr_assert_eq(p.rules[0].line, 5u);
    cr_assert_str_eq(p.rules[1].text, "/solaris/");
    cr_assert_eq(p.rules[1].line, 8u);
    cr_assert_not(blocks(&p, "Windows NT kernel"), "a commented-out rule does not block");
    cr_assert_not(blocks(&p, "#Windows NT kernel"));
    policy_free(&p);
}

Test(policy, crlf_and_surrounding_blanks_trimmed)
{
    struct policy p = {0};
    parse_ok(&p, "Windows NT kernel\r\n"
                 "  \t/freebsd/ \t\r\n"
                 "\tWindows XP  \r\n"
                 "\r\n"
                 "Linux 2.4.x");     /* no final newline */
    cr_assert_eq(p.nrules, 4u);
    cr_assert_str_eq(p.rules[0].text, "Windows NT kernel");
    cr_assert_str_eq(p.rules[1].text, "/freebsd/");
    cr_assert_not_null(p.rules[1].re, "a CRLF line ending still ends a regex line with '/'");
    cr_assert_str_eq(p.rules[2].text, "Windows XP");
    cr_assert_str_eq(p.rules[3].text, "Linux 2.4.x");
    cr_assert_eq(p.rules[3].line, 5u);
    cr_assert(blocks(&p, "Windows NT kernel"));
    cr_assert(blocks(&p, "FreeBSD 9.x"));
    cr_assert(blocks(&p, "Windows XP"));
    cr_assert(blocks(&p, "Linux 2.4.x"));
    policy_free(&p);
}

Test(policy, empty_text_blocks_nothing)
{
    struct policy p = {0};
    parse_ok(&p, "");
    cr_assert_eq(p.nrules, 0u);
    cr_assert_not(blocks(&p, "Windows NT kernel"));
    parse_ok(&p, "\n\n# nothing\n");
    cr_assert_eq(p.nrules, 0u);
    policy_free(&p);
}

Test(policy, invalid_regex_gives_file_line_and_offset)
{
    struct policy p = {0};
    struct diag err;
    const char *text = "# rules\nWindows XP\n/(unclosed/\n/fine/\n";
    memset(&err, 0, sizeof(err));
    cr_assert_eq(policy_parse_blocked(&p, text, strlen(text), FILE_NAME, &err), -1);
    cr_assert_str_eq(err.file, FILE_NAME);
    cr_assert_eq(err.line, 3u);
    cr_assert_not_null(strstr(err.reason, "offset"), "reason: %s", err.reason);
    cr_assert_not_null(strstr(err.reason, "(unclosed"), "the reason names the pattern: %s", err.reason);
    cr_assert_not_null(strstr(err.reason, "offset 9"), "offset of the missing ')': %s", err.reason);
    policy_free(&p);
}

Test(policy, nul_byte_in_line_is_an_error)
{
    struct policy p = {0};
    struct diag err;
    static const char text[] = "Windows XP\nWin\0dows\n";
    memset(&err, 0, sizeof(err));
    cr_assert_eq(policy_parse_blocked(&p, text, sizeof(text) - 1, FILE_NAME, &err), -1);
    cr_assert_eq(err.line, 2u);
    cr_assert_not_null(strstr(err.reason, "NUL"));
    policy_free(&p);
}

Test(policy, missing_file_blocks_nothing)
{
    struct policy p = {0};
    struct diag err;
    memset(&err, 0, sizeof(err));
    cr_assert_eq(policy_load_blocked_file(&p, "/nonexistent/p0fshim/blocked_operating_systems", &err), 0);
    cr_assert_eq(p.nrules, 0u);
    cr_assert_str_eq(p.blocked_file, "/nonexistent/p0fshim/blocked_operating_systems");
    cr_assert_not(blocks(&p, "Windows NT kernel"));
    policy_free(&p);
}

Test(policy, load_file)
{
    char path[] = "/tmp/p0fshim-unit-blocked-XXXXXX";
    int fd = mkstemp(path);
    struct policy p = {0};
    struct diag err;
    const char *text = "# test\nWindows NT kernel\n/^freebsd/\n";

    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    memset(&err, 0, sizeof(err));
    cr_assert_eq(policy_load_blocked_file(&p, path, &err), 0, "%s", err.reason);
    unlink(path);
    cr_assert_str_eq(p.blocked_file, path);
    cr_assert_eq(p.nrules, 2u);
    cr_assert_eq(p.rules[1].line, 3u);
    cr_assert(blocks(&p, "Windows NT kernel"));
    cr_assert(blocks(&p, "FreeBSD 9.x or newer"));
    policy_free(&p);
}

Test(policy, load_file_with_bad_regex)
{
    char path[] = "/tmp/p0fshim-unit-blocked-XXXXXX";
    int fd = mkstemp(path);
    struct policy p = {0};
    struct diag err;
    const char *text = "\n\n/[a-/\n";

    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    memset(&err, 0, sizeof(err));
    cr_assert_eq(policy_load_blocked_file(&p, path, &err), -1);
    unlink(path);
    cr_assert_str_eq(err.file, path);
    cr_assert_eq(err.line, 3u);
    cr_assert_not_null(strstr(err.reason, "offset"), "%s", err.reason);
    policy_free(&p);
}

Test(policy, unreadable_path_is_an_error)
{
    struct policy p = {0};
    struct diag err;
    memset(&err, 0, sizeof(err));
    cr_assert_eq(policy_load_blocked_file(&p, "/tmp", &err), -1, "a directory is not a blocked-OS file");
    cr_assert_str_eq(err.file, "/tmp");
    cr_assert_not_null(strstr(err.reason, "cannot read"), "%s", err.reason);
    policy_free(&p);
}

/* ---- judging ---- */

Test(policy, unknown_os_is_never_blocked)
{
    struct policy p = {0};
    struct judgement j;
    struct endpoint ep = peer("203.0.113.9");

    parse_ok(&p, "/.*/\n\n");
    set_smite(&p, ".*");
    policy_judge(&p, &ep, LOOKUP_NO_OS, "", &j);
    cr_assert_eq(j.verdict, VERDICT_UNKNOWN);
    cr_assert_null(j.rule);
    cr_assert_eq(j.karma, 0, "no karma without an OS");
    policy_judge(&p, &ep, LOOKUP_NO_OS, NULL, &j);
    cr_assert_eq(j.verdict, VERDICT_UNKNOWN);
    policy_judge(&p, &ep, LOOKUP_NO_MATCH, NULL, &j);
    cr_assert_eq(j.verdict, VERDICT_UNKNOWN);
    cr_assert_null(j.rule);
    cr_assert_eq(j.karma, 0);
    cr_assert_null(j.exempt);
    policy_free(&p);
}

Test(policy, lookup_failed_is_error)
{
    struct policy p = {0};
    struct judgement j;
    struct endpoint ep = peer("2001:db8::9");
    parse_ok(&p, "/.*/\n");
    policy_judge(&p, &ep, LOOKUP_FAILED, NULL, &j);
    cr_assert_eq(j.verdict, VERDICT_ERROR);
    cr_assert_null(j.rule);
    cr_assert_eq(j.karma, 0);
    policy_free(&p);
}

Test(policy, allow_when_nothing_matches)
{
    struct policy p = {0};
    struct judgement j;
    parse_ok(&p, "Windows XP\n/solaris/\n");
    j = judge(&p, "Linux 3.11 and newer");
    cr_assert_eq(j.verdict, VERDICT_ALLOW);
    cr_assert_null(j.rule);
    cr_assert_null(j.exempt);
    cr_assert_eq(j.karma, 0);
    policy_free(&p);
}

Test(policy, exempt_v4_v6_and_mapped)
{
    struct policy p = {0};
    struct judgement j;
    struct endpoint ep;
    struct sockaddr_in6 sa;

    parse_ok(&p, "/windows/\n");
    set_smite(&p, "windows");
    add_exempt(&p, "192.0.2.0/24");
    add_exempt(&p, "2001:db8:1::/48");

    ep = peer("192.0.2.77");
    policy_judge(&p, &ep, LOOKUP_OS_KNOWN, "Windows NT kernel", &j);
    cr_assert_eq(j.verdict, VERDICT_EXEMPT, "exempt beats a blocking rule");
    cr_assert_eq(j.exempt, &p.exempt[0]);
    cr_assert_null(j.rule);

    ep = peer("2001:db8:1:ffff::1");
    policy_judge(&p, &ep, LOOKUP_OS_KNOWN, "Windows NT kernel", &j);
    cr_assert_eq(j.verdict, VERDICT_EXEMPT);
    cr_assert_eq(j.exempt, &p.exempt[1]);

    /* A v4 client through a dual-stack listener. */
    memset(&sa, 0, sizeof(sa));
    sa.sin6_family = AF_INET6;
    sa.sin6_port = htons(40000);
    cr_assert_eq(inet_pton(AF_INET6, "::ffff:192.0.2.1", &sa.sin6_addr), 1);
    cr_assert_eq(endpoint_from_sockaddr((struct sockaddr *)&sa, sizeof(sa), &ep), 0);
    policy_judge(&p, &ep, LOOKUP_OS_KNOWN, "Windows NT kernel", &j);
    cr_assert_eq(j.verdict, VERDICT_EXEMPT, "an IPv4-mapped peer matches a v4 exempt network");
    cr_assert_eq(j.exempt, &p.exempt[0]);

    /* Outside every exempt network: judged normally. */
    ep = peer("192.0.3.1");
    policy_judge(&p, &ep, LOOKUP_OS_KNOWN, "Windows NT kernel", &j);
    cr_assert_eq(j.verdict, VERDICT_BLOCK);
    cr_assert_null(j.exempt);
    cr_assert_eq(j.karma, -1);
    ep = peer("2001:db8:2::1");
    policy_judge(&p, &ep, LOOKUP_OS_KNOWN, "Windows NT kernel", &j);
    cr_assert_eq(j.verdict, VERDICT_BLOCK);
    policy_free(&p);
}

Test(policy, exempt_with_unknown_os)
{
    struct policy p = {0};
    struct judgement j;
    struct endpoint ep = peer("192.0.2.5");
    add_exempt(&p, "192.0.2.0/24");
    policy_judge(&p, &ep, LOOKUP_NO_MATCH, NULL, &j);
    cr_assert_eq(j.verdict, VERDICT_EXEMPT);
    cr_assert_eq(j.exempt, &p.exempt[0]);
    policy_free(&p);
}

Test(policy, smite_os_karma)
{
    struct policy p = {0};
    struct judgement j;
    set_smite(&p, "windows");

    j = judge(&p, "Windows 7 or 8");
    cr_assert_eq(j.karma, -1);
    cr_assert_eq(j.verdict, VERDICT_ALLOW, "karma alone does not block");
    j = judge(&p, "MS WINDOWS");
    cr_assert_eq(j.karma, -1, "smite_os is case-insensitive");
    j = judge(&p, "Linux 3.11 and newer");
    cr_assert_eq(j.karma, 0);
    policy_free(&p);
}

Test(policy, smite_os_and_block_together)
{
    struct policy p = {0};
    struct judgement j;
    parse_ok(&p, "Windows XP\n");
    set_smite(&p, "^win");
    j = judge(&p, "Windows XP");
    cr_assert_eq(j.verdict, VERDICT_BLOCK);
    cr_assert_eq(j.karma, -1);
    j = judge(&p, "Linux Windows");
    cr_assert_eq(j.karma, 0, "the smite_os anchor is honoured");
    policy_free(&p);
}

Test(policy, rule_pointer_and_line)
{
    struct policy p = {0};
    struct judgement j;
    parse_ok(&p, "# header\nWindows XP\n\n\n/nt kernel/\n");
    cr_assert_eq(p.nrules, 2u);
    j = judge(&p, "Windows NT kernel");
    cr_assert_eq(j.verdict, VERDICT_BLOCK);
    cr_assert_eq(j.rule, &p.rules[1]);
    cr_assert_eq(j.rule->line, 5u);
    cr_assert_str_eq(j.rule->text, "/nt kernel/");
    j = judge(&p, "Windows XP");
    cr_assert_not_null(j.rule);
    cr_assert_eq(j.rule, &p.rules[0]);
    cr_assert_eq(j.rule->line, 2u);
    policy_free(&p);
}

Test(policy, first_matching_rule_wins)
{
    struct policy p = {0};
    struct judgement j;
    parse_ok(&p, "/linux/\n/solaris/\nWindows NT kernel\n/windows/\n/nt/\n");
    j = judge(&p, "Windows NT kernel");
    cr_assert_eq(j.verdict, VERDICT_BLOCK);
    cr_assert_not_null(j.rule);
    cr_assert_eq(j.rule->line, 3u, "the phrase on line 3 is the first match, got line %u", j.rule->line);
    j = judge(&p, "Windows 7 or 8");
    cr_assert_not_null(j.rule);
    cr_assert_eq(j.rule->line, 4u);
    policy_free(&p);
}

Test(policy, rules_append_across_parses)
{
    struct policy p = {0};
    parse_ok(&p, "Windows XP\n");
    parse_ok(&p, "Windows NT kernel\n");
    cr_assert_eq(p.nrules, 2u);
    cr_assert(blocks(&p, "Windows XP"));
    cr_assert(blocks(&p, "Windows NT kernel"));
    policy_free(&p);
    cr_assert_eq(p.nrules, 0u);
    cr_assert_null(p.rules);
}

Test(policy, backtracking_regex_fails_open, .timeout = 10)
{
    struct policy p = {0};
    parse_ok(&p, "/^(a|aa)+$/\n/(x+x+)+y/\n");
    cr_assert_not(blocks(&p, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"));
    cr_assert(blocks(&p, "aaaa"));
    policy_free(&p);
}

Test(policy, regex_compile_reason)
{
    char why[256] = "";
    struct regex *re = regex_compile("abc)", why, sizeof(why));
    cr_assert_null(re);
    cr_assert_not_null(strstr(why, "offset 3"), "%s", why);
    cr_assert_not_null(strstr(why, "abc)"), "%s", why);
    re = regex_compile("ABC", why, sizeof(why));
    cr_assert_not_null(re);
    cr_assert(regex_matches(re, "xxabcxx"));
    cr_assert_not(regex_matches(re, "ab c"));
    regex_free(re);
    regex_free(NULL);
}

Test(policy, verdict_names)
{
    cr_assert_str_eq(verdict_name(VERDICT_ALLOW), "allow");
    cr_assert_str_eq(verdict_name(VERDICT_BLOCK), "block");
    cr_assert_str_eq(verdict_name(VERDICT_EXEMPT), "exempt");
    cr_assert_str_eq(verdict_name(VERDICT_UNKNOWN), "unknown");
    cr_assert_str_eq(verdict_name(VERDICT_ERROR), "error");
}
