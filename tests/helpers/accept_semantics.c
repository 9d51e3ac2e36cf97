/*
 * accept_semantics: checks that accept()/accept4() behave exactly as the kernel's do, so that
 * running it with p0fshim preloaded proves the shim is transparent. It must pass both plainly
 * and under LD_PRELOAD.
 *
 * CLI:
 *   accept_semantics --port N
 *
 * Uses 127.0.0.1:N, [::1]:N+1, an IPv6 socket bound to [::ffff:127.0.0.1]:N+2 with
 * IPV6_V6ONLY off (it takes IPv4 clients, which it sees as v4-mapped IPv6 peers, while staying
 * on loopback), and a unix socket in a private temporary directory. Prints one line per check,
 * `ok - NAME` or `FAIL - NAME: DETAIL` (IPv6 checks print `ok - NAME # SKIP ...` when the
 * machine has no IPv6 loopback), then `# N failures`. Exit status = number of failures (capped
 * at 99). Misuse prints a message on stderr and exits 2 before running any check (so no
 * `ok -`/`FAIL -` line is printed); the watchdog exits 100.
 * The two signal checks run on a fresh listener on port N, which nothing connects to (except the
 * helper thread of the SA_RESTART check, on purpose, 400 ms after the signal).
 *
 * Every wait is bounded: listeners have SO_RCVTIMEO (2 s, except in the SA_RESTART check, where
 * a helper thread unblocks accept() by shutting the listener down after 3 s), connects and reads
 * poll with 2 s timeouts, and a watchdog thread ends the program (exit 100, naming the check)
 * if one check takes 10 s or the whole run 60 s.
 */
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#define HELPER_NAME "accept_semantics"
#include "helper.h"

#define IO_TIMEOUT_MS 2000
#define WATCHDOG_S 60      /* whole run */
#define CHECK_HANG_S 10     /* one check */
#define RESTART_CONNECT_MS 400
#define RESTART_UNBLOCK_MS 3000

static int g_failures;
static unsigned g_port;
static atomic_int g_done;
static volatile sig_atomic_t g_alarms;

/* The check in progress, for the watchdog's message if one hangs. */
static pthread_mutex_t g_cur_mu = PTHREAD_MUTEX_INITIALIZER;
static char g_cur_name[160];
static int64_t g_cur_since;

static void begin(const char *name)
{
    pthread_mutex_lock(&g_cur_mu);
    snprintf(g_cur_name, sizeof(g_cur_name), "%s", name);
    g_cur_since = now_ms();
    pthread_mutex_unlock(&g_cur_mu);
}

/* ---- reporting ---- */

static void pass(const char *name)
{
    printf("ok - %s\n", name);
    fflush(stdout);
}

static void skip(const char *name, const char *why)
{
    printf("ok - %s # SKIP %s\n", name, why);
    fflush(stdout);
}

static void fail(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(const char *name, const char *fmt, ...)
{
    va_list ap;
    printf("FAIL - %s: ", name);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
    g_failures++;
}

static const char *errname(int e)
{
    switch (e) {
    case 0: return "no error";
    case EAGAIN: return "EAGAIN";
    case EBADF: return "EBADF";
    case EINTR: return "EINTR";
    case EINVAL: return "EINVAL";
    case ENOTSOCK: return "ENOTSOCK";
    case EDOM: return "EDOM";
    case EFAULT: return "EFAULT";
    case ECONNABORTED: return "ECONNABORTED";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    default: return strerror(e);
    }
}

/* ---- small helpers ---- */

static socklen_t inet_addr_of(struct sockaddr_storage *ss, int family, const char *ip, unsigned port)
{
    memset(ss, 0, sizeof(*ss));
    if (family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)ss;
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)port);
        inet_pton(AF_INET, ip, &sin->sin_addr);
        return sizeof(*sin);
    }
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons((uint16_t)port);
    inet_pton(AF_INET6, ip, &sin6->sin6_addr);
    return sizeof(*sin6);
}

