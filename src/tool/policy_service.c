/* p0fshim policy: a Postfix policy delegation server (SMTPD_POLICY_README) that answers
 * "PREPEND X-P0F-Genre: ..." / "PREPEND X-P0F-Link-Type: ..." for the client's address
 * from what p0f v3 says, and DUNNO for everything else: it never rejects or defers mail.
 *
 * Two ways to run:
 *   - under Postfix's spawn(8), on stdin/stdout (one Postfix client per process). spawn
 *     connects stderr to the same socket, so this mode never writes to stderr: it logs to the
 *     configuration's log_socket only, and a configuration that does not load leaves it
 *     answering DUNNO (Postfix would otherwise retry and then use its default_action).
 *   - --socket-listen PATH: a unix-socket server of its own (poll loop, --max-clients). Its
 *     lookups are steps driven by the loop (fphdr_lookup_start ..., p0fq_start ...): p0f's
 *     sockets are polled and the pauses between NOMATCH retries are timers, so no client
 *     waits for another's lookup. One connection's requests are still taken one at a time
 *     (the header a request gets depends on the answers before it) and answered in order.
 *
 * Postfix allows one PREPEND per answer, so each header needs a request of its own: by
 * policy_context ("genre", "link") or by protocol_state (RCPT: genre, DATA/BDAT: link);
 * see postfix_delegation.h. p0f is asked with a short deadline (--timeout, 200 ms); after a p0f
 * timeout, p0f is not asked again for a second (DUNNO meanwhile), so a hung p0f cannot make
 * many queued requests wait one deadline each. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include "args.h"
#include "client/clientconf.h"
#include "client/fphdr.h"
#include "client/postfix_delegation.h"
#include "logfmt.h"
#include "syslog_writer.h"
#include "tool.h"

#define SERVICE_DEFAULT_MAX_CLIENTS 128
#define SERVICE_IDLE_S 600            /* Postfix closes idle policy connections after 300 s */
#define SERVICE_OUT_MAX 4096
#define SERVICE_BREAKER_MS 1000

struct policy_service {
    struct config cfg;
    bool cfg_ok;
    char cfg_error[PATH_MAX + 300];
    unsigned timeout_ms;
    uint64_t p0f_quiet_until;        /* breaker: no p0f queries before this (monotonic ms) */
    struct syslog_writer log;
    bool log_open;
    bool verbose;                    /* --socket-listen: also tell stderr about start and stop */
    const char *tag;                 /* --tag: PREPEND X-P0F-Genre-TAG (header_checks recipe) */
};

static struct policy_service S;
static volatile sig_atomic_t stop_requested;

static void service_usage(FILE *f)
{
    fputs("usage: p0fshim policy [--config FILE] [--socket-listen PATH [--socket-mode OCTAL] [--max-clients N]]\n"
          "                      [--timeout MS] [--tag SECRET]\n"
          "  Postfix policy service: PREPEND X-P0F-Genre / X-P0F-Link-Type from p0f, else DUNNO.\n"
          "  Without --socket-listen it serves one client on stdin/stdout (Postfix's spawn(8)).\n"
          "  --tag SECRET: name the headers X-P0F-Genre-SECRET etc., for the header_checks recipe\n"
          "  that removes client copies and renames these back (see the README).\n",
          f);
}

static void log_line(int severity, const struct logfmt *l)
{
    if (S.log_open)
        syslog_writer_send(&S.log, severity, l->text);
}

static void log_error(const char *msg, const char *reason)
{
    struct logfmt l;
    logfmt_init(&l);
    logfmt_word(&l, "level", "error");
    logfmt_quoted(&l, "msg", msg);
    logfmt_quoted(&l, "reason", reason);
    log_line(LOG_ERR, &l);
    if (S.verbose)
        fprintf(stderr, "p0fshim policy: %s: %s\n", msg, reason);
}

/* The first half of a request: the header it gets (HDR_NONE: DUNNO, nothing to log), and
 * whether p0f is to be asked about its client; false with a header: the breaker is on and
 * *v says so. */
static bool request_needs_p0f(const struct delegation_request *req, const struct delegation_memory *mem,
                              enum hdr_kind *h, struct fphdr_values *v)
{
    *h = delegation_choose(req, mem);
    if (*h == HDR_NONE || !S.cfg_ok) {
        *h = HDR_NONE;
        return false;
    }
    if (fphdr_now_ms() < S.p0f_quiet_until) {
        memset(v, 0, sizeof(*v));
        v->status = FPHDR_ERROR;
        snprintf(v->reason, sizeof(v->reason), "p0f timed out less than %d ms ago: not asked", SERVICE_BREAKER_MS);
        return false;
    }
    return true;
}

