/*
 * loadgen: the load client of `make bench`. Opens TCP connections to the model server from a
 * list of source addresses, non-blocking, from one epoll loop.
 *
 * CLI:
 *   loadgen --connect IP:PORT --count N [--sources LIST] [--concurrency C] [--rate R [--poisson]]
 *           [--expect banner|eof] [--timeout-ms T] [--samples FILE] [--max-seconds S]
 *           [--probe-p0f PATH [--probe-interval-us U]]
 *
 *   --sources      comma-separated source addresses, each an IP or an IPv4 range of the last
 *                  octet ("127.0.2.1-150"); used round robin, one per connection. Bound with
 *                  IP_BIND_ADDRESS_NO_PORT, so the port is chosen for the whole 4-tuple. Without
 *                  it the kernel picks the source.
 *   --concurrency  connections in flight at most (default 1).
 *   --rate         start R connections per second (open loop, paced from the start); without
 *                  it a new connection starts as soon as one ends (closed loop). --poisson:
 *                  exponential gaps of mean 1/R instead of a fixed period, so that arrivals do
 *                  not lock onto a periodic timer elsewhere (p0f's packet ring hands packets
 *                  over every 5 ms). The generator is seeded with a constant: runs repeat.
 *   --expect       banner (default): a connection is done when the first bytes arrive, or when
 *                  it is closed before any (res=closed: under p0fshim a blocked host may be shut
 *                  down before the server wrote its banner; counted as ok).
 *                  eof: done when the server's side ends it (read returns 0, or ECONNRESET):
 *                  a blocked client under p0fshim.
 *   --timeout-ms   a connection not done after T ms (default 3000) is counted as a timeout.
 *   --samples      one line per connection: "ip=A port=P t0=<start> tc=<connected> td=<done>
 *                  res=ok|closed|timeout|error tok=<ns or 0>" (CLOCK_MONOTONIC ns, the same
 *                  clock as modelsrv's).
 *   --probe-p0f    p0f's learning lag, seen from outside: from the moment a connection is
 *                  established, ask the p0f at PATH (one persistent connection, synchronous
 *                  query/reply) about the connection's source address every U microseconds
 *                  (default 50) until it answers OK; tok is the time of that answer. If the
 *                  connection is done first, it is asked at once, in a tight loop (a verdict
 *                  means p0f already knew the host, so tok <= td + one round trip).
 * Every connection is closed with SO_LINGER 0 (an RST) once done, so neither side keeps
 * TIME_WAIT state and 100,000 connections fit in the port space.
 * Prints one line: "count=N ok=N closed=N timeouts=N errors=N elapsed_s=X rate=Y" (rate = ok /
 * seconds from the first start to the last completion). Exit 0 when every connection was ok,
 * 1 if not, 2 on misuse. Bounded: gives up after --max-seconds (default 120).
 */
#include <math.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/epoll.h>

#include "benchlib.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

enum state { S_FREE, S_CONNECTING, S_CONNECTED };

struct conn {
    enum state st;
    int fd;
    size_t src;
    uint64_t t0, tc, tok, next_probe;
    struct sockaddr_storage me;
};

struct src {
    struct sockaddr_storage ss;
    socklen_t len;
};

static struct src *g_src;
static size_t g_nsrc, g_capsrc;
static FILE *g_samples;
static bool g_expect_eof;
static const char *g_probe_path;
static int g_probe_fd = -1;

static void add_src(const char *ip)
{
    if (g_nsrc == g_capsrc) {
        g_capsrc = g_capsrc ? g_capsrc * 2 : 64;
        g_src = realloc(g_src, g_capsrc * sizeof(*g_src));
        if (g_src == NULL)
            bl_die("out of memory");
    }
    if (bl_sockaddr(ip, 0, &g_src[g_nsrc].ss, &g_src[g_nsrc].len) != 0)
        bl_die("--sources: bad address \"%s\"", ip);
    g_nsrc++;
}

static void parse_sources(const char *list)
{
    char *copy = strdup(list), *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *dash = strchr(tok, '-');
        char *dot = strrchr(tok, '.');
        if (dash && dot && dot < dash && !strchr(tok, ':')) {
            *dash = '\0';
            unsigned long from = bl_ulong("--sources", dot + 1, 0, 255);
            unsigned long to = bl_ulong("--sources", dash + 1, from, 255);
            char ip[INET_ADDRSTRLEN + 4];
            *dot = '\0';
            for (unsigned long i = from; i <= to; i++) {
                snprintf(ip, sizeof(ip), "%s.%lu", tok, i);
                add_src(ip);
            }
        } else {
            add_src(tok);
        }
    }
    free(copy);
}

