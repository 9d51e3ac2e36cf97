/* The engine's table of connections awaiting a verdict (E.slots, a free stack, and the
 * dense list of slots in use that the worker walks), and what the host does with them
 * meanwhile: the worker vets each new one (TCP, and the handshake's round trip that times
 * its first query), and a connection the host closed has the shim's duplicate dropped at once,
 * from the host's close() (engine_host_closed) or the worker's periodic look. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine_state.h"
#include "mutant.h"

/* Host descriptor numbers that name a pending connection: the host's close() of one of them
 * drops the duplicate at once (engine_host_closed), so that the client sees the MTA's close
 * when it is made. A bit may outlive its connection (it is cleared by the close that finds
 * it): a stale bit costs that close one fstat and a look at the slots. Numbers above the table
 * are left to the worker's periodic look. */
static atomic_ulong watched[WATCHED_FDS / 64];
atomic_bool p0fshim_closes_watched;

void watch_fd(int fd)
{
    if (fd >= 0 && fd < WATCHED_FDS) {
        if (!atomic_load_explicit(&p0fshim_closes_watched, memory_order_relaxed))
            atomic_store_explicit(&p0fshim_closes_watched, true, memory_order_relaxed);
        atomic_fetch_or_explicit(&watched[fd / 64], 1ul << (fd % 64), memory_order_relaxed);
    }
}

bool engine_fd_watched(int fd)
{
    return fd >= 0 && fd < WATCHED_FDS &&
           (atomic_load_explicit(&watched[fd / 64], memory_order_relaxed) & (1ul << (fd % 64)));
}

void slots_init_locked(void)
{
    memset(E.slots, 0, sizeof(E.slots));
    for (size_t i = 0; i < ENGINE_PENDING_MAX; i++)
        E.free_stack[i] = (uint32_t)(ENGINE_PENDING_MAX - 1 - i);
    E.nfree = ENGINE_PENDING_MAX;
    E.nactive = 0;
    E.slots_ready = true;
}

void slot_free_locked(uint32_t idx)
{
    struct pending *p = &E.slots[idx];
    uint32_t last = E.active[--E.nactive];
    E.active[p->active_pos] = last;
    E.slots[last].active_pos = p->active_pos;
    if (!P0FSHIM_MUTANT_LEAK)
        owned_fd_release(&p->conn);
    free(p->decided);
    p->decided = NULL;
    p->used = false;
    E.free_stack[E.nfree++] = idx;
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
bool vet_locked(uint32_t idx, uint64_t now)
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
        if (!p->host_closed && p->v3.active && p->v3.queries == 0 && !p->v3.done && answer_cache_find(&E.answers, &p->remote, now) == NULL &&
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
            first_query_schedule(&E.timing, &p->v3, syn_ns, p->accepted_ns, now);
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
    return !P0FSHIM_MUTANT_NODUP && !p->host_closed && !p->inherited && !p->finished && p->conn.fd >= 0 && p->forks_at_submit == E.forks;
}

static void host_closed_locked(struct pending *p)
{
    p->host_closed = true;
    if (owned_fd_still(&p->conn)) {
        if (!p->vetted)
            p->closed_not_tcp = !socket_is_tcp(p->conn.fd);
        tcp_progress_read(p->conn.fd, &p->progress);
    }
    owned_fd_release(&p->conn);
}

bool host_still_holds_locked(struct pending *p)
{
    if (!host_may_hold_locked(p))
        return false;
    if (owned_fd_same_file(&p->conn, p->host_fd))
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
