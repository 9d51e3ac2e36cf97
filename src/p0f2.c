#include "p0f2.h"

#include <netinet/in.h>
#include <string.h>

int p0f2_encode_query(const struct endpoint *remote, const struct endpoint *local,
                      const struct endpoint *local_ip, uint32_t id, uint8_t out[P0F2_QUERY_LEN])
{
    struct p0f2_query_wire q;
    const struct endpoint *dst = local_ip ? local_ip : local;

    if (remote->family != AF_INET || dst->family != AF_INET)
        return -1;
    memset(&q, 0, sizeof(q));
    q.magic = P0F2_MAGIC;
    q.type = P0F2_QTYPE_FINGERPRINT;
    q.id = id;
    memcpy(&q.src_ad, remote->ip, 4);
    memcpy(&q.dst_ad, dst->ip, 4);
    q.src_port = remote->port;
    q.dst_port = local->port;
    memcpy(out, &q, sizeof(q));
    return 0;
}

static int copy_field(char *dst, const char *src, size_t size)
{
    const char *nul = memchr(src, '\0', size);
    if (nul == NULL)
        return -1;
    memcpy(dst, src, (size_t)(nul - src) + 1);
    return 0;
}

enum p0f2_decode_status p0f2_decode_response(const uint8_t *buf, size_t len, uint32_t expected_id,
                                             struct p0f2_answer *out)
{
    struct p0f2_response_wire r;

    memset(out, 0, sizeof(*out));
    if (len < sizeof(r))
        return P0F2_ERR_SHORT;
    memcpy(&r, buf, sizeof(r));
    if (r.magic != P0F2_MAGIC)
        return P0F2_ERR_MAGIC;
    out->id = r.id;
    if (r.id != expected_id)
        return P0F2_ERR_ID;
    if (r.type == P0F2_RESP_BADQUERY)
        return P0F2_ERR_BADQUERY;
    if (r.type == P0F2_RESP_NOMATCH)
        return P0F2_DECODED_NOMATCH;
    if (r.type != P0F2_RESP_OK)
        return P0F2_ERR_TYPE;
    if (copy_field(out->genre, r.genre, sizeof(r.genre)) || copy_field(out->detail, r.detail, sizeof(r.detail)) ||
        copy_field(out->link, r.link, sizeof(r.link)) || copy_field(out->tos, r.tos, sizeof(r.tos))) {
        memset(out, 0, sizeof(*out));
        return P0F2_ERR_UNTERMINATED;
    }
    out->dist = r.dist;
    out->fw = r.fw != 0;
    out->nat = r.nat != 0;
    out->real = r.real != 0;
    out->score = r.score;
    out->mflags = r.mflags;
    out->uptime_h = r.uptime;
    return P0F2_DECODED_OK;
}

const char *p0f2_decode_strerror(enum p0f2_decode_status status)
{
    switch (status) {
    case P0F2_DECODED_OK: return "ok";
    case P0F2_DECODED_NOMATCH: return "no match";
    case P0F2_ERR_SHORT: return "p0f v2: short reply";
    case P0F2_ERR_MAGIC: return "p0f v2: bad magic";
    case P0F2_ERR_BADQUERY: return "p0f v2: query rejected (BADQUERY)";
    case P0F2_ERR_TYPE: return "p0f v2: unknown reply type";
    case P0F2_ERR_ID: return "p0f v2: reply for another query";
    case P0F2_ERR_UNTERMINATED: return "p0f v2: string field not terminated";
    }
    return "p0f v2: undecodable reply";
}
