/* The SYN source (synsource.h): the signatures, the listeners' TCP_SAVE_SYN, the saved SYN. */
#include "synsource.h"

#include "hotmem.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "addr.h"
#include "p0ffp.h"
#include "textfile.h"
#include "tunables.h"

/* Read-only once the constructor loaded it. */
static struct p0ffp_db db;
static bool db_ready;
static char db_unavailable[sizeof(((struct diag *)0)->reason)];

/* Listener numbers already looked at before an accept(): one bit each. A number reused for
 * another listener is set up by synsource_arm_listener() after its first connection. */
static atomic_uint_fast64_t looked_at[SYN_ARM_FDS / 64];

int synsource_load(const struct config *cfg, struct diag *err)
{
    char why[P0FFP_ERROR_MAX];
    p0ffp_db_init(&db);
    for (size_t i = 0; i < cfg->nfp_files; i++) {
        const char *path = cfg->fp_files[i];
        char *text;
        size_t len;
        int rc = text_file_read(path, &text, &len);
        if (rc != 0) {
            snprintf(db_unavailable, sizeof(db_unavailable), "cannot read %.160s: %.80s", path, text_file_strerror(rc));
            snprintf(err->file, sizeof(err->file), "%s", path);
            err->line = 0;
            snprintf(err->reason, sizeof(err->reason), "%s", db_unavailable);
            p0ffp_db_free(&db);
            return -1;
        }
        rc = p0ffp_load_text(&db, path, text, len, why, sizeof(why));
        free(text);
        if (rc != 0) {
            /* "FILE:LINE: reason" (or "FILE: reason"), in p0f's words. */
            const char *after = why + strnlen(why, strlen(path));
            char *end = (char *)after;
            err->line = *after == ':' ? (unsigned)strtoul(after + 1, &end, 10) : 0;
            const char *reason = err->line && end[0] == ':' && end[1] == ' ' ? end + 2 : why;
            snprintf(err->file, sizeof(err->file), "%s", path);
            snprintf(err->reason, sizeof(err->reason), "%.250s", reason);
            snprintf(db_unavailable, sizeof(db_unavailable), "%.250s", why);
            p0ffp_db_free(&db);
            return -1;
        }
    }
    if (p0ffp_request_count(&db) == 0) {
        snprintf(db_unavailable, sizeof(db_unavailable), "no [tcp:request] signatures in the fp_files");
        snprintf(err->file, sizeof(err->file), "%s", cfg->nfp_files ? cfg->fp_files[0] : "");
        err->line = 0;
        snprintf(err->reason, sizeof(err->reason), "%s", db_unavailable);
        return -1;
    }
    db_ready = true;
    db_unavailable[0] = '\0';
    return 0;
}

bool synsource_ready(void)
{
    return db_ready;
}

const char *synsource_unavailable_reason(void)
{
    return db_unavailable;
}

/* The local port of a listening TCP socket, or 0 when fd is none. */
static uint16_t listening_tcp_port(int fd)
{
    int value = 0;
    socklen_t len = sizeof(value);
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &value, &len) != 0 || !value)
        return 0;
    len = sizeof(value);
    if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &value, &len) != 0 || value != IPPROTO_TCP)
        return 0;
    struct sockaddr_storage ss;
    struct endpoint local;
    len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0 || endpoint_from_sockaddr((struct sockaddr *)&ss, len, &local) != 0)
        return 0;
    return local.port;
}

static void arm_if_ours(int fd, const struct config *cfg)
{
    uint16_t port = listening_tcp_port(fd);
    if (port != 0 && config_port_selected(cfg, port)) {
        int on = 1;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_SAVE_SYN, &on, sizeof(on));
    }
}

static void arm_and_mark(int fd, const struct config *cfg)
{
    arm_if_ours(fd, cfg);
    if (fd < SYN_ARM_FDS)
        atomic_fetch_or_explicit(&looked_at[fd / 64], 1ull << (fd % 64), memory_order_relaxed);
}

/* The descriptors open now, from /proc/PID/fd (a directory, not the /proc/self link): a
 * program started once per connection (inetd mode) must not pay a probe of every possible
 * number. Without /proc, every number below the limit (at most SYN_ARM_FDS) is probed. */
