/*
 * modelsrv: the model server of `make bench`: a plain accept loop (optionally forking) whose
 * accept() calls p0fshim interposes when it runs under LD_PRELOAD. It times every accept() call
 * with CLOCK_MONOTONIC and records when each connection was accepted, so that the bench can
 * compare the same loop with and without the shim.
 *
 * CLI:
 *   modelsrv --listen IP:PORT [--mode close|hold|sync] [--fork] [--p0f-socket PATH]
 *            [--samples FILE] [--expect N] [--hold N] [--ready-file PATH] [--max-seconds S]
 *            [--stats FILE] [--log-line PATH]
 *
 * The loop: poll() the blocking listener (100 ms timeout, so signals and the time limit are
 * seen), then t0 = now, accept(fd, &peer, &len), t1 = now. Every accept() therefore finds a
 * connection already queued: t1 - t0 is the cost of the call itself, not a wait.
 * Modes, per accepted connection:
 *   close     write "220 modelsrv\r\n" (non-blocking), close. The client waits for the banner.
 *   hold      write the banner and keep the connection open (a ring of --hold fds, default 512:
 *             when it is full the oldest is closed). A client of a blocked host sees EOF only
 *             when the shim shuts the connection down.
 *   sync      what qpsmtpd's ident/p0f plugin does, in the accept loop: connect to the p0f
 *             socket (--p0f-socket), send the 21-byte v3 query for the peer, read the 232-byte
 *             reply, close; then banner and close. Never run under the shim.
 *   --fork    (close mode) a child per connection writes the banner and exits; the parent
 *             closes its copy at once and reaps children with waitpid(WNOHANG).
 * --samples FILE: one line per accepted connection, written (atomically) once --expect
 *   connections were accepted, or at exit:
 *     t=<t1 ns> acc=<t1-t0 ns> ip=<peer ip> port=<peer port>
 *   Without --samples nothing is allocated per connection (the RSS figure measures the shim).
 * --expect N: after N connections the samples are written; the server keeps serving.
 * --stats FILE: written at exit: "accepted=N cpu_us=U children_cpu_us=C log_unsent=L" (getrusage: user +
 *   system time of every thread of the process, the shim's worker included; and of the reaped
 *   children in --fork mode).
 * --log-line PATH: right after each accept(), inside the timed section, one non-blocking send()
 *   of a 400-byte datagram (a p0fshim log line's size) to the unix datagram socket PATH; a send
 *   that fails is counted, never retried. The floor of any design that logs each connection
 *   from inside accept(): the bench compares `fingerprint syn` with it as well as with the bare loop.
 * --ready-file: written atomically ("pid=P port=N") once the listener is up.
 * Bounded: exits 0 after --max-seconds (default 120) or on SIGTERM/SIGINT. RLIMIT_NOFILE's soft
 * limit is raised to the hard one (at most 65536). Exit 2 on misuse or start-up failure.
 */
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/resource.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "benchlib.h"

enum mode { M_CLOSE, M_HOLD, M_SYNC };

struct sample {
    uint64_t t;
    uint32_t acc;
    struct sockaddr_storage peer;
};

static volatile sig_atomic_t g_stop;
static struct sample *g_samples;
static size_t g_nsamples, g_cap;
static const char *g_samples_path;
static bool g_written;
static enum mode g_mode = M_CLOSE;
static const char *g_p0f_path;
static int g_log_fd = -1;
static unsigned long g_log_unsent;

/* The size and shape of the library's line for a fingerprinted connection. */
static const char LOG_LINE[] =
    "<22>Dec  4 07:54:45 p0fshim[3192]: remote=192.0.2.20:54490 local=192.0.2.1:25 verdict=allow ms=0 fp=syn "
    "os=\"Linux\" flavor=\"2.2.x-3.x\" genre=\"Linux 2.2.x-3.x\" match=generic distance=0 link=\"Ethernet or modem\" "
    "sig=\"4:64+0:0:1460:mss*44,10:mss,sok,ts,nop,ws:df,id+:0\" karma=0 rule_at=\"-\" "
    "pad=\".............................................................................................................\"";

