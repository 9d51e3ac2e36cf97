#include "syslog_writer.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdint.h>
#include <syslog.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "fdband.h"
#include "hotmem.h"

void syslog_writer_init(struct syslog_writer *w)
{
    memset(w, 0, sizeof(*w));
    pthread_mutex_init(&w->lock, NULL);
    w->conn.fd = -1;
}

/* Called with the lock held. */
static void connect_locked(struct syslog_writer *w)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    int fd;

    owned_fd_release(&w->conn);
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return;
    /* Out of the host's way (fdband.h); where the band is full the line still matters more. */
    int high = fdband_dup(fd);
    if (high >= 0) {
        (void)syscall(SYS_close, fd);
        fd = high;
    }
    memcpy(sun.sun_path, w->path, strlen(w->path) + 1);
    if (syscall(SYS_connect, fd, (struct sockaddr *)&sun, sizeof(sun)) != 0 || owned_fd_take(fd, &w->conn) != 0) {
        (void)syscall(SYS_close, fd);
        w->conn.fd = -1;
    }
}

void syslog_writer_open(struct syslog_writer *w, const char *path, int facility)
{
    int saved = errno;
    if (!hotmem_enter()) {   /* still the parent's, and it could not be copied */
        errno_restore(saved);
        return;
    }
    pthread_mutex_lock(&w->lock);
    snprintf(w->path, sizeof(w->path), "%s", path);
    w->facility = facility;
    connect_locked(w);
    pthread_mutex_unlock(&w->lock);
    errno_restore(saved);
}

void syslog_writer_close(struct syslog_writer *w)
{
    int saved = errno;
    if (!hotmem_enter()) {   /* still the parent's, and it could not be copied */
        errno_restore(saved);
        return;
    }
    pthread_mutex_lock(&w->lock);
    owned_fd_release(&w->conn);
    pthread_mutex_unlock(&w->lock);
    errno_restore(saved);
}

size_t syslog_format(char *out, size_t size, int priority, const struct tm *when, pid_t pid, const char *msg)
{
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    if (size == 0)
        return 0;
    int n = snprintf(out, size, "<%d>%s %2d %02d:%02d:%02d p0fshim[%d]: %s", priority,
                     months[when->tm_mon % 12], when->tm_mday, when->tm_hour, when->tm_min, when->tm_sec,
                     (int)pid, msg);
    if (n < 0)
        return 0;
    return (size_t)n < size ? (size_t)n : size - 1;
}