void synsource_arm_inherited(const struct config *cfg)
{
    int saved = errno;
    char path[40];
    snprintf(path, sizeof(path), "/proc/%d/fd", (int)getpid());
    DIR *dir = opendir(path);
    if (dir) {
        int own = dirfd(dir);
        for (struct dirent *e = readdir(dir); e; e = readdir(dir)) {
            char *end;
            long fd = strtol(e->d_name, &end, 10);
            if (*e->d_name && *end == '\0' && fd >= 0 && fd <= INT_MAX && fd != own)
                arm_and_mark((int)fd, cfg);
        }
        closedir(dir);
    } else {
        struct rlimit rl;
        int top = SYN_ARM_FDS;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)top)
            top = (int)rl.rlim_cur;
        for (int fd = 0; fd < top; fd++)
            arm_and_mark(fd, cfg);
    }
    errno = saved;
}

void synsource_arm_new_listener(int fd, const struct config *cfg)
{
    int saved = errno;
    if (fd >= 0 && fd < SYN_ARM_FDS)
        atomic_fetch_or_explicit(&looked_at[fd / 64], 1ull << (fd % 64), memory_order_relaxed);
    arm_if_ours(fd, cfg);
    errno = saved;
}

void synsource_arm_before_accept(int fd, const struct config *cfg)
{
    if (fd < 0)
        return;
    if (fd < SYN_ARM_FDS) {
        uint64_t bit = 1ull << (fd % 64);
        if (atomic_load_explicit(&looked_at[fd / 64], memory_order_relaxed) & bit)
            return;
        atomic_fetch_or_explicit(&looked_at[fd / 64], bit, memory_order_relaxed);
    }
    int saved = errno;
    arm_if_ours(fd, cfg);
    errno = saved;
}

void synsource_arm_listener(int listen_fd)
{
    int saved = errno, on = 0;
    socklen_t len = sizeof(on);
    if (getsockopt(listen_fd, IPPROTO_TCP, TCP_SAVE_SYN, &on, &len) == 0 && !on) {
        on = 1;
        (void)setsockopt(listen_fd, IPPROTO_TCP, TCP_SAVE_SYN, &on, sizeof(on));
    }
    errno = saved;
}

void synsource_match(const struct p0ffp_db *sigs, const unsigned char *pkt, size_t len, unsigned flags,
                     struct syn_reading *out)
{
    struct syn_features f;
    const char *why = NULL;
    int rc = synpkt_parse(pkt, len, flags, &f, &why);
    if (rc != 0) {
        out->status = SYN_UNREADABLE;
        snprintf(out->reason, sizeof(out->reason), "%s: %s", rc == SYNPKT_IGNORED ? "not fingerprinted" : "malformed SYN",
                 why ? why : "?");
        return;
    }
    out->status = SYN_MATCHED;
    out->reason[0] = '\0';
    synmatch_packet(sigs, &f, &out->match);
}

void synsource_read(int fd, struct syn_reading *out)
{
    unsigned char syn[SYN_SAVED_MAX];
    socklen_t len = sizeof(syn);
    int saved = errno;

    if (getsockopt(fd, IPPROTO_TCP, TCP_SAVED_SYN, syn, &len) != 0) {
        int err = errno, protocol = 0;
        socklen_t plen = sizeof(protocol);
        /* EINVAL: the SYN is larger than the buffer (the kernel keeps it until the socket
         * closes; nothing reads it again). Multipath TCP keeps no SYN for its sockets: p0f
         * fingerprints its first subflow's. */
        out->status = err == EINVAL ? SYN_UNREADABLE : SYN_NONE;
        if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &protocol, &plen) == 0 && protocol == IPPROTO_SCTP)
            out->status = SYN_NOT_TCP;
        snprintf(out->reason, sizeof(out->reason), "saved SYN: %s", strerror(err));
    } else if (len == 0) {
        out->status = SYN_NONE;
        snprintf(out->reason, sizeof(out->reason), "no saved SYN");
    } else if (!db_ready) {
        out->status = SYN_UNREADABLE;
        snprintf(out->reason, sizeof(out->reason), "no signatures");
    } else {
        synsource_match(&db, syn, len, SYNPKT_HEADERS_ONLY, out);
    }
    errno_restore(saved);
}