/* One synchronous query about the connection's source address; true when p0f knows it. */
static bool probe_once(struct conn *c)
{
    uint8_t q[BL_P0F_QUERY_LEN], r[BL_P0F_RESP_LEN];
    if (g_probe_fd < 0 && (g_probe_fd = bl_unix_connect(g_probe_path, 0)) < 0)
        return false;
    bl_p0f_query(&c->me, q);
    if (bl_write_all(g_probe_fd, q, sizeof(q)) != 0 || bl_read_all(g_probe_fd, r, sizeof(r)) != 0) {
        close(g_probe_fd);
        g_probe_fd = -1;
        return false;
    }
    if (bl_p0f_status(r) != BL_P0F_STATUS_OK)
        return false;
    c->tok = bl_now_ns();
    return true;
}

static void finish(int ep, struct conn *c, const char *res, uint64_t td)
{
    if (g_probe_path && c->tc && !c->tok && res[0] == 'o') {
        /* Done before the prober saw p0f know the host: ask now, in a tight loop. */
        for (unsigned i = 0; i < 20000 && !probe_once(c); i++)
            ;
    }
    if (g_samples) {
        char ip[INET6_ADDRSTRLEN] = "-";
        unsigned port = c->tc ? bl_format(&c->me, ip, sizeof(ip)) : 0;
        fprintf(g_samples, "ip=%s port=%u t0=%llu tc=%llu td=%llu res=%s tok=%llu\n", ip, port,
                (unsigned long long)c->t0, (unsigned long long)c->tc, (unsigned long long)td, res,
                (unsigned long long)c->tok);
    }
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->st = S_FREE;
    c->fd = -1;
}

static uint64_t g_rng = 0x9e3779b97f4a7c15ull;

static double uniform01(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return ((double)(g_rng >> 11) + 0.5) / 9007199254740992.0;
}

static void connected(struct conn *c, uint64_t t)
{
    socklen_t len = sizeof(c->me);
    c->st = S_CONNECTED;
    c->tc = t;
    c->next_probe = t;
    if (getsockname(c->fd, (struct sockaddr *)&c->me, &len) != 0)
        memset(&c->me, 0, sizeof(c->me));
}

