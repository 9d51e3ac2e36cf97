/*
 * testsrv: a small SMTP-ish server whose accept() calls p0fshim interposes in the tests.
 * It offers the process models real MTAs use, and counts what the shim must never change.
 *
 * CLI:
 *   testsrv --model loop|epoll|fork|threads|inetd --listen IP:PORT|[IPv6]:PORT [--threads N]
 *           [--null-addr] [--ready-file PATH] [--stats-file PATH] [--clearenv] [--mptcp]
 *           [--slow-accept-after K --slow-accept-ms N]
 *
 * Dialog per connection: "220 testsrv ready\r\n"; line QUIT -> "221 bye\r\n" and close;
 * DATA -> "354 go\r\n", then the body up to a line "." -> "250 queued\r\n"; any other line ->
 * "250 ok\r\n"; EOF -> close. Commands are matched case-insensitively; lines end in LF or CRLF.
 *
 * Models:
 *   loop     blocking accept() (accept(fd, NULL, NULL) with --null-addr), one client at a time.
 *   epoll    non-blocking listener; accept4(SOCK_NONBLOCK|SOCK_CLOEXEC) until EAGAIN; every
 *            connection served non-blocking from one epoll loop. An accepted fd missing
 *            O_NONBLOCK or FD_CLOEXEC is reported on stderr and counted in accept_errors.
 *   fork     blocking accept(); a child serves each connection and the parent closes its copy
 *            at once. Children are reaped by a SIGCHLD handler (waitpid WNOHANG); a child exits
 *            0 if its client said QUIT. Children get SIGTERM when the parent dies.
 *   threads  N threads (--threads, default 4, 1..256) blocking in accept() on one listener.
 *   inetd    the connected socket is fd 0 (replies go to fd 1 if it is the same socket, else to
 *            fd 0); one session, then exit 0. --listen is not used.
 * Blocking accepts have SO_RCVTIMEO (300 ms) so that no wait is unbounded; the EAGAIN of such a
 * timeout is not an error. A session idle for 30 s is closed.
 *
 * Before each accept errno is set to EDOM; after a successful accept errno must still be EDOM,
 * else errno_changed is counted. Failed accepts count as accept_errors, except EAGAIN from the
 * empty non-blocking listener (epoll) or from the SO_RCVTIMEO timeout, and EINTR caused by a
 * signal this program handles (SIGCHLD, SIGTERM) or, on a blocking listener, returned by
 * p0fshim's hold mode after it answered a connection itself with nothing else queued, and
 * ECONNABORTED (an aborted connection; also hold mode's word for "my share of refusals in one
 * call is done, more are queued").
 * Stats file (rewritten atomically at start, after each accept and after each connection):
 *   accepted=N served=N accept_errors=N errno_changed=N
 * where served counts sessions that ended with QUIT and a fully written "221 bye".
 * --ready-file is created (atomically, content "pid=P port=N") once the listener is up.
 * --clearenv: clearenv() once the listener is up (inetd: before the session), before the ready
 *   file is written and before the first accept, as daemons that scrub their environment after
 *   start do (Sendmail, Exim); the ready file then ends in " environ=N", the number of
 *   variables left (0), so a test can see that it happened.
 * --mptcp: the listener is a Multipath TCP socket (IPPROTO_MPTCP, as `mptcpize run` makes an
 *   unmodified daemon's): its connections report SO_PROTOCOL 262, not IPPROTO_TCP, even when the
 *   client speaks plain TCP. Exit 2 if the kernel has no MPTCP.
 * --slow-accept-after K --slow-accept-ms N (loop model): after K accepted connections, a busy
 *   MTA: each later connection is left N ms in the accept queue (the listener is polled until a
 *   connection is queued, then the server sleeps N ms before it accepts).
 * SIGTERM/SIGINT: clean exit 0. Exit 2 on misuse or start-up failure.
 */
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#define HELPER_NAME "testsrv"
#include "helper.h"

