/* The engine's worker thread, one per process that accepts: each pass reports the accept
 * path's failures, settles what reached its deadline, answers from the cache what it can,
 * asks p0f (v3 pipelined, v2 one at a time) what is due, sends the batched lines, then sleeps
 * in ppoll() until a reply, a new connection's doorbell (the eventfd) or its next timer. It
 * blocks every signal, so the host's handlers never run on it, and under a stream of
 * connections it yields to the host's accept loop (SCHED_BATCH). */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "engine_state.h"
#include "fdband.h"
#include "mutant.h"

/* Under E.lock. */
static bool wake_open_locked(void)
{
    int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (fd >= 0)
        fd = fdband_move(fd);
    if (fd < 0) {
        snprintf(E.worker_error, sizeof(E.worker_error), "cannot create the wake-up eventfd: %s", strerror(errno));
        return false;
    }
    if (owned_fd_take(fd, &E.wake) != 0) {
        close(fd);
        E.wake.fd = -1;
        return false;
    }
    return true;
}

/* One counter's report: printed when its rate limit allows, with everything counted
 * since the last line; until then the count keeps growing. Returns when it may print
 * next if something is still waiting, else UINT64_MAX. */
static uint64_t report_counter(atomic_ulong *counter, struct rate_limit *rl, const char *msg, const char *detail)
{
    char value[256];
    unsigned long suppressed;
    unsigned long n = atomic_load(counter);
    uint64_t now = now_ns();
    time_t now_s = (time_t)(now / 1000000000ull);
    if (n == 0)
        return UINT64_MAX;
    if (rl->started && now_s - rl->last < RATE_LIMIT_PERIOD_S)
        return (uint64_t)(rl->last + RATE_LIMIT_PERIOD_S) * 1000000000ull;
    rate_limit_allow(rl, now_s, &suppressed);
    atomic_fetch_sub(counter, n);
    if (detail)
        snprintf(value, sizeof(value), "%lu (%s)", n, detail);
    else
        snprintf(value, sizeof(value), "%lu", n);
    diagnostic(LOG_WARNING, NULL, msg, "count", value);
    return UINT64_MAX;
}

uint64_t report_accept_path_failures(void)
{
    uint64_t a = report_counter(&E.overflowed, &E.rl_overflow,
                                "too many connections awaiting a verdict; passed unjudged", NULL);
    uint64_t b = report_counter(&E.dup_failed, &E.rl_dup, "cannot duplicate accepted sockets; passed unjudged",
                                strerror(atomic_load(&E.dup_errno)));
    uint64_t c = report_counter(&E.near_fd_limit, &E.rl_headroom,
                                "near the descriptor limit; connections passed unjudged", NULL);
    char why[sizeof(E.worker_error)];
    pthread_mutex_lock(&E.lock);
    snprintf(why, sizeof(why), "%s", E.worker_error);
    pthread_mutex_unlock(&E.lock);
    uint64_t d = report_counter(&E.no_worker, &E.rl_no_worker, "no lookup thread; connections passed unjudged", why);
    uint64_t next = a < b ? a : b;
    next = next < c ? next : c;
    return next < d ? next : d;
}

static void consider(const struct pending *p, const struct lookup *l, uint64_t now, uint64_t *next, bool *due)
{
    if (!l->active || l->done || l->in_flight)
        return;
    if (l->next_query_ns <= now)
        *due = true;
    else if (l->next_query_ns < *next)
        *next = l->next_query_ns;
    (void)p;
}

/* Settles what reached its deadline; says which sources have queries due. Returns the
 * next wake-up time. */
