/*
 * faultsrv: small servers that put a host under the conditions p0fshim must survive, for
 * tests/integration/faults.sh. Each mode serves the same SMTP-ish dialog as testsrv ("220 faultsrv
 * ready", QUIT -> 221, DATA -> 354 ... "." -> 250, anything else -> 250), one client at a time,
 * with blocking accept() on a listener that has SO_RCVTIMEO (300 ms), so that no wait is unbounded.
 *
 * CLI:
 *   faultsrv --mode fdreuse --listen IP:PORT [common]
 *   faultsrv --mode emfile  --listen IP:PORT [--squeeze now|usr2] [--left N] [--batch M] [common]
 *   faultsrv --mode signals --listen IP:PORT [common]
 *   faultsrv --mode flood   --pid PID [--interval-us N] [--duration-ms N] [--signals LIST]
 * common: [--ready-file PATH] [--stats-file PATH] [--events PATH]
 *
 * fdreuse  accept A, close A at once, accept B: B gets A's descriptor number (the lowest free
 *          one); B is served, then closed; again. Each pair appends "pair a=N b=M" to --events
 *          (after "a fd=N", written as soon as A is closed, so a test can connect B only then).
 *          Stats: accepted served pairs same_number accept_errors errno_changed.
 * emfile   serves connections one by one until it squeezes: at once (--squeeze now, the
 *          default) or when it gets SIGUSR2 (--squeeze usr2: a test lets the shim settle first,
 *          so that no descriptor is about to be freed). To squeeze is to lower the soft
 *          RLIMIT_NOFILE so that exactly N descriptors (--left, default 1) are free below it, and
 *          to append "squeezed lowest=F limit=L" (F: the lowest free one). From then on it
 *          accepts connections in batches of up to M (--batch, default 1; a batch ends early
 *          after 500 ms without a new connection), keeps them all open, serves them in turn,
 *          then appends "batch fds=F1,F2,...". An accept that fails (EMFILE) is counted in
 *          accept_errors and the batch is served as far as it got. So the host itself needs
 *          every descriptor up to the limit: a library that takes one of them makes the host's
 *          accept() fail. Stats: accepted served accept_errors errno_changed limit lowest.
 * signals  SIGUSR1 and SIGALRM handlers without SA_RESTART (a blocking accept() returns EINTR),
 *          SIGCHLD with SA_RESTART; every handler compares gettid() with the main thread's id.
 *          accept() returning EINTR is counted (eintr), any other failure but the SO_RCVTIMEO
 *          timeout is an accept error. Stats: accepted served accept_errors errno_changed eintr
 *          handled wrong_thread (handler runs on another thread than main) main_tid
 *          last_wrong_tid. The dialog's reads and writes retry on EINTR.
 * flood    a sibling that sends the signals in LIST (default USR1,ALRM,CHLD), round robin, to
 *          PID every --interval-us (default 200) for --duration-ms (default 5000) or until PID is
 *          gone; prints "sent=N" and exits 0.
 *
 * Before each accept errno is set to EDOM; after a successful accept errno must still be EDOM,
 * else errno_changed is counted. --ready-file is created (atomically, "pid=P port=N") once the
 * listener is up. Stats (--stats-file) are rewritten atomically after each accept and each
 * session. SIGTERM/SIGINT: clean exit 0. Exit 2 on misuse or start-up failure.
 */
#include <getopt.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#define HELPER_NAME "faultsrv"
#include "helper.h"

#define ACCEPT_TIMEOUT_MS 300
#define IO_TIMEOUT_MS 10000
#define BATCH_GAP_MS 500
#define LINE_MAX_LEN 1000
#define MAX_BATCH 64

enum mode { M_NONE, M_FDREUSE, M_EMFILE, M_SIGNALS, M_FLOOD };

static struct {
    enum mode mode;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    bool listen_set;
    const char *ready_path, *stats_path, *events_path;
    bool squeeze_on_usr2;
    unsigned long left, batch;
    long pid;
    unsigned long interval_us, duration_ms;
    const char *signals;
} cfg = {.left = 1, .batch = 1, .interval_us = 200, .duration_ms = 5000,
         .signals = "USR1,ALRM,CHLD"};