/* The second half: the answer's text in out from what p0f said (v), the connection's memory,
 * the breaker, the log line. */
static size_t request_answer(const struct delegation_request *req, struct delegation_memory *mem, enum hdr_kind h,
                             const struct fphdr_values *v, char *out, size_t size)
{
    if (h == HDR_NONE)
        return delegation_answer(HDR_NONE, "", NULL, out, size);
    if (v->status == FPHDR_ERROR && strcmp(v->reason, "p0f timeout") == 0)
        S.p0f_quiet_until = fphdr_now_ms() + SERVICE_BREAKER_MS;
    const char *value = fphdr_value(v, h);
    size_t n = delegation_answer(h, value, S.tag, out, size);
    bool prepended = strncmp(out, "action=PREPEND", 14) == 0;
    if (prepended)
        delegation_remember(req, mem, h);

    /* One log line per question asked (add_headers false: nothing to say). */
    if (v->status != FPHDR_OFF) {
        struct logfmt l;
        logfmt_init(&l);
        logfmt_word(&l, "mta", "postfix-policy");
        logfmt_quoted(&l, "client", req->client_address);
        logfmt_quoted(&l, "state", req->protocol_state);
        logfmt_word(&l, "header", hdr_name(h));
        logfmt_word(&l, "action", prepended ? "prepend" : "dunno");
        if (prepended)
            logfmt_quoted(&l, "value", value);
        logfmt_word(&l, "p0f", fphdr_status_word(v->status));
        logfmt_int(&l, "ms", v->elapsed_ms);
        if (v->reason[0])
            logfmt_quoted(&l, "reason", v->reason);
        log_line(v->status == FPHDR_ERROR ? LOG_WARNING : LOG_INFO, &l);
    }
    return n;
}

/* One complete request, p0f asked with a blocking lookup: the answer's text in out. */
static size_t handle_request(const struct delegation_request *req, struct delegation_memory *mem, char *out,
                             size_t size)
{
    enum hdr_kind h;
    struct fphdr_values v;
    if (request_needs_p0f(req, mem, &h, &v))
        fphdr_lookup(&S.cfg, req->client_address, S.timeout_ms, &v);
    return request_answer(req, mem, h, &v, out, size);
}

static int write_all(int fd, const char *buf, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, buf, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        buf += w;
        n -= (size_t)w;
    }
    return 0;
}

/* ---- stdin/stdout: one client, under spawn(8) -------------------------------------------- */

static int serve_stdio(void)
{
    struct delegation_parser *p = calloc(1, sizeof(*p));
    struct delegation_memory mem = {{0}, {0}};
    char buf[4096], answer[256];
    if (p == NULL)
        return 1;
    delegation_init(p);
    for (;;) {
        ssize_t got = read(STDIN_FILENO, buf, sizeof(buf));
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        size_t off = 0;
        while (off < (size_t)got) {
            bool complete;
            off += delegation_feed(p, buf + off, (size_t)got - off, &complete);
            if (!complete)
                continue;
            size_t n = handle_request(&p->req, &mem, answer, sizeof(answer));
            delegation_next_request(p);
            if (write_all(STDOUT_FILENO, answer, n) != 0) {
                free(p);
                return 0;
            }
        }
    }
    free(p);
    return 0;
}

/* ---- --socket-listen: a poll loop over a bounded set of clients -------------------------- */

/* Answers are at most this long (delegation_answer's bound); a request is taken only when its
 * answer fits in the output buffer, so a client that does not read is not read from either. */
#define SERVICE_ANSWER_MAX 256

