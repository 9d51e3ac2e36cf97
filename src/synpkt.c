/* A SYN's features as p0f 3.09b reads them (see synpkt.h). The checks and their order follow
 * p0f's parse_packet(), so that a packet p0f ignores is refused here too and one it reads
 * gets the same features, including the quirks its option parser sets on odd input. */
#include "synpkt.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *const syn_quirk_names[SYN_QUIRKS] = {
    "df", "id+", "id-", "ecn", "0+", "flow", "seq-", "ack+", "ack-",
    "uptr+", "urgf+", "pushf+", "ts1-", "ts2+", "opt+", "exws", "bad",
};

#define SNAPLEN 65535        /* p0f reads no more of a packet than this */

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PUSH 0x08
#define TCP_ACK 0x10
#define TCP_URG 0x20
#define TCP_ECE 0x40
#define TCP_CWR 0x80
#define TCP_NS 0x01          /* in the data offset byte */
#define IP_ECN_BITS 0x03     /* CE | ECT */
#define IP4_MBZ 0x8000
#define IP4_DF 0x4000

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int refuse(const char **why, const char *reason)
{
    if (why)
        *why = reason;
    return SYNPKT_MALFORMED;
}

/* A well-formed packet that is not a SYN p0f fingerprints. */
static int ignore(const char **why, const char *reason)
{
    if (why)
        *why = reason;
    return SYNPKT_IGNORED;
}

/* The options between the fixed TCP header and the data offset, as p0f walks them. Problems
 * are quirks, not errors: p0f records them to recognise broken stacks. */
static void parse_options(const uint8_t *opt, const uint8_t *opt_end, struct syn_features *f)
{
    const uint8_t *p = opt;

    while (p < opt_end && f->opt_cnt < SYN_MAX_OPTS) {
        uint8_t kind = *p++;
        f->opt_layout[f->opt_cnt++] = kind;
        switch (kind) {
        case SYN_OPT_EOL:
            /* Ends the options; p0f notes the padding and whether any of it is non-zero, but
             * its scan stops past the first non-zero byte, so one in the last position is
             * not noticed. */
            f->opt_eol_pad = (uint8_t)(opt_end - p);
            while (p < opt_end && !*p++)
                ;
            if (p != opt_end) {
                f->quirks |= SYN_QUIRK_BIT(SYN_QUIRK_OPT_EOL_NZ);
                p = opt_end;
            }
            break;
        case SYN_OPT_NOP:
            break;
        case SYN_OPT_MSS:
            /* Fixed-size options are read at their fixed size whatever their length byte. */
            if (p + 3 > opt_end)
                goto bad;
            if (*p != 4)
                f->quirks |= SYN_QUIRK_BIT(SYN_QUIRK_OPT_BAD);
            f->mss = rd16(p + 1);
            p += 3;
            break;
        case SYN_OPT_WS:
            if (p + 2 > opt_end)
                goto bad;
            if (*p != 3)
                f->quirks |= SYN_QUIRK_BIT(SYN_QUIRK_OPT_BAD);
            f->wscale = p[1];
            if (f->wscale > 14)
                f->quirks |= SYN_QUIRK_BIT(SYN_QUIRK_OPT_EXWS);
            p += 2;
            break;
        case SYN_OPT_SACKOK:
            if (p + 1 > opt_end)
                goto bad;
            if (*p != 2)
                f->quirks |= SYN_QUIRK_BIT(SYN_QUIRK_OPT_BAD);
            p++;
            break;
        case SYN_OPT_SACK:
            if (p == opt_end || *p < 10 || *p > 34 || p - 1 + *p > opt_end)
                goto bad;
            p += *p - 1;
            break;
        case SYN_OPT_TS:
            if (p + 9 > opt_end)
                goto bad;
            if (*p != 10)
                f->quirks |= SYN_QUIRK_BIT(SYN_QUIRK_OPT_BAD);
            f->ts1 = rd32(p + 1);
            if (!f->ts1)
                f->quirks |= SYN_QUIRK_BIT(SYN_QUIRK_OPT_ZERO_TS1);
            if (rd32(p + 5))
                f->quirks |= SYN_QUIRK_BIT(SYN_QUIRK_OPT_NZ_TS2);
            p += 9;
            break;
        default:
            if (p == opt_end || *p < 2 || *p > 40 || p - 1 + *p > opt_end)
                goto bad;
            p += *p - 1;
            break;
        }
    }
    if (p == opt_end)
        return;
bad:
    f->quirks |= SYN_QUIRK_BIT(SYN_QUIRK_OPT_BAD);
}

