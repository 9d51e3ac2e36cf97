/*
 * testclient: connects to testsrv (through p0fshim) and reports whether the connection was
 * served or closed by the shim.
 *
 * CLI:
 *   testclient --connect IP:PORT|[IPv6]:PORT [--bind IP] [--mptcp]
 *              --expect served|closed|eof|first-line=PREFIX [--then eof|quit]
 *              [--timeout-ms N] [--hold-ms N] [--start-file PATH] [--talk-first]
 *
 *   --bind        local source address (port chosen by the kernel), e.g. 127.0.0.2 or ::1.
 *   --mptcp       connect with Multipath TCP (IPPROTO_MPTCP); exit 2 if the kernel has none.
 *   --timeout-ms  connect timeout, the wait for each reply (served), and the wait for EOF from
 *                 the connection's start (closed). Default 2000.
 *   --start-file  wait (up to 30 s) until PATH exists before connecting: clients started one
 *                 by one connect together when the file appears.
 *   --hold-ms     served: pause after the banner, watching for EOF, so that an asynchronous
 *                 block would have landed before the dialog goes on. Default 300.
 *   --talk-first  send "EHLO early.example" at once, before any reply: an early talker, as
 *                 spam software that does not wait for the banner. With --then eof, a reset
 *                 that follows the server's FIN (the server closed with the EHLO unread) is
 *                 reported too: 100 ms after the end, the socket is closed, not half-closed.
 *
 * served: read the 220 banner, hold, then EHLO, MAIL FROM, RCPT TO, DATA (354), a short body
 *         and ".", QUIT (221), each reply code checked; prints `result=served`.
 * closed: read (the banner or anything else is allowed and discarded) until EOF or ECONNRESET;
 *         prints `result=closed ms=N` (ms since the connection was established).
 * first-line=PREFIX: read the FIRST line the server sends (up to LF, within --timeout-ms of the
 *         connection's start) and check that it begins with PREFIX (e.g. "554 5.7.1", "220 ").
 *         Prints `result=first_line ms=N line="TEXT"`: N is ms from the connection's start to
 *         the line's LF, TEXT the line without CR/LF, bytes outside printable ASCII and `"`, `\`
 *         as \xHH. EOF or a reset before any byte: `result=eof ms=N`; EOF inside the first line:
 *         `result=error`. With --then (only after a matching line), appended to the same line:
 *           eof   the server must end the connection (EOF or reset), with no further byte, within
 *                 --timeout-ms of the line: ` then=eof eof_ms=N` (N from the connection's start;
 *                 ` reset=1` follows when it ended with a reset, not a FIN),
 *                 else ` then=data` (more bytes came) or ` then=open`;
 *           quit  send QUIT, expect a 221 reply: ` then=quit code=221`, else ` then=quit code=N`,
 *                 ` then=closed` or ` then=timeout`.
 *         Without --then the client closes the connection after the line.
 * eof:    nothing at all but EOF or a reset within --timeout-ms (a silent close); prints
 *         `result=eof ms=N`, or `result=first_line ...` when a line came first, or `result=open`.
 * Other outcomes on stdout: `result=closed ms=N` (served expected, but the connection was closed),
 * `result=open ms=N` (closed/eof expected, still open at the timeout), `result=timeout`,
 * `result=error` and `result=connect_failed`; details go to stderr.
 * Exit status: 0 the result matches --expect (and --then), 1 it does not, 2 connect failure or
 * misuse.
 */
#include <getopt.h>
#include <netinet/tcp.h>
#include <stdbool.h>

#define HELPER_NAME "testclient"
#include "helper.h"

#define BUF_SIZE 8192

enum rr { RR_OK, RR_CLOSED, RR_TIMEOUT, RR_ERROR };

struct client {
    int fd;
    int64_t t0; /* when the connection was established */
    size_t len;
    bool reset;   /* the connection ended with a reset */
    bool talked;  /* --talk-first */
    char buf[BUF_SIZE];
};