#define ACCEPT_TIMEOUT_MS 300
#define IDLE_TIMEOUT_MS 30000
#define SEND_TIMEOUT_MS 5000
#define TICK_MS 200
#define LINE_MAX_LEN 1000
#define OUT_MAX (1024 * 1024)   /* a client that never reads is dropped past this */
#define OUT_HIGH_WATER 65536     /* epoll: stop reading while this much is unsent */
#define MAX_THREADS 256
#define MAX_WARNINGS 20

enum model { M_LOOP, M_EPOLL, M_FORK, M_THREADS, M_INETD };

static struct {
    enum model model;
    bool model_set;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    bool listen_set;
    unsigned threads;
    bool threads_set;
    bool null_addr;
    const char *ready_path;
    const char *stats_path;
    bool clear_env;
    bool mptcp;
    unsigned long slow_after, slow_ms;
} cfg = {.threads = 4};

static struct {
    unsigned long accepted, served, accept_errors, errno_changed;
} g_stats;
static pthread_mutex_t g_stats_mu = PTHREAD_MUTEX_INITIALIZER;

static atomic_int g_stop;
static atomic_uint g_sig_gen;        /* bumped by every signal handler */
static atomic_uint g_children_ok;    /* fork: children that exited 0 (client said QUIT) */
static atomic_uint g_warnings;

/* ---- helpers ---- */

/* Rate-limited warning (at most MAX_WARNINGS lines per process). */
static void warnmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void warnmsg(const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    unsigned n = atomic_fetch_add(&g_warnings, 1);

    if (n >= MAX_WARNINGS)
        return;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    fprintf(stderr, "testsrv[%ld]: %s%s\n", (long)getpid(), buf,
            n == MAX_WARNINGS - 1 ? " (further warnings suppressed)" : "");
}

static void usage(void) __attribute__((noreturn));
static void usage(void)
{
    fputs("usage: testsrv --model loop|epoll|fork|threads|inetd --listen IP:PORT|[IPv6]:PORT\n"
          "               [--threads N] [--null-addr] [--ready-file PATH] [--stats-file PATH]\n"
          "               [--clearenv] [--mptcp] [--slow-accept-after K --slow-accept-ms N]\n"
          "       (--listen is required except with --model inetd, where it is not allowed)\n",
          stderr);
    exit(2);
}

/* A pause that a stop request cuts short (the back-off after an accept error). */
static void pause_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !atomic_load(&g_stop))
        ;
}

/* Rewrite the stats file; the caller holds g_stats_mu. */
static void stats_write_locked(void)
{
    char buf[200];

    if (cfg.stats_path == NULL)
        return;
    snprintf(buf, sizeof(buf), "accepted=%lu served=%lu accept_errors=%lu errno_changed=%lu\n",
             g_stats.accepted, g_stats.served, g_stats.accept_errors, g_stats.errno_changed);
    if (write_file_atomic(cfg.stats_path, buf) != 0)
        warnmsg("cannot write stats file %s: %s", cfg.stats_path, strerror(errno));
}

static void stats_add(unsigned long *field, unsigned long n)
{
    pthread_mutex_lock(&g_stats_mu);
    *field += n;
    stats_write_locked();
    pthread_mutex_unlock(&g_stats_mu);
}

/* ---- signals ---- */

static void on_term(int sig)
{
    (void)sig;
    atomic_store(&g_stop, 1);
    atomic_fetch_add(&g_sig_gen, 1);
}

static void on_chld(int sig)
{
    int saved = errno, st;
    pid_t p;

    (void)sig;
    while ((p = waitpid(-1, &st, WNOHANG)) > 0)
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
            atomic_fetch_add(&g_children_ok, 1);
    atomic_fetch_add(&g_sig_gen, 1);
    errno = saved;
}

/* Handlers without SA_RESTART: a blocking accept() returns EINTR, so the loop notices. */
static void install_handlers(bool want_chld)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGTERM);
    sigaddset(&sa.sa_mask, SIGINT);
    sigaddset(&sa.sa_mask, SIGCHLD);
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    if (want_chld) {
        sa.sa_handler = on_chld;
        sa.sa_flags = SA_NOCLDSTOP;
        sigaction(SIGCHLD, &sa, NULL);
    }
}

