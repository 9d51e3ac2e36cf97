/* config: the p0fshim.conf directives, the qpsmtpd ident/p0f line, errors, loading. */
#include <criterion/criterion.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

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

/* Expects the text to fail on line `line` with a reason containing each of the parts. */
static void parse_err(const char *text, unsigned line, const char *part1, const char *part2)
{
    struct config c;
    struct diag err;
    memset(&err, 0, sizeof(err));
    config_init(&c);
    int rc = config_parse(&c, text, strlen(text), CONF, &err);
    config_free(&c);
    cr_assert_eq(rc, -1, "config_parse accepted: %s", text);
    cr_assert_str_eq(err.file, CONF, "for: %s", text);
    cr_assert_eq(err.line, line, "for \"%s\": line %u, want %u (reason: %s)", text, err.line, line, err.reason);
    cr_assert_not_null(strstr(err.reason, part1), "for \"%s\": reason \"%s\" lacks \"%s\"", text, err.reason, part1);
    if (part2)
        cr_assert_not_null(strstr(err.reason, part2), "for \"%s\": reason \"%s\" lacks \"%s\"", text, err.reason,
                           part2);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "fopen %s: %s", path, strerror(errno));
    cr_assert_eq(fputs(text, f) >= 0, true);
    cr_assert_eq(fclose(f), 0);
}

/* A scratch directory per test, removed after it whether the test passed or not. */
static char scratch[64];

static void scratch_setup(void)
{
    snprintf(scratch, sizeof(scratch), "/tmp/p0fshim-unit-config-XXXXXX");
    cr_assert_not_null(mkdtemp(scratch));
}

static void scratch_teardown(void)
{
    DIR *d = opendir(scratch);
    struct dirent *e;
    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        char path[600];
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", scratch, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(scratch);
}

static struct judgement judge(const struct config *c, const char *ip, const char *genre)
{
    struct endpoint ep;
    struct judgement j;
    cr_assert_eq(endpoint_parse_ip(ip, &ep), 0);
    policy_judge(&c->policy, &ep, LOOKUP_OS_KNOWN, genre, &j);
    return j;
}

/* ---- defaults ---- */

Test(config, defaults)
{
    struct config c;
    config_init(&c);
    cr_assert_str_eq(c.socket_path, "/run/p0f/p0f.sock");
    cr_assert_eq(c.version, 3);
    cr_assert_str_eq(c.blocked_os_file, "/etc/p0fshim/blocked_operating_systems");
    cr_assert_eq(c.nports, 3u);
    cr_assert_eq(c.ports[0], 25);
    cr_assert_eq(c.ports[1], 465);
    cr_assert_eq(c.ports[2], 587);
    cr_assert(config_port_selected(&c, 25));
    cr_assert(config_port_selected(&c, 465));
    cr_assert(config_port_selected(&c, 587));
    cr_assert_not(config_port_selected(&c, 2525));
    cr_assert_not(config_port_selected(&c, 0));
    cr_assert_eq(c.timeout_ms, 500u);
    cr_assert_str_eq(c.log_socket, "/dev/log");
    cr_assert_eq(c.log_facility, LOG_MAIL);
    cr_assert_eq(c.nprograms, 0u);
    cr_assert(config_program_selected(&c, "exim4"), "no programs directive: every program");
    cr_assert(config_program_selected(&c, "anything"));
    cr_assert_null(c.policy.smite_os);
    cr_assert_eq(c.policy.nexempt, 0u);
    cr_assert_eq(c.policy.nrules, 0u);
    cr_assert(c.add_headers);
    cr_assert_not(c.has_local_ip);
    cr_assert_eq(c.p0f_uid, (uid_t)-1, "root only");
    cr_assert_eq(c.mode, MODE_ASYNC);
    cr_assert_eq(c.hold_ms, 50u);
    cr_assert_eq(c.action, ACTION_REJECT);
    cr_assert_str_eq(c.reject_text, "Connection refused: your host is not accepted here");
    cr_assert_str_eq(c.tempfail_text, "Service temporarily unavailable, try again later");
    cr_assert_str_eq(c.greylist_text, "Greylisted, please try again later");
    cr_assert_null(c.greylist_os);
    cr_assert_str_eq(c.greylist.dir, "/var/lib/p0fshim/greylist");
    cr_assert_eq(c.greylist.delay_s, 300u);
    cr_assert_eq(c.greylist.window_s, 24 * 3600u);
    cr_assert_eq(c.greylist.expire_s, 36 * 24 * 3600u);
    cr_assert_eq(c.greylist.v4_prefix, 32u);
    cr_assert_eq(c.greylist.v6_prefix, 128u);
    config_free(&c);
}