/* A listening TCP socket on ip:port; v6only: -1 leave alone, 0/1 set IPV6_V6ONLY. Returns the fd or
 * -1 with errno set. Blocking, with a receive timeout so that no accept() can hang. */
static int listen_on(int family, const char *ip, unsigned port, int v6only)
{
    struct sockaddr_storage ss;
    socklen_t len = inet_addr_of(&ss, family, ip, port);
    const char *failed;
    int fd = tcp_listener(&ss, len, 0, 0, v6only, 16, &failed);

    if (fd >= 0)
        set_accept_timeout(fd, IO_TIMEOUT_MS);
    return fd;
}

/* Connect a client (bounded wait); returns a blocking fd or -1 with errno set. */
static int client_connect(const struct sockaddr *sa, socklen_t len)
{
    struct sockaddr_storage to;
    const char *failed;
    int fd;

    memset(&to, 0, sizeof(to));
    memcpy(&to, sa, len);
    fd = stream_connect(&to, len, NULL, 0, 0, IO_TIMEOUT_MS, &failed);
    if (fd >= 0)
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    return fd;
}

static int connect_inet(int family, const char *ip, unsigned port)
{
    struct sockaddr_storage ss;
    socklen_t len = inet_addr_of(&ss, family, ip, port);
    return client_connect((struct sockaddr *)&ss, len);
}

/* Wait until the listener has a connection queued. */
static bool wait_pending(int lfd)
{
    struct pollfd pfd = {.fd = lfd, .events = POLLIN};
    return poll(&pfd, 1, IO_TIMEOUT_MS) == 1;
}

/* The accepted socket really is connected to the client: bytes flow both ways. */
static bool data_flows(int a, int c, char *detail, size_t dsize)
{
    char buf[8];
    struct pollfd pfd;

    if (send(c, "ping", 4, MSG_NOSIGNAL) != 4 || send(a, "pong", 4, MSG_NOSIGNAL) != 4) {
        snprintf(detail, dsize, "send: %s", strerror(errno));
        return false;
    }
    pfd.fd = a;
    pfd.events = POLLIN;
    if (poll(&pfd, 1, IO_TIMEOUT_MS) != 1 || recv(a, buf, sizeof(buf), 0) != 4 || memcmp(buf, "ping", 4) != 0) {
        snprintf(detail, dsize, "the accepted socket did not receive the client's bytes");
        return false;
    }
    pfd.fd = c;
    if (poll(&pfd, 1, IO_TIMEOUT_MS) != 1 || recv(c, buf, sizeof(buf), 0) != 4 || memcmp(buf, "pong", 4) != 0) {
        snprintf(detail, dsize, "the client did not receive the accepted socket's bytes");
        return false;
    }
    return true;
}

static void close2(int a, int b)
{
    if (a >= 0)
        close(a);
    if (b >= 0)
        close(b);
}

/* ---- the checks on 127.0.0.1:N ---- */

static void check_null_addr(int lfd)
{
    const char *name = "accept(fd, NULL, NULL) returns a connected socket";
    char detail[128];
    int c = connect_inet(AF_INET, "127.0.0.1", g_port), a;

    if (c < 0) {
        fail(name, "connect: %s", strerror(errno));
        return;
    }
    a = accept(lfd, NULL, NULL);
    if (a < 0)
        fail(name, "accept: %s", errname(errno));
    else if (!data_flows(a, c, detail, sizeof(detail)))
        fail(name, "%s", detail);
    else
        pass(name);
    close2(a, c);
}

