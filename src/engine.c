/* The asynchronous lookup engine (engine.h): the accept path's side. engine_submit() takes
 * a private duplicate of each accepted connection and queues it for the worker thread
 * (engine_worker.c), which asks p0f and settles it; engine_wait() holds a hold-mode accept()
 * for the verdict. Fork handling keeps a forked child from using the parent's worker,
 * descriptors or greylist store. The modules of the engine and the state they share are
 * listed in engine_state.h. */
#include "altstack.h"
#include "engine.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "engine_state.h"
#include "fdband.h"
#include "hotmem.h"
#include "logfmt.h"
#include "mutant.h"
#include "p0fsock.h"
#include "redis_link.h"

struct engine E = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .greylist_lock = PTHREAD_MUTEX_INITIALIZER,
    .wake = {.fd = -1}, .p0f = {.fd = -1}, .v2 = {.fd = -1},
};

uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void diagnostic(int severity, struct rate_limit *rl, const char *msg, const char *key, const char *value)
{
    struct logfmt l;
    unsigned long suppressed = 0;
    if (rl && !rate_limit_allow(rl, (time_t)(now_ns() / 1000000000ull), &suppressed))
        return;
    logfmt_init(&l);
    logfmt_word(&l, "level", severity <= LOG_ERR ? "error" : "warning");
    logfmt_quoted(&l, "msg", msg);
    if (key)
        logfmt_quoted(&l, key, value);
    if (suppressed)
        logfmt_int(&l, "suppressed", (long long)suppressed);
    /* Also called from the host's threads (the greylist store inside accept()): never wait. */
    syslog_writer_send_now(E.log, severity, l.text);
}

static bool root_changed(void)
{
    struct stat st;
    return stat("/", &st) == 0 && (st.st_dev != E.root_dev || st.st_ino != E.root_ino);
}

static bool p0f_peer_trusted(int fd, char *why, size_t why_size)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
        snprintf(why, why_size, "p0f peer credentials: %s", strerror(errno));
        return false;
    }
    if (p0fsock_peer_trusted(cred.uid, E.cfg->p0f_uid))
        return true;
    p0fsock_untrusted_reason(why, why_size, cred.uid, cred.pid);
    return false;
}

int engine_p0f_open(const char *path, const char *label, char *why, size_t why_size)
{
    char msg[64];
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd >= 0)
        fd = fdband_move(fd);
    if (fd < 0) {
        snprintf(why, why_size, "%s socket: %s", label, strerror(errno));
        return -1;
    }
    if (p0fsock_connect(fd, path, root_changed()) != 0) {
        snprintf(why, why_size, "%s connect: %s", label, strerror(errno));
        snprintf(msg, sizeof(msg), "cannot reach %s", label);
        diagnostic(LOG_WARNING, &E.rl_p0f, msg, "reason", why);
        close(fd);
        return -1;
    }
    if (!p0f_peer_trusted(fd, why, why_size)) {
        diagnostic(LOG_ERR, &E.rl_p0f, "refusing a p0f socket not owned by root or p0f_user", "reason", why);
        close(fd);
        return -1;
    }
    return fd;
}

static void judged_cond_init(void)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&E.judged, &attr);
    pthread_condattr_destroy(&attr);
}

/* Under `fingerprint syn` the engine never holds a connection (no slot, no worker): the fork
 * handlers then leave E alone. A write to E in the parent after each fork would copy its page
 * (and, on a VM, flush the TLB of the other CPUs): measured, each such page costs a
 * fork-per-connection server ~5% of its connections/s. */
static bool engine_holds_connections(void)
{
    return E.cfg == NULL || E.cfg->fingerprint != FINGERPRINT_SYN;
}

static void atfork_prepare(void)
{
    altstack_before_fork();
    if (engine_holds_connections())
        pthread_mutex_lock(&E.lock);
}

static void atfork_parent(void)
{
    if (engine_holds_connections()) {
        E.forks++;
        pthread_mutex_unlock(&E.lock);
    }
}

/* Whether a forked child has anything of the engine's to reset: a lock the fork handlers
 * held, a worker, connections or sockets held, a store. Only read: a child of a
 * fork-per-connection server under `fingerprint syn` (none of these) writes no page here. */
static bool engine_has_process_state(void)
{
    return engine_holds_connections() || E.greylist || E.karma || E.worker_pid != 0 || E.slots_ready ||
           E.p0f.fd >= 0 || E.v2.fd >= 0 || E.wake.fd >= 0;
}

/* The child has no worker: it gives back every fd the shim held (they are the
 * parent's business) and starts afresh when it accepts a connection itself. */
