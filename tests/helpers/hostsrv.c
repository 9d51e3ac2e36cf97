/*
 * hostsrv: hosts whose accept model the shim must not disturb, for tests/integration/faults.sh.
 * Each mode takes the connections of its listener(s) the way some real daemon does and writes
 * what it saw to --events, one line per event (single write, O_APPEND).
 *
 * CLI:
 *   hostsrv --mode select2  --listen IP:PORT --listen2 IP:PORT [--pause-ms N] [common]
 *   hostsrv --mode cancel   --listen IP:PORT [common]
 *   hostsrv --mode stdio    --listen IP:PORT [common]
 *   hostsrv --mode gap      --listen IP:PORT [--limit N] [common]
 *   hostsrv --mode closenow --listen IP:PORT [common]
 * common: [--ready-file PATH] [--events PATH]
 *
 * select2   Exim's and Sendmail's daemon loop: select() over two BLOCKING listeners (no
 *           timeout of any kind), then a blocking accept() on each readable one. SIGTERM has a
 *           handler without SA_RESTART that sets a flag, looked at whenever select() or
 *           accept() returns. Events: "accept port=P" (then the banner "220 hostsrv ready" and
 *           a close), "accept_error port=P errno=NAME addrlen=N" (accept(fd, NULL, &len) with
 *           len 4242: N is what it became), "stop". Exit 0 on SIGTERM. --pause-ms:
 *           a busy daemon, it sleeps N ms between select() and accept(), so connections queue.
 * cancel    a thread blocks in accept() on a blocking listener; on SIGUSR2 the main thread
 *           cancels and joins it, writes "joined leaked=N" (N: 1 if the descriptor number the
 *           accept would have returned is still open: a connection the caller never got and
 *           cannot close), and exits 0 (through the library's destructor).
 * stdio     a daemon that closed its standard descriptors: closes 0, 1 and 2, accepts one
 *           connection at a time (it gets 0), then opens /dev/null as a daemon reopening its
 *           stdio would: "accepted fd=A next_open=B" (B must be the lowest free number, A+1).
 * gap       the host near its descriptor limit: it serves one warm-up connection ("warm"), so
 *           that the library's worker runs, and on SIGUSR2 RLIMIT_NOFILE becomes --limit (default
 *           64) and every descriptor below it is taken except 20 and 21 ("squeezed"); accept()
 *           gets 20, then the host opens a file, which must get 21: "accepted fd=A next_open=B"
 *           or "accepted fd=A next_open=EMFILE". Then it waits for SIGTERM.
 * closenow  an MTA that refuses by itself: writes "421 hostsrv closing" and closes at once,
 *           for every connection ("closed fd=N").
 * Blocking accepts other than select2's and cancel's have SO_RCVTIMEO (300 ms) so that the
 * program notices SIGTERM. --ready-file is created (atomically, "pid=P port=N") once the
 * listener(s) are up. Exit 2 on misuse or start-up failure.
 */
#include <getopt.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/resource.h>
#include <sys/select.h>

#define HELPER_NAME "hostsrv"
#include "helper.h"

#define ACCEPT_TIMEOUT_MS 300
#define BANNER "220 hostsrv ready\r\n"
#define CLOSING "421 hostsrv closing\r\n"

enum mode { M_NONE, M_SELECT2, M_CANCEL, M_STDIO, M_GAP, M_CLOSENOW };

static struct {
    enum mode mode;
    struct sockaddr_storage addr[2];
    socklen_t addrlen[2];
    unsigned nlisten;
    const char *ready_path, *events_path;
    unsigned long limit, pause_ms;
} cfg = {.limit = 64};

static volatile sig_atomic_t g_stop, g_usr2;

/* One line to the events file, which is open for this line only: callers make sure a
 * descriptor is free. Silent on failure (stderr may be closed: stdio mode). */
