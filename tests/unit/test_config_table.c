/* config: the directive table. Every error message word for word, every default as a line
 * the parser takes, and the line each value remembers. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include "config.h"

#define CONF "/etc/p0fshim/p0fshim.conf"

static void parse_ok(struct config *c, const char *text)
{
    struct diag err;
    memset(&err, 0, sizeof(err));
    config_init(c);
    cr_assert_eq(config_parse(c, text, strlen(text), CONF, &err), 0, "config_parse failed: %s:%u: %s", err.file,
                 err.line, err.reason);
}

static const struct cidr *exempt_of(const struct config *c, const char *ip)
{
    struct endpoint ep;
    struct judgement j;
    cr_assert_eq(endpoint_parse_ip(ip, &ep), 0);
    policy_judge(&c->policy, &ep, LOOKUP_OS_KNOWN, "x", &j);
    return j.exempt;
}

/* ---- every error message, word for word ---- */

/* The messages are the operator's only guide to a bad line (in the log and in lint), so
 * each one is pinned exactly, with its line, including where a long value is cut. */
#define X10 "xxxxxxxxxx"
#define X32 X10 X10 X10 "xx"
#define X64 X32 X32
#define X70 X10 X10 X10 X10 X10 X10 X10
#define X80 X10 X10 X10 X10 X10 X10 X10 X10
#define X200 X80 X80 X10 X10 X10 X10
#define X235 X200 X10 X10 X10 "xxxxx"
#define P10 " p p p p p p p p p p"

struct bad_config {
    const char *text;
    unsigned line;
    const char *reason;
};