/* ---- the SMTP-ish session (shared by every model) ---- */

struct outbuf {
    char *buf;
    size_t len, off, cap;
};

struct session {
    bool in_data;
    bool quit;
    bool overflow;
    size_t len;
    char line[LINE_MAX_LEN + 1];
};

static int out_put(struct outbuf *o, const char *s)
{
    size_t n = strlen(s);

    if (o->off > 0 && o->off == o->len)
        o->off = o->len = 0;
    if (o->len + n > o->cap) {
        size_t ncap = o->cap ? o->cap : 256;
        char *p;
        while (ncap < o->len + n)
            ncap *= 2;
        if (ncap > OUT_MAX)
            return -1;
        p = realloc(o->buf, ncap);
        if (p == NULL)
            return -1;
        o->buf = p;
        o->cap = ncap;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    return 0;
}

static size_t out_pending(const struct outbuf *o)
{
    return o->len - o->off;
}

static int session_line(struct session *s, struct outbuf *o)
{
    size_t n = s->len;

    while (n > 0 && (s->line[n - 1] == '\r' || s->line[n - 1] == ' ' || s->line[n - 1] == '\t'))
        n--;
    if (s->in_data) {
        if (!s->overflow && n == 1 && s->line[0] == '.') {
            s->in_data = false;
            return out_put(o, "250 queued\r\n");
        }
        return 0;
    }
    if (!s->overflow && n == 4 && strncasecmp(s->line, "QUIT", 4) == 0) {
        s->quit = true;
        return out_put(o, "221 bye\r\n");
    }
    if (!s->overflow && n == 4 && strncasecmp(s->line, "DATA", 4) == 0) {
        s->in_data = true;
        return out_put(o, "354 go\r\n");
    }
    return out_put(o, "250 ok\r\n");
}

/* Consume input bytes; queue replies. Input after QUIT is ignored. -1: output overflow. */
static int session_feed(struct session *s, const char *p, size_t n, struct outbuf *o)
{
    for (size_t i = 0; i < n && !s->quit; i++) {
        if (p[i] == '\n') {
            if (session_line(s, o) != 0)
                return -1;
            s->len = 0;
            s->overflow = false;
        } else if (s->len < LINE_MAX_LEN) {
            s->line[s->len++] = p[i];
        } else {
            s->overflow = true;
        }
    }
    return 0;
}

/* Write all pending output, waiting at most SEND_TIMEOUT_MS for progress. */
static bool flush_blocking(int fd, struct outbuf *o)
{
    int64_t deadline = now_ms() + SEND_TIMEOUT_MS;

    while (out_pending(o) > 0) {
        ssize_t w = send(fd, o->buf + o->off, out_pending(o), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0 && errno == ENOTSOCK)
            w = write(fd, o->buf + o->off, out_pending(o));
        if (w > 0) {
            o->off += (size_t)w;
            deadline = now_ms() + SEND_TIMEOUT_MS;
            continue;
        }
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return false;
        if (atomic_load(&g_stop) || now_ms() >= deadline)
            return false;
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        if (poll(&pfd, 1, TICK_MS) < 0 && errno != EINTR)
            return false;
    }
    return true;
}

/* Serve one connection on blocking (or not) fds; true if it ended with QUIT + "221 bye". */
static bool serve_blocking(int rfd, int wfd)
{
    struct session s;
    struct outbuf o = {0};
    int64_t idle_deadline = now_ms() + IDLE_TIMEOUT_MS;
    bool ok = false;
    char buf[4096];

    memset(&s, 0, sizeof(s));
    if (out_put(&o, "220 testsrv ready\r\n") != 0 || !flush_blocking(wfd, &o))
        goto out;
    while (!s.quit && !atomic_load(&g_stop)) {
        struct pollfd pfd = {.fd = rfd, .events = POLLIN};
        ssize_t n;
        int rc = poll(&pfd, 1, TICK_MS);

        if (rc < 0) {
            if (errno == EINTR)
                continue;
            goto out;
        }
        if (rc == 0) {
            if (now_ms() >= idle_deadline)
                goto out;
            continue;
        }
        n = read(rfd, buf, sizeof(buf));
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
                continue;
            goto out; /* ECONNRESET, ENOTCONN after a shutdown, ... */
        }
        if (n == 0)
            goto out; /* EOF */
        idle_deadline = now_ms() + IDLE_TIMEOUT_MS;
        if (session_feed(&s, buf, (size_t)n, &o) != 0 || !flush_blocking(wfd, &o))
            goto out;
    }
    ok = s.quit;
out:
    free(o.buf);
    return ok;
}

