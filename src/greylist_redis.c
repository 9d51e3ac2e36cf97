/* Greylisting state in Redis (see greylist.h), for a fleet of MX hosts that must agree on
 * which client waited long enough. A record is a hash per masked address (store_key.h) with
 * the fields of struct record, and a TTL: the end of its window while the host has not passed,
 * its good_until once it has, so the store cleans itself. A check is one EVAL: the script reads,
 * decides and writes inside Redis, which runs scripts one at a time, so two MX hosts checking
 * the same client at the same moment neither lose nor double an update. The decision in the
 * script is greylist_decide()'s, rule for rule; peek reads the fields and asks
 * greylist_decide() itself. The clock is the caller's (`now`), as with LMDB: the fleet's hosts
 * keep time with NTP. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "greylist_store.h"
#include "redis_link.h"
#include "store_key.h"

/* ARGV: now, delay, window, expire. Returns {outcome, first_seen, waited, good_until,
 * attempts, checks, passes}; outcome 0 first, 1 early, 2 passed, 3 good. */
static const char check_script[] =
    "local now, delay, window, expire = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])\n"
    "local cap = 4294967295\n"
    "local function bump(n) if n >= cap then return n end return n + 1 end\n"
    "local f = redis.call('HMGET', KEYS[1], 'first_seen', 'attempts', 'passed_at', 'good_until', 'checks', 'passes')\n"
    "local first, attempts, passed_at, good_until = tonumber(f[1]), tonumber(f[2]) or 0, tonumber(f[3]), tonumber(f[4])\n"
    "local checks, passes = tonumber(f[5]) or 0, tonumber(f[6]) or 0\n"
    "local outcome, waited = 0, 0\n"
    "local stale = first == nil\n"
    "if not stale then\n"
    "  if passed_at then stale = good_until <= now\n"
    "  else local age = now - first; stale = age > window or age < -window end\n"
    "end\n"
    "if first and passed_at and good_until > now then\n"
    "  good_until = now + expire; attempts = bump(attempts); checks = bump(checks); passes = bump(passes)\n"
    "  waited = passed_at - first; outcome = 3\n"
    "elseif stale then\n"
    "  first = now; attempts = 1; checks = bump(checks); passed_at = nil; good_until = nil; outcome = 0\n"
    "else\n"
    "  attempts = bump(attempts); checks = bump(checks)\n"
    "  if now - first < delay then outcome = 1\n"
    "  else passed_at = now; good_until = now + expire; passes = bump(passes); waited = now - first; outcome = 2 end\n"
    "end\n"
    "redis.call('DEL', KEYS[1])\n"
    "redis.call('HSET', KEYS[1], 'first_seen', first, 'last_seen', now, 'attempts', attempts, 'checks', checks,"
    " 'passes', passes)\n"
    "local ttl\n"
    "if passed_at then\n"
    "  redis.call('HSET', KEYS[1], 'passed_at', passed_at, 'good_until', good_until); ttl = good_until - now\n"
    "else ttl = first + window - now + 1 end\n"
    "if ttl < 1 then ttl = 1 end\n"
    "redis.call('EXPIRE', KEYS[1], ttl)\n"
    "return {outcome, first, waited, good_until or 0, attempts, checks, passes}\n";

/* Returns {present, first_seen, attempts, passed_at (0: not passed), good_until, checks,
 * passes, last_seen}. */
static const char peek_script[] =
    "local f = redis.call('HMGET', KEYS[1], 'first_seen', 'attempts', 'passed_at', 'good_until', 'checks', 'passes',"
    " 'last_seen')\n"
    "if f[1] == false then return {0, 0, 0, 0, 0, 0, 0, 0} end\n"
    "local r = {1}\n"
    "for i = 1, 7 do r[i + 1] = tonumber(f[i]) or 0 end\n"
    "return r\n";

static const enum greylist_outcome outcomes[] = {GREYLIST_FIRST, GREYLIST_EARLY, GREYLIST_PASSED, GREYLIST_GOOD};