Test(config, empty_and_comment_only_text_keeps_defaults)
{
    struct config c;
    parse_ok(&c, "# p0fshim\n\n   \n\t# indented\n");
    cr_assert_str_eq(c.socket_path, "/run/p0f/p0f.sock");
    cr_assert_eq(c.nports, 3u);
    cr_assert_eq(c.timeout_ms, 500u);
    config_free(&c);
    parse_ok(&c, "");
    cr_assert_eq(c.nports, 3u);
    config_free(&c);
}

/* ---- every directive ---- */

Test(config, every_directive)
{
    struct config c;
    parse_ok(&c, "# all of them\n"
                 "socket /var/run/p0f.sock\n"
                 "version 3\n"
                 "blocked_os_file /srv/p0fshim/blocked\n"
                 "smite_os ^windows\n"
                 "exempt 192.0.2.0/24\n"
                 "ports 2525\n"
                 "timeout_ms 750\n"
                 "log_socket /run/systemd/journal/syslog\n"
                 "log_facility local3\n"
                 "programs exim4\n"
                 "local_ip 198.51.100.1\n"
                 "add_headers false\n");
    cr_assert_str_eq(c.socket_path, "/var/run/p0f.sock");
    cr_assert_eq(c.version, 3);
    cr_assert_str_eq(c.blocked_os_file, "/srv/p0fshim/blocked");
    cr_assert_not_null(c.policy.smite_os);
    cr_assert_eq(judge(&c, "203.0.113.1", "Windows XP").karma, -1);
    cr_assert_eq(judge(&c, "203.0.113.1", "WINDOWS 7 or 8").karma, -1, "smite_os is caseless");
    cr_assert_eq(judge(&c, "203.0.113.1", "Linux Windows").karma, 0, "smite_os anchor honoured");
    cr_assert_eq(c.policy.nexempt, 1u);
    cr_assert_eq(c.policy.exempt[0].family, AF_INET);
    cr_assert_eq(c.policy.exempt[0].prefix, 24u);
    cr_assert_eq(judge(&c, "192.0.2.1", "Windows XP").verdict, VERDICT_EXEMPT);
    cr_assert_eq(c.nports, 1u, "ports replaces the defaults");
    cr_assert_eq(c.ports[0], 2525);
    cr_assert_not(config_port_selected(&c, 25));
    cr_assert(config_port_selected(&c, 2525));
    cr_assert_eq(c.timeout_ms, 750u);
    cr_assert_str_eq(c.log_socket, "/run/systemd/journal/syslog");
    cr_assert_eq(c.log_facility, LOG_LOCAL3);
    cr_assert_eq(c.nprograms, 1u);
    cr_assert_str_eq(c.programs[0], "exim4");
    cr_assert(config_program_selected(&c, "exim4"));
    cr_assert_not(config_program_selected(&c, "postfix"));
    cr_assert(c.has_local_ip);
    cr_assert_eq(c.local_ip.family, AF_INET);
    cr_assert_eq(c.local_ip.ip[0], 198);
    cr_assert_eq(c.local_ip.ip[3], 1);
    cr_assert_not(c.add_headers);
    config_free(&c);
}