/* ---- accepting ---- */

enum acc { ACC_OK, ACC_EMPTY, ACC_INTR, ACC_ERR };

static int g_listen_family;

static void check_peer(const struct sockaddr_storage *ss, socklen_t sl)
{
    if (sl > sizeof(*ss))
        warnmsg("accept set addrlen=%u, larger than the %zu-byte buffer", (unsigned)sl, sizeof(*ss));
    else if (sl < sizeof(sa_family_t))
        warnmsg("accept set addrlen=%u, too small for an address", (unsigned)sl);
    else if (ss->ss_family != g_listen_family)
        warnmsg("accept returned address family %d on a family %d listener", (int)ss->ss_family,
                g_listen_family);
}

/* One accept (blocking models) or accept4 (epoll model) call, with errno and flag checks. */
static enum acc accept_one(int lfd, bool nonblock_model, int *fdp)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    struct sockaddr *sa = cfg.null_addr ? NULL : (struct sockaddr *)&ss;
    socklen_t *slp = cfg.null_addr ? NULL : &sl;
    unsigned gen = atomic_load(&g_sig_gen);
    int64_t t0 = now_ms();
    int fd, e;

    memset(&ss, 0, sizeof(ss));
    errno = EDOM;
    if (nonblock_model)
        fd = accept4(lfd, sa, slp, SOCK_NONBLOCK | SOCK_CLOEXEC);
    else
        fd = accept(lfd, sa, slp);
    e = errno; /* read before any other call can touch it */

    if (fd >= 0) {
        unsigned long bad_flags = 0;
        if (!cfg.null_addr)
            check_peer(&ss, sl);
        if (nonblock_model) {
            int fl = fcntl(fd, F_GETFL), fdfl = fcntl(fd, F_GETFD);
            if (fl < 0 || !(fl & O_NONBLOCK)) {
                warnmsg("accept4(SOCK_NONBLOCK) returned a blocking fd");
                bad_flags = 1;
                if (fl >= 0)
                    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
            }
            if (fdfl < 0 || !(fdfl & FD_CLOEXEC)) {
                warnmsg("accept4(SOCK_CLOEXEC) returned an fd without FD_CLOEXEC");
                bad_flags = 1;
                if (fdfl >= 0)
                    fcntl(fd, F_SETFD, fdfl | FD_CLOEXEC);
            }
        }
        if (e != EDOM)
            warnmsg("a successful accept changed errno from EDOM to %d (%s)", e, strerror(e));
        pthread_mutex_lock(&g_stats_mu);
        g_stats.accepted++;
        g_stats.accept_errors += bad_flags;
        if (e != EDOM)
            g_stats.errno_changed++;
        stats_write_locked();
        pthread_mutex_unlock(&g_stats_mu);
        *fdp = fd;
        return ACC_OK;
    }
    if (e == EAGAIN || e == EWOULDBLOCK) {
        /* epoll: the queue is empty. Blocking: SO_RCVTIMEO expired (only after the timeout). */
        if (nonblock_model || now_ms() - t0 >= ACCEPT_TIMEOUT_MS * 3 / 4)
            return ACC_EMPTY;
    } else if (e == EINTR && atomic_load(&g_sig_gen) != gen) {
        return ACC_INTR;
    } else if (e == ECONNABORTED) {
        /* POSIX: a queued connection was aborted; p0fshim's hold mode also says it when it has
         * answered its share of connections in one call and more are queued. Servers go on. */
        return ACC_EMPTY;
    } else if (e == EINTR && !nonblock_model) {
        /* No signal of ours: p0fshim's hold mode answered a connection itself and nothing else
         * was queued on this blocking listener ("nothing to accept", as a daemon reads it). */
        return ACC_EMPTY;
    }
    if (atomic_load(&g_stop))
        return ACC_INTR;
    warnmsg("accept failed: %s", strerror(e));
    stats_add(&g_stats.accept_errors, 1);
    /* Back off so a persistent error cannot spin the CPU. */
    pause_ms(e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM ? 100 : 10);
    return ACC_ERR;
}

