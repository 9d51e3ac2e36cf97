/* The verdict on one connection (see verdict.h). No I/O happens here: the greylist store is
 * reached through the caller's function. */
#include "verdict.h"

#include <string.h>

/* greylist_os applies to whichever source identified the OS. */
static bool greylist_matches(const struct config *cfg, const struct source_view *views, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (views[i].outcome == LOOKUP_OS_KNOWN && views[i].genre && regex_matches(cfg->greylist_os, views[i].genre))
            return true;
    return false;
}

static void apply_greylist(struct verdict_result *v)
{
    switch (v->grey.outcome) {
    case GREYLIST_FIRST:
    case GREYLIST_EARLY:
        v->judgement.verdict = VERDICT_GREYLIST;
        break;
    case GREYLIST_PASSED:
        v->judgement.verdict = VERDICT_PASS_GREYLIST;
        v->greylist_wait_s = v->grey.waited_s;
        break;
    case GREYLIST_GOOD:
        v->judgement.verdict = VERDICT_PASS_GREYLIST;
        break;
    case GREYLIST_FAILED:
        break;   /* fail open: the host passes */
    }
}

const struct blocked_rule verdict_karma_rule = {.text = (char *)"karma", .re = NULL, .line = 0};

/* The fleet's count, this connection's smite_os hit included. An exempt host is counted but
 * never refused; a host its OS already blocks keeps that rule. */
static void apply_karma(const struct verdict_request *rq, struct verdict_result *out)
{
    unsigned hits = out->judgement.karma < 0 ? 1 : 0;
    out->karma_counted = rq->karma(rq->karma_ctx, rq->peer, hits, &out->karma_total);
    unsigned limit = rq->cfg->karma.limit;
    enum verdict v = out->judgement.verdict;
    if (out->karma_counted && limit && out->karma_total >= (long long)limit && v != VERDICT_EXEMPT &&
        v != VERDICT_BLOCK) {
        out->judgement.verdict = VERDICT_BLOCK;
        out->judgement.rule = &verdict_karma_rule;
    }
}

void verdict_decide(const struct verdict_request *rq, struct verdict_result *out)
{
    memset(out, 0, sizeof(*out));
    out->greylist_wait_s = -1;
    policy_judge_sources(&rq->cfg->policy, rq->peer, rq->views, rq->nviews, &out->judgement);
    if (rq->karma && rq->cfg->karma.store.set)
        apply_karma(rq, out);
    out->greylist_matched = out->judgement.verdict == VERDICT_ALLOW && rq->cfg->greylist_os != NULL &&
                            greylist_matches(rq->cfg, rq->views, rq->nviews);
    if (out->greylist_matched && rq->greylist != NULL) {
        out->greylist_consulted = rq->greylist(rq->greylist_ctx, rq->peer, &out->grey);
        if (out->greylist_consulted)
            apply_greylist(out);
    }
    out->reply_kind = action_reply_kind(rq->cfg, out->judgement.verdict);
}

bool verdict_refuses(const struct verdict_result *v)
{
    return v->judgement.verdict == VERDICT_BLOCK || v->judgement.verdict == VERDICT_GREYLIST;
}

const char *verdict_action(const struct config *cfg, const struct verdict_result *v, bool handed, char *reply,
                           size_t reply_size)
{
    if (reply_size > 0)
        reply[0] = '\0';
    if (handed && action_reply_text(cfg, v->reply_kind, reply, reply_size) > 2)
        reply[strlen(reply) - 2] = '\0';   /* the log shows it without CRLF */
    else if (reply_size > 0)
        reply[0] = '\0';
    return action_log_word(cfg, v->judgement.verdict, handed);
}
