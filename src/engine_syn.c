/* A verdict from the client's saved SYN, inside accept() (engine.h): the same decision as the
 * worker's (verdict.h), made on the host's thread, with no duplicate, no p0f and no wait. The
 * line goes out from here with one non-blocking send; with fingerprint syn+p0f it is left to
 * the worker instead, which adds what only p0f knows (uptime, total_conn, the v2_ fields)
 * when p0f answers or at timeout_ms, and never changes the verdict. */
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "engine_state.h"
#include "logfmt.h"
#include "verdict.h"

/* The line of a connection the SYN decided; answer, answer_v2 and reasons from p0f when it was
 * asked as well. */
void syn_decision_report(const struct syn_decision *d, const struct endpoint *remote, const struct endpoint *local,
                         struct connection_report *r)
{
    r->remote = *remote;
    r->local = *local;
    r->judgement = d->judgement;
    r->fp = FP_SOURCE_SYN;
    r->syn = d->syn.status == SYN_MATCHED ? &d->syn.match : NULL;
    r->fp_reason = d->syn.status == SYN_MATCHED ? NULL : d->syn.reason;
    r->greylist_wait_s = d->greylist_wait_s;
    r->karma_counted = d->karma_counted;
    r->karma_total = d->karma_total;
    r->blocked_file = E.cfg->policy.blocked_file;
    r->action = d->action;
    r->reply = d->reply[0] ? d->reply : NULL;
}

/* Hands the decided connection to the worker, which logs it once p0f answered; false when
 * no slot or no worker could take it (the line then goes out now, without p0f's fields). */
static bool leave_line_to_worker(const struct endpoint *remote, const struct endpoint *local,
                                 const struct syn_decision *d)
{
    struct syn_decision *copy = malloc(sizeof(*copy));
    bool report = false;
    if (copy == NULL)
        return false;
    *copy = *d;
    uint64_t now = now_ns();
    pthread_mutex_lock(&E.lock);
    struct pending *p = slot_take_locked(remote, local, now, &report);
    if (p) {
        /* No socket of the host's is kept or looked at: p0f is asked by address only. */
        p->vetted = true;
        p->decided = copy;
        if (!(E.sleep_until_ns <= now + COALESCE_NS || E.reply_expected_until_ns > now))
            wake_worker_locked();
    }
    pthread_mutex_unlock(&E.lock);
    if (report)
        wake_worker_to_report();
    if (p == NULL)
        free(copy);
    return p != NULL;
}

enum hold_reply engine_judge_syn(const struct endpoint *remote, const struct endpoint *local,
                                 const struct syn_reading *syn, bool ask_p0f)
{
    struct syn_decision d = {.syn = *syn};
    struct verdict_result v;
    struct source_view view = {LOOKUP_NO_OS, NULL, true};
    if (syn->status == SYN_MATCHED && syn->match.os)
        view = (struct source_view){LOOKUP_OS_KNOWN, syn->match.genre, true};
    struct verdict_request rq = {
        .cfg = E.cfg, .peer = remote, .views = &view, .nviews = 1, .greylist = engine_greylist_check,
        .karma = engine_karma_count,
    };
    verdict_decide(&rq, &v);
    d.judgement = v.judgement;
    d.greylist_wait_s = v.greylist_wait_s;
    d.karma_counted = v.karma_counted;
    d.karma_total = v.karma_total;
    /* The refusal is made by the caller, before the host sees the connection: as a hold-mode
     * accept() that was handed its verdict. */
    d.action = verdict_action(E.cfg, &v, true, d.reply, sizeof(d.reply));

    if (!(ask_p0f && leave_line_to_worker(remote, local, &d))) {
        struct connection_report r = {0};
        struct logfmt line;
        syn_decision_report(&d, remote, local, &r);
        logfmt_connection(&line, &r);
        syslog_writer_send_now(E.log, LOG_INFO, line.text);
    }
    return verdict_refuses(&v) ? v.reply_kind : HOLD_PASS;
}