static struct {
    unsigned long accepted, served, accept_errors, errno_changed, pairs, same_number, eintr;
    long limit, lowest;
} st = {.limit = -1, .lowest = -1};

static volatile sig_atomic_t g_stop, g_squeeze;
static pid_t g_main_tid;
static atomic_ulong g_handled, g_wrong_thread;
static atomic_long g_last_wrong_tid;

static void stats_write(void)
{
    char buf[512];

    if (cfg.stats_path == NULL)
        return;
    snprintf(buf, sizeof(buf),
             "accepted=%lu served=%lu accept_errors=%lu errno_changed=%lu pairs=%lu same_number=%lu eintr=%lu "
             "handled=%lu wrong_thread=%lu main_tid=%ld last_wrong_tid=%ld limit=%ld lowest=%ld\n",
             st.accepted, st.served, st.accept_errors, st.errno_changed, st.pairs, st.same_number, st.eintr,
             atomic_load(&g_handled), atomic_load(&g_wrong_thread), (long)g_main_tid,
             atomic_load(&g_last_wrong_tid), st.limit, st.lowest);
    /* At the descriptor limit (emfile) there may be none to spare: the next write catches up. */
    if (write_file_atomic(cfg.stats_path, buf) != 0 && errno != EMFILE)
        note("cannot write %s: %s", cfg.stats_path, strerror(errno));
}

/* One line appended to the events file with a single write. Needs no free descriptor
 * beyond the one it opens: called only where the host has one to spare. */
static void event(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void event(const char *fmt, ...)
{
    va_list ap;
    int rc;

    if (cfg.events_path == NULL)
        return;
    va_start(ap, fmt);
    rc = append_line(cfg.events_path, fmt, ap);
    va_end(ap);
    if (rc != 0)
        note("cannot append to %s: %s", cfg.events_path, strerror(errno));
}

/* ---- signals ---- */

static void on_term(int sig)
{
    (void)sig;
    g_stop = 1;
}

static void on_usr2(int sig)
{
    (void)sig;
    g_squeeze = 1;
}

static void on_counted(int sig)
{
    int saved = errno;
    pid_t tid = (pid_t)syscall(SYS_gettid);

    atomic_fetch_add(&g_handled, 1);
    if (tid != g_main_tid) {
        atomic_fetch_add(&g_wrong_thread, 1);
        atomic_store(&g_last_wrong_tid, (long)tid);
    }
    if (sig == SIGCHLD)
        while (waitpid(-1, NULL, WNOHANG) > 0)
            ;
    errno = saved;
}

static void install_handlers(void)
{
    set_handler(SIGPIPE, SIG_IGN, 0);
    set_handler(SIGTERM, on_term, 0);
    set_handler(SIGINT, on_term, 0);
    if (cfg.mode == M_EMFILE)
        set_handler(SIGUSR2, on_usr2, 0);
    if (cfg.mode != M_SIGNALS)
        return;
    set_handler(SIGUSR1, on_counted, 0);   /* no SA_RESTART: accept() returns EINTR */
    set_handler(SIGALRM, on_counted, 0);
    set_handler(SIGCHLD, on_counted, SA_RESTART | SA_NOCLDSTOP);
}

/* ---- the dialog ---- */

static int write_all(int fd, const char *s)
{
    size_t len = strlen(s), off = 0;
    int64_t deadline = now_ms() + IO_TIMEOUT_MS;

    while (off < len) {
        ssize_t n = send(fd, s + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
            return -1;
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        if (ms_until(deadline) == 0 || poll(&pfd, 1, ms_until(deadline)) == 0)
            return -1;
    }
    return 0;
}

/* Returns true when the client said QUIT and got "221 bye". */
static bool serve(int fd)
{
    char in[4096], line[LINE_MAX_LEN + 1];
    size_t len = 0;
    bool in_data = false, overflow = false;
    int64_t deadline = now_ms() + IO_TIMEOUT_MS;

    if (write_all(fd, "220 faultsrv ready\r\n") != 0)
        return false;
    while (!g_stop) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int rc = poll(&pfd, 1, ms_until(deadline));
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc <= 0)
            return false;
        ssize_t n = recv(fd, in, sizeof(in), MSG_DONTWAIT);
        if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
            continue;
        if (n <= 0)
            return false;
        deadline = now_ms() + IO_TIMEOUT_MS;
        for (ssize_t i = 0; i < n; i++) {
            if (in[i] != '\n') {
                if (len < LINE_MAX_LEN)
                    line[len++] = in[i];
                else
                    overflow = true;
                continue;
            }
            while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' '))
                len--;
            const char *reply = "250 ok\r\n";
            if (in_data) {
                reply = !overflow && len == 1 && line[0] == '.' ? "250 queued\r\n" : NULL;
                if (reply)
                    in_data = false;
            } else if (!overflow && len == 4 && strncasecmp(line, "QUIT", 4) == 0) {
                return write_all(fd, "221 bye\r\n") == 0;
            } else if (!overflow && len == 4 && strncasecmp(line, "DATA", 4) == 0) {
                in_data = true;
                reply = "354 go\r\n";
            }
            len = 0;
            overflow = false;
            if (reply && write_all(fd, reply) != 0)
                return false;
        }
    }
    return false;
}