static const struct bad_config bad_configs[] = {
    /* the line itself */
    {"programs" P10 P10 P10 P10 P10 P10 " p p p p\n", 1, "too many words on the line"},
    {"# c\n\nsocket /x\nfoo bar\n", 4, "unknown directive \"foo\""},
    {"ident/p0fx /x\n", 1, "unknown directive \"ident/p0fx\""},
    {"\nprots 25 587\n", 2, "unknown directive \"prots\""},
    {X80 X10 " 1\n", 1, "unknown directive \"" X80 "\""},
    /* the qpsmtpd line */
    {"ident/p0f\n", 1, "ident/p0f: the p0f socket path is missing"},
    {"ident/p0f:3\n", 1, "ident/p0f:3: the p0f socket path is missing"},
    {"ident/p0f rel.sock\n", 1, "the p0f socket must be an absolute path"},
    {"ident/p0f /" X200 "\n", 1, "the p0f socket is too long"},
    {"ident/p0f /x version 4\n", 1, "version \"4\": p0f protocol versions are 2 and 3"},
    {"ident/p0f /x version " X80 "\n", 1, "version \"" X32 "\": p0f protocol versions are 2 and 3"},
    {"ident/p0f /x colour blue\n", 1, "unknown ident/p0f option \"colour\""},
    {"ident/p0f /x smite_os\n", 1, "ident/p0f option \"smite_os\" has no value"},
    {"ident/p0f /x add_headers\n", 1, "ident/p0f option \"add_headers\" has no value"},
    {"ident/p0f /x smite_os (win\n", 1,
     "smite_os: regex \"(win\" does not compile: missing closing parenthesis at offset 4"},
    {"ident/p0f /x local_ip nowhere\n", 1, "local_ip \"nowhere\" is not an IP address"},
    {"ident/p0f /x local_ip " X80 "\n", 1, "local_ip \"" X64 "\" is not an IP address"},
    {"ident/p0f /x local_ip 2001:db8::1\n", 1,
     "local_ip \"2001:db8::1\": p0f v2 is IPv4-only, give the server's public IPv4 address"},
    {"ident/p0f /x\n#\nident/p0f /y\n", 3, "a second p0f v3 source: at most one p0f per protocol version"},
    {"ident/p0f /x version 2\nident/p0f:2 /y version 2\n", 2,
     "a second p0f v2 source: at most one p0f per protocol version"},
    /* p0f2 and p0f3 lines */
    {"p0f2\n", 1, "p0f2: the p0f socket path is missing"},
    {"p0f3\n", 1, "p0f3: the p0f socket path is missing"},
    {"p0f3 /a local_ip 192.0.2.1\n", 1, "p0f3 takes a socket path"},
    {"p0f2 /a local_ip\n", 1, "p0f2 takes a socket path and optionally local_ip IP"},
    {"p0f2 /a foo 192.0.2.1\n", 1, "p0f2 takes a socket path and optionally local_ip IP"},
    {"p0f2 /a local_ip nowhere\n", 1, "local_ip \"nowhere\" is not an IP address"},
    {"p0f2 /a local_ip ::1\n", 1, "local_ip \"::1\": p0f v2 is IPv4-only, give the server's public IPv4 address"},
    {"p0f3 rel\n", 1, "the p0f socket must be an absolute path"},
    {"p0f3 /" X200 "\n", 1, "the p0f socket is too long"},
    {"p0f3 /a\np0f3 /b\n", 2, "a second p0f v3 source: at most one p0f per protocol version"},
    {"p0f2 /a\np0f2 /b\n", 2, "a second p0f v2 source: at most one p0f per protocol version"},
    /* the rest of the line */
    {"smite_os\n", 1, "smite_os needs a value"},
    {"smite_os  \t \n", 1, "smite_os needs a value"},
    {"smite_os [a-\n", 1,
     "smite_os: regex \"[a-\" does not compile: missing terminating ] for character class at offset 3"},
    {"greylist_os\n", 1, "greylist_os needs a value"},
    {"greylist_os (x\n", 1, "greylist_os: regex \"(x\" does not compile: missing closing parenthesis at offset 2"},
    {"reject_text\n", 1, "reject_text needs a value"},
    {"tempfail_text\n", 1, "tempfail_text needs a value"},
    {"greylist_text\n", 1, "greylist_text needs a value"},
    {"reject_text a\tb\n", 1, "reject_text: only printable ASCII is allowed in an SMTP reply"},
    {"tempfail_text caf\xc3\xa9\n", 1, "tempfail_text: only printable ASCII is allowed in an SMTP reply"},
    {"greylist_text " X200 "\n", 1, "greylist_text is too long (at most 199 characters)"},
    /* lists */
    {"exempt\n", 1, "exempt needs at least one value"},
    {"ports\n", 1, "ports needs at least one value"},
    {"programs\n", 1, "programs needs at least one value"},
    {"exempt " X80 X10 "\n", 1, "exempt \"" X80 "\": not an IP address"},
    {"exempt 192.0.2.0/24 2001:db8::/xx\n", 1, "exempt \"2001:db8::/xx\": prefix length is not a number"},
    {"exempt 192.0.2.0/33\n", 1, "exempt \"192.0.2.0/33\": prefix length out of range"},
    {"exempt 10.1.2.3/8\n", 1, "exempt \"10.1.2.3/8\": address has bits set beyond the prefix length"},
    {"ports 25 99999999999999999999999\n", 1, "port \"99999999999999999999999\" is not a number from 1 to 65535"},
    {"ports 0\n", 1, "port \"0\" is not a number from 1 to 65535"},
    {"ports 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32\n"
     "ports 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60 61 62 63 64 65\n",
     2, "too many ports"},
    {"programs a " X70 "\n", 1, "program name \"" X70 "\" is too long"},
    {"programs 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\nprograms 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32 33\n",
     2, "too many programs"},
    /* one value */
    {"socket\n", 1, "socket needs a value"},
    {"socket a b\n", 1, "socket takes one value"},
    {"version\n", 1, "version needs a value"},
    {"add_headers\n", 1, "add_headers needs a value"},
    {"add_headers a b\n", 1, "add_headers takes one value"},
    {"p0f_user\n", 1, "p0f_user needs a value"},
    {"greylist_v6_prefix a b\n", 1, "greylist_v6_prefix takes one value"},
    {"socket rel\n", 1, "socket must be an absolute path"},
    {"socket /" X200 "\n", 1, "socket is too long"},
    {"version 1\n", 1, "version \"1\": p0f protocol versions are 2 and 3"},
    {"version 03\n", 1, "version \"03\": p0f protocol versions are 2 and 3"},
    {"version " X80 "\n", 1, "version \"" X32 "\": p0f protocol versions are 2 and 3"},
    {"blocked_os_file rel\n", 1, "blocked_os_file must be an absolute path"},
    {"log_socket rel\n", 1, "log_socket must be an absolute path"},
    {"log_socket /" X200 "\n", 1, "log_socket is too long"},
    {"greylist_dir rel\n", 1, "greylist_dir must be an absolute path"},
    {"timeout_ms 60001\n", 1, "timeout_ms \"60001\" is not a number from 1 to 60000"},
    {"timeout_ms 1" X80 "\n", 1, "timeout_ms \"1" X80 "\" is not a number from 1 to 60000"},
    {"hold_ms +5\n", 1, "hold_ms \"+5\" is not a number from 1 to 10000"},
    {"hold_ms 10001\n", 1, "hold_ms \"10001\" is not a number from 1 to 10000"},
    {"log_facility postfix\n", 1, "unknown log_facility \"postfix\""},
    {"log_facility " X200 "\n", 1, "unknown log_facility \"" X200 "\""},
    {"local_ip " X80 "\n", 1, "local_ip \"" X64 "\" is not an IP address"},
    {"local_ip 2001:db8::25\n", 1,
     "local_ip \"2001:db8::25\": p0f v2 is IPv4-only, give the server's public IPv4 address"},
    {"p0f_user no-such-user-p0fshim\n", 1, "p0f_user \"no-such-user-p0fshim\": no such user"},
    {"p0f_user " X80 "\n", 1, "p0f_user \"" X64 "\": no such user"},
    {"p0f_user 4294967295\n", 1, "p0f_user \"4294967295\": no such user"},
    {"mode sync\n", 1, "mode \"sync\": async or hold"},
    {"mode " X80 "\n", 1, "mode \"" X32 "\": async or hold"},
    {"action drop\n", 1, "action \"drop\": close, reject or tempfail"},
    {"action " X80 "\n", 1, "action \"" X32 "\": close, reject or tempfail"},
    {"greylist_delay 5x\n", 1, "greylist_delay \"5x\" is not a duration (e.g. 300, 5m, 24h, 36d)"},
    {"greylist_delay " X80 "\n", 1, "greylist_delay \"" X32 "\" is not a duration (e.g. 300, 5m, 24h, 36d)"},
    {"greylist_window 3651d\n", 1, "greylist_window \"3651d\" is not a duration (e.g. 300, 5m, 24h, 36d)"},
    {"greylist_window -1\n", 1, "greylist_window \"-1\" is not a duration (e.g. 300, 5m, 24h, 36d)"},
    {"greylist_expire 52560001m\n", 1, "greylist_expire \"52560001m\" is not a duration (e.g. 300, 5m, 24h, 36d)"},
    {"greylist_expire 5m5\n", 1, "greylist_expire \"5m5\" is not a duration (e.g. 300, 5m, 24h, 36d)"},
    {"greylist_v4_prefix 64\n", 1, "greylist_v4_prefix \"64\": 32 (the host) or 24"},
    {"greylist_v6_prefix 032\n", 1, "greylist_v6_prefix \"032\": 128 (the host) or 64"},
    {"greylist_v4_prefix " X200 X80 "\n", 1, "greylist_v4_prefix \"" X235},
    /* the SYN fingerprinter */
    {"\nfingerprint syn+p0f2\n", 2, "fingerprint \"syn+p0f2\": auto, syn, syn+p0f or p0f"},
    {"fp_file p0f.fp\n", 1, "a signature file must be an absolute path"},
    {"fp_file /a /b /c /d /e /f /g /h /i\n", 1, "too many fp_file entries (at most 8)"},
    /* not one line's fault */
    {"socket /x\np0f3 /y\n", 0, "socket/version and a p0f3 or ident/p0f line both define the p0f v3 source"},
    {"version 2\nident/p0f /x version 2\n", 0,
     "socket/version and a p0f2 or ident/p0f line both define the p0f v2 source"},
    {"socket /x\nversion 2\np0f2 /y\n", 0, "socket/version and a p0f2 or ident/p0f line both define the p0f v2 source"},
};

