/*
 * syngen: writes TCP SYNs into a classic pcap file (link type 101, raw IP, one SYN per packet)
 * for the conformance test, which asks the real p0f 3.09b (`p0f -r`) and `p0fshim fingerprint`
 * about the same packets and compares their answers.
 *
 *   syngen --from-fp FILE --out PCAP [--index FILE] [LAYOUT]
 *       one SYN built to match each [tcp:request] signature of FILE (a p0f.fp), plus an IPv6
 *       one for every signature that allows both IP versions;
 *   syngen --random N --seed S [--mutate-fp FILE] --out PCAP [--index FILE]
 *       N random SYNs: TTLs, windows, MSS, scales, option layouts with EOL padding, unknown and
 *       malformed options, every quirk p0f knows in a SYN, IPv4 and IPv6, IPv4 options, payload.
 *       With --mutate-fp, half of them start from one of FILE's signatures and are then changed
 *       in a few places, so that exact, generic and fuzzy matches all occur.
 *
 * LAYOUT: how the same packets are framed, for the reader's other link types and byte orders:
 *   --link raw|ether|vlan|sll|sll2|ipv4|ipv6   link type 101 (the default), 1, 1 with an 802.1Q
 *       tag, 113 (Linux cooked, `tcpdump -i any` before 4.99), 276 (Linux cooked v2, its default
 *       since), 228 and 229 (raw IPv4 / IPv6: the packets of the other version are written all
 *       the same, as a reader must skip them). The framed links start with an ARP frame.
 *   --big-endian   the file written in a big-endian machine's byte order
 *   --nanosecond   the nanosecond-timestamp variant of the format
 *
 * Every packet comes from its own client address and port, one second after the previous one,
 * so that p0f's per-host state never mixes two packets and its flows expire on their own.
 * IPv6 client addresses have no zero group: p0f prints IPv6 addresses uncompressed, inet_ntop
 * compressed, and only such addresses read the same both ways.
 * The index file has one line per packet: client "IP:PORT", the packet in hex, and what it was
 * built for (for --from-fp: the signature's line, label and text), separated by tabs.
 *
 * Nothing here comes from the library: this is the side that the fingerprinter is checked
 * against, and it only builds packets; p0f itself says what they are.
 */
#define HELPER_NAME "syngen"
#include "helper.h"

#include <getopt.h>

#include "syngen_sig.h"

/* ---- a SYN, field by field ---- */

enum { K_EOL = 0, K_NOP = 1, K_MSS = 2, K_WS = 3, K_SOK = 4, K_SACK = 5, K_TS = 8 };

struct tcp_option {
    uint8_t kind;
    uint8_t size;           /* bytes it takes in the header (EOL: 1 + its padding) */
    uint8_t len_byte;       /* the length it claims (normally its size; not for EOL, NOP) */
};

struct syn {
    int ver;
    uint8_t ttl, tos;       /* tos: IPv4 TOS byte or IPv6 traffic class, ECN bits included */
    uint16_t ip_id;
    bool df, mbz;
    uint32_t flow;
    uint8_t ip_opt_len;     /* IPv4 option bytes, a multiple of 4 */
    uint32_t seq, ack;
    uint16_t win, urg_ptr, mss;
    uint8_t flags, scale;   /* flags: the TCP flags byte, SYN included */
    bool ns;
    uint32_t ts1, ts2;
    uint8_t eol_nonzero_at; /* where in the EOL option a non-zero padding byte is (0: none) */
    struct tcp_option opt[48];
    size_t opt_count;
    uint16_t payload;       /* bytes of data */
};

#define F_SYN 0x02
#define F_PSH 0x08
#define F_URG 0x20
#define F_ECE 0x40
#define F_CWR 0x80

static void add_option(struct syn *s, uint8_t kind, uint8_t size)
{
    if (s->opt_count < sizeof(s->opt) / sizeof(s->opt[0]))
        s->opt[s->opt_count++] = (struct tcp_option){kind, size, size};
}

static size_t option_bytes(const struct syn *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->opt_count; i++)
        n += s->opt[i].size;
    return n;
}

/* The option layout text ("mss,nop,ws,eol+2") into *s's option list: false if it has a
 * token p0f does not know. */