static void open_log_line(const char *path)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sun.sun_path))
        bl_die("--log-line: path too long");
    memcpy(sun.sun_path, path, strlen(path));
    g_log_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (g_log_fd < 0 || connect(g_log_fd, (struct sockaddr *)&sun, sizeof(sun)) != 0)
        bl_die("--log-line %s: %s", path, strerror(errno));
}

static const char BANNER[] = "220 modelsrv\r\n";

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static void write_samples(void)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *f;
    if (g_samples_path == NULL || g_written)
        return;
    f = open_memstream(&buf, &size);
    if (f == NULL)
        bl_die("open_memstream failed");
    for (size_t i = 0; i < g_nsamples; i++) {
        const struct sample *s = &g_samples[i];
        char ip[INET6_ADDRSTRLEN];
        unsigned port = bl_format(&s->peer, ip, sizeof(ip));
        fprintf(f, "t=%llu acc=%u ip=%s port=%u\n", (unsigned long long)s->t, s->acc, ip, port);
    }
    fclose(f);
    bl_write_file_atomic(g_samples_path, buf, size);
    free(buf);
    g_written = true;
}

/* qpsmtpd's ident/p0f, v3: connect, query, read, close. Returns the reply status (0: failure). */
static uint32_t sync_query(const struct sockaddr_storage *peer)
{
    uint8_t q[BL_P0F_QUERY_LEN], r[BL_P0F_RESP_LEN];
    uint32_t status = 0;
    int fd = bl_unix_connect(g_p0f_path, 0);
    if (fd < 0)
        return 0;
    bl_p0f_query(peer, q);
    if (bl_write_all(fd, q, sizeof(q)) == 0 && bl_read_all(fd, r, sizeof(r)) == 0)
        status = bl_p0f_status(r);
    close(fd);
    return status;
}

static void reap(void)
{
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
}

