/* Inside the engine (engine.h): the state its modules share, around one process-wide struct.
 *
 *   engine.c          setup, fork handling, the accept path's submit and wait, exit drain
 *   engine_slots.c    the table of connections awaiting a verdict; what the host did with them
 *   engine_worker.c   the worker thread: its loop, its plan of what is due, its reports
 *   engine_settle.c   a connection's end: the verdict (verdict.h), handed over or applied, logged
 *   p0f3_client.c     the pipelined p0f v3 connection, with the answer cache
 *   p0f2_client.c     the one-shot p0f v2 queries
 *   engine_syn.c      a verdict from the saved SYN, decided inside accept()
 *   schedule.c        when to ask (pure)
 *
 * Locking: E.lock guards the slots, the FIFO of v3 queries in flight and the fields marked
 * "under lock"; the worker owns the p0f links and its buffers and touches them unlocked. The
 * host's threads take the lock only briefly, never at a cancellation point but in
 * engine_wait(). */
#ifndef P0FSHIM_ENGINE_STATE_H
#define P0FSHIM_ENGINE_STATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "engine.h"
#include "fdident.h"
#include "greylist.h"
#include "karma.h"
#include "p0f2.h"
#include "p0f3.h"
#include "schedule.h"
#include "syslog_writer.h"
#include "tcpprogress.h"
#include "tunables.h"

/* A verdict the SYN decided inside accept() (fingerprint syn+p0f): the worker only adds p0f's
 * fields to its line. */
struct syn_decision {
    struct syn_reading syn;
    struct judgement judgement;
    long greylist_wait_s;
    bool karma_counted;
    long long karma_total;
    const char *action;
    char reply[256];
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
    struct syn_decision *decided;    /* malloc'd: the SYN decided, p0f is asked for the line only */
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
    pthread_mutex_t greylist_lock;   /* the store is used by the worker and inside accept() */
    struct karma_store *karma;       /* NULL: no karma store (or it could not be set up) */
    struct owned_fd wake;    /* an eventfd: the accept path's doorbell for a sleeping worker */

    size_t nfree;
    size_t nactive;
    bool slots_ready;

    dev_t root_dev;          /* "/" when the library loaded: tells that the daemon chrooted */
    ino_t root_ino;

    /* The p0f v3 link. Owned by the worker; reset in a forked child. */
    struct owned_fd p0f;
    uint64_t p0f_last_use_ns, p0f_retry_after_ns;
    char p0f_error[160];
    size_t fifo_head, fifo_count;
    size_t out_len;
    size_t in_len;

    /* When to ask first (under lock). */
    struct first_query_timing timing;

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
    struct rate_limit rl_p0f, rl_overflow, rl_dup, rl_headroom, rl_worker, rl_no_worker, rl_store;   /* the greylist and karma stores: one line for both */

    /* The tables, last: a forked child writes only the fields above (a page or two), so a
     * fork-per-connection server does not copy the tables into every child. */
    struct pending slots[ENGINE_PENDING_MAX];
    uint32_t free_stack[ENGINE_PENDING_MAX];
    /* The slots in use, densely: every pass of the worker walks these, not the whole table. */
    uint32_t active[ENGINE_PENDING_MAX];
    struct outstanding fifo[ENGINE_OUTSTANDING_MAX];
    uint8_t outbuf[ENGINE_OUTSTANDING_MAX * P0F3_QUERY_LEN];
    uint8_t inbuf[P0F3_RESPONSE_LEN * 16];
    /* The worker's (under lock: the slots consult it too). */
    struct answer_cache answers;
};

extern struct engine E;

/* ---- engine.c ---- */
uint64_t now_ns(void);
/* One diagnostic line (level=, msg=, and key=value), rate-limited by rl when given. */
void diagnostic(int severity, struct rate_limit *rl, const char *msg, const char *key, const char *value);
/* A new connection to the p0f socket at path, in the descriptor band, served by a trusted
 * peer; -1 with why set (and logged where the admin must act). label: "p0f" or "p0f v2". */
int engine_p0f_open(const char *path, const char *label, char *why, size_t why_size);

/* The greylist store, checked and recorded (a verdict_greylist_fn); from any thread. */
bool engine_greylist_check(void *unused, const struct endpoint *peer, struct greylist_result *out);
/* The fleet's karma count (a verdict_karma_fn); from any thread, within store_timeout_ms. */
bool engine_karma_count(void *unused, const struct endpoint *peer, unsigned hits, long long *total);
/* Under E.lock: a free slot for a connection, filled in and listed, the worker started; NULL
 * when none (counted; with *report, the caller calls wake_worker_to_report() once unlocked). */
struct pending *slot_take_locked(const struct endpoint *remote, const struct endpoint *local, uint64_t now,
                                 bool *report);
/* A connection passed unjudged: the worker (started if need be) says so. Not under E.lock. */
void wake_worker_to_report(void);

/* ---- engine_syn.c ---- */
/* The line of a connection the SYN decided (p0f's fields are added by the caller). */
struct connection_report;
void syn_decision_report(const struct syn_decision *d, const struct endpoint *remote, const struct endpoint *local,
                         struct connection_report *r);

/* ---- engine_slots.c (all under E.lock) ---- */
void slots_init_locked(void);
void slot_free_locked(uint32_t idx);
void watch_fd(int fd);
/* Vets a new slot (TCP, and the handshake's round trip for the first query's time); false
 * when the slot is gone. */
bool vet_locked(uint32_t idx, uint64_t now);
/* Whether the host still holds the connection (so that the worker must look again); one
 * the host closed has its duplicate dropped here. */
bool host_still_holds_locked(struct pending *p);

static inline bool all_done(const struct pending *p)
{
    return (!p->v3.active || p->v3.done) && (!p->v2.active || p->v2.done);
}

static inline bool pending_due(const struct pending *p, const struct lookup *l, uint64_t now)
{
    return lookup_due(l, p->vetted, p->deadline_ns, now);
}

/* ---- engine_worker.c ---- */
/* Under E.lock: starts this process's worker if it has none (false: it could not). */
bool worker_start_locked(void);
void wake_worker_locked(void);
/* Reports the accept path's failures counted so far, rate-limited; returns when to look again. */
uint64_t report_accept_path_failures(void);

/* ---- engine_settle.c (worker only) ---- */
/* Judges, acts and logs the connection in slot idx (its lookups are done). */
void settle(uint32_t idx, uint64_t now);
/* Sends the batched lines and frees their slots. */
void settle_flush(void);
/* Forgets the batch (a forked child's worker starts with none). */
void settle_reset(void);

/* ---- p0f3_client.c (worker only) ---- */
/* Settles v3 lookups whose host has a fresh cached answer; true when due ones need p0f. */
bool p0f3_answer_from_cache(uint64_t now);
bool p0f3_connect(uint64_t now);
void p0f3_disconnect(uint64_t now);
void p0f3_queue_due(uint64_t now);
void p0f3_flush(uint64_t now);
void p0f3_read(uint64_t now);
/* Closes the link after ENGINE_IDLE_CLOSE_MS without work; returns when to look again. */
uint64_t p0f3_idle_close(uint64_t now, uint64_t next);

/* ---- p0f2_client.c (worker only) ---- */
void p0f2_start_due(uint64_t now);
void p0f2_read(uint64_t now);
void p0f2_abort(uint64_t now);

#endif