static uint64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Called with the lock held: sends lines[0..n), returns how many the receiver took. A full
 * receiver queue (the kernel's default net.unix.max_dgram_qlen is 10) is waited out for at
 * most wait_ms. */
static size_t send_locked(struct syslog_writer *w, struct mmsghdr *msgs, size_t n, unsigned wait_ms)
{
    uint64_t give_up = monotonic_ms() + wait_ms;
    bool reconnected = false;
    size_t sent = 0;

    if (!owned_fd_still(&w->conn))
        connect_locked(w);
    while (sent < n) {
        if (w->conn.fd < 0)
            return sent;
        /* Raw: unlike sendmmsg(), no cancellation point (the verdict inside accept() has none). */
        int k = (int)syscall(SYS_sendmmsg, w->conn.fd, msgs + sent, (unsigned)(n - sent), MSG_DONTWAIT | MSG_NOSIGNAL);
        if (k > 0) {
            sent += (size_t)k;
            continue;
        }
        if ((errno == ECONNREFUSED || errno == ENOTCONN) && !reconnected) {
            /* The receiver restarted (syslogd reload): its socket is new, connect again once. */
            reconnected = true;
            connect_locked(w);
            continue;
        }
        if (errno == EINTR)
            continue;
        uint64_t now = monotonic_ms();
        if ((errno != EAGAIN && errno != EWOULDBLOCK) || now >= give_up)
            return sent;
        struct pollfd pfd = {.fd = w->conn.fd, .events = POLLOUT};
        poll(&pfd, 1, (int)(give_up - now));
    }
    return sent;
}

static size_t format_line(const struct syslog_writer *w, int severity, const char *msg, char *out, size_t size)
{
    struct tm tm;
    time_t now = time(NULL);
    localtime_r(&now, &tm);
    return syslog_format(out, size, w->facility | severity, &tm, getpid(), msg);
}

void syslog_batch_add(struct syslog_writer *w, struct syslog_batch *b, int severity, const char *msg)
{
    if (b->n == SYSLOG_BATCH_MAX) {
        b->n = 0;   /* the caller's bug; never write past the end */
        return;
    }
    time_t now = time(NULL);
    if (b->n == 0 || now != b->when) {
        b->when = now;
        localtime_r(&now, &b->when_local);
        b->pid = getpid();
    }
    size_t len = syslog_format(b->text[b->n], sizeof(b->text[b->n]), w->facility | severity, &b->when_local, b->pid, msg);
    b->line[b->n] = (struct iovec){.iov_base = b->text[b->n], .iov_len = len};
    b->n++;
}

/* Called with the lock held: sends n formatted lines, each made of parts iovecs (one
 * datagram each), and, after them, the count of lines dropped before (which is reset once it
 * went out). */
static void send_lines_locked(struct syslog_writer *w, const struct iovec *lines, size_t parts, size_t n,
                              unsigned wait_ms)
{
    /* Sized by n: a line sent from the host's accept thread costs it little stack. */
    struct mmsghdr msgs[n + 1];
    char text[160];
    struct iovec note_line;
    size_t total = n;

    memset(msgs, 0, sizeof(msgs));
    for (size_t i = 0; i < n; i++) {
        msgs[i].msg_hdr.msg_iov = (struct iovec *)&lines[i * parts];
        msgs[i].msg_hdr.msg_iovlen = parts;
    }
    w->dropped += atomic_exchange(&w->dropped_busy, 0);
    if (w->dropped) {
        snprintf(text, sizeof(text),
                 "level=warning msg=\"log lines dropped: the log socket did not take them\" count=%lu", w->dropped);
        note_line = (struct iovec){.iov_base = w->note,
                                   .iov_len = format_line(w, LOG_WARNING, text, w->note, sizeof(w->note))};
        msgs[total].msg_hdr.msg_iov = &note_line;
        msgs[total].msg_hdr.msg_iovlen = 1;
        total++;
    }
    size_t sent = send_locked(w, msgs, total, wait_ms);
    if (sent == total && total > n)
        w->dropped = 0;
    w->dropped += n - (sent < n ? sent : n);
}

static void send_lines(struct syslog_writer *w, const struct iovec *lines, size_t n, unsigned wait_ms)
{
    if (!hotmem_enter())
        return;
    pthread_mutex_lock(&w->lock);
    send_lines_locked(w, lines, 1, n, wait_ms);
    pthread_mutex_unlock(&w->lock);
}

void syslog_batch_flush(struct syslog_writer *w, struct syslog_batch *b, unsigned wait_ms)
{
    int saved = errno;
    if (b->n > 0)
        send_lines(w, b->line, b->n, wait_ms);
    b->n = 0;
    errno_restore(saved);
}

void syslog_writer_send_wait(struct syslog_writer *w, int severity, const char *msg, unsigned wait_ms)
{
    char text[SYSLOG_LINE_MAX];
    int saved = errno;
    struct iovec line = {.iov_base = text, .iov_len = format_line(w, severity, msg, text, sizeof(text))};
    send_lines(w, &line, 1, wait_ms);
    errno_restore(saved);
}

/* Under the lock: the line's head for this second, priority and process. */
static void refresh_head_locked(struct syslog_writer *w, int priority)
{
    time_t now = time(NULL);
    if (now == w->head_second && priority == w->head_priority && w->head_len && w->head_pid)
        return;
    struct tm tm;
    localtime_r(&now, &tm);
    if (w->head_pid == 0)
        w->head_pid = getpid();
    w->head_len = syslog_format(w->head, sizeof(w->head), priority, &tm, w->head_pid, "");
    w->head_second = now;
    w->head_priority = priority;
}

void syslog_writer_send_now(struct syslog_writer *w, int severity, const char *msg)
{
    int saved = errno;
    size_t msg_len = strlen(msg);
    /* The head and the message as two parts of one datagram: no copy of the line on the stack
     * of the host's thread. */
    struct iovec line[2];
    if (!hotmem_enter()) {
        errno_restore(saved);
        return;
    }
    /* The lock is held only to send (or, by the worker, to wait for a full receiver, when
     * this line could not go out either): a few tries cover the first case. */
    for (unsigned i = 0; i < SEND_NOW_LOCK_TRIES; i++) {
        if (pthread_mutex_trylock(&w->lock) == 0) {
            refresh_head_locked(w, w->facility | severity);
            if (msg_len > SYSLOG_LINE_MAX - 1 - w->head_len)
                msg_len = SYSLOG_LINE_MAX - 1 - w->head_len;
            line[0] = (struct iovec){.iov_base = w->head, .iov_len = w->head_len};
            line[1] = (struct iovec){.iov_base = (void *)msg, .iov_len = msg_len};
            send_lines_locked(w, line, 2, 1, 0);
            pthread_mutex_unlock(&w->lock);
            errno_restore(saved);
            return;
        }
        sched_yield();
    }
    atomic_fetch_add(&w->dropped_busy, 1);
    errno_restore(saved);
}

void syslog_writer_send(struct syslog_writer *w, int severity, const char *msg)
{
    syslog_writer_send_wait(w, severity, msg, 0);
}

void syslog_writer_after_fork_child(struct syslog_writer *w)
{
    pthread_mutex_init(&w->lock, NULL);
    w->head_pid = 0;   /* the child's own, when it first logs */
}

bool rate_limit_allow(struct rate_limit *r, time_t now, unsigned long *suppressed)
{
    if (r->started && now - r->last < RATE_LIMIT_PERIOD_S) {
        r->suppressed++;
        return false;
    }
    *suppressed = r->suppressed;
    r->suppressed = 0;
    r->last = now;
    r->started = true;
    return true;
}