static bool add_layout(struct syn *s, const char *layout)
{
    char buf[160], *tok, *save = NULL;

    snprintf(buf, sizeof(buf), "%s", layout);
    static const struct { const char *name; uint8_t kind, size; } known[] = {
        {"nop", K_NOP, 1}, {"mss", K_MSS, 4}, {"ws", K_WS, 3}, {"sok", K_SOK, 2}, {"sack", K_SACK, 10}, {"ts", K_TS, 10}};

    for (tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        size_t k = 0;
        if (strncmp(tok, "eol+", 4) == 0) {
            add_option(s, K_EOL, (uint8_t)(1 + atoi(tok + 4)));
        } else if (tok[0] == '?') {
            add_option(s, (uint8_t)atoi(tok + 1), 2);
        } else {
            while (k < sizeof(known) / sizeof(known[0]) && strcmp(tok, known[k].name) != 0)
                k++;
            if (k == sizeof(known) / sizeof(known[0]))
                return false;
            add_option(s, known[k].kind, known[k].size);
        }
    }
    return true;
}

static uint8_t valid_ttl(long ttl)
{
    return (uint8_t)(ttl < 1 ? 1 : ttl > 255 ? 255 : ttl);
}

static bool has_option(const struct syn *s, uint8_t kind)
{
    for (size_t i = 0; i < s->opt_count; i++)
        if (s->opt[i].kind == kind)
            return true;
    return false;
}

/* The divisor p0f's window check (detect_win_multi) settles on first, or 0 for none; *is_mtu
 * says whether it counts as MTU. Used to pick an MSS that gives a wanted mtu*N reading. */
static long first_window_divisor(const struct syn *s, bool *is_mtu)
{
    long mss = s->mss, hdr = (s->ver == 4 ? 20 + s->ip_opt_len : 40) + 20 + (long)option_bytes(s);
    long cand[10] = {mss, has_option(s, K_TS) && s->ts1 ? mss - 12 : 0, 1460, 1448,
                     s->ver == 6 ? 1440 : 0, s->ver == 6 ? 1428 : 0, mss + 40, mss + hdr,
                     s->ver == 6 ? mss + 60 : 0, 1500};

    if (s->win == 0 || mss < 100)
        return 0;
    for (int i = 0; i < 10; i++)
        if (cand[i] > 0 && s->win % cand[i] == 0) {
            *is_mtu = i >= 6;
            return cand[i];
        }
    return 0;
}

/* A SYN that should match sig, with fixed choices for its wildcards; false, with the reason
 * in why, if no SYN of IP version ver can. */
