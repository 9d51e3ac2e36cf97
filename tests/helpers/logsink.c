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
#include <sys/uio.h>

#define HELPER_NAME "logsink"
#include "helper.h"

#define MAX_DGRAM 65536

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
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
            note("write: %s", strerror(errno));
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
    struct socket_file sock;
    sigset_t orig;
    int sfd, ofd;

    if (argc != 3 || argv[1][0] == '\0' || argv[2][0] == '\0') {
        fputs("usage: logsink SOCKETPATH OUTFILE\n", stderr);
        return 2;
    }
    path = argv[1];
    outpath = argv[2];

    if (lstat(path, &st) == 0 && !S_ISSOCK(st.st_mode))
        die("%s exists and is not a socket; refusing to replace it", path);
    unix_address(&sun, path); /* length check, before the output file is created */
    ofd = open(outpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (ofd < 0)
        die("cannot open %s: %s", outpath, strerror(errno));

    set_handler(SIGTERM, on_signal, 0);
    set_handler(SIGINT, on_signal, 0);
    set_handler(SIGPIPE, SIG_IGN, 0);
    block_stop_signals(&orig); /* SIGTERM comes inside ppoll() only: it cannot be missed */
    sfd = unix_socket_file(&sock, path, SOCK_DGRAM);

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
                    note("recv: %s", strerror(errno));
                break;
            }
            if ((size_t)r > sizeof(buf)) {
                note("datagram of %zd bytes truncated to %zu", r, sizeof(buf));
                r = (ssize_t)sizeof(buf);
            }
            append(ofd, buf, (size_t)r);
        }
    }

    close(sfd);
    socket_file_remove(&sock);
    close(ofd);
    return 0;
}
