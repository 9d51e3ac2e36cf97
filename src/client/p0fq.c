/* One p0f v3 query with a deadline (see p0fq.h): blocking (p0fq_query) or as steps for a
 * poll loop (p0fq_start, p0fq_continue), one code path. The wire format is the core's
 * (p0f3_encode_query, p0f3_decode_response); what this adds is a diagnosis a human can act
 * on for every way the socket can be wrong. */
#include "p0fq.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "p0fsock.h"

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

/* The query's end: the socket closed, the time taken. Returns true (done). */
static bool finish(struct p0fq_pending *q)
{
    if (q->fd >= 0)
        close(q->fd);
    q->fd = -1;
    q->connect_again_us = 0;
    q->r.elapsed_us = (unsigned)(now_us() - q->start_us);
    return true;
}

/* One connect() (the socket is non-blocking: a unix socket connects at once or says EAGAIN
 * when p0f's backlog is full, which is tried again every 2 ms until the deadline). Returns
 * true when the query is over. */
static bool try_connect(struct p0fq_pending *q)
{
    int rc;
    do
        rc = p0fsock_connect_path(q->fd, q->socket_path);
    while (rc != 0 && errno == EINTR);
    if (rc != 0) {
        if (errno == EAGAIN && remaining_ms(q->deadline_us) > 0) {
            q->connect_again_us = now_us() + 2000;
            return false;
        }
        connect_failed(&q->r, q->socket_path, errno, q->timeout_ms);
        return finish(q);
    }
    q->connect_again_us = 0;
    struct ucred cred;
    socklen_t clen = sizeof(cred);
    if (getsockopt(q->fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) == 0) {
        q->r.have_peer = true;
        q->r.peer_uid = cred.uid;
        q->r.peer_pid = cred.pid;
    }
    return false;
}

bool p0fq_start(struct p0fq_pending *q, const char *socket_path, const struct endpoint *ip, unsigned timeout_ms)
{
    struct stat st;

    memset(q, 0, sizeof(*q));
    q->fd = -1;
    q->start_us = now_us();
    q->deadline_us = q->start_us + (uint64_t)timeout_ms * 1000u;
    q->timeout_ms = timeout_ms;
    if (strlen(socket_path) >= UNIX_PATH_MAX_LEN) {
        set(&q->r, P0FQ_DOWN, "p0f connect: File name too long", "socket path %s is too long for a unix socket",
            socket_path);
        return finish(q);
    }
    memcpy(q->socket_path, socket_path, strlen(socket_path) + 1);
    if (stat(socket_path, &st) != 0) {
        int err = errno;
        char log_reason[160];
        snprintf(log_reason, sizeof(log_reason), "p0f connect: %s", strerror(err));
        if (err == ENOENT)
            set(&q->r, P0FQ_DOWN, log_reason, "no p0f socket at %s: p0f is not running, or runs with another -s path",
                socket_path);
        else
            set(&q->r, P0FQ_DOWN, log_reason, "cannot reach %s: %s", socket_path, strerror(err));
        return finish(q);
    }
    q->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (q->fd < 0) {
        set(&q->r, P0FQ_DOWN, "p0f socket", "socket(): %s", strerror(errno));
        return finish(q);
    }
    if (!S_ISSOCK(st.st_mode)) {
        /* What the shim's connect() would log, then the plain diagnosis. */
        int err = p0fsock_connect_path(q->fd, socket_path) == 0 ? 0 : errno;
        char log_reason[160];
        snprintf(log_reason, sizeof(log_reason), "p0f connect: %s", strerror(err ? err : ENOTSOCK));
        set(&q->r, P0FQ_NOT_P0F, log_reason, "%s is %s, not a socket: is p0f's -s pointing elsewhere?", socket_path,
            file_kind(st.st_mode));
        return finish(q);
    }
    p0f3_encode_query(ip, q->query);
    if (try_connect(q))
        return true;
    return p0fq_continue(q);
}

short p0fq_poll_events(const struct p0fq_pending *q)
{
    if (q->fd < 0 || q->connect_again_us)
        return 0;
    return q->sent < sizeof(q->query) ? POLLOUT : POLLIN;
}

uint64_t p0fq_wake_us(const struct p0fq_pending *q)
{
    return q->connect_again_us ? q->connect_again_us : q->deadline_us;
}

uint64_t p0fq_now_us(void)
{
    return now_us();
}

void p0fq_abandon(struct p0fq_pending *q)
{
    if (q->fd >= 0)
        close(q->fd);
    q->fd = -1;
}