static uint64_t plan(uint64_t now, uint32_t *expired, size_t *nexpired, bool *v3_due, bool *v2_due,
                     uint64_t *seen)
{
    uint64_t next = UINT64_MAX;
    const char *v3_error = E.p0f_error[0] ? E.p0f_error : "p0f timeout";
    const char *v2_error = E.v2_error[0] ? E.v2_error : "p0f v2 timeout";
    *nexpired = 0;
    *v3_due = *v2_due = false;
    pthread_mutex_lock(&E.lock);
    *seen = E.submissions;
    /* Backwards: a slot dropped here is replaced by the last one, already seen. */
    for (size_t k = E.nactive; k-- > 0;) {
        uint32_t i = E.active[k];
        struct pending *p = &E.slots[i];
        if (p->judged || p->finished)   /* a hold-mode accept() or flush_verdicts() takes it from here */
            continue;
        if (!p->vetted && !vet_locked(i, now))
            continue;
        if (host_still_holds_locked(p) && now + HOST_CLOSE_CHECK_NS < next)
            next = now + HOST_CLOSE_CHECK_NS;
        /* all_done here: no source had anything to ask (an IPv6 peer and only p0f v2). */
        if (now >= p->deadline_ns || all_done(p)) {
            /* A query may still be in flight: its reply is matched to nothing and dropped. */
            lookup_expire(&p->v3, v3_error);
            lookup_expire(&p->v2, v2_error);
            expired[(*nexpired)++] = i;
            continue;
        }
        if (p->deadline_ns < next)
            next = p->deadline_ns;
        consider(p, &p->v3, now, &next, v3_due);
        consider(p, &p->v2, now, &next, v2_due);
    }
    pthread_mutex_unlock(&E.lock);
    return next;
}

static void drain_wake(void)
{
    uint64_t count;
    if (owned_fd_still(&E.wake))
        (void)!read(E.wake.fd, &count, sizeof(count));
}

/* A daemon that closed "all fds" took our eventfd: polling its number would spin or
 * steal its input, so open a new one. Without it the worker still runs on timeouts. */
static void ensure_wake(void)
{
    pthread_mutex_lock(&E.lock);
    if (!owned_fd_still(&E.wake)) {
        owned_fd_release(&E.wake);
        if (!wake_open_locked())
            diagnostic(LOG_WARNING, &E.rl_worker, "cannot reopen the wake-up eventfd", NULL, NULL);
    }
    pthread_mutex_unlock(&E.lock);
}

/* Brings every pending v3 lookup's deadline to now: the next plan() settles them. */
static void settle_waiting_now(uint64_t now)
{
    pthread_mutex_lock(&E.lock);
    for (size_t k = 0; k < E.nactive; k++) {
        struct pending *p = &E.slots[E.active[k]];
        if (!p->judged && p->v3.active && !p->v3.done && p->deadline_ns > now)
            p->deadline_ns = now;
    }
    pthread_mutex_unlock(&E.lock);
}

/* Under a stream of connections the worker runs SCHED_BATCH: the same share of the CPU,
 * but when it wakes it never preempts the thread running where it lands; it runs when that
 * thread blocks or its slice ends, so the host's accept loop goes first and the worker finds
 * more work per pass. Between streams it is an ordinary thread again, so that a lone
 * connection's verdict is not kept waiting. Only from and back to SCHED_OTHER: a host that
 * runs real-time keeps the policy it gave the worker. */
struct worker_policy {
    bool fixed;              /* not SCHED_OTHER to begin with, or a change failed: left alone */
    bool polite;             /* SCHED_BATCH now */
};

static void worker_set_polite(struct worker_policy *w, bool polite)
{
    int policy;
    struct sched_param param;
    if (w->fixed || polite == w->polite)
        return;
    if (pthread_getschedparam(pthread_self(), &policy, &param) != 0 ||
        policy != (w->polite ? SCHED_BATCH : SCHED_OTHER)) {
        w->fixed = true;
        return;
    }
    param.sched_priority = 0;
    if (pthread_setschedparam(pthread_self(), polite ? SCHED_BATCH : SCHED_OTHER, &param) == 0)
        w->polite = polite;
    else
        w->fixed = true;
}