int main(int argc, char **argv)
{
    struct sockaddr_storage listen_ss;
    socklen_t listen_len = 0;
    const char *ready = NULL, *stats = NULL;
    unsigned long expect = 0, hold_n = 512, max_seconds = 120;
    bool fork_mode = false;
    bl_prog = "modelsrv";

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--fork") == 0) {
            fork_mode = true;
            continue;
        }
        if (v == NULL)
            bl_die("%s needs a value", a);
        i++;
        if (strcmp(a, "--listen") == 0)
            bl_hostport(a, v, &listen_ss, &listen_len);
        else if (strcmp(a, "--mode") == 0) {
            if (strcmp(v, "close") == 0)
                g_mode = M_CLOSE;
            else if (strcmp(v, "hold") == 0)
                g_mode = M_HOLD;
            else if (strcmp(v, "sync") == 0)
                g_mode = M_SYNC;
            else
                bl_die("--mode: close, hold or sync");
        } else if (strcmp(a, "--p0f-socket") == 0)
            g_p0f_path = v;
        else if (strcmp(a, "--samples") == 0)
            g_samples_path = v;
        else if (strcmp(a, "--expect") == 0)
            expect = bl_ulong(a, v, 1, 10000000);
        else if (strcmp(a, "--hold") == 0)
            hold_n = bl_ulong(a, v, 1, 16384);
        else if (strcmp(a, "--stats") == 0)
            stats = v;
        else if (strcmp(a, "--ready-file") == 0)
            ready = v;
        else if (strcmp(a, "--max-seconds") == 0)
            max_seconds = bl_ulong(a, v, 1, 3600);
        else if (strcmp(a, "--log-line") == 0)
            open_log_line(v);
        else
            bl_die("unknown option %s", a);
    }
    if (listen_len == 0)
        bl_die("--listen IP:PORT is required");
    if (g_mode == M_SYNC && g_p0f_path == NULL)
        bl_die("--mode sync needs --p0f-socket");
    if (fork_mode && g_mode != M_CLOSE)
        bl_die("--fork goes with --mode close only");

    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max > 65536 ? 65536 : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (fork_mode) {
        struct sigaction sc = {.sa_handler = SIG_DFL, .sa_flags = SA_NOCLDSTOP | SA_RESTART};
        sigaction(SIGCHLD, &sc, NULL);
    }

    if (g_samples_path) {
        g_cap = expect ? expect : 200000;
        g_samples = calloc(g_cap, sizeof(*g_samples));
        if (g_samples == NULL)
            bl_die("out of memory");
    }
    int *ring = NULL;
    size_t ring_pos = 0;
    if (g_mode == M_HOLD) {
        ring = malloc(hold_n * sizeof(int));
        if (ring == NULL)
            bl_die("out of memory");
        for (size_t i = 0; i < hold_n; i++)
            ring[i] = -1;
    }

    int lfd = socket(listen_ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (lfd < 0)
        bl_die("socket: %s", strerror(errno));
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(lfd, (struct sockaddr *)&listen_ss, listen_len) != 0)
        bl_die("bind: %s", strerror(errno));
    if (listen(lfd, 4096) != 0)
        bl_die("listen: %s", strerror(errno));
    if (ready) {
        char buf[64];
        char ip[INET6_ADDRSTRLEN];
        int n = snprintf(buf, sizeof(buf), "pid=%d port=%u\n", (int)getpid(), bl_format(&listen_ss, ip, sizeof(ip)));
        bl_write_file_atomic(ready, buf, (size_t)n);
    }

    uint64_t end = bl_now_ns() + max_seconds * 1000000000ull;
    unsigned long accepted = 0;
    while (!g_stop && bl_now_ns() < end) {
        struct pollfd p = {.fd = lfd, .events = POLLIN};
        if (fork_mode)
            reap();
        if (poll(&p, 1, 100) <= 0)
            continue;
        struct sockaddr_storage peer;
        socklen_t plen = sizeof(peer);
        uint64_t t0 = bl_now_ns();
        int fd = accept(lfd, (struct sockaddr *)&peer, &plen);
        if (fd >= 0 && g_log_fd >= 0 && send(g_log_fd, LOG_LINE, sizeof(LOG_LINE) - 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
            g_log_unsent++;
        uint64_t t1 = bl_now_ns();
        if (fd < 0)
            continue;
        accepted++;
        struct sample scratch, *s = &scratch;
        if (g_samples && g_nsamples < g_cap)
            s = &g_samples[g_nsamples++];
        s->t = t1;
        s->acc = (uint32_t)(t1 - t0);
        s->peer = peer;

        switch (g_mode) {
        case M_CLOSE:
            if (fork_mode) {
                pid_t pid = fork();
                if (pid == 0) {
                    close(lfd);
                    ssize_t ignored = send(fd, BANNER, sizeof(BANNER) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
                    (void)ignored;
                    _exit(0);
                }
                close(fd);
                break;
            }
            {
                ssize_t ignored = send(fd, BANNER, sizeof(BANNER) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
                (void)ignored;
            }
            close(fd);
            break;
        case M_HOLD: {
            ssize_t ignored = send(fd, BANNER, sizeof(BANNER) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
            (void)ignored;
            if (ring[ring_pos] >= 0)
                close(ring[ring_pos]);
            ring[ring_pos] = fd;
            ring_pos = (ring_pos + 1) % hold_n;
            break;
        }
        case M_SYNC: {
            sync_query(&peer);
            ssize_t ignored = send(fd, BANNER, sizeof(BANNER) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
            (void)ignored;
            close(fd);
            break;
        }
        }
        if (expect && accepted == expect)
            write_samples();
    }
    write_samples();
    if (stats) {
        struct rusage self, kids;
        char buf[200];
        if (fork_mode)
            reap();
        getrusage(RUSAGE_SELF, &self);
        getrusage(RUSAGE_CHILDREN, &kids);
#define US(tv) ((unsigned long long)(tv).tv_sec * 1000000ull + (unsigned long long)(tv).tv_usec)
        int n = snprintf(buf, sizeof(buf), "accepted=%lu cpu_us=%llu children_cpu_us=%llu log_unsent=%lu\n", accepted,
                         US(self.ru_utime) + US(self.ru_stime), US(kids.ru_utime) + US(kids.ru_stime), g_log_unsent);
        bl_write_file_atomic(stats, buf, (size_t)n);
    }
    return 0;
}
