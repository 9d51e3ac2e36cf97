#include "engine.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "logfmt.h"
#include "p0f3.h"
#include "policy.h"

#define NS_PER_MS 1000000ull
#define WORKER_STACK_SIZE (256 * 1024)
/* Leave the host this many descriptors below its limit: our dup must never be the
 * reason the MTA's next accept() or open() fails with EMFILE. */
#define FD_HEADROOM 32
/* After p0f refused a connection or dropped one, wait this long before trying again. */
#define RECONNECT_DELAY_MS 10

/* An fd the shim owns, with the identity it had when the shim got it: the host may
 * close our number and reuse it, and we must then neither use nor close it. */
struct owned_fd {
    int fd;
    dev_t dev;
    ino_t ino;
};

struct pending {
    bool used;
    bool in_flight;          /* a query for it is outstanding */
    bool saw_nomatch;
    uint32_t generation;     /* tells a late reply for a reused slot from a current one */
    struct owned_fd conn;    /* our dup of the accepted socket */
    struct endpoint remote, local;
    uint64_t accepted_ns, deadline_ns, next_query_ns;
    unsigned retry_ms;
};

struct outstanding {
    uint32_t slot, generation;
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
    bool worker_failed;
    bool worker_sleeping, wake_pending;
    uint64_t submissions;    /* lets the worker see work that arrived while it planned */
    struct owned_fd wake_read, wake_write;

    struct pending slots[ENGINE_PENDING_MAX];
    uint32_t free_stack[ENGINE_PENDING_MAX];
    size_t nfree;
    bool slots_ready;

    dev_t root_dev;          /* "/" when the library loaded: tells that the daemon chrooted */
    ino_t root_ino;

    /* Owned by the worker; reset in a forked child. */
    struct owned_fd p0f;
    uint64_t p0f_last_use_ns, p0f_retry_after_ns;
    char p0f_error[160];
    struct outstanding fifo[ENGINE_OUTSTANDING_MAX];
    size_t fifo_head, fifo_count;
    uint8_t outbuf[ENGINE_OUTSTANDING_MAX * P0F3_QUERY_LEN];
    size_t out_len;
    uint8_t inbuf[P0F3_RESPONSE_LEN * 16];
    size_t in_len;

    /* Failures on the accept path, reported by the worker. */
    atomic_ulong overflowed, dup_failed, near_fd_limit;
    atomic_int dup_errno;
    struct rate_limit rl_p0f, rl_overflow, rl_dup, rl_worker;
};

static struct engine E = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .wake_read = {.fd = -1}, .wake_write = {.fd = -1}, .p0f = {.fd = -1},
};

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
static bool wake_pipe_open_locked(void)
{
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC | O_NONBLOCK) != 0)
        return false;
    if (own(pipefd[0], &E.wake_read) != 0 || own(pipefd[1], &E.wake_write) != 0) {
        close(pipefd[0]);
        close(pipefd[1]);
        E.wake_read.fd = E.wake_write.fd = -1;
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
    E.slots_ready = true;
}

static void slot_free_locked(uint32_t idx)
{
    struct pending *p = &E.slots[idx];
    release(&p->conn);
    p->used = false;
    p->in_flight = false;
    E.free_stack[E.nfree++] = idx;
}

/* ---- fork ---- */

static void atfork_prepare(void)
{
    pthread_mutex_lock(&E.lock);
}

static void atfork_parent(void)
{
    pthread_mutex_unlock(&E.lock);
}

/* The child has no worker: it gives back every fd the shim held (they are the
 * parent's business) and starts afresh when it accepts a connection itself. */
static void atfork_child(void)
{
    pthread_mutex_init(&E.lock, NULL);
    if (E.slots_ready)
        for (uint32_t i = 0; i < ENGINE_PENDING_MAX; i++)
            if (E.slots[i].used)
                release(&E.slots[i].conn);
    if (E.slots_ready)
        slots_init_locked();
    release(&E.p0f);
    release(&E.wake_read);
    release(&E.wake_write);
    E.worker_pid = 0;
    E.worker_failed = false;
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
            p->in_flight = false;
            p->next_query_ns = E.p0f_retry_after_ns;
        }
    }
    E.fifo_head = E.fifo_count = 0;
    pthread_mutex_unlock(&E.lock);
}