static bool syn_for_sig(const struct fp_sig *sig, int ver, struct syn *s, char *why, size_t whylen)
{
    const char *q = sig->quirks;

    memset(s, 0, sizeof(*s));
    s->ver = ver;
#define CANNOT(...) do { snprintf(why, whylen, __VA_ARGS__); return false; } while (0)
    if (!add_layout(s, sig->layout))
        CANNOT("unknown option in the layout");
    if (option_bytes(s) % 4 != 0 || option_bytes(s) > 40)
        CANNOT("its options take %zu bytes, not a multiple of 4 up to 40", option_bytes(s));
    if (sig->olen != 0 && (ver == 6 || sig->olen % 4 != 0 || sig->olen > 40))
        CANNOT("IP option length %d", sig->olen);
    if (has_word(q, "ack-"))
        CANNOT("ack- needs the ACK flag, and a SYN+ACK is not a SYN");
    if (has_word(q, "flow") && ver == 4)
        CANNOT("flow needs IPv6");
    s->ip_opt_len = (uint8_t)sig->olen;
    s->ttl = valid_ttl(sig->random_ttl ? sig->ttl - 20 : sig->ttl - sig->line % 8);
    s->flags = F_SYN | (has_word(q, "ecn") ? F_ECE | F_CWR : 0) | (has_word(q, "urgf+") ? F_URG : 0) |
               (has_word(q, "pushf+") ? F_PSH : 0);
    s->df = has_word(q, "df");
    s->mbz = has_word(q, "0+");
    s->ip_id = (uint16_t)((s->df ? has_word(q, "id+") : !has_word(q, "id-")) ? 0x1234 + sig->line : 0);
    s->flow = has_word(q, "flow") ? 0x12345 : 0;
    s->seq = has_word(q, "seq-") ? 0 : 0x10000000u + (uint32_t)sig->line;
    /* p0f tests a non-SYN ACK number with `RD32(ack) & 1` (a bitwise and), so on a
     * little-endian machine only an odd first byte counts. */
    s->ack = has_word(q, "ack+") ? 0x01000000u + (uint32_t)sig->line : 0;
    s->urg_ptr = has_word(q, "uptr+") ? 0x7 : 0;
    s->ts1 = has_word(q, "ts1-") ? 0 : 0x00a0b0c0u + (uint32_t)sig->line;
    s->ts2 = has_word(q, "ts2+") ? 0x00010203u : 0;
    if ((has_word(q, "ts1-") || has_word(q, "ts2+")) && !has_option(s, K_TS))
        CANNOT("timestamp quirks without a timestamp option");
    if (has_word(q, "opt+")) {
        /* p0f's scan past EOL stops one byte after the first non-zero one and only calls it
         * opt+ if that is not the end, so the byte must not be the last. */
        if (s->opt_count == 0 || s->opt[s->opt_count - 1].kind != K_EOL || s->opt[s->opt_count - 1].size < 3)
            CANNOT("opt+ needs at least 2 bytes of EOL padding");
        s->eol_nonzero_at = 1;
    }
    if (has_word(q, "bad")) {
        /* A wrong length on an option of fixed size: p0f notes it and reads on, so the layout
         * stays the signature's. */
        size_t i = 0;
        while (i < s->opt_count && s->opt[i].kind != K_MSS && s->opt[i].kind != K_WS && s->opt[i].kind != K_SOK &&
               s->opt[i].kind != K_TS)
            i++;
        if (i == s->opt_count)
            CANNOT("bad needs an option of fixed size to damage");
        s->opt[i].len_byte = (uint8_t)(s->opt[i].size + 1);
    }
    s->payload = sig->pclass == '+' ? 8 : 0;

    /* The window scale: a wildcard gets a value no other signature of this layout names. */
    if (!has_option(s, K_WS)) {
        if (sig->scale > 0)
            CANNOT("window scale %ld without a ws option", sig->scale);
    } else if (sig->scale >= 0) {
        s->scale = (uint8_t)sig->scale;
    } else {
        static const uint8_t free_scales[] = {9, 11, 12, 13, 14, 1, 2, 3, 4, 5, 6, 7, 8, 10, 0};
        for (size_t c = 0; c < sizeof(free_scales); c++) {
            bool used = false;
            for (size_t i = 0; i < sig_count; i++)
                used |= sigs[i].scale == free_scales[c] && strcmp(sigs[i].layout, sig->layout) == 0;
            s->scale = free_scales[c];
            if (!used)
                break;
        }
        if (has_word(q, "exws"))
            s->scale = 15;
    }
    if (has_word(q, "exws") != (s->scale > 14))
        CANNOT("window scale %u and the exws quirk disagree", s->scale);

    /* MSS, then the window. */
    if (!has_option(s, K_MSS) && sig->mss > 0)
        CANNOT("MSS %ld without an mss option", sig->mss);
    s->mss = (uint16_t)(sig->mss >= 0 ? sig->mss : has_option(s, K_MSS) ? 1460 : 0);
    if (sig->win_kind == '=') {
        s->win = (uint16_t)sig->win;
    } else if (sig->win_kind == '%') {
        s->win = (uint16_t)(sig->win * (sig->win * 3 <= 65535 ? 3 : 1));
    } else if (sig->win_kind == '*') {
        s->win = 7919; /* prime: no mss*N, mtu*N or %N reading */
    } else {
        static const uint16_t msses[] = {1460, 1400, 1360, 1440, 1380, 1200, 1000, 536, 256, 128};
        bool found = false;
        for (size_t c = 0; c < sizeof(msses) / sizeof(msses[0]) && !found; c++) {
            bool is_mtu = false;
            long div;
            if (sig->mss < 0)
                s->mss = msses[c];
            else if (c > 0)
                break;
            div = sig->win_kind == 's' ? s->mss : s->mss + 40;
            if (div * sig->win > 65535 || !has_option(s, K_MSS))
                continue;
            s->win = (uint16_t)(div * sig->win);
            found = first_window_divisor(s, &is_mtu) == div && is_mtu == (sig->win_kind == 't');
        }
        if (!found)
            CANNOT("no MSS gives window %s*%ld", sig->win_kind == 's' ? "mss" : "mtu", sig->win);
    }
    return true;
#undef CANNOT
}

/* ---- randomness ---- */

static uint64_t rng_state;

