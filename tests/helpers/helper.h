/* What the test helpers share, each of them being one .c file plus this header: messages on
 * stderr under the program's name, the monotonic clock, numbers and addresses from the command
 * line, TCP listeners and connects, unix sockets that appear atomically, small files written
 * atomically (ready and stats files), lines appended with one write, and signal handlers.
 * Nothing here comes from the library, on purpose: the fake p0f tests the library's codec, and a
 * bug shared by both sides would go unseen.
 * The includer defines HELPER_NAME (its program's name, for its messages) first. Every function is
 * static inline, so that a program carries only those it uses. */
#ifndef P0FSHIM_TESTS_HELPER_H
#define P0FSHIM_TESTS_HELPER_H

#ifndef HELPER_NAME
#error "define HELPER_NAME (the program's name, for its messages) before including helper.h"
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* ---- messages ---- */

/* "NAME: message" and a newline on stderr. */
static inline void vnote(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));
static inline void vnote(const char *fmt, va_list ap)
{
    fputs(HELPER_NAME ": ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

static inline void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vnote(fmt, ap);
    va_end(ap);
}

/* A message, then exit 2: misuse or a start-up failure. */
static inline void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static inline void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vnote(fmt, ap);
    va_end(ap);
    exit(2);
}

/* ---- time ---- */

static inline int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds from now to deadline (a now_ms() value), for poll(): 0 once it has passed. */
static inline int ms_until(int64_t deadline)
{
    int64_t left = deadline - now_ms();
    return left < 0 ? 0 : left > INT32_MAX ? INT32_MAX : (int)left;
}

/* Sleeps ms milliseconds, signals or not. */
static inline void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* ---- the command line ---- */

/* A decimal integer from min to max (a minus sign only where min < 0), else die naming opt. */
static inline long long parse_integer(const char *opt, const char *s, long long min, long long max)
{
    const char *digits = min < 0 && s[0] == '-' ? s + 1 : s;
    char *end;
    long long v;

    if (*digits < '0' || *digits > '9')
        die("%s: not a number: \"%s\"", opt, s);
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0')
        die("%s: not a number: \"%s\"", opt, s);
    if (v < min || v > max)
        die("%s: %s is out of range %lld..%lld", opt, s, min, max);
    return v;
}

/* What getopt_long (opterr 0, ":" in its option string) returned for a bad option, on stderr;
 * the caller then shows its usage. */
static inline void note_bad_option(int opt, char **argv)
{
    if (opt == ':')
        note("option %s needs a value", argv[optind - 1]);
    else
        note("unknown option %s", argv[optind - 1]);
}

/* An operand getopt_long left (none is expected): named on stderr, true. */
static inline bool stray_argument(int argc, char **argv)
{
    if (optind >= argc)
        return false;
    note("unexpected argument \"%s\"", argv[optind]);
    return true;
}

/* "IP" (IPv4 or IPv6, no port) -> sockaddr with port 0, else die naming opt. */
static inline void parse_ip(const char *opt, const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

    memset(ss, 0, sizeof(*ss));
    if (inet_pton(AF_INET, s, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        *len = sizeof(*sin);
    } else if (inet_pton(AF_INET6, s, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        *len = sizeof(*sin6);
    } else {
        die("%s: not an IP address: \"%s\"", opt, s);
    }
}

/* "IP:PORT" or "[IPv6]:PORT", the port from min_port to 65535 -> sockaddr, else die naming opt. */
static inline void parse_hostport(const char *opt, const char *s, long long min_port, struct sockaddr_storage *ss,
                                  socklen_t *len)
{
    char host[INET6_ADDRSTRLEN + 1];
    const char *port, *end;
    size_t hlen;
    uint16_t p;

    if (s[0] == '[') {
        end = strchr(s, ']');
        if (end == NULL || end[1] != ':')
            die("%s: expected [IPv6]:PORT, got \"%s\"", opt, s);
        hlen = (size_t)(end - (s + 1));
        if (hlen >= sizeof(host))
            die("%s: bad address in \"%s\"", opt, s);
        memcpy(host, s + 1, hlen);
        port = end + 2;
    } else {
        end = strrchr(s, ':');
        if (end == NULL)
            die("%s: expected IP:PORT, got \"%s\"", opt, s);
        hlen = (size_t)(end - s);
        if (hlen >= sizeof(host))
            die("%s: bad address in \"%s\"", opt, s);
        memcpy(host, s, hlen);
        port = end + 1;
        if (memchr(host, ':', hlen) != NULL)
            die("%s: IPv6 addresses need brackets: [%.*s]:PORT", opt, (int)hlen, host);
    }
    host[hlen] = '\0';
    p = (uint16_t)parse_integer(opt, port, min_port, 65535);
    memset(ss, 0, sizeof(*ss));
    if (s[0] != '[') {
        struct sockaddr_in *sin = (struct sockaddr_in *)ss;
        sin->sin_family = AF_INET;
        sin->sin_port = htons(p);
        if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
            die("%s: not an IPv4 address: \"%s\"", opt, host);
        *len = sizeof(*sin);
    } else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(p);
        if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
            die("%s: not an IPv6 address: \"%s\"", opt, host);
        *len = sizeof(*sin6);
    }
}

/* ---- TCP ---- */

/* The port of an IPv4 or IPv6 address (0 for anything else). */
static inline unsigned port_of(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)ss)->sin_port);
    if (ss->ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
    return 0;
}