int greylist_redis_open(struct greylist **out, const struct greylist_settings *s, struct diag *err)
{
    char why[200];
    *out = NULL;
    if (s->window_s < s->delay_s) {
        diag_set(err, NULL, 0, "greylist store %s: the window (%u s) is shorter than the delay (%u s): no retry could pass",
                 s->store.shown, s->window_s, s->delay_s);
        return -1;
    }
    struct greylist *g = calloc(1, sizeof(*g));
    if (g == NULL) {
        diag_set(err, NULL, 0, "greylist store %s: out of memory", s->store.shown);
        return -1;
    }
    g->redis = redis_link_shared(&s->store, why, sizeof(why));
    if (g->redis == NULL) {
        free(g);
        diag_set(err, NULL, 0, "greylist store %s: %s", s->store.shown, why);
        return -1;
    }
    g->s = *s;
    g->pid = getpid();
    *out = g;
    return 0;
}

static int key_of(const struct greylist *g, const struct endpoint *peer, char key[STORE_KEY_MAX],
                  struct greylist_result *out)
{
    if (store_key(key, STORE_KEY_GREYLIST, peer, g->s.v4_prefix, g->s.v6_prefix) == 0)
        return 0;
    out->outcome = GREYLIST_FAILED;
    snprintf(out->error, sizeof(out->error), "greylist store: address family %d is neither IPv4 nor IPv6",
             peer->family);
    return -1;
}

void greylist_redis_check(struct greylist *g, const struct endpoint *peer, time_t now, struct greylist_result *out)
{
    char key[STORE_KEY_MAX], a[4][24];
    struct redis_ints r;
    memset(out, 0, sizeof(*out));
    if (key_of(g, peer, key, out) != 0)
        return;
    snprintf(a[0], sizeof(a[0]), "%" PRId64, (int64_t)now);
    snprintf(a[1], sizeof(a[1]), "%u", g->s.delay_s);
    snprintf(a[2], sizeof(a[2]), "%u", g->s.window_s);
    snprintf(a[3], sizeof(a[3]), "%u", g->s.expire_s);
    const char *args[4] = {a[0], a[1], a[2], a[3]};
    if (redis_link_eval(g->redis, check_script, key, args, 4, g->s.timeout_ms, &r, out->error, sizeof(out->error)) !=
        0) {
        out->outcome = GREYLIST_FAILED;
        return;
    }
    if (r.n != 7 || r.v[0] < 0 || r.v[0] > 3) {
        out->outcome = GREYLIST_FAILED;
        snprintf(out->error, sizeof(out->error), "greylist store %s: the script's reply is not ours",
                 redis_link_shown(g->redis));
        return;
    }
    out->outcome = outcomes[r.v[0]];
    out->first_seen = (time_t)r.v[1];
    out->waited_s = (long)r.v[2];
    out->good_until = (out->outcome == GREYLIST_PASSED || out->outcome == GREYLIST_GOOD) ? (time_t)r.v[3] : 0;
    out->attempts = (unsigned)r.v[4];
    out->checks = (unsigned long)r.v[5];
    out->passes = (unsigned long)r.v[6];
}

int greylist_redis_peek(struct greylist *g, const struct endpoint *peer, time_t now, struct greylist_result *out)
{
    char key[STORE_KEY_MAX];
    struct redis_ints r;
    memset(out, 0, sizeof(*out));
    out->outcome = GREYLIST_FIRST;
    if (key_of(g, peer, key, out) != 0)
        return -1;
    if (redis_link_eval(g->redis, peek_script, key, NULL, 0, g->s.timeout_ms, &r, out->error, sizeof(out->error)) !=
        0) {
        out->outcome = GREYLIST_FAILED;
        return -1;
    }
    if (r.n != 8) {
        out->outcome = GREYLIST_FAILED;
        snprintf(out->error, sizeof(out->error), "greylist store %s: the script's reply is not ours",
                 redis_link_shown(g->redis));
        return -1;
    }
    if (r.v[0] == 0)
        return -1;   /* not in the store */
    struct record stored = {
        .version = RECORD_VERSION,
        .flags = r.v[3] ? RECORD_PASSED : 0,
        .attempts = (uint32_t)r.v[2],
        .first_seen = r.v[1],
        .last_seen = r.v[7],
        .passed_at = r.v[3],
        .good_until = r.v[3] ? r.v[4] : 0,
        .checks = (uint32_t)r.v[5],
        .passes = (uint32_t)r.v[6],
    };
    struct record copy = stored;
    long waited;
    enum greylist_outcome outcome = greylist_decide(&copy, true, (int64_t)now, &g->s, &waited);
    greylist_fill_result(out, outcome, &stored, waited);
    return 0;
}