static void check_peer_address(int lfd)
{
    const char *name = "accept fills in the IPv4 peer address and addrlen";
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    int c = connect_inet(AF_INET, "127.0.0.1", g_port), a;

    if (c < 0) {
        fail(name, "connect: %s", strerror(errno));
        return;
    }
    memset(&ss, 0, sizeof(ss));
    a = accept(lfd, (struct sockaddr *)&ss, &len);
    if (a < 0) {
        fail(name, "accept: %s", errname(errno));
    } else {
        struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
        if (len != sizeof(struct sockaddr_in))
            fail(name, "addrlen=%u, want %zu", (unsigned)len, sizeof(struct sockaddr_in));
        else if (sin->sin_family != AF_INET)
            fail(name, "family=%d, want AF_INET", (int)sin->sin_family);
        else if (sin->sin_addr.s_addr != htonl(INADDR_LOOPBACK))
            fail(name, "address is not 127.0.0.1");
        else if (ntohs(sin->sin_port) != local_port(c))
            fail(name, "port=%u, want the client's %u", ntohs(sin->sin_port), local_port(c));
        else
            pass(name);
    }
    close2(a, c);
}

/* addrlen smaller than the address: the kernel copies what fits and reports the full size. */
static void check_short_addrlen(int lfd, socklen_t given)
{
    char name[96];
    union {
        struct sockaddr_storage ss;
        unsigned char b[sizeof(struct sockaddr_storage)];
    } u;
    struct sockaddr_storage want;
    socklen_t len = given;
    int c, a;

    snprintf(name, sizeof(name), "accept with addrlen=%u truncates the address and sets addrlen=%zu",
             (unsigned)given, sizeof(struct sockaddr_in));
    c = connect_inet(AF_INET, "127.0.0.1", g_port);
    if (c < 0) {
        fail(name, "connect: %s", strerror(errno));
        return;
    }
    inet_addr_of(&want, AF_INET, "127.0.0.1", local_port(c));
    memset(u.b, 0xAA, sizeof(u.b));
    a = accept(lfd, (struct sockaddr *)&u.ss, &len);
    if (a < 0) {
        fail(name, "accept: %s", errname(errno));
    } else if (len != sizeof(struct sockaddr_in)) {
        fail(name, "addrlen=%u, want %zu", (unsigned)len, sizeof(struct sockaddr_in));
    } else if (memcmp(u.b, &want, given) != 0) {
        fail(name, "the first %u bytes are not the start of the peer address", (unsigned)given);
    } else {
        size_t i;
        for (i = given; i < sizeof(u.b) && u.b[i] == 0xAA; i++)
            ;
        if (i < sizeof(u.b))
            fail(name, "byte %zu beyond addrlen was written", i);
        else
            pass(name);
    }
    close2(a, c);
}

static void check_nonblocking_empty(int lfd)
{
    const char *name = "non-blocking listener with nothing pending: accept and accept4 give EAGAIN";
    int fl = fcntl(lfd, F_GETFL), a, e1, e2;

    if (fl < 0 || fcntl(lfd, F_SETFL, fl | O_NONBLOCK) != 0) {
        fail(name, "fcntl: %s", strerror(errno));
        return;
    }
    errno = 0;
    a = accept(lfd, NULL, NULL);
    e1 = errno;
    if (a >= 0) {
        fail(name, "accept returned fd %d (an unexpected connection?)", a);
        close(a);
    } else {
        errno = 0;
        a = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        e2 = errno;
        if (a >= 0) {
            fail(name, "accept4 returned fd %d (an unexpected connection?)", a);
            close(a);
        } else if (e1 != EAGAIN && e1 != EWOULDBLOCK) {
            fail(name, "accept: errno %s, want EAGAIN", errname(e1));
        } else if (e2 != EAGAIN && e2 != EWOULDBLOCK) {
            fail(name, "accept4: errno %s, want EAGAIN", errname(e2));
        } else {
            pass(name);
        }
    }
    fcntl(lfd, F_SETFL, fl);
}

static void check_accept4_flags(int lfd)
{
    const char *name = "accept4(SOCK_NONBLOCK|SOCK_CLOEXEC) sets O_NONBLOCK and FD_CLOEXEC";
    int c = connect_inet(AF_INET, "127.0.0.1", g_port), a;

    if (c < 0) {
        fail(name, "connect: %s", strerror(errno));
        return;
    }
    a = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (a < 0) {
        fail(name, "accept4: %s", errname(errno));
    } else {
        int fl = fcntl(a, F_GETFL), fdfl = fcntl(a, F_GETFD);
        if (fl < 0 || !(fl & O_NONBLOCK))
            fail(name, "O_NONBLOCK is not set");
        else if (fdfl < 0 || !(fdfl & FD_CLOEXEC))
            fail(name, "FD_CLOEXEC is not set");
        else
            pass(name);
    }
    close2(a, c);
}

