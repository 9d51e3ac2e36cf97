/*
 * fdlaunch: accepts one TCP connection and execs a program with the connected socket on chosen
 * fds, as inetd (fd 0 and 1) or systemd Accept=yes (fd 3, LISTEN_FDS=1, LISTEN_PID) do, for
 * tests/integration/mta.sh: the program gets the server side of a real TCP connection.
 *
 * CLI:
 *   fdlaunch --listen IP:PORT --ready FILE --peer FILE [--fds 0,1] [--listen-fds [PID]] -- PROG...
 *
 * --listen is IPv4. --ready is created once listening; --peer receives "remote=IP:PORT
 * local=IP:PORT" of the accepted connection (from accept and getsockname, not from the program
 * under test). --listen-fds sets LISTEN_FDS=1 and LISTEN_PID (its own pid, which the program
 * keeps across exec, or the PID given). fd 0 is /dev/null unless listed; every other fd but the
 * listed ones is closed. Exit 3 if nobody connects in 10 s, 2 on misuse or failure.
 */
#include <stdbool.h>

#define HELPER_NAME "fdlaunch"
#include "helper.h"

#define MAX_FD 64
#define SPARE_FD 100 /* where /dev/null waits while the connection is put on the fds */

/* die() naming what failed and errno's text. */
static void fail(const char *what) __attribute__((noreturn));
static void fail(const char *what)
{
    die("%s: %s", what, strerror(errno));
}

/* "IP:PORT" of an IPv4 address. */
static void format_endpoint(const struct sockaddr_storage *ss, char *out, size_t size)
{
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, ip, sizeof(ip));
    snprintf(out, size, "%s:%u", ip, port_of(ss));
}

static void usage(void) __attribute__((noreturn));
static void usage(void)
{
    fputs("usage: fdlaunch --listen IP:PORT --ready FILE --peer FILE [--fds 0,1] [--listen-fds [PID]] -- PROG...\n",
          stderr);
    exit(2);
}

int main(int argc, char **argv)
{
    const char *ready = NULL, *peer = NULL, *fds = "0,1", *listen_pid = NULL;
    bool want[MAX_FD] = {false}, have_listen = false, listen_fds = false;
    struct sockaddr_storage addr, rem, loc;
    socklen_t addrlen = 0, len;
    char buf[256], r[64], l[64];
    int i, lfd, cfd;

    for (i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc) {
            parse_hostport("--listen", argv[++i], 1, &addr, &addrlen);
            if (addr.ss_family != AF_INET)
                die("--listen: an IPv4 address, not \"%s\"", argv[i]);
            have_listen = true;
        } else if (strcmp(argv[i], "--ready") == 0 && i + 1 < argc) {
            ready = argv[++i];
        } else if (strcmp(argv[i], "--peer") == 0 && i + 1 < argc) {
            peer = argv[++i];
        } else if (strcmp(argv[i], "--fds") == 0 && i + 1 < argc) {
            fds = argv[++i];
        } else if (strcmp(argv[i], "--listen-fds") == 0) {
            listen_fds = true;
            if (i + 1 < argc && argv[i + 1][0] >= '0' && argv[i + 1][0] <= '9')
                listen_pid = argv[++i];
        } else {
            die("bad argument %s", argv[i]);
        }
    }
    int cmd = i + 1;
    if (cmd >= argc || !have_listen || ready == NULL || peer == NULL)
        usage();
    for (const char *p = fds; *p;) {
        char *end;
        long n = strtol(p, &end, 10);
        if (end == p || n < 0 || n >= MAX_FD)
            die("bad --fds");
        want[n] = true;
        p = *end == ',' ? end + 1 : end;
    }
    /* fds 0-2 open, so that the sockets get numbers above them */
    for (int nul = open("/dev/null", O_RDWR); nul >= 0 && nul <= 2; nul = open("/dev/null", O_RDWR))
        ;
    lfd = tcp_listener_or_die(&addr, addrlen, 0, 0, -1, 4);
    if (write_file_atomic(ready, "listening\n") != 0)
        fail(ready);
    struct pollfd pfd = {.fd = lfd, .events = POLLIN};
    if (poll(&pfd, 1, 10000) != 1) {
        note("nobody connected");
        return 3;
    }
    len = sizeof(rem);
    if ((cfd = accept4(lfd, (struct sockaddr *)&rem, &len, SOCK_CLOEXEC)) < 0)
        fail("accept");
    len = sizeof(loc);
    if (getsockname(cfd, (struct sockaddr *)&loc, &len) != 0)
        fail("getsockname");
    format_endpoint(&rem, r, sizeof(r));
    format_endpoint(&loc, l, sizeof(l));
    snprintf(buf, sizeof(buf), "remote=%s local=%s\n", r, l);
    if (write_file_atomic(peer, buf) != 0)
        fail(peer);
    close(lfd);
    if (!want[0]) {
        int nul = open("/dev/null", O_RDONLY);
        if (nul < 0 || dup2(nul, SPARE_FD) < 0)
            fail("/dev/null");
        close(nul);
    }
    for (i = 0; i < MAX_FD; i++)
        if (want[i] && (dup2(cfd, i) < 0 || fcntl(i, F_SETFD, 0) != 0))
            fail("dup2");
    if (!want[0] && (dup2(SPARE_FD, 0) < 0 || close(SPARE_FD) != 0))
        fail("dup2 /dev/null");
    for (i = 3; i < 1024; i++)
        if (!(i < MAX_FD && want[i]))
            close(i);
    if (listen_fds) {
        snprintf(buf, sizeof(buf), "%ld", (long)getpid());
        setenv("LISTEN_FDS", "1", 1);
        setenv("LISTEN_PID", listen_pid ? listen_pid : buf, 1);
    }
    execvp(argv[cmd], argv + cmd);
    fail(argv[cmd]);
}
