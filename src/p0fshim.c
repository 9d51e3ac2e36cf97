#include "p0fshim.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "altstack.h"
#include "config.h"
#include "engine.h"
#include "hotmem.h"
#include "logfmt.h"
#include "mutant.h"
#include "synsource.h"
#include "sysgate.h"
#include "syslog_writer.h"

static struct config cfg;
/* In hotmem (hotmem.h): every line written inside accept() takes its lock. */
static struct syslog_writer logw_fallback, *logwp = &logw_fallback;
#define logw (*logwp)
static atomic_bool active;
/* The SYN fingerprinter is configured and its signatures loaded. */
static bool syn_active;

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* The name under `programs`: argv[0]'s base name, or the executable's (so both
 * "smtpd" and an interpreter's script name can be named). */
static bool this_program_selected(void)
{
    char exe[PATH_MAX];
    ssize_t n;

    if (cfg.nprograms == 0)
        return true;
    if (config_program_selected(&cfg, program_invocation_short_name))
        return true;
    n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0)
        return false;
    exe[n] = '\0';
    return config_program_selected(&cfg, base_name(exe));
}

static void log_config_error(const struct diag *err, const char *msg)
{
    struct logfmt l;
    logfmt_init(&l);
    logfmt_word(&l, "level", "error");
    logfmt_quoted(&l, "msg", msg);
    logfmt_quoted(&l, "file", err->file);
    if (err->line)
        logfmt_int(&l, "line", err->line);
    logfmt_quoted(&l, "reason", err->reason);
    logfmt_word(&l, "action", "pass_through");
    syslog_writer_send(&logw, LOG_ERR, l.text);
}

/* ucspi-tcp style: TCPREMOTEIP/TCPREMOTEPORT, TCPLOCALIP/TCPLOCALPORT. */
static bool endpoint_from_env(const char *ip_var, const char *port_var, struct endpoint *out)
{
    const char *ip = getenv(ip_var), *port = getenv(port_var);
    char *end;
    if (ip == NULL || port == NULL || endpoint_parse_ip(ip, out) != 0)
        return false;
    unsigned long value = strtoul(port, &end, 10);
    if (*port == '\0' || *end != '\0' || value > 65535)
        return false;
    out->port = (uint16_t)value;
    return true;
}

/* The protocol (TCP, not SCTP) is checked by the worker, as for accepted connections. */
static bool is_connected_stream(int fd)
{
    int type = 0, listening = 1;
    socklen_t len = sizeof(int);
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM)
        return false;
    len = sizeof(int);
    return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 && !listening;
}

/* The SYN's verdict, when the SYN (or, in `fingerprint syn`, its absence) decides; false when
 * p0f is to be asked. *reply: what to do with the connection. */
static bool judged_from_syn(int listen_fd, int fd, const struct endpoint *remote, const struct endpoint *local,
                            enum hold_reply *reply)
{
    struct syn_reading syn;
    if (!syn_active) {
        if (cfg.fingerprint != FINGERPRINT_SYN)
            return false;
        syn.status = SYN_UNREADABLE;
        snprintf(syn.reason, sizeof(syn.reason), "no signatures");
    } else {
        synsource_read(fd, &syn);
        if (syn.status == SYN_NOT_TCP) {
            *reply = HOLD_PASS;
            return true;
        }
        /* The listener may be new under a number already seen: the next ones will have it. */
        if (syn.status == SYN_NONE && listen_fd >= 0)
            synsource_arm_listener(listen_fd);
        if (syn.status == SYN_NONE && cfg.fingerprint != FINGERPRINT_SYN)
            return false;
    }
    *reply = engine_judge_syn(remote, local, &syn, cfg.fingerprint == FINGERPRINT_SYN_P0F);
    return true;
}

/* What an early talker already sent, read away before a refused connection is closed:
 * closed with unread data, the connection would end with a reset, which a client may act on
 * before it reads the reply (Windows drops what it had not read). Bytes that come later still
 * get a reset. MSG_TRUNC: TCP discards them without writing the buffer (which must still be
 * there: other protocols, and valgrind, take it as written). */