/* Linux: accept() does not inherit O_NONBLOCK from the listener, and sets no FD_CLOEXEC. */
static void check_plain_flags(int lfd)
{
    const char *name = "plain accept on a non-blocking listener gives a blocking fd without FD_CLOEXEC";
    int fl = fcntl(lfd, F_GETFL);
    int c = connect_inet(AF_INET, "127.0.0.1", g_port), a = -1;

    if (c < 0) {
        fail(name, "connect: %s", strerror(errno));
        return;
    }
    if (fl < 0 || fcntl(lfd, F_SETFL, fl | O_NONBLOCK) != 0) {
        fail(name, "fcntl: %s", strerror(errno));
    } else if (!wait_pending(lfd)) {
        fail(name, "the connection never became pending");
    } else {
        a = accept(lfd, NULL, NULL);
        if (a < 0) {
            fail(name, "accept: %s", errname(errno));
        } else {
            int afl = fcntl(a, F_GETFL), fdfl = fcntl(a, F_GETFD);
            if (afl < 0 || (afl & O_NONBLOCK))
                fail(name, "O_NONBLOCK is set");
            else if (fdfl < 0 || (fdfl & FD_CLOEXEC))
                fail(name, "FD_CLOEXEC is set");
            else
                pass(name);
        }
    }
    if (fl >= 0)
        fcntl(lfd, F_SETFL, fl);
    close2(a, c);
}

static void check_accept4_einval(int lfd)
{
    const char *name = "accept4 with invalid flags gives EINVAL and leaves the connection queued";
    int c = connect_inet(AF_INET, "127.0.0.1", g_port), a, e;

    if (c < 0) {
        fail(name, "connect: %s", strerror(errno));
        return;
    }
    if (!wait_pending(lfd)) {
        fail(name, "the connection never became pending");
        close(c);
        return;
    }
    errno = 0;
    a = accept4(lfd, NULL, NULL, SOCK_STREAM); /* a type, not a flag: invalid */
    e = errno;
    if (a >= 0) {
        fail(name, "accept4 accepted fd %d", a);
        close2(a, c);
        return;
    }
    if (e != EINVAL) {
        fail(name, "errno %s, want EINVAL", errname(e));
        close(c);
        return;
    }
    a = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (a < 0)
        fail(name, "the queued connection was lost: the next accept4 gave %s", errname(errno));
    else
        pass(name);
    close2(a, c);
}

static void check_errno_kept(int lfd, bool use_accept4)
{
    const char *name = use_accept4 ? "a successful accept4 leaves errno unchanged"
                                   : "a successful accept leaves errno unchanged";
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    int c = connect_inet(AF_INET, "127.0.0.1", g_port), a, e;

    if (c < 0) {
        fail(name, "connect: %s", strerror(errno));
        return;
    }
    errno = EDOM;
    a = use_accept4 ? accept4(lfd, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC)
                    : accept(lfd, (struct sockaddr *)&ss, &len);
    e = errno;
    if (a < 0)
        fail(name, "accept: %s", errname(e));
    else if (e != EDOM)
        fail(name, "errno changed from EDOM to %s", errname(e));
    else
        pass(name);
    close2(a, c);
}

static void check_ebadf(void)
{
    const char *name = "accept(-1) and accept4(-1) give EBADF";
    int a, e1, e2;

    errno = 0;
    a = accept(-1, NULL, NULL);
    e1 = errno;
    if (a >= 0) {
        fail(name, "accept returned %d", a);
        close(a);
        return;
    }
    errno = 0;
    a = accept4(-1, NULL, NULL, SOCK_NONBLOCK);
    e2 = errno;
    if (a >= 0) {
        fail(name, "accept4 returned %d", a);
        close(a);
    } else if (e1 != EBADF) {
        fail(name, "accept: errno %s, want EBADF", errname(e1));
    } else if (e2 != EBADF) {
        fail(name, "accept4: errno %s, want EBADF", errname(e2));
    } else {
        pass(name);
    }
}