/* The listener; an IPv6 one takes IPv4 clients too (dual stack, as MTAs listen on [::]). */
static int open_listener(bool nonblock)
{
    int fd = tcp_listener_or_die(&cfg.addr, cfg.addrlen, nonblock ? SOCK_NONBLOCK : 0,
                                 cfg.mptcp ? 262 /* IPPROTO_MPTCP */ : 0, 0, 128);

    if (!nonblock && set_accept_timeout(fd, ACCEPT_TIMEOUT_MS) != 0)
        die("setsockopt SO_RCVTIMEO: %s", strerror(errno));
    g_listen_family = cfg.addr.ss_family;
    return fd;
}

static void announce_ready(int lfd)
{
    char buf[80];

    if (cfg.ready_path == NULL)
        return;
    if (lfd >= 0)
        snprintf(buf, sizeof(buf), "pid=%ld port=%u", (long)getpid(), local_port(lfd));
    else
        snprintf(buf, sizeof(buf), "pid=%ld", (long)getpid());
    if (cfg.clear_env) {
        size_t n = 0, len = strlen(buf);
        for (char **e = environ; e != NULL && *e != NULL; e++)
            n++;
        snprintf(buf + len, sizeof(buf) - len, " environ=%zu", n);
    }
    strncat(buf, "\n", sizeof(buf) - strlen(buf) - 1);
    if (write_file_atomic(cfg.ready_path, buf) != 0)
        die("cannot create ready file %s: %s", cfg.ready_path, strerror(errno));
}

/* ---- models ---- */

static unsigned long accepted_so_far(void)
{
    pthread_mutex_lock(&g_stats_mu);
    unsigned long n = g_stats.accepted;
    pthread_mutex_unlock(&g_stats_mu);
    return n;
}

static void run_loop(int lfd)
{
    while (!atomic_load(&g_stop)) {
        int fd;
        if (cfg.slow_ms > 0 && accepted_so_far() >= cfg.slow_after) {
            struct pollfd queued = {.fd = lfd, .events = POLLIN};
            if (poll(&queued, 1, 300) != 1)
                continue;
            pause_ms((long)cfg.slow_ms);
        }
        if (accept_one(lfd, false, &fd) != ACC_OK)
            continue;
        bool ok = serve_blocking(fd, fd);
        close(fd);
        stats_add(&g_stats.served, ok ? 1 : 0);
    }
}

static void run_fork(int lfd)
{
    pid_t parent = getpid();
    unsigned seen_ok = 0;

    while (!atomic_load(&g_stop)) {
        int fd;
        enum acc r = accept_one(lfd, false, &fd);
        unsigned ok_now = atomic_load(&g_children_ok);

        if (ok_now != seen_ok) {
            stats_add(&g_stats.served, ok_now - seen_ok);
            seen_ok = ok_now;
        }
        if (r != ACC_OK)
            continue;
        pid_t pid = fork();
        if (pid == 0) {
            struct sigaction sa;
            memset(&sa, 0, sizeof(sa));
            sa.sa_handler = SIG_DFL;
            sigaction(SIGCHLD, &sa, NULL);
            close(lfd);
            if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent)
                _exit(1);
            bool ok = serve_blocking(fd, fd);
            close(fd);
            _exit(ok ? 0 : 1);
        }
        if (pid < 0) {
            warnmsg("fork: %s; dropping the connection", strerror(errno));
            pause_ms(10);
        }
        close(fd);
    }
}