static void serve_and_close(int fd)
{
    if (serve(fd))
        st.served++;
    close(fd);
    stats_write();
}

/* ---- accepting ---- */

static int open_listener(void)
{
    int fd = tcp_listener_or_die(&cfg.addr, cfg.addrlen, 0, 0, -1, 1024);
    char ready[128];

    if (set_accept_timeout(fd, ACCEPT_TIMEOUT_MS) != 0)
        die("SO_RCVTIMEO: %s", strerror(errno));
    if (cfg.ready_path) {
        snprintf(ready, sizeof(ready), "pid=%ld port=%u\n", (long)getpid(), local_port(fd));
        if (write_file_atomic(cfg.ready_path, ready) != 0)
            die("cannot write %s: %s", cfg.ready_path, strerror(errno));
    }
    return fd;
}

/* One accept: the fd, or -1 with *quiet set for the SO_RCVTIMEO timeout or a signal (EINTR). */
static int accept_one(int lfd, bool *quiet)
{
    struct sockaddr_storage peer;
    socklen_t plen = sizeof(peer);

    *quiet = false;
    errno = EDOM;
    int fd = accept(lfd, (struct sockaddr *)&peer, &plen);
    if (fd >= 0) {
        if (errno != EDOM)
            st.errno_changed++;
        st.accepted++;
        stats_write();
        return fd;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
        *quiet = true;
    } else if (errno == EINTR) {
        *quiet = true;
        st.eintr++;
    } else {
        int e = errno;
        st.accept_errors++;
        stats_write();
        note("accept: %s", strerror(e));
        errno = e;
    }
    return -1;
}

static void run_fdreuse(int lfd)
{
    while (!g_stop) {
        bool quiet;
        int a = accept_one(lfd, &quiet);
        if (a < 0) {
            if (!quiet)
                usleep(50000);
            continue;
        }
        close(a);
        event("a fd=%d", a);
        int b = -1;
        while (!g_stop && b < 0) {
            b = accept_one(lfd, &quiet);
            if (b < 0 && !quiet)
                usleep(50000);
        }
        if (b < 0)
            break;
        st.pairs++;
        if (a == b)
            st.same_number++;
        event("pair a=%d b=%d", a, b);
        stats_write();
        serve_and_close(b);
    }
}

/* The number just above the n-th free descriptor: a limit that leaves exactly n free. The
 * lowest free one goes to *lowest. Descriptors above the lowest may be in use (the shim's
 * own, say), so the limit is counted, not added. */
