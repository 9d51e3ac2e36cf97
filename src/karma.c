/* Fleet karma in Redis (see karma.h). */
#include "karma.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_link.h"
#include "store_key.h"
#include "tunables.h"

/* ARGV: now, window, slice, hits. The fields are slice numbers (now / slice); those older than
 * the window are deleted, newer ones (a clock set back) are kept but not counted. */
static const char count_script[] =
    "local now, window, slice, hits = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])\n"
    "local current = math.floor(now / slice)\n"
    "local oldest = current - math.floor(window / slice) + 1\n"
    "if hits > 0 then\n"
    "  redis.call('HINCRBY', KEYS[1], current, hits)\n"
    "  redis.call('EXPIRE', KEYS[1], window)\n"
    "end\n"
    "local total = 0\n"
    "local all = redis.call('HGETALL', KEYS[1])\n"
    "for i = 1, #all, 2 do\n"
    "  local s = tonumber(all[i])\n"
    "  if s == nil or s < oldest then redis.call('HDEL', KEYS[1], all[i])\n"
    "  elseif s <= current then total = total + (tonumber(all[i + 1]) or 0) end\n"
    "end\n"
    "return total\n";

struct karma_store {
    struct redis_link *link;
    struct karma_settings s;
    unsigned timeout_ms;
};

int karma_open(struct karma_store **out, const struct karma_settings *s, unsigned timeout_ms, char *why,
               size_t why_size)
{
    char reason[200];
    *out = NULL;
    struct karma_store *k = calloc(1, sizeof(*k));
    if (k == NULL) {
        snprintf(why, why_size, "karma store %s: out of memory", s->store.shown);
        return -1;
    }
    k->link = redis_link_shared(&s->store, reason, sizeof(reason));
    if (k->link == NULL) {
        free(k);
        snprintf(why, why_size, "karma store %s: %s", s->store.shown, reason);
        return -1;
    }
    k->s = *s;
    k->timeout_ms = timeout_ms;
    *out = k;
    return 0;
}

int karma_count(struct karma_store *k, const struct endpoint *peer, time_t now, unsigned hits, long long *total,
                char *why, size_t why_size)
{
    char key[STORE_KEY_MAX], a[4][24];
    struct redis_ints r;
    if (store_key(key, STORE_KEY_KARMA, peer, k->s.v4_prefix, k->s.v6_prefix) != 0) {
        snprintf(why, why_size, "karma store: address family %d is neither IPv4 nor IPv6", peer->family);
        return -1;
    }
    unsigned slice = k->s.window_s / KARMA_SLICES;
    snprintf(a[0], sizeof(a[0]), "%" PRId64, (int64_t)now);
    snprintf(a[1], sizeof(a[1]), "%u", k->s.window_s);
    snprintf(a[2], sizeof(a[2]), "%u", slice ? slice : 1);
    snprintf(a[3], sizeof(a[3]), "%u", hits);
    const char *args[4] = {a[0], a[1], a[2], a[3]};
    if (redis_link_eval(k->link, count_script, key, args, 4, k->timeout_ms, &r, why, why_size) != 0)
        return -1;
    if (r.n != 1 || r.v[0] < 0) {
        snprintf(why, why_size, "karma store %s: the script's reply is not ours", redis_link_shown(k->link));
        return -1;
    }
    *total = r.v[0];
    return 0;
}

void karma_close(struct karma_store *k)
{
    free(k);   /* the link is shared and lives as long as the process */
}