Test(config, multiple_values)
{
    struct config c;
    parse_ok(&c, "ports 25 2525\t587 65535 1\n"
                 "exempt 192.0.2.0/24 2001:db8::/32\n"
                 "exempt 198.51.100.7\n"
                 "programs exim4 qpsmtpd-forkserver smtpd\n");
    cr_assert_eq(c.nports, 5u);
    cr_assert_eq(c.ports[0], 25);
    cr_assert_eq(c.ports[1], 2525);
    cr_assert_eq(c.ports[2], 587);
    cr_assert_eq(c.ports[3], 65535);
    cr_assert_eq(c.ports[4], 1);
    cr_assert_not(config_port_selected(&c, 465), "465 was not listed");
    cr_assert_eq(c.policy.nexempt, 3u, "exempt lines accumulate");
    cr_assert_eq(c.policy.exempt[1].family, AF_INET6);
    cr_assert_eq(c.policy.exempt[1].prefix, 32u);
    cr_assert_eq(c.policy.exempt[2].prefix, 32u, "a bare address is a host");
    cr_assert_eq(judge(&c, "2001:db8:5::1", "x").verdict, VERDICT_EXEMPT);
    cr_assert_eq(judge(&c, "198.51.100.7", "x").verdict, VERDICT_EXEMPT);
    cr_assert_eq(judge(&c, "198.51.100.8", "x").verdict, VERDICT_ALLOW);
    cr_assert_eq(c.nprograms, 3u);
    cr_assert(config_program_selected(&c, "qpsmtpd-forkserver"));
    cr_assert(config_program_selected(&c, "smtpd"));
    cr_assert_not(config_program_selected(&c, "smtp"));
    cr_assert_not(config_program_selected(&c, "exim"));
    config_free(&c);
}

Test(config, smite_os_takes_the_rest_of_the_line)
{
    struct config c;
    parse_ok(&c, "smite_os   windows (xp|nt kernel)  \r\n");
    cr_assert_eq(judge(&c, "203.0.113.1", "Windows NT kernel").karma, -1);
    cr_assert_eq(judge(&c, "203.0.113.1", "Windows 7 or 8").karma, 0);
    config_free(&c);
}

Test(config, log_facilities)
{
    struct config c;
    parse_ok(&c, "log_facility daemon\n");
    cr_assert_eq(c.log_facility, LOG_DAEMON);
    config_free(&c);
    parse_ok(&c, "log_facility kern\n");
    cr_assert_eq(c.log_facility, LOG_KERN, "kern is facility 0, not an error");
    config_free(&c);
    cr_assert_eq(config_facility_from_name("mail"), LOG_MAIL);
    cr_assert_eq(config_facility_from_name("local7"), LOG_LOCAL7);
    cr_assert_eq(config_facility_from_name("authpriv"), LOG_AUTHPRIV);
    cr_assert_eq(config_facility_from_name("MAIL"), -1);
    cr_assert_eq(config_facility_from_name("local8"), -1);
    cr_assert_eq(config_facility_from_name(""), -1);
}

Test(config, crlf_and_blanks)
{
    struct config c;
    parse_ok(&c, "  socket\t/run/p0f/other.sock  \r\n\r\n\ttimeout_ms 42\r\n");
    cr_assert_str_eq(c.socket_path, "/run/p0f/other.sock");
    cr_assert_eq(c.timeout_ms, 42u);
    config_free(&c);
}

Test(config, limits_accepted)
{
    struct config c;
    parse_ok(&c, "timeout_ms 1\n");
    cr_assert_eq(c.timeout_ms, 1u);
    config_free(&c);
    parse_ok(&c, "timeout_ms 60000\n");
    cr_assert_eq(c.timeout_ms, 60000u);
    config_free(&c);
    parse_err("local_ip 2001:db8::25\n", 1, "local_ip", "IPv4-only");
    parse_err("p0f2 /run/p0f/v2.sock local_ip 2001:db8::25\n", 1, "IPv4-only", NULL);
}

/* ---- the qpsmtpd line ---- */