static int limit_leaving(unsigned long n, int *lowest)
{
    unsigned long found = 0;
    *lowest = -1;
    for (int fd = 0; fd < 1 << 20; fd++) {
        if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
            continue;
        if (*lowest < 0)
            *lowest = fd;
        if (++found == n)
            return fd + 1;
    }
    return -1;
}

static void run_emfile(int lfd)
{
    bool squeezed = false;

    if (!cfg.squeeze_on_usr2)
        g_squeeze = 1;
    while (!g_stop) {
        bool quiet;
        if (!squeezed && g_squeeze) {
            int lowest, limit = limit_leaving(cfg.left, &lowest);
            struct rlimit rl;
            if (limit < 0 || getrlimit(RLIMIT_NOFILE, &rl) != 0 || (rlim_t)limit > rl.rlim_cur)
                die("cannot find %lu free descriptors below the limit", cfg.left);
            rl.rlim_cur = (rlim_t)limit;
            if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
                die("setrlimit: %s", strerror(errno));
            st.limit = (long)rl.rlim_cur;
            st.lowest = lowest;
            squeezed = true;
            /* The events file is opened and closed here: it takes the lowest free fd for a moment only. */
            event("squeezed lowest=%d limit=%ld", lowest, st.limit);
            stats_write();
        }
        if (!squeezed) {
            int fd = accept_one(lfd, &quiet);
            if (fd >= 0)
                serve_and_close(fd);
            else if (!quiet)
                usleep(50000);
            continue;
        }
        int fds[MAX_BATCH];
        size_t n = 0;
        int64_t gap_end = 0;
        while (!g_stop && n < cfg.batch) {
            int fd = accept_one(lfd, &quiet);
            if (fd >= 0) {
                fds[n++] = fd;
                gap_end = now_ms() + BATCH_GAP_MS;
                continue;
            }
            if (!quiet)
                break;       /* EMFILE and the like: serve what we have */
            if (n > 0 && now_ms() >= gap_end)
                break;
        }
        if (n == 0) {
            usleep(50000);   /* an accept error with nothing accepted: the pending client waits */
            continue;
        }
        char list[MAX_BATCH * 8] = "";
        size_t off = 0;
        for (size_t i = 0; i < n; i++)
            off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%d", i ? "," : "", fds[i]);
        /* Serve first, then write the event: the events file needs a free descriptor. */
        for (size_t i = 0; i < n; i++)
            serve_and_close(fds[i]);
        event("batch fds=%s", list);
    }
}

static void run_signals(int lfd)
{
    int64_t next_stats = 0;

    while (!g_stop) {
        bool quiet;
        int fd = accept_one(lfd, &quiet);
        if (fd >= 0) {
            serve_and_close(fd);
        } else if (!quiet) {
            usleep(50000);
        } else if (now_ms() >= next_stats) {
            stats_write();   /* eintr and handled move all the time: at most 10 writes a second */
            next_stats = now_ms() + 100;
        }
    }
}

/* ---- flood ---- */

static int signal_number(const char *name)
{
    static const struct { const char *name; int sig; } table[] = {
        {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"ALRM", SIGALRM}, {"CHLD", SIGCHLD}, {"HUP", SIGHUP},
        {"WINCH", SIGWINCH}, {"URG", SIGURG}, {"PIPE", SIGPIPE},
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        if (strcmp(table[i].name, name) == 0)
            return table[i].sig;
    return -1;
}

static int run_flood(void)
{
    int sigs[16];
    size_t nsigs = 0;
    char list[256], *save = NULL;
    unsigned long sent = 0;

    snprintf(list, sizeof(list), "%s", cfg.signals);
    for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int sig = signal_number(tok);
        if (sig < 0 || nsigs == sizeof(sigs) / sizeof(sigs[0]))
            die("--signals: unknown or too many signals: \"%s\"", tok);
        sigs[nsigs++] = sig;
    }
    if (nsigs == 0 || cfg.pid <= 1)
        die("--mode flood needs --pid and at least one signal");
    int64_t end = now_ms() + (int64_t)cfg.duration_ms;
    struct timespec gap = {.tv_sec = (time_t)(cfg.interval_us / 1000000),
                           .tv_nsec = (long)(cfg.interval_us % 1000000) * 1000};
    while (!g_stop && now_ms() < end) {
        if (kill((pid_t)cfg.pid, sigs[sent % nsigs]) != 0)
            break;
        sent++;
        if (cfg.interval_us)
            nanosleep(&gap, NULL);
    }
    printf("sent=%lu\n", sent);
    return 0;
}

