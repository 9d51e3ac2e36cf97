#include "engine.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "fdband.h"
#include "greylist.h"
#include "learngrid.h"
#include "logfmt.h"
#include "p0f2.h"
#include "p0f3.h"
#include "p0fsock.h"
#include "policy.h"
#include "tcpprogress.h"

#define NS_PER_MS 1000000ull
#define WORKER_STACK_SIZE (256 * 1024)
/* While connections are pending, the worker looks this often whether the host still holds
 * each one: a connection the MTA closed must not be kept open by the shim's duplicate. */
#define HOST_CLOSE_CHECK_NS (1 * NS_PER_MS)
/* After pthread_create failed, the next attempt waits this long, doubling up to the maximum. */
#define WORKER_RETRY_FIRST_MS 100
#define WORKER_RETRY_MAX_MS (60 * 1000)
/* After p0f refused a connection or dropped one, wait this long before trying again. */
#define RECONNECT_DELAY_MS 10
/* How long the worker waits for a busy log receiver before it drops a line (and says so). */
#define LOG_WAIT_MS 200
#define FIRST_QUERY_DELAY_MAX_NS (5 * NS_PER_MS)   /* one p0f capture block */
#define FIRST_QUERY_DELAY_MIN_NS (250 * 1000ull)
/* After a predicted learning instant: p0f must still read the block and answer. */
#define GRID_GUARD_NS (200 * 1000ull)
/* A connection established this much longer before accept() than accept() is ago waited in
 * the accept queue (the kernel's clock for it ticks in jiffies: up to 10 ms). */
#define ACCEPT_QUEUE_SLACK_MS 10
/* Wake-up coalescing (async mode). A new connection does not wake the sleeping worker if
 * the worker's own timer ends within COALESCE_NS of the connection's first query time, and
 * while connections arrive less than COALESCE_NS apart the worker sleeps at most that long:
 * under a steady stream it wakes on its own timer and judges every connection that came
 * meanwhile, and accept() never pays for a wake-up (5-10 us on a VM, plus a context switch
 * per connection). The cost is at most COALESCE_NS on a verdict, below p0f's own lag: p0f
 * learns a host 1-5 ms after its SYN. Hold mode always wakes the worker at once. */
#define COALESCE_NS (1 * NS_PER_MS)
/* ... nor while queries are in flight: their replies wake it, in well under a millisecond
 * from a healthy p0f; it sleeps at most this long after the oldest was queued. */
#define REPLY_EXPECTED_NS (1 * NS_PER_MS)
/* Recent p0f answers by host: a client that opens many connections at once (a bulk
 * sender) costs one query per CACHE_FRESH_MS, not one per connection. */
#define CACHE_SLOTS 512
#define CACHE_FRESH_MS 500

/* An fd the shim owns, with the identity it had when the shim got it: the host may
 * close our number and reuse it, and we must then neither use nor close it. */
struct owned_fd {
    int fd;
    dev_t dev;
    ino_t ino;
};

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

struct pending {
    bool used;
    bool vetted;             /* the worker saw that the socket is TCP (SO_PROTOCOL) */
    uint32_t active_pos;     /* where it is in E.active */
    uint32_t generation;     /* tells a late reply for a reused slot from a current one */
    struct owned_fd conn;    /* our dup of the accepted socket (fd -1 once the host closed it) */
    int host_fd;             /* the number the host got from accept() */
    uint64_t forks_at_submit;    /* E.forks then: a later fork may have handed the socket to a child */
    bool host_closed;        /* the host closed its descriptor: our dup was dropped at once */
    bool closed_not_tcp;     /* ... and it was no TCP socket (looked at then, not yet vetted) */
    struct tcp_progress progress;   /* how far the client had got when the host closed it */
    struct endpoint remote, local;
    uint64_t accepted_ns, deadline_ns;
    struct lookup v3, v2;
    struct p0f3_answer a3;
    struct p0f2_answer a2;
    bool inherited;          /* judged at load (inetd mode): the program may exit at the shutdown */
    bool held;               /* a hold-mode accept() waits for this verdict */
    bool judged;             /* ... and the verdict is in: reply says what to do */
    bool finished;           /* judged and logged: the slot waits for its log line to go out */
    enum hold_reply reply;
};

struct outstanding {
    uint32_t slot, generation;
    uint64_t queued_ns;
};

/* The first query on every new p0f connection asks about 0.0.0.0, which p0f never
 * knows: its reply must be NOMATCH. v3 replies carry no address, so replies are matched
 * to queries by order alone; a reply p0f sent before being asked would shift every
 * answer by one. The probe catches an early OK answer before any verdict rests on it;
 * an early NOMATCH shifted onto a real query only causes a retry. */
#define PROBE_SLOT UINT32_MAX

struct engine {
    pthread_mutex_t lock;
    const struct config *cfg;
    struct syslog_writer *log;
    pid_t worker_pid;        /* the process whose worker runs; 0 = none */
    uint64_t worker_retry_after_ns;  /* after a failed start: no new attempt before this */
    unsigned worker_retry_ms;
    char worker_error[160];  /* why the worker is not running (read when the count is reported) */
    uint64_t forks;          /* fork() calls of this process (counted in the parent) */
    bool worker_sleeping, wake_pending;
    /* While the worker sleeps: when its timeout ends, and until when a p0f reply is due to
     * wake it. An accept that the worker will see in time anyway does not wake it. */
    uint64_t sleep_until_ns, reply_expected_until_ns;
    uint64_t last_submit_ns;
    uint64_t arrival_gap_ns; /* between connections, averaged (1/8 weight to the newest) */
    bool streaming;          /* connections come less than COALESCE_NS apart: sleep on a timer */
    uint64_t submissions;    /* lets the worker see work that arrived while it planned */
    pthread_cond_t judged;   /* broadcast when a held connection's verdict is in */
    struct greylist *greylist;
    char greylist_error[256];
    struct owned_fd wake;    /* an eventfd: the accept path's doorbell for a sleeping worker */

    size_t nfree;
    size_t nactive;
    bool slots_ready;

    dev_t root_dev;          /* "/" when the library loaded: tells that the daemon chrooted */
    ino_t root_ino;

    /* Owned by the worker; reset in a forked child. */
    struct owned_fd p0f;
    uint64_t p0f_last_use_ns, p0f_retry_after_ns;
    char p0f_error[160];
    size_t fifo_head, fifo_count;
    size_t out_len;
    size_t in_len;