int synpkt_parse(const uint8_t *pkt, size_t len, unsigned flags, struct syn_features *f, const char **why)
{
    const bool headers_only = flags & SYNPKT_HEADERS_ONLY;
    size_t avail = len > SNAPLEN ? SNAPLEN : len;   /* bytes we may read */
    size_t packet_len = avail;                       /* bytes p0f believes the packet has */
    size_t ip_hdr_len;

    memset(f, 0, sizeof(*f));
    if (pkt == NULL || packet_len < SYN_MIN_TCP4)
        return refuse(why, "too short for IP and TCP headers");

    if (pkt[0] >> 4 == 4) {
        size_t tot_len = rd16(pkt + 2);
        uint16_t flags_off = rd16(pkt + 6);
        ip_hdr_len = (size_t)(pkt[0] & 0x0f) * 4;
        /* A capture shorter than the IP length is cut off; a longer one has trailer bytes
         * (etherleak) that are not the packet's. A saved SYN stops at the TCP header. */
        if (packet_len > tot_len || headers_only)
            packet_len = tot_len;
        if (packet_len < SYN_MIN_TCP4)
            return refuse(why, "IPv4 total length too short for IP and TCP headers");
        if (ip_hdr_len < 20)
            return refuse(why, "IPv4 header length below 20");
        if (!headers_only && tot_len > packet_len)
            return refuse(why, "IPv4 total length beyond the captured bytes");
        if (ip_hdr_len + 20 > packet_len)
            return refuse(why, "no room for the TCP header after the IPv4 header");
        if (ip_hdr_len + 20 > avail)
            return refuse(why, "truncated: the TCP header is cut off");
        if (pkt[9] != 6)
            return ignore(why, "not TCP");
        if (flags_off & ~(IP4_DF | IP4_MBZ))
            return ignore(why, "an IPv4 fragment");
        f->ip_ver = 4;
        f->ip_opt_len = (uint8_t)(ip_hdr_len - 20);
        memcpy(f->src, pkt + 12, 4);
        memcpy(f->dst, pkt + 16, 4);
        f->tos = pkt[1] >> 2;
        f->ttl = pkt[8];
        if (pkt[1] & IP_ECN_BITS)
            f->quirks |= SYN_QUIRK_BIT(SYN_QUIRK_ECN);
        if (flags_off & IP4_MBZ)
            f->quirks |= SYN_QUIRK_BIT(SYN_QUIRK_NZ_MBZ);
        if (flags_off & IP4_DF) {
            f->quirks |= SYN_QUIRK_BIT(SYN_QUIRK_DF);
            if (rd16(pkt + 4))
                f->quirks |= SYN_QUIRK_BIT(SYN_QUIRK_NZ_ID);
        } else if (!rd16(pkt + 4)) {
            f->quirks |= SYN_QUIRK_BIT(SYN_QUIRK_ZERO_ID);
        }
    } else if (pkt[0] >> 4 == 6) {
        uint32_t ver_tos = rd32(pkt);
        size_t tot_len = (size_t)rd16(pkt + 4) + 40;
        ip_hdr_len = 40;
        if (packet_len > tot_len || headers_only)
            packet_len = tot_len;
        if (packet_len < SYN_MIN_TCP6)
            return refuse(why, "IPv6 payload length too short for a TCP header");
        if (!headers_only && tot_len > packet_len)
            return refuse(why, "IPv6 payload length beyond the captured bytes");
        if (avail < SYN_MIN_TCP6)
            return refuse(why, "truncated: the TCP header is cut off");
        /* Extension headers are not followed: p0f does not either. */
        if (pkt[6] != 6)
            return ignore(why, "not TCP (or behind an IPv6 extension header)");
        f->ip_ver = 6;
        memcpy(f->src, pkt + 8, 16);
        memcpy(f->dst, pkt + 24, 16);
        f->tos = (ver_tos >> 22) & 0x3f;
        f->ttl = pkt[7];
        if (ver_tos & 0xfffff)
            f->quirks |= SYN_QUIRK_BIT(SYN_QUIRK_FLOW);
        if ((ver_tos >> 20) & IP_ECN_BITS)
            f->quirks |= SYN_QUIRK_BIT(SYN_QUIRK_ECN);
    } else {
        return refuse(why, "neither IPv4 nor IPv6");
    }

    const uint8_t *tcp = pkt + ip_hdr_len;
    size_t tcp_len = packet_len - ip_hdr_len;       /* TCP header and payload, as claimed */
    size_t doff = (size_t)(tcp[12] >> 4) * 4;
    if (doff < 20)
        return refuse(why, "TCP data offset below 20");
    if (doff > tcp_len)
        return refuse(why, "TCP header longer than the packet");
    if (ip_hdr_len + doff > avail)
        return refuse(why, "truncated: the TCP options are cut off");
    f->tot_hdr = (uint16_t)(ip_hdr_len + doff);
    f->sport = rd16(tcp);
    f->dport = rd16(tcp + 2);

    uint8_t tcp_flags = tcp[13];
    uint8_t type = tcp_flags & (TCP_SYN | TCP_ACK | TCP_FIN | TCP_RST);
    if (((tcp_flags & TCP_SYN) && (tcp_flags & (TCP_FIN | TCP_RST))) ||
        ((tcp_flags & TCP_FIN) && (tcp_flags & TCP_RST)) || !type)
        return ignore(why, "a combination of TCP flags p0f ignores");
    if (type != TCP_SYN)
        return ignore(why, "not a SYN");

    f->win = rd16(tcp + 14);
    if ((tcp_flags & (TCP_ECE | TCP_CWR)) || (tcp[12] & TCP_NS))
        f->quirks |= SYN_QUIRK_BIT(SYN_QUIRK_ECN);
    if (!rd32(tcp + 4))
        f->quirks |= SYN_QUIRK_BIT(SYN_QUIRK_ZERO_SEQ);
    /* p0f 3.09b tests "ack & !rst", a bitwise and with 0 or 1, on the ACK field loaded in
     * host order: on the little-endian machines it runs on, that is the lowest bit of the
     * field's first byte. Its answers are the reference, so this test is the same. */
    if (tcp[8] & 1)
        f->quirks |= SYN_QUIRK_BIT(SYN_QUIRK_NZ_ACK);
    if (tcp_flags & TCP_URG)
        f->quirks |= SYN_QUIRK_BIT(SYN_QUIRK_URG);
    else if (rd16(tcp + 18))
        f->quirks |= SYN_QUIRK_BIT(SYN_QUIRK_NZ_URG);
    if (tcp_flags & TCP_PUSH)
        f->quirks |= SYN_QUIRK_BIT(SYN_QUIRK_PUSH);
    f->pay_len = (uint32_t)(tcp_len - doff);

    parse_options(tcp + 20, tcp + doff, f);
    return 0;
}

