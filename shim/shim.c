/* The exported wrappers: each calls the real function, then hands a successful
 * result to the hidden core. Nothing here may change what the caller sees. */
#include <dlfcn.h>
#include <errno.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "p0fshim.h"

#define EXPORT __attribute__((visibility("default")))

typedef int (*accept_fn)(int, struct sockaddr *, socklen_t *);
typedef int (*accept4_fn)(int, struct sockaddr *, socklen_t *, int);

static accept_fn real_accept;
static accept4_fn real_accept4;

static void resolve_real(void)
{
    int saved = errno;
    if (real_accept == NULL)
        real_accept = (accept_fn)dlsym(RTLD_NEXT, "accept");
    if (real_accept4 == NULL)
        real_accept4 = (accept4_fn)dlsym(RTLD_NEXT, "accept4");
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

/* A connection that hold mode answered and closed itself is never returned: the wrapper
 * goes on to the next one, as the caller asked. On a non-blocking listener the real
 * accept() then says EAGAIN when nothing else is queued, which every MTA treats as
 * "nothing to accept" (Postfix's smtpd counts it among its harmless accept errors), and
 * an edge-triggered caller misses no connection that was queued behind the refused one. */
static int accept_judged(int fd, struct sockaddr *addr, socklen_t *addrlen, int flags, bool plain)
{
    socklen_t given = addr && addrlen ? *addrlen : 0;
    for (;;) {
        int rc;
        if (plain) {
            if (real_accept == NULL)
                resolve_real();
            rc = real_accept ? real_accept(fd, addr, addrlen) : call_accept4(fd, addr, addrlen, 0);
        } else {
            rc = call_accept4(fd, addr, addrlen, flags);
        }
        if (rc < 0 || p0fshim_after_accept(rc, addr, addrlen, given) == P0FSHIM_PASS)
            return rc;
        if (addrlen)
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