static void atfork_child(void)
{
    /* The log writer and the regexes become the child's own when it first uses them. */
    hotmem_after_fork_child();
    if (!engine_has_process_state())
        return;
    pthread_mutex_init(&E.lock, NULL);
    pthread_mutex_init(&E.greylist_lock, NULL);
    judged_cond_init();
    /* Redis stores: the child makes its own connection when it first asks. */
    redis_link_each_shared(redis_link_after_fork_child);
    if (E.greylist && !greylist_survives_fork(E.greylist)) {
        /* LMDB environments must not be used across fork(): give back the child's copies of
         * its descriptors (the parent's reader slots and locks are untouched). */
        greylist_close(E.greylist);
        E.greylist = NULL;
        snprintf(E.greylist_error, sizeof(E.greylist_error),
                 "the store was opened by the parent process (pre-forked accept is not supported)");
    }
    /* Read, not written: writing into the table would copy its pages into every child
     * of a fork-per-connection server. */
    if (E.slots_ready)
        for (size_t i = 0; i < E.nactive; i++) {
            struct owned_fd conn = E.slots[E.active[i]].conn;
            if (!P0FSHIM_MUTANT_FORKLEAK)
                owned_fd_release(&conn);
        }
    /* The table is set up afresh (a large memset) only if this child accepts itself:
     * a fork per connection must not pay for it. */
    E.slots_ready = false;
    owned_fd_release(&E.p0f);
    owned_fd_release(&E.v2);
    owned_fd_release(&E.wake);
    E.worker_pid = 0;
    E.worker_retry_after_ns = 0;
    E.worker_retry_ms = 0;
    E.worker_sleeping = E.wake_pending = false;
    E.fifo_head = E.fifo_count = E.out_len = E.in_len = 0;
}

void engine_setup(const struct config *cfg, struct syslog_writer *log)
{
    struct stat root;
    E.cfg = cfg;
    E.log = log;
    judged_cond_init();
    if (cfg->greylist_os) {
        /* Opened now, before the daemon chroots; LMDB keeps its files open. */
        struct diag err = {0};
        if (greylist_open(&E.greylist, &cfg->greylist, &err) != 0) {
            E.greylist = NULL;
            snprintf(E.greylist_error, sizeof(E.greylist_error), "%s", err.reason);
            diagnostic(LOG_ERR, NULL, "cannot open the greylist store; greylisting is off", "reason", err.reason);
        }
    }
    if (cfg->karma.store.set) {
        /* hiredis is loaded now, before the daemon chroots; the connection is made lazily. */
        char why[256];
        if (karma_open(&E.karma, &cfg->karma, cfg->store_timeout_ms, why, sizeof(why)) != 0) {
            E.karma = NULL;
            diagnostic(LOG_ERR, NULL, "cannot set up the karma store; fleet karma is off", "reason", why);
        }
    }
    if (stat("/", &root) == 0) {
        E.root_dev = root.st_dev;
        E.root_ino = root.st_ino;
    }
    /* A child handler runs in every child, in code and data pages the child does not have yet
     * (each a page fault there): left out where a child has nothing to do, verdicts from the SYN
     * alone (the engine never holds a connection, no store) on a kernel that wipes hotmem's
     * process page. */
    bool child_has_work = engine_holds_connections() || cfg->greylist_os || cfg->karma.store.set ||
                          !hotmem_wipes_on_fork();
    pthread_atfork(atfork_prepare, atfork_parent, child_has_work ? atfork_child : NULL);
}

