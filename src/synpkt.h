/* A TCP SYN, as the kernel's TCP_SAVED_SYN or a capture gives it (an IPv4 or IPv6 header, then
 * the TCP header with its options), read into the features p0f 3.09b fingerprints: TTL, IP
 * option length, MSS, window, window scale, option layout, quirks and payload class, and the
 * packet's signature in p0f's raw_sig form. It reads exactly as p0f's parse_packet() does,
 * oddities included, because the point is to give p0f's own answer. Pure: no allocation, no
 * I/O; malformed input is an error with a reason, never a crash. */
#ifndef P0FSHIM_SYNPKT_H
#define P0FSHIM_SYNPKT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The quirks, in the order p0f writes them in a signature; quirk i is bit (1 << i). */
enum syn_quirk {
    SYN_QUIRK_DF,            /* df: IPv4 don't fragment */
    SYN_QUIRK_NZ_ID,         /* id+: DF with a non-zero IP ID */
    SYN_QUIRK_ZERO_ID,       /* id-: no DF and a zero IP ID */
    SYN_QUIRK_ECN,           /* ecn: ECN in the IP or TCP header */
    SYN_QUIRK_NZ_MBZ,        /* 0+: the IPv4 must-be-zero flag */
    SYN_QUIRK_FLOW,          /* flow: a non-zero IPv6 flow label */
    SYN_QUIRK_ZERO_SEQ,      /* seq-: sequence number zero */
    SYN_QUIRK_NZ_ACK,        /* ack+: an ACK number without ACK (as p0f tests it, see synpkt.c) */
    SYN_QUIRK_ZERO_ACK,      /* ack-: ACK with a zero ACK number (never on a SYN) */
    SYN_QUIRK_NZ_URG,        /* uptr+: an urgent pointer without URG */
    SYN_QUIRK_URG,           /* urgf+: URG */
    SYN_QUIRK_PUSH,          /* pushf+: PUSH */
    SYN_QUIRK_OPT_ZERO_TS1,  /* ts1-: own timestamp zero */
    SYN_QUIRK_OPT_NZ_TS2,    /* ts2+: peer timestamp non-zero on a SYN */
    SYN_QUIRK_OPT_EOL_NZ,    /* opt+: non-zero bytes after EOL */
    SYN_QUIRK_OPT_EXWS,      /* exws: window scale above 14 */
    SYN_QUIRK_OPT_BAD,       /* bad: options p0f could not parse */
    SYN_QUIRKS
};
#define SYN_QUIRK_BIT(q) (1u << (q))

/* Their names in signatures ("df", "id+", ...), indexed by enum syn_quirk. */
extern const char *const syn_quirk_names[SYN_QUIRKS];

/* TCP option kinds with a name in signatures; any other kind is written "?N". */
enum {
    SYN_OPT_EOL = 0,
    SYN_OPT_NOP = 1,
    SYN_OPT_MSS = 2,
    SYN_OPT_WS = 3,
    SYN_OPT_SACKOK = 4,
    SYN_OPT_SACK = 5,
    SYN_OPT_TS = 8,
};

#define SYN_MAX_OPTS 24      /* p0f reads no more options than this (MAX_TCP_OPT) */
#define SYN_MAX_DIST 35      /* p0f's MAX_DIST: the farthest a non-fuzzy TTL match may be */
#define SYN_MIN_TCP4 40      /* IPv4 + TCP headers without options */
#define SYN_MIN_TCP6 60      /* IPv6 + TCP headers */

struct syn_features {
    uint8_t ip_ver;          /* 4 or 6 */
    uint8_t ttl;             /* TTL or hop limit as received */
    uint8_t ip_opt_len;      /* IPv4 header beyond 20 bytes; 0 for IPv6 */
    uint8_t tos;             /* the DSCP bits */
    uint16_t mss;            /* 0 without an MSS option */
    uint16_t win;
    uint8_t wscale;          /* 0 without a window scale option */
    uint8_t opt_cnt;
    uint8_t opt_eol_pad;     /* option bytes after EOL */
    uint8_t opt_layout[SYN_MAX_OPTS];
    uint32_t quirks;         /* SYN_QUIRK_BIT()s */
    uint32_t ts1;            /* own timestamp; 0 without one */
    uint16_t tot_hdr;        /* IP header + TCP header, bytes */
    uint32_t pay_len;        /* payload bytes (a Fast Open SYN carries some) */
    uint8_t src[16], dst[16];  /* IPv4 in the first 4 bytes */
    uint16_t sport, dport;
};

/* The buffer ends after the TCP header and the IP length field counts a payload that is not
 * there: what TCP_SAVED_SYN returns. Without it, the buffer is a whole captured packet. */
#define SYNPKT_HEADERS_ONLY 1u

/* 0 and *out filled; or SYNPKT_MALFORMED (truncated, inconsistent lengths...) or
 * SYNPKT_IGNORED (not TCP, a fragment, not a SYN: a packet p0f passes over without a word),
 * with *why saying which (a static string). A SYN is SYN without ACK, FIN or RST. */
#define SYNPKT_MALFORMED (-1)
#define SYNPKT_IGNORED (-2)
int synpkt_parse(const uint8_t *pkt, size_t len, unsigned flags, struct syn_features *out, const char **why);

/* p0f's detect_win_multi() for a SYN: the window as a multiple of the MSS (or of an MTU, then
 * *use_mtu), trying divisors in p0f's order; -1 when none divides it. have_ts1: the packet has
 * a non-zero own timestamp; ip_ver 4, 6, or -1 (a signature for both); tot_hdr: IP + TCP
 * header bytes. */
int synpkt_window_multiplier(unsigned win, int mss, bool have_ts1, int ip_ver, unsigned tot_hdr, bool *use_mtu);

/* The distance p0f guesses from a TTL alone: to the next of 32, 64, 128, 255. */
unsigned synpkt_guess_distance(uint8_t ttl);

/* The packet's signature as p0f's raw_sig, e.g. 4:64+0:0:1460:mss*20,7:mss,sok,ts,nop,ws:df,id+:0 */
#define SYNPKT_RAW_SIG_MAX 256
void synpkt_raw_sig(const struct syn_features *f, char *buf, size_t size);

#endif
