/* p0fshim-milter: the fingerprint headers (X-P0F-Genre, X-P0F-Link-Type) through the milter
 * protocol, for Sendmail and Postfix (smtpd_milters), with Debian's libmilter.
 *
 *   connect  the client's address -> p0f v3 (the configuration's source, short deadline)
 *   header   copies of either header the client sent are counted
 *   eom      every counted copy is removed (smfi_chgheader with a NULL value, last first),
 *            then X-P0F-Genre and X-P0F-Link-Type are inserted at the top (smfi_insheader
 *            at index 0 and 1; smfi_addheader where the MTA cannot insert), each only
 *            when non-empty
 *
 * The same values as `p0fshim policy` and the shim's log line (genre = "os flavor", link =
 * p0f's link type), sanitised. Every callback answers CONTINUE: p0f down, a bad address, a
 * failed header edit or anything else never rejects or defers mail. add_headers false:
 * nothing is removed or added. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <libmilter/mfapi.h>

#include "client/clientconf.h"
#include "client/fphdr.h"
#include "logfmt.h"
#include "syslog_writer.h"

#define MILTER_NAME "p0fshim-milter"
#define EXIT_USAGE 2
#define EXIT_CONFIG 5

static struct config cfg;
static unsigned timeout_ms = FPHDR_DEFAULT_TIMEOUT_MS;
static struct syslog_writer logw;

/* Per SMTP connection. */
struct conn {
    char client[ENDPOINT_TEXT_MAX];  /* the address asked about, "" when the MTA gave none */
    struct fphdr_values v;
    unsigned genre_seen, link_seen;  /* copies sent by the client in the current message */
};

static void log_values(const struct conn *c, const char *what, unsigned removed, bool added_genre, bool added_link)
{
    struct logfmt l;
    logfmt_init(&l);
    logfmt_word(&l, "mta", "milter");
    logfmt_quoted(&l, "client", c->client);
    logfmt_word(&l, "event", what);
    logfmt_word(&l, "p0f", fphdr_status_word(c->v.status));
    if (added_genre)
        logfmt_quoted(&l, "genre", c->v.genre);
    if (added_link)
        logfmt_quoted(&l, "link", c->v.link);
    if (removed)
        logfmt_int(&l, "removed", removed);
    logfmt_int(&l, "ms", c->v.elapsed_ms);
    if (c->v.reason[0])
        logfmt_quoted(&l, "reason", c->v.reason);
    syslog_writer_send(&logw, c->v.status == FPHDR_ERROR ? LOG_WARNING : LOG_INFO, l.text);
}

static sfsistat on_connect(SMFICTX *ctx, char *hostname, _SOCK_ADDR *hostaddr)
{
    (void)hostname;
    struct conn *c = smfi_getpriv(ctx);
    if (c == NULL) {
        c = calloc(1, sizeof(*c));
        if (c == NULL)
            return SMFIS_ACCEPT;     /* no memory: leave this connection alone */
        smfi_setpriv(ctx, c);
    }
    memset(c, 0, sizeof(*c));
    struct endpoint ep;
    if (hostaddr == NULL ||
        endpoint_from_sockaddr(hostaddr, hostaddr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                                         : sizeof(struct sockaddr_in),
                               &ep) != 0) {
        /* A local submission (no address) or a family p0f does not know. */
        fphdr_lookup(&cfg, NULL, timeout_ms, &c->v);
    } else {
        endpoint_format_ip(&ep, c->client, sizeof(c->client));
        fphdr_lookup(&cfg, c->client, timeout_ms, &c->v);
    }
    if (c->v.status != FPHDR_OFF)
        log_values(c, "connect", 0, c->v.genre[0] != '\0', c->v.link[0] != '\0');
    return SMFIS_CONTINUE;
}

static sfsistat on_envfrom(SMFICTX *ctx, char **argv)
{
    (void)argv;
    struct conn *c = smfi_getpriv(ctx);
    if (c) {
        c->genre_seen = 0;
        c->link_seen = 0;
    }
    return SMFIS_CONTINUE;
}