    /* Adaptive delay before the first v3 query (under lock): p0f learns a host only when
     * it has processed the SYN, 1-5 ms after accept on fast links, so an immediate query
     * mostly earns a NOMATCH and a second query. Doubled after a first-query NOMATCH,
     * shrunk by 1/16 after a first-query answer: settles where ~8% of first queries miss,
     * and at zero for a p0f that already knows every host. */
    uint64_t first_query_delay_ns;
    /* Better than a delay, when p0f's answers show it (under lock): the phase of the grid of
     * instants at which p0f learns hosts (learngrid.h). The first query goes just after the
     * first of them that follows the host's SYN. */
    struct learn_grid grid;

    /* The p0f v2 source: one query per connection, one at a time (p0f v2 is single-threaded). */
    struct owned_fd v2;
    uint32_t v2_slot, v2_generation, v2_id;
    uint8_t v2_inbuf[P0F2_RESPONSE_LEN];
    size_t v2_in_len;
    uint64_t v2_retry_after_ns;
    char v2_error[160];

    /* Failures on the accept path, reported by the worker. */
    atomic_ulong overflowed, dup_failed, near_fd_limit, no_worker;
    atomic_int dup_errno;
    struct rate_limit rl_p0f, rl_overflow, rl_dup, rl_headroom, rl_worker, rl_no_worker, rl_greylist;

    /* The tables, last: a forked child writes only the fields above (a page or two), so a
     * fork-per-connection server does not copy the tables into every child. */
    struct pending slots[ENGINE_PENDING_MAX];
    uint32_t free_stack[ENGINE_PENDING_MAX];
    /* The slots in use, densely: every pass of the worker walks these, not the whole table. */
    uint32_t active[ENGINE_PENDING_MAX];
    struct outstanding fifo[ENGINE_OUTSTANDING_MAX];
    uint8_t outbuf[ENGINE_OUTSTANDING_MAX * P0F3_QUERY_LEN];
    uint8_t inbuf[P0F3_RESPONSE_LEN * 16];
};

static struct engine E = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .wake = {.fd = -1}, .p0f = {.fd = -1}, .v2 = {.fd = -1},
};

/* Host descriptor numbers that name a pending connection: the host's close() of one of them
 * drops the duplicate at once (engine_host_closed), so that the client sees the MTA's close
 * when it is made. A bit may outlive its connection (it is cleared by the close that finds
 * it): a stale bit costs that close one fstat and a look at the slots. Numbers above the table
 * are left to the worker's periodic look. */
#define WATCHED_FDS 65536
#define CLOSE_LOCK_TRIES 64
static atomic_ulong watched[WATCHED_FDS / 64];

static void watch_fd(int fd)
{
    if (fd >= 0 && fd < WATCHED_FDS)
        atomic_fetch_or_explicit(&watched[fd / 64], 1ul << (fd % 64), memory_order_relaxed);
}

bool engine_fd_watched(int fd)
{
    return fd >= 0 && fd < WATCHED_FDS &&
           (atomic_load_explicit(&watched[fd / 64], memory_order_relaxed) & (1ul << (fd % 64)));
}

/* Verdicts whose log lines wait in the worker's batch (sent once per pass of the worker,
 * or when it is full). Their slots, and so the dups, are kept until the lines went out:
 * engine_drain_at_exit() waits for the slots, and so for the lines. */
struct settled {
    uint32_t slot, generation;
    bool shut_after_log;     /* inherited (inetd mode): the program exits once it sees the shutdown */
};
static struct syslog_batch log_batch;
static struct settled settled[SYSLOG_BATCH_MAX];
static size_t nsettled;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int own(int fd, struct owned_fd *out)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return -1;
    out->fd = fd;
    out->dev = st.st_dev;
    out->ino = st.st_ino;
    return 0;
}

static bool still_owned(const struct owned_fd *o)
{
    struct stat st;
    return o->fd >= 0 && fstat(o->fd, &st) == 0 && st.st_dev == o->dev && st.st_ino == o->ino;
}

/* Closes the fd only if the number is still ours; forgets it either way. */
static void release(struct owned_fd *o)
{
    if (still_owned(o))
        close(o->fd);
    o->fd = -1;
}

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
    if (own(fd, &E.wake) != 0) {
        close(fd);
        E.wake.fd = -1;
        return false;
    }
    return true;
}

static void diagnostic(int severity, struct rate_limit *rl, const char *msg, const char *key, const char *value)
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
    syslog_writer_send(E.log, severity, l.text);
}

/* ---- slots (all under E.lock) ---- */

static void slots_init_locked(void)
{
    memset(E.slots, 0, sizeof(E.slots));
    for (size_t i = 0; i < ENGINE_PENDING_MAX; i++)
        E.free_stack[i] = (uint32_t)(ENGINE_PENDING_MAX - 1 - i);
    E.nfree = ENGINE_PENDING_MAX;
    E.nactive = 0;
    E.slots_ready = true;
}

static void slot_free_locked(uint32_t idx)
{
    struct pending *p = &E.slots[idx];
    uint32_t last = E.active[--E.nactive];
    E.active[p->active_pos] = last;
    E.slots[last].active_pos = p->active_pos;
    release(&p->conn);
    p->used = false;
    E.free_stack[E.nfree++] = idx;
}

/* ---- fork ---- */

static void judged_cond_init(void)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&E.judged, &attr);
    pthread_condattr_destroy(&attr);
}


static void atfork_prepare(void)
{
    pthread_mutex_lock(&E.lock);
}

static void atfork_parent(void)
{
    E.forks++;
    pthread_mutex_unlock(&E.lock);
}

/* The child has no worker: it gives back every fd the shim held (they are the
 * parent's business) and starts afresh when it accepts a connection itself. */
