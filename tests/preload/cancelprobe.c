/* cancelprobe.so: preloaded after libp0fshim.so, it stands between the library and libc's
 * cancellation points. For each call the library makes to one, it writes a line to the file
 * $CANCELPROBE_OUT: the function and whether the calling thread could have been cancelled there
 * (cancellable=1: the library would have been left half-way, its locks held). Calls from the
 * host, and those that come through the library's exported wrappers (close, accept, accept4,
 * listen: the host's own calls), are not its business. */

#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static void *next(const char *name)
{
    return dlsym(RTLD_NEXT, name);
}

static int from_library(void *caller)
{
    Dl_info info;
    if (!dladdr(caller, &info) || !info.dli_fname || !strstr(info.dli_fname, "libp0fshim"))
        return 0;
    static const char *const wrappers[] = {"close", "accept", "accept4", "listen"};
    for (size_t i = 0; info.dli_sname && i < sizeof(wrappers) / sizeof(wrappers[0]); i++)
        if (strcmp(info.dli_sname, wrappers[i]) == 0)
            return 0;
    return 1;
}

static int cancellable(void)
{
    int old, ignored;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
    pthread_setcancelstate(old, &ignored);
    return old == PTHREAD_CANCEL_ENABLE;
}

/* Written with raw system calls: nothing here may be a cancellation point or a wrapped call. */
static void note(const char *fn, void *caller)
{
    static int fd = -2;
    if (!from_library(caller))
        return;
    if (fd == -2) {
        const char *path = getenv("CANCELPROBE_OUT");
        fd = path ? (int)syscall(SYS_openat, AT_FDCWD, path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644) : -1;
        if (fd >= 0) {
            int high = fcntl(fd, F_DUPFD_CLOEXEC, 900);   /* out of the host's census */
            if (high >= 0) {
                syscall(SYS_close, fd);
                fd = high;
            }
        }
    }
    if (fd < 0)
        return;
    char line[160];
    Dl_info info;
    const char *where = dladdr(caller, &info) && info.dli_sname ? info.dli_sname : "?";
    int n = snprintf(line, sizeof(line), "call=%s cancellable=%d pid=%d tid=%ld caller=%s+%#lx\n", fn,
                     cancellable(), (int)getpid(), (long)syscall(SYS_gettid), where,
                     (unsigned long)((char *)caller - (char *)info.dli_fbase));
    syscall(SYS_write, fd, line, (size_t)n);
}

#define PROBE(ret, name, params, args)                                 \
    ret name params                                                    \
    {                                                                  \
        static ret(*real) params;                                      \
        if (!real)                                                     \
            real = (ret(*) params)next(#name);                         \
        note(#name, __builtin_return_address(0));                      \
        return real args;                                              \
    }

PROBE(ssize_t, write, (int fd, const void *b, size_t n), (fd, b, n))
PROBE(ssize_t, read, (int fd, void *b, size_t n), (fd, b, n))
PROBE(ssize_t, pwrite, (int fd, const void *b, size_t n, off_t o), (fd, b, n, o))
PROBE(ssize_t, pread, (int fd, void *b, size_t n, off_t o), (fd, b, n, o))
PROBE(ssize_t, send, (int fd, const void *b, size_t n, int f), (fd, b, n, f))
PROBE(ssize_t, sendto, (int fd, const void *b, size_t n, int f, const struct sockaddr *a, socklen_t l),
      (fd, b, n, f, a, l))
PROBE(ssize_t, sendmsg, (int fd, const struct msghdr *m, int f), (fd, m, f))
PROBE(int, sendmmsg, (int fd, struct mmsghdr *m, unsigned int v, int f), (fd, m, v, f))
PROBE(ssize_t, recv, (int fd, void *b, size_t n, int f), (fd, b, n, f))
PROBE(ssize_t, recvfrom, (int fd, void *b, size_t n, int f, struct sockaddr *a, socklen_t *l), (fd, b, n, f, a, l))
PROBE(ssize_t, recvmsg, (int fd, struct msghdr *m, int f), (fd, m, f))
PROBE(int, connect, (int fd, const struct sockaddr *a, socklen_t l), (fd, a, l))
PROBE(int, poll, (struct pollfd *p, nfds_t n, int t), (p, n, t))
PROBE(int, ppoll, (struct pollfd *p, nfds_t n, const struct timespec *t, const sigset_t *s), (p, n, t, s))
PROBE(int, nanosleep, (const struct timespec *a, struct timespec *b), (a, b))
PROBE(int, clock_nanosleep, (clockid_t c, int f, const struct timespec *a, struct timespec *b), (c, f, a, b))
PROBE(int, usleep, (useconds_t u), (u))
PROBE(int, fsync, (int fd), (fd))
PROBE(int, fdatasync, (int fd), (fd))
PROBE(int, msync, (void *a, size_t n, int f), (a, n, f))

/* open() and openat() both go to libc's openat() (what open() is), noted under their own name.
 * MODE_ARG: the mode argument, present when the flags create a file; in the variadic function
 * itself (va_start needs its last named parameter, flags). */
#define MODE_ARG(mode, flags)                       \
    do {                                            \
        if ((flags) & (O_CREAT | O_TMPFILE)) {      \
            va_list ap;                             \
            va_start(ap, flags);                    \
            mode = va_arg(ap, mode_t);              \
            va_end(ap);                             \
        }                                           \
    } while (0)

static int probed_openat(const char *fn, void *caller, int dir, const char *path, int flags, mode_t mode)
{
    static int (*real)(int, const char *, int, ...);
    if (!real)
        real = (int (*)(int, const char *, int, ...))next("openat");
    note(fn, caller);
    return real(dir, path, flags, mode);
}

int open(const char *path, int flags, ...)
{
    mode_t mode = 0;
    MODE_ARG(mode, flags);
    return probed_openat("open", __builtin_return_address(0), AT_FDCWD, path, flags, mode);
}

int openat(int dir, const char *path, int flags, ...)
{
    mode_t mode = 0;
    MODE_ARG(mode, flags);
    return probed_openat("openat", __builtin_return_address(0), dir, path, flags, mode);
}