static void *thread_main(void *arg)
{
    int lfd = *(int *)arg;

    while (!atomic_load(&g_stop)) {
        int fd;
        if (accept_one(lfd, false, &fd) != ACC_OK)
            continue;
        bool ok = serve_blocking(fd, fd);
        close(fd);
        stats_add(&g_stats.served, ok ? 1 : 0);
    }
    return NULL;
}

static void run_threads(int lfd)
{
    pthread_t tids[MAX_THREADS];
    unsigned started = 0;
    sigset_t set;

    /* Workers run with SIGTERM/SIGINT blocked; the main thread waits for them. */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    for (unsigned i = 0; i < cfg.threads; i++) {
        int e = pthread_create(&tids[i], NULL, thread_main, &lfd);
        if (e != 0) {
            warnmsg("pthread_create: %s (running with %u threads)", strerror(e), started);
            break;
        }
        started++;
    }
    if (started == 0)
        die("no worker thread could be started");
    while (!atomic_load(&g_stop)) {
        struct timespec ts = {.tv_sec = 1, .tv_nsec = 0};
        int sig = sigtimedwait(&set, NULL, &ts);
        if (sig == SIGTERM || sig == SIGINT)
            atomic_store(&g_stop, 1);
    }
    for (unsigned i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
}

/* epoll model */

struct econn {
    int fd;
    struct session s;
    struct outbuf o;
    int64_t idle_deadline;
    uint32_t events;
    struct econn *prev, *next;
};

static struct econn *g_econns;

static void econn_close(int ep, struct econn *c, bool served)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    if (c->prev)
        c->prev->next = c->next;
    else
        g_econns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    free(c->o.buf);
    free(c);
    stats_add(&g_stats.served, served ? 1 : 0);
}

/* Flush what we can, then set the epoll interest. false: the connection is finished. */
static bool econn_update(int ep, struct econn *c, bool *served)
{
    uint32_t ev = 0;

    *served = false;
    while (out_pending(&c->o) > 0) {
        ssize_t w = send(c->fd, c->o.buf + c->o.off, out_pending(&c->o), MSG_NOSIGNAL);
        if (w > 0) {
            c->o.off += (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        return false;
    }
    if (c->s.quit && out_pending(&c->o) == 0) {
        *served = true;
        return false;
    }
    if (!c->s.quit && out_pending(&c->o) < OUT_HIGH_WATER)
        ev |= EPOLLIN;
    if (out_pending(&c->o) > 0)
        ev |= EPOLLOUT;
    if (ev != c->events) {
        struct epoll_event e = {.events = ev, .data.ptr = c};
        if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e) != 0)
            return false;
        c->events = ev;
    }
    return true;
}

static void econn_add(int ep, int fd)
{
    struct econn *c = calloc(1, sizeof(*c));
    struct epoll_event e;
    bool served;

    if (c == NULL) {
        warnmsg("out of memory; dropping a connection");
        close(fd);
        stats_add(&g_stats.served, 0);
        return;
    }
    c->fd = fd;
    c->idle_deadline = now_ms() + IDLE_TIMEOUT_MS;
    c->events = EPOLLIN;
    e.events = EPOLLIN;
    e.data.ptr = c;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) != 0) {
        warnmsg("epoll_ctl ADD: %s", strerror(errno));
        close(fd);
        free(c);
        stats_add(&g_stats.served, 0);
        return;
    }
    c->next = g_econns;
    if (g_econns)
        g_econns->prev = c;
    g_econns = c;
    if (out_put(&c->o, "220 testsrv ready\r\n") != 0 || !econn_update(ep, c, &served))
        econn_close(ep, c, false);
}