static void atfork_child(void)
{
    pthread_mutex_init(&E.lock, NULL);
    judged_cond_init();
    if (E.greylist) {
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
            release(&conn);
        }
    /* The table is set up afresh (a large memset) only if this child accepts itself:
     * a fork per connection must not pay for it. */
    E.slots_ready = false;
    release(&E.p0f);
    release(&E.v2);
    release(&E.wake);
    E.worker_pid = 0;
    E.worker_retry_after_ns = 0;
    E.worker_retry_ms = 0;
    E.worker_sleeping = E.wake_pending = false;
    E.fifo_head = E.fifo_count = E.out_len = E.in_len = 0;
    if (E.log)
        syslog_writer_after_fork_child(E.log);
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
    if (stat("/", &root) == 0) {
        E.root_dev = root.st_dev;
        E.root_ino = root.st_ino;
    }
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

/* ---- p0f connection (worker only) ---- */

static void p0f_error(const char *what, int err)
{
    snprintf(E.p0f_error, sizeof(E.p0f_error), "%s: %s", what, strerror(err));
}

static void p0f_disconnect(uint64_t now)
{
    release(&E.p0f);
    E.in_len = E.out_len = 0;
    E.p0f_retry_after_ns = now + RECONNECT_DELAY_MS * NS_PER_MS;
    /* Every query in flight is lost; the connections behind them are asked again. */
    pthread_mutex_lock(&E.lock);
    for (size_t i = 0; i < E.fifo_count; i++) {
        struct outstanding *o = &E.fifo[(E.fifo_head + i) % ENGINE_OUTSTANDING_MAX];
        if (o->slot == PROBE_SLOT)
            continue;
        struct pending *p = &E.slots[o->slot];
        if (p->used && p->generation == o->generation) {
            p->v3.in_flight = false;
            p->v3.next_query_ns = E.p0f_retry_after_ns;
        }
    }
    E.fifo_head = E.fifo_count = 0;
    pthread_mutex_unlock(&E.lock);
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

static bool p0f_connect(uint64_t now)
{
    int fd;

    if (E.p0f.fd >= 0 && still_owned(&E.p0f))
        return true;
    if (E.p0f.fd >= 0) {
        /* The host reused our number: forget it without touching it. */
        E.p0f.fd = -1;
        p0f_disconnect(now);
    }
    if (now < E.p0f_retry_after_ns)
        return false;
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd >= 0)
        fd = fdband_move(fd);
    if (fd < 0) {
        p0f_error("p0f socket", errno);
        E.p0f_retry_after_ns = now + RECONNECT_DELAY_MS * NS_PER_MS;
        return false;
    }
    if (p0fsock_connect(fd, E.cfg->v3.socket_path, root_changed()) != 0) {
        p0f_error("p0f connect", errno);
        diagnostic(LOG_WARNING, &E.rl_p0f, "cannot reach p0f", "reason", E.p0f_error);
        close(fd);
        E.p0f_retry_after_ns = now + RECONNECT_DELAY_MS * NS_PER_MS;
        return false;
    }
    if (!p0f_peer_trusted(fd, E.p0f_error, sizeof(E.p0f_error))) {
        diagnostic(LOG_ERR, &E.rl_p0f, "refusing a p0f socket not owned by root or p0f_user", "reason", E.p0f_error);
        close(fd);
        E.p0f_retry_after_ns = now + RECONNECT_DELAY_MS * NS_PER_MS;
        return false;
    }
    if (own(fd, &E.p0f) != 0) {
        close(fd);
        return false;
    }
    E.p0f_last_use_ns = now;
    E.in_len = E.out_len = 0;
    struct endpoint nobody = {.family = AF_INET};
    p0f3_encode_query(&nobody, E.outbuf);
    E.out_len = P0F3_QUERY_LEN;
    pthread_mutex_lock(&E.lock);
    E.fifo[E.fifo_head] = (struct outstanding){.slot = PROBE_SLOT, .queued_ns = now};
    E.fifo_count = 1;
    pthread_mutex_unlock(&E.lock);
    return true;
}

static void p0f_flush(uint64_t now)
{
    while (E.out_len > 0) {
        ssize_t n = send(E.p0f.fd, E.outbuf, E.out_len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            p0f_error("p0f send", errno);
            diagnostic(LOG_WARNING, &E.rl_p0f, "p0f connection lost", "reason", E.p0f_error);
            p0f_disconnect(now);
            return;
        }
        memmove(E.outbuf, E.outbuf + n, E.out_len - (size_t)n);
        E.out_len -= (size_t)n;
        E.p0f_last_use_ns = now;
    }
}

/* ---- verdicts ---- */

static void lookup_set_reason(struct lookup *l, const char *reason)
{
    snprintf(l->reason, sizeof(l->reason), "%s", reason ? reason : "");
}

/* Under E.lock: NOMATCH means "not yet" (p0f learns a host a few ms after the handshake):
 * ask again with backoff while the deadline allows. */
static void lookup_retry_locked(struct lookup *l, const struct pending *p, uint64_t now)
{
    l->in_flight = false;
    l->saw_nomatch = true;
    if (now + l->retry_ms * NS_PER_MS < p->deadline_ns) {
        l->next_query_ns = now + l->retry_ms * NS_PER_MS;
        /* p0f learns a host within one 5 ms capture block: ask every ms until then, and
         * back off for a host it may never see. */
        if (now - p->accepted_ns >= ENGINE_RETRY_FAST_MS * NS_PER_MS)
            l->retry_ms = l->retry_ms * 2 > ENGINE_RETRY_MAX_MS ? ENGINE_RETRY_MAX_MS : l->retry_ms * 2;
    } else {
        l->next_query_ns = UINT64_MAX;   /* the deadline settles it as unknown */
    }
}

/* Under E.lock. */
static void lookup_finish_locked(struct lookup *l, enum lookup_outcome outcome, const char *reason)
{
    l->in_flight = false;
    l->done = true;
    l->outcome = outcome;
    lookup_set_reason(l, reason);
}

/* Under E.lock: at the deadline every source still open gets its outcome now. */
static void lookup_expire_locked(struct lookup *l, const char *error)
{
    if (!l->active || l->done)
        return;
    if (l->saw_nomatch)
        lookup_finish_locked(l, LOOKUP_NO_MATCH, "no match");
    else
        lookup_finish_locked(l, LOOKUP_FAILED, error);
}

static bool all_done(const struct pending *p)
{
    return (!p->v3.active || p->v3.done) && (!p->v2.active || p->v2.done);
}

/* A query for this source may be sent now (plan() vetted the socket first). */
static bool lookup_due(const struct pending *p, const struct lookup *l, uint64_t now)
{
    return p->vetted && l->active && !l->done && !l->in_flight && l->next_query_ns <= now && now < p->deadline_ns;
}

/* Judges, acts and logs outside the lock; the slot is freed (its dup closed) after. */
/* greylist_os applies to whichever source identified the OS. */
static bool greylist_matches(const struct pending *p, const char *genre3)
{
    const struct regex *re = E.cfg->greylist_os;
    if (p->v3.active && p->v3.outcome == LOOKUP_OS_KNOWN && regex_matches(re, genre3))
        return true;
    return p->v2.active && p->v2.outcome == LOOKUP_OS_KNOWN && regex_matches(re, p->a2.genre);
}

static void apply_greylist(const struct pending *p, const char *genre3, struct connection_report *report)
{
    struct greylist_result gr;
    report->greylist_wait_s = -1;
    if (report->judgement.verdict != VERDICT_ALLOW || E.cfg->greylist_os == NULL || !greylist_matches(p, genre3))
        return;
    if (E.greylist == NULL) {
        diagnostic(LOG_WARNING, &E.rl_greylist, "greylisting is unavailable; host passed", "reason",
                   E.greylist_error);
        return;
    }
    greylist_check(E.greylist, &p->remote, time(NULL), &gr);
    switch (gr.outcome) {
    case GREYLIST_FIRST:
    case GREYLIST_EARLY:
        report->judgement.verdict = VERDICT_GREYLIST;
        break;
    case GREYLIST_PASSED:
        report->judgement.verdict = VERDICT_PASS_GREYLIST;
        report->greylist_wait_s = gr.waited_s;
        break;
    case GREYLIST_GOOD:
        report->judgement.verdict = VERDICT_PASS_GREYLIST;
        break;
    case GREYLIST_FAILED:
        diagnostic(LOG_WARNING, &E.rl_greylist, "greylist store failed; host passed", "reason", gr.error);
        break;
    }
}

static void flush_verdicts(void)
{
    syslog_batch_flush(E.log, &log_batch, LOG_WAIT_MS);
    pthread_mutex_lock(&E.lock);
    for (size_t i = 0; i < nsettled; i++) {
        struct pending *p = &E.slots[settled[i].slot];
        if (!p->used || p->generation != settled[i].generation)
            continue;
        if (settled[i].shut_after_log && still_owned(&p->conn))
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
    } else if (still_owned(&p->conn) && tcp_progress_read(p->conn.fd, &progress)) {
        report->cutoff = progress.session_over         ? CUTOFF_TOO_LATE
                         : progress.bytes_received > 0 ? CUTOFF_AFTER_DATA
                                                       : CUTOFF_IN_TIME;
    } else {
        return;
    }
    report->client_sent_known = progress.bytes_known;
    report->client_sent = progress.bytes_received;
}

/* Judges, acts and logs outside the lock. A connection a hold-mode accept() still waits
 * for is handed back to it (it replies and closes, and frees the slot); any other is
 * shut down here and its slot freed once its line went out. */
static void finish(uint32_t idx, uint64_t now)
{
    static struct pending snapshot;   /* the worker's alone; too big for its small stack */
    struct connection_report report = {0};
    struct source_view views[2];
    size_t nviews = 0;
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
    policy_judge_sources(&E.cfg->policy, &snapshot.remote, views, nviews, &report.judgement);
    apply_greylist(&snapshot, genre3, &report);
    bool refuse = report.judgement.verdict == VERDICT_BLOCK || report.judgement.verdict == VERDICT_GREYLIST;

    /* Hand the verdict to a waiting hold-mode accept(), or learn that nobody waits. */
    bool handed = false;
    enum hold_reply kind = action_reply_kind(E.cfg, report.judgement.verdict);
    pthread_mutex_lock(&E.lock);
    struct pending *p = &E.slots[idx];
    if (p->used && p->generation == snapshot.generation && p->held) {
        p->judged = true;
        p->reply = kind;
        handed = true;
        pthread_cond_broadcast(&E.judged);
    }
    pthread_mutex_unlock(&E.lock);

    report.remote = snapshot.remote;
    report.local = snapshot.local;
    report.elapsed_ms = (long)((now - snapshot.accepted_ns) / NS_PER_MS);
    report.blocked_file = E.cfg->policy.blocked_file;
    report.action = action_log_word(E.cfg, report.judgement.verdict, handed);
    if (handed && action_reply_text(E.cfg, kind, reply, sizeof(reply)) > 2) {
        reply[strlen(reply) - 2] = '\0';   /* the log shows it without CRLF */
        report.reply = reply;
    }
    if (!handed && refuse)
        describe_cutoff(&snapshot, &report);
    logfmt_connection(&line, &report);
    /* A program that serves one inherited connection (inetd mode) exits as soon as it sees
     * the shutdown, and its worker with it: its line goes out first. Elsewhere the client
     * is cut off at once and the line follows with the batch. */
    bool shut = !handed && refuse && !snapshot.inherited && still_owned(&snapshot.conn);
    if (shut)
        shutdown(snapshot.conn.fd, SHUT_RDWR);
    if (log_batch.n == SYSLOG_BATCH_MAX)
        flush_verdicts();
    syslog_batch_add(E.log, &log_batch, LOG_INFO, line.text);
    if (!handed)
        settled[nsettled++] = (struct settled){idx, snapshot.generation, !shut && refuse};
    if (snapshot.inherited)
        flush_verdicts();
}

/* ---- p0f v3: the answer cache and the first-query delay (worker only) ---- */

struct cached_answer {
    bool used;
    struct endpoint host;    /* port 0 */
    uint64_t expires_ns;
    struct p0f3_answer answer;
    /* A query about this host is in flight: other connections from it wait for its answer
     * (a bulk sender opens several at once) instead of asking too. */
    bool asking;
    struct endpoint asking_host;
    uint64_t asking_since_ns;
};

static struct cached_answer answer_cache[CACHE_SLOTS];

static struct cached_answer *cache_bucket(const struct endpoint *peer)
{
    uint32_t h = 2166136261u ^ (uint32_t)peer->family;
    for (size_t i = 0; i < sizeof(peer->ip); i++)
        h = (h ^ peer->ip[i]) * 16777619u;
    return &answer_cache[h % CACHE_SLOTS];
}

static void cache_store(const struct endpoint *peer, const struct p0f3_answer *answer, uint64_t now)
{
    struct cached_answer *c = cache_bucket(peer);
    c->used = true;
    c->host = *peer;
    c->host.port = 0;
    c->expires_ns = now + CACHE_FRESH_MS * NS_PER_MS;
    c->answer = *answer;
}

static const struct p0f3_answer *cache_find(const struct endpoint *peer, uint64_t now)
{
    struct cached_answer *c = cache_bucket(peer);
    if (!c->used || now >= c->expires_ns || c->host.family != peer->family ||
        memcmp(c->host.ip, peer->ip, sizeof(peer->ip)) != 0)
        return NULL;
    return &c->answer;
}

static bool same_host(const struct endpoint *a, const struct endpoint *b)
{
    return a->family == b->family && memcmp(a->ip, b->ip, sizeof(a->ip)) == 0;
}

/* Under E.lock (the cache is the worker's, the slots are shared). */
static bool host_being_asked_locked(const struct endpoint *peer, uint64_t now)
{
    const struct cached_answer *c = cache_bucket(peer);
    return c->asking && same_host(&c->asking_host, peer) && now - c->asking_since_ns < REPLY_EXPECTED_NS;
}

static void host_asked_locked(const struct endpoint *peer, uint64_t now)
{
    struct cached_answer *c = cache_bucket(peer);
    c->asking = true;
    c->asking_host = *peer;
    c->asking_since_ns = now;
}

static void host_answered_locked(const struct endpoint *peer)
{
    struct cached_answer *c = cache_bucket(peer);
    if (c->asking && same_host(&c->asking_host, peer))
        c->asking = false;
}

/* Settles v3 lookups whose host has a fresh answer in the cache, due or not (the answer is
 * as good now as at the query time); returns true when due ones still need p0f. */
static bool answer_from_cache(uint64_t now)
{
    static uint32_t finished[ENGINE_PENDING_MAX];
    size_t nfinished = 0;
    bool need_p0f = false;

    pthread_mutex_lock(&E.lock);
    for (size_t k = 0; k < E.nactive; k++) {
        uint32_t i = E.active[k];
        struct pending *p = &E.slots[i];
        struct lookup *l = &p->v3;
        if (!p->vetted || !l->active || l->done || l->in_flight || now >= p->deadline_ns)
            continue;
        const struct p0f3_answer *hit = cache_find(&p->remote, now);
        if (hit == NULL) {
            need_p0f = need_p0f || lookup_due(p, l, now);
            continue;
        }
        p->a3 = *hit;
        if (hit->os_name[0])
            lookup_finish_locked(l, LOOKUP_OS_KNOWN, NULL);
        else
            lookup_finish_locked(l, LOOKUP_NO_OS, "os not identified");
        if (all_done(p))
            finished[nfinished++] = i;
    }
    pthread_mutex_unlock(&E.lock);
    for (size_t i = 0; i < nfinished; i++)
        finish(finished[i], now);
    return need_p0f;
}

/* Under E.lock: when to ask p0f first about a host whose SYN reached us at syn_ns (0: long
 * ago, time unknown) and that was accepted at accepted_ns. The fallback delay counts from
 * the SYN too; it learns only from hosts whose SYN was recent enough for it to matter (not
 * from a distant client or one that waited in the accept queue: p0f knew those already). */
static void schedule_first_query_locked(struct lookup *l, uint64_t syn_ns, uint64_t accepted_ns, uint64_t now)
{
    uint64_t at;
    l->unknown_after_ns = syn_ns;
    l->on_grid = learn_grid_predict(&E.grid, syn_ns, &at);
    at = l->on_grid ? at + GRID_GUARD_NS : syn_ns + E.first_query_delay_ns;
    l->delay_timed = !l->on_grid && syn_ns + FIRST_QUERY_DELAY_MAX_NS >= accepted_ns;
    l->next_query_ns = at > now ? at : now;
}

static void adapt_first_query_delay_locked(bool missed)
{
    uint64_t d = E.first_query_delay_ns;
    if (missed)
        d = d * 2 < FIRST_QUERY_DELAY_MIN_NS ? FIRST_QUERY_DELAY_MIN_NS : d * 2;
    else
        d -= d / 16;
    if (d > FIRST_QUERY_DELAY_MAX_NS)
        d = FIRST_QUERY_DELAY_MAX_NS;
    if (!missed && d < FIRST_QUERY_DELAY_MIN_NS / 4)
        d = 0;
    E.first_query_delay_ns = d;
}

/* ---- p0f v3 replies ---- */

static void handle_reply(const uint8_t *buf, uint64_t now)
{
    struct p0f3_answer answer;
    enum p0f3_decode_status status = p0f3_decode_response(buf, P0F3_RESPONSE_LEN, &answer);
    bool decoded = status == P0F3_DECODED_OK || status == P0F3_DECODED_NOMATCH;
    struct outstanding o;
    bool finished = false;

    pthread_mutex_lock(&E.lock);
    if (E.fifo_count == 0) {
        pthread_mutex_unlock(&E.lock);
        snprintf(E.p0f_error, sizeof(E.p0f_error), "p0f: reply for a query never sent");
        diagnostic(LOG_WARNING, &E.rl_p0f, "p0f sent a reply nobody asked for", "socket", E.cfg->v3.socket_path);
        p0f_disconnect(now);
        return;
    }
    o = E.fifo[E.fifo_head];
    E.fifo_head = (E.fifo_head + 1) % ENGINE_OUTSTANDING_MAX;
    E.fifo_count--;
    if (o.slot == PROBE_SLOT) {
        pthread_mutex_unlock(&E.lock);
        if (status != P0F3_DECODED_NOMATCH) {
            snprintf(E.p0f_error, sizeof(E.p0f_error), "p0f: reply for a query never sent");
            diagnostic(LOG_WARNING, &E.rl_p0f, "p0f sent a reply nobody asked for", "socket", E.cfg->v3.socket_path);
            p0f_disconnect(now);
        }
        return;
    }
    struct pending *p = &E.slots[o.slot];
    if (p->used && p->generation == o.generation)
        host_answered_locked(&p->remote);
    if (p->used && p->generation == o.generation && p->v3.in_flight && !p->v3.done) {
        if (p->v3.queries == 1 && p->v3.delay_timed)
            adapt_first_query_delay_locked(status == P0F3_DECODED_NOMATCH);
        if (status == P0F3_DECODED_NOMATCH) {
            uint64_t at;
            p->v3.unknown_after_ns = o.queued_ns;
            lookup_retry_locked(&p->v3, p, now);
            /* On the grid, the next chance is the next predicted instant, not a ms later. */
            if (p->v3.on_grid && p->v3.next_query_ns != UINT64_MAX && learn_grid_predict(&E.grid, o.queued_ns, &at))
                p->v3.next_query_ns = at + GRID_GUARD_NS > now ? at + GRID_GUARD_NS : now;
        } else if (status == P0F3_DECODED_OK) {
            /* p0f's first sight of the host: it learned it in (unknown_after, now]. */
            if (answer.total_conn == 1) {
                learn_grid_observe(&E.grid, p->v3.unknown_after_ns, now);
            }
            cache_store(&p->remote, &answer, now);
            p->a3 = answer;
            if (answer.os_name[0])
                lookup_finish_locked(&p->v3, LOOKUP_OS_KNOWN, NULL);
            else
                lookup_finish_locked(&p->v3, LOOKUP_NO_OS, "os not identified");
        } else {
            lookup_finish_locked(&p->v3, LOOKUP_FAILED, p0f3_decode_strerror(status));
        }
        finished = all_done(p);
    }
    pthread_mutex_unlock(&E.lock);

    if (finished)
        finish(o.slot, now);
    if (!decoded) {
        /* Framing can no longer be trusted: a p0f that says this is not well. */
        snprintf(E.p0f_error, sizeof(E.p0f_error), "%s", p0f3_decode_strerror(status));
        diagnostic(LOG_WARNING, &E.rl_p0f, "bad reply from p0f", "reason", E.p0f_error);
        p0f_disconnect(now);
        return;
    }
    E.p0f_error[0] = '\0';
}

static void p0f_read(uint64_t now)
{
    for (;;) {
        ssize_t n = recv(E.p0f.fd, E.inbuf + E.in_len, sizeof(E.inbuf) - E.in_len, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            if (n == 0)
                snprintf(E.p0f_error, sizeof(E.p0f_error), "p0f closed the connection");
            else
                p0f_error("p0f recv", errno);
            diagnostic(LOG_WARNING, &E.rl_p0f, "p0f connection lost", "reason", E.p0f_error);
            p0f_disconnect(now);
            return;
        }
        E.in_len += (size_t)n;
        E.p0f_last_use_ns = now;
        size_t used = 0;
        while (E.in_len - used >= P0F3_RESPONSE_LEN && E.p0f.fd >= 0) {
            handle_reply(E.inbuf + used, now);
            used += P0F3_RESPONSE_LEN;
        }
        if (E.p0f.fd < 0)
            return;
        memmove(E.inbuf, E.inbuf + used, E.in_len - used);
        E.in_len -= used;
    }
}

static void queue_due_queries(uint64_t now)
{
    pthread_mutex_lock(&E.lock);
    for (size_t k = 0; k < E.nactive && E.fifo_count < ENGINE_OUTSTANDING_MAX; k++) {
        uint32_t i = E.active[k];
        struct pending *p = &E.slots[i];
        struct lookup *l = &p->v3;
        if (!lookup_due(p, l, now))
            continue;
        if (host_being_asked_locked(&p->remote, now)) {
            /* The other query's answer settles this one from the cache; if it never comes
             * (its connection went first), ask when the other is no longer expected. */
            l->next_query_ns = cache_bucket(&p->remote)->asking_since_ns + REPLY_EXPECTED_NS;
            continue;
        }
        host_asked_locked(&p->remote, now);
        p0f3_encode_query(&p->remote, E.outbuf + E.out_len);
        E.out_len += P0F3_QUERY_LEN;
        E.fifo[(E.fifo_head + E.fifo_count) % ENGINE_OUTSTANDING_MAX] =
            (struct outstanding){.slot = i, .generation = p->generation, .queued_ns = now};
        E.fifo_count++;
        l->in_flight = true;
        l->queries++;
    }
    pthread_mutex_unlock(&E.lock);
}

/* ---- p0f v2: connect, send one query, read one reply, close ---- */

static void v2_error(const char *what, int err)
{
    snprintf(E.v2_error, sizeof(E.v2_error), "%s: %s", what, strerror(err));
}

/* Ends the query in flight; the connection behind it is asked again later (or settled
 * at its deadline with E.v2_error as the reason). */
static void v2_abort(uint64_t now)
{
    release(&E.v2);
    E.v2_in_len = 0;
    E.v2_retry_after_ns = now + RECONNECT_DELAY_MS * NS_PER_MS;
    pthread_mutex_lock(&E.lock);
    struct pending *p = &E.slots[E.v2_slot];
    if (p->used && p->generation == E.v2_generation && p->v2.in_flight) {
        p->v2.in_flight = false;
        p->v2.next_query_ns = E.v2_retry_after_ns;
    }
    pthread_mutex_unlock(&E.lock);
}

static void v2_start_due(uint64_t now)
{
    uint8_t query[P0F2_QUERY_LEN];
    uint32_t idx = UINT32_MAX, generation = 0;
    const struct p0f_source *src = &E.cfg->v2;

    if (E.v2.fd >= 0 || now < E.v2_retry_after_ns)
        return;
    pthread_mutex_lock(&E.lock);
    for (size_t k = 0; k < E.nactive && idx == UINT32_MAX; k++) {
        uint32_t i = E.active[k];
        struct pending *p = &E.slots[i];
        struct lookup *l = &p->v2;
        if (!lookup_due(p, l, now))
            continue;
        if (p0f2_encode_query(&p->remote, &p->local, src->has_local_ip ? &src->local_ip : NULL, ++E.v2_id,
                              query) != 0)
            continue;
        idx = i;
        generation = p->generation;
        l->in_flight = true;
    }
    pthread_mutex_unlock(&E.lock);
    if (idx == UINT32_MAX)
        return;
    E.v2_slot = idx;
    E.v2_generation = generation;
    E.v2_in_len = 0;

    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd >= 0)
        fd = fdband_move(fd);
    if (fd < 0) {
        v2_error("p0f v2 socket", errno);
        v2_abort(now);
        return;
    }
    if (p0fsock_connect(fd, src->socket_path, root_changed()) != 0) {
        v2_error("p0f v2 connect", errno);
        diagnostic(LOG_WARNING, &E.rl_p0f, "cannot reach p0f v2", "reason", E.v2_error);
        close(fd);
        v2_abort(now);
        return;
    }
    if (!p0f_peer_trusted(fd, E.v2_error, sizeof(E.v2_error))) {
        diagnostic(LOG_ERR, &E.rl_p0f, "refusing a p0f socket not owned by root or p0f_user", "reason", E.v2_error);
        close(fd);
        v2_abort(now);
        return;
    }
    /* 24 bytes into a fresh socket's empty buffer: all or nothing. */
    if (send(fd, query, sizeof(query), MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)sizeof(query)) {
        v2_error("p0f v2 send", errno);
        close(fd);
        v2_abort(now);
        return;
    }
    if (own(fd, &E.v2) != 0) {
        close(fd);
        v2_abort(now);
    }
}