static void discard_unread(int fd)
{
    char scratch[REFUSAL_DRAIN_CHUNK];
    for (int i = 0; i < REFUSAL_DRAIN_READS; i++)   /* raw: not cancellation points */
        if (syscall(SYS_recvfrom, fd, scratch, sizeof(scratch), MSG_DONTWAIT | MSG_TRUNC, NULL, NULL) <= 0)
            break;
}

/* A refused connection's reply (if any), sent into an empty socket buffer, never waiting. */
static void send_reply(int fd, enum hold_reply kind)
{
    char reply[256];
    size_t len = engine_reply_text(kind, reply, sizeof(reply));
    if (len > 0)
        (void)syscall(SYS_sendto, fd, reply, len, MSG_DONTWAIT | MSG_NOSIGNAL, NULL, 0);   /* not a cancellation point */
}

/* inetd, xinetd, systemd Accept=yes and tcpserver's child hand the program a connected
 * socket and it never calls accept: judge that connection now. */
static void judge_inherited_connection(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len;
    struct endpoint local, remote;
    bool trust_env = !getauxval(AT_SECURE);

    if (!is_connected_stream(fd))
        return;
    if (!(trust_env && endpoint_from_env("TCPLOCALIP", "TCPLOCALPORT", &local))) {
        len = sizeof(ss);
        if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0 ||
            endpoint_from_sockaddr((struct sockaddr *)&ss, len, &local) != 0)
            return;
    }
    if (!config_port_selected(&cfg, local.port))
        return;
    if (!(trust_env && endpoint_from_env("TCPREMOTEIP", "TCPREMOTEPORT", &remote))) {
        len = sizeof(ss);
        if (getpeername(fd, (struct sockaddr *)&ss, &len) != 0 ||
            endpoint_from_sockaddr((struct sockaddr *)&ss, len, &remote) != 0)
            return;
    }
    enum hold_reply reply;
    if (!judged_from_syn(-1, fd, &remote, &local, &reply)) {
        engine_submit(fd, &remote, &local, false, true);
        return;
    }
    /* The program got this connection before the shim: it sees the refusal as its end. */
    if (reply != HOLD_PASS) {
        send_reply(fd, reply);
        discard_unread(fd);
        shutdown(fd, SHUT_RDWR);
    }
}

/* systemd passes an Accept=yes connection as fd 3, and also as fd 0 and 1 with
 * StandardInput=socket: judge it once. */
static bool systemd_passed_fd3(void)
{
    const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
    struct stat st0, st3;
    if (!(pid && fds && strtol(pid, NULL, 10) == (long)getpid() && strcmp(fds, "1") == 0))
        return false;
    return !(fstat(0, &st0) == 0 && fstat(3, &st3) == 0 && st0.st_dev == st3.st_dev && st0.st_ino == st3.st_ino);
}

/* The SYN fingerprinter's signatures, read now, before the daemon chroots. A file p0f would
 * refuse is a configuration error (false: the library passes everything through); one that
 * cannot be read leaves the SYN source off, and p0f decides (fingerprint syn: nobody does). */
static bool load_signatures(void)
{
    struct diag err = {0};
    if (!config_uses_syn(&cfg) || synsource_load(&cfg, &err) == 0) {
        syn_active = config_uses_syn(&cfg);
        return true;
    }
    if (err.line != 0) {
        log_config_error(&err, "signature file error");
        return false;
    }
    struct logfmt l;
    logfmt_init(&l);
    logfmt_word(&l, "level", "error");
    logfmt_quoted(&l, "msg", cfg.fingerprint == FINGERPRINT_SYN
                                 ? "no signatures: fingerprinting from the SYN is off, every verdict is unknown"
                                 : "no signatures: fingerprinting from the SYN is off, p0f decides");
    logfmt_quoted(&l, "reason", err.reason);
    syslog_writer_send(&logw, LOG_ERR, l.text);
    return true;
}

/* The path the loader opened this library by (its link map's name; no file is read). */
static const char *own_library_path(void)
{
    Dl_info info;
    if (dladdr((void *)p0fshim_init, &info) == 0)
        return NULL;
    return info.dli_fname;
}