static void econn_readable(int ep, struct econn *c)
{
    char buf[4096];
    ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
    bool served;

    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
        return;
    if (n <= 0) {
        econn_close(ep, c, false); /* EOF or error */
        return;
    }
    c->idle_deadline = now_ms() + IDLE_TIMEOUT_MS;
    if (session_feed(&c->s, buf, (size_t)n, &c->o) != 0 || !econn_update(ep, c, &served))
        econn_close(ep, c, served);
}

static void run_epoll(int lfd)
{
    struct epoll_event evs[64];
    struct epoll_event le = {.events = EPOLLIN, .data.ptr = NULL};
    int64_t listener_resume = 0; /* paused after a resource error, so it cannot spin */
    sigset_t orig;
    int ep = epoll_create1(EPOLL_CLOEXEC);

    if (ep < 0)
        die("epoll_create1: %s", strerror(errno));
    if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &le) != 0)
        die("epoll_ctl: %s", strerror(errno));
    block_stop_signals(&orig);

    while (!atomic_load(&g_stop)) {
        int n = epoll_pwait(ep, evs, 64, TICK_MS, &orig);
        int64_t now;

        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("epoll_wait: %s", strerror(errno));
        }
        for (int i = 0; i < n; i++) {
            struct econn *c = evs[i].data.ptr;
            if (c == NULL) {
                /* Drain the accept queue (bounded per wake-up for fairness). */
                for (int k = 0; k < 1000; k++) {
                    int fd;
                    enum acc r = accept_one(lfd, true, &fd);
                    if (r == ACC_OK) {
                        econn_add(ep, fd);
                        continue;
                    }
                    if (r == ACC_ERR) {
                        struct epoll_event off = {.events = 0, .data.ptr = NULL};
                        epoll_ctl(ep, EPOLL_CTL_MOD, lfd, &off);
                        listener_resume = now_ms() + 100;
                    }
                    break;
                }
                continue;
            }
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                econn_readable(ep, c);
            } else if (evs[i].events & EPOLLOUT) {
                bool served;
                if (!econn_update(ep, c, &served))
                    econn_close(ep, c, served);
            }
        }
        now = now_ms();
        if (listener_resume != 0 && now >= listener_resume) {
            epoll_ctl(ep, EPOLL_CTL_MOD, lfd, &le);
            listener_resume = 0;
        }
        for (struct econn *c = g_econns, *next; c != NULL; c = next) {
            next = c->next;
            if (now >= c->idle_deadline)
                econn_close(ep, c, false);
        }
    }
    while (g_econns != NULL) {
        struct econn *c = g_econns;
        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        g_econns = c->next;
        free(c->o.buf);
        free(c);
    }
    close(ep);
}

/* --clearenv: the daemon scrubs its environment after start. */
static void maybe_clear_env(void)
{
    if (cfg.clear_env && clearenv() != 0)
        die("clearenv failed");
}

static void run_inetd(void)
{
    struct stat s0, s1;
    int wfd = 0;

    if (fstat(0, &s0) != 0 || !S_ISSOCK(s0.st_mode))
        die("--model inetd: fd 0 is not a socket");
    if (fstat(1, &s1) == 0 && s1.st_dev == s0.st_dev && s1.st_ino == s0.st_ino)
        wfd = 1;
    maybe_clear_env();
    announce_ready(-1);
    bool ok = serve_blocking(0, wfd);
    stats_add(&g_stats.served, ok ? 1 : 0);
}