static void v2_read(uint64_t now)
{
    struct p0f2_answer answer;
    bool finished = false;

    ssize_t n = recv(E.v2.fd, E.v2_inbuf + E.v2_in_len, sizeof(E.v2_inbuf) - E.v2_in_len, MSG_DONTWAIT);
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
        return;
    if (n <= 0) {
        if (n == 0)
            snprintf(E.v2_error, sizeof(E.v2_error), "p0f v2 closed the connection before replying");
        else
            v2_error("p0f v2 recv", errno);
        diagnostic(LOG_WARNING, &E.rl_p0f, "p0f v2 query failed", "reason", E.v2_error);
        v2_abort(now);
        return;
    }
    E.v2_in_len += (size_t)n;
    if (E.v2_in_len < P0F2_RESPONSE_LEN)
        return;
    release(&E.v2);   /* one-shot: the whole reply is in */

    enum p0f2_decode_status status = p0f2_decode_response(E.v2_inbuf, E.v2_in_len, E.v2_id, &answer);
    pthread_mutex_lock(&E.lock);
    struct pending *p = &E.slots[E.v2_slot];
    if (p->used && p->generation == E.v2_generation && p->v2.in_flight && !p->v2.done) {
        if (status == P0F2_DECODED_NOMATCH) {
            lookup_retry_locked(&p->v2, p, now);
        } else if (status == P0F2_DECODED_OK) {
            p->a2 = answer;
            if (answer.genre[0])
                lookup_finish_locked(&p->v2, LOOKUP_OS_KNOWN, NULL);
            else
                lookup_finish_locked(&p->v2, LOOKUP_NO_OS, "os not identified");
        } else {
            lookup_finish_locked(&p->v2, LOOKUP_FAILED, p0f2_decode_strerror(status));
        }
        finished = all_done(p);
    }
    pthread_mutex_unlock(&E.lock);
    if (status != P0F2_DECODED_OK && status != P0F2_DECODED_NOMATCH)
        diagnostic(LOG_WARNING, &E.rl_p0f, "bad reply from p0f v2", "reason", p0f2_decode_strerror(status));
    else
        E.v2_error[0] = '\0';
    if (finished)
        finish(E.v2_slot, now);
}