static void usage(void) __attribute__((noreturn));
static void usage(void)
{
    fputs("usage: testclient --connect IP:PORT|[IPv6]:PORT [--bind IP] [--mptcp]\n"
          "                  --expect served|closed|eof|first-line=PREFIX [--then eof|quit]\n"
          "                  [--timeout-ms N (2000)] [--hold-ms N (300)] [--start-file PATH] [--talk-first]\n",
          stderr);
    exit(2);
}

/* Read more bytes into the buffer, waiting until deadline. */
static enum rr fill(struct client *c, int64_t deadline)
{
    for (;;) {
        struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
        ssize_t n;
        int rc;

        if (c->len >= sizeof(c->buf)) {
            note("reply line longer than %d bytes", BUF_SIZE);
            return RR_ERROR;
        }
        rc = poll(&pfd, 1, ms_until(deadline));
        if (rc < 0) {
            if (errno == EINTR)
                continue;
            note("poll: %s", strerror(errno));
            return RR_ERROR;
        }
        if (rc == 0)
            return RR_TIMEOUT;
        n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
        if (n > 0) {
            c->len += (size_t)n;
            return RR_OK;
        }
        if (n == 0)
            return RR_CLOSED;
        if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
            continue;
        if (errno == ECONNRESET || errno == EPIPE || errno == ENOTCONN) {
            note("read: %s", strerror(errno));
            c->reset = errno == ECONNRESET;
            return RR_CLOSED;
        }
        note("read: %s", strerror(errno));
        return RR_ERROR;
    }
}

/* Read one (possibly multi-line) SMTP reply; its code goes to *code. */
static enum rr read_reply(struct client *c, int timeout_ms, int *code)
{
    int64_t deadline = now_ms() + timeout_ms;

    for (;;) {
        char *nl = memchr(c->buf, '\n', c->len);
        if (nl == NULL) {
            enum rr r = fill(c, deadline);
            if (r != RR_OK)
                return r;
            continue;
        }
        size_t linelen = (size_t)(nl - c->buf) + 1;
        char line[BUF_SIZE + 1];
        memcpy(line, c->buf, linelen);
        line[linelen] = '\0';
        memmove(c->buf, nl + 1, c->len - linelen);
        c->len -= linelen;
        if (linelen < 4 || line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '9' ||
            line[2] < '0' || line[2] > '9' || (line[3] != ' ' && line[3] != '-' && line[3] != '\r' &&
                                               line[3] != '\n')) {
            note("malformed reply line: %.*s", (int)strcspn(line, "\r\n"), line);
            return RR_ERROR;
        }
        if (line[3] != '-') {
            *code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
            return RR_OK;
        }
    }
}

static enum rr send_all(struct client *c, const char *s, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    size_t len = strlen(s), off = 0;

    while (off < len) {
        ssize_t w = send(c->fd, s + off, len - off, MSG_NOSIGNAL);
        if (w > 0) {
            off += (size_t)w;
            continue;
        }
        if (w < 0 && (errno == EPIPE || errno == ECONNRESET || errno == ENOTCONN)) {
            note("write: %s", strerror(errno));
            return RR_CLOSED;
        }
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            note("write: %s", strerror(errno));
            return RR_ERROR;
        }
        struct pollfd pfd = {.fd = c->fd, .events = POLLOUT};
        int rc = poll(&pfd, 1, ms_until(deadline));
        if (rc == 0)
            return RR_TIMEOUT;
        if (rc < 0 && errno != EINTR) {
            note("poll: %s", strerror(errno));
            return RR_ERROR;
        }
    }
    return RR_OK;
}

/* Non-blocking connect with a timeout; returns the fd or -1 (reason on stderr). */
static bool use_mptcp;

static int do_connect(const struct sockaddr_storage *to, socklen_t tolen, const struct sockaddr_storage *from,
                      socklen_t fromlen, int timeout_ms)
{
    const char *failed;
    int fd = stream_connect(to, tolen, from, fromlen, use_mptcp ? 262 /* IPPROTO_MPTCP */ : 0, timeout_ms, &failed);

    if (fd < 0 && strcmp(failed, "timeout") == 0)
        note("connect: timed out after %d ms", timeout_ms);
    else if (fd < 0)
        note("%s: %s", failed, strerror(errno));
    return fd;
}