static void check_enotsock(void)
{
    const char *name = "accept on a pipe gives ENOTSOCK";
    int p[2], a, e;

    if (pipe2(p, O_CLOEXEC) != 0) {
        fail(name, "pipe: %s", strerror(errno));
        return;
    }
    errno = 0;
    a = accept(p[0], NULL, NULL);
    e = errno;
    if (a >= 0) {
        fail(name, "accept returned %d", a);
        close(a);
    } else if (e != ENOTSOCK) {
        fail(name, "errno %s, want ENOTSOCK", errname(e));
    } else {
        pass(name);
    }
    close2(p[0], p[1]);
}

static void check_not_listening(void)
{
    const char *name = "accept on a socket that is not listening gives EINVAL";
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), a, e;

    if (s < 0) {
        fail(name, "socket: %s", strerror(errno));
        return;
    }
    errno = 0;
    a = accept(s, NULL, NULL);
    e = errno;
    if (a >= 0) {
        fail(name, "accept returned %d", a);
        close(a);
    } else if (e != EINVAL) {
        fail(name, "errno %s, want EINVAL", errname(e));
    } else {
        pass(name);
    }
    close(s);
}

/* ---- other families ---- */

static void check_unix(void)
{
    const char *name = "a unix-domain listener accepts (with and without an address buffer)";
    char dir[] = "/tmp/accept_semantics.XXXXXX";
    struct sockaddr_un sun;
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    int lfd = -1, c1 = -1, c2 = -1, a1 = -1, a2 = -1, e;
    char detail[128];

    if (mkdtemp(dir) == NULL) {
        fail(name, "mkdtemp: %s", strerror(errno));
        return;
    }
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/s", dir);
    lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sun, sizeof(sun)) != 0 || listen(lfd, 4) != 0) {
        fail(name, "listener: %s", strerror(errno));
        goto out;
    }
    set_accept_timeout(lfd, IO_TIMEOUT_MS);
    c1 = client_connect((struct sockaddr *)&sun, sizeof(sun));
    c2 = client_connect((struct sockaddr *)&sun, sizeof(sun));
    if (c1 < 0 || c2 < 0) {
        fail(name, "connect: %s", strerror(errno));
        goto out;
    }
    memset(&ss, 0xAA, sizeof(ss));
    errno = EDOM;
    a1 = accept(lfd, (struct sockaddr *)&ss, &len);
    e = errno;
    if (a1 < 0) {
        fail(name, "accept: %s", errname(e));
        goto out;
    }
    if (e != EDOM) {
        fail(name, "errno changed from EDOM to %s", errname(e));
        goto out;
    }
    /* The client is unbound: the kernel returns just the family. */
    if (len < sizeof(sa_family_t) || len > sizeof(struct sockaddr_un) || ss.ss_family != AF_UNIX) {
        fail(name, "peer address: family=%d addrlen=%u", (int)ss.ss_family, (unsigned)len);
        goto out;
    }
    if (!data_flows(a1, c1, detail, sizeof(detail))) {
        fail(name, "%s", detail);
        goto out;
    }
    a2 = accept(lfd, NULL, NULL);
    if (a2 < 0) {
        fail(name, "accept(NULL): %s", errname(errno));
        goto out;
    }
    if (!data_flows(a2, c2, detail, sizeof(detail))) {
        fail(name, "%s", detail);
        goto out;
    }
    pass(name);
out:
    close2(a1, a2);
    close2(c1, c2);
    if (lfd >= 0)
        close(lfd);
    unlink(sun.sun_path);
    rmdir(dir);
}

static bool no_ipv6(int e)
{
    return e == EAFNOSUPPORT || e == EADDRNOTAVAIL || e == EPROTONOSUPPORT;
}

