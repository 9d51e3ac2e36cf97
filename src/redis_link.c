/* A connection to a Redis server with a deadline on every step (see redis_link.h). hiredis
 * formats the commands and reads the replies; this file owns the socket. */
#include "redis_link.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fdband.h"
#include "fdident.h"
#include "hiredis_load.h"
#include "p0fsock.h"
#include "tunables.h"

struct redis_link {
    pthread_mutex_t lock;
    struct store_url url;
    struct owned_fd conn;              /* fd -1: not connected */
    pid_t pid;                         /* the process that made conn */
    redisReader *reader;               /* with conn */
    uint64_t retry_after_ns;           /* no new connection before this (monotonic) */
    unsigned retry_ms;                 /* the next backoff */
    char last_error[160];              /* why the last connection failed, for calls in the backoff */
    dev_t root_dev;                    /* "/" when the link was made, to find a chroot since */
    ino_t root_ino;
};

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int remaining_ms(uint64_t deadline)
{
    uint64_t now = mono_ns();
    if (now >= deadline)
        return 0;
    uint64_t ms = (deadline - now + 999999) / 1000000;
    return ms > 60000 ? 60000 : (int)ms;
}

struct redis_link *redis_link_new(const struct store_url *url, char *why, size_t why_size)
{
    if (hiredis_load(why, why_size) != 0)
        return NULL;
    struct redis_link *l = calloc(1, sizeof(*l));
    if (l == NULL) {
        snprintf(why, why_size, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&l->lock, NULL);
    l->url = *url;
    l->conn = OWNED_FD_NONE;
    l->retry_ms = REDIS_RETRY_FIRST_MS;
    struct stat root;
    if (stat("/", &root) == 0) {
        l->root_dev = root.st_dev;
        l->root_ino = root.st_ino;
    }
    return l;
}

#define SHARED_LINKS 4
static struct redis_link *shared[SHARED_LINKS];

struct redis_link *redis_link_shared(const struct store_url *url, char *why, size_t why_size)
{
    size_t i;
    for (i = 0; i < SHARED_LINKS && shared[i]; i++)
        if (memcmp(&shared[i]->url, url, sizeof(*url)) == 0)
            return shared[i];
    struct redis_link *l = redis_link_new(url, why, why_size);
    if (l && i < SHARED_LINKS)
        shared[i] = l;
    return l;
}

void redis_link_each_shared(void (*fn)(struct redis_link *l))
{
    for (size_t i = 0; i < SHARED_LINKS && shared[i]; i++)
        fn(shared[i]);
}

const char *redis_link_shown(const struct redis_link *l)
{
    return l->url.shown;
}

static void drop(struct redis_link *l)
{
    if (l->pid == getpid())
        owned_fd_release(&l->conn);
    else
        l->conn = OWNED_FD_NONE;   /* the parent's: the child's copy is closed by the caller */
    if (l->reader)
        hiredis_fn.reader_free(l->reader);
    l->reader = NULL;
}

/* A failure of the connection: it is dropped and the next one waits out the backoff. */
static int fail_connection(struct redis_link *l, char *why, size_t why_size, const char *what, const char *detail)
{
    snprintf(l->last_error, sizeof(l->last_error), "%s%s", what, detail);
    snprintf(why, why_size, "Redis store %s: %s", l->url.shown, l->last_error);
    drop(l);
    l->retry_after_ns = mono_ns() + (uint64_t)l->retry_ms * 1000000ull;
    l->retry_ms = l->retry_ms * 2 > REDIS_RETRY_MAX_MS ? REDIS_RETRY_MAX_MS : l->retry_ms * 2;
    return -1;
}

static bool chrooted_since(const struct redis_link *l)
{
    struct stat st;
    return stat("/", &st) == 0 && (st.st_dev != l->root_dev || st.st_ino != l->root_ino);
}

static int wait_for(int fd, short events, uint64_t deadline)
{
    for (;;) {
        struct pollfd p = {.fd = fd, .events = events};
        int ms = remaining_ms(deadline);
        if (ms == 0)
            return -1;
        int rc = poll(&p, 1, ms);
        if (rc > 0)
            return 0;
        if (rc == 0 || errno != EINTR)
            return -1;
    }
}

static int connect_now(struct redis_link *l, uint64_t deadline, char *why, size_t why_size)
{
    int family = l->url.is_unix ? AF_UNIX : l->url.addr.ss_family;
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return fail_connection(l, why, why_size, "socket: ", strerror(errno));
    fd = fdband_move(fd);
    if (fd < 0)
        return fail_connection(l, why, why_size, "no descriptor free in the library's band: ", strerror(errno));
    int rc = l->url.is_unix ? p0fsock_connect(fd, l->url.path, chrooted_since(l))
                            : connect(fd, (const struct sockaddr *)&l->url.addr, l->url.addr_len);
    if (rc != 0 && errno == EINPROGRESS) {
        int err = 0;
        socklen_t len = sizeof(err);
        if (wait_for(fd, POLLOUT, deadline) != 0) {
            close(fd);
            return fail_connection(l, why, why_size, "connect timed out (store_timeout_ms)", "");
        }
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
            err = errno;
        rc = err ? -1 : 0;
        errno = err;
    }
    if (rc != 0) {
        int e = errno;
        close(fd);
        return fail_connection(l, why, why_size, "connect: ", strerror(e));
    }
    if (owned_fd_take(fd, &l->conn) != 0) {
        close(fd);
        return fail_connection(l, why, why_size, "fstat of the new socket failed", "");
    }
    l->pid = getpid();
    l->reader = hiredis_fn.reader_create();
    if (l->reader == NULL)
        return fail_connection(l, why, why_size, "out of memory", "");
    return 0;
}

static int send_all(struct redis_link *l, const char *buf, size_t len, uint64_t deadline, char *why, size_t why_size)
{
    while (len > 0) {
        ssize_t n = send(l->conn.fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            buf += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (wait_for(l->conn.fd, POLLOUT, deadline) == 0)
                continue;
            return fail_connection(l, why, why_size, "send timed out (store_timeout_ms)", "");
        }
        if (errno == EPIPE || errno == ECONNRESET)
            return fail_connection(l, why, why_size, "the server closed the connection", "");
        return fail_connection(l, why, why_size, "send: ", strerror(errno));
    }
    return 0;
}

/* The next reply; NULL after failing the connection. */
static redisReply *next_reply(struct redis_link *l, uint64_t deadline, char *why, size_t why_size)
{
    for (;;) {
        void *reply = NULL;
        if (hiredis_fn.reader_get_reply(l->reader, &reply) != REDIS_OK) {
            char detail[140];
            snprintf(detail, sizeof(detail), "%.120s", l->reader->errstr);
            fail_connection(l, why, why_size, "not a Redis server: ", detail);
            return NULL;
        }
        if (reply)
            return reply;
        char buf[REDIS_READ_MAX];
        ssize_t n = recv(l->conn.fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n > 0) {
            if (hiredis_fn.reader_feed(l->reader, buf, (size_t)n) != REDIS_OK) {
                fail_connection(l, why, why_size, "reply buffer: out of memory", "");
                return NULL;
            }
            continue;
        }
        if (n == 0) {
            fail_connection(l, why, why_size, "the server closed the connection", "");
            return NULL;
        }
        if (errno == EINTR)
            continue;
        if (errno == ECONNRESET) {
            fail_connection(l, why, why_size, "the server closed the connection", "");
            return NULL;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            fail_connection(l, why, why_size, "recv: ", strerror(errno));
            return NULL;
        }
        if (wait_for(l->conn.fd, POLLIN, deadline) != 0) {
            fail_connection(l, why, why_size, "no reply within store_timeout_ms", "");
            return NULL;
        }
    }
}

static void error_text(const redisReply *r, char *out, size_t size)
{
    size_t n = 0;
    for (size_t i = 0; i < r->len && n + 1 < size; i++)
        out[n++] = r->str[i] >= ' ' && r->str[i] <= '~' ? r->str[i] : '?';
    out[n] = '\0';
}

/* AUTH and SELECT, as a new connection needs them, formatted into cmds. */
static size_t setup_commands(const struct redis_link *l, char **cmds)
{
    size_t n = 0;
    char db[16];
    if (l->url.password[0]) {
        const char *argv[3] = {"AUTH", l->url.user, l->url.password};
        if (l->url.user[0])
            hiredis_fn.format_argv(&cmds[n++], 3, argv, NULL);
        else {
            argv[1] = l->url.password;
            hiredis_fn.format_argv(&cmds[n++], 2, argv, NULL);
        }
    }
    if (l->url.db) {
        snprintf(db, sizeof(db), "%u", l->url.db);
        const char *argv[2] = {"SELECT", db};
        hiredis_fn.format_argv(&cmds[n++], 2, argv, NULL);
    }
    return n;
}

static int read_ints(const redisReply *r, struct redis_ints *out, char *why, size_t why_size, const char *shown)
{
    out->n = 0;
    if (r->type == REDIS_REPLY_STATUS)   /* +OK: no integer */
        return 0;
    if (r->type == REDIS_REPLY_INTEGER) {
        out->n = 1;
        out->v[0] = r->integer;
        return 0;
    }
    if (r->type == REDIS_REPLY_ARRAY && r->elements <= REDIS_INTS_MAX) {
        for (size_t i = 0; i < r->elements; i++) {
            const redisReply *e = r->element[i];
            if (e->type != REDIS_REPLY_INTEGER && e->type != REDIS_REPLY_NIL)
                goto unexpected;
            out->v[out->n++] = e->type == REDIS_REPLY_INTEGER ? e->integer : 0;
        }
        return 0;
    }
unexpected:
    snprintf(why, why_size, "Redis store %s: unexpected reply (type %d)", shown, r->type);
    return -1;
}

/* One round trip, the link's lock held: [AUTH] [SELECT] on a new connection, then the command. */
static int round_trip(struct redis_link *l, const char **argv, size_t argc, uint64_t deadline,
                      struct redis_ints *out, char *why, size_t why_size)
{
    if (l->conn.fd >= 0 && (l->pid != getpid() || !owned_fd_still(&l->conn)))
        drop(l);   /* a parent's connection, or one the host closed: never used */
    char *cmds[3] = {NULL, NULL, NULL};
    size_t ncmds = 0;
    if (l->conn.fd < 0) {
        if (mono_ns() < l->retry_after_ns) {
            snprintf(why, why_size, "Redis store %s: %s (retrying later)", l->url.shown, l->last_error);
            return -1;
        }
        if (connect_now(l, deadline, why, why_size) != 0)
            return -1;
        ncmds = setup_commands(l, cmds);
    }
    if (hiredis_fn.format_argv(&cmds[ncmds], (int)argc, argv, NULL) < 0) {
        for (size_t i = 0; i < ncmds; i++)
            hiredis_fn.free_command(cmds[i]);
        snprintf(why, why_size, "Redis store %s: cannot format the command", l->url.shown);
        return -1;
    }
    ncmds++;
    int rc = 0;
    for (size_t i = 0; i < ncmds && rc == 0; i++)
        rc = send_all(l, cmds[i], strlen(cmds[i]), deadline, why, why_size);
    for (size_t i = 0; i < ncmds; i++)
        hiredis_fn.free_command(cmds[i]);
    if (rc != 0)
        return -1;
    for (size_t i = 0; i < ncmds; i++) {
        redisReply *r = next_reply(l, deadline, why, why_size);
        if (r == NULL)
            return -1;
        bool last = i + 1 == ncmds;
        char text[120];
        if (r->type == REDIS_REPLY_ERROR) {
            error_text(r, text, sizeof(text));
            hiredis_fn.free_reply(r);
            if (!last)   /* AUTH or SELECT refused: this connection is of no use */
                return fail_connection(l, why, why_size, "the server refused the login: ", text);
            snprintf(why, why_size, "Redis store %s: %s", l->url.shown, text);
            return -1;
        }
        if (last) {
            rc = read_ints(r, out, why, why_size, l->url.shown);
            hiredis_fn.free_reply(r);
            l->retry_ms = REDIS_RETRY_FIRST_MS;
            return rc;
        }
        hiredis_fn.free_reply(r);
    }
    return -1;
}

static int call(struct redis_link *l, const char **argv, size_t argc, unsigned timeout_ms, struct redis_ints *out,
                char *why, size_t why_size)
{
    int cancel_state;
    uint64_t deadline = mono_ns() + (uint64_t)timeout_ms * 1000000ull;
    struct timespec abs;
    clock_gettime(CLOCK_REALTIME, &abs);
    abs.tv_sec += timeout_ms / 1000;
    abs.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (abs.tv_nsec >= 1000000000L) {
        abs.tv_sec++;
        abs.tv_nsec -= 1000000000L;
    }
    /* No cancellation point may end this thread while it holds the lock. */
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel_state);
    int rc = -1;
    if (pthread_mutex_timedlock(&l->lock, &abs) != 0) {
        snprintf(why, why_size, "Redis store %s: busy with another thread's request past store_timeout_ms",
                 l->url.shown);
    } else {
        rc = round_trip(l, argv, argc, deadline, out, why, why_size);
        pthread_mutex_unlock(&l->lock);
    }
    pthread_setcancelstate(cancel_state, NULL);
    return rc;
}

