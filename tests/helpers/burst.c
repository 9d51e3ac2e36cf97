/*
 * burst: many short SMTP-ish client connections at once, for p0fshim's load and fault tests
 * (a fork storm, threads on one listener, a burst of 10,000 connections). One process, one
 * epoll loop, non-blocking sockets: thousands of connections cost no process each.
 *
 * CLI:
 *   burst --connect IP:PORT|[IPv6]:PORT [--bind IP [--spread K]] --count N [--concurrency C]
 *         --expect served|closed [--timeout-ms T] [--hold-ms H]
 *
 *   --bind         source address (the port is chosen at connect time, IP_BIND_ADDRESS_NO_PORT,
 *                  so that 10,000 connections do not exhaust the ephemeral ports of one address).
 *   --spread       IPv4 only: connection i comes from --bind + (i mod K), e.g. 127.1.0.1 ...
 *                  127.1.39.16 for K = 10000, so that every connection is a different host to
 *                  p0f (and to any per-host cache). Default 1.
 *   --count        connections in all (1..1000000); --concurrency at once (1..4096, default 64).
 *   --timeout-ms   per connection, from the start of connect to its end (default 5000).
 *   --hold-ms      served: after the banner, wait this long (watching for EOF) before QUIT.
 *
 * served: connect, read the "220" banner line, hold, send "QUIT\r\n", read "221", close.
 *         Counted as served; EOF or a reset before the 221 counts as closed.
 * closed: connect, read and discard until EOF or a reset (counted as closed); still open at the
 *         timeout counts as open.
 * Other outcomes: timeout (served expected, no reply in time), failed (connect error, bad reply).
 * Prints one line on stdout:
 *   count=N served=S closed=C open=O timeout=T failed=F ms=M per_s=R
 * and, on stderr, the first few failures. Exit status: 0 when every connection had the expected
 * outcome, 1 otherwise, 2 on misuse.
 */
#include <getopt.h>
#include <stdbool.h>
#include <sys/epoll.h>
#include <sys/resource.h>

#define HELPER_NAME "burst"
#include "helper.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define MAX_NOTES 10

enum state { S_FREE, S_CONNECT, S_BANNER, S_HOLD, S_REPLY, S_DISCARD };
enum outcome { O_SERVED, O_CLOSED, O_OPEN, O_TIMEOUT, O_FAILED, O_N };

struct conn {
    int fd;
    enum state state;
    int64_t deadline, hold_end;
    size_t len;
    char buf[512];
};

static struct sockaddr_storage g_target, g_bind;
static socklen_t g_target_len, g_bind_len;
static bool g_expect_closed;
static unsigned long g_spread = 1, g_next_source;
static unsigned long g_counts[O_N];
static unsigned g_notes;

/* The first MAX_NOTES failures only: a burst's failures would flood stderr. */
static void note_failure(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note_failure(const char *fmt, ...)
{
    va_list ap;
    if (g_notes++ >= MAX_NOTES)
        return;
    va_start(ap, fmt);
    vnote(fmt, ap);
    va_end(ap);
}

static void finish(int ep, struct conn *c, enum outcome o, const char *why)
{
    static const char *const names[O_N] = {"served", "closed", "open", "timeout", "failed"};
    bool expected = g_expect_closed ? o == O_CLOSED : o == O_SERVED;
    if (!expected)
        note_failure("a connection ended %s%s%s", names[o], why ? ": " : "", why ? why : "");
    g_counts[o]++;
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    c->state = S_FREE;
}

static void start(int ep, struct conn *c, int timeout_ms)
{
    int one = 1;
    int fd = socket(g_target.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        note_failure("socket: %s", strerror(errno));
        g_counts[O_FAILED]++;
        return;
    }
    if (g_bind_len) {
        struct sockaddr_storage src = g_bind;
        if (g_bind.ss_family == AF_INET) {
            struct sockaddr_in *sin = (struct sockaddr_in *)&src;
            sin->sin_addr.s_addr = htonl(ntohl(sin->sin_addr.s_addr) + (uint32_t)(g_next_source++ % g_spread));
            setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
        }
        if (bind(fd, (struct sockaddr *)&src, g_bind_len) != 0) {
            note_failure("bind: %s", strerror(errno));
            close(fd);
            g_counts[O_FAILED]++;
            return;
        }
    }
    c->fd = fd;
    c->len = 0;
    c->deadline = now_ms() + timeout_ms;
    c->state = S_CONNECT;
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN | EPOLLRDHUP, .data.ptr = c};
    if (connect(fd, (struct sockaddr *)&g_target, g_target_len) != 0 && errno != EINPROGRESS) {
        note_failure("connect: %s", strerror(errno));
        close(fd);
        c->fd = -1;
        c->state = S_FREE;
        g_counts[O_FAILED]++;
        return;
    }
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0)
        die("epoll_ctl: %s", strerror(errno));
}

