#include "p0f3.h"

#include <netinet/in.h>
#include <string.h>

#include "logfields.h"

void p0f3_encode_query(const struct endpoint *peer, uint8_t out[P0F3_QUERY_LEN])
{
    struct p0f3_query_wire query;
    memset(&query, 0, sizeof(query));
    query.magic = P0F3_QUERY_MAGIC;
    if (peer->family == AF_INET) {
        query.addr_type = P0F3_ADDR_IPV4;
        memcpy(query.addr, peer->ip, 4);
    } else {
        query.addr_type = P0F3_ADDR_IPV6;
        memcpy(query.addr, peer->ip, 16);
    }
    memcpy(out, &query, sizeof(query));
}

static int copy_field(char dst[P0F3_STR_MAX], const char src[P0F3_STR_MAX])
{
    const char *nul = memchr(src, '\0', P0F3_STR_MAX);
    if (nul == NULL)
        return -1;
    memcpy(dst, src, (size_t)(nul - src) + 1);
    return 0;
}

enum p0f3_decode_status p0f3_decode_response(const uint8_t *buf, size_t len, struct p0f3_answer *out)
{
    struct p0f3_response_wire wire;

    memset(out, 0, sizeof(*out));
    if (len < sizeof(wire))
        return P0F3_ERR_SHORT;
    memcpy(&wire, buf, sizeof(wire));
    if (wire.magic != P0F3_RESP_MAGIC)
        return P0F3_ERR_MAGIC;
    out->status = wire.status;
    if (wire.status == P0F3_STATUS_BADQUERY)
        return P0F3_ERR_BADQUERY;
    if (wire.status == P0F3_STATUS_NOMATCH)
        return P0F3_DECODED_NOMATCH;
    if (wire.status != P0F3_STATUS_OK)
        return P0F3_ERR_STATUS;

    if (copy_field(out->os_name, wire.os_name) || copy_field(out->os_flavor, wire.os_flavor) ||
        copy_field(out->http_name, wire.http_name) || copy_field(out->http_flavor, wire.http_flavor) ||
        copy_field(out->link_type, wire.link_type) || copy_field(out->language, wire.language)) {
        memset(out, 0, sizeof(*out));
        out->status = wire.status;
        return P0F3_ERR_UNTERMINATED;
    }
    out->first_seen = wire.first_seen;
    out->last_seen = wire.last_seen;
    out->total_conn = wire.total_conn;
    out->uptime_min = wire.uptime_min;
    out->up_mod_days = wire.up_mod_days;
    out->last_nat = wire.last_nat;
    out->last_chg = wire.last_chg;
    /* p0f stores -1 in a uint8 before widening, so "unknown" arrives as 255. */
    out->distance = (wire.distance < 0 || wire.distance == 255) ? -1 : wire.distance;
    out->bad_sw = wire.bad_sw;
    out->os_match_q = wire.os_match_q;
    return P0F3_DECODED_OK;
}

const char *p0f3_decode_strerror(enum p0f3_decode_status status)
{
    switch (status) {
    case P0F3_DECODED_OK: return "ok";
    case P0F3_DECODED_NOMATCH: return "no match";
    case P0F3_ERR_SHORT: return "p0f: short reply";
    case P0F3_ERR_MAGIC: return "p0f: bad magic";
    case P0F3_ERR_BADQUERY: return "p0f: query rejected (BADQUERY)";
    case P0F3_ERR_STATUS: return "p0f: unknown status";
    case P0F3_ERR_UNTERMINATED: return "p0f: string field not terminated";
    }
    return "p0f: undecodable reply";
}

const char *p0f3_match_word(uint8_t os_match_q)
{
    /* The log field table's words for match=: exact, generic, fuzzy. */
    const char *const *words = log_field_table[LF_MATCH].words;
    if (os_match_q & P0F3_MATCH_FUZZY)
        return words[2];
    if (os_match_q & P0F3_MATCH_GENERIC)
        return words[1];
    return words[0];
}