static uint64_t rnd64(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint32_t rnd(uint32_t n) /* 0 .. n-1 */
{
    return (uint32_t)(rnd64() % n);
}

static bool one_in(uint32_t n)
{
    return rnd(n) == 0;
}

static uint32_t rnd_nonzero32(void)
{
    uint32_t v;
    while ((v = (uint32_t)rnd64()) == 0)
        ;
    return v;
}

static uint16_t pick_mss(void)
{
    static const uint16_t common[] = {1460, 1440, 1400, 1380, 1360, 1452, 1448, 1420, 1412,
                                      536, 1024, 1331, 265, 640, 16396, 16344, 8960, 9000};
    switch (rnd(5)) {
    case 0: return (uint16_t)rnd(65536);
    case 1: return (uint16_t)(rnd(140)); /* below 100: no multiplier reading at all */
    default: return common[rnd(sizeof(common) / sizeof(common[0]))];
    }
}

static uint16_t pick_window(const struct syn *s)
{
    static const uint16_t common[] = {65535, 8192, 16384, 32768, 5840, 14600, 29200, 64240,
                                      1024, 2048, 3072, 4096, 512, 1337, 61440, 32850, 4, 16, 63};
    long hdr = (s->ver == 4 ? 20 + s->ip_opt_len : 40) + 20 + (long)option_bytes(s);
    long base[] = {s->mss, s->mss - 12, 1460, 1448, 1440, 1428, s->mss + 40, s->mss + hdr, s->mss + 60, 1500};
    long b, k;

    switch (rnd(4)) {
    case 0: return (uint16_t)rnd(65536);
    case 1: return common[rnd(sizeof(common) / sizeof(common[0]))];
    default:
        b = base[rnd(sizeof(base) / sizeof(base[0]))];
        if (b <= 0 || b > 65535)
            return (uint16_t)rnd(65536);
        k = 1 + rnd((uint32_t)(65535 / b));
        return (uint16_t)(b * (k > 64 ? 1 + rnd(64) : k));
    }
}

static void add_random_option(struct syn *s)
{
    static const uint8_t unknown[] = {6, 7, 9, 14, 15, 19, 27, 28, 29, 30, 34, 253, 254, 255};
    switch (rnd(10)) {
    case 0: case 1: add_option(s, K_MSS, 4); break;
    case 2: add_option(s, K_WS, 3); break;
    case 3: add_option(s, K_SOK, 2); break;
    case 4: add_option(s, K_TS, 10); break;
    case 5: case 6: add_option(s, K_NOP, 1); break;
    case 7: add_option(s, K_SACK, (uint8_t)(10 + 8 * rnd(4))); break;
    default: add_option(s, unknown[rnd(sizeof(unknown))], (uint8_t)(2 + rnd(9))); break;
    }
}

/* Damage that p0f reports as "bad" (or, for too many options, also cuts the layout short). */
static void damage_options(struct syn *s)
{
    size_t i = s->opt_count ? rnd((uint32_t)s->opt_count) : 0;

    switch (rnd(5)) {
    case 0: /* a wrong length byte, the option's real size kept */
        if (s->opt_count && s->opt[i].kind != K_NOP && s->opt[i].kind != K_EOL)
            s->opt[i].len_byte = (uint8_t)rnd(50);
        break;
    case 1: /* an option cut off by the end of the header */
        s->opt_count = 0;
        for (size_t n = 1 + rnd(6); n > 0; n--)
            add_random_option(s);
        add_option(s, (uint8_t)(rnd(2) ? K_TS : K_MSS), 2);
        break;
    case 2: /* more options than p0f keeps (24) */
        s->opt_count = 0;
        for (size_t n = 20 + rnd(21); n > 0; n--)
            add_option(s, K_NOP, 1);
        break;
    case 3: /* an unknown option with a length of 0, 1 or over 40 */
        add_option(s, 99, 2);
        s->opt[s->opt_count - 1].len_byte = (uint8_t)(rnd(2) ? rnd(2) : 41 + rnd(200));
        break;
    default: /* a SACK length out of 10..34 */
        add_option(s, K_SACK, 2 + (uint8_t)rnd(8));
        break;
    }
}

/* Ends the option list on a 4-byte boundary within 40 bytes: NOPs, or an EOL and its padding. */
static void pad_options(struct syn *s)
{
    size_t n = option_bytes(s);

    while (n > 40 && s->opt_count > 0)
        n -= s->opt[--s->opt_count].size;
    if (n % 4 == 0 && !one_in(8))
        return;
    if (rnd(2) && n < 40) {
        size_t pad = (4 - (n + 1) % 4) % 4 + 4 * rnd((uint32_t)((40 - n - 1) / 4 + 1));
        if (n + 1 + pad > 40)
            pad = (4 - (n + 1) % 4) % 4;
        add_option(s, K_EOL, (uint8_t)(1 + pad));
        s->eol_nonzero_at = pad > 0 && one_in(4) ? (uint8_t)(1 + rnd((uint32_t)pad)) : 0;
    } else {
        while (n % 4 != 0) {
            add_option(s, K_NOP, 1);
            n++;
        }
    }
}

/* Random values for everything: header fields, quirks, options. */
static void random_syn(struct syn *s)
{
    static const uint8_t ttl_bases[] = {32, 64, 128, 255, 192};

    memset(s, 0, sizeof(*s));
    s->ver = one_in(4) ? 6 : 4;
    s->ttl = valid_ttl(rnd(3) ? ttl_bases[rnd(5)] - (long)rnd(46) : 1 + (long)rnd(255));
    s->tos = rnd(3) ? 0 : (uint8_t)rnd(256);
    s->df = !one_in(4);
    s->ip_id = rnd(2) ? 0 : (uint16_t)(1 + rnd(65535));
    s->mbz = one_in(20);
    s->flow = rnd(2) ? 0 : 1 + rnd(0xfffff);
    s->ip_opt_len = one_in(12) ? (uint8_t)(4 * (1 + rnd(10))) : 0;
    s->seq = one_in(20) ? 0 : rnd_nonzero32();
    s->ack = rnd(4) ? 0 : rnd(2) ? rnd_nonzero32() : 1 + rnd(255);
    s->flags = F_SYN | (one_in(20) ? F_PSH : 0) | (one_in(20) ? F_URG : 0) |
               (one_in(10) ? F_ECE : 0) | (one_in(10) ? F_CWR : 0);
    s->ns = one_in(30);
    s->urg_ptr = one_in(15) ? (uint16_t)(1 + rnd(65535)) : 0;
    s->mss = pick_mss();
    s->scale = one_in(15) ? (uint8_t)(15 + rnd(241)) : (uint8_t)rnd(15);
    s->ts1 = one_in(15) ? 0 : rnd_nonzero32();
    s->ts2 = one_in(10) ? rnd_nonzero32() : 0;
    for (size_t n = rnd(10); n > 0; n--)
        add_random_option(s);
    if (one_in(10))
        damage_options(s);
    pad_options(s);
    s->win = rnd(12) ? pick_window(s) : 0;
    s->payload = one_in(12) ? (uint16_t)(1 + rnd(64)) : 0;
}

/* A SYN built for a signature of the file, then changed in zero to three places. */
static void mutated_syn(struct syn *s, char *why, size_t whylen)
{
    const struct fp_sig *sig;
    int ver;

    do {
        sig = &sigs[rnd((uint32_t)sig_count)];
        ver = sig->ver == '6' ? 6 : sig->ver == '4' ? 4 : rnd(3) ? 4 : 6;
    } while (!syn_for_sig(sig, ver, s, why, whylen));
    s->ttl = valid_ttl(sig->ttl - (long)rnd(sig->random_ttl ? (uint32_t)sig->ttl : 40));
    if (sig->mss < 0 && s->mss != 0 && sig->win_kind != 's' && sig->win_kind != 't')
        s->mss = pick_mss();
    if (sig->scale < 0 && has_option(s, K_WS))
        s->scale = (uint8_t)rnd(15);
    if (sig->win_kind == '*' || sig->win_kind == '%')
        s->win = sig->win_kind == '*' ? pick_window(s) : (uint16_t)(sig->win * (1 + rnd((uint32_t)(65535 / sig->win))));
    for (size_t n = rnd(4); n > 0; n--) {
        switch (rnd(16)) {
        case 0: s->ttl = (uint8_t)(1 + rnd(255)); break;
        case 1: s->win = rnd(2) ? (uint16_t)(s->win + 1) : pick_window(s); break;
        case 2: s->mss = pick_mss(); break;
        case 3: s->scale = (uint8_t)rnd(20); break;
        case 4: s->df = !s->df; break;
        case 5: s->ip_id = s->ip_id ? 0 : 0x4321; break;
        case 6: s->flags ^= (uint8_t)(rnd(2) ? F_ECE : F_CWR); break;
        case 7: s->tos ^= (uint8_t)(1 + rnd(3)); break;
        case 8: s->ver = 10 - s->ver; s->ip_opt_len = 0; break;
        case 9: s->seq = s->seq ? 0 : 1; break;
        case 10: s->ack = s->ack ? 0 : 0x01000000u; break;
        case 11: s->flags ^= (uint8_t)(rnd(2) ? F_URG : F_PSH); break;
        case 12: s->ts1 = s->ts1 ? 0 : 1; break;
        case 13: s->payload = s->payload ? 0 : (uint16_t)(1 + rnd(40)); break;
        case 14: s->flow = s->flow ? 0 : 0xabcde; break;
        default: s->ip_opt_len = s->ver == 4 ? (uint8_t)(4 * rnd(3)) : 0; break;
        }
    }
    snprintf(why, whylen, "mutated from line %d", sig->line);
}

/* ---- bytes ---- */

static uint8_t *put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; return p + 2; }
static uint8_t *put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)(v >> 16)); return put16(p + 2, (uint16_t)v); }