static sfsistat on_header(SMFICTX *ctx, char *name, char *value)
{
    (void)value;
    struct conn *c = smfi_getpriv(ctx);
    if (c == NULL || name == NULL)
        return SMFIS_CONTINUE;
    if (strcasecmp(name, HDR_GENRE_NAME) == 0)
        c->genre_seen++;
    else if (strcasecmp(name, HDR_LINK_NAME) == 0)
        c->link_seen++;
    return SMFIS_CONTINUE;
}

/* Removes copies n..1 of a header (the last first, so no index moves under us). */
static unsigned remove_copies(SMFICTX *ctx, const char *name, unsigned n)
{
    unsigned removed = 0;
    for (unsigned i = n; i >= 1; i--)
        if (smfi_chgheader(ctx, (char *)name, (int)i, NULL) == MI_SUCCESS)
            removed++;
    return removed;
}

static bool put_header(SMFICTX *ctx, int index, const char *name, const char *value)
{
    if (smfi_insheader(ctx, index, (char *)name, (char *)value) == MI_SUCCESS)
        return true;
    return smfi_addheader(ctx, (char *)name, (char *)value) == MI_SUCCESS;
}

static sfsistat on_eom(SMFICTX *ctx)
{
    struct conn *c = smfi_getpriv(ctx);
    if (c == NULL || c->v.status == FPHDR_OFF)
        return SMFIS_CONTINUE;
    unsigned removed = remove_copies(ctx, HDR_GENRE_NAME, c->genre_seen);
    removed += remove_copies(ctx, HDR_LINK_NAME, c->link_seen);
    bool g = false, l = false;
    int index = 0;
    if (c->v.status == FPHDR_OK && c->v.genre[0]) {
        g = put_header(ctx, index, HDR_GENRE_NAME, c->v.genre);
        index += g;
    }
    if (c->v.status == FPHDR_OK && c->v.link[0])
        l = put_header(ctx, index, HDR_LINK_NAME, c->v.link);
    if (g || l || removed)
        log_values(c, "eom", removed, g, l);
    c->genre_seen = 0;
    c->link_seen = 0;
    return SMFIS_CONTINUE;
}

static sfsistat on_abort(SMFICTX *ctx)
{
    struct conn *c = smfi_getpriv(ctx);
    if (c) {
        c->genre_seen = 0;
        c->link_seen = 0;
    }
    return SMFIS_CONTINUE;
}

static sfsistat on_close(SMFICTX *ctx)
{
    struct conn *c = smfi_getpriv(ctx);
    free(c);
    smfi_setpriv(ctx, NULL);
    return SMFIS_CONTINUE;
}

/* Only what is needed: connect, MAIL (a new message), headers, end of message. */
static sfsistat on_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1, unsigned long f2,
                             unsigned long f3, unsigned long *pf0, unsigned long *pf1, unsigned long *pf2,
                             unsigned long *pf3)
{
    (void)ctx;
    (void)f2;
    (void)f3;
    *pf0 = f0 & (SMFIF_ADDHDRS | SMFIF_CHGHDRS);
    *pf1 = f1 & (SMFIP_NOHELO | SMFIP_NORCPT | SMFIP_NOBODY | SMFIP_NOUNKNOWN | SMFIP_NODATA | SMFIP_NOEOH);
    *pf2 = 0;
    *pf3 = 0;
    return SMFIS_CONTINUE;
}

static struct smfiDesc desc = {
    .xxfi_name = MILTER_NAME,
    .xxfi_version = SMFI_VERSION,
    .xxfi_flags = SMFIF_ADDHDRS | SMFIF_CHGHDRS,
    .xxfi_connect = on_connect,
    .xxfi_envfrom = on_envfrom,
    .xxfi_header = on_header,
    .xxfi_eom = on_eom,
    .xxfi_abort = on_abort,
    .xxfi_close = on_close,
    .xxfi_negotiate = on_negotiate,
};