static int ms_since(const struct client *c)
{
    return (int)(now_ms() - c->t0);
}

/* Report a non-served outcome of the served dialog; returns the exit status. */
static int report_failure(struct client *c, enum rr r, const char *step, int code, int want)
{
    switch (r) {
    case RR_CLOSED:
        note("connection closed by the server at step %s", step);
        printf("result=closed ms=%d\n", ms_since(c));
        break;
    case RR_TIMEOUT:
        note("timed out at step %s", step);
        printf("result=timeout\n");
        break;
    case RR_ERROR:
        note("error at step %s", step);
        printf("result=error\n");
        break;
    case RR_OK:
        note("step %s: reply code %d, expected %d", step, code, want);
        printf("result=error\n");
        break;
    }
    return 1;
}

static int run_served(struct client *c, int timeout_ms, int hold_ms)
{
    static const struct {
        const char *name, *text;
        int want;
    } steps[] = {
        {"EHLO", "EHLO testclient.example\r\n", 250},
        {"MAIL", "MAIL FROM:<sender@example.org>\r\n", 250},
        {"RCPT", "RCPT TO:<rcpt@example.net>\r\n", 250},
        {"DATA", "DATA\r\n", 354},
        {"BODY", "Subject: p0fshim test\r\n\r\nhello from testclient\r\n..a dot-stuffed line\r\n.\r\n", 250},
        {"QUIT", "QUIT\r\n", 221},
    };
    int code = 0;
    enum rr r = read_reply(c, timeout_ms, &code);

    if (r != RR_OK || code != 220)
        return report_failure(c, r, "banner", code, 220);

    /* Hold, watching for an EOF from an asynchronous block. */
    int64_t hold_end = now_ms() + hold_ms;
    while (now_ms() < hold_end) {
        r = fill(c, hold_end);
        if (r == RR_TIMEOUT)
            break;
        if (r != RR_OK)
            return report_failure(c, r, "hold", 0, 0);
        note("unexpected data from the server during the hold");
    }

    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        r = send_all(c, steps[i].text, timeout_ms);
        if (r == RR_OK)
            r = read_reply(c, timeout_ms, &code);
        if (r != RR_OK || code != steps[i].want)
            return report_failure(c, r, steps[i].name, code, steps[i].want);
    }
    printf("result=served\n");
    return 0;
}

static int run_closed(struct client *c, int timeout_ms)
{
    int64_t deadline = c->t0 + timeout_ms;

    for (;;) {
        enum rr r = fill(c, deadline);
        switch (r) {
        case RR_OK:
            c->len = 0; /* banner or anything else: allowed, discarded */
            continue;
        case RR_CLOSED:
            printf("result=closed ms=%d\n", ms_since(c));
            return 0;
        case RR_TIMEOUT:
            note("connection still open after %d ms", timeout_ms);
            printf("result=open ms=%d\n", ms_since(c));
            return 1;
        case RR_ERROR:
            printf("result=error\n");
            return 1;
        }
    }
}

/* Prints a line as a logfmt-style quoted value: printable ASCII as is, the rest, `"` and `\`
 * as \xHH. */
static void print_quoted(const char *s, size_t len)
{
    putchar('"');
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x20 || ch > 0x7e || ch == '"' || ch == '\\')
            printf("\\x%02x", ch);
        else
            putchar(ch);
    }
    putchar('"');
}

enum then { THEN_NONE, THEN_EOF, THEN_QUIT };

/* After a matching first line: the server must close (THEN_EOF), or answer QUIT (THEN_QUIT).
 * Appends its part of the result line; returns 0 when it went as expected. */