/* ---- the worker ---- */

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

static uint64_t report_accept_path_failures(void)
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

#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP 262
#endif

static bool socket_is_tcp(int fd)
{
    int protocol = 0;
    socklen_t len = sizeof(protocol);
    return getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &protocol, &len) == 0 &&
           (protocol == IPPROTO_TCP || protocol == IPPROTO_MPTCP);
}

/* Under E.lock. An SCTP stream socket is no business of p0f's: it is dropped without a word.
 * Multipath TCP (`mptcpize run` makes an MTA's listener one) starts with a TCP SYN that p0f
 * fingerprints like any other. Checked here rather than on the accept path, which stays
 * short. Returns whether the slot is still there. */
static bool vet_locked(uint32_t idx, uint64_t now)
{
    struct pending *p = &E.slots[idx];
    /* A connection the host closed before this was looked at at the close (no socket now). */
    if (p->host_closed ? !p->closed_not_tcp : socket_is_tcp(p->conn.fd)) {
        p->vetted = true;
        /* The handshake's round trip: p0f saw the SYN that long before accept() returned
         * (a client 100 ms away is known to p0f by the time it is accepted), and what p0f
         * answers about it says something about the grid only from the SYN on. (A host with
         * a fresh answer in the cache is settled without a query.) */
        struct tcp_info info;
        socklen_t info_len = sizeof(info);
        if (!p->host_closed && p->v3.active && p->v3.queries == 0 && !p->v3.done && cache_find(&p->remote, now) == NULL &&
            getsockopt(p->conn.fd, IPPROTO_TCP, TCP_INFO, &info, &info_len) == 0 &&
            info_len >= offsetof(struct tcp_info, tcpi_rtt) + sizeof(info.tcpi_rtt) && info.tcpi_rtt > 0) {
            uint64_t rtt_ns = (uint64_t)info.tcpi_rtt * 1000u;
            uint64_t syn_ns = p->accepted_ns > rtt_ns ? p->accepted_ns - rtt_ns : 0;
            /* A connection that waited in the accept queue (a busy MTA) was established long
             * before accept(): p0f has known the host for a while, and its SYN time is
             * unknown. Ask at once, and learn nothing about the grid from the answer.
             * tcpi_last_ack_recv counts in jiffies, up to 10 ms each. */
            uint64_t since_accept_ms = (now - p->accepted_ns) / NS_PER_MS;
            if (info_len >= offsetof(struct tcp_info, tcpi_last_ack_recv) + sizeof(info.tcpi_last_ack_recv) &&
                info.tcpi_last_ack_recv > since_accept_ms + ACCEPT_QUEUE_SLACK_MS)
                syn_ns = 0;
            schedule_first_query_locked(&p->v3, syn_ns, p->accepted_ns, now);
        }
        return true;
    }
    if (p->held) {
        p->judged = true;
        p->reply = HOLD_PASS;
        pthread_cond_broadcast(&E.judged);
    } else {
        slot_free_locked(idx);
    }
    return false;
}