bool p0fq_continue(struct p0fq_pending *q)
{
    struct p0fq_result *r = &q->r;
    const char *path = q->socket_path;

    if (q->fd < 0)
        return true;
    if (q->connect_again_us) {
        if (now_us() < q->connect_again_us)
            return false;
        if (try_connect(q) || q->connect_again_us)
            return q->fd < 0;
    }
    while (q->sent < sizeof(q->query) || q->have < sizeof(q->reply)) {
        if (q->sent < sizeof(q->query)) {
            ssize_t w = send(q->fd, q->query + q->sent, sizeof(q->query) - q->sent, MSG_NOSIGNAL);
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0 && errno == EAGAIN)
                break;
            if (w < 0) {
                char log_reason[160];
                snprintf(log_reason, sizeof(log_reason), "p0f send: %s", strerror(errno));
                set(r, P0FQ_DOWN, log_reason, "p0f on %s closed the connection before the query was sent (%s)", path,
                    strerror(errno));
                return finish(q);
            }
            q->sent += (size_t)w;
            continue;
        }
        ssize_t got = recv(q->fd, q->reply + q->have, sizeof(q->reply) - q->have, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0 && errno == EAGAIN)
            break;
        if (got < 0) {
            char log_reason[160];
            snprintf(log_reason, sizeof(log_reason), "p0f recv: %s", strerror(errno));
            set(r, P0FQ_DOWN, log_reason, "reading from %s: %s", path, strerror(errno));
            return finish(q);
        }
        if (got == 0) {
            if (q->have == 0)
                set(r, P0FQ_NOT_P0F, "p0f: connection closed",
                    "%s closed the connection without answering: not p0f v3 (3.06b or later)?", path);
            else
                set(r, P0FQ_NOT_P0F, p0f3_decode_strerror(P0F3_ERR_SHORT),
                    "%s closed the connection after %zu of the %d bytes of a reply", path, q->have, P0F3_RESPONSE_LEN);
            return finish(q);
        }
        q->have += (size_t)got;
        if (q->have >= 4) {
            uint32_t magic;
            memcpy(&magic, q->reply, sizeof(magic));
            if (magic != P0F3_RESP_MAGIC) {
                if (magic == P0F2_WIRE_MAGIC)
                    set(r, P0FQ_NOT_P0F, p0f3_decode_strerror(P0F3_ERR_MAGIC),
                        "%s answered with p0f v2's magic 0x%08x: it is a p0f 2 (-Q) socket, not p0f v3 (-s)", path,
                        (unsigned)magic);
                else
                    set(r, P0FQ_NOT_P0F, p0f3_decode_strerror(P0F3_ERR_MAGIC),
                        "%s answered with bad magic 0x%08x (p0f v3 sends 0x%08x): not a p0f v3 API socket", path,
                        (unsigned)magic, P0F3_RESP_MAGIC);
                return finish(q);
            }
        }
    }
    if (q->sent == sizeof(q->query) && q->have == sizeof(q->reply)) {
        decode(r, q->reply, path);
        return finish(q);
    }
    if (remaining_ms(q->deadline_us) == 0) {
        if (q->have == 0)
            set(r, P0FQ_DOWN, "p0f timeout", "no answer from %s within %u ms: p0f is hung or busy", path, q->timeout_ms);
        else
            set(r, P0FQ_NOT_P0F, "p0f timeout", "%s sent %zu of the %d bytes of a reply, then nothing for %u ms", path,
                q->have, P0F3_RESPONSE_LEN, q->timeout_ms);
        return finish(q);
    }
    return false;
}

void p0fq_query(const char *socket_path, const struct endpoint *ip, unsigned timeout_ms, struct p0fq_result *r)
{
    struct p0fq_pending q;
    bool done = p0fq_start(&q, socket_path, ip, timeout_ms);
    while (!done) {
        uint64_t wake = p0fq_wake_us(&q), now = now_us();
        int wait_ms = wake > now ? (int)((wake - now + 999) / 1000) : 0;
        short events = p0fq_poll_events(&q);
        if (events) {
            struct pollfd pfd = {.fd = q.fd, .events = events};
            if (poll(&pfd, 1, wait_ms) < 0 && errno != EINTR) {
                set(&q.r, P0FQ_DOWN, "p0f poll", "poll(): %s", strerror(errno));
                finish(&q);
                break;
            }
        } else {
            struct timespec pause = {wait_ms / 1000, (long)(wait_ms % 1000) * 1000000L};
            nanosleep(&pause, NULL);
        }
        done = p0fq_continue(&q);
    }
    *r = q.r;
}