static uint32_t sum16(const uint8_t *p, size_t n, uint32_t sum)
{
    for (size_t i = 0; i + 1 < n; i += 2)
        sum += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (n % 2)
        sum += (uint32_t)(p[n - 1] << 8);
    return sum;
}

static uint16_t fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* Client i's address (4 or 16 bytes) in block (0: --from-fp, 1: --random). */
static void client_address(int ver, unsigned block, uint32_t i, uint8_t *a)
{
    if (ver == 4) {
        put32(a, (block ? 0x0a000000u : 0xac100000u) + 1 + i);
    } else {
        put32(put32(put32(a, 0x20010db8u), (block ? 0xau : 0xfu) << 16 | 1), 0x00010001u);
        put16(put16(a + 12, (uint16_t)(1 + i / 65535)), (uint16_t)(1 + i % 65535));
    }
}

/* The packet for s from client i into buf; its length. */
static size_t build_packet(const struct syn *s, unsigned block, uint32_t i, uint8_t *buf)
{
    size_t opt_len = option_bytes(s), ip_len = s->ver == 4 ? 20u + s->ip_opt_len : 40u;
    size_t tcp_len = 20 + opt_len, total = ip_len + tcp_len + s->payload;
    uint8_t *ip = buf, *tcp = buf + ip_len, *o = tcp + 20, *src, *dst;
    uint32_t sum;

    memset(buf, 0, total);
    if (s->ver == 4) {
        ip[0] = (uint8_t)(0x40 | (ip_len / 4));
        ip[1] = s->tos;
        put16(ip + 2, (uint16_t)total);
        put16(ip + 4, s->ip_id);
        put16(ip + 6, (uint16_t)((s->df ? 0x4000 : 0) | (s->mbz ? 0x8000 : 0)));
        ip[8] = s->ttl;
        ip[9] = 6;
        src = ip + 12;
        dst = ip + 16;
        client_address(4, block, i, src);
        put32(dst, 0xc0000201u); /* 192.0.2.1 */
        memset(ip + 20, 1, s->ip_opt_len); /* NOPs */
        put16(ip + 10, fold(sum16(ip, ip_len, 0)));
    } else {
        put32(ip, 6u << 28 | (uint32_t)s->tos << 20 | (s->flow & 0xfffff));
        put16(ip + 4, (uint16_t)(tcp_len + s->payload));
        ip[6] = 6;
        ip[7] = s->ttl;
        src = ip + 8;
        dst = ip + 24;
        client_address(6, block, i, src);
        memcpy(dst, "\x20\x01\x0d\xb8\x00\x05\x00\x05\x00\x05\x00\x05\x00\x05\x00\x25", 16);
    }
    put16(tcp, (uint16_t)(1024 + i % 64000));
    put16(tcp + 2, 25);
    put32(tcp + 4, s->seq);
    put32(tcp + 8, s->ack);
    tcp[12] = (uint8_t)((tcp_len / 4) << 4 | (s->ns ? 1 : 0));
    tcp[13] = s->flags;
    put16(tcp + 14, s->win);
    put16(tcp + 18, s->urg_ptr);
    for (size_t k = 0; k < s->opt_count; k++) {
        const struct tcp_option *op = &s->opt[k];
        o[0] = op->kind;
        if (op->kind == K_EOL) {
            if (s->eol_nonzero_at > 0 && s->eol_nonzero_at < op->size)
                o[s->eol_nonzero_at] = 0x5a;
        } else if (op->kind != K_NOP && op->size >= 2) {
            o[1] = op->len_byte;
            if (op->kind == K_MSS && op->size >= 4)
                put16(o + 2, s->mss);
            else if (op->kind == K_WS && op->size >= 3)
                o[2] = s->scale;
            else if (op->kind == K_TS && op->size >= 10)
                put32(put32(o + 2, s->ts1), s->ts2);
            else
                for (size_t b = 2; b < op->size; b++)
                    o[b] = (uint8_t)(0x40 + b);
        }
        o += op->size;
    }
    for (size_t b = 0; b < s->payload; b++)
        o[b] = (uint8_t)('a' + b % 26);
    /* The TCP checksum, over the pseudo-header; p0f does not look at it, other readers may. */
    sum = sum16(src, s->ver == 4 ? 4 : 16, 0);
    sum = sum16(dst, s->ver == 4 ? 4 : 16, sum);
    sum += 6 + (uint32_t)(tcp_len + s->payload);
    put16(tcp + 16, fold(sum16(tcp, tcp_len + s->payload, sum)));
    return total;
}

