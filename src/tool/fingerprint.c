/* p0fshim fingerprint: what the library's in-process fingerprinter says about each TCP SYN
 * of a capture, with the library's own matching code. An operator tests a signature file
 * against a capture with it, and the conformance test compares it with `p0f -r` on the same
 * file. Reads classic pcap files (either byte order, micro- or nanosecond) with Ethernet, raw
 * IPv4/IPv6 or Linux cooked link types; one logfmt line (or JSON object) per SYN. */
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
#include "synmatch.h"
#include "synpkt.h"
#include "tool.h"

#define MAX_FP_FILES 32
#define PCAP_RECORD_MAX (256 * 1024)   /* larger than any snapshot length in use */

enum link_type { LINK_ETHERNET = 1, LINK_RAW = 101, LINK_LINUX_SLL = 113, LINK_IPV4 = 228, LINK_IPV6 = 229 };

struct pcap_reader {
    FILE *f;
    const char *path;
    bool swapped;
    uint32_t link;
};

static void fingerprint_usage(FILE *f)
{
    fputs("usage: p0fshim fingerprint [--fp-file FILE]... [--json] FILE.pcap...\n", f);
}

static uint32_t rd32(const uint8_t *p, bool swapped)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return swapped ? __builtin_bswap32(v) : v;
}

static int pcap_open(struct pcap_reader *r, const char *path, const char **why)
{
    uint8_t h[24];
    r->path = path;
    r->f = fopen(path, "re");
    if (!r->f) {
        *why = strerror(errno);
        return -1;
    }
    if (fread(h, 1, sizeof(h), r->f) != sizeof(h)) {
        *why = "too short for a pcap file header";
        return -1;
    }
    uint32_t magic = rd32(h, false);
    if (magic == 0xa1b2c3d4u || magic == 0xa1b23c4du)
        r->swapped = false;
    else if (magic == 0xd4c3b2a1u || magic == 0x4d3cb2a1u)
        r->swapped = true;
    else {
        *why = "not a classic pcap file (pcapng is not read: convert with editcap -F pcap)";
        return -1;
    }
    r->link = rd32(h + 20, r->swapped) & 0xffff;   /* the upper bits carry FCS flags */
    switch (r->link) {
    case LINK_ETHERNET:
    case LINK_RAW:
    case LINK_LINUX_SLL:
    case LINK_IPV4:
    case LINK_IPV6: return 0;
    default: *why = "a link type other than Ethernet (1), raw IP (101, 228, 229) or Linux cooked (113)"; return -1;
    }
}

/* The next record into buf: its length, 0 at the end, -1 if the file is cut or corrupt. */
static long pcap_next(struct pcap_reader *r, uint8_t *buf, const char **why)
{
    uint8_t h[16];
    size_t n = fread(h, 1, sizeof(h), r->f);
    if (n == 0 && feof(r->f))
        return 0;
    if (n != sizeof(h)) {
        *why = "cut off in a record header";
        return -1;
    }
    uint32_t caplen = rd32(h + 8, r->swapped), len = rd32(h + 12, r->swapped);
    if (caplen > PCAP_RECORD_MAX) {
        *why = "a record longer than any capture makes (corrupt file)";
        return -1;
    }
    if (fread(buf, 1, caplen, r->f) != caplen) {
        *why = "cut off in a record";
        return -1;
    }
    /* p0f reads the smaller of the captured and the original length. */
    return (long)(len < caplen ? len : caplen);
}

/* Where the IP header starts in a record of this link type, or -1 (not IP). */
static long ip_offset(uint32_t link, const uint8_t *p, size_t len)
{
    size_t off, type_at;
    switch (link) {
    case LINK_ETHERNET: off = 14, type_at = 12; break;
    case LINK_LINUX_SLL: off = 16, type_at = 14; break;
    /* A raw IPv4 or IPv6 link carries only its own version (p0f's capture filter says so). */
    case LINK_IPV4: return len && p[0] >> 4 == 4 ? 0 : -1;
    case LINK_IPV6: return len && p[0] >> 4 == 6 ? 0 : -1;
    default: return 0;
    }
    if (len < off)
        return -1;
    unsigned type = (unsigned)(p[type_at] << 8 | p[type_at + 1]);
    if (link == LINK_ETHERNET && type == 0x8100 && len >= off + 4) {   /* one 802.1Q tag */
        type = (unsigned)(p[16] << 8 | p[17]);
        off += 4;
    }
    return type == 0x0800 || type == 0x86dd ? (long)off : -1;
}

static void endpoint_of(const uint8_t *ip, uint16_t port, int ip_ver, struct endpoint *ep)
{
    memset(ep, 0, sizeof(*ep));
    ep->family = ip_ver == 4 ? AF_INET : AF_INET6;
    memcpy(ep->ip, ip, ip_ver == 4 ? 4 : 16);
    ep->port = port;
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

static void warn_file(const char *path, const char *what)
{
    fputs("p0fshim fingerprint: ", stderr);
    put_safe(stderr, path, strlen(path));
    fprintf(stderr, ": %s\n", what);
}

/* Every SYN of one capture; 0, or -1 when the file could not be read to its end. */
static int fingerprint_file(const struct p0ffp_db *db, const char *path, bool json, uint8_t *buf)
{
    struct pcap_reader r = {0};
    const char *why = NULL;
    int rc = 0;

    if (pcap_open(&r, path, &why) < 0) {
        warn_file(path, why);
        if (r.f)
            fclose(r.f);
        return -1;
    }
    for (unsigned long record = 1;; record++) {
        long len = pcap_next(&r, buf, &why);
        if (len <= 0) {
            if (len < 0) {
                warn_file(path, why);
                rc = -1;
            }
            break;
        }
        long off = ip_offset(r.link, buf, (size_t)len);
        if (off < 0)
            continue;
        struct syn_features f;
        int st = synpkt_parse(buf + off, (size_t)(len - off), 0, &f, &why);
        if (st == SYNPKT_MALFORMED) {
            char what[160];
            snprintf(what, sizeof(what), "packet %lu: %s", record, why);
            warn_file(path, what);
        }
        if (st != 0)
            continue;
        struct syn_match m;
        struct endpoint remote, local;
        char remote_text[ENDPOINT_TEXT_MAX], local_text[ENDPOINT_TEXT_MAX];
        synmatch_packet(db, &f, &m);
        endpoint_of(f.src, f.sport, f.ip_ver, &remote);
        endpoint_of(f.dst, f.dport, f.ip_ver, &local);
        endpoint_format(&remote, remote_text, sizeof(remote_text));
        endpoint_format(&local, local_text, sizeof(local_text));
        if (json)
            print_json(remote_text, local_text, &m);
        else
            print_logfmt(remote_text, local_text, &m);
    }
    fclose(r.f);
    return rc;
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

    uint8_t *buf = malloc(PCAP_RECORD_MAX);
    int status = 0;
    if (!buf) {
        fputs("p0fshim fingerprint: out of memory\n", stderr);
        p0ffp_db_free(&db);
        return EXIT_NEGATIVE;
    }
    for (int i = optind; i < argc; i++)
        if (fingerprint_file(&db, argv[i], json, buf) < 0)
            status = EXIT_NEGATIVE;
    fflush(stdout);
    free(buf);
    p0ffp_db_free(&db);
    return status;
}