/* In a forked child's copy of the writer (hotmem.h). */
static void writer_after_fork_child(void *w)
{
    syslog_writer_after_fork_child(w);
}

void p0fshim_init(void)
{
    int saved = errno;
    struct diag err = {0};
    const char *path = CONFIG_DEFAULT_PATH;
    bool must_exist = false;
    int cancel_state, ignored;

    /* Loaded system-wide, every unlisted process stops here: nothing read, nothing held. */
    if (!sysgate_admits(own_library_path(), program_invocation_short_name)) {
        errno = saved;
        return;
    }
    /* Files are read and sockets opened from here on: never cancelled half-way (a library
     * loaded by dlopen() runs this on any thread of the host's). */
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel_state);

    /* In secure-execution mode the environment belongs to an unprivileged caller. */
    const char *env = getauxval(AT_SECURE) ? NULL : getenv("P0FSHIM_CONFIG");
    if (env && *env) {
        path = env;
        must_exist = true;
    }
    config_init(&cfg);
    struct syslog_writer *hot = hotmem_alloc(sizeof(*hot));
    if (hot)
        logwp = hot;
    syslog_writer_init(&logw);
    hotmem_at_privatise(writer_after_fork_child, logwp);
    /* Timestamps must keep working after the daemon chroots away from /etc/localtime. */
    tzset();
    if (config_load(&cfg, path, must_exist, &err) != 0) {
        syslog_writer_open(&logw, cfg.log_socket, cfg.log_facility);
        log_config_error(&err, "config error");
        /* Pass-through holds nothing: the log socket goes too. */
        syslog_writer_close(&logw);
        config_free(&cfg);
        pthread_setcancelstate(cancel_state, &ignored);
        errno = saved;
        return;
    }
    if (this_program_selected()) {
        syslog_writer_open(&logw, cfg.log_socket, cfg.log_facility);
        if (!load_signatures()) {
            syslog_writer_close(&logw);
            config_free(&cfg);
            pthread_setcancelstate(cancel_state, &ignored);
            errno = saved;
            return;
        }
        engine_setup(&cfg, &logw);
        altstack_init();
        if (syn_active)
            synsource_arm_inherited(&cfg);
        atomic_store(&active, true);
        judge_inherited_connection(0);
        if (systemd_passed_fd3())
            judge_inherited_connection(3);
    }
    pthread_setcancelstate(cancel_state, &ignored);
    errno = saved;
}

void p0fshim_at_exit(void)
{
    if (atomic_load(&active))
        engine_drain_at_exit();
}

/* The answer to a refused connection (hold mode, or the SYN's verdict): the reply, then an
 * orderly close so that the client reads it. */
static void refuse_connection(int fd, enum hold_reply kind)
{
    send_reply(fd, kind);
    shutdown(fd, SHUT_WR);
    discard_unread(fd);
    (void)syscall(SYS_close, fd);   /* not a cancellation point, unlike close() */
}

/* A hold cancelled with the host's thread: the host never got this connection, so it
 * must not leak (the worker's duplicate still takes it to its verdict and line). */
static void close_on_cancel(void *fd)
{
    close(*(int *)fd);
}

static enum hold_reply hold_for_verdict(int fd, struct engine_ticket ticket, int cancel_state)
{
    enum hold_reply reply;
    pthread_cleanup_push(close_on_cancel, &fd);
    reply = engine_wait(ticket, cfg.hold_ms, cancel_state);
    pthread_cleanup_pop(0);
    return reply;
}

void p0fshim_after_listen(int listen_fd)
{
    if (syn_active && atomic_load_explicit(&active, memory_order_acquire))
        synsource_arm_new_listener(listen_fd, &cfg);
}

void p0fshim_before_accept(int listen_fd)
{
    if (syn_active && atomic_load_explicit(&active, memory_order_acquire))
        synsource_arm_before_accept(listen_fd, &cfg);
}