/* ---- output ---- */

enum link { L_RAW, L_ETHER, L_VLAN, L_SLL, L_SLL2, L_IPV4, L_IPV6 };

static const struct {
    const char *name;
    uint32_t type;   /* the file header's link type */
} links[] = {
    [L_RAW] = {"raw", 101}, [L_ETHER] = {"ether", 1}, [L_VLAN] = {"vlan", 1}, [L_SLL] = {"sll", 113},
    [L_SLL2] = {"sll2", 276}, [L_IPV4] = {"ipv4", 228}, [L_IPV6] = {"ipv6", 229},
};

struct output {
    FILE *pcap, *index;
    unsigned block;
    uint32_t count;
    enum link link;
    bool big_endian;
};

static void put_32s(const struct output *out, const uint32_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t x = out->big_endian ? __builtin_bswap32(v[i]) : v[i];
        fwrite((uint8_t[]){(uint8_t)x, (uint8_t)(x >> 8), (uint8_t)(x >> 16), (uint8_t)(x >> 24)}, 1, 4, out->pcap);
    }
}

/* The link's header before a packet of this EtherType into h: its length. */
static size_t link_header(enum link link, unsigned ethertype, uint8_t *h)
{
    static const uint8_t mac_a[6] = {0x02, 0, 0, 0, 0, 0x01}, mac_b[6] = {0x02, 0, 0, 0, 0, 0x02};
    switch (link) {
    case L_ETHER:
    case L_VLAN: {
        size_t n = 12;
        memcpy(h, mac_a, 6);
        memcpy(h + 6, mac_b, 6);
        if (link == L_VLAN) {
            put16(h + n, 0x8100);
            put16(h + n + 2, 42);   /* VLAN 42 */
            n += 4;
        }
        put16(h + n, (uint16_t)ethertype);
        return n + 2;
    }
    case L_SLL:   /* packet type, ARPHRD, address length, address (8), protocol */
        put16(h, 0);
        put16(h + 2, 1);
        put16(h + 4, 6);
        memcpy(h + 6, mac_b, 6);
        put16(h + 12, 0);
        put16(h + 14, (uint16_t)ethertype);
        return 16;
    case L_SLL2:   /* protocol, reserved, interface index, ARPHRD, packet type, address length, address (8) */
        put16(h, (uint16_t)ethertype);
        put16(h + 2, 0);
        put16(h + 4, 0);
        put16(h + 6, 2);
        put16(h + 8, 1);
        h[10] = 0;
        h[11] = 6;
        memcpy(h + 12, mac_b, 6);
        put16(h + 18, 0);
        return 20;
    default: return 0;
    }
}