/* Under E.lock: whether the host still holds the connection under the number accept() gave
 * it, so that the worker must look again. A connection the host closed (its number gone, or
 * naming another file now) is not kept open by the duplicate: it is closed at once, the
 * client sees the MTA's close when the MTA meant it, and the lookup goes on to its line.
 * After a fork the child may hold the connection (a fork-per-connection MTA closes the
 * parent's copy at once): the duplicate then stays, so that a block can still cut the
 * child's session off. */
/* Not once finished: the worker then uses the duplicate outside the lock (its cut-off and
 * shutdown), and frees the slot, duplicate and all, right after. */
static bool host_may_hold_locked(const struct pending *p)
{
    return !p->host_closed && !p->inherited && !p->finished && p->conn.fd >= 0 && p->forks_at_submit == E.forks;
}

static void host_closed_locked(struct pending *p)
{
    p->host_closed = true;
    if (still_owned(&p->conn)) {
        if (!p->vetted)
            p->closed_not_tcp = !socket_is_tcp(p->conn.fd);
        tcp_progress_read(p->conn.fd, &p->progress);
    }
    release(&p->conn);
}

static bool host_still_holds_locked(struct pending *p)
{
    struct stat st;
    if (!host_may_hold_locked(p))
        return false;
    if (fstat(p->host_fd, &st) == 0 && st.st_dev == p->conn.dev && st.st_ino == p->conn.ino)
        return true;
    host_closed_locked(p);
    return false;
}

