/* When to ask p0f, as pure functions of the times the worker reads from its clock: one
 * source's progress for one connection (struct lookup: its retries with backoff, its
 * deadline), the answer cache that lets a bulk sender's connections share one query, and
 * the first query's timing (the learning grid, learngrid.h, with an adaptive delay where
 * the grid says nothing). No clock, no I/O, no lock: the engine calls these under its own
 * lock, and the unit tests call them with made-up times. */
#ifndef P0FSHIM_SCHEDULE_H
#define P0FSHIM_SCHEDULE_H

#include <stdbool.h>
#include <stdint.h>

#include "addr.h"
#include "learngrid.h"
#include "p0f3.h"
#include "policy.h"
#include "tunables.h"

/* One p0f source's progress for one connection. */
struct lookup {
    bool active;             /* this source is asked about this connection */
    bool done;
    bool in_flight;          /* a query is outstanding */
    bool saw_nomatch;
    unsigned queries;        /* sent so far */
    uint64_t next_query_ns;
    uint64_t unknown_after_ns;   /* p0f did not know the host yet at this time (v3: SYN, NOMATCH) */
    bool on_grid;                /* the first query's time came from the learning grid */
    bool delay_timed;            /* ... or from the adaptive delay (not "at once") */
    unsigned retry_ms;
    enum lookup_outcome outcome;
    char reason[160];        /* as long as the engine's error strings */
};

void lookup_set_reason(struct lookup *l, const char *reason);
/* NOMATCH means "not yet" (p0f learns a host a few ms after the handshake): ask again with
 * backoff while the deadline allows; past it, never (the deadline settles it as unknown). */
void lookup_retry(struct lookup *l, uint64_t accepted_ns, uint64_t deadline_ns, uint64_t now);
void lookup_finish(struct lookup *l, enum lookup_outcome outcome, const char *reason);
/* At the deadline a source still open gets its outcome now: no match if p0f said so once,
 * else failed with error. */
void lookup_expire(struct lookup *l, const char *error);
/* Whether a query for this source may be sent now (the socket was vetted as TCP first). */
bool lookup_due(const struct lookup *l, bool vetted, uint64_t deadline_ns, uint64_t now);

/* Recent v3 answers by host (the port is ignored), and which host is being asked now. */
struct cached_answer {
    bool used;
    struct endpoint host;
    uint64_t expires_ns;
    struct p0f3_answer answer;
    bool asking;             /* a query for this host is in flight */
    struct endpoint asking_host;
    uint64_t asking_since_ns;
};

struct answer_cache {
    struct cached_answer bucket[CACHE_SLOTS];
};

void answer_cache_store(struct answer_cache *c, const struct endpoint *peer, const struct p0f3_answer *answer,
                        uint64_t now);
/* A fresh answer for peer's host, or NULL. */
const struct p0f3_answer *answer_cache_find(const struct answer_cache *c, const struct endpoint *peer, uint64_t now);
/* Whether a query for peer's host went out less than REPLY_EXPECTED_NS ago (its answer will
 * serve this connection from the cache); *retry_at: when to ask after all if it does not. */
bool answer_cache_being_asked(const struct answer_cache *c, const struct endpoint *peer, uint64_t now,
                              uint64_t *retry_at);
void answer_cache_asking(struct answer_cache *c, const struct endpoint *peer, uint64_t now);
void answer_cache_answered(struct answer_cache *c, const struct endpoint *peer);

/* The first v3 query's timing. Adaptive delay: p0f learns a host only when it has processed
 * the SYN, 1-5 ms after accept on fast links, so an immediate query mostly earns a NOMATCH
 * and a second query. Doubled after a first-query NOMATCH, shrunk by 1/16 after a
 * first-query answer: settles where ~8% of first queries miss, and at zero for a p0f that
 * already knows every host. Better than a delay, when p0f's answers show it: the phase of
 * the grid of instants at which p0f learns hosts. The first query goes just after the first
 * of them that follows the host's SYN. */
struct first_query_timing {
    uint64_t delay_ns;
    struct learn_grid grid;
};

/* When to ask first about a host whose SYN reached us at syn_ns (0: long ago, time unknown)
 * and that was accepted at accepted_ns. The fallback delay counts from the SYN too; it learns
 * only from hosts whose SYN was recent enough for it to matter (not from a distant client or
 * one that waited in the accept queue: p0f knew those already). */
void first_query_schedule(const struct first_query_timing *t, struct lookup *l, uint64_t syn_ns, uint64_t accepted_ns,
                          uint64_t now);
/* The answer to a first query timed by the delay: missed (NOMATCH) or not. */
void first_query_adapt(struct first_query_timing *t, bool missed);
/* After a NOMATCH for a query sent at queued_ns (lookup_retry already set the backoff): on the
 * grid, the next chance is the next predicted instant, not a millisecond later. */
void first_query_after_nomatch(const struct first_query_timing *t, struct lookup *l, uint64_t queued_ns,
                               uint64_t now);
/* p0f's first sight of the host (total_conn 1), answered at now: it learned the host in
 * (l->unknown_after_ns, now]. */
void first_query_observe(struct first_query_timing *t, const struct lookup *l, uint64_t now);

#endif
