/* The verdict on one connection, as a pure function (in the manner of TCP Wrappers'
 * hosts_access(), which tcpd and its explain tool tcpdmatch both call): the blocked-OS
 * rules and exemptions (policy.h) on what each p0f source said, then the fleet's karma
 * count (a client at karma_limit is blocked), then greylisting for an
 * allowed host whose genre matches greylist_os, then what the refusal does (action.h).
 * The library's worker and `p0fshim check` both decide through verdict_decide(); they
 * differ only in how they consult the greylist store (the worker records, check reads). */
#ifndef P0FSHIM_VERDICT_H
#define P0FSHIM_VERDICT_H

#include <stdbool.h>
#include <stddef.h>

#include "action.h"
#include "addr.h"
#include "config.h"
#include "greylist.h"
#include "policy.h"

/* Asks the greylist store about peer. false: no store could be asked (the host passes);
 * true: *out holds the store's outcome (GREYLIST_FAILED passes the host too). */
typedef bool (*verdict_greylist_fn)(void *ctx, const struct endpoint *peer, struct greylist_result *out);

/* Asks the karma store to add `hits` (1 when smite_os matched, else 0) and say the client's
 * hits in karma_window. false: no store could be asked (karma is off for the client). */
typedef bool (*verdict_karma_fn)(void *ctx, const struct endpoint *peer, unsigned hits, long long *total);

struct verdict_request {
    const struct config *cfg;
    const struct endpoint *peer;
    const struct source_view *views;   /* one per p0f source asked (policy.h) */
    size_t nviews;
    verdict_greylist_fn greylist;      /* NULL: the store is not consulted */
    void *greylist_ctx;
    verdict_karma_fn karma;            /* NULL: no karma store is consulted */
    void *karma_ctx;
};

struct verdict_result {
    struct judgement judgement;        /* verdict, rule (verdict_karma_rule when karma_limit was
                                          reached), exemption, karma */
    bool karma_counted;                /* the karma store answered: karma_total holds the count */
    long long karma_total;
    bool greylist_matched;             /* greylist_os matched an allowed host's genre */
    bool greylist_consulted;           /* ... and the store answered: grey holds its outcome */
    struct greylist_result grey;
    long greylist_wait_s;              /* pass_greylist after a retry: how long it waited; else -1 */
    enum hold_reply reply_kind;        /* what a hold-mode accept() does with the connection */
};

/* The rule a block by karma_limit names (rule="karma", no rule_at). */
extern const struct blocked_rule verdict_karma_rule;

void verdict_decide(const struct verdict_request *rq, struct verdict_result *out);

/* Whether the verdict refuses the connection (block, greylist). */
bool verdict_refuses(const struct verdict_result *v);

/* The log's action= word (NULL: none), and in reply the reply= text without CRLF (empty for
 * none), for a verdict that a hold-mode accept() took (handed) or that the worker applies. */
const char *verdict_action(const struct config *cfg, const struct verdict_result *v, bool handed, char *reply,
                           size_t reply_size);

#endif