static void *worker_main(void *unused)
{
    static uint32_t expired[ENGINE_PENDING_MAX];
    struct worker_policy policy = {0};   /* a new thread has its creator's: SCHED_OTHER in an MTA */
    int ignored;
    (void)unused;
    /* The library's own thread: nobody may cancel it half-way through the engine's state (a
     * host that cancels every thread it finds, or a stray pthread_cancel). */
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &ignored);

    for (;;) {
        uint64_t now = now_ns();
        size_t nexpired;
        bool v3_due, v2_due;
        uint64_t seen;

        uint64_t report_at = report_accept_path_failures();
        uint64_t next = plan(now, expired, &nexpired, &v3_due, &v2_due, &seen);
        if (report_at < next)
            next = report_at;
        for (size_t i = 0; i < nexpired; i++)
            settle(expired[i], now);
        if (E.v2.fd >= 0) {
            /* The query in flight belongs to a connection whose deadline passed. */
            pthread_mutex_lock(&E.lock);
            const struct pending *p = &E.slots[E.v2_slot];
            bool stale = !p->used || p->generation != E.v2_generation;
            pthread_mutex_unlock(&E.lock);
            if (stale) {
                snprintf(E.v2_error, sizeof(E.v2_error), "p0f v2 timeout");
                p0f2_abort(now);
            }
        }
        bool need_p0f = p0f3_answer_from_cache(now);
        v3_due = v3_due && need_p0f;
        if (v3_due && p0f3_connect(now)) {
            p0f3_queue_due(now);
            p0f3_flush(now);
        } else if (v3_due && E.cfg->mode == MODE_HOLD) {
            /* p0f is unreachable: an accept() held for a verdict must not wait out
             * hold_ms for nothing. Settle now (fail open, with p0f's error). */
            settle_waiting_now(now);
            next = now;
        } else if (v3_due && E.p0f_retry_after_ns < next) {
            next = E.p0f_retry_after_ns;
        }
        if (v2_due) {
            p0f2_start_due(now);
            if (E.v2.fd < 0 && E.v2_retry_after_ns > now && E.v2_retry_after_ns < next)
                next = E.v2_retry_after_ns;
        }
        settle_flush();   /* before p0f3_idle_close(): it frees the slots */
        next = p0f3_idle_close(now, next);
        if (E.wake.fd < 0) {
            /* No doorbell (it could not be reopened): look again every 10 ms meanwhile. */
            ensure_wake();
            if (E.wake.fd < 0 && now + 10 * NS_PER_MS < next)
                next = now + 10 * NS_PER_MS;
        }

        /* Identities are checked when an fd reports an event, before it is read: an idle
         * loop costs no fstat. A number the host took over is dropped there. */
        struct pollfd fds[3] = {{.fd = E.wake.fd, .events = POLLIN}, {.fd = E.p0f.fd}, {.fd = E.v2.fd}};
        fds[1].events = (short)(POLLIN | (E.out_len ? POLLOUT : 0));
        fds[2].events = POLLIN;
        struct timespec wait, *timeout = NULL;
        now = now_ns();

        pthread_mutex_lock(&E.lock);
        E.reply_expected_until_ns = 0;
        if (E.p0f.fd >= 0 && E.fifo_count > 0) {
            uint64_t expected = E.fifo[E.fifo_head].queued_ns + REPLY_EXPECTED_NS;
            if (expected > now) {
                E.reply_expected_until_ns = expected;
                if (expected < next)
                    next = expected;
            }
        }
        if (E.streaming) {
            /* A whole period without a new connection ends the stream. */
            if (now >= E.last_submit_ns + COALESCE_NS)
                E.streaming = false;
            else if (now + COALESCE_NS < next)
                next = now + COALESCE_NS;
        }
        E.sleep_until_ns = next;
        E.worker_sleeping = true;
        bool new_work = E.wake_pending || E.submissions != seen;
        bool streaming = E.streaming;
        pthread_mutex_unlock(&E.lock);
        worker_set_polite(&policy, streaming);
        if (new_work)
            next = now;
        if (next != UINT64_MAX) {
            uint64_t ns = next <= now ? 0 : next - now;
            wait = (struct timespec){.tv_sec = (time_t)(ns / 1000000000ull), .tv_nsec = (long)(ns % 1000000000ull)};
            timeout = &wait;
        }
        int ready = ppoll(fds, 3, timeout, NULL);
        pthread_mutex_lock(&E.lock);
        E.worker_sleeping = false;
        E.wake_pending = false;
        pthread_mutex_unlock(&E.lock);

        if (ready <= 0)
            continue;
        if (fds[0].revents) {
            ensure_wake();
            drain_wake();
        }
        now = now_ns();
        if (fds[1].fd >= 0 && fds[1].revents && E.p0f.fd == fds[1].fd) {
            if (!owned_fd_still(&E.p0f)) {
                E.p0f.fd = -1;   /* the host's now: not ours to read or close */
                p0f3_disconnect(now);
            } else {
                if (fds[1].revents & (POLLIN | POLLHUP | POLLERR))
                    p0f3_read(now);
                if (E.p0f.fd >= 0 && (fds[1].revents & POLLOUT))
                    p0f3_flush(now);
            }
        }
        if (fds[2].fd >= 0 && fds[2].revents && E.v2.fd == fds[2].fd) {
            if (!owned_fd_still(&E.v2)) {
                E.v2.fd = -1;
                snprintf(E.v2_error, sizeof(E.v2_error), "p0f v2 connection lost");
                p0f2_abort(now);
            } else {
                p0f2_read(now);
            }
        }
    }
    return NULL;
}