static void usage(void) __attribute__((noreturn));
static void usage(void)
{
    fputs("usage: faultsrv --mode fdreuse|emfile|signals --listen IP:PORT [--ready-file P] [--stats-file P]\n"
          "                [--events P] [--squeeze now|usr2] [--left N] [--batch M]\n"
          "       faultsrv --mode flood --pid PID [--interval-us N] [--duration-ms N] [--signals USR1,ALRM,CHLD]\n",
          stderr);
    exit(2);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"mode", required_argument, NULL, 'm'}, {"listen", required_argument, NULL, 'l'},
        {"ready-file", required_argument, NULL, 'r'}, {"stats-file", required_argument, NULL, 's'},
        {"events", required_argument, NULL, 'e'}, {"squeeze", required_argument, NULL, 'k'},
        {"left", required_argument, NULL, 'n'}, {"batch", required_argument, NULL, 'b'},
        {"pid", required_argument, NULL, 'p'}, {"interval-us", required_argument, NULL, 'i'},
        {"duration-ms", required_argument, NULL, 'd'}, {"signals", required_argument, NULL, 'g'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    int opt;

    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case 'm':
            cfg.mode = strcmp(optarg, "fdreuse") == 0 ? M_FDREUSE
                     : strcmp(optarg, "emfile") == 0  ? M_EMFILE
                     : strcmp(optarg, "signals") == 0 ? M_SIGNALS
                     : strcmp(optarg, "flood") == 0   ? M_FLOOD
                                                      : M_NONE;
            if (cfg.mode == M_NONE)
                die("--mode: unknown mode \"%s\"", optarg);
            break;
        case 'l':
            parse_hostport("--listen", optarg, 0, &cfg.addr, &cfg.addrlen);
            cfg.listen_set = true;
            break;
        case 'r': cfg.ready_path = optarg; break;
        case 's': cfg.stats_path = optarg; break;
        case 'e': cfg.events_path = optarg; break;
        case 'k':
            if (strcmp(optarg, "now") != 0 && strcmp(optarg, "usr2") != 0)
                die("--squeeze: now or usr2");
            cfg.squeeze_on_usr2 = optarg[0] == 'u';
            break;
        case 'n': cfg.left = (unsigned long)parse_integer("--left", optarg, 1, 1000); break;
        case 'b': cfg.batch = (unsigned long)parse_integer("--batch", optarg, 1, MAX_BATCH); break;
        case 'p': cfg.pid = (long)parse_integer("--pid", optarg, 2, INT_MAX); break;
        case 'i': cfg.interval_us = (unsigned long)parse_integer("--interval-us", optarg, 0, 1000000); break;
        case 'd': cfg.duration_ms = (unsigned long)parse_integer("--duration-ms", optarg, 1, 600000); break;
        case 'g': cfg.signals = optarg; break;
        default: usage();
        }
    }
    if (optind != argc || cfg.mode == M_NONE)
        usage();
    g_main_tid = (pid_t)syscall(SYS_gettid);
    install_handlers();
    if (cfg.mode == M_FLOOD)
        return run_flood();
    if (!cfg.listen_set)
        die("--listen is required with --mode fdreuse|emfile|signals");
    int lfd = open_listener();
    stats_write();
    switch (cfg.mode) {
    case M_FDREUSE: run_fdreuse(lfd); break;
    case M_EMFILE: run_emfile(lfd); break;
    case M_SIGNALS: run_signals(lfd); break;
    default: break;
    }
    stats_write();
    close(lfd);
    return 0;
}