int main(int argc, char **argv)
{
    enum { OPT_MODEL = 256, OPT_LISTEN, OPT_THREADS, OPT_NULL_ADDR, OPT_READY, OPT_STATS, OPT_CLEARENV, OPT_MPTCP, OPT_SLOW_AFTER, OPT_SLOW_MS, OPT_HELP };
    static const struct option opts[] = {
        {"model", required_argument, NULL, OPT_MODEL},
        {"listen", required_argument, NULL, OPT_LISTEN},
        {"threads", required_argument, NULL, OPT_THREADS},
        {"null-addr", no_argument, NULL, OPT_NULL_ADDR},
        {"ready-file", required_argument, NULL, OPT_READY},
        {"stats-file", required_argument, NULL, OPT_STATS},
        {"clearenv", no_argument, NULL, OPT_CLEARENV},
        {"mptcp", no_argument, NULL, OPT_MPTCP},
        {"slow-accept-after", required_argument, NULL, OPT_SLOW_AFTER},
        {"slow-accept-ms", required_argument, NULL, OPT_SLOW_MS},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
    };
    static const char *const model_names[] = {"loop", "epoll", "fork", "threads", "inetd"};
    int opt, lfd = -1;

    opterr = 0;
    while ((opt = getopt_long(argc, argv, "+:", opts, NULL)) != -1) {
        switch (opt) {
        case OPT_MODEL: {
            size_t i;
            for (i = 0; i < sizeof(model_names) / sizeof(model_names[0]); i++)
                if (strcmp(optarg, model_names[i]) == 0)
                    break;
            if (i == sizeof(model_names) / sizeof(model_names[0])) {
                note("unknown model \"%s\"", optarg);
                usage();
            }
            cfg.model = (enum model)i;
            cfg.model_set = true;
            break;
        }
        case OPT_LISTEN:
            parse_hostport("--listen", optarg, 0, &cfg.addr, &cfg.addrlen);
            cfg.listen_set = true;
            break;
        case OPT_THREADS:
            cfg.threads = (unsigned)parse_integer("--threads", optarg, 1, MAX_THREADS);
            cfg.threads_set = true;
            break;
        case OPT_NULL_ADDR:
            cfg.null_addr = true;
            break;
        case OPT_MPTCP:
            cfg.mptcp = true;
            break;
        case OPT_SLOW_AFTER:
            cfg.slow_after = parse_integer("--slow-accept-after", optarg, 0, 1000000);
            break;
        case OPT_SLOW_MS:
            cfg.slow_ms = parse_integer("--slow-accept-ms", optarg, 1, 10000);
            break;
        case OPT_READY:
            cfg.ready_path = optarg;
            break;
        case OPT_STATS:
            cfg.stats_path = optarg;
            break;
        case OPT_CLEARENV:
            cfg.clear_env = true;
            break;
        case OPT_HELP:
            usage();
        default:
            note_bad_option(opt, argv);
            usage();
        }
    }
    if (stray_argument(argc, argv))
        usage();
    if (!cfg.model_set) {
        note("--model is required");
        usage();
    }
    if (cfg.model == M_INETD && cfg.listen_set) {
        note("--listen cannot be used with --model inetd (the socket is fd 0)");
        usage();
    }
    if (cfg.model != M_INETD && !cfg.listen_set) {
        note("--listen is required");
        usage();
    }
    if (cfg.threads_set && cfg.model != M_THREADS) {
        note("--threads only applies to --model threads");
        usage();
    }

    install_handlers(cfg.model == M_FORK);
    if (cfg.ready_path != NULL && unlink(cfg.ready_path) != 0 && errno != ENOENT)
        die("cannot remove stale ready file %s: %s", cfg.ready_path, strerror(errno));
    pthread_mutex_lock(&g_stats_mu);
    stats_write_locked();
    pthread_mutex_unlock(&g_stats_mu);

    if (cfg.model == M_INETD) {
        run_inetd();
        if (cfg.ready_path != NULL)
            unlink(cfg.ready_path);
        return 0;
    }
    lfd = open_listener(cfg.model == M_EPOLL);
    maybe_clear_env();
    announce_ready(lfd);
    switch (cfg.model) {
    case M_LOOP:
        run_loop(lfd);
        break;
    case M_EPOLL:
        run_epoll(lfd);
        break;
    case M_FORK:
        run_fork(lfd);
        break;
    case M_THREADS:
        run_threads(lfd);
        break;
    case M_INETD:
        break;
    }
    close(lfd);
    if (cfg.ready_path != NULL)
        unlink(cfg.ready_path);
    return 0;
}
