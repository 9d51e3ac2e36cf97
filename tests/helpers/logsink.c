/*
 * logsink: stands in for /dev/log in the tests, recording the syslog datagrams p0fshim sends.
 *
 * CLI:
 *   logsink SOCKETPATH OUTFILE
 *
 * Binds a unix datagram socket at SOCKETPATH (an old socket there is replaced; a path that is
 * not a socket is refused). The socket is bound under a temporary name, made mode 0666 and then
 * renamed into place, so it appears atomically and ready. Each datagram received is appended
 * to OUTFILE as is, followed by "\n", in a single write (so the file is always up to date and
 * never holds half a line). Datagrams are recorded byte for byte: an embedded or trailing
 * newline shows up as such. A datagram longer than 64 KiB is truncated and reported on stderr.
 * Runs until SIGTERM or SIGINT, then removes SOCKETPATH (if it is still its socket) and exits 0.
 * Exit status 2 on misuse or a start-up error.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_DGRAM 65536

static volatile sig_atomic_t g_stop;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    fputs("logsink: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(2);
}

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static void set_sockaddr_un(struct sockaddr_un *sun, const char *path)
{
    memset(sun, 0, sizeof(*sun));
    sun->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sun->sun_path))
        die("socket path too long (max %zu bytes): %s", sizeof(sun->sun_path) - 1, path);
    memcpy(sun->sun_path, path, strlen(path) + 1);
}

/* Append one datagram plus "\n" with a single write; retries the remainder on a short write. */
static void append(int fd, const char *data, size_t len)
{
    struct iovec iov[2] = {
        {.iov_base = (void *)data, .iov_len = len},
        {.iov_base = (void *)"\n", .iov_len = 1},
    };
    int iovcnt = 2, tries = 0;

    while (iovcnt > 0 && tries++ < 100) {
        ssize_t w = writev(fd, iov + (2 - iovcnt), iovcnt);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "logsink: write: %s\n", strerror(errno));
            return;
        }
        size_t n = (size_t)w;
        for (int i = 2 - iovcnt; i < 2 && n > 0; i++) {
            size_t k = n < iov[i].iov_len ? n : iov[i].iov_len;
            iov[i].iov_base = (char *)iov[i].iov_base + k;
            iov[i].iov_len -= k;
            n -= k;
        }
        while (iovcnt > 0 && iov[2 - iovcnt].iov_len == 0)
            iovcnt--;
    }
}

int main(int argc, char **argv)
{
    static char buf[MAX_DGRAM];
    const char *path, *outpath;
    struct sockaddr_un sun;
    struct stat st;
    char tmp[sizeof(sun.sun_path)];
    struct sigaction sa;
    sigset_t block, orig;
    int sfd, ofd, n;
    ino_t ino = 0;
    dev_t dev = 0;

    if (argc != 3 || argv[1][0] == '\0' || argv[2][0] == '\0') {
        fputs("usage: logsink SOCKETPATH OUTFILE\n", stderr);
        return 2;
    }
    path = argv[1];
    outpath = argv[2];

    if (lstat(path, &st) == 0 && !S_ISSOCK(st.st_mode))
        die("%s exists and is not a socket; refusing to replace it", path);
    set_sockaddr_un(&sun, path); /* length check */
    ofd = open(outpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (ofd < 0)
        die("cannot open %s: %s", outpath, strerror(errno));

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    /* Signals are only delivered inside ppoll(), so a SIGTERM cannot be missed. */
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigprocmask(SIG_BLOCK, &block, &orig);
    sigdelset(&orig, SIGTERM);
    sigdelset(&orig, SIGINT);

    n = snprintf(tmp, sizeof(tmp), "%s.%ld~", path, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof(tmp)) {
        /* No room for a temporary name: replace in place. */
        if (unlink(path) != 0 && errno != ENOENT)
            die("cannot remove old %s: %s", path, strerror(errno));
        memcpy(tmp, path, strlen(path) + 1);
    }
    unlink(tmp);
    set_sockaddr_un(&sun, tmp);
    sfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (sfd < 0)
        die("socket: %s", strerror(errno));
    if (bind(sfd, (struct sockaddr *)&sun, sizeof(sun)) != 0)
        die("bind %s: %s", tmp, strerror(errno));
    if (chmod(tmp, 0666) != 0) {
        int e = errno;
        unlink(tmp);
        die("chmod %s: %s", tmp, strerror(e));
    }
    if (strcmp(tmp, path) != 0 && rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        die("rename %s -> %s: %s", tmp, path, strerror(e));
    }
    if (stat(path, &st) == 0) {
        ino = st.st_ino;
        dev = st.st_dev;
    }

    while (!g_stop) {
        struct pollfd pfd = {.fd = sfd, .events = POLLIN};
        struct timespec ts = {.tv_sec = 1, .tv_nsec = 0};
        int rc = ppoll(&pfd, 1, &ts, &orig);

        if (rc < 0) {
            if (errno == EINTR)
                continue;
            die("poll: %s", strerror(errno));
        }
        /* Drain what is queued (bounded, so a flood cannot delay a SIGTERM for ever). */
        for (int i = 0; rc > 0 && i < 1024; i++) {
            ssize_t r = recv(sfd, buf, sizeof(buf), MSG_TRUNC);
            if (r < 0) {
                if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)
                    fprintf(stderr, "logsink: recv: %s\n", strerror(errno));
                break;
            }
            if ((size_t)r > sizeof(buf)) {
                fprintf(stderr, "logsink: datagram of %zd bytes truncated to %zu\n", r, sizeof(buf));
                r = (ssize_t)sizeof(buf);
            }
            append(ofd, buf, (size_t)r);
        }
    }

    close(sfd);
    if (stat(path, &st) == 0 && st.st_ino == ino && st.st_dev == dev)
        unlink(path);
    close(ofd);
    return 0;
}
