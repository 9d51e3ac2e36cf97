/* p0fshim fingerprint: what the library's in-process fingerprinter says about each TCP SYN
 * of a capture (pcap.h), with the library's own matching code. An operator tests a signature
 * file against a capture with it, and the conformance test compares it with `p0f -r` on the
 * same file. One logfmt line (or JSON object) per SYN. */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "addr.h"
#include "logfmt.h"
#include "output.h"
#include "p0ffp.h"
#include "pcap.h"
#include "synmatch.h"
#include "synpkt.h"
#include "tool.h"

#define MAX_FP_FILES 32

static void fingerprint_usage(FILE *f)
{
    fputs("usage: p0fshim fingerprint [--fp-file FILE]... [--json] FILE.pcap...\n", f);
}

static void print_logfmt(const char *remote, const char *local, const struct syn_match *m)
{
    struct logfmt l;
    logfmt_init(&l);
    logfmt_word(&l, "remote", remote);
    logfmt_word(&l, "local", local);
    if (m->os) {
        logfmt_quoted(&l, "os", m->sig->name);
        logfmt_quoted(&l, "flavor", m->sig->flavor);
        logfmt_quoted(&l, "genre", m->genre);
    }
    logfmt_word(&l, "match", synmatch_match_word(m->match));
    if (m->sig && !m->os) {
        char app[SYNMATCH_GENRE_MAX];
        snprintf(app, sizeof(app), "%s%s%s", m->sig->name, m->sig->flavor[0] ? " " : "", m->sig->flavor);
        logfmt_quoted(&l, "app", app);
    }
    logfmt_int(&l, "distance", m->distance);
    logfmt_quoted(&l, "link", m->link ? m->link : "");
    logfmt_quoted(&l, "sig", m->raw_sig);
    fwrite(l.text, 1, l.len, stdout);
    putchar('\n');
}

static void json_field(const char *key, const char *value)
{
    printf(",\"%s\":", key);
    put_json_str(stdout, value);
}

static void print_json(const char *remote, const char *local, const struct syn_match *m)
{
    fputs("{\"remote\":", stdout);
    put_json_str(stdout, remote);
    json_field("local", local);
    if (m->os) {
        json_field("os", m->sig->name);
        json_field("flavor", m->sig->flavor);
        json_field("genre", m->genre);
    }
    json_field("match", synmatch_match_word(m->match));
    if (m->sig && !m->os) {
        char app[SYNMATCH_GENRE_MAX];
        snprintf(app, sizeof(app), "%s%s%s", m->sig->name, m->sig->flavor[0] ? " " : "", m->sig->flavor);
        json_field("app", app);
    }
    printf(",\"distance\":%u", m->distance);
    json_field("link", m->link ? m->link : "");
    json_field("sig", m->raw_sig);
    puts("}");
}

struct fingerprint_run {
    const struct p0ffp_db *db;
    bool json;
};

static void fingerprint_one(void *ctx, const struct syn_features *f)
{
    const struct fingerprint_run *run = ctx;
    struct syn_match m;
    struct endpoint remote, local;
    char remote_text[ENDPOINT_TEXT_MAX], local_text[ENDPOINT_TEXT_MAX];
    synmatch_packet(run->db, f, &m);
    pcap_syn_endpoints(f, &remote, &local);
    endpoint_format(&remote, remote_text, sizeof(remote_text));
    endpoint_format(&local, local_text, sizeof(local_text));
    if (run->json)
        print_json(remote_text, local_text, &m);
    else
        print_logfmt(remote_text, local_text, &m);
}

int cmd_fingerprint(int argc, char **argv)
{
    static const struct option opts[] = {
        {"fp-file", required_argument, NULL, 'f'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *fp_files[MAX_FP_FILES];
    size_t nfp = 0;
    bool json = false;
    int opt;

    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (opt) {
        case 'f':
            if (nfp == MAX_FP_FILES) {
                fprintf(stderr, "p0fshim fingerprint: more than %d --fp-file\n", MAX_FP_FILES);
                return EXIT_USAGE;
            }
            fp_files[nfp++] = optarg;
            break;
        case 'j': json = true; break;
        case 'h': fingerprint_usage(stdout); return 0;
        case ':': fprintf(stderr, "p0fshim fingerprint: %s needs a value\n", argv[optind - 1]); return EXIT_USAGE;
        default:
            fprintf(stderr, "p0fshim fingerprint: unknown option %s\n", argv[optind - 1]);
            fingerprint_usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind == argc) {
        fingerprint_usage(stderr);
        return EXIT_USAGE;
    }
    if (nfp == 0)
        fp_files[nfp++] = P0FFP_DEFAULT_FILE;

    struct p0ffp_db db;
    char err[P0FFP_ERROR_MAX];
    p0ffp_db_init(&db);
    for (size_t i = 0; i < nfp; i++) {
        if (p0ffp_load_file(&db, fp_files[i], err, sizeof(err)) < 0) {
            fputs("p0fshim fingerprint: ", stderr);
            put_safe(stderr, err, strlen(err));
            fputc('\n', stderr);
            p0ffp_db_free(&db);
            return EXIT_CONFIG;
        }
    }

    struct fingerprint_run run = {&db, json};
    int status = 0;
    for (int i = optind; i < argc; i++)
        if (pcap_each_syn(argv[i], "p0fshim fingerprint", fingerprint_one, &run) < 0)
            status = EXIT_NEGATIVE;
    fflush(stdout);
    p0ffp_db_free(&db);
    return status;
}