/* A complete reply line in the buffer: its code, or -1 when none yet. Consumes the line. */
static int take_line(struct conn *c)
{
    char *nl = memchr(c->buf, '\n', c->len);
    if (nl == NULL)
        return -1;
    int code = (nl - c->buf >= 3) ? atoi(c->buf) : 0;
    size_t used = (size_t)(nl - c->buf) + 1;
    memmove(c->buf, nl + 1, c->len - used);
    c->len -= used;
    return code;
}

static void send_quit(int ep, struct conn *c)
{
    if (send(c->fd, "QUIT\r\n", 6, MSG_NOSIGNAL) != 6) {
        finish(ep, c, O_FAILED, "send QUIT failed");
        return;
    }
    c->state = S_REPLY;
}

static void on_event(int ep, struct conn *c, uint32_t events, int hold_ms)
{
    if (c->state == S_CONNECT) {
        int err = 0;
        socklen_t len = sizeof(err);
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
            finish(ep, c, O_FAILED, strerror(err));
            return;
        }
        if (!(events & (EPOLLOUT | EPOLLIN | EPOLLHUP | EPOLLRDHUP)))
            return;
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
        c->state = g_expect_closed ? S_DISCARD : S_BANNER;
    }
    for (;;) {
        if (c->len == sizeof(c->buf))
            c->len = 0;      /* nothing here needs long lines: drop what cannot be a reply */
        ssize_t n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            bool reset = n < 0 && errno == ECONNRESET;
            if (n < 0 && !reset) {
                finish(ep, c, O_FAILED, strerror(errno));
            } else {
                finish(ep, c, O_CLOSED, reset ? "reset" : "EOF");
            }
            return;
        }
        c->len += (size_t)n;
        if (c->state == S_DISCARD) {
            c->len = 0;
            continue;
        }
        int code;
        while (c->fd >= 0 && (code = take_line(c)) >= 0) {
            if (c->state == S_BANNER) {
                if (code != 220) {
                    finish(ep, c, O_FAILED, "no 220 banner");
                    return;
                }
                if (hold_ms > 0) {
                    c->state = S_HOLD;
                    c->hold_end = now_ms() + hold_ms;
                } else {
                    send_quit(ep, c);
                }
            } else if (c->state == S_REPLY) {
                if (code != 221) {
                    finish(ep, c, O_FAILED, "no 221 after QUIT");
                    return;
                }
                /* Served. Closing now, as mail clients do, rather than waiting for the server's
                 * close: that close may wait for the shim's verdict, which is not the client's
                 * business, and a burst must not be paced by it. */
                finish(ep, c, O_SERVED, NULL);
                return;
            } else {
                finish(ep, c, O_FAILED, "unexpected data");
                return;
            }
        }
        if (c->fd < 0)
            return;
    }
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"connect", required_argument, NULL, 'c'}, {"bind", required_argument, NULL, 'b'},
        {"count", required_argument, NULL, 'n'}, {"concurrency", required_argument, NULL, 'j'},
        {"expect", required_argument, NULL, 'e'}, {"timeout-ms", required_argument, NULL, 't'},
        {"hold-ms", required_argument, NULL, 'h'}, {"spread", required_argument, NULL, 's'},
        {NULL, 0, NULL, 0},
    };
    unsigned long count = 0, conc = 64;
    int timeout_ms = 5000, hold_ms = 0, opt;
    bool have_target = false, have_expect = false;

    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case 'c': parse_hostport("--connect", optarg, 1, &g_target, &g_target_len); have_target = true; break;
        case 'b': parse_ip("--bind", optarg, &g_bind, &g_bind_len); break;
        case 'n': count = (unsigned long)parse_integer("--count", optarg, 1, 1000000); break;
        case 'j': conc = (unsigned long)parse_integer("--concurrency", optarg, 1, 4096); break;
        case 'e':
            if (strcmp(optarg, "served") != 0 && strcmp(optarg, "closed") != 0)
                die("--expect: served or closed");
            g_expect_closed = optarg[0] == 'c';
            have_expect = true;
            break;
        case 't': timeout_ms = (int)parse_integer("--timeout-ms", optarg, 1, 600000); break;
        case 'h': hold_ms = (int)parse_integer("--hold-ms", optarg, 0, 600000); break;
        case 's': g_spread = (unsigned long)parse_integer("--spread", optarg, 1, 1u << 20); break;
        default:
            die("usage: burst --connect IP:PORT [--bind IP [--spread K]] --count N [--concurrency C] --expect served|closed "
                "[--timeout-ms T] [--hold-ms H]");
        }
    }
    if (!have_target || !have_expect || count == 0 || optind != argc)
        die("--connect, --count and --expect are required");
    if (g_bind_len && g_bind.ss_family != g_target.ss_family)
        die("--bind and --connect are of different address families");
    if (g_spread > 1 && (g_bind_len == 0 || g_bind.ss_family != AF_INET))
        die("--spread needs an IPv4 --bind");
    if (conc > count)
        conc = count;

    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < conc + 16) {
        rl.rlim_cur = rl.rlim_max < conc + 16 ? rl.rlim_max : conc + 16;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    struct conn *conns = calloc(conc, sizeof(*conns));
    struct epoll_event *events = calloc(conc, sizeof(*events));
    if (conns == NULL || events == NULL)
        die("out of memory");
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        die("epoll_create1: %s", strerror(errno));

    unsigned long started = 0, done = 0;
    int64_t t0 = now_ms();
    for (size_t i = 0; i < conc; i++)
        conns[i].fd = -1;
    while (done < count) {
        for (size_t i = 0; i < conc && started < count; i++) {
            if (conns[i].state != S_FREE)
                continue;
            started++;
            start(ep, &conns[i], timeout_ms);   /* a failure is counted at once */
        }
        int n = epoll_wait(ep, events, (int)conc, 10);
        if (n < 0 && errno != EINTR)
            die("epoll_wait: %s", strerror(errno));
        for (int i = 0; i < n; i++) {
            struct conn *c = events[i].data.ptr;
            if (c->state == S_FREE)
                continue;
            on_event(ep, c, events[i].events, hold_ms);
        }
        int64_t now = now_ms();
        for (size_t i = 0; i < conc; i++) {
            struct conn *c = &conns[i];
            if (c->state == S_HOLD && now >= c->hold_end)
                send_quit(ep, c);
            if (c->state != S_FREE && now >= c->deadline) {
                enum outcome o = g_expect_closed && c->state != S_CONNECT ? O_OPEN : O_TIMEOUT;
                finish(ep, c, o, "no end in time");
            }
        }
        /* Every connection that ended is in exactly one count. */
        unsigned long total = 0;
        for (int o = 0; o < O_N; o++)
            total += g_counts[o];
        done = total;
    }
    int64_t ms = now_ms() - t0;
    unsigned long matched = g_expect_closed ? g_counts[O_CLOSED] : g_counts[O_SERVED];
    printf("count=%lu served=%lu closed=%lu open=%lu timeout=%lu failed=%lu ms=%lld per_s=%llu\n", count,
           g_counts[O_SERVED], g_counts[O_CLOSED], g_counts[O_OPEN], g_counts[O_TIMEOUT], g_counts[O_FAILED],
           (long long)ms, (unsigned long long)(ms > 0 ? count * 1000ull / (unsigned long long)ms : count));
    close(ep);
    free(conns);
    free(events);
    return matched == count ? 0 : 1;
}
