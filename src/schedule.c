/* When to ask p0f (see schedule.h). */
#include "schedule.h"

#include <stdio.h>
#include <string.h>

void lookup_set_reason(struct lookup *l, const char *reason)
{
    snprintf(l->reason, sizeof(l->reason), "%s", reason ? reason : "");
}

void lookup_retry(struct lookup *l, uint64_t accepted_ns, uint64_t deadline_ns, uint64_t now)
{
    l->in_flight = false;
    l->saw_nomatch = true;
    if (now + l->retry_ms * NS_PER_MS < deadline_ns) {
        l->next_query_ns = now + l->retry_ms * NS_PER_MS;
        /* p0f learns a host within one 5 ms capture block: ask every ms until then, and
         * back off for a host it may never see. */
        if (now - accepted_ns >= ENGINE_RETRY_FAST_MS * NS_PER_MS)
            l->retry_ms = l->retry_ms * 2 > ENGINE_RETRY_MAX_MS ? ENGINE_RETRY_MAX_MS : l->retry_ms * 2;
    } else {
        l->next_query_ns = UINT64_MAX;   /* the deadline settles it as unknown */
    }
}

void lookup_finish(struct lookup *l, enum lookup_outcome outcome, const char *reason)
{
    l->in_flight = false;
    l->done = true;
    l->outcome = outcome;
    lookup_set_reason(l, reason);
}

void lookup_expire(struct lookup *l, const char *error)
{
    if (!l->active || l->done)
        return;
    if (l->saw_nomatch)
        lookup_finish(l, LOOKUP_NO_MATCH, "no match");
    else
        lookup_finish(l, LOOKUP_FAILED, error);
}

bool lookup_due(const struct lookup *l, bool vetted, uint64_t deadline_ns, uint64_t now)
{
    return vetted && l->active && !l->done && !l->in_flight && l->next_query_ns <= now && now < deadline_ns;
}

static bool same_host(const struct endpoint *a, const struct endpoint *b)
{
    return a->family == b->family && memcmp(a->ip, b->ip, sizeof(a->ip)) == 0;
}

static size_t bucket_of(const struct endpoint *peer)
{
    uint32_t h = 2166136261u ^ (uint32_t)peer->family;
    for (size_t i = 0; i < sizeof(peer->ip); i++)
        h = (h ^ peer->ip[i]) * 16777619u;
    return h % CACHE_SLOTS;
}

void answer_cache_store(struct answer_cache *c, const struct endpoint *peer, const struct p0f3_answer *answer,
                        uint64_t now)
{
    struct cached_answer *b = &c->bucket[bucket_of(peer)];
    b->used = true;
    b->host = *peer;
    b->host.port = 0;
    b->expires_ns = now + CACHE_FRESH_MS * NS_PER_MS;
    b->answer = *answer;
}

const struct p0f3_answer *answer_cache_find(const struct answer_cache *c, const struct endpoint *peer, uint64_t now)
{
    const struct cached_answer *b = &c->bucket[bucket_of(peer)];
    if (!b->used || now >= b->expires_ns || !same_host(&b->host, peer))
        return NULL;
    return &b->answer;
}

bool answer_cache_being_asked(const struct answer_cache *c, const struct endpoint *peer, uint64_t now,
                              uint64_t *retry_at)
{
    const struct cached_answer *b = &c->bucket[bucket_of(peer)];
    if (!(b->asking && same_host(&b->asking_host, peer) && now - b->asking_since_ns < REPLY_EXPECTED_NS))
        return false;
    *retry_at = b->asking_since_ns + REPLY_EXPECTED_NS;
    return true;
}

void answer_cache_asking(struct answer_cache *c, const struct endpoint *peer, uint64_t now)
{
    struct cached_answer *b = &c->bucket[bucket_of(peer)];
    b->asking = true;
    b->asking_host = *peer;
    b->asking_since_ns = now;
}

void answer_cache_answered(struct answer_cache *c, const struct endpoint *peer)
{
    struct cached_answer *b = &c->bucket[bucket_of(peer)];
    if (b->asking && same_host(&b->asking_host, peer))
        b->asking = false;
}

void first_query_schedule(const struct first_query_timing *t, struct lookup *l, uint64_t syn_ns, uint64_t accepted_ns,
                          uint64_t now)
{
    uint64_t at;
    l->unknown_after_ns = syn_ns;
    l->on_grid = learn_grid_predict(&t->grid, syn_ns, &at);
    at = l->on_grid ? at + GRID_GUARD_NS : syn_ns + t->delay_ns;
    l->delay_timed = !l->on_grid && syn_ns + FIRST_QUERY_DELAY_MAX_NS >= accepted_ns;
    l->next_query_ns = at > now ? at : now;
}

void first_query_adapt(struct first_query_timing *t, bool missed)
{
    uint64_t d = t->delay_ns;
    if (missed)
        d = d * 2 < FIRST_QUERY_DELAY_MIN_NS ? FIRST_QUERY_DELAY_MIN_NS : d * 2;
    else
        d -= d / 16;
    if (d > FIRST_QUERY_DELAY_MAX_NS)
        d = FIRST_QUERY_DELAY_MAX_NS;
    if (!missed && d < FIRST_QUERY_DELAY_MIN_NS / 4)
        d = 0;
    t->delay_ns = d;
}

void first_query_after_nomatch(const struct first_query_timing *t, struct lookup *l, uint64_t queued_ns, uint64_t now)
{
    uint64_t at;
    if (l->on_grid && l->next_query_ns != UINT64_MAX && learn_grid_predict(&t->grid, queued_ns, &at))
        l->next_query_ns = at + GRID_GUARD_NS > now ? at + GRID_GUARD_NS : now;
}

void first_query_observe(struct first_query_timing *t, const struct lookup *l, uint64_t now)
{
    learn_grid_observe(&t->grid, l->unknown_after_ns, now);
}