static int connect_path(int fd, const char *path)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    size_t len = strlen(path);
    if (len >= sizeof(sun.sun_path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(sun.sun_path, path, len + 1);
    return connect(fd, (struct sockaddr *)&sun, sizeof(sun));
}

static bool root_changed(void)
{
    struct stat st;
    return stat("/", &st) == 0 && (st.st_dev != E.root_dev || st.st_ino != E.root_ino);
}

/* After a chroot (Postfix's smtpd) the configured path no longer resolves; the same
 * socket is then found under the path with leading directories removed:
 * /var/spool/postfix/p0f/p0f.sock is /p0f/p0f.sock inside /var/spool/postfix. */
static int connect_p0f_socket(int fd)
{
    const char *path = E.cfg->socket_path;
    if (connect_path(fd, path) == 0)
        return 0;
    int first = errno;
    if (first != ENOENT || !root_changed())
        return -1;
    for (const char *tail = strchr(path + 1, '/'); tail; tail = strchr(tail + 1, '/'))
        if (connect_path(fd, tail) == 0)
            return 0;
    errno = first;
    return -1;
}

/* Anyone can create a socket in /tmp, or replace a path a careless setup left writable:
 * the answers decide which mail is refused, so only root (p0f binds its socket before
 * dropping privileges) or the configured p0f_user may give them. */
static bool p0f_peer_trusted(int fd)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
        p0f_error("p0f peer credentials", errno);
        return false;
    }
    if (cred.uid == 0 || cred.uid == E.cfg->p0f_uid)
        return true;
    snprintf(E.p0f_error, sizeof(E.p0f_error), "p0f socket served by uid %u (pid %d), not root or p0f_user",
             (unsigned)cred.uid, (int)cred.pid);
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
    if (fd < 0) {
        p0f_error("p0f socket", errno);
        E.p0f_retry_after_ns = now + RECONNECT_DELAY_MS * NS_PER_MS;
        return false;
    }
    if (connect_p0f_socket(fd) != 0) {
        p0f_error("p0f connect", errno);
        diagnostic(LOG_WARNING, &E.rl_p0f, "cannot reach p0f", "reason", E.p0f_error);
        close(fd);
        E.p0f_retry_after_ns = now + RECONNECT_DELAY_MS * NS_PER_MS;
        return false;
    }
    if (!p0f_peer_trusted(fd)) {
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
    E.fifo[E.fifo_head] = (struct outstanding){.slot = PROBE_SLOT};
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

struct resolution {
    enum lookup_outcome outcome;
    const struct p0f3_answer *answer;
    const char *reason;
};

/* Judges, acts and logs outside the lock; the slot is freed (its dup closed) after. */
static void resolve(uint32_t idx, const struct resolution *res, uint64_t now)
{
    struct pending snapshot;
    struct connection_report report = {0};
    struct logfmt line;
    char genre[2 * P0F3_STR_MAX];

    pthread_mutex_lock(&E.lock);
    snapshot = E.slots[idx];
    pthread_mutex_unlock(&E.lock);

    genre[0] = '\0';
    if (res->answer)
        genre_format(res->answer, genre, sizeof(genre));
    policy_judge(&E.cfg->policy, &snapshot.remote, res->outcome, genre, &report.judgement);
    if (report.judgement.verdict == VERDICT_BLOCK && still_owned(&snapshot.conn))
        shutdown(snapshot.conn.fd, SHUT_RDWR);

    report.remote = snapshot.remote;
    report.local = snapshot.local;
    report.elapsed_ms = (long)((now - snapshot.accepted_ns) / NS_PER_MS);
    report.answer = res->answer;
    report.genre = res->answer ? genre : NULL;
    report.blocked_file = E.cfg->policy.blocked_file;
    report.reason = res->reason;
    logfmt_connection(&line, &report);
    syslog_writer_send(E.log, LOG_INFO, line.text);

    pthread_mutex_lock(&E.lock);
    if (E.slots[idx].used && E.slots[idx].generation == snapshot.generation)
        slot_free_locked(idx);
    pthread_mutex_unlock(&E.lock);
}

static void handle_reply(const uint8_t *buf, uint64_t now)
{
    struct p0f3_answer answer;
    enum p0f3_decode_status status = p0f3_decode_response(buf, P0F3_RESPONSE_LEN, &answer);
    struct outstanding o;
    bool current;

    pthread_mutex_lock(&E.lock);
    if (E.fifo_count == 0) {
        pthread_mutex_unlock(&E.lock);
        snprintf(E.p0f_error, sizeof(E.p0f_error), "p0f: reply for a query never sent");
        diagnostic(LOG_WARNING, &E.rl_p0f, "p0f sent a reply nobody asked for", "socket", E.cfg->socket_path);
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
            diagnostic(LOG_WARNING, &E.rl_p0f, "p0f sent a reply nobody asked for", "socket", E.cfg->socket_path);
            p0f_disconnect(now);
        }
        return;
    }
    struct pending *p = &E.slots[o.slot];
    current = p->used && p->generation == o.generation && p->in_flight;
    if (current)
        p->in_flight = false;
    if (current && status == P0F3_DECODED_NOMATCH) {
        p->saw_nomatch = true;
        if (now + p->retry_ms * NS_PER_MS < p->deadline_ns) {
            p->next_query_ns = now + p->retry_ms * NS_PER_MS;
            p->retry_ms = p->retry_ms * 2 > ENGINE_RETRY_MAX_MS ? ENGINE_RETRY_MAX_MS : p->retry_ms * 2;
            current = false;   /* asked again later */
        } else {
            p->next_query_ns = UINT64_MAX;
            current = false;   /* the deadline will resolve it as unknown */
        }
    }
    pthread_mutex_unlock(&E.lock);

    if (status != P0F3_DECODED_OK && status != P0F3_DECODED_NOMATCH) {
        /* Framing can no longer be trusted: a p0f that says this is not well. */
        snprintf(E.p0f_error, sizeof(E.p0f_error), "%s", p0f3_decode_strerror(status));
        diagnostic(LOG_WARNING, &E.rl_p0f, "bad reply from p0f", "reason", E.p0f_error);
        if (current) {
            struct resolution res = {LOOKUP_FAILED, NULL, p0f3_decode_strerror(status)};
            resolve(o.slot, &res, now);
        }
        p0f_disconnect(now);
        return;
    }
    E.p0f_error[0] = '\0';
    if (!current)
        return;
    struct resolution res = {LOOKUP_OS_KNOWN, &answer, NULL};
    if (answer.os_name[0] == '\0') {
        res.outcome = LOOKUP_NO_OS;
        res.reason = "os not identified";
    }
    resolve(o.slot, &res, now);
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

/* ---- the worker ---- */

static void report_accept_path_failures(void)
{
    char value[96];
    unsigned long n;
    if ((n = atomic_exchange(&E.overflowed, 0)) != 0) {
        snprintf(value, sizeof(value), "%lu", n);
        diagnostic(LOG_WARNING, &E.rl_overflow, "too many connections awaiting a verdict; passed unjudged",
                   "count", value);
    }
    if ((n = atomic_exchange(&E.dup_failed, 0)) != 0) {
        snprintf(value, sizeof(value), "%lu (%s)", n, strerror(atomic_load(&E.dup_errno)));
        diagnostic(LOG_WARNING, &E.rl_dup, "cannot duplicate accepted sockets; passed unjudged", "count", value);
    }
    if ((n = atomic_exchange(&E.near_fd_limit, 0)) != 0) {
        snprintf(value, sizeof(value), "%lu", n);
        diagnostic(LOG_WARNING, &E.rl_dup, "near the descriptor limit; connections passed unjudged", "count",
                   value);
    }
}

/* Collects what is due: deadlines reached, queries to send. Returns the next wake-up time. */
static uint64_t plan(uint64_t now, uint32_t *expired, size_t *nexpired, bool *want_query, uint64_t *seen)
{
    uint64_t next = UINT64_MAX;
    *nexpired = 0;
    *want_query = false;
    pthread_mutex_lock(&E.lock);
    *seen = E.submissions;
    for (uint32_t i = 0; i < ENGINE_PENDING_MAX; i++) {
        struct pending *p = &E.slots[i];
        if (!p->used)
            continue;
        if (now >= p->deadline_ns) {
            expired[(*nexpired)++] = i;
            continue;
        }
        if (p->deadline_ns < next)
            next = p->deadline_ns;
        if (!p->in_flight) {
            if (p->next_query_ns <= now)
                *want_query = true;
            else if (p->next_query_ns < next)
                next = p->next_query_ns;
        }
    }
    pthread_mutex_unlock(&E.lock);
    return next;
}

static void queue_due_queries(uint64_t now)
{
    pthread_mutex_lock(&E.lock);
    for (uint32_t i = 0; i < ENGINE_PENDING_MAX && E.fifo_count < ENGINE_OUTSTANDING_MAX; i++) {
        struct pending *p = &E.slots[i];
        if (!p->used || p->in_flight || p->next_query_ns > now || now >= p->deadline_ns)
            continue;
        p0f3_encode_query(&p->remote, E.outbuf + E.out_len);
        E.out_len += P0F3_QUERY_LEN;
        E.fifo[(E.fifo_head + E.fifo_count) % ENGINE_OUTSTANDING_MAX] =
            (struct outstanding){.slot = i, .generation = p->generation};
        E.fifo_count++;
        p->in_flight = true;
    }
    pthread_mutex_unlock(&E.lock);
}

static void expire(const uint32_t *expired, size_t n, uint64_t now)
{
    for (size_t i = 0; i < n; i++) {
        struct resolution res = {LOOKUP_FAILED, NULL, NULL};
        pthread_mutex_lock(&E.lock);
        bool nomatch = E.slots[expired[i]].saw_nomatch;
        pthread_mutex_unlock(&E.lock);
        if (nomatch) {
            res.outcome = LOOKUP_NO_MATCH;
            res.reason = "no match";
        } else {
            res.reason = E.p0f_error[0] ? E.p0f_error : "p0f timeout";
        }
        /* The query may still be in flight: its reply is matched to nothing and dropped. */
        resolve(expired[i], &res, now);
    }
}

static void drain_wake_pipe(void)
{
    char buf[64];
    if (!still_owned(&E.wake_read))
        return;
    while (read(E.wake_read.fd, buf, sizeof(buf)) > 0)
        ;
}

/* A daemon that closed "all fds" took our pipe: polling its number would spin or
 * steal its input, so open a new one. Without a pipe the worker still runs on timeouts. */
static void ensure_wake_pipe(void)
{
    pthread_mutex_lock(&E.lock);
    if (!still_owned(&E.wake_read) || !still_owned(&E.wake_write)) {
        release(&E.wake_read);
        release(&E.wake_write);
        if (!wake_pipe_open_locked())
            diagnostic(LOG_WARNING, &E.rl_worker, "cannot reopen the wake-up pipe", NULL, NULL);
    }
    pthread_mutex_unlock(&E.lock);
}

static void *worker_main(void *unused)
{
    static uint32_t expired[ENGINE_PENDING_MAX];
    (void)unused;

    for (;;) {
        uint64_t now = now_ns();
        size_t nexpired;
        bool want_query;
        uint64_t seen;

        report_accept_path_failures();
        ensure_wake_pipe();
        uint64_t next = plan(now, expired, &nexpired, &want_query, &seen);
        expire(expired, nexpired, now);
        if (want_query && p0f_connect(now)) {
            queue_due_queries(now);
            p0f_flush(now);
        } else if (want_query && E.p0f_retry_after_ns < next) {
            next = E.p0f_retry_after_ns;
        }

        bool idle;
        pthread_mutex_lock(&E.lock);
        idle = E.fifo_count == 0 && E.nfree == ENGINE_PENDING_MAX;
        pthread_mutex_unlock(&E.lock);
        if (E.p0f.fd >= 0 && idle && E.out_len == 0) {
            uint64_t close_at = E.p0f_last_use_ns + ENGINE_IDLE_CLOSE_MS * NS_PER_MS;
            if (now >= close_at) {
                release(&E.p0f);
                E.in_len = 0;
                E.p0f_error[0] = '\0';
            } else if (close_at < next) {
                next = close_at;
            }
        }

        struct pollfd fds[2] = {{.fd = E.wake_read.fd, .events = POLLIN}, {.fd = -1}};
        nfds_t nfds = 1;
        if (E.p0f.fd >= 0 && still_owned(&E.p0f)) {
            fds[1].fd = E.p0f.fd;
            fds[1].events = POLLIN | (E.out_len ? POLLOUT : 0);
            nfds = 2;
        }
        int timeout_ms = -1;
        now = now_ns();
        if (next != UINT64_MAX)
            timeout_ms = next <= now ? 0 : (int)((next - now + NS_PER_MS - 1) / NS_PER_MS);

        pthread_mutex_lock(&E.lock);
        E.worker_sleeping = true;
        bool new_work = E.wake_pending || E.submissions != seen;
        pthread_mutex_unlock(&E.lock);
        if (new_work)
            timeout_ms = 0;
        int ready = poll(fds, nfds, timeout_ms);
        pthread_mutex_lock(&E.lock);
        E.worker_sleeping = false;
        E.wake_pending = false;
        pthread_mutex_unlock(&E.lock);

        if (ready <= 0)
            continue;
        if (fds[0].revents)
            drain_wake_pipe();
        if (nfds == 2 && fds[1].revents) {
            now = now_ns();
            if (fds[1].revents & (POLLIN | POLLHUP | POLLERR))
                p0f_read(now);
            if (E.p0f.fd >= 0 && (fds[1].revents & POLLOUT))
                p0f_flush(now);
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

    if (E.worker_pid == getpid())
        return true;
    if (E.worker_failed || !wake_pipe_open_locked())
        return false;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, WORKER_STACK_SIZE);
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &saved);
    rc = pthread_create(&thread, &attr, worker_main, NULL);
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        release(&E.wake_read);
        release(&E.wake_write);
        E.worker_failed = true;
        diagnostic(LOG_ERR, &E.rl_worker, "cannot start the lookup thread; connections pass unjudged", "reason",
                   strerror(rc));
        return false;
    }
    E.worker_pid = getpid();
    return true;
}