/* An IPv6 listener on [listen_ip]:port (IPV6_V6ONLY v6only) accepts a client from client_ip (of
 * client_family): the peer is AF_INET6 want_peer with the client's port, and data flows. Skipped
 * (with no_ipv6_why) when the machine has no IPv6 of that kind. */
static void check_ipv6_peer(const char *name, const char *listen_ip, unsigned port, int v6only, int client_family,
                            const char *client_ip, const char *want_peer, const char *no_ipv6_why)
{
    struct sockaddr_storage ss;
    struct in6_addr want;
    socklen_t len = sizeof(ss);
    int lfd = listen_on(AF_INET6, listen_ip, port, v6only), c = -1, a = -1;
    char detail[128];

    if (lfd < 0) {
        if (no_ipv6(errno))
            skip(name, no_ipv6_why);
        else
            fail(name, "listen on [%s]:%u: %s", listen_ip, port, strerror(errno));
        return;
    }
    c = connect_inet(client_family, client_ip, port);
    if (c < 0) {
        fail(name, "connect: %s", strerror(errno));
        goto out;
    }
    memset(&ss, 0, sizeof(ss));
    a = accept(lfd, (struct sockaddr *)&ss, &len);
    if (a < 0) {
        fail(name, "accept: %s", errname(errno));
        goto out;
    }
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
    inet_pton(AF_INET6, want_peer, &want);
    if (len != sizeof(struct sockaddr_in6) || sin6->sin6_family != AF_INET6)
        fail(name, "family=%d addrlen=%u, want AF_INET6/%zu", (int)sin6->sin6_family, (unsigned)len,
             sizeof(struct sockaddr_in6));
    else if (memcmp(&sin6->sin6_addr, &want, sizeof(want)) != 0)
        fail(name, "address is not %s", want_peer);
    else if (ntohs(sin6->sin6_port) != local_port(c))
        fail(name, "port=%u, want the client's %u", ntohs(sin6->sin6_port), local_port(c));
    else if (!data_flows(a, c, detail, sizeof(detail)))
        fail(name, "%s", detail);
    else
        pass(name);
out:
    close2(a, c);
    close(lfd);
}

static void check_ipv6(void)
{
    check_ipv6_peer("an IPv6 listener on [::1] accepts an IPv6 client with the right address", "::1", g_port + 1,
                    1, AF_INET6, "::1", "::1", "no IPv6 loopback");
}

/* IPV6_V6ONLY off: it takes IPv4 clients, which it sees as v4-mapped IPv6 peers. */
static void check_v4_mapped(void)
{
    check_ipv6_peer("a dual-stack IPv6 listener sees an IPv4 client as ::ffff:127.0.0.1 with its port",
                    "::ffff:127.0.0.1", g_port + 2, 0, AF_INET, "127.0.0.1", "::ffff:127.0.0.1", "no IPv6 support");
}

/* ---- signals ---- */

static void on_alarm(int sig)
{
    (void)sig;
    g_alarms++;
}

static void set_alarm_handler(bool restart)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_alarm;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = restart ? SA_RESTART : 0;
    sigaction(SIGALRM, &sa, NULL);
}

static void arm_timer(long ms)
{
    struct itimerval it;

    memset(&it, 0, sizeof(it));
    it.it_value.tv_sec = ms / 1000;
    it.it_value.tv_usec = (ms % 1000) * 1000;
    setitimer(ITIMER_REAL, &it, NULL);
}