int synpkt_window_multiplier(unsigned win, int mss, bool have_ts1, int ip_ver, unsigned tot_hdr, bool *use_mtu)
{
    /* Each candidate divisor in p0f's order; the first that divides the window decides. */
    struct {
        int divisor;
        bool mtu;
        bool applies;
    } const tries[] = {
        {mss, false, true},
        {mss - 12, false, have_ts1},   /* some stacks take the timestamp off */
        {1500 - SYN_MIN_TCP4, false, true},
        {1500 - SYN_MIN_TCP4 - 12, false, true},
        {1500 - SYN_MIN_TCP6, false, ip_ver == 6},
        {1500 - SYN_MIN_TCP6 - 12, false, ip_ver == 6},
        {mss + SYN_MIN_TCP4, true, true},
        {mss + (int)tot_hdr, true, true},
        {mss + SYN_MIN_TCP6, true, ip_ver == 6},
        {1500, true, true},
    };

    *use_mtu = false;
    if (!win || mss < 100)
        return -1;
    for (size_t i = 0; i < sizeof(tries) / sizeof(tries[0]); i++) {
        if (tries[i].applies && (int)win % tries[i].divisor == 0) {
            *use_mtu = tries[i].mtu;
            return (int)win / tries[i].divisor;
        }
    }
    return -1;
}

unsigned synpkt_guess_distance(uint8_t ttl)
{
    if (ttl <= 32)
        return 32u - ttl;
    if (ttl <= 64)
        return 64u - ttl;
    if (ttl <= 128)
        return 128u - ttl;
    return 255u - ttl;
}

struct text {
    char *buf;
    size_t size, len;
};

static void put(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct text *t, const char *fmt, ...)
{
    if (t->len >= t->size)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->buf + t->len, t->size - t->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        t->len += (size_t)n;
}

void synpkt_raw_sig(const struct syn_features *f, char *buf, size_t size)
{
    struct text t = {buf, size, 0};
    unsigned dist = synpkt_guess_distance(f->ttl);
    bool use_mtu;
    int multi = synpkt_window_multiplier(f->win, f->mss, f->ts1 != 0, f->ip_ver, f->tot_hdr, &use_mtu);

    if (size == 0)
        return;
    buf[0] = '\0';
    if (dist > SYN_MAX_DIST)
        put(&t, "%u:%u+?:%u:", f->ip_ver, f->ttl, f->ip_opt_len);
    else
        put(&t, "%u:%u+%u:%u:", f->ip_ver, f->ttl, dist, f->ip_opt_len);
    put(&t, "%u:", f->mss);
    if (multi > 0)
        put(&t, "%s*%d", use_mtu ? "mtu" : "mss", multi);
    else
        put(&t, "%u", f->win);
    put(&t, ",%u:", f->wscale);
    for (unsigned i = 0; i < f->opt_cnt; i++) {
        const char *sep = i ? "," : "";
        switch (f->opt_layout[i]) {
        case SYN_OPT_EOL: put(&t, "%seol+%u", sep, f->opt_eol_pad); break;
        case SYN_OPT_NOP: put(&t, "%snop", sep); break;
        case SYN_OPT_MSS: put(&t, "%smss", sep); break;
        case SYN_OPT_WS: put(&t, "%sws", sep); break;
        case SYN_OPT_SACKOK: put(&t, "%ssok", sep); break;
        case SYN_OPT_SACK: put(&t, "%ssack", sep); break;
        case SYN_OPT_TS: put(&t, "%sts", sep); break;
        default: put(&t, "%s?%u", sep, f->opt_layout[i]); break;
        }
    }
    put(&t, ":");
    bool first = true;
    for (unsigned q = 0; q < SYN_QUIRKS; q++) {
        if (f->quirks & SYN_QUIRK_BIT(q)) {
            put(&t, "%s%s", first ? "" : ",", syn_quirk_names[q]);
            first = false;
        }
    }
    put(&t, ":%c", f->pay_len ? '+' : '0');
}