Test(config, qpsmtpd_line)
{
    struct config c;
    parse_ok(&c, "ident/p0f /var/spool/postfix/p0f.sock smite_os windows\n");
    cr_assert(c.v3.enabled);
    cr_assert_str_eq(c.v3.socket_path, "/var/spool/postfix/p0f.sock");
    cr_assert_not(c.v2.enabled);
    cr_assert_not_null(c.policy.smite_os);
    cr_assert_eq(judge(&c, "203.0.113.1", "Windows NT kernel").karma, -1);
    cr_assert_eq(judge(&c, "203.0.113.1", "Linux 3.11 and newer").karma, 0);
    cr_assert(c.add_headers);
    cr_assert_eq(c.nports, 3u, "the ports stay the defaults");
    config_free(&c);
}

Test(config, qpsmtpd_line_all_options)
{
    struct config c;
    parse_ok(&c, "ident/p0f /tmp/.p0f_socket version 2 local_ip 192.0.2.25 add_headers false smite_os ^win\n");
    cr_assert(c.v2.enabled);
    cr_assert_not(c.v3.enabled);
    cr_assert_str_eq(c.v2.socket_path, "/tmp/.p0f_socket");
    cr_assert(c.v2.has_local_ip);
    cr_assert_eq(c.v2.local_ip.family, AF_INET);
    cr_assert_eq(c.v2.local_ip.ip[0], 192);
    cr_assert_eq(c.v2.local_ip.ip[3], 25);
    cr_assert_not(c.add_headers);
    cr_assert_eq(judge(&c, "203.0.113.1", "windows XP").karma, -1);
    config_free(&c);
}

Test(config, qpsmtpd_line_with_instance_and_add_headers_words)
{
    struct config c;
    parse_ok(&c, "ident/p0f:3 /run/p0f/p3.sock add_headers FALSE\n");
    cr_assert_str_eq(c.v3.socket_path, "/run/p0f/p3.sock");
    cr_assert_not(c.add_headers, "/false/i");
    config_free(&c);
    parse_ok(&c, "ident/p0f /run/p0f/p0f.sock add_headers true\n");
    cr_assert(c.add_headers);
    config_free(&c);
    parse_ok(&c, "ident/p0f /run/p0f/p0f.sock add_headers 0\n");
    cr_assert(c.add_headers, "qpsmtpd: on unless the value matches /false/i");
    config_free(&c);
}

Test(config, qpsmtpd_line_errors)
{
    parse_err("ident/p0f\n", 1, "socket path is missing", NULL);
    parse_err("ident/p0f p0f.sock\n", 1, "absolute path", NULL);
    parse_err("ident/p0f /run/p0f/p0f.sock version 4\n", 1, "version", "\"4\"");
    parse_err("ident/p0f /run/p0f/p0f.sock colour blue\n", 1, "unknown ident/p0f option", "\"colour\"");
    parse_err("ident/p0f /run/p0f/p0f.sock smite_os\n", 1, "\"smite_os\" has no value", NULL);
    parse_err("ident/p0f /run/p0f/p0f.sock smite_os (win\n", 1, "offset", NULL);
    parse_err("ident/p0f /run/p0f/p0f.sock local_ip nowhere\n", 1, "local_ip", "\"nowhere\"");
    parse_err("ident/p0f /run/p0f/p0f.sock\n#\nident/p0f /run/p0f/p0f.sock\n", 3, "second p0f v3 source", NULL);
}

/* ---- several p0f sources (the seed's "both versions at once") ---- */

Test(config, qpsmtpd_two_instances)
{
    struct config c;
    parse_ok(&c, "ident/p0f:2 /tmp/.p0f_socket2 version 2 local_ip 208.75.177.101\n"
                 "ident/p0f:3 /tmp/.p0f_socket3\n");
    cr_assert(c.v2.enabled);
    cr_assert(c.v3.enabled);
    cr_assert_str_eq(c.v2.socket_path, "/tmp/.p0f_socket2");
    cr_assert_str_eq(c.v3.socket_path, "/tmp/.p0f_socket3");
    cr_assert(c.v2.has_local_ip);
    cr_assert_eq(c.v2.local_ip.ip[0], 208);
    cr_assert_not(c.v3.has_local_ip);
    config_free(&c);
}