static bool fd_headroom_ok(int fd)
{
    static _Atomic rlim_t limit;
    rlim_t lim = atomic_load(&limit);
    if (lim == 0 || (rlim_t)fd + FD_HEADROOM >= lim) {
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
            return false;
        lim = rl.rlim_cur;
        atomic_store(&limit, lim);
    }
    return (rlim_t)fd + FD_HEADROOM < lim;
}

void engine_submit(int fd, const struct endpoint *remote, const struct endpoint *local)
{
    struct owned_fd conn;
    int saved = errno;
    uint64_t now = now_ns();

    int dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (dup_fd < 0) {
        atomic_store(&E.dup_errno, errno);
        atomic_fetch_add(&E.dup_failed, 1);
        errno = saved;
        return;
    }
    if (!fd_headroom_ok(dup_fd) || own(dup_fd, &conn) != 0) {
        close(dup_fd);
        atomic_fetch_add(&E.near_fd_limit, 1);
        errno = saved;
        return;
    }

    pthread_mutex_lock(&E.lock);
    if (!E.slots_ready)
        slots_init_locked();
    if (E.nfree == 0 || !worker_start_locked()) {
        if (E.nfree == 0)
            atomic_fetch_add(&E.overflowed, 1);
        pthread_mutex_unlock(&E.lock);
        close(dup_fd);
        errno = saved;
        return;
    }
    uint32_t idx = E.free_stack[--E.nfree];
    struct pending *p = &E.slots[idx];
    uint32_t generation = p->generation + 1;
    *p = (struct pending){
        .used = true,
        .generation = generation,
        .conn = conn,
        .remote = *remote,
        .local = *local,
        .accepted_ns = now,
        .deadline_ns = now + (uint64_t)E.cfg->timeout_ms * NS_PER_MS,
        .next_query_ns = now,
        .retry_ms = ENGINE_RETRY_FIRST_MS,
    };
    E.submissions++;
    if (E.worker_sleeping && !E.wake_pending && still_owned(&E.wake_write)) {
        E.wake_pending = true;
        ssize_t ignored = write(E.wake_write.fd, "", 1);
        (void)ignored;
    }
    pthread_mutex_unlock(&E.lock);
    errno = saved;
}
