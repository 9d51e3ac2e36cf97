/* A connection's end in the engine: once its lookups are done (or its deadline passed), the
 * verdict is decided (verdict.h), handed to a hold-mode accept() that waits for it, or else
 * applied here (a refused connection is shut down), and its line is logged. Lines are sent in
 * batches, once per pass of the worker or when the batch is full; the slots, and so the
 * duplicates, are kept until their lines went out, so that engine_drain_at_exit() waiting for
 * the slots waits for the lines too. Worker only. */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <syslog.h>
#include <time.h>

#include "engine_state.h"
#include "logfmt.h"
#include "mutant.h"
#include "verdict.h"

/* Verdicts whose log lines wait in the worker's batch. */
struct settled {
    uint32_t slot, generation;
    bool shut_after_log;     /* inherited (inetd mode): the program exits once it sees the shutdown */
};
static struct syslog_batch log_batch;
static struct settled settled[SYSLOG_BATCH_MAX];
static size_t nsettled;

void settle_reset(void)
{
    log_batch.n = nsettled = 0;
}

void settle_flush(void)
{
    syslog_batch_flush(E.log, &log_batch, LOG_WAIT_MS);
    pthread_mutex_lock(&E.lock);
    for (size_t i = 0; i < nsettled; i++) {
        struct pending *p = &E.slots[settled[i].slot];
        if (!p->used || p->generation != settled[i].generation)
            continue;
        if (settled[i].shut_after_log && owned_fd_still(&p->conn))
            shutdown(p->conn.fd, SHUT_RDWR);
        slot_free_locked(settled[i].slot);
    }
    pthread_mutex_unlock(&E.lock);
    nsettled = 0;
}

/* A connection the shim cuts off after the MTA had it: how far its client had got, so that
 * a block that came too late is not mistaken for one that worked. */
static void describe_cutoff(const struct pending *p, struct connection_report *report)
{
    struct tcp_progress progress;
    if (p->host_closed) {
        progress = p->progress;
        report->cutoff = CUTOFF_TOO_LATE;
    } else if (owned_fd_still(&p->conn) && tcp_progress_read(p->conn.fd, &progress)) {
        report->cutoff = progress.session_over         ? CUTOFF_TOO_LATE
                         : progress.bytes_received > 0 ? CUTOFF_AFTER_DATA
                                                       : CUTOFF_IN_TIME;
    } else {
        return;
    }
    report->client_sent_known = progress.bytes_known;
    report->client_sent = progress.bytes_received;
}

static void log_line(const struct logfmt *line)
{
    if (log_batch.n == SYSLOG_BATCH_MAX)
        settle_flush();
    syslog_batch_add(E.log, &log_batch, LOG_INFO, line->text);
}

/* A connection the SYN decided inside accept(): p0f's answer only adds its own fields to the
 * line (report holds them); the verdict stands and was acted on. */
static void settle_decided(uint32_t idx, const struct pending *p, struct connection_report *report, uint64_t now)
{
    struct logfmt line;
    const struct p0f3_answer *answer = report->answer;
    const struct p0f2_answer *answer_v2 = report->answer_v2;
    const char *reason = report->reason, *reason_v2 = report->reason_v2;
    syn_decision_report(p->decided, &p->remote, &p->local, report);
    report->answer = answer;
    report->answer_v2 = answer_v2;
    report->reason = reason;
    report->reason_v2 = reason_v2;
    report->elapsed_ms = (long)((now - p->accepted_ns) / NS_PER_MS);
    logfmt_connection(&line, report);
    log_line(&line);
    settled[nsettled++] = (struct settled){idx, p->generation, false};
}

/* Judges, acts and logs outside the lock. A connection a hold-mode accept() still waits
 * for is handed back to it (it replies and closes, and frees the slot); any other is
 * shut down here and its slot freed once its line went out. */
void settle(uint32_t idx, uint64_t now)
{
    static struct pending snapshot;   /* the worker's alone; too big for its small stack */
    struct connection_report report = {0};
    struct source_view views[2];
    size_t nviews = 0;
    struct verdict_result v;
    struct logfmt line;
    char genre3[2 * P0F3_STR_MAX];
    char reply[256];

    pthread_mutex_lock(&E.lock);
    snapshot = E.slots[idx];
    E.slots[idx].finished = true;
    pthread_mutex_unlock(&E.lock);

    genre3[0] = '\0';
    if (snapshot.v3.active) {
        bool known = snapshot.v3.outcome == LOOKUP_OS_KNOWN || snapshot.v3.outcome == LOOKUP_NO_OS;
        genre_format(&snapshot.a3, genre3, sizeof(genre3));
        views[nviews++] = (struct source_view){snapshot.v3.outcome, genre3, true};
        report.answer = known ? &snapshot.a3 : NULL;
        report.genre = known ? genre3 : NULL;
        report.reason = snapshot.v3.reason[0] ? snapshot.v3.reason : NULL;
    }
    if (snapshot.v2.active) {
        bool known = snapshot.v2.outcome == LOOKUP_OS_KNOWN || snapshot.v2.outcome == LOOKUP_NO_OS;
        /* qpsmtpd applies smite_os to the v3 genre only. */
        views[nviews++] = (struct source_view){snapshot.v2.outcome, snapshot.a2.genre, false};
        report.answer_v2 = known ? &snapshot.a2 : NULL;
        report.reason_v2 = snapshot.v2.reason[0] ? snapshot.v2.reason : NULL;
    }
    if (snapshot.decided) {
        settle_decided(idx, &snapshot, &report, now);
        return;
    }
    struct verdict_request rq = {
        .cfg = E.cfg, .peer = &snapshot.remote, .views = views, .nviews = nviews,
        .greylist = engine_greylist_check, .karma = engine_karma_count,
    };
    verdict_decide(&rq, &v);
    bool refuse = verdict_refuses(&v);

    /* Hand the verdict to a waiting hold-mode accept(), or learn that nobody waits. */
    bool handed = false;
    pthread_mutex_lock(&E.lock);
    struct pending *p = &E.slots[idx];
    if (p->used && p->generation == snapshot.generation && p->held) {
        p->judged = true;
        p->reply = v.reply_kind;
        handed = true;
        pthread_cond_broadcast(&E.judged);
    }
    pthread_mutex_unlock(&E.lock);

    report.fp = FP_SOURCE_P0F;
    report.judgement = v.judgement;
    report.greylist_wait_s = v.greylist_wait_s;
    report.karma_counted = v.karma_counted;
    report.karma_total = v.karma_total;
    report.remote = snapshot.remote;
    report.local = snapshot.local;
    report.elapsed_ms = (long)((now - snapshot.accepted_ns) / NS_PER_MS);
    report.blocked_file = E.cfg->policy.blocked_file;
    report.action = verdict_action(E.cfg, &v, handed, reply, sizeof(reply));
    if (reply[0])
        report.reply = reply;
    if (!handed && refuse)
        describe_cutoff(&snapshot, &report);
    logfmt_connection(&line, &report);
    /* A program that serves one inherited connection (inetd mode) exits as soon as it sees
     * the shutdown, and its worker with it: its line goes out first. Elsewhere the client
     * is cut off at once and the line follows with the batch. */
    bool shut = !handed && refuse && !snapshot.inherited && (P0FSHIM_MUTANT_NODUP || owned_fd_still(&snapshot.conn));
    if (shut)
        shutdown(snapshot.conn.fd, SHUT_RDWR);
    log_line(&line);
    if (!handed)
        settled[nsettled++] = (struct settled){idx, snapshot.generation, !shut && refuse};
    if (snapshot.inherited)
        settle_flush();
}