void engine_host_closed(int fd, dev_t dev, ino_t ino)
{
    int tries = 0, cancel_state, ignored;
    if (!engine_fd_watched(fd))
        return;
    atomic_fetch_and_explicit(&watched[fd / 64], ~(1ul << (fd % 64)), memory_order_relaxed);
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel_state);
    /* Never waits long: close() may come from a signal handler that interrupted the lock's
     * holder, or from a vfork child (not this process: the worker's pid tells). The worker
     * holds the lock for microseconds, so a few yields usually get it; otherwise the
     * worker's periodic look (within HOST_CLOSE_CHECK_NS) does it. */
    int busy = 0;
    while ((busy = pthread_mutex_trylock(&E.lock)) != 0 && busy == EBUSY && ++tries < CLOSE_LOCK_TRIES)
        sched_yield();
    if (busy == 0) {
        if (E.worker_pid == getpid() && E.slots_ready) {
            for (size_t k = 0; k < E.nactive; k++) {
                struct pending *p = &E.slots[E.active[k]];
                if (p->host_fd == fd && p->conn.dev == dev && p->conn.ino == ino && host_may_hold_locked(p))
                    host_closed_locked(p);
            }
        }
        pthread_mutex_unlock(&E.lock);
    }
    pthread_setcancelstate(cancel_state, &ignored);
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
            lookup_expire_locked(&p->v3, v3_error);
            lookup_expire_locked(&p->v2, v2_error);
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
    if (still_owned(&E.wake))
        (void)!read(E.wake.fd, &count, sizeof(count));
}

