/* Classic pcap captures read for their TCP SYNs (pcap.h). */
#include "pcap.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "output.h"

#define PCAP_RECORD_MAX (256 * 1024)   /* larger than any snapshot length in use */

/* LINK_LINUX_SLL2: what `tcpdump -i any` writes since tcpdump 4.99 (Debian 12); 113 before. */
enum link_type {
    LINK_ETHERNET = 1,
    LINK_RAW = 101,
    LINK_LINUX_SLL = 113,
    LINK_IPV4 = 228,
    LINK_IPV6 = 229,
    LINK_LINUX_SLL2 = 276,
};

struct pcap_reader {
    FILE *f;
    bool swapped;
    uint32_t link;
};

static uint32_t rd32(const uint8_t *p, bool swapped)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return swapped ? __builtin_bswap32(v) : v;
}

static int pcap_open(struct pcap_reader *r, const char **why)
{
    uint8_t h[24];
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
    case LINK_LINUX_SLL2:
    case LINK_IPV4:
    case LINK_IPV6: return 0;
    default:
        *why = "a link type other than Ethernet (1), raw IP (101, 228, 229) or Linux cooked (113, 276)";
        return -1;
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
    case LINK_LINUX_SLL2: off = 20, type_at = 0; break;
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

static void warn_file(FILE *report, const char *prefix, const char *path, const char *what)
{
    fprintf(report, "%s: ", prefix);
    put_safe(report, path, strlen(path));
    fprintf(report, ": %s\n", what);
}

void pcap_syn_endpoints(const struct syn_features *f, struct endpoint *remote, struct endpoint *local)
{
    endpoint_of(f->src, f->sport, f->ip_ver, remote);
    endpoint_of(f->dst, f->dport, f->ip_ver, local);
}

int pcap_each_syn(const char *path, const char *prefix, pcap_syn_fn fn, void *ctx)
{
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        warn_file(stderr, prefix, path, strerror(errno));
        return -1;
    }
    int rc = pcap_each_syn_in(f, path, stderr, prefix, fn, ctx);
    fclose(f);
    return rc;
}

int pcap_each_syn_in(FILE *f, const char *name, FILE *report, const char *prefix, pcap_syn_fn fn, void *ctx)
{
    struct pcap_reader r = {.f = f};
    const char *why = NULL;
    int rc = 0;
    uint8_t *buf = malloc(PCAP_RECORD_MAX);

    if (buf == NULL) {
        warn_file(report, prefix, name, "out of memory");
        return -1;
    }
    if (pcap_open(&r, &why) < 0) {
        warn_file(report, prefix, name, why);
        free(buf);
        return -1;
    }
    for (unsigned long record = 1;; record++) {
        long len = pcap_next(&r, buf, &why);
        if (len <= 0) {
            if (len < 0) {
                warn_file(report, prefix, name, why);
                rc = -1;
            }
            break;
        }
        long off = ip_offset(r.link, buf, (size_t)len);
        if (off < 0)
            continue;
        struct syn_features sf;
        int st = synpkt_parse(buf + off, (size_t)(len - off), 0, &sf, &why);
        if (st == SYNPKT_MALFORMED) {
            char what[160];
            snprintf(what, sizeof(what), "packet %lu: %s", record, why);
            warn_file(report, prefix, name, what);
        }
        if (st == 0)
            fn(ctx, &sf);
    }
    free(buf);
    return rc;
}
