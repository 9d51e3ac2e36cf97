/* The p0f v2 query protocol (p0f 2.0.8 -Q): one query per connection. Unlike v3 the
 * structs are NOT packed: natural alignment gives a 24-byte query and a 144-byte reply.
 * Addresses are in network order, ports in HOST order, integers in host order. */
#ifndef P0FSHIM_P0F2_H
#define P0FSHIM_P0F2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"

#define P0F2_MAGIC 0x0defacedu
#define P0F2_QTYPE_FINGERPRINT 1

#define P0F2_RESP_OK       0
#define P0F2_RESP_BADQUERY 1
#define P0F2_RESP_NOMATCH  2

struct p0f2_query_wire {
    uint32_t magic;          /* P0F2_MAGIC */
    uint8_t  type;           /* P0F2_QTYPE_FINGERPRINT */
    /* 3 bytes of padding: zero */
    uint32_t id;             /* echoed in the reply */
    uint32_t src_ad;         /* remote (client) IPv4, network order */
    uint32_t dst_ad;         /* local (server) IPv4, network order: local_ip behind NAT */
    uint16_t src_port;       /* remote port, host order */
    uint16_t dst_port;       /* local port, host order */
};

struct p0f2_response_wire {
    uint32_t magic;          /* P0F2_MAGIC */
    uint32_t id;
    uint8_t  type;           /* P0F2_RESP_* */
    char     genre[20];      /* e.g. "Windows" */
    char     detail[40];     /* e.g. "XP/2000 (RFC1323+, w+, tstamp-)" */
    int8_t   dist;           /* hops, -1 unknown */
    char     link[30];       /* e.g. "ethernet/modem" */
    char     tos[30];
    uint8_t  fw;             /* firewalled */
    uint8_t  nat;
    uint8_t  real;           /* 1 = a real OS, not a userland tool */
    /* 1 byte of padding */
    int16_t  score;          /* masquerade score, -100 = none */
    uint16_t mflags;         /* masquerade flags */
    /* 2 bytes of padding */
    int32_t  uptime;         /* hours, -1 unknown */
};

#define P0F2_QUERY_LEN    24
#define P0F2_RESPONSE_LEN 144
_Static_assert(sizeof(struct p0f2_query_wire) == P0F2_QUERY_LEN, "p0f v2 query is 24 bytes");
_Static_assert(sizeof(struct p0f2_response_wire) == P0F2_RESPONSE_LEN, "p0f v2 reply is 144 bytes");
_Static_assert(offsetof(struct p0f2_query_wire, id) == 8, "v2 query id at 8");
_Static_assert(offsetof(struct p0f2_query_wire, src_port) == 20, "v2 query ports at 20");
_Static_assert(offsetof(struct p0f2_response_wire, dist) == 69, "v2 dist at 69");
_Static_assert(offsetof(struct p0f2_response_wire, score) == 134, "v2 score at 134");
_Static_assert(offsetof(struct p0f2_response_wire, uptime) == 140, "v2 uptime at 140");

struct p0f2_answer {
    uint32_t id;
    char genre[20], detail[40], link[30], tos[30];
    int dist;                /* -1 unknown */
    bool fw, nat, real;
    int score;               /* -100 none */
    unsigned mflags;
    int uptime_h;            /* -1 unknown */
};

enum p0f2_decode_status {
    P0F2_DECODED_OK,
    P0F2_DECODED_NOMATCH,
    P0F2_ERR_SHORT,
    P0F2_ERR_MAGIC,
    P0F2_ERR_BADQUERY,
    P0F2_ERR_TYPE,
    P0F2_ERR_ID,
    P0F2_ERR_UNTERMINATED,
};

/* -1 when a side is not IPv4 (p0f v2 is IPv4-only). local_ip, when given, replaces the
 * local address (a server behind NAT: p0f saw the packet sent to the public address). */
int p0f2_encode_query(const struct endpoint *remote, const struct endpoint *local,
                      const struct endpoint *local_ip, uint32_t id, uint8_t out[P0F2_QUERY_LEN]);
enum p0f2_decode_status p0f2_decode_response(const uint8_t *buf, size_t len, uint32_t expected_id,
                                             struct p0f2_answer *out);
const char *p0f2_decode_strerror(enum p0f2_decode_status status);

#endif