static int run_then(struct client *c, enum then then, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    int code = 0;
    enum rr r;

    if (then == THEN_EOF) {
        if (c->len > 0) {
            note("more data after the first line: %.*s", (int)strcspn(c->buf, "\r\n"), c->buf);
            printf(" then=data");
            return 1;
        }
        r = fill(c, deadline);
        switch (r) {
        case RR_CLOSED: {
            int eof_ms = ms_since(c);
            if (c->talked && !c->reset) {
                /* A FIN leaves the socket half-closed (CLOSE_WAIT: this side has not closed); a
                 * reset after it, which Linux does not report to a reader past the EOF, closes it. */
                struct tcp_info ti;
                socklen_t len = sizeof(ti);
                usleep(100 * 1000);
                if (getsockopt(c->fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 && ti.tcpi_state == TCP_CLOSE)
                    c->reset = true;
            }
            printf(" then=eof eof_ms=%d%s", eof_ms, c->reset ? " reset=1" : "");
            return 0;
        }
        case RR_OK:
            note("more data after the first line: %.*s", (int)strcspn(c->buf, "\r\n"), c->buf);
            printf(" then=data");
            return 1;
        case RR_TIMEOUT:
            note("connection still open %d ms after the first line", timeout_ms);
            printf(" then=open");
            return 1;
        case RR_ERROR:
            printf(" then=error");
            return 1;
        }
        return 1;
    }
    r = send_all(c, "QUIT\r\n", timeout_ms);
    if (r == RR_OK)
        r = read_reply(c, timeout_ms, &code);
    switch (r) {
    case RR_OK:
        printf(" then=quit code=%d", code);
        return code == 221 ? 0 : 1;
    case RR_CLOSED:
        printf(" then=closed");
        return 1;
    case RR_TIMEOUT:
        printf(" then=timeout");
        return 1;
    case RR_ERROR:
        printf(" then=error");
        return 1;
    }
    return 1;
}

/* first-line=PREFIX (prefix != NULL) and eof (prefix == NULL): what does the server send
 * first? */
static int run_first_line(struct client *c, const char *prefix, enum then then, int timeout_ms)
{
    int64_t deadline = c->t0 + timeout_ms;

    for (;;) {
        char *nl = memchr(c->buf, '\n', c->len);
        if (nl != NULL) {
            size_t linelen = (size_t)(nl - c->buf) + 1, textlen = linelen - 1;
            int ms = ms_since(c), status;
            if (textlen > 0 && c->buf[textlen - 1] == '\r')
                textlen--;
            status = prefix != NULL && strncmp(c->buf, prefix, strlen(prefix)) == 0 && strlen(prefix) <= textlen
                         ? 0
                         : 1;
            if (status != 0)
                note(prefix ? "the first line does not begin with \"%s\"" : "a line came, expected only EOF%s",
                     prefix ? prefix : "");
            printf("result=first_line ms=%d line=", ms);
            print_quoted(c->buf, textlen);
            memmove(c->buf, nl + 1, c->len - linelen);
            c->len -= linelen;
            if (status == 0 && then != THEN_NONE)
                status = run_then(c, then, timeout_ms);
            putchar('\n');
            return status;
        }
        enum rr r = fill(c, deadline);
        switch (r) {
        case RR_OK:
            continue;
        case RR_CLOSED:
            if (c->len > 0) {
                note("EOF inside the first line: %.*s", (int)c->len, c->buf);
                printf("result=error\n");
                return 1;
            }
            printf("result=eof ms=%d\n", ms_since(c));
            return prefix == NULL ? 0 : 1;
        case RR_TIMEOUT:
            if (c->len > 0) {
                note("no complete first line within %d ms", timeout_ms);
                printf("result=timeout\n");
                return 1;
            }
            note("nothing from the server within %d ms", timeout_ms);
            printf(prefix ? "result=timeout\n" : "result=open ms=%d\n", ms_since(c));
            return 1;
        case RR_ERROR:
            printf("result=error\n");
            return 1;
        }
    }
}

int main(int argc, char **argv)
{
    enum {
        OPT_CONNECT = 256, OPT_BIND, OPT_EXPECT, OPT_THEN, OPT_TIMEOUT, OPT_HOLD, OPT_MPTCP, OPT_START, OPT_TALK,
        OPT_HELP
    };
    bool talk_first = false;
    static const struct option opts[] = {
        {"connect", required_argument, NULL, OPT_CONNECT},
        {"bind", required_argument, NULL, OPT_BIND},
        {"expect", required_argument, NULL, OPT_EXPECT},
        {"then", required_argument, NULL, OPT_THEN},
        {"timeout-ms", required_argument, NULL, OPT_TIMEOUT},
        {"hold-ms", required_argument, NULL, OPT_HOLD},
        {"mptcp", no_argument, NULL, OPT_MPTCP},
        {"start-file", required_argument, NULL, OPT_START},
        {"talk-first", no_argument, NULL, OPT_TALK},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
    };
    struct sockaddr_storage to, from;
    socklen_t tolen = 0, fromlen = 0;
    bool have_to = false, have_from = false;
    int expect = -1; /* 0 served, 1 closed, 2 first-line, 3 eof */
    const char *prefix = NULL;
    enum then then = THEN_NONE;
    int timeout_ms = 2000, hold_ms = 300, opt, status;
    const char *start_file = NULL;
    struct client *c;

    opterr = 0;
    while ((opt = getopt_long(argc, argv, "+:", opts, NULL)) != -1) {
        switch (opt) {
        case OPT_CONNECT:
            parse_hostport("--connect", optarg, 1, &to, &tolen);
            have_to = true;
            break;
        case OPT_BIND:
            parse_ip("--bind", optarg, &from, &fromlen);
            have_from = true;
            break;
        case OPT_EXPECT:
            if (strcmp(optarg, "served") == 0)
                expect = 0;
            else if (strcmp(optarg, "closed") == 0)
                expect = 1;
            else if (strncmp(optarg, "first-line=", 11) == 0 && optarg[11] != '\0')
                expect = 2, prefix = optarg + 11;
            else if (strcmp(optarg, "eof") == 0)
                expect = 3;
            else
                die("--expect: served, closed, eof or first-line=PREFIX, not \"%s\"", optarg);
            break;
        case OPT_THEN:
            if (strcmp(optarg, "eof") == 0)
                then = THEN_EOF;
            else if (strcmp(optarg, "quit") == 0)
                then = THEN_QUIT;
            else
                die("--then: eof or quit, not \"%s\"", optarg);
            break;
        case OPT_TIMEOUT:
            timeout_ms = (int)parse_integer("--timeout-ms", optarg, 1, 600000);
            break;
        case OPT_HOLD:
            hold_ms = (int)parse_integer("--hold-ms", optarg, 0, 600000);
            break;
        case OPT_MPTCP:
            use_mptcp = true;
            break;
        case OPT_START:
            start_file = optarg;
            break;
        case OPT_TALK:
            talk_first = true;
            break;
        case OPT_HELP:
            usage();
        default:
            note_bad_option(opt, argv);
            usage();
        }
    }
    if (stray_argument(argc, argv))
        usage();
    if (!have_to || expect < 0) {
        note("--connect and --expect are required");
        usage();
    }
    if (then != THEN_NONE && expect != 2)
        die("--then goes with --expect first-line=PREFIX");
    if (have_from && from.ss_family != to.ss_family)
        die("--bind and --connect addresses are of different families");

    signal(SIGPIPE, SIG_IGN);
    for (int waited_ms = 0; start_file && access(start_file, F_OK) != 0; waited_ms++) {
        if (waited_ms >= 30000)
            die("--start-file %s did not appear within 30 s", start_file);
        usleep(1000);
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        die("out of memory");
    c->fd = do_connect(&to, tolen, have_from ? &from : NULL, fromlen, timeout_ms);
    if (c->fd < 0) {
        printf("result=connect_failed\n");
        free(c);
        return 2;
    }
    c->t0 = now_ms();
    c->talked = talk_first;
    if (talk_first) {
        static const char early[] = "EHLO early.example\r\n";
        if (send(c->fd, early, sizeof(early) - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof(early) - 1))
            note("--talk-first: send: %s", strerror(errno));
    }
    switch (expect) {
    case 0: status = run_served(c, timeout_ms, hold_ms); break;
    case 1: status = run_closed(c, timeout_ms); break;
    default: status = run_first_line(c, prefix, then, timeout_ms); break;
    }
    close(c->fd);
    free(c);
    fflush(stdout);
    return status;
}