Test(config, p0f2_and_p0f3_lines)
{
    struct config c;
    parse_ok(&c, "p0f2 /run/p0f/v2.sock local_ip 192.0.2.25\np0f3 /run/p0f/v3.sock\n");
    cr_assert(c.v2.enabled && c.v3.enabled);
    cr_assert_str_eq(c.v2.socket_path, "/run/p0f/v2.sock");
    cr_assert_str_eq(c.v3.socket_path, "/run/p0f/v3.sock");
    cr_assert_eq(c.v2.local_ip.ip[3], 25);
    config_free(&c);
    parse_ok(&c, "p0f2 /run/p0f/v2.sock\nlocal_ip 192.0.2.26\n");
    cr_assert(c.v2.enabled);
    cr_assert_not(c.v3.enabled, "an explicit source replaces the default v3 socket");
    cr_assert(c.v2.has_local_ip, "a local_ip line applies to the v2 source");
    cr_assert_eq(c.v2.local_ip.ip[3], 26);
    config_free(&c);
}

Test(config, single_form_version_2)
{
    struct config c;
    parse_ok(&c, "socket /tmp/.p0f_socket\nversion 2\n");
    cr_assert(c.v2.enabled);
    cr_assert_not(c.v3.enabled);
    cr_assert_str_eq(c.v2.socket_path, "/tmp/.p0f_socket");
    config_free(&c);
    parse_ok(&c, "socket /tmp/v3.sock\np0f2 /tmp/v2.sock\n");
    cr_assert(c.v2.enabled && c.v3.enabled, "socket (v3) and a p0f2 line make two sources");
    cr_assert_str_eq(c.v3.socket_path, "/tmp/v3.sock");
    config_free(&c);
}

Test(config, source_errors)
{
    parse_err("p0f3 /a.sock\np0f3 /b.sock\n", 2, "second p0f v3 source", NULL);
    parse_err("p0f2\n", 1, "socket path is missing", NULL);
    parse_err("p0f3 /a.sock local_ip 192.0.2.1\n", 1, "p0f3 takes a socket path", NULL);
    parse_err("p0f2 /a.sock local_ip nowhere\n", 1, "local_ip", "\"nowhere\"");
    parse_err("p0f2 relative.sock\n", 1, "absolute path", NULL);
}

/* ---- errors ---- */

Test(config, error_unknown_directive)
{
    parse_err("# comment\n\nsocket /run/p0f/p0f.sock\nfoo bar\n", 4, "unknown directive", "\"foo\"");
    parse_err("Socket /run/p0f/p0f.sock\n", 1, "unknown directive", "\"Socket\"");
    parse_err("ident/p0fx /run/p0f/p0f.sock\n", 1, "unknown directive", NULL);
}

/* An unknown word must be reported as unknown whatever number of values follows it:
 * "prots 25 587" is a typo of "ports", not a directive that "takes one value". */
Test(config, error_unknown_directive_without_or_with_many_values)
{
    parse_err("foo\n", 1, "unknown directive", "\"foo\"");
    parse_err("\nprots 25 587\n", 2, "unknown directive", "\"prots\"");
    parse_err("exmpt 192.0.2.0/24 198.51.100.0/24\n", 1, "unknown directive", "\"exmpt\"");
}

Test(config, error_version)
{
    parse_err("version 1\n", 1, "\"1\"", "2 and 3");
    parse_err("\n\nversion 4\n", 3, "\"4\"", NULL);
    parse_err("version three\n", 1, "\"three\"", NULL);
}

Test(config, error_bad_ports)
{
    parse_err("ports 0\n", 1, "\"0\"", "1 to 65535");
    parse_err("ports 65536\n", 1, "\"65536\"", "1 to 65535");
    parse_err("ports abc\n", 1, "\"abc\"", NULL);
    parse_err("ports 25 abc\n", 1, "\"abc\"", NULL);
    parse_err("ports -25\n", 1, "\"-25\"", NULL);
    parse_err("ports 25x\n", 1, "\"25x\"", NULL);
    parse_err("ports 99999999999999999999999\n", 1, "not a number from 1 to 65535", NULL);
}