Test(config_table, error_messages_exact)
{
    for (size_t i = 0; i < sizeof(bad_configs) / sizeof(bad_configs[0]); i++) {
        const struct bad_config *b = &bad_configs[i];
        static struct config c;
        struct diag err;
        memset(&err, 0, sizeof(err));
        config_init(&c);
        int rc = config_parse(&c, b->text, strlen(b->text), CONF, &err);
        config_free(&c);
        cr_expect_eq(rc, -1, "accepted: %s", b->text);
        cr_expect_str_eq(err.file, CONF, "for: %s", b->text);
        cr_expect_eq(err.line, b->line, "for \"%s\": line %u, want %u", b->text, err.line, b->line);
        cr_expect_str_eq(err.reason, b->reason, "for \"%s\"", b->text);
    }
}

/* ---- the directive table ---- */

Test(config_table, every_default_is_a_line_the_parser_takes)
{
    for (size_t i = 0; i < config_ndirectives; i++) {
        const struct config_directive *d = &config_directives[i];
        char text[256];
        struct config c;
        if (d->default_value == NULL)
            continue;
        snprintf(text, sizeof(text), "%s %s\n", d->name, d->default_value);
        parse_ok(&c, text);
        cr_expect_eq(config_line_of(&c, d->name), 1u, "%s", d->name);
        config_free(&c);
    }
}

