/* p0fshim header IP genre|link: the value of X-P0F-Genre or X-P0F-Link-Type for a client,
 * for MTAs that add headers from a command's output (Exim's ${run}). Prints the value
 * exactly, without a newline, or nothing; never fails in a way that should stop mail. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "client/clientconf.h"
#include "client/fphdr.h"
#include "output.h"
#include "tool.h"

static void header_usage(FILE *f)
{
    fputs("usage: p0fshim header IP genre|link [--config FILE] [--timeout MS] [--verbose]\n"
          "  prints the X-P0F-Genre or X-P0F-Link-Type value for IP (no newline), or nothing;\n"
          "  exit 0 when a value was printed, 1 when there is none (p0f does not know the host,\n"
          "  p0f is down, add_headers is false), 2 on misuse\n",
          f);
}

int cmd_header(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"timeout", required_argument, NULL, 't'},
        {"verbose", no_argument, NULL, 'v'},      {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config_given = NULL;
    unsigned long timeout_ms = FPHDR_DEFAULT_TIMEOUT_MS;
    bool verbose = false;
    int opt;

    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":hv", opts, NULL)) != -1) {
        switch (opt) {
        case 'c': config_given = optarg; break;
        case 'v': verbose = true; break;
        case 't':
            if (parse_ulong_arg(optarg, 1, 10000, &timeout_ms) != 0) {
                fprintf(stderr, "p0fshim header: --timeout wants milliseconds from 1 to 10000\n");
                return EXIT_USAGE;
            }
            break;
        case 'h': header_usage(stdout); return 0;
        case ':': fprintf(stderr, "p0fshim header: %s needs a value\n", argv[optind - 1]); return EXIT_USAGE;
        default:
            fprintf(stderr, "p0fshim header: unknown option %s\n", argv[optind - 1]);
            header_usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind + 2 != argc) {
        header_usage(stderr);
        return EXIT_USAGE;
    }
    const char *ip = argv[optind], *which = argv[optind + 1];
    enum hdr_kind h;
    if (strcmp(which, "genre") == 0)
        h = HDR_GENRE;
    else if (strcmp(which, "link") == 0)
        h = HDR_LINK;
    else {
        header_usage(stderr);
        return EXIT_USAGE;
    }

    static struct config cfg;
    struct diag err;
    memset(&err, 0, sizeof(err));
    if (clientconf_load(config_given, &cfg, &err) != 0) {
        if (verbose)
            print_diag(stderr, "p0fshim header: ", &err);
        config_free(&cfg);
        return EXIT_NEGATIVE;
    }
    struct fphdr_values v;
    fphdr_lookup(&cfg, ip, (unsigned)timeout_ms, &v);
    const char *value = fphdr_value(&v, h);
    if (verbose)
        fprintf(stderr, "p0fshim header: p0f=%s ms=%u%s%s\n", fphdr_status_word(v.status), v.elapsed_ms,
                v.reason[0] ? " reason=" : "", v.reason);
    config_free(&cfg);
    if (value[0] == '\0')
        return EXIT_NEGATIVE;
    fputs(value, stdout);
    return fflush(stdout) == 0 ? 0 : EXIT_NEGATIVE;
}