/* Under E.lock. Signals are blocked in the worker so the host's handlers never run on
 * it; the caller's mask is restored at once. */
bool worker_start_locked(void)
{
    pthread_t thread;
    pthread_attr_t attr;
    sigset_t all, saved;
    int rc;

    if (E.worker_pid != 0)   /* zeroed in a forked child by atfork_child */
        return true;
    if (!E.slots_ready)
        slots_init_locked();
    uint64_t now = now_ns();
    if (now < E.worker_retry_after_ns || !wake_open_locked())
        return false;
    /* In a forked child, the parent's lines still waiting there are the parent's to send
     * (cleared here, not in the fork handler, which must not write the batch's pages). */
    settle_reset();
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, WORKER_STACK_SIZE);
    if (P0FSHIM_MUTANT_SIGMASK)
        sigemptyset(&all);
    else
        sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &saved);
    rc = pthread_create(&thread, &attr, worker_main, NULL);
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        /* Threads may be short for a moment only (a host at its RLIMIT_NPROC, a cgroup's
         * pids.max): try again later, less often each time. The accept path reports the
         * connections passed meanwhile (no logging here: the host's thread holds the lock). */
        owned_fd_release(&E.wake);
        E.worker_retry_ms = E.worker_retry_ms == 0 ? WORKER_RETRY_FIRST_MS
                            : E.worker_retry_ms * 2 > WORKER_RETRY_MAX_MS ? WORKER_RETRY_MAX_MS
                                                                          : E.worker_retry_ms * 2;
        E.worker_retry_after_ns = now + E.worker_retry_ms * NS_PER_MS;
        snprintf(E.worker_error, sizeof(E.worker_error), "cannot start the lookup thread: %s (next attempt in %u ms)",
                 strerror(rc), E.worker_retry_ms);
        return false;
    }
    E.worker_pid = getpid();
    E.worker_retry_ms = 0;
    return true;
}

/* Under E.lock. */
void wake_worker_locked(void)
{
    static const uint64_t one = 1;
    if (E.worker_sleeping && !E.wake_pending && owned_fd_still(&E.wake)) {
        E.wake_pending = true;
        (void)!write(E.wake.fd, &one, sizeof(one));
    }
}
