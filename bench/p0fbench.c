/*
 * p0fbench: the p0f-side helpers of `make bench`.
 *
 * CLI:
 *   p0fbench relay --listen PATH --upstream PATH --counts FILE [--max-seconds S]
 *   p0fbench ceiling --socket PATH --mode pipelined|perconn [--ms N] [--depth D] [--addr IP]
 *
 * relay    a transparent byte relay between p0f API clients (the shim) and the real p0f: every
 *          client connection gets its own upstream connection, bytes are forwarded unchanged in
 *          both directions, and the client-to-p0f stream is cut into 21-byte v3 queries and
 *          counted: "queries" (a real address) and "probes" (0.0.0.0, the shim's framing check
 *          on each new p0f connection). FILE is rewritten atomically after every change:
 *          "queries=N probes=M conns=K". Counting on the wire needs no cooperation from the shim
 *          and no tracing (strace would slow the shim and so change the very NOMATCH rate being
 *          counted); the relay adds one local hop (tens of microseconds) to each answer. The
 *          relay runs as root, so the shim's SO_PEERCRED check accepts it. Up to 32 clients.
 *          Exits on SIGTERM or after --max-seconds (default 120).
 * ceiling  p0f's own API throughput: for --ms (default 1000) ms, either keep --depth (default
 *          16) queries in flight on one connection (pipelined), or connect, query, read the
 *          reply and close, one connection per query (perconn). Asks about --addr (default
 *          192.0.2.10). Prints "mode=M queries=N ms=T qps=Q ok=A nomatch=B".
 * Exit 2 on misuse or when p0f cannot be reached.
 */
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/stat.h>

#include "benchlib.h"

#define MAX_PAIRS 32

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

struct pair {
    int cfd, ufd;
    uint8_t frame[BL_P0F_QUERY_LEN];
    size_t off;
};

static unsigned long g_queries, g_probes, g_conns;

static void write_counts(const char *path)
{
    char buf[128];
    int n = snprintf(buf, sizeof(buf), "queries=%lu probes=%lu conns=%lu\n", g_queries, g_probes, g_conns);
    bl_write_file_atomic(path, buf, (size_t)n);
}

static void count_bytes(struct pair *p, const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        p->frame[p->off++] = b[i];
        if (p->off < BL_P0F_QUERY_LEN)
            continue;
        p->off = 0;
        bool zero = true;
        for (size_t k = 5; k < BL_P0F_QUERY_LEN; k++)
            zero = zero && p->frame[k] == 0;
        if (zero)
            g_probes++;
        else
            g_queries++;
    }
}

static int relay(const char *listen_path, const char *upstream, const char *counts, unsigned long max_seconds)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    struct pair pairs[MAX_PAIRS];
    size_t npairs = 0;

    if (strlen(listen_path) >= sizeof(sun.sun_path))
        bl_die("--listen: path too long");
    strcpy(sun.sun_path, listen_path);
    unlink(listen_path);
    int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sun, sizeof(sun)) != 0 || listen(lfd, 64) != 0)
        bl_die("relay: cannot listen on %s: %s", listen_path, strerror(errno));
    chmod(listen_path, 0666);
    write_counts(counts);

    uint64_t end = bl_now_ns() + max_seconds * 1000000000ull;
    while (!g_stop && bl_now_ns() < end) {
        struct pollfd pf[1 + 2 * MAX_PAIRS];
        size_t n = 0;
        pf[n++] = (struct pollfd){.fd = lfd, .events = npairs < MAX_PAIRS ? POLLIN : 0};
        for (size_t i = 0; i < npairs; i++) {
            pf[n++] = (struct pollfd){.fd = pairs[i].cfd, .events = POLLIN};
            pf[n++] = (struct pollfd){.fd = pairs[i].ufd, .events = POLLIN};
        }
        if (poll(pf, n, 100) <= 0)
            continue;
        unsigned long before = g_queries + g_probes + g_conns;
        for (size_t i = 0; i < npairs; i++) {
            struct pair *p = &pairs[i];
            bool dead = false;
            for (int dir = 0; dir < 2 && !dead; dir++) {
                short rev = pf[1 + 2 * i + (size_t)dir].revents;
                if (!rev)
                    continue;
                int from = dir == 0 ? p->cfd : p->ufd, to = dir == 0 ? p->ufd : p->cfd;
                uint8_t buf[8192];
                ssize_t r = read(from, buf, sizeof(buf));
                if (r < 0 && (errno == EINTR || errno == EAGAIN))
                    continue;
                if (r <= 0) {
                    dead = true;
                    break;
                }
                if (dir == 0)
                    count_bytes(p, buf, (size_t)r);
                if (bl_write_all(to, buf, (size_t)r) != 0)
                    dead = true;
            }
            if (dead) {
                close(p->cfd);
                close(p->ufd);
                p->cfd = p->ufd = -1;
            }
        }
        /* Compact (the pollfd indexes above are no longer needed). */
        size_t k = 0;
        for (size_t i = 0; i < npairs; i++)
            if (pairs[i].cfd >= 0)
                pairs[k++] = pairs[i];
        npairs = k;
        if (pf[0].revents & POLLIN) {
            int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
            if (cfd >= 0) {
                int ufd = bl_unix_connect(upstream, 0);
                if (ufd < 0) {
                    close(cfd);
                } else {
                    pairs[npairs++] = (struct pair){.cfd = cfd, .ufd = ufd};
                    g_conns++;
                }
            }
        }
        if (g_queries + g_probes + g_conns != before)
            write_counts(counts);
    }
    write_counts(counts);
    unlink(listen_path);
    return 0;
}