static void usage(FILE *f)
{
    fputs("usage: p0fshim-milter --socket SPEC [--config FILE] [--timeout MS] [--socket-mode OCTAL]\n"
          "  SPEC: unix:/path/to/socket or inet:PORT@127.0.0.1 (libmilter's syntax)\n"
          "  Runs in the foreground; adds X-P0F-Genre and X-P0F-Link-Type, removes forged copies.\n",
          f);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"socket", required_argument, NULL, 's'},  {"config", required_argument, NULL, 'c'},
        {"timeout", required_argument, NULL, 't'}, {"socket-mode", required_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    const char *spec = NULL, *config_path = NULL;
    unsigned long mode = 0666, number;
    int opt;
    char *end;

    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (opt) {
        case 's': spec = optarg; break;
        case 'c': config_path = optarg; break;
        case 't':
            errno = 0;
            /* Range-checked before it is narrowed: 4294967297 must not become 1 ms. */
            number = strtoul(optarg, &end, 10);
            if (errno || *end || optarg[0] < '0' || optarg[0] > '9' || number < 1 || number > 10000) {
                fprintf(stderr, MILTER_NAME ": --timeout wants milliseconds from 1 to 10000\n");
                return EXIT_USAGE;
            }
            timeout_ms = (unsigned)number;
            break;
        case 'm':
            errno = 0;
            mode = strtoul(optarg, &end, 8);
            if (errno || *end || optarg[0] == '\0' || mode > 0777) {
                fprintf(stderr, MILTER_NAME ": --socket-mode wants an octal mode such as 0660\n");
                return EXIT_USAGE;
            }
            break;
        case 'h': usage(stdout); return 0;
        case ':': fprintf(stderr, MILTER_NAME ": %s needs a value\n", argv[optind - 1]); return EXIT_USAGE;
        default: fprintf(stderr, MILTER_NAME ": unknown option %s\n", argv[optind - 1]); usage(stderr); return EXIT_USAGE;
        }
    }
    if (spec == NULL || optind != argc) {
        usage(stderr);
        return EXIT_USAGE;
    }

    struct diag err;
    memset(&err, 0, sizeof(err));
    if (clientconf_load(config_path, &cfg, &err) != 0) {
        if (err.line)
            fprintf(stderr, MILTER_NAME ": %s:%u: %s\n", err.file, err.line, err.reason);
        else
            fprintf(stderr, MILTER_NAME ": %s: %s\n", err.file, err.reason);
        return EXIT_CONFIG;
    }
    syslog_writer_init(&logw);
    syslog_writer_open(&logw, cfg.log_socket, cfg.log_facility);
    signal(SIGPIPE, SIG_IGN);

    if (smfi_setconn((char *)spec) != MI_SUCCESS || smfi_register(desc) != MI_SUCCESS) {
        fprintf(stderr, MILTER_NAME ": cannot use %s\n", spec);
        return 1;
    }
    const char *path = NULL;
    if (strncmp(spec, "unix:", 5) == 0)
        path = spec + 5;
    else if (strncmp(spec, "local:", 6) == 0)
        path = spec + 6;
    /* libmilter replaces what stat() calls a socket, following a symlink to find out: only a
     * socket itself is replaced here, never a symlink or another file. */
    struct stat st;
    if (path && lstat(path, &st) == 0 && !S_ISSOCK(st.st_mode)) {
        fprintf(stderr, MILTER_NAME ": %s exists and is not a socket; not replacing it\n", path);
        return 1;
    }
    /* The socket is made with its mode (bind applies the umask): a chmod(path) afterwards
     * would follow a symlink swapped in meanwhile, and as root change any file's mode. No
     * thread runs yet, so the umask is nobody else's. */
    mode_t old_umask = umask(~(mode_t)mode & 0777);
    bool opened = smfi_opensocket(true) == MI_SUCCESS;
    umask(old_umask);
    if (!opened) {
        fprintf(stderr, MILTER_NAME ": cannot listen on %s\n", spec);
        return 1;
    }
    fprintf(stderr, MILTER_NAME ": listening on %s (p0f %s, timeout %u ms, add_headers %s)\n", spec,
            cfg.v3.enabled ? cfg.v3.socket_path : "(no v3 source)", timeout_ms, cfg.add_headers ? "true" : "false");
    struct logfmt l;
    logfmt_init(&l);
    logfmt_word(&l, "level", "info");
    logfmt_quoted(&l, "msg", "milter listening");
    logfmt_quoted(&l, "socket", spec);
    logfmt_word(&l, "add_headers", cfg.add_headers ? "true" : "false");
    syslog_writer_send(&logw, LOG_INFO, l.text);
    int rc = smfi_main();
    if (path)
        unlink(path);
    return rc == MI_SUCCESS ? 0 : 1;
}