/* A daemon that closed "all fds" took our eventfd: polling its number would spin or
 * steal its input, so open a new one. Without it the worker still runs on timeouts. */
static void ensure_wake(void)
{
    pthread_mutex_lock(&E.lock);
    if (!still_owned(&E.wake)) {
        release(&E.wake);
        if (!wake_open_locked())
            diagnostic(LOG_WARNING, &E.rl_worker, "cannot reopen the wake-up eventfd", NULL, NULL);
    }
    pthread_mutex_unlock(&E.lock);
}

/* Closes the v3 connection after ENGINE_IDLE_CLOSE_MS without work; returns when to look again. */
static uint64_t idle_close(uint64_t now, uint64_t next)
{
    bool idle;
    pthread_mutex_lock(&E.lock);
    idle = E.fifo_count == 0 && E.nfree == ENGINE_PENDING_MAX;
    pthread_mutex_unlock(&E.lock);
    if (E.p0f.fd < 0 || !idle || E.out_len != 0)
        return next;
    uint64_t close_at = E.p0f_last_use_ns + ENGINE_IDLE_CLOSE_MS * NS_PER_MS;
    if (now >= close_at) {
        release(&E.p0f);
        E.in_len = 0;
        E.p0f_error[0] = '\0';
        return next;
    }
    return close_at < next ? close_at : next;
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
    (void)unused;

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
            finish(expired[i], now);
        if (E.v2.fd >= 0) {
            /* The query in flight belongs to a connection whose deadline passed. */
            pthread_mutex_lock(&E.lock);
            const struct pending *p = &E.slots[E.v2_slot];
            bool stale = !p->used || p->generation != E.v2_generation;
            pthread_mutex_unlock(&E.lock);
            if (stale) {
                snprintf(E.v2_error, sizeof(E.v2_error), "p0f v2 timeout");
                v2_abort(now);
            }
        }
        bool need_p0f = answer_from_cache(now);
        v3_due = v3_due && need_p0f;
        if (v3_due && p0f_connect(now)) {
            queue_due_queries(now);
            p0f_flush(now);
        } else if (v3_due && E.cfg->mode == MODE_HOLD) {
            /* p0f is unreachable: an accept() held for a verdict must not wait out
             * hold_ms for nothing. Settle now (fail open, with p0f's error). */
            settle_waiting_now(now);
            next = now;
        } else if (v3_due && E.p0f_retry_after_ns < next) {
            next = E.p0f_retry_after_ns;
        }
        if (v2_due) {
            v2_start_due(now);
            if (E.v2.fd < 0 && E.v2_retry_after_ns > now && E.v2_retry_after_ns < next)
                next = E.v2_retry_after_ns;
        }
        flush_verdicts();   /* before idle_close(): it frees the slots */
        next = idle_close(now, next);
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
            if (!still_owned(&E.p0f)) {
                E.p0f.fd = -1;   /* the host's now: not ours to read or close */
                p0f_disconnect(now);
            } else {
                if (fds[1].revents & (POLLIN | POLLHUP | POLLERR))
                    p0f_read(now);
                if (E.p0f.fd >= 0 && (fds[1].revents & POLLOUT))
                    p0f_flush(now);
            }
        }
        if (fds[2].fd >= 0 && fds[2].revents && E.v2.fd == fds[2].fd) {
            if (!still_owned(&E.v2)) {
                E.v2.fd = -1;
                snprintf(E.v2_error, sizeof(E.v2_error), "p0f v2 connection lost");
                v2_abort(now);
            } else {
                v2_read(now);
            }
        }
    }
    return NULL;
}

/* Under E.lock. Signals are blocked in the worker so the host's handlers never run on
 * it; the caller's mask is restored at once. */
static bool worker_start_locked(void)
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
    log_batch.n = nsettled = 0;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, WORKER_STACK_SIZE);
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &saved);
    rc = pthread_create(&thread, &attr, worker_main, NULL);
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        /* Threads may be short for a moment only (a host at its RLIMIT_NPROC, a cgroup's
         * pids.max): try again later, less often each time. The accept path reports the
         * connections passed meanwhile (no logging here: the host's thread holds the lock). */
        release(&E.wake);
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
static void wake_worker_locked(void)
{
    static const uint64_t one = 1;
    if (E.worker_sleeping && !E.wake_pending && still_owned(&E.wake)) {
        E.wake_pending = true;
        (void)!write(E.wake.fd, &one, sizeof(one));
    }
}

/* A connection passed unjudged on the accept path: the worker says so (started if need
 * be: the first connection may be the one that failed). */
static void wake_worker_to_report(void)
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
    int dup_fd = floor < 0 ? -1 : fcntl(fd, F_DUPFD_CLOEXEC, floor);
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
    if (own(dup_fd, &conn) != 0) {
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
    bool crowded = fdband_host_inside(floor, dup_fd, (unsigned)E.nactive);
    if (crowded || E.nfree == 0 || !worker_start_locked()) {
        bool no_worker = !crowded && E.nfree != 0;
        if (E.nfree == 0 && !crowded) {
            atomic_fetch_add(&E.overflowed, 1);
            wake_worker_locked();
        }
        pthread_mutex_unlock(&E.lock);
        close(dup_fd);
        if (crowded)
            atomic_fetch_add(&E.near_fd_limit, 1);
        if (no_worker)
            atomic_fetch_add(&E.no_worker, 1);
        if (crowded || no_worker)
            wake_worker_to_report();
        errno = saved;
        return none;
    }
    uint32_t idx = E.free_stack[--E.nfree];
    struct pending *p = &E.slots[idx];
    uint32_t generation = p->generation + 1;
    *p = (struct pending){
        .used = true,
        .active_pos = (uint32_t)E.nactive,
        .generation = generation,
        .conn = conn,
        .host_fd = fd,
        .forks_at_submit = E.forks,
        .remote = *remote,
        .local = *local,
        .accepted_ns = now,
        .deadline_ns = now + (uint64_t)E.cfg->timeout_ms * NS_PER_MS,
        .v3 = {.active = E.cfg->v3.enabled, .retry_ms = ENGINE_RETRY_FIRST_MS},
        .v2 = {.active = E.cfg->v2.enabled, .next_query_ns = now, .retry_ms = ENGINE_RETRY_FIRST_MS},
        .held = hold,
        .inherited = inherited,
    };
    E.active[E.nactive++] = idx;
    if (!inherited)
        watch_fd(fd);
    /* The SYN came one round trip before accept(); the worker knows that round trip
     * (vet_locked) and corrects this. */
    schedule_first_query_locked(&p->v3, now, now, now);
    ticket = (struct engine_ticket){.valid = true, .slot = idx, .generation = generation};
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