Test(config, error_too_many_ports)
{
    /* 64 ports fit (over two lines: a line holds at most 64 words), the 65th does not. */
    char text[1024] = "ports";
    for (int i = 1; i <= CONFIG_MAX_PORTS + 1; i++) {
        char word[16];
        snprintf(word, sizeof(word), " %d", 1000 + i);
        strcat(text, word);
        if (i == 40)
            strcat(text, "\nports");
    }
    strcat(text, "\n");
    parse_err(text, 2, "too many ports", NULL);
}

Test(config, sixty_four_ports_fit)
{
    char text[1024] = "ports";
    struct config c;
    for (int i = 1; i <= CONFIG_MAX_PORTS; i++) {
        char word[16];
        snprintf(word, sizeof(word), " %d", 1000 + i);
        strcat(text, word);
        if (i == 32)
            strcat(text, "\nports");
    }
    strcat(text, "\n");
    parse_ok(&c, text);
    cr_assert_eq(c.nports, (size_t)CONFIG_MAX_PORTS, "a second ports line adds to the first");
    cr_assert(config_port_selected(&c, 1001));
    cr_assert(config_port_selected(&c, 1064));
    config_free(&c);
}

Test(config, error_too_many_words)
{
    char text[1024] = "programs";
    for (int i = 0; i < 64; i++)
        strcat(text, " p");
    strcat(text, "\n");
    parse_err(text, 1, "too many words", NULL);
}

Test(config, error_bad_timeout)
{
    parse_err("timeout_ms 0\n", 1, "timeout_ms", "\"0\"");
    parse_err("timeout_ms 60001\n", 1, "\"60001\"", NULL);
    parse_err("timeout_ms fast\n", 1, "\"fast\"", NULL);
    parse_err("timeout_ms -1\n", 1, "\"-1\"", NULL);
    parse_err("timeout_ms 1.5\n", 1, "\"1.5\"", NULL);
}

Test(config, error_relative_paths)
{
    parse_err("socket run/p0f.sock\n", 1, "socket", "absolute path");
    parse_err("blocked_os_file blocked\n", 1, "blocked_os_file", "absolute path");
    parse_err("log_socket dev/log\n", 1, "log_socket", "absolute path");
}

Test(config, error_path_too_long)
{
    char text[400];
    char longpath[200];
    memset(longpath, 'a', sizeof(longpath) - 1);
    longpath[0] = '/';
    longpath[sizeof(longpath) - 1] = '\0';
    snprintf(text, sizeof(text), "socket %s\n", longpath);
    parse_err(text, 1, "too long", NULL);
}

Test(config, error_bad_cidr)
{
    parse_err("exempt 192.0.2.0/33\n", 1, "exempt", "out of range");
    parse_err("exempt not-a-net\n", 1, "\"not-a-net\"", "not an IP address");
    parse_err("exempt 192.0.2.0/24 2001:db8::/xx\n", 1, "\"2001:db8::/xx\"", "not a number");
}

Test(config, error_cidr_with_host_bits)
{
    parse_err("\nexempt 10.1.2.3/8\n", 2, "\"10.1.2.3/8\"", "beyond the prefix");
    parse_err("exempt 2001:db8::1/32\n", 1, "beyond the prefix", NULL);
}

Test(config, error_bad_regex)
{
    parse_err("# karma\nsmite_os windows(\n", 2, "smite_os", "offset");
    parse_err("smite_os [a-\n", 1, "does not compile", NULL);
}

Test(config, error_unknown_facility)
{
    parse_err("log_facility postfix\n", 1, "unknown log_facility", "\"postfix\"");
    parse_err("log_facility MAIL\n", 1, "\"MAIL\"", NULL);
}

