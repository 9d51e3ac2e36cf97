/* A verdict from the client's saved SYN, inside accept() (engine.h): the same decision as the
 * worker's (verdict.h), made on the host's thread, with no duplicate, no p0f and no wait. The
 * line goes out from here with one non-blocking send; with fingerprint syn+p0f it is left to
 * the worker instead, which adds what only p0f knows (uptime, total_conn, the v2_ fields)
 * when p0f answers or at timeout_ms, and never changes the verdict. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "engine_state.h"
#include "logfmt.h"
#include "verdict.h"

/* The verdict's part of a SYN decision (everything but the SYN itself). */
struct syn_verdict {
    struct judgement judgement;
    long greylist_wait_s;
    bool karma_counted;
    long long karma_total;
    const char *action;
    const char *reply;       /* NULL: none */
};

static void fill_report(const struct syn_reading *syn, const struct syn_verdict *sv, const struct endpoint *remote,
                        const struct endpoint *local, struct connection_report *r)
{
    r->remote = *remote;
    r->local = *local;
    r->judgement = sv->judgement;
    r->fp = FP_SOURCE_SYN;
    r->syn = syn->status == SYN_MATCHED ? &syn->match : NULL;
    r->fp_reason = syn->status == SYN_MATCHED ? NULL : syn->reason;
    r->greylist_wait_s = sv->greylist_wait_s;
    r->karma_counted = sv->karma_counted;
    r->karma_total = sv->karma_total;
    r->blocked_file = E.cfg->policy.blocked_file;
    r->action = sv->action;
    r->reply = sv->reply;
}

/* The line of a connection the SYN decided; answer, answer_v2 and reasons from p0f when it was
 * asked as well. */
void syn_decision_report(const struct syn_decision *d, const struct endpoint *remote, const struct endpoint *local,
                         struct connection_report *r)
{
    struct syn_verdict sv = {d->judgement, d->greylist_wait_s, d->karma_counted, d->karma_total, d->action,
                             d->reply[0] ? d->reply : NULL};
    fill_report(&d->syn, &sv, remote, local, r);
}

/* Hands the decided connection to the worker, which logs it once p0f answered; false when
 * no slot or no worker could take it (copy is then the caller's to free). */
static bool leave_line_to_worker(const struct endpoint *remote, const struct endpoint *local,
                                 struct syn_decision *copy)
{
    bool report = false;
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
    return p != NULL;
}

/* The SYN and the verdict, as the worker will need them when p0f answers; NULL without memory. */
static struct syn_decision *decision_copy(const struct syn_reading *syn, const struct syn_verdict *sv)
{
    struct syn_decision *d = malloc(sizeof(*d));
    if (d == NULL)
        return NULL;
    d->syn = *syn;
    d->judgement = sv->judgement;
    d->greylist_wait_s = sv->greylist_wait_s;
    d->karma_counted = sv->karma_counted;
    d->karma_total = sv->karma_total;
    d->action = sv->action;
    snprintf(d->reply, sizeof(d->reply), "%s", sv->reply ? sv->reply : "");
    return d;
}

enum hold_reply engine_judge_syn(const struct endpoint *remote, const struct endpoint *local,
                                 const struct syn_reading *syn, bool ask_p0f)
{
    /* Only what is written is paid for: in a fork-per-connection server every stack page the
     * parent writes after a fork is copied, so nothing large is copied or cleared here. */
    struct verdict_result v;
    struct source_view view = {LOOKUP_NO_OS, NULL, true};
    char reply[256];
    if (syn->status == SYN_MATCHED && syn->match.os)
        view = (struct source_view){LOOKUP_OS_KNOWN, syn->match.genre, true};
    struct verdict_request rq = {
        .cfg = E.cfg, .peer = remote, .views = &view, .nviews = 1, .greylist = engine_greylist_check,
        .karma = engine_karma_count,
    };
    verdict_decide(&rq, &v);
    /* The refusal is made by the caller, before the host sees the connection: as a hold-mode
     * accept() that was handed its verdict. */
    struct syn_verdict sv = {v.judgement, v.greylist_wait_s, v.karma_counted, v.karma_total, NULL, NULL};
    sv.action = verdict_action(E.cfg, &v, true, reply, sizeof(reply));
    sv.reply = reply[0] ? reply : NULL;

    struct syn_decision *copy = ask_p0f ? decision_copy(syn, &sv) : NULL;
    if (copy && !leave_line_to_worker(remote, local, copy)) {
        free(copy);
        copy = NULL;
    }
    if (copy == NULL) {
        struct connection_report r;
        struct logfmt line;
        memset(&r, 0, sizeof(r));
        fill_report(syn, &sv, remote, local, &r);
        logfmt_connection(&line, &r);
        syslog_writer_send_now(E.log, LOG_INFO, line.text);
    }
    return verdict_refuses(&v) ? v.reply_kind : HOLD_PASS;
}
