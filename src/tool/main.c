/* p0fshim(1): dispatch and the small helpers every subcommand shares. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "textfile.h"
#include "tool.h"

static void usage(FILE *f)
{
    fputs("usage: p0fshim query IP [--socket PATH] [--timeout MS] [--json]\n"
          "       p0fshim check IP [--config FILE] [--socket PATH] [--os NAME [--flavor F]] [--json]\n"
          "       p0fshim lint [--config FILE] [--fp FILE] [--postfix-dir DIR]\n"
          "       p0fshim report [FILE...] [--since T] [--until T] [--top N] [--year Y] [--json|--csv]\n"
          "       p0fshim policy [--config FILE] [--socket-listen PATH] [--timeout MS]\n"
          "       p0fshim header IP genre|link [--config FILE] [--timeout MS]\n"
          "       p0fshim help | --version\n"
          "\n"
          "  query   what p0f knows about IP (p0f v3 API), like p0f-client\n"
          "  check   the verdict the shim would reach for a connection from IP, and why\n"
          "  lint    every problem in the configuration and the blocked-OS file\n"
          "  report  summarise the shim's syslog lines (files, .gz, or journalctl on stdin)\n"
          "  policy  Postfix policy service: X-P0F-Genre / X-P0F-Link-Type headers (PREPEND)\n"
          "  header  the X-P0F-Genre or X-P0F-Link-Type value for IP (Exim's ${run})\n"
          "\n"
          "See p0fshim(1).\n",
          f);
}

int parse_ulong_arg(const char *text, unsigned long min, unsigned long max, unsigned long *out)
{
    char *end;
    if (text == NULL || text[0] < '0' || text[0] > '9')
        return -1;
    errno = 0;
    unsigned long v = strtoul(text, &end, 10);
    if (errno || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

const char *tool_config_path(const char *given, bool *must_exist)
{
    const char *env = getenv("P0FSHIM_CONFIG");
    *must_exist = true;
    if (given)
        return given;
    if (env && *env)
        return env;
    *must_exist = false;
    return CONFIG_DEFAULT_PATH;
}

int tool_parse_config(const char *path, bool must_exist, struct config *c, struct diag *err)
{
    char *text;
    size_t len;
    config_init(c);
    int rc = text_file_read(path, &text, &len);
    if (rc == -ENOENT && !must_exist)
        return 0;
    if (rc != 0) {
        diag_set(err, path, 0, "cannot read the configuration: %s", text_file_strerror(rc));
        return -1;
    }
    rc = config_parse(c, text, len, path, err);
    free(text);
    return rc;
}

void print_diag(FILE *f, const char *prefix, const struct diag *d)
{
    fputs(prefix, f);
    if (d->line)
        fprintf(f, "%s:%u: ", d->file, d->line);
    else if (d->file[0])
        fprintf(f, "%s: ", d->file);
    fprintf(f, "%s\n", d->reason);
}

void put_escaped(FILE *f, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            putc('\\', f);
            putc(c, f);
        } else if (c < 0x20 || c >= 0x7f) {
            putc('\\', f);
            putc('x', f);
            putc(hex[c >> 4], f);
            putc(hex[c & 15], f);
        } else {
            putc(c, f);
        }
    }
}

void put_safe(FILE *f, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c >= 0x7f) {
            putc('\\', f);
            putc('x', f);
            putc(hex[c >> 4], f);
            putc(hex[c & 15], f);
        } else {
            putc(c, f);
        }
    }
}

void put_escaped_str(FILE *f, const char *s)
{
    put_escaped(f, s, strlen(s));
}

void put_json(FILE *f, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    putc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            putc('\\', f);
            putc(c, f);
        } else if (c == '\n') {
            fputs("\\n", f);
        } else if (c == '\t') {
            fputs("\\t", f);
        } else if (c < 0x20 || c >= 0x7f) {
            fputs("\\u00", f);
            putc(hex[c >> 4], f);
            putc(hex[c & 15], f);
        } else {
            putc(c, f);
        }
    }
    putc('"', f);
}

void put_json_str(FILE *f, const char *s)
{
    put_json(f, s, strlen(s));
}

void put_csv(FILE *f, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    bool quote = false;
    for (size_t i = 0; i < n && !quote; i++)
        quote = s[i] == ',' || s[i] == '"' || s[i] == '\r' || s[i] == '\n';
    if (quote)
        putc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"') {
            fputs("\"\"", f);
        } else if (c < 0x20 || c >= 0x7f) {
            putc('\\', f);
            putc('x', f);
            putc(hex[c >> 4], f);
            putc(hex[c & 15], f);
        } else {
            putc(c, f);
        }
    }
    if (quote)
        putc('"', f);
}

void format_unix_time(uint32_t t, char *buf, size_t size)
{
    time_t when = (time_t)t;
    struct tm tm;
    if (localtime_r(&when, &tm) == NULL || strftime(buf, size, "%Y/%m/%d %H:%M:%S", &tm) == 0)
        snprintf(buf, size, "%u", (unsigned)t);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "query") == 0)
        return cmd_query(argc - 1, argv + 1);
    if (strcmp(cmd, "check") == 0)
        return cmd_check(argc - 1, argv + 1);
    if (strcmp(cmd, "lint") == 0)
        return cmd_lint(argc - 1, argv + 1);
    if (strcmp(cmd, "report") == 0)
        return cmd_report(argc - 1, argv + 1);
    if (strcmp(cmd, "policy") == 0)
        return cmd_policy(argc - 1, argv + 1);
    if (strcmp(cmd, "header") == 0)
        return cmd_header(argc - 1, argv + 1);
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("p0fshim %s\n", TOOL_VERSION);
        return 0;
    }
    fprintf(stderr, "p0fshim: unknown command \"");
    put_escaped_str(stderr, cmd);
    fprintf(stderr, "\"\n");
    usage(stderr);
    return EXIT_USAGE;
}