int main(int argc, char **argv)
{
    struct sockaddr_storage dst;
    socklen_t dst_len = 0;
    unsigned long count = 0, concurrency = 1, rate = 0, timeout_ms = 3000, max_seconds = 120, probe_us = 50;
    bool poisson = false;
    const char *samples_path = NULL;
    bl_prog = "loadgen";

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--poisson") == 0) {
            poisson = true;
            continue;
        }
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL)
            bl_die("%s needs a value", a);
        i++;
        if (strcmp(a, "--connect") == 0)
            bl_hostport(a, v, &dst, &dst_len);
        else if (strcmp(a, "--count") == 0)
            count = bl_ulong(a, v, 1, 10000000);
        else if (strcmp(a, "--sources") == 0)
            parse_sources(v);
        else if (strcmp(a, "--concurrency") == 0)
            concurrency = bl_ulong(a, v, 1, 4096);
        else if (strcmp(a, "--rate") == 0)
            rate = bl_ulong(a, v, 1, 10000000);
        else if (strcmp(a, "--expect") == 0) {
            if (strcmp(v, "eof") == 0)
                g_expect_eof = true;
            else if (strcmp(v, "banner") != 0)
                bl_die("--expect banner|eof");
        } else if (strcmp(a, "--timeout-ms") == 0)
            timeout_ms = bl_ulong(a, v, 1, 600000);
        else if (strcmp(a, "--samples") == 0)
            samples_path = v;
        else if (strcmp(a, "--max-seconds") == 0)
            max_seconds = bl_ulong(a, v, 1, 3600);
        else if (strcmp(a, "--probe-p0f") == 0)
            g_probe_path = v;
        else if (strcmp(a, "--probe-interval-us") == 0)
            probe_us = bl_ulong(a, v, 1, 1000000);
        else
            bl_die("unknown option %s", a);
    }
    if (dst_len == 0 || count == 0)
        bl_die("--connect and --count are required");
    if (samples_path) {
        g_samples = fopen(samples_path, "w");
        if (g_samples == NULL)
            bl_die("%s: %s", samples_path, strerror(errno));
    }
    signal(SIGPIPE, SIG_IGN);

    struct conn *conns = calloc(concurrency, sizeof(*conns));
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (conns == NULL || ep < 0)
        bl_die("setup failed");
    for (size_t i = 0; i < concurrency; i++)
        conns[i].fd = -1;

    unsigned long started = 0, done = 0, ok = 0, closed_early = 0, timeouts = 0, errors = 0, inflight = 0;
    uint64_t start = bl_now_ns(), last_done = start;
    uint64_t give_up = start + max_seconds * 1000000000ull;
    uint64_t tmo = timeout_ms * 1000000ull;
    uint64_t last_scan = start;
    double next_start = (double)start;   /* ns; paced mode */
    size_t next_src = 0;

    while (done < count) {
        uint64_t now = bl_now_ns();
        if (now >= give_up)
            break;
        /* Start what the concurrency and the rate allow. */
        while (started < count && inflight < concurrency && (rate == 0 || (double)now >= next_start)) {
            size_t slot = 0;
            while (conns[slot].st != S_FREE)
                slot++;
            struct conn *c = &conns[slot];
            int fd = socket(dst.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            if (fd < 0)
                bl_die("socket: %s", strerror(errno));
            int one = 1;
            c->src = g_nsrc ? next_src : 0;
            if (g_nsrc) {
                next_src = (next_src + 1) % g_nsrc;
                setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
                if (bind(fd, (struct sockaddr *)&g_src[c->src].ss, g_src[c->src].len) != 0)
                    bl_die("bind source: %s", strerror(errno));
            }
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
            c->fd = fd;
            c->t0 = bl_now_ns();
            c->tc = c->tok = 0;
            started++;
            inflight++;
            if (rate)
                next_start += poisson ? -log(uniform01()) * 1e9 / (double)rate : 1e9 / (double)rate;
            int rc = connect(fd, (struct sockaddr *)&dst, dst_len);
            if (rc != 0 && errno != EINPROGRESS) {
                errors++;
                done++;
                inflight--;
                finish(ep, c, "error", bl_now_ns());
                continue;
            }
            c->st = S_CONNECTING;
            if (rc == 0)
                connected(c, bl_now_ns());
            struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP, .data.u64 = slot};
            epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
            now = bl_now_ns();
        }

        /* The p0f prober: due queries now (each a synchronous round trip of some microseconds). */
        uint64_t wait_ns = 5000000ull;
        if (g_probe_path) {
            for (size_t i = 0; i < concurrency; i++) {
                struct conn *c = &conns[i];
                if (c->st != S_CONNECTED || c->tok)
                    continue;
                if (c->next_probe <= now && !probe_once(c))
                    c->next_probe = bl_now_ns() + probe_us * 1000ull;
                now = bl_now_ns();
                if (!c->tok && c->next_probe > now && c->next_probe - now < wait_ns)
                    wait_ns = c->next_probe - now;
            }
        }
        /* Sleep until the next paced start or probe (nanosecond timeout: no spinning). */
        if (rate && started < count && inflight < concurrency) {
            double d = next_start - (double)now;
            if (d < (double)wait_ns)
                wait_ns = d > 0 ? (uint64_t)d : 0;
        }
        struct timespec wts = {.tv_sec = 0, .tv_nsec = (long)wait_ns};
        struct epoll_event evs[256];
        int n = epoll_pwait2(ep, evs, 256, &wts, NULL);
        uint64_t t = bl_now_ns();
        for (int i = 0; i < n; i++) {
            struct conn *c = &conns[evs[i].data.u64];
            if (c->st == S_FREE)
                continue;
            uint32_t e = evs[i].events;
            if (c->st == S_CONNECTING) {
                int err = 0;
                socklen_t el = sizeof(err);
                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
                if (err != 0) {
                    errors++;
                    done++;
                    inflight--;
                    finish(ep, c, "error", t);
                    continue;
                }
                connected(c, t);
            }
            if (e & EPOLLOUT) {   /* connected: from now on only input matters */
                struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.u64 = evs[i].data.u64};
                epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
            }
            if (!(e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
                continue;
            /* ok: the banner (or, --expect eof, the end); closed: ended before the banner;
             * error: a read error other than a reset. */
            const char *res = NULL;
            for (;;) {
                char buf[512];
                ssize_t r = read(c->fd, buf, sizeof(buf));
                if (r > 0) {
                    if (!g_expect_eof) {
                        res = "ok";
                        break;
                    }
                    continue;
                }
                if (r == 0 || (r < 0 && (errno == ECONNRESET || errno == EPIPE))) {
                    res = g_expect_eof ? "ok" : "closed";
                    break;
                }
                if (r < 0 && errno == EINTR)
                    continue;
                if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                    break;
                res = "error";
                break;
            }
            if (res == NULL)
                continue;
            done++;
            inflight--;
            if (res[0] == 'e') {
                errors++;
            } else {
                /* closed: the shim judged a blocked host before the server wrote its banner;
                 * a completed connection all the same. */
                closed_early += res[0] == 'c';
                ok++;
                last_done = t;
            }
            finish(ep, c, res, t);
        }
        if (t - last_scan > 5000000ull) {
            last_scan = t;
            for (size_t i = 0; i < concurrency; i++) {
                struct conn *c = &conns[i];
                if (c->st != S_FREE && t - c->t0 > tmo) {
                    timeouts++;
                    done++;
                    inflight--;
                    finish(ep, c, "timeout", t);
                }
            }
        }
    }
    for (size_t i = 0; i < concurrency; i++)
        if (conns[i].st != S_FREE) {
            timeouts++;
            finish(ep, &conns[i], "timeout", bl_now_ns());
        }
    if (g_samples)
        fclose(g_samples);
    double secs = (double)(last_done - start) / 1e9;
    printf("count=%lu ok=%lu closed=%lu timeouts=%lu errors=%lu elapsed_s=%.4f rate=%.1f\n", count, ok, closed_early,
           timeouts, errors, secs, secs > 0 ? (double)ok / secs : 0.0);
    return ok == count ? 0 : 1;
}