struct client {
    int fd;
    struct delegation_parser parser;
    struct delegation_memory mem;
    char in[4096];                   /* received, not yet fed to the parser */
    size_t in_off, in_len;
    bool eof;                        /* the client closed its side: answer what it asked, then drop it */
    char out[SERVICE_OUT_MAX];
    size_t out_len;
    uint64_t last_active;
    /* The request being looked up (parser.req), when busy: */
    bool busy;
    enum hdr_kind header;
    enum fphdr_step step;
    struct fphdr_lookup lookup;
    bool asking;                     /* step ASK with the query below under way */
    struct p0fq_pending query;
};

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static int listen_on(const char *path, mode_t mode)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    struct stat st;
    if (strlen(path) >= sizeof(sun.sun_path)) {
        fprintf(stderr, "p0fshim policy: socket path %s is too long\n", path);
        return -1;
    }
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            fprintf(stderr, "p0fshim policy: %s exists and is not a socket; not replacing it\n", path);
            return -1;
        }
        unlink(path);
    }
    memcpy(sun.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        fprintf(stderr, "p0fshim policy: socket(): %s\n", strerror(errno));
        return -1;
    }
    /* The socket is made with its mode (bind applies the umask): a chmod(path) afterwards
     * would follow a symlink swapped in meanwhile, and as root change any file's mode. Still
     * single-threaded here, so the umask is nobody else's. */
    mode_t old = umask(~mode & 0777);
    int rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
    umask(old);
    if (rc != 0 || listen(fd, 128) != 0) {
        fprintf(stderr, "p0fshim policy: cannot listen on %s: %s\n", path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static void drop_client(struct client **c)
{
    if ((*c)->asking)
        p0fq_abandon(&(*c)->query);
    close((*c)->fd);
    free(*c);
    *c = NULL;
}

/* The request in c->parser.req is decided (v): its answer goes to the output buffer. */
static void client_answer(struct client *c, const struct fphdr_values *v)
{
    char answer[SERVICE_ANSWER_MAX];
    size_t n = request_answer(&c->parser.req, &c->mem, c->header, v, answer, sizeof(answer));
    delegation_next_request(&c->parser);
    memcpy(c->out + c->out_len, answer, n);
    c->out_len += n;
    c->busy = false;
}

/* Takes the lookup as far as it goes without waiting; p0f_ready: its socket polled ready. */
static void client_lookup(struct client *c, bool p0f_ready)
{
    while (c->busy) {
        if (c->step == FPHDR_STEP_DONE) {
            client_answer(c, &c->lookup.values);
            return;
        }
        if (c->step == FPHDR_STEP_WAIT) {
            uint64_t now = fphdr_now_ms();
            if (now < c->lookup.wake_at_ms)
                return;
            c->step = fphdr_lookup_wake(&c->lookup, now);
            continue;
        }
        if (!c->asking) {
            c->asking = true;
            if (!p0fq_start(&c->query, S.cfg.v3.socket_path, &c->lookup.ip, c->lookup.ask_ms))
                return;
        } else {
            if (!p0f_ready && p0fq_now_us() < p0fq_wake_us(&c->query))
                return;
            if (!p0fq_continue(&c->query))
                return;
        }
        c->asking = false;
        p0f_ready = false;
        c->step = fphdr_lookup_answer(&c->lookup, &S.cfg, &c->query.r, fphdr_now_ms());
    }
}

/* Starts the requests complete in the received bytes, one at a time: the header a request
 * gets depends on the answers before it on this connection. */
static void client_take_requests(struct client *c)
{
    while (!c->busy && c->in_off < c->in_len && c->out_len + SERVICE_ANSWER_MAX <= sizeof(c->out)) {
        bool complete;
        c->in_off += delegation_feed(&c->parser, c->in + c->in_off, c->in_len - c->in_off, &complete);
        if (!complete)
            continue;
        struct fphdr_values v;
        c->busy = true;
        if (!request_needs_p0f(&c->parser.req, &c->mem, &c->header, &v)) {
            client_answer(c, &v);
            continue;
        }
        c->step = fphdr_lookup_start(&c->lookup, &S.cfg, c->parser.req.client_address, S.timeout_ms, fphdr_now_ms());
        client_lookup(c, false);
    }
    if (c->in_off == c->in_len)
        c->in_off = c->in_len = 0;
}

/* Reads once, when everything received before is parsed. -1: drop the client. */
static int client_read(struct client *c, uint64_t now)
{
    ssize_t got;
    do
        got = recv(c->fd, c->in, sizeof(c->in), 0);
    while (got < 0 && errno == EINTR);
    if (got < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
    if (got == 0)
        c->eof = true;
    c->in_off = 0;
    c->in_len = (size_t)got;
    c->last_active = now;
    return 0;
}

static int client_flush(struct client *c)
{
    while (c->out_len > 0) {
        ssize_t w = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        if (w <= 0)
            return -1;
        memmove(c->out, c->out + w, c->out_len - (size_t)w);
        c->out_len -= (size_t)w;
    }
    return 0;
}

static bool client_wants_input(const struct client *c)
{
    return !c->eof && !c->busy && c->in_off == c->in_len;
}

/* When the client's lookup has to be looked at again (UINT64_MAX: not waiting for time). */
static uint64_t client_wake_ms(const struct client *c)
{
    if (!c->busy)
        return UINT64_MAX;
    if (c->asking)
        return (p0fq_wake_us(&c->query) + 999) / 1000;
    if (c->step == FPHDR_STEP_WAIT)
        return c->lookup.wake_at_ms;
    return 0;
}

static int serve_socket(const char *path, mode_t mode, unsigned max_clients)
{
    int lfd = listen_on(path, mode);
    if (lfd < 0)
        return 1;
    struct client **clients = calloc(max_clients, sizeof(*clients));
    /* The listener, then each client's socket and its p0f query's. */
    struct pollfd *pfd = calloc(2 * (size_t)max_clients + 1, sizeof(*pfd));
    unsigned *client_pfd = calloc(max_clients, sizeof(*client_pfd));
    unsigned *p0f_pfd = calloc(max_clients, sizeof(*p0f_pfd));   /* 0: no query polled */
    if (clients == NULL || pfd == NULL || client_pfd == NULL || p0f_pfd == NULL) {
        fprintf(stderr, "p0fshim policy: out of memory\n");
        return 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct logfmt l;
    logfmt_init(&l);
    logfmt_word(&l, "level", "info");
    logfmt_quoted(&l, "msg", "policy service listening");
    logfmt_quoted(&l, "socket", path);
    logfmt_int(&l, "max_clients", max_clients);
    logfmt_word(&l, "add_headers", S.cfg.add_headers ? "true" : "false");
    log_line(LOG_INFO, &l);
    fprintf(stderr, "p0fshim policy: listening on %s (p0f %s, timeout %u ms, add_headers %s)\n", path,
            S.cfg.v3.enabled ? S.cfg.v3.socket_path : "(no v3 source)", S.timeout_ms,
            S.cfg.add_headers ? "true" : "false");

    unsigned refused = 0;
    while (!stop_requested) {
        unsigned n = 0, nclients = 0;
        uint64_t wake = fphdr_now_ms() + 1000;    /* idle clients are looked at every second */
        pfd[n++] = (struct pollfd){.fd = lfd, .events = POLLIN};
        for (unsigned i = 0; i < max_clients; i++) {
            struct client *c = clients[i];
            p0f_pfd[i] = 0;
            if (c == NULL)
                continue;
            nclients++;
            client_pfd[i] = n;
            pfd[n++] = (struct pollfd){.fd = c->fd,
                                       .events = (client_wants_input(c) ? POLLIN : 0) | (c->out_len ? POLLOUT : 0)};
            short p0f_events = c->asking ? p0fq_poll_events(&c->query) : 0;
            if (p0f_events) {
                p0f_pfd[i] = n;
                pfd[n++] = (struct pollfd){.fd = c->query.fd, .events = p0f_events};
            }
            uint64_t w = client_wake_ms(c);
            if (w < wake)
                wake = w;
        }
        uint64_t before = fphdr_now_ms();
        int rc = poll(pfd, n, wake > before ? (int)(wake - before) : 0);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc < 0) {
            fprintf(stderr, "p0fshim policy: poll(): %s\n", strerror(errno));
            break;
        }
        uint64_t now = fphdr_now_ms();
        for (unsigned i = 0; i < max_clients; i++) {
            struct client *c = clients[i];
            if (c == NULL)
                continue;
            short re = pfd[client_pfd[i]].revents;
            /* POLLHUP: the client closed the connection altogether; no answer can reach it. */
            if ((re & (POLLHUP | POLLERR)) && !client_wants_input(c)) {
                drop_client(&clients[i]);
                continue;
            }
            if ((re & (POLLIN | POLLHUP | POLLERR)) && client_wants_input(c) && client_read(c, now) != 0) {
                drop_client(&clients[i]);
                continue;
            }
            if (c->busy)
                client_lookup(c, p0f_pfd[i] && pfd[p0f_pfd[i]].revents);
            client_take_requests(c);
            if (client_flush(c) != 0) {
                drop_client(&clients[i]);
                continue;
            }
            bool finished = c->eof && !c->busy && c->in_len == 0 && c->out_len == 0;
            if (finished || c->last_active + (uint64_t)SERVICE_IDLE_S * 1000u < now)
                drop_client(&clients[i]);
        }
        if (pfd[0].revents & POLLIN) {
            for (;;) {
                int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
                if (fd < 0)
                    break;
                unsigned slot = max_clients;
                for (unsigned i = 0; i < max_clients; i++)
                    if (clients[i] == NULL) {
                        slot = i;
                        break;
                    }
                struct client *c = slot < max_clients ? calloc(1, sizeof(*c)) : NULL;
                if (c == NULL) {
                    /* Full: closing at once lets Postfix fall back to its default_action now
                     * (DUNNO, as documented) instead of waiting in the backlog. */
                    close(fd);
                    if (refused++ % 100 == 0) {
                        char why[64];
                        snprintf(why, sizeof(why), "%u clients connected (--max-clients)", nclients);
                        log_error("policy client refused", why);
                    }
                    continue;
                }
                c->fd = fd;
                delegation_init(&c->parser);
                c->last_active = now;
                clients[slot] = c;
                nclients++;
            }
        }
    }
    for (unsigned i = 0; i < max_clients; i++)
        if (clients[i])
            drop_client(&clients[i]);
    close(lfd);
    unlink(path);
    free(clients);
    free(pfd);
    free(client_pfd);
    free(p0f_pfd);
    fprintf(stderr, "p0fshim policy: stopped\n");
    return 0;
}

int cmd_policy_service(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},        {"socket-listen", required_argument, NULL, 'l'},
        {"socket-mode", required_argument, NULL, 'm'},   {"max-clients", required_argument, NULL, 'n'},
        {"timeout", required_argument, NULL, 't'},       {"help", no_argument, NULL, 'h'},
        {"tag", required_argument, NULL, 'g'},           {NULL, 0, NULL, 0},
    };
    const char *config_given = NULL, *listen_path = NULL;
    unsigned long timeout_ms = FPHDR_DEFAULT_TIMEOUT_MS, max_clients = SERVICE_DEFAULT_MAX_CLIENTS;
    unsigned long mode = 0666;
    int opt;

    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (opt) {
        case 'c': config_given = optarg; break;
        case 'l': listen_path = optarg; break;
        case 'g':
            if (!delegation_tag_valid(optarg)) {
                fprintf(stderr, "p0fshim policy: --tag wants 1 to %d letters and digits\n", DELEGATION_TAG_MAX);
                return EXIT_USAGE;
            }
            S.tag = optarg;
            break;
        case 'm': {
            char *end;
            errno = 0;
            mode = strtoul(optarg, &end, 8);
            if (errno || *end || optarg[0] == '\0' || mode > 0777) {
                fprintf(stderr, "p0fshim policy: --socket-mode wants an octal mode such as 0660\n");
                return EXIT_USAGE;
            }
            break;
        }
        case 'n':
            if (parse_ulong_arg(optarg, 1, 4096, &max_clients) != 0) {
                fprintf(stderr, "p0fshim policy: --max-clients wants a number from 1 to 4096\n");
                return EXIT_USAGE;
            }
            break;
        case 't':
            if (parse_ulong_arg(optarg, 1, 10000, &timeout_ms) != 0) {
                fprintf(stderr, "p0fshim policy: --timeout wants milliseconds from 1 to 10000\n");
                return EXIT_USAGE;
            }
            break;
        case 'h': service_usage(stdout); return 0;
        case ':': fprintf(stderr, "p0fshim policy: %s needs a value\n", argv[optind - 1]); return EXIT_USAGE;
        default:
            fprintf(stderr, "p0fshim policy: unknown option %s\n", argv[optind - 1]);
            service_usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind != argc) {
        service_usage(stderr);
        return EXIT_USAGE;
    }

    S.timeout_ms = (unsigned)timeout_ms;
    S.verbose = listen_path != NULL;
    struct diag err;
    memset(&err, 0, sizeof(err));
    S.cfg_ok = clientconf_load(config_given, &S.cfg, &err) == 0;
    syslog_writer_init(&S.log);
    /* A configuration that does not parse still names a log socket only if it got that far:
     * fall back to the default then. */
    syslog_writer_open(&S.log, S.cfg_ok ? S.cfg.log_socket : "/dev/log", S.cfg_ok ? S.cfg.log_facility : LOG_MAIL);
    S.log_open = true;
    if (!S.cfg_ok) {
        char why[PATH_MAX + 300];
        if (err.line)
            snprintf(why, sizeof(why), "%s:%u: %s", err.file, err.line, err.reason);
        else
            snprintf(why, sizeof(why), "%s: %s", err.file, err.reason);
        log_error("config error, answering DUNNO to everything", why);
        if (listen_path)
            return EXIT_CONFIG;
    }

    if (listen_path)
        return serve_socket(listen_path, (mode_t)mode, (unsigned)max_clients);

    /* spawn(8) connects stderr to Postfix's socket: nothing may ever be written there. */
    int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (devnull >= 0) {
        dup2(devnull, STDERR_FILENO);
        if (devnull != STDERR_FILENO)
            close(devnull);
    }
    signal(SIGPIPE, SIG_IGN);
    return serve_stdio();
}