/* The local port of a socket (0 if it has none). */
static inline unsigned local_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    return getsockname(fd, (struct sockaddr *)&ss, &len) == 0 ? port_of(&ss) : 0;
}

/* A listening TCP socket on addr: socket(type | SOCK_CLOEXEC, protocol), SO_REUSEADDR, for IPv6
 * IPV6_V6ONLY set to v6only (-1: as the system has it), bind, listen(backlog). -1 with errno and
 * *failed naming the step that failed. */
static inline int tcp_listener(const struct sockaddr_storage *addr, socklen_t len, int type, int protocol,
                               int v6only, int backlog, const char **failed)
{
    int one = 1, e, fd = socket(addr->ss_family, SOCK_STREAM | SOCK_CLOEXEC | type, protocol);

    *failed = "socket";
    if (fd < 0)
        return -1;
    *failed = "setsockopt SO_REUSEADDR";
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0)
        goto fail;
    *failed = "setsockopt IPV6_V6ONLY";
    if (addr->ss_family == AF_INET6 && v6only >= 0 &&
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only)) != 0)
        goto fail;
    *failed = "bind";
    if (bind(fd, (const struct sockaddr *)addr, len) != 0)
        goto fail;
    *failed = "listen";
    if (listen(fd, backlog) != 0)
        goto fail;
    return fd;
fail:
    e = errno;
    close(fd);
    errno = e;
    return -1;
}

/* tcp_listener, or die naming the step that failed. */
static inline int tcp_listener_or_die(const struct sockaddr_storage *addr, socklen_t len, int type, int protocol,
                                      int v6only, int backlog)
{
    const char *failed;
    int fd = tcp_listener(addr, len, type, protocol, v6only, backlog, &failed);
    if (fd < 0)
        die("%s: %s", failed, strerror(errno));
    return fd;
}

/* A receive timeout, so that no blocking accept() on the listener waits for ever (it fails with
 * EAGAIN instead). */
static inline int set_accept_timeout(int fd, int ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    return setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

/* A stream connection (TCP, or unix) to `to` (from `from` unless NULL), waiting at most timeout_ms: the
 * connected socket, non-blocking, or -1 with errno and *failed naming the step ("socket", "bind",
 * "connect", "poll", or "timeout" with ETIMEDOUT). */
static inline int stream_connect(const struct sockaddr_storage *to, socklen_t tolen, const struct sockaddr_storage *from,
                              socklen_t fromlen, int protocol, int timeout_ms, const char **failed)
{
    int err = 0, e, fd = socket(to->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
    socklen_t elen = sizeof(err);
    int64_t deadline = now_ms() + timeout_ms;

    *failed = "socket";
    if (fd < 0)
        return -1;
    *failed = "bind";
    if (from != NULL && bind(fd, (const struct sockaddr *)from, fromlen) != 0)
        goto fail;
    *failed = "connect";
    if (connect(fd, (const struct sockaddr *)to, tolen) == 0)
        return fd;
    if (errno != EINPROGRESS && errno != EINTR)
        goto fail;
    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        int rc = poll(&pfd, 1, ms_until(deadline));
        if (rc > 0)
            break;
        if (rc == 0) {
            *failed = "timeout";
            errno = ETIMEDOUT;
            goto fail;
        }
        if (errno != EINTR) {
            *failed = "poll";
            goto fail;
        }
    }
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0)
        err = errno;
    if (err == 0)
        return fd;
    errno = err;
fail:
    e = errno;
    close(fd);
    errno = e;
    return -1;
}

/* ---- unix sockets that appear atomically ---- */

/* A socket file of this process: removed at the end only if it is still this one (a successor
 * may have replaced it). */
struct socket_file {
    const char *path;
    dev_t dev;
    ino_t ino;
};