/* SIGALRM without SA_RESTART interrupts a blocking accept: -1/EINTR. */
static void check_eintr(int lfd)
{
    const char *name = "a blocking accept interrupted by a signal (no SA_RESTART) gives EINTR";
    int64_t t0, el;
    int a, e;

    set_accept_timeout(lfd, 3000); /* if EINTR were swallowed, accept ends with EAGAIN after 3 s */
    g_alarms = 0;
    set_alarm_handler(false);
    t0 = now_ms();
    arm_timer(100);
    errno = 0;
    a = accept(lfd, NULL, NULL);
    e = errno;
    el = now_ms() - t0;
    arm_timer(0);
    signal(SIGALRM, SIG_DFL);
    set_accept_timeout(lfd, IO_TIMEOUT_MS);
    if (a >= 0) {
        fail(name, "accept returned fd %d: something connected to port %u", a, g_port);
        close(a);
    } else if (e != EINTR) {
        fail(name, "errno %s after %lld ms, want EINTR (signals delivered: %d)", errname(e), (long long)el,
             (int)g_alarms);
    } else if (g_alarms != 1) {
        fail(name, "EINTR but the handler ran %d times", (int)g_alarms);
    } else if (el < 80) {
        fail(name, "EINTR after only %lld ms, before the 100 ms timer", (long long)el);
    } else {
        pass(name);
    }
}

struct restart_helper {
    int lfd;
    int client;
    int connect_errno;
    bool unblocked;
    atomic_int accept_returned;
};

/* Connects after RESTART_CONNECT_MS; if accept is still blocked at RESTART_UNBLOCK_MS, shuts the
 * listener down, which makes the blocked accept return (EINVAL). */
static void *restart_helper_main(void *arg)
{
    struct restart_helper *h = arg;
    int64_t t0 = now_ms();

    sleep_ms(RESTART_CONNECT_MS);
    h->client = connect_inet(AF_INET, "127.0.0.1", g_port);
    h->connect_errno = h->client < 0 ? errno : 0;
    while (!atomic_load(&h->accept_returned) && now_ms() - t0 < RESTART_UNBLOCK_MS)
        sleep_ms(10);
    if (!atomic_load(&h->accept_returned)) {
        h->unblocked = true;
        shutdown(h->lfd, SHUT_RDWR);
    }
    return NULL;
}

/* SIGALRM with SA_RESTART: the blocking accept (no timeout) is restarted and gets the client. */
static void check_restart(int lfd)
{
    const char *name = "a blocking accept interrupted by a signal with SA_RESTART is restarted";
    struct restart_helper h = {.lfd = lfd, .client = -1};
    struct timeval none = {0, 0};
    pthread_t tid;
    sigset_t set, old;
    int64_t t0, el;
    int a, e, rc;

    /* A receive timeout would make accept non-restartable (signal(7)): remove it. */
    setsockopt(lfd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof(none));
    sigemptyset(&set);
    sigaddset(&set, SIGALRM);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    rc = pthread_create(&tid, NULL, restart_helper_main, &h);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        fail(name, "pthread_create: %s", strerror(rc));
        return;
    }
    g_alarms = 0;
    set_alarm_handler(true);
    t0 = now_ms();
    arm_timer(100);
    errno = EDOM;
    a = accept(lfd, NULL, NULL);
    e = errno;
    el = now_ms() - t0;
    atomic_store(&h.accept_returned, 1);
    arm_timer(0);
    signal(SIGALRM, SIG_DFL);
    pthread_join(tid, NULL);

    if (h.unblocked)
        fail(name, "accept was still blocked after %d ms (the client %s)", RESTART_UNBLOCK_MS,
             h.client >= 0 ? "had connected" : strerror(h.connect_errno));
    else if (a < 0)
        fail(name, "accept gave %s after %lld ms (signals delivered: %d)", errname(e), (long long)el,
             (int)g_alarms);
    else if (g_alarms != 1)
        fail(name, "the handler ran %d times", (int)g_alarms);
    else if (el < RESTART_CONNECT_MS - 50)
        fail(name, "accept returned after %lld ms, before the client connected", (long long)el);
    else if (e != EDOM)
        fail(name, "errno changed from EDOM to %s", errname(e));
    else
        pass(name);
    close2(a, h.client);
}

/* ---- main ---- */