static void write_record(struct output *out, unsigned ethertype, const uint8_t *pkt, size_t len)
{
    uint8_t h[24];
    size_t hl = link_header(out->link, ethertype, h);
    /* One second apart, so that p0f's flows expire and its tables never fill up. */
    put_32s(out, (uint32_t[]){1700000000u + out->count, 0, (uint32_t)(hl + len), (uint32_t)(hl + len)}, 4);
    fwrite(h, 1, hl, out->pcap);
    fwrite(pkt, 1, len, out->pcap);
}

/* An ARP request: a frame of the link that is not IP, which a reader passes over. */
static void write_arp(struct output *out)
{
    uint8_t arp[28] = {0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 192, 0, 2, 1, 0, 0, 0, 0, 0, 0, 192, 0, 2, 2};
    if (link_header(out->link, 0x0806, (uint8_t[24]){0}) > 0)
        write_record(out, 0x0806, arp, sizeof(arp));
}

static void write_syn(struct output *out, const struct syn *s, const char *note)
{
    uint8_t buf[40 + 60 + 40 + 128 + 64 + 16];
    size_t len = build_packet(s, out->block, out->count, buf);
    char addr[INET6_ADDRSTRLEN];
    const uint8_t *src = s->ver == 4 ? buf + 12 : buf + 8;

    write_record(out, s->ver == 4 ? 0x0800 : 0x86dd, buf, len);
    if (out->index != NULL) {
        inet_ntop(s->ver == 4 ? AF_INET : AF_INET6, src, addr, sizeof(addr));
        fprintf(out->index, "%s:%u\t", addr, 1024 + out->count % 64000);
        for (size_t b = 0; b < len; b++)
            fprintf(out->index, "%02x", buf[b]);
        fprintf(out->index, "\t%s\n", note);
    }
    out->count++;
}

