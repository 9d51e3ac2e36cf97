/* One synchronous p0f v3 query with a deadline, for query, check and lint. The wire
 * format is the core's (p0f3_encode_query, p0f3_decode_response); what this adds is a
 * diagnosis a human can act on for every way the socket can be wrong. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "tool.h"

#define P0F2_WIRE_MAGIC 0x0defacedu

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int remaining_ms(uint64_t deadline)
{
    uint64_t now = now_us();
    if (now >= deadline)
        return 0;
    return (int)((deadline - now + 999) / 1000);
}

int p0fq_exit_status(enum p0fq_status s)
{
    switch (s) {
    case P0FQ_OK: return 0;
    case P0FQ_NOMATCH: return EXIT_NEGATIVE;
    case P0FQ_DOWN: return EXIT_P0F_DOWN;
    case P0FQ_NOT_P0F: return EXIT_NOT_P0F;
    }
    return EXIT_NOT_P0F;
}

static void set(struct p0fq_result *r, enum p0fq_status s, const char *log_reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void set(struct p0fq_result *r, enum p0fq_status s, const char *log_reason, const char *fmt, ...)
{
    va_list ap;
    r->status = s;
    snprintf(r->log_reason, sizeof(r->log_reason), "%s", log_reason);
    va_start(ap, fmt);
    vsnprintf(r->why, sizeof(r->why), fmt, ap);
    va_end(ap);
}

static const char *file_kind(mode_t m)
{
    if (S_ISREG(m)) return "a regular file";
    if (S_ISDIR(m)) return "a directory";
    if (S_ISFIFO(m)) return "a FIFO";
    if (S_ISCHR(m)) return "a character device";
    if (S_ISBLK(m)) return "a block device";
    if (S_ISLNK(m)) return "a symbolic link";
    return "not a socket";
}

/* connect() with the errno the shim would see, retried while the backlog is full. */
static int connect_until(int fd, const char *path, uint64_t deadline)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    memcpy(sun.sun_path, path, strlen(path) + 1);
    for (;;) {
        if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
            return 0;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN || remaining_ms(deadline) == 0)
            return -1;
        struct timespec pause = {0, 2 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
}

static void connect_failed(struct p0fq_result *r, const char *path, int err, unsigned timeout_ms)
{
    char log_reason[160];
    snprintf(log_reason, sizeof(log_reason), "p0f connect: %s", strerror(err));
    switch (err) {
    case ECONNREFUSED:
        set(r, P0FQ_DOWN, log_reason, "nobody listens on %s: p0f is not running (the socket file is stale)", path);
        break;
    case EAGAIN:
        set(r, P0FQ_DOWN, log_reason,
            "p0f accepts no more API clients on %s within %u ms (all of its -S slots are busy)", path, timeout_ms);
        break;
    case EPROTOTYPE:
        set(r, P0FQ_NOT_P0F, log_reason,
            "%s is a datagram socket, not p0f's API socket (a stream socket): is it a syslog socket?", path);
        break;
    case EACCES:
        set(r, P0FQ_DOWN, log_reason, "cannot connect to %s: permission denied", path);
        break;
    default:
        set(r, P0FQ_DOWN, log_reason, "cannot connect to %s: %s", path, strerror(err));
        break;
    }
}

static void decode(struct p0fq_result *r, const uint8_t *buf, const char *path)
{
    enum p0f3_decode_status st = p0f3_decode_response(buf, P0F3_RESPONSE_LEN, &r->answer);
    const char *reason = p0f3_decode_strerror(st);
    switch (st) {
    case P0F3_DECODED_OK:
        set(r, P0FQ_OK, "", "ok");
        return;
    case P0F3_DECODED_NOMATCH:
        set(r, P0FQ_NOMATCH, "no match", "p0f has no record of this host (it has not seen a SYN from it lately)");
        return;
    case P0F3_ERR_BADQUERY:
        set(r, P0FQ_NOT_P0F, reason, "p0f on %s rejected the query (BADQUERY): an incompatible p0f version?", path);
        return;
    case P0F3_ERR_STATUS:
        set(r, P0FQ_NOT_P0F, reason, "%s answered with an unknown status 0x%x: not p0f v3?", path,
            (unsigned)r->answer.status);
        return;
    case P0F3_ERR_UNTERMINATED:
        set(r, P0FQ_NOT_P0F, reason, "%s answered with a string field that is not NUL-terminated: not p0f v3?", path);
        return;
    case P0F3_ERR_MAGIC:
    case P0F3_ERR_SHORT:
        break;
    }
    set(r, P0FQ_NOT_P0F, reason, "%s gave an undecodable reply (%s)", path, reason);
}