static int ceiling(const char *path, bool pipelined, unsigned long ms, unsigned long depth, const char *addr)
{
    struct sockaddr_storage ss;
    socklen_t len;
    uint8_t q[BL_P0F_QUERY_LEN];
    uint8_t rbuf[BL_P0F_RESP_LEN * 64];
    unsigned long queries = 0, ok = 0, nomatch = 0;

    if (bl_sockaddr(addr, 0, &ss, &len) != 0)
        bl_die("--addr: bad address");
    bl_p0f_query(&ss, q);
    uint64_t start = bl_now_ns(), end = start + ms * 1000000ull;
    uint64_t now = start;

    if (pipelined) {
        int fd = bl_unix_connect(path, 0);
        if (fd < 0)
            bl_die("cannot connect to %s: %s", path, strerror(errno));
        unsigned long outstanding = 0;
        for (; outstanding < depth; outstanding++)
            if (bl_write_all(fd, q, sizeof(q)) != 0)
                bl_die("send failed");
        size_t have = 0;
        while (now < end) {
            ssize_t r = read(fd, rbuf + have, sizeof(rbuf) - have);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                bl_die("p0f closed the connection");
            have += (size_t)r;
            size_t used = 0;
            now = bl_now_ns();
            while (have - used >= BL_P0F_RESP_LEN) {
                uint32_t st = bl_p0f_status(rbuf + used);
                ok += st == BL_P0F_STATUS_OK;
                nomatch += st == BL_P0F_STATUS_NOMATCH;
                used += BL_P0F_RESP_LEN;
                queries++;
                outstanding--;
                if (now < end) {
                    if (bl_write_all(fd, q, sizeof(q)) != 0)
                        bl_die("send failed");
                    outstanding++;
                }
            }
            memmove(rbuf, rbuf + used, have - used);
            have -= used;
        }
        /* Read what is still owed before closing: a client that closes while p0f writes can
         * kill p0f (write() fails despite POLLOUT -> PFATAL). */
        while (outstanding > 0) {
            ssize_t r = read(fd, rbuf + have, sizeof(rbuf) - have);
            if (r <= 0)
                break;
            have += (size_t)r;
            while (have >= BL_P0F_RESP_LEN && outstanding > 0) {
                memmove(rbuf, rbuf + BL_P0F_RESP_LEN, have - BL_P0F_RESP_LEN);
                have -= BL_P0F_RESP_LEN;
                outstanding--;
            }
        }
        close(fd);
    } else {
        while (now < end) {
            int fd = bl_unix_connect(path, 0);
            if (fd < 0)
                bl_die("cannot connect to %s: %s", path, strerror(errno));
            if (bl_write_all(fd, q, sizeof(q)) != 0 || bl_read_all(fd, rbuf, BL_P0F_RESP_LEN) != 0)
                bl_die("query failed");
            close(fd);
            uint32_t st = bl_p0f_status(rbuf);
            ok += st == BL_P0F_STATUS_OK;
            nomatch += st == BL_P0F_STATUS_NOMATCH;
            queries++;
            now = bl_now_ns();
        }
    }
    double secs = (double)(now - start) / 1e9;
    printf("mode=%s queries=%lu ms=%.1f qps=%.0f ok=%lu nomatch=%lu\n", pipelined ? "pipelined" : "perconn", queries,
           secs * 1000.0, (double)queries / secs, ok, nomatch);
    return 0;
}

int main(int argc, char **argv)
{
    const char *listen_path = NULL, *upstream = NULL, *counts = NULL, *sock = NULL, *mode = NULL;
    const char *addr = "192.0.2.10";
    unsigned long max_seconds = 120, ms = 1000, depth = 16;
    bl_prog = "p0fbench";

    if (argc < 2)
        bl_die("usage: p0fbench relay|ceiling OPTIONS");
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL)
            bl_die("%s needs a value", a);
        i++;
        if (strcmp(a, "--listen") == 0)
            listen_path = v;
        else if (strcmp(a, "--upstream") == 0)
            upstream = v;
        else if (strcmp(a, "--counts") == 0)
            counts = v;
        else if (strcmp(a, "--max-seconds") == 0)
            max_seconds = bl_ulong(a, v, 1, 3600);
        else if (strcmp(a, "--socket") == 0)
            sock = v;
        else if (strcmp(a, "--mode") == 0)
            mode = v;
        else if (strcmp(a, "--ms") == 0)
            ms = bl_ulong(a, v, 1, 600000);
        else if (strcmp(a, "--depth") == 0)
            depth = bl_ulong(a, v, 1, 64);
        else if (strcmp(a, "--addr") == 0)
            addr = v;
        else
            bl_die("unknown option %s", a);
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (strcmp(argv[1], "relay") == 0) {
        if (!listen_path || !upstream || !counts)
            bl_die("relay needs --listen, --upstream and --counts");
        return relay(listen_path, upstream, counts, max_seconds);
    }
    if (strcmp(argv[1], "ceiling") == 0) {
        if (!sock || !mode || (strcmp(mode, "pipelined") != 0 && strcmp(mode, "perconn") != 0))
            bl_die("ceiling needs --socket and --mode pipelined|perconn");
        return ceiling(sock, strcmp(mode, "pipelined") == 0, ms, depth, addr);
    }
    bl_die("unknown command %s", argv[1]);
}