static void usage(void) __attribute__((noreturn));
static void usage(void)
{
    fputs("usage: syngen --from-fp FILE --out PCAP [--index FILE] [LAYOUT]\n"
          "       syngen --random N --seed S [--mutate-fp FILE] --out PCAP [--index FILE] [LAYOUT]\n"
          "LAYOUT: [--link raw|ether|vlan|sll|sll2|ipv4|ipv6] [--big-endian] [--nanosecond]\n",
          stderr);
    exit(2);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"from-fp", required_argument, NULL, 'f'}, {"random", required_argument, NULL, 'n'},
        {"seed", required_argument, NULL, 's'},    {"mutate-fp", required_argument, NULL, 'm'},
        {"out", required_argument, NULL, 'o'},     {"index", required_argument, NULL, 'i'},
        {"link", required_argument, NULL, 'l'},    {"big-endian", no_argument, NULL, 'b'},
        {"nanosecond", no_argument, NULL, 'N'},    {NULL, 0, NULL, 0}};
    const char *from_fp = NULL, *mutate_fp = NULL, *out_path = NULL, *index_path = NULL;
    long long random_count = -1, seed = -1;
    bool nanosecond = false, link_known = true;
    struct output out = {0};
    struct syn s;
    char why[200], what[600];
    int opt;

    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
        switch (opt) {
        case 'f': from_fp = optarg; break;
        case 'm': mutate_fp = optarg; break;
        case 'n': random_count = parse_integer("--random", optarg, 0, 100000000); break;
        case 's': seed = parse_integer("--seed", optarg, 0, LLONG_MAX); break;
        case 'o': out_path = optarg; break;
        case 'i': index_path = optarg; break;
        case 'l':
            link_known = false;
            for (size_t k = 0; k < sizeof(links) / sizeof(links[0]); k++)
                if (strcmp(optarg, links[k].name) == 0) {
                    out.link = (enum link)k;
                    link_known = true;
                }
            break;
        case 'b': out.big_endian = true; break;
        case 'N': nanosecond = true; break;
        default: note_bad_option(opt, argv); usage();
        }
    }
    if (stray_argument(argc, argv) || out_path == NULL || (from_fp != NULL) == (random_count >= 0) ||
        (random_count >= 0 && seed < 0) || (from_fp != NULL && mutate_fp != NULL) || !link_known)
        usage();
    if ((out.pcap = fopen(out_path, "wb")) == NULL)
        die("%s: %s", out_path, strerror(errno));
    if (index_path != NULL && (out.index = fopen(index_path, "w")) == NULL)
        die("%s: %s", index_path, strerror(errno));
    /* Classic pcap, version 2.4, snaplen 65535. The version is two 16-bit fields: swapped as such. */
    put_32s(&out, (uint32_t[]){nanosecond ? 0xa1b23c4du : 0xa1b2c3d4u, out.big_endian ? 2u << 16 | 4 : 2 | 4u << 16, 0, 0,
                              65535, links[out.link].type},
            6);
    write_arp(&out);

    if (from_fp != NULL) {
        read_fp_file(from_fp);
        for (size_t k = 0; k < sig_count; k++) {
            const struct fp_sig *sig = &sigs[k];
            for (int ver = sig->ver == '6' ? 6 : 4; ver <= (sig->ver == '4' ? 4 : 6); ver += 2) {
                snprintf(what, sizeof(what), "fp_line=%d\tlabel=%s\tsig=%s", sig->line, sig->label, sig->text);
                if (syn_for_sig(sig, ver, &s, why, sizeof(why)))
                    write_syn(&out, &s, what);
                else
                    note("%s:%d: no IPv%d SYN can match \"%s\": %s", from_fp, sig->line, ver, sig->text, why);
            }
        }
    } else {
        out.block = 1;
        rng_state = (uint64_t)seed;
        if (mutate_fp != NULL)
            read_fp_file(mutate_fp);
        for (long long k = 0; k < random_count; k++) {
            snprintf(why, sizeof(why), "random");
            if (mutate_fp != NULL && rnd(2))
                mutated_syn(&s, why, sizeof(why));
            else
                random_syn(&s);
            write_syn(&out, &s, why);
        }
    }
    if (fclose(out.pcap) != 0 || (out.index != NULL && fclose(out.index) != 0))
        die("writing %s: %s", out_path, strerror(errno));
    return 0;
}