Test(config, error_missing_values)
{
    parse_err("socket\n", 1, "socket needs a value", NULL);
    parse_err("version\n", 1, "version needs a value", NULL);
    parse_err("blocked_os_file\n", 1, "blocked_os_file needs a value", NULL);
    parse_err("timeout_ms\n", 1, "timeout_ms needs a value", NULL);
    parse_err("log_socket\n", 1, "log_socket needs a value", NULL);
    parse_err("log_facility\n", 1, "log_facility needs a value", NULL);
    parse_err("local_ip\n", 1, "local_ip needs a value", NULL);
    parse_err("smite_os\n", 1, "smite_os needs a value", NULL);
    parse_err("smite_os   \t\n", 1, "smite_os needs a value", NULL);
    parse_err("ports\n", 1, "ports needs", "value");
    parse_err("exempt\n", 1, "exempt needs", "value");
    parse_err("programs\n", 1, "programs needs", "value");
}

Test(config, error_extra_values)
{
    parse_err("socket /a.sock /b.sock\n", 1, "socket takes one value", NULL);
    parse_err("timeout_ms 500 600\n", 1, "timeout_ms takes one value", NULL);
}

Test(config, error_program_name_too_long)
{
    char text[200];
    char name[CONFIG_PROGRAM_NAME_MAX + 1];
    memset(name, 'x', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    snprintf(text, sizeof(text), "programs exim4 %s\n", name);
    parse_err(text, 1, "too long", NULL);
}

Test(config, error_line_numbers_count_comments_and_blanks)
{
    parse_err("# one\n\n   # three\r\n\r\nports 25\nports 0\n", 6, "\"0\"", NULL);
}

Test(config, error_nul_byte)
{
    static const char text[] = "socket /run/p0f/p0f.sock\nports 2\0005\n";
    struct config c;
    struct diag err;
    config_init(&c);
    cr_assert_eq(config_parse(&c, text, sizeof(text) - 1, CONF, &err), -1);
    cr_assert_eq(err.line, 2u);
    cr_assert_str_eq(err.reason, "NUL byte in line");
    config_free(&c);
}

/* ---- config_load ---- */

Test(config, load_missing_file_must_exist, .init = scratch_setup, .fini = scratch_teardown)
{
    struct config c;
    struct diag err;
    memset(&err, 0, sizeof(err));
    const char *dir = scratch;
    char path[512];
    snprintf(path, sizeof(path), "%s/absent.conf", dir);
    config_init(&c);
    cr_assert_eq(config_load(&c, path, true, &err), -1);
    cr_assert_str_eq(err.file, path);
    cr_assert_eq(err.line, 0u);
    cr_assert_not_null(strstr(err.reason, "No such file or directory"), "%s", err.reason);
    config_free(&c);
}

Test(config, load_missing_file_optional, .init = scratch_setup, .fini = scratch_teardown)
{
    struct config c;
    struct diag err;
    const char *dir = scratch;
    char path[512], blocked[512];
    snprintf(path, sizeof(path), "%s/absent.conf", dir);
    snprintf(blocked, sizeof(blocked), "%s/blocked", dir);
    write_file(blocked, "Windows XP\n");

    memset(&err, 0, sizeof(err));
    config_init(&c);
    /* Point the default blocked file somewhere we control. */
    snprintf(c.blocked_os_file, sizeof(c.blocked_os_file), "%s", blocked);
    cr_assert_eq(config_load(&c, path, false, &err), 0, "%s", err.reason);
    cr_assert_str_eq(c.socket_path, "/run/p0f/p0f.sock", "defaults kept");
    cr_assert_eq(c.nports, 3u);
    cr_assert_eq(c.policy.nrules, 1u, "the default blocked file is still read");
    cr_assert_str_eq(c.policy.blocked_file, blocked);
    config_free(&c);

    /* Neither file: defaults, nothing blocked. */
    unlink(blocked);
    config_init(&c);
    snprintf(c.blocked_os_file, sizeof(c.blocked_os_file), "%s", blocked);
    cr_assert_eq(config_load(&c, path, false, &err), 0, "%s", err.reason);
    cr_assert_eq(c.policy.nrules, 0u);
    config_free(&c);
}

Test(config, load_reads_the_blocked_file_it_names, .init = scratch_setup, .fini = scratch_teardown)
{
    struct config c;
    struct diag err;
    const char *dir = scratch;
    char path[512], blocked[512], text[1200];
    snprintf(path, sizeof(path), "%s/p0fshim.conf", dir);
    snprintf(blocked, sizeof(blocked), "%s/blocked_operating_systems", dir);
    write_file(blocked, "# blocked\nWindows XP\n/nt kernel/\n");
    snprintf(text, sizeof(text), "socket %s/p0f.sock\nblocked_os_file %s\nexempt 192.0.2.0/24\nports 2525\n", dir,
             blocked);
    write_file(path, text);

    memset(&err, 0, sizeof(err));
    config_init(&c);
    cr_assert_eq(config_load(&c, path, true, &err), 0, "%s:%u: %s", err.file, err.line, err.reason);
    cr_assert_eq(c.nports, 1u);
    cr_assert_eq(c.ports[0], 2525);
    cr_assert_str_eq(c.policy.blocked_file, blocked);
    cr_assert_eq(c.policy.nrules, 2u);
    struct judgement j = judge(&c, "203.0.113.5", "Windows NT kernel");
    cr_assert_eq(j.verdict, VERDICT_BLOCK);
    cr_assert_not_null(j.rule);
    cr_assert_eq(j.rule->line, 3u);
    cr_assert_eq(judge(&c, "192.0.2.5", "Windows NT kernel").verdict, VERDICT_EXEMPT);
    cr_assert_eq(judge(&c, "203.0.113.5", "Linux 3.11 and newer").verdict, VERDICT_ALLOW);
    config_free(&c);
}

Test(config, load_reports_config_error_with_path_and_line, .init = scratch_setup, .fini = scratch_teardown)
{
    struct config c;
    struct diag err;
    const char *dir = scratch;
    char path[512];
    snprintf(path, sizeof(path), "%s/p0fshim.conf", dir);
    write_file(path, "# x\nsocket /run/p0f/p0f.sock\nfoo bar\n");
    memset(&err, 0, sizeof(err));
    config_init(&c);
    cr_assert_eq(config_load(&c, path, false, &err), -1);
    cr_assert_str_eq(err.file, path);
    cr_assert_eq(err.line, 3u);
    cr_assert_not_null(strstr(err.reason, "unknown directive \"foo\""), "%s", err.reason);
    config_free(&c);
}

Test(config, load_reports_blocked_file_error, .init = scratch_setup, .fini = scratch_teardown)
{
    struct config c;
    struct diag err;
    const char *dir = scratch;
    char path[512], blocked[512], text[700];
    snprintf(path, sizeof(path), "%s/p0fshim.conf", dir);
    snprintf(blocked, sizeof(blocked), "%s/blocked", dir);
    write_file(blocked, "Windows XP\n\n/(bad/\n");
    snprintf(text, sizeof(text), "blocked_os_file %s\n", blocked);
    write_file(path, text);
    memset(&err, 0, sizeof(err));
    config_init(&c);
    cr_assert_eq(config_load(&c, path, true, &err), -1);
    cr_assert_str_eq(err.file, blocked, "the error names the blocked file, not the config");
    cr_assert_eq(err.line, 3u);
    cr_assert_not_null(strstr(err.reason, "offset"), "%s", err.reason);
    config_free(&c);
}

Test(config, load_directory_is_an_error, .init = scratch_setup, .fini = scratch_teardown)
{
    struct config c;
    struct diag err;
    const char *dir = scratch;
    memset(&err, 0, sizeof(err));
    config_init(&c);
    cr_assert_eq(config_load(&c, dir, false, &err), -1, "a directory is not a config file");
    cr_assert_str_eq(err.file, dir);
    config_free(&c);
}