void p0fq_query(const char *socket_path, const struct endpoint *ip, unsigned timeout_ms, struct p0fq_result *r)
{
    uint64_t start = now_us(), deadline = start + (uint64_t)timeout_ms * 1000u;
    uint8_t query[P0F3_QUERY_LEN], reply[P0F3_RESPONSE_LEN];
    struct stat st;
    size_t have = 0, sent = 0;
    int fd = -1;

    memset(r, 0, sizeof(*r));
    if (strlen(socket_path) >= UNIX_PATH_MAX_LEN) {
        set(r, P0FQ_DOWN, "p0f connect: File name too long", "socket path %s is too long for a unix socket",
            socket_path);
        goto out;
    }
    if (stat(socket_path, &st) != 0) {
        int err = errno;
        char log_reason[160];
        snprintf(log_reason, sizeof(log_reason), "p0f connect: %s", strerror(err));
        if (err == ENOENT)
            set(r, P0FQ_DOWN, log_reason, "no p0f socket at %s: p0f is not running, or runs with another -s path",
                socket_path);
        else
            set(r, P0FQ_DOWN, log_reason, "cannot reach %s: %s", socket_path, strerror(err));
        goto out;
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        set(r, P0FQ_DOWN, "p0f socket", "socket(): %s", strerror(errno));
        goto out;
    }
    if (!S_ISSOCK(st.st_mode)) {
        /* What the shim's connect() would log, then the plain diagnosis. */
        int err = connect_until(fd, socket_path, deadline) == 0 ? 0 : errno;
        char log_reason[160];
        snprintf(log_reason, sizeof(log_reason), "p0f connect: %s", strerror(err ? err : ENOTSOCK));
        set(r, P0FQ_NOT_P0F, log_reason, "%s is %s, not a socket: is p0f's -s pointing elsewhere?", socket_path,
            file_kind(st.st_mode));
        goto out;
    }
    if (connect_until(fd, socket_path, deadline) != 0) {
        connect_failed(r, socket_path, errno, timeout_ms);
        goto out;
    }
    struct ucred cred;
    socklen_t clen = sizeof(cred);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) == 0) {
        r->have_peer = true;
        r->peer_uid = cred.uid;
        r->peer_pid = cred.pid;
    }

    p0f3_encode_query(ip, query);
    while (sent < sizeof(query) || have < sizeof(reply)) {
        struct pollfd pfd = {.fd = fd, .events = sent < sizeof(query) ? POLLOUT : POLLIN};
        int left = remaining_ms(deadline);
        if (left == 0) {
            if (have == 0)
                set(r, P0FQ_DOWN, "p0f timeout", "no answer from %s within %u ms: p0f is hung or busy", socket_path,
                    timeout_ms);
            else
                set(r, P0FQ_NOT_P0F, "p0f timeout", "%s sent %zu of the %d bytes of a reply, then nothing for %u ms",
                    socket_path, have, P0F3_RESPONSE_LEN, timeout_ms);
            goto out;
        }
        int n = poll(&pfd, 1, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            set(r, P0FQ_DOWN, "p0f poll", "poll(): %s", strerror(errno));
            goto out;
        }
        if (n == 0)
            continue;
        if (sent < sizeof(query)) {
            ssize_t w = send(fd, query + sent, sizeof(query) - sent, MSG_NOSIGNAL);
            if (w < 0 && (errno == EINTR || errno == EAGAIN))
                continue;
            if (w < 0) {
                char log_reason[160];
                snprintf(log_reason, sizeof(log_reason), "p0f send: %s", strerror(errno));
                set(r, P0FQ_DOWN, log_reason, "p0f on %s closed the connection before the query was sent (%s)",
                    socket_path, strerror(errno));
                goto out;
            }
            sent += (size_t)w;
            continue;
        }
        ssize_t got = recv(fd, reply + have, sizeof(reply) - have, 0);
        if (got < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (got < 0) {
            char log_reason[160];
            snprintf(log_reason, sizeof(log_reason), "p0f recv: %s", strerror(errno));
            set(r, P0FQ_DOWN, log_reason, "reading from %s: %s", socket_path, strerror(errno));
            goto out;
        }
        if (got == 0) {
            if (have == 0)
                set(r, P0FQ_NOT_P0F, "p0f: connection closed",
                    "%s closed the connection without answering: not p0f v3 (3.06b or later)?", socket_path);
            else
                set(r, P0FQ_NOT_P0F, p0f3_decode_strerror(P0F3_ERR_SHORT),
                    "%s closed the connection after %zu of the %d bytes of a reply", socket_path, have,
                    P0F3_RESPONSE_LEN);
            goto out;
        }
        have += (size_t)got;
        if (have >= 4) {
            uint32_t magic;
            memcpy(&magic, reply, sizeof(magic));
            if (magic != P0F3_RESP_MAGIC) {
                if (magic == P0F2_WIRE_MAGIC)
                    set(r, P0FQ_NOT_P0F, p0f3_decode_strerror(P0F3_ERR_MAGIC),
                        "%s answered with p0f v2's magic 0x%08x: it is a p0f 2 (-Q) socket, not p0f v3 (-s)",
                        socket_path, (unsigned)magic);
                else
                    set(r, P0FQ_NOT_P0F, p0f3_decode_strerror(P0F3_ERR_MAGIC),
                        "%s answered with bad magic 0x%08x (p0f v3 sends 0x%08x): not a p0f v3 API socket",
                        socket_path, (unsigned)magic, P0F3_RESP_MAGIC);
                goto out;
            }
        }
    }
    decode(r, reply, socket_path);
out:
    if (fd >= 0)
        close(fd);
    r->elapsed_us = (unsigned)(now_us() - start);
}