static void event(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void event(const char *fmt, ...)
{
    va_list ap;
    if (cfg.events_path == NULL)
        return;
    va_start(ap, fmt);
    (void)append_line(cfg.events_path, fmt, ap);
    va_end(ap);
}

static void on_term(int sig)
{
    (void)sig;
    g_stop = 1;
}

static void on_usr2(int sig)
{
    (void)sig;
    g_usr2 = 1;
}

/* No SA_RESTART: a blocking call returns EINTR. */
static void install_handlers(void)
{
    set_handler(SIGPIPE, SIG_IGN, 0);
    set_handler(SIGTERM, on_term, 0);
    set_handler(SIGINT, on_term, 0);
    set_handler(SIGUSR2, on_usr2, 0);
}

static int open_listener(unsigned i, bool with_timeout)
{
    int fd = tcp_listener_or_die(&cfg.addr[i], cfg.addrlen[i], 0, 0, -1, 128);
    if (with_timeout && set_accept_timeout(fd, ACCEPT_TIMEOUT_MS) != 0)
        die("SO_RCVTIMEO: %s", strerror(errno));
    return fd;
}

static void write_ready(int lfd)
{
    char text[96];
    if (cfg.ready_path == NULL)
        return;
    snprintf(text, sizeof(text), "pid=%ld port=%u\n", (long)getpid(), local_port(lfd));
    if (write_file_atomic(cfg.ready_path, text) != 0)
        die("cannot write %s: %s", cfg.ready_path, strerror(errno));
}

static void say_and_close(int fd, const char *text)
{
    (void)!send(fd, text, strlen(text), MSG_NOSIGNAL | MSG_DONTWAIT);
    close(fd);
}

static const char *errno_name(int e)
{
    const char *name = strerrorname_np(e);
    return name ? name : "unknown";
}

static void run_select2(int l0, int l1)
{
    int fds[2] = {l0, l1};
    while (!g_stop) {
        fd_set rd;
        FD_ZERO(&rd);
        FD_SET(l0, &rd);
        FD_SET(l1, &rd);
        int n = select((l0 > l1 ? l0 : l1) + 1, &rd, NULL, NULL, NULL);
        if (n < 0)
            continue;            /* EINTR: the flag is looked at above */
        for (int i = 0; i < 2 && !g_stop; i++) {
            if (!FD_ISSET(fds[i], &rd))
                continue;
            if (cfg.pause_ms)
                usleep((useconds_t)(cfg.pause_ms * 1000));
            /* No address buffer but a length: the kernel leaves the length alone, so must a
             * wrapper (the error event says what it became). */
            socklen_t len = 4242;
            int c = accept(fds[i], NULL, &len);
            if (c >= 0) {
                event("accept port=%u", local_port(fds[i]));
                say_and_close(c, BANNER);
            } else {
                int e = errno;
                event("accept_error port=%u errno=%s addrlen=%u", local_port(fds[i]), errno_name(e), (unsigned)len);
            }
        }
    }
    event("stop");
}

static void *cancel_acceptor(void *arg)
{
    int lfd = *(int *)arg;
    for (;;) {
        int c = accept(lfd, NULL, NULL);
        if (c >= 0)
            say_and_close(c, BANNER);
    }
    return NULL;
}

static void run_cancel(int lfd)
{
    pthread_t thread;
    /* The number accept() would return: the lowest free one now. */
    int probe = dup(0);
    if (probe < 0)
        die("dup: %s", strerror(errno));
    close(probe);
    if (pthread_create(&thread, NULL, cancel_acceptor, &lfd) != 0)
        die("pthread_create failed");
    while (!g_usr2 && !g_stop)
        pause();
    pthread_cancel(thread);
    pthread_join(thread, NULL);
    bool leaked = fcntl(probe, F_GETFD) != -1;
    event("joined leaked=%d", leaked ? 1 : 0);
}

static int accept_quietly(int lfd)
{
    for (;;) {
        if (g_stop)
            return -1;
        int c = accept(lfd, NULL, NULL);
        if (c >= 0)
            return c;
    }
}

static void run_stdio(int lfd)
{
    close(0);
    close(1);
    close(2);
    for (;;) {
        int c = accept_quietly(lfd);
        if (c < 0)
            return;
        int next = open("/dev/null", O_RDONLY | O_CLOEXEC);
        event("accepted fd=%d next_open=%d", c, next);
        if (next >= 0)
            close(next);
        say_and_close(c, BANNER);
    }
}

static void run_gap(int lfd)
{
    int warm = accept_quietly(lfd);
    if (warm < 0)
        return;
    say_and_close(warm, BANNER);
    event("warm");
    while (!g_usr2 && !g_stop)
        pause();
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        die("getrlimit: %s", strerror(errno));
    rl.rlim_cur = cfg.limit;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        die("setrlimit: %s", strerror(errno));
    int filler = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (filler < 0)
        die("open /dev/null: %s", strerror(errno));
    for (int fd = 0; fd < (int)cfg.limit; fd++)
        if (fcntl(fd, F_GETFD) == -1)
            fcntl(filler, F_DUPFD_CLOEXEC, fd);
    close(20);
    close(21);
    event("squeezed");
    int c = accept_quietly(lfd);
    if (c < 0)
        return;
    int next = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int err = errno;
    /* The event needs a descriptor of its own: give back a filler first. */
    close(cfg.limit - 1 > 22 ? (int)cfg.limit - 1 : 22);
    if (next >= 0)
        event("accepted fd=%d next_open=%d", c, next);
    else
        event("accepted fd=%d next_open=%s", c, errno_name(err));
    say_and_close(c, BANNER);
    while (!g_stop)
        pause();
}

static void run_closenow(int lfd)
{
    for (;;) {
        int c = accept_quietly(lfd);
        if (c < 0)
            return;
        say_and_close(c, CLOSING);
    }
}

static void usage(void) __attribute__((noreturn));
static void usage(void)
{
    fputs("usage: hostsrv --mode select2|cancel|stdio|gap|closenow --listen IP:PORT [--listen2 IP:PORT]\n"
          "               [--limit N] [--pause-ms N] [--ready-file PATH] [--events PATH]\n",
          stderr);
    exit(2);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"mode", required_argument, NULL, 'm'},   {"listen", required_argument, NULL, 'l'},
        {"listen2", required_argument, NULL, 'L'}, {"limit", required_argument, NULL, 'n'},
        {"ready-file", required_argument, NULL, 'r'}, {"events", required_argument, NULL, 'e'},
        {"pause-ms", required_argument, NULL, 'p'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static const char *const names[] = {"", "select2", "cancel", "stdio", "gap", "closenow"};
    int opt;
    bool have[2] = {false, false};

    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case 'm':
            for (unsigned i = 1; i < sizeof(names) / sizeof(names[0]); i++)
                if (strcmp(optarg, names[i]) == 0)
                    cfg.mode = (enum mode)i;
            if (cfg.mode == M_NONE)
                die("--mode: unknown mode \"%s\"", optarg);
            break;
        case 'l':
            parse_hostport("--listen", optarg, 1, &cfg.addr[0], &cfg.addrlen[0]);
            have[0] = true;
            break;
        case 'L':
            parse_hostport("--listen2", optarg, 1, &cfg.addr[1], &cfg.addrlen[1]);
            have[1] = true;
            break;
        case 'n': cfg.limit = (unsigned long)parse_integer("--limit", optarg, 32, 4096); break;
        case 'p': cfg.pause_ms = (unsigned long)parse_integer("--pause-ms", optarg, 0, 10000); break;
        case 'r': cfg.ready_path = optarg; break;
        case 'e': cfg.events_path = optarg; break;
        default: usage();
        }
    }
    if (optind != argc || cfg.mode == M_NONE || !have[0] || have[1] != (cfg.mode == M_SELECT2))
        usage();
    install_handlers();
    bool blocking_only = cfg.mode == M_SELECT2 || cfg.mode == M_CANCEL;
    int l0 = open_listener(0, !blocking_only);
    int l1 = cfg.mode == M_SELECT2 ? open_listener(1, false) : -1;
    write_ready(l0);
    switch (cfg.mode) {
    case M_SELECT2: run_select2(l0, l1); break;
    case M_CANCEL: run_cancel(l0); break;
    case M_STDIO: run_stdio(l0); break;
    case M_GAP: run_gap(l0); break;
    case M_CLOSENOW: run_closenow(l0); break;
    default: break;
    }
    return 0;
}
