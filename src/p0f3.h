/* The p0f v3 API wire format (p0f 3.06b and later: packed structs, host byte order),
 * and a decoder that trusts nothing in a reply. */
#ifndef P0FSHIM_P0F3_H
#define P0FSHIM_P0F3_H

#include <stdint.h>
#include <stddef.h>

#include "addr.h"

#define P0F3_QUERY_MAGIC 0x50304601u
#define P0F3_RESP_MAGIC  0x50304602u

#define P0F3_STATUS_BADQUERY 0x00u
#define P0F3_STATUS_OK       0x10u
#define P0F3_STATUS_NOMATCH  0x20u

#define P0F3_ADDR_IPV4 4
#define P0F3_ADDR_IPV6 6

#define P0F3_STR_MAX 32

#define P0F3_MATCH_FUZZY   0x01u
#define P0F3_MATCH_GENERIC 0x02u

struct p0f3_query_wire {
    uint32_t magic;          /* P0F3_QUERY_MAGIC */
    uint8_t  addr_type;      /* P0F3_ADDR_IPV4 or P0F3_ADDR_IPV6 */
    uint8_t  addr[16];       /* network order; IPv4 in the first four bytes, rest zero */
} __attribute__((packed));

struct p0f3_response_wire {
    uint32_t magic;          /* P0F3_RESP_MAGIC */
    uint32_t status;         /* P0F3_STATUS_* */
    uint32_t first_seen;     /* unix time */
    uint32_t last_seen;
    uint32_t total_conn;
    uint32_t uptime_min;     /* 0 = unknown */
    uint32_t up_mod_days;    /* uptime wrap-around */
    uint32_t last_nat;       /* unix time NAT was last detected, 0 = never */
    uint32_t last_chg;       /* unix time of the last OS change, 0 = never */
    int16_t  distance;       /* hops; p0f sends 255 for unknown */
    uint8_t  bad_sw;         /* 0 ok, 1 OS mismatch, 2 outright mismatch */
    uint8_t  os_match_q;     /* P0F3_MATCH_* bits */
    char     os_name[P0F3_STR_MAX];     /* empty = OS not identified */
    char     os_flavor[P0F3_STR_MAX];
    char     http_name[P0F3_STR_MAX];
    char     http_flavor[P0F3_STR_MAX];
    char     link_type[P0F3_STR_MAX];
    char     language[P0F3_STR_MAX];
} __attribute__((packed));

#define P0F3_QUERY_LEN    21
#define P0F3_RESPONSE_LEN 232
_Static_assert(sizeof(struct p0f3_query_wire) == P0F3_QUERY_LEN, "p0f v3 query is 21 bytes");
_Static_assert(sizeof(struct p0f3_response_wire) == P0F3_RESPONSE_LEN, "p0f v3 response is 232 bytes");

/* A decoded answer: integers as sent, strings guaranteed NUL-terminated. */
struct p0f3_answer {
    uint32_t status;
    uint32_t first_seen, last_seen, total_conn;
    uint32_t uptime_min, up_mod_days, last_nat, last_chg;
    int distance;            /* -1 when unknown */
    uint8_t bad_sw, os_match_q;
    char os_name[P0F3_STR_MAX], os_flavor[P0F3_STR_MAX];
    char http_name[P0F3_STR_MAX], http_flavor[P0F3_STR_MAX];
    char link_type[P0F3_STR_MAX], language[P0F3_STR_MAX];
};

enum p0f3_decode_status {
    P0F3_DECODED_OK,          /* status OK: the fields are valid */
    P0F3_DECODED_NOMATCH,     /* p0f has no record of the host (yet) */
    P0F3_ERR_SHORT,
    P0F3_ERR_MAGIC,
    P0F3_ERR_BADQUERY,
    P0F3_ERR_STATUS,
    P0F3_ERR_UNTERMINATED,
};

void p0f3_encode_query(const struct endpoint *peer, uint8_t out[P0F3_QUERY_LEN]);
enum p0f3_decode_status p0f3_decode_response(const uint8_t *buf, size_t len, struct p0f3_answer *out);
/* A short phrase for logs, e.g. "p0f: bad magic". */
const char *p0f3_decode_strerror(enum p0f3_decode_status status);
/* "exact", "generic", "fuzzy" or "generic fuzzy"'s log word. */
const char *p0f3_match_word(uint8_t os_match_q);

#endif