static void *watchdog_main(void *arg)
{
    int64_t end = now_ms() + WATCHDOG_S * 1000;

    (void)arg;
    while (!atomic_load(&g_done)) {
        int64_t now = now_ms();
        pthread_mutex_lock(&g_cur_mu);
        if (now >= end || (g_cur_since != 0 && now - g_cur_since >= CHECK_HANG_S * 1000)) {
            printf("FAIL - watchdog: %s did not return within %lld s; giving up\n",
                   g_cur_name[0] ? g_cur_name : "setup", (long long)(now - g_cur_since) / 1000);
            fflush(stdout);
            _exit(100);
        }
        pthread_mutex_unlock(&g_cur_mu);
        sleep_ms(50);
    }
    return NULL;
}

static void usage(void) __attribute__((noreturn));
static void usage(void)
{
    fputs("usage: accept_semantics --port N   (uses TCP ports N, N+1, N+2 on loopback; 1 <= N <= 65533)\n",
          stderr);
    exit(2);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"port", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    pthread_t wd;
    sigset_t all, old;
    int opt, lfd, rc;

    opterr = 0;
    while ((opt = getopt_long(argc, argv, "+:", opts, NULL)) != -1) {
        if (opt == 'p') {
            char *end;
            unsigned long v;
            errno = 0;
            v = strtoul(optarg, &end, 10);
            if (optarg[0] < '0' || optarg[0] > '9' || errno != 0 || *end != '\0' || v < 1 || v > 65533) {
                note("--port: want a number 1..65533, not \"%s\"", optarg);
                usage();
            }
            g_port = (unsigned)v;
        } else if (opt == 'h') {
            usage();
        } else {
            note_bad_option(opt, argv);
            usage();
        }
    }
    if (optind < argc || g_port == 0) {
        note(g_port == 0 ? "--port is required" : "unexpected argument");
        usage();
    }
    signal(SIGPIPE, SIG_IGN);

    /* The watchdog runs with every signal blocked, so SIGALRM always reaches the main thread. */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    rc = pthread_create(&wd, NULL, watchdog_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        note("pthread_create: %s", strerror(rc));
        return 2;
    }

    begin("check_ebadf()");

    check_ebadf();
    begin("check_enotsock()");
    check_enotsock();
    begin("check_not_listening()");
    check_not_listening();

    lfd = listen_on(AF_INET, "127.0.0.1", g_port, -1);
    if (lfd < 0) {
        fail("listen on 127.0.0.1 (setup)", "port %u: %s", g_port, strerror(errno));
    } else {
        begin("check_null_addr(lfd)");
        check_null_addr(lfd);
        begin("check_peer_address(lfd)");
        check_peer_address(lfd);
        begin("check_short_addrlen(lfd, 4)");
        check_short_addrlen(lfd, 4);
        begin("check_short_addrlen(lfd, 0)");
        check_short_addrlen(lfd, 0);
        begin("check_nonblocking_empty(lfd)");
        check_nonblocking_empty(lfd);
        begin("check_accept4_flags(lfd)");
        check_accept4_flags(lfd);
        begin("check_plain_flags(lfd)");
        check_plain_flags(lfd);
        begin("check_accept4_einval(lfd)");
        check_accept4_einval(lfd);
        begin("check_errno_kept(lfd, false)");
        check_errno_kept(lfd, false);
        begin("check_errno_kept(lfd, true)");
        check_errno_kept(lfd, true);
        close(lfd);
    }
    /* A fresh listener, so that no connection left queued by a failed check can be accepted. */
    lfd = listen_on(AF_INET, "127.0.0.1", g_port, -1);
    if (lfd < 0) {
        fail("listen on 127.0.0.1 again (setup)", "port %u: %s", g_port, strerror(errno));
    } else {
        begin("check_eintr(lfd)");
        check_eintr(lfd);
        begin("check_restart(lfd)");
        check_restart(lfd);
        close(lfd);
    }
    begin("check_unix()");
    check_unix();
    begin("check_ipv6()");
    check_ipv6();
    begin("check_v4_mapped()");
    check_v4_mapped();

    atomic_store(&g_done, 1);
    pthread_join(wd, NULL);
    printf("# %d failure%s\n", g_failures, g_failures == 1 ? "" : "s");
    return g_failures > 99 ? 99 : g_failures;
}