bool engine_greylist_check(void *unused, const struct endpoint *peer, struct greylist_result *out)
{
    (void)unused;
    if (E.greylist == NULL) {
        diagnostic(LOG_WARNING, &E.rl_store, "greylisting is unavailable; host passed", "reason",
                   E.greylist_error);
        return false;
    }
    if (greylist_survives_fork(E.greylist)) {
        /* Redis: the link serialises its callers itself, within store_timeout_ms. */
        greylist_check(E.greylist, peer, time(NULL), out);
    } else {
        /* LMDB: one thread of the process at a time, each waiting at most as long as for
         * other processes' writes (greylist.c's gate). */
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += GREYLIST_WRITER_WAIT_MAX_MS / 1000;
        until.tv_nsec += (GREYLIST_WRITER_WAIT_MAX_MS % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        if (pthread_mutex_clocklock(&E.greylist_lock, CLOCK_MONOTONIC, &until) != 0) {
            memset(out, 0, sizeof(*out));
            out->outcome = GREYLIST_FAILED;
            snprintf(out->error, sizeof(out->error), "greylist store: another thread has held it for %d ms",
                     GREYLIST_WRITER_WAIT_MAX_MS);
        } else {
            greylist_check(E.greylist, peer, time(NULL), out);
            pthread_mutex_unlock(&E.greylist_lock);
        }
    }
    if (out->outcome == GREYLIST_FAILED)
        diagnostic(LOG_ERR, &E.rl_store, "greylist store failed; host passed", "reason", out->error);
    return true;
}

bool engine_karma_count(void *unused, const struct endpoint *peer, unsigned hits, long long *total)
{
    char why[256];
    (void)unused;
    if (E.karma == NULL)
        return false;
    if (karma_count(E.karma, peer, time(NULL), hits, total, why, sizeof(why)) != 0) {
        diagnostic(LOG_ERR, &E.rl_store, "karma store failed; karma is off for the host", "reason", why);
        return false;
    }
    return true;
}

/* A connection passed unjudged on the accept path: the worker says so (started if need
 * be: the first connection may be the one that failed). */
void wake_worker_to_report(void)
{
    pthread_mutex_lock(&E.lock);
    bool started = worker_start_locked();
    if (started)
        wake_worker_locked();
    pthread_mutex_unlock(&E.lock);
    /* No worker (at the descriptor limit even its wake-up eventfd cannot be made): say it
     * from here, once a minute, without waiting for the log receiver. */
    if (!started)
        report_accept_path_failures();
}

void engine_drain_at_exit(void)
{
    uint64_t give_up = 0;
    pthread_mutex_lock(&E.lock);
    bool ours = E.worker_pid == getpid() && E.slots_ready;
    for (size_t k = 0; ours && k < E.nactive; k++)
        if (E.slots[E.active[k]].deadline_ns > give_up)
            give_up = E.slots[E.active[k]].deadline_ns;
    pthread_mutex_unlock(&E.lock);
    if (!ours || give_up == 0)
        return;
    int saved = errno;
    for (;;) {
        pthread_mutex_lock(&E.lock);
        bool idle = E.nfree == ENGINE_PENDING_MAX;
        pthread_mutex_unlock(&E.lock);
        if (idle || now_ns() >= give_up + LOG_WAIT_MS * NS_PER_MS)
            break;
        struct timespec tick = {0, 1000000};
        nanosleep(&tick, NULL);
    }
    errno = saved;
}

struct engine_ticket engine_submit(int fd, const struct endpoint *remote, const struct endpoint *local, bool hold,
                                   bool inherited)
{
    struct owned_fd conn;
    struct engine_ticket none = {.valid = false}, ticket = none;
    int saved = errno;
    uint64_t now = now_ns();

    /* The limit is read every time: a host may lower it after its first accept (a
     * pre-forked child), and the shim must never be the reason its next open() fails. */
    int floor = fdband_floor();
    int dup_fd = P0FSHIM_MUTANT_NODUP ? fd : floor < 0 ? -1 : fcntl(fd, F_DUPFD_CLOEXEC, floor);
    if (dup_fd < 0) {
        if (floor < 0 || errno == EMFILE || errno == EINVAL) {
            atomic_fetch_add(&E.near_fd_limit, 1);
        } else {
            atomic_store(&E.dup_errno, errno);
            atomic_fetch_add(&E.dup_failed, 1);
        }
        wake_worker_to_report();
        errno = saved;
        return none;
    }
    if (owned_fd_take(dup_fd, &conn) != 0) {
        atomic_store(&E.dup_errno, errno);
        atomic_fetch_add(&E.dup_failed, 1);
        close(dup_fd);
        wake_worker_to_report();
        errno = saved;
        return none;
    }

    pthread_mutex_lock(&E.lock);
    if (!E.slots_ready)
        slots_init_locked();
    bool crowded = fdband_host_inside(floor, dup_fd, (unsigned)E.nactive), report = crowded;
    struct pending *p = crowded ? NULL : slot_take_locked(remote, local, now, &report);
    if (p == NULL) {
        pthread_mutex_unlock(&E.lock);
        close(dup_fd);
        if (crowded)
            atomic_fetch_add(&E.near_fd_limit, 1);
        if (report)
            wake_worker_to_report();
        errno = saved;
        return none;
    }
    p->conn = conn;
    p->host_fd = fd;
    p->held = hold;
    p->inherited = inherited;
    if (!inherited)
        watch_fd(fd);
    ticket = (struct engine_ticket){.valid = true, .slot = (uint32_t)(p - E.slots), .generation = p->generation};
    /* No wake-up when the sleeping worker will look at this connection within COALESCE_NS
     * anyway: its timer ends by then, or a p0f reply is on its way. (Not "by the first
     * query's time": the worker may find, once it sees the handshake's round trip, that
     * the query is due at once.) */
    if (hold || !(E.sleep_until_ns <= now + COALESCE_NS || E.reply_expected_until_ns > now))
        wake_worker_locked();
    pthread_mutex_unlock(&E.lock);
    errno = saved;
    return ticket;
}

struct pending *slot_take_locked(const struct endpoint *remote, const struct endpoint *local, uint64_t now,
                                 bool *report)
{
    *report = false;
    if (!E.slots_ready)
        slots_init_locked();
    if (E.nfree == 0) {
        atomic_fetch_add(&E.overflowed, 1);
        wake_worker_locked();
        return NULL;
    }
    if (!worker_start_locked()) {
        atomic_fetch_add(&E.no_worker, 1);
        *report = true;
        return NULL;
    }
    uint32_t idx = E.free_stack[--E.nfree];
    struct pending *p = &E.slots[idx];
    uint32_t generation = p->generation + 1;
    *p = (struct pending){
        .used = true,
        .active_pos = (uint32_t)E.nactive,
        .generation = generation,
        .conn = {.fd = -1},
        .host_fd = -1,
        .forks_at_submit = E.forks,
        .remote = *remote,
        .local = *local,
        .accepted_ns = now,
        .deadline_ns = now + (uint64_t)E.cfg->timeout_ms * NS_PER_MS,
        .v3 = {.active = E.cfg->v3.enabled, .retry_ms = ENGINE_RETRY_FIRST_MS},
        .v2 = {.active = E.cfg->v2.enabled, .next_query_ns = now, .retry_ms = ENGINE_RETRY_FIRST_MS},
    };
    E.active[E.nactive++] = idx;
    /* The SYN came one round trip before accept(); the worker knows that round trip
     * (vet_locked) and corrects this. */
    first_query_schedule(&E.timing, &p->v3, now, now, now);
    /* p0f v2 knows IPv4 only: an IPv6 peer is unknown to it from the start. */
    if (p->v2.active && (remote->family != AF_INET || (!E.cfg->v2.has_local_ip && local->family != AF_INET))) {
        p->v2.done = true;
        p->v2.outcome = LOOKUP_NO_MATCH;
        lookup_set_reason(&p->v2, "p0f v2 is IPv4-only");
    }
    E.submissions++;
    /* An average, so that two connections that happen to come close together do not make
     * a stream (and make a lone connection wait for the timer). Another accepting thread
     * may have read a later clock and taken the lock first: no negative gaps. */
    uint64_t gap = now > E.last_submit_ns ? now - E.last_submit_ns : 0;
    if (gap > 16 * COALESCE_NS)
        gap = 16 * COALESCE_NS;   /* a quiet hour weighs like a quiet 16 ms */
    E.arrival_gap_ns = gap >= E.arrival_gap_ns ? E.arrival_gap_ns + (gap - E.arrival_gap_ns) / 8
                                               : E.arrival_gap_ns - (E.arrival_gap_ns - gap) / 8;
    E.streaming = E.arrival_gap_ns < COALESCE_NS;
    if (now > E.last_submit_ns)
        E.last_submit_ns = now;
    return p;
}

/* Cancellation of the waiting thread (pthread_cond_timedwait is a cancellation point): the
 * wait re-took the lock before this runs. The connection goes on asynchronously, as after
 * a hold that timed out; the lock is given back, or the process would deadlock. */
static void wait_cancelled(void *arg)
{
    const struct engine_ticket *t = arg;
    struct pending *p = &E.slots[t->slot];
    if (p->used && p->generation == t->generation) {
        if (p->judged)
            slot_free_locked(t->slot);
        else
            p->held = false;
    }
    pthread_mutex_unlock(&E.lock);
}

enum hold_reply engine_wait(struct engine_ticket t, unsigned hold_ms, int cancel_state)
{
    /* volatile: pthread_cleanup_push saves a jump buffer, and reply changes after it. */
    volatile enum hold_reply reply = HOLD_PASS;
    struct timespec until;
    int saved = errno, ignored;

    if (!t.valid)
        return HOLD_PASS;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += hold_ms / 1000;
    until.tv_nsec += (long)(hold_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&E.lock);
    pthread_cleanup_push(wait_cancelled, &t);
    struct pending *p = &E.slots[t.slot];
    while (p->used && p->generation == t.generation && !p->judged) {
        /* The host's thread may be cancelled while it waits, as in the accept() it called,
         * and only there: nowhere else does it hold the lock at a cancellation point. */
        pthread_setcancelstate(cancel_state, &ignored);
        int rc = pthread_cond_timedwait(&E.judged, &E.lock, &until);
        pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &ignored);
        if (rc == ETIMEDOUT)
            break;
    }
    if (p->used && p->generation == t.generation) {
        if (p->judged) {
            reply = p->reply;
            slot_free_locked(t.slot);
        } else {
            /* Fail open: the MTA gets the connection now; a verdict arriving later acts
             * on it asynchronously, as in async mode. */
            p->held = false;
        }
    }
    pthread_cleanup_pop(0);
    pthread_mutex_unlock(&E.lock);
    errno = saved;
    return reply;
}

size_t engine_reply_text(enum hold_reply kind, char *buf, size_t size)
{
    return action_reply_text(E.cfg, kind, buf, size);
}
