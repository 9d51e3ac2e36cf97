/* The exported wrappers: each calls the real function, then hands a successful
 * result to the hidden core. Nothing here may change what the caller sees. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "p0fshim.h"
#include "mutant.h"
#include "tunables.h"

#define EXPORT __attribute__((visibility("default")))

typedef int (*accept_fn)(int, struct sockaddr *, socklen_t *);
typedef int (*accept4_fn)(int, struct sockaddr *, socklen_t *, int);
typedef int (*close_fn)(int);
typedef int (*listen_fn)(int, int);

static accept_fn real_accept;
static accept4_fn real_accept4;
static close_fn real_close;
static listen_fn real_listen;

static void resolve_real(void)
{
    int saved = errno;
    if (real_accept == NULL)
        real_accept = (accept_fn)dlsym(RTLD_NEXT, "accept");
    if (real_accept4 == NULL)
        real_accept4 = (accept4_fn)dlsym(RTLD_NEXT, "accept4");
    if (real_close == NULL)
        real_close = (close_fn)dlsym(RTLD_NEXT, "close");
    if (real_listen == NULL)
        real_listen = (listen_fn)dlsym(RTLD_NEXT, "listen");
    errno = saved;
}

__attribute__((constructor)) static void p0fshim_constructor(void)
{
    resolve_real();
    p0fshim_init();
}

__attribute__((destructor)) static void p0fshim_destructor(void)
{
    p0fshim_at_exit();
}

static int call_accept4(int fd, struct sockaddr *addr, socklen_t *addrlen, int flags)
{
    if (real_accept4 == NULL)
        resolve_real();
    if (real_accept4)
        return real_accept4(fd, addr, addrlen, flags);
    return (int)syscall(SYS_accept4, fd, addr, addrlen, flags);
}

/* A raw ppoll(): the library adds no cancellation point of its own to accept() (which stays
 * one). */
static bool connection_queued(int fd)
{
    struct pollfd listener = {.fd = fd, .events = POLLIN};
    struct timespec now = {0, 0};
    return syscall(SYS_ppoll, &listener, 1, &now, NULL, 0) == 1 && (listener.revents & POLLIN);
}

/* What a caller whose connection was refused is told when none is left to give it: "nothing
 * to accept". On a non-blocking listener that is EAGAIN, as the kernel says it. A blocking
 * listener never says it, so the caller gets EINTR, the one error every accept loop takes
 * for "try again" without a log line: Sendmail, Exim, tcpserver and inetd retry silently,
 * and a select() loop goes back to select(), where its other listeners and signal flags are
 * seen. (ECONNABORTED, the other candidate, is logged by Exim and inetd.) At the refusal cap
 * a non-blocking listener may still hold connections: ECONNABORTED there, which
 * edge-triggered loops (libuv, nginx) skip and go on accepting, and Postfix and OpenSMTPD
 * take as "nothing now", their listener still polling readable. */
static int nothing_to_accept(bool nonblocking, bool at_cap)
{
    errno = !nonblocking ? EINTR : at_cap ? ECONNABORTED : EAGAIN;
    return -1;
}

static bool listener_nonblocking(int fd)
{
    int flags = fcntl(fd, F_GETFL);
    return flags >= 0 && (flags & O_NONBLOCK);
}

/* A connection the shim refused (answered and closed itself) is never returned. On a blocking
 * listener the call ends with the first refusal: seen queued, the next connection may still be
 * taken by another process or thread accepting on the same listener before this one's accept(),
 * which would then wait for the port's next client. */
static int accept_judged(int fd, struct sockaddr *addr, socklen_t *addrlen, int flags, bool plain)
{
    socklen_t given = addr && addrlen ? *addrlen : 0;
    p0fshim_before_accept(fd);
    for (unsigned refused = 0;; refused++) {
        int rc;
        if (refused > 0 && !P0FSHIM_MUTANT_REFUSAL) {
            bool nonblocking = listener_nonblocking(fd);
            if (!nonblocking || refused == REFUSALS_PER_CALL_MAX)
                return nothing_to_accept(nonblocking, refused == REFUSALS_PER_CALL_MAX);
            if (!connection_queued(fd))
                return nothing_to_accept(nonblocking, false);
        }
        if (plain) {
            if (real_accept == NULL)
                resolve_real();
            rc = real_accept ? real_accept(fd, addr, addrlen) : call_accept4(fd, addr, addrlen, 0);
        } else {
            rc = call_accept4(fd, addr, addrlen, flags);
        }
        /* A non-blocking listener emptied meanwhile says EAGAIN itself. */
        if (rc < 0 || p0fshim_after_accept(fd, rc, addr, addrlen, given) == P0FSHIM_PASS)
            return rc;
        if (addr && addrlen)   /* without a buffer the kernel leaves *addrlen alone */
            *addrlen = given;
    }
}

EXPORT int accept(int fd, struct sockaddr *addr, socklen_t *addrlen)
{
    return accept_judged(fd, addr, addrlen, 0, true);
}

EXPORT int accept4(int fd, struct sockaddr *addr, socklen_t *addrlen, int flags)
{
    return accept_judged(fd, addr, addrlen, flags, false);
}

/* A listener of the configured ports keeps its connections' SYNs from the start: a server
 * that polls before it accepts would otherwise have its first connection queued without. */
EXPORT int listen(int fd, int backlog)
{
    if (real_listen == NULL)
        resolve_real();
    int rc = real_listen ? real_listen(fd, backlog) : (int)syscall(SYS_listen, fd, backlog);
    if (rc == 0)
        p0fshim_after_listen(fd);
    return rc;
}

/* close() is watched only for the numbers of connections awaiting a verdict: the shim's
 * duplicate would otherwise keep such a connection open after the MTA closed it, until the
 * verdict (its client waiting for the MTA's close). Any other number costs one relaxed load. */
EXPORT int close(int fd)
{
    struct stat before;
    bool watched = false;
    if (atomic_load_explicit(&p0fshim_closes_watched, memory_order_relaxed) && p0fshim_close_watched(fd)) {
        int saved = errno;
        watched = fstat(fd, &before) == 0;
        errno = saved;
    }
    int rc = real_close ? real_close(fd) : (int)syscall(SYS_close, fd);
    if (watched)
        p0fshim_after_close(fd, &before);
    return rc;
}