/* What p0fshim_after_accept() hands to the part that may run on the library's own stack. */
struct accepted {
    int listen_fd, fd;
    const struct sockaddr *addr;
    const socklen_t *addrlen;
    socklen_t given_len;
    enum hold_reply reply;   /* out: what to do with the connection */
    bool hold;               /* out: reply is to be waited for (ticket) */
    struct engine_ticket ticket;
    bool cancel_held;        /* cancellation is held off; cancel_state: the host's */
    int cancel_state;
};

/* The host's thread may be cancelled in accept(), never inside the library: its locks and
 * writes (the engine's, the log's, a store's) must never be left half done (engine_wait allows
 * cancellation again while it only waits). Held off before the library's first cancellation
 * point, and only then: a verdict from the SYN without a store reaches none (its sends and
 * closes are raw system calls), and it then leaves the thread's cancellation state, a page a
 * fork-per-connection server's parent would otherwise copy after each fork, unwritten. */
static void hold_off_cancellation(struct accepted *a)
{
    if (!a->cancel_held && !P0FSHIM_MUTANT_CANCELGUARD) {
        pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &a->cancel_state);
        a->cancel_held = true;
    }
}

/* Everything but a hold's wait: it waits for nothing but a store (a Redis answer within
 * store_timeout_ms, an LMDB write's sync), so it may run on altstack.h's stack, with the host's
 * signals held meanwhile. */
static void judge_accepted(void *p)
{
    struct accepted *a = p;
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    struct endpoint local, remote;

    if (getsockname(a->fd, (struct sockaddr *)&ss, &len) != 0 ||
        endpoint_from_sockaddr((struct sockaddr *)&ss, len, &local) != 0)
        return;
    if (!config_port_selected(&cfg, local.port))
        return;
    /* The kernel already wrote the peer into the caller's buffer when it fitted. */
    if (a->addr && a->addrlen && *a->addrlen <= a->given_len) {
        if (endpoint_from_sockaddr(a->addr, *a->addrlen, &remote) != 0)
            return;
    } else {
        len = sizeof(ss);
        if (getpeername(a->fd, (struct sockaddr *)&ss, &len) != 0 ||
            endpoint_from_sockaddr((struct sockaddr *)&ss, len, &remote) != 0)
            return;
    }
    /* From the SYN's verdict, greylisting and karma may ask a store (files, sockets), and
     * syn+p0f hands the line to the worker (its wake-up is a write()). */
    if (cfg.greylist_os || cfg.karma.store.set || cfg.fingerprint == FINGERPRINT_SYN_P0F)
        hold_off_cancellation(a);
    if (!judged_from_syn(a->listen_fd, a->fd, &remote, &local, &a->reply)) {
        hold_off_cancellation(a);
        a->hold = cfg.mode == MODE_HOLD;
        a->ticket = engine_submit(a->fd, &remote, &local, a->hold, false);
        if (a->hold)
            return;
    }
    if (a->reply != HOLD_PASS)
        refuse_connection(a->fd, a->reply);
}

int p0fshim_after_accept(int listen_fd, int fd, const struct sockaddr *addr, const socklen_t *addrlen,
                         socklen_t given_len)
{
    struct accepted a = {listen_fd, fd, addr, addrlen, given_len, HOLD_PASS, false, {0}, false, 0};

    if (!atomic_load_explicit(&active, memory_order_acquire))
        return P0FSHIM_PASS;
    int saved = errno;
    altstack_run(judge_accepted, &a);
    if (a.hold) {
        a.reply = hold_for_verdict(fd, a.ticket, a.cancel_state);
        if (a.reply != HOLD_PASS)
            refuse_connection(fd, a.reply);
    }
    if (a.cancel_held)
        pthread_setcancelstate(a.cancel_state, &a.cancel_state);
    errno_restore(saved);
    return a.reply == HOLD_PASS ? P0FSHIM_PASS : P0FSHIM_CONSUMED;
}

bool p0fshim_close_watched(int fd)
{
    return atomic_load_explicit(&active, memory_order_relaxed) && engine_fd_watched(fd);
}

void p0fshim_after_close(int fd, const struct stat *before)
{
    int saved = errno;
    engine_host_closed(fd, before->st_dev, before->st_ino);
    errno = saved;
}
