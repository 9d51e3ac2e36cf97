/* A SYN's features matched against p0f's signatures, with p0f 3.09b's tcp_find_match()
 * semantics: candidates with the same option layout, quirk differences that only make a
 * match fuzzy, the TTL within MAX_DIST, the window rules, a specific match over a generic one
 * over a fuzzy one, no fuzzy match for tools ('!'), the distance (guessed when nothing
 * matched), and the link type [mtu] gives for the MTU the MSS implies. No allocation: the
 * per-connection cost is a bucket's worth of comparisons and one raw signature. */
#ifndef P0FSHIM_SYNMATCH_H
#define P0FSHIM_SYNMATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "p0ffp.h"
#include "synpkt.h"

/* What is compared with the signatures: a packet, or a signature checked for duplicates. */
struct syn_probe {
    int8_t ip_ver;           /* 4, 6, or -1 */
    uint8_t ttl;
    uint8_t ip_opt_len;
    int32_t mss;             /* -1: any (a signature) */
    uint8_t win_type;        /* P0FFP_WIN_NORMAL for a packet */
    int32_t win;
    int16_t wscale;
    int8_t pay_class;
    uint8_t opt_eol_pad;
    uint8_t opt_cnt;
    const uint8_t *opt_layout;
    uint32_t quirks;
    bool have_ts1;
    uint16_t tot_hdr;
};

/* The first candidates of each kind, in the order given. */
struct syn_scan {
    const struct p0ffp_sig *specific;    /* exact and s: (the search stops there) */
    const struct p0ffp_sig *generic;     /* exact and g: */
    const struct p0ffp_sig *fuzzy;
};

/* p0f's search over the signatures idx[0..n) of sigs. */
void synmatch_scan(const struct p0ffp_sig *sigs, const uint32_t *idx, size_t n, const struct syn_probe *p,
                   struct syn_scan *out);

enum syn_match_class { SYN_MATCH_NONE, SYN_MATCH_EXACT, SYN_MATCH_GENERIC, SYN_MATCH_FUZZY };

#define SYNMATCH_GENRE_MAX 256

struct syn_match {
    const struct p0ffp_sig *sig;         /* the signature p0f would report; NULL if none */
    bool fuzzy;
    bool os;                             /* sig names an operating system ('!' classes and
                                          * p0f-sendsyn probes do not) */
    enum syn_match_class match;          /* NONE unless os */
    unsigned distance;                   /* hops; guessed from the TTL when nothing matched */
    const char *link;                    /* [mtu]'s link type, or NULL */
    char genre[SYNMATCH_GENRE_MAX];      /* "name flavor" when os, else "" */
    char raw_sig[SYNPKT_RAW_SIG_MAX];    /* the packet's signature in p0f's raw_sig form */
};

/* Fills *m for the SYN f: what p0f would say about it. */
void synmatch_packet(const struct p0ffp_db *db, const struct syn_features *f, struct syn_match *m);

/* match=: exact, generic, fuzzy (the log field table's words), or none. */
const char *synmatch_match_word(enum syn_match_class c);

#endif