int redis_link_eval(struct redis_link *l, const char *script, const char *key, const char *const *args,
                    size_t nargs, unsigned timeout_ms, struct redis_ints *out, char *why, size_t why_size)
{
    const char *argv[4 + 12];
    if (nargs > 12) {
        snprintf(why, why_size, "too many script arguments");
        return -1;
    }
    argv[0] = "EVAL";
    argv[1] = script;
    argv[2] = "1";
    argv[3] = key;
    for (size_t i = 0; i < nargs; i++)
        argv[4 + i] = args[i];
    return call(l, argv, 4 + nargs, timeout_ms, out, why, why_size);
}

int redis_link_command(struct redis_link *l, const char *const *argv, size_t argc, unsigned timeout_ms,
                       struct redis_ints *out, char *why, size_t why_size)
{
    const char *copy[16];
    if (argc == 0 || argc > 16) {
        snprintf(why, why_size, "bad command");
        return -1;
    }
    memcpy(copy, argv, argc * sizeof(*argv));
    return call(l, copy, argc, timeout_ms, out, why, why_size);
}

void redis_link_after_fork_child(struct redis_link *l)
{
    pthread_mutex_init(&l->lock, NULL);
    /* The parent's connection: the child's copy of the descriptor is closed now (a child that
     * execs or lives long must not hold it), the reader is the parent's memory, copied. */
    owned_fd_release(&l->conn);
    if (l->reader)
        hiredis_fn.reader_free(l->reader);
    l->reader = NULL;
    l->retry_after_ns = 0;
    l->retry_ms = REDIS_RETRY_FIRST_MS;
}

void redis_link_free(struct redis_link *l)
{
    if (l == NULL)
        return;
    drop(l);
    pthread_mutex_destroy(&l->lock);
    free(l);
}