static inline void unix_address(struct sockaddr_un *sun, const char *path)
{
    memset(sun, 0, sizeof(*sun));
    sun->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sun->sun_path))
        die("socket path too long (max %zu bytes): %s", sizeof(sun->sun_path) - 1, path);
    memcpy(sun->sun_path, path, strlen(path) + 1);
}

/* A unix socket of type (SOCK_STREAM: listening, backlog 128; SOCK_DGRAM) at path, non-blocking:
 * bound under a temporary name, made mode 0666, listening, then renamed over path, so that it
 * appears atomically and ready. An old socket at path is replaced, anything else refused. Dies
 * on failure. */
static inline int unix_socket_file(struct socket_file *sf, const char *path, int type)
{
    struct sockaddr_un sun;
    struct stat st;
    char tmp[sizeof(sun.sun_path)];
    int fd, n, e;

    if (lstat(path, &st) == 0 && !S_ISSOCK(st.st_mode))
        die("%s exists and is not a socket; refusing to replace it", path);
    unix_address(&sun, path); /* length check */
    n = snprintf(tmp, sizeof(tmp), "%s.%ld~", path, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof(tmp)) {
        /* No room for a temporary name: bind in place. */
        if (unlink(path) != 0 && errno != ENOENT)
            die("cannot remove old %s: %s", path, strerror(errno));
        memcpy(tmp, path, strlen(path) + 1);
    }
    unlink(tmp);
    unix_address(&sun, tmp);
    fd = socket(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket: %s", strerror(errno));
    if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0)
        die("bind %s: %s", tmp, strerror(errno));
    if (chmod(tmp, 0666) != 0) {
        e = errno;
        unlink(tmp);
        die("chmod %s: %s", tmp, strerror(e));
    }
    if (type == SOCK_STREAM && listen(fd, 128) != 0)
        die("listen %s: %s", tmp, strerror(errno));
    if (strcmp(tmp, path) != 0 && rename(tmp, path) != 0) {
        e = errno;
        unlink(tmp);
        die("rename %s -> %s: %s", tmp, path, strerror(e));
    }
    sf->path = path;
    sf->dev = 0;
    sf->ino = 0;
    if (stat(path, &st) == 0) {
        sf->dev = st.st_dev;
        sf->ino = st.st_ino;
    }
    return fd;
}

static inline void socket_file_remove(const struct socket_file *sf)
{
    struct stat st;

    if (sf->path != NULL && stat(sf->path, &st) == 0 && st.st_ino == sf->ino && st.st_dev == sf->dev)
        unlink(sf->path);
}

/* ---- files ---- */

/* A small file written atomically (a temporary name, then rename). 0, or -1 with errno. */
static inline int write_file_atomic(const char *path, const char *content)
{
    char tmp[PATH_MAX];
    size_t len = strlen(content);
    int fd, n, e;

    n = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof(tmp)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    if (write(fd, content, len) != (ssize_t)len) {
        e = errno ? errno : EIO;
        close(fd);
        unlink(tmp);
        errno = e;
        return -1;
    }
    if (close(fd) != 0 || rename(tmp, path) != 0) {
        e = errno;
        unlink(tmp);
        errno = e;
        return -1;
    }
    return 0;
}

/* One line (the message and "\n", at most 511 bytes) appended to path with a single write, so
 * that a reader never sees half a line; the file is open for this line only. 0, or -1 with
 * errno. */
static inline int append_line(const char *path, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static inline int append_line(const char *path, const char *fmt, va_list ap)
{
    char buf[512];
    int fd, n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);

    if (n < 0)
        return -1;
    if ((size_t)n > sizeof(buf) - 2)
        n = (int)sizeof(buf) - 2;
    buf[n++] = '\n';
    fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    if (write(fd, buf, (size_t)n) != n) {
        close(fd);
        errno = EIO;
        return -1;
    }
    close(fd);
    return 0;
}

/* ---- signals ---- */

/* handler for sig, with flags (no SA_RESTART: a blocking call returns EINTR) and nothing else
 * blocked meanwhile. */
static inline void set_handler(int sig, void (*handler)(int), int flags)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = handler;
    sa.sa_flags = flags;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}

/* Blocks SIGTERM and SIGINT; *wait_mask is the mask to wait with (ppoll, epoll_pwait), so that
 * they are delivered there only: a stop request cannot slip in between a look at the flag its
 * handler sets and the wait. */
static inline void block_stop_signals(sigset_t *wait_mask)
{
    sigset_t block;

    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigprocmask(SIG_BLOCK, &block, wait_mask);
    sigdelset(wait_mask, SIGTERM);
    sigdelset(wait_mask, SIGINT);
}

#endif