Test(config_table, directive_names)
{
    cr_assert_str_eq(config_directive_find("ident/p0f")->name, "ident/p0f");
    cr_assert_str_eq(config_directive_find("ident/p0f:2")->name, "ident/p0f", "qpsmtpd's instance names");
    cr_assert_null(config_directive_find("ident/p0fx"));
    cr_assert_null(config_directive_find("Socket"));
    cr_assert_null(config_directive_find("socke"));
    cr_assert_null(config_directive_find("socket:1"), "only ident/p0f takes an instance");
    cr_assert_leq(config_ndirectives, (size_t)CONFIG_MAX_DIRECTIVES);
    for (size_t i = 0; i < config_ndirectives; i++)
        for (size_t k = 0; k < i; k++)
            cr_assert_str_neq(config_directives[i].name, config_directives[k].name);
}

Test(config_table, defaults_are_set_on_no_line)
{
    struct config c;
    config_init(&c);
    for (size_t i = 0; i < config_ndirectives; i++)
        cr_assert_eq(config_line_of(&c, config_directives[i].name), 0u, "%s", config_directives[i].name);
    cr_assert_eq(c.v3.line, 0u);
    config_free(&c);
    parse_ok(&c, "# only a comment\n");
    cr_assert(c.v3.enabled);
    cr_assert_eq(c.v3.line, 0u, "the default socket");
    cr_assert_str_eq(c.file, CONF);
    config_free(&c);
}

Test(config_table, remembers_the_line_of_each_value)
{
    struct config c;
    parse_ok(&c, "# where\n"
                 "smite_os windows\n"
                 "exempt 192.0.2.0/24 2001:db8::/32\n"
                 "timeout_ms 300\n"
                 "exempt 198.51.100.7\n"
                 "timeout_ms 400\n"
                 "programs exim4\n"
                 "\n"
                 "programs smtpd sendmail\n"
                 "greylist_os linux\n"
                 "ports 25\n"
                 "ports 587\n");
    cr_assert_str_eq(c.file, CONF);
    cr_assert_eq(config_line_of(&c, "smite_os"), 2u);
    cr_assert_eq(config_line_of(&c, "timeout_ms"), 6u, "the last one, which wins");
    cr_assert_eq(config_line_of(&c, "greylist_os"), 10u);
    cr_assert_eq(config_line_of(&c, "ports"), 12u);
    cr_assert_eq(config_line_of(&c, "log_socket"), 0u, "the default");
    cr_assert_eq(config_line_of(&c, "no_such_directive"), 0u);
    cr_assert_eq(c.policy.nexempt, 3u);
    cr_assert_eq(config_exempt_line(&c, &c.policy.exempt[0]), 3u);
    cr_assert_eq(config_exempt_line(&c, &c.policy.exempt[1]), 3u);
    cr_assert_eq(config_exempt_line(&c, &c.policy.exempt[2]), 5u);
    struct cidr elsewhere = c.policy.exempt[2];
    cr_assert_eq(config_exempt_line(&c, &elsewhere), 0u, "not an entry of the config");
    cr_assert_eq(exempt_of(&c, "198.51.100.7"), &c.policy.exempt[2]);
    cr_assert_eq(c.nprograms, 3u);
    cr_assert_eq(c.program_lines[0], 7u);
    cr_assert_eq(c.program_lines[1], 9u);
    cr_assert_eq(c.program_lines[2], 9u);
    cr_assert_eq(c.v3.line, 0u);
    config_free(&c);
}

Test(config_table, remembers_the_line_of_each_source)
{
    struct config c;
    parse_ok(&c, "ident/p0f:2 /tmp/v2 version 2 smite_os linux\n"
                 "#\n"
                 "ident/p0f:3 /tmp/v3 smite_os windows add_headers false\n");
    cr_assert_eq(c.v2.line, 1u);
    cr_assert_eq(c.v3.line, 3u);
    cr_assert_eq(config_line_of(&c, "smite_os"), 3u, "an ident/p0f option sets smite_os too");
    cr_assert_eq(config_line_of(&c, "add_headers"), 3u);
    config_free(&c);
    parse_ok(&c, "p0f2 /tmp/v2\np0f3 /tmp/v3\n");
    cr_assert_eq(c.v2.line, 1u);
    cr_assert_eq(c.v3.line, 2u);
    config_free(&c);
    parse_ok(&c, "timeout_ms 9\nsocket /tmp/a\nsocket /tmp/b\n");
    cr_assert_eq(c.v3.line, 3u, "the single form: the socket line in force");
    config_free(&c);
    parse_ok(&c, "socket /tmp/a\nversion 2\n");
    cr_assert(c.v2.enabled);
    cr_assert_eq(c.v2.line, 1u);
    config_free(&c);
    parse_ok(&c, "version 2\n");
    cr_assert_eq(c.v2.line, 0u, "the default socket, as v2");
    config_free(&c);
}
