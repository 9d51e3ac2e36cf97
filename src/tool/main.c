/* p0fshim(1): which subcommand runs. Each one is a line of the table below, which is also
 * what `p0fshim help` prints; the subcommands live in their own files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "output.h"
#include "tool.h"

struct subcommand {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *arguments;      /* the synopsis after the name */
    const char *summary;        /* one line for `p0fshim help` */
};

static const struct subcommand subcommands[] = {
    {"query", cmd_query, "IP [--socket PATH] [--config FILE] [--timeout MS] [--json]",
     "what p0f knows about IP (p0f v3 API), like p0f-client"},
    {"check", cmd_check, "IP [--config FILE] [--socket PATH] [--timeout MS] [--os NAME [--flavor F]] [--pcap FILE] [--json]",
     "the verdict the shim would reach for a connection from IP, and why"},
    {"lint", cmd_lint, "[--config FILE] [--fp FILE] [--postfix-dir DIR]",
     "every problem in the configuration and the blocked-OS file"},
    {"report", cmd_report,
     "[FILE...] [--since T] [--until T] [--top N] [--year Y] [--max-ips N] [--show-unparsable N] [--json|--csv|--html]",
     "summarise the shim's syslog lines (files, .gz, or journalctl on stdin)"},
    {"policy", cmd_policy_service,
     "[--config FILE] [--socket-listen PATH [--socket-mode OCTAL] [--max-clients N]] [--timeout MS] [--tag SECRET]",
     "Postfix policy service: X-P0F-Genre / X-P0F-Link-Type headers (PREPEND)"},
    {"header", cmd_header, "IP genre|link [--config FILE] [--timeout MS] [--verbose]",
     "the X-P0F-Genre or X-P0F-Link-Type value for IP (Exim's ${run})"},
    {"fingerprint", cmd_fingerprint, "[--fp-file FILE]... [--json] FILE.pcap...",
     "the OS of each TCP SYN in a capture, by p0f's signatures, in-process"},
};
#define NSUBCOMMANDS (sizeof(subcommands) / sizeof(subcommands[0]))

static void usage(FILE *f)
{
    for (size_t i = 0; i < NSUBCOMMANDS; i++)
        fprintf(f, "%s" TOOL_NAME " %s %s\n", i == 0 ? "usage: " : "       ", subcommands[i].name,
                subcommands[i].arguments);
    fputs("       " TOOL_NAME " help | --version\n\n", f);
    for (size_t i = 0; i < NSUBCOMMANDS; i++)
        fprintf(f, "  %-12s%s\n", subcommands[i].name, subcommands[i].summary);
    fputs("\nSee " TOOL_NAME "(1).\n", f);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *name = argv[1];
    for (size_t i = 0; i < NSUBCOMMANDS; i++)
        if (strcmp(name, subcommands[i].name) == 0)
            return subcommands[i].run(argc - 1, argv + 1);
    if (strcmp(name, "help") == 0 || strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(name, "--version") == 0 || strcmp(name, "version") == 0) {
        printf(TOOL_NAME " %s\n", TOOL_VERSION);
        return 0;
    }
    fprintf(stderr, TOOL_NAME ": unknown command \"");
    put_escaped_str(stderr, name);
    fprintf(stderr, "\"\n");
    usage(stderr);
    return EXIT_USAGE;
}
