/* p0fshim lint: every problem in the configuration and the blocked-OS file, with file,
 * line and reason, in the manner of TCP Wrappers' tcpdchk. config_parse and
 * policy_parse_blocked stop at the first error: lint parses again with each bad line
 * blanked out (line numbers stay put) until the text parses, so every error is reported,
 * including those that depend on other lines, in the core's own words. Then it warns
 * about setups that parse but silently fail. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "args.h"
#include "client/clientconf.h"
#include "fpfile.h"
#include "output.h"
#include "p0ffp.h"
#include "p0fsock.h"
#include "redis_link.h"
#include "sysgate.h"
#include "textfile.h"
#include "tool.h"

#define MAX_PROBLEMS 1000
#define POSTFIX_DIR_DEFAULT "/etc/postfix"
#define SYSTEM_PRELOAD_FILE "/etc/ld.so.preload"
#define PROBE_TIMEOUT_MS 1000
#define TIMEOUT_MS_TOO_SHORT 20

enum severity { SEV_ERROR, SEV_WARNING, SEV_NOTE };

struct problem {
    enum severity sev;
    int rank;                /* 0 config, 1 blocked-OS file, 2 elsewhere */
    unsigned seq;
    char file[PATH_MAX];
    unsigned line;
    char msg[600];
};

struct lint {
    struct problem *p;
    size_t n, cap;
    unsigned errors, warnings, dropped;
    const char *config_path;
    char *config_text;       /* as read (NULL when absent or unreadable) */
    size_t config_len;
    struct config eff;       /* the configuration with every bad line left out */
    bool eff_valid;
    char *blocked_text;
    size_t blocked_len;
    struct policy rules;     /* the blocked-OS entries that parse */
    struct genre_list genres;
    const char *fp_path;
    const char *postfix_dir;
};

static void add(struct lint *l, enum severity sev, int rank, const char *file, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static void add(struct lint *l, enum severity sev, int rank, const char *file, unsigned line, const char *fmt, ...)
{
    if (sev == SEV_ERROR)
        l->errors++;
    else if (sev == SEV_WARNING)
        l->warnings++;
    if (l->n == MAX_PROBLEMS) {
        l->dropped++;
        return;
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 32;
        struct problem *grown = realloc(l->p, cap * sizeof(*grown));
        if (grown == NULL) {
            l->dropped++;
            return;
        }
        l->p = grown;
        l->cap = cap;
    }
    struct problem *p = &l->p[l->n];
    p->sev = sev;
    p->rank = rank;
    p->seq = (unsigned)l->n++;
    snprintf(p->file, sizeof(p->file), "%s", file ? file : "");
    p->line = line;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->msg, sizeof(p->msg), fmt, ap);
    va_end(ap);
}

static int by_place(const void *a, const void *b)
{
    const struct problem *x = a, *y = b;
    if (x->rank != y->rank)
        return x->rank - y->rank;
    if (x->rank == 2 && strcmp(x->file, y->file) != 0)
        return (int)x->seq - (int)y->seq;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    return (int)x->seq - (int)y->seq;
}

/* Reads a file the core refuses (untrusted owner or mode) so its content is still linted. */
static int read_anyway(const char *path, char **text, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return -errno;
    size_t cap = TEXT_FILE_MAX + 1, have = 0;
    char *buf = malloc(cap + 1);
    if (buf == NULL) {
        close(fd);
        return -ENOMEM;
    }
    for (;;) {
        ssize_t n = read(fd, buf + have, cap - have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        have += (size_t)n;
        if (have == cap)
            break;
    }
    close(fd);
    buf[have] = '\0';
    *text = buf;
    *len = have;
    return 0;
}

/* The core's reader, and the core's verdict on the file; the content even when refused. */
static int read_policy_file(struct lint *l, int rank, const char *path, const char *what, char **text, size_t *len)
{
    int rc = text_file_read(path, text, len);
    if (rc == 0)
        return 0;
    if (rc == -ENOENT)
        return rc;
    if (rc == -EPERM) {
        add(l, SEV_ERROR, rank, path, 0, "the library refuses this %s: %s (it decides which mail is refused: only "
            "root may own and write it)", what, text_file_strerror(rc));
        return read_anyway(path, text, len) == 0 ? 0 : rc;
    }
    add(l, SEV_ERROR, rank, path, 0, "cannot read the %s: %s", what, text_file_strerror(rc));
    return rc;
}

/* Blanks line n in place: the line numbers of the others stay the same. */
static void blank_line(char *text, size_t len, unsigned n)
{
    unsigned line = 1;
    size_t i = 0;
    while (i < len && line < n) {
        if (text[i] == '\n')
            line++;
        i++;
    }
    while (i < len && text[i] != '\n')
        text[i++] = ' ';
}

static void first_word(const struct text_line *line, char *out, size_t size)
{
    size_t n = strcspn(line->start, " \t");
    if (n > line->len)
        n = line->len;
    if (n >= size)
        n = size - 1;
    memcpy(out, line->start, n);
    out[n] = '\0';
}

/* ---- the configuration ---- */

static void lint_config_text(struct lint *l)
{
    char *work = malloc(l->config_len + 1);
    if (work == NULL)
        return;
    memcpy(work, l->config_text, l->config_len + 1);
    for (unsigned round = 0; round < MAX_PROBLEMS; round++) {
        struct diag err = {0};
        config_init(&l->eff);
        if (config_parse(&l->eff, work, l->config_len, l->config_path, &err) == 0) {
            l->eff_valid = true;
            break;
        }
        config_free(&l->eff);
        if (err.line != 0) {
            add(l, SEV_ERROR, 0, err.file, err.line, "%s", err.reason);
            blank_line(work, l->config_len, err.line);
            continue;
        }
        /* Not one line's fault (the single-source form and a source line define the same
         * source): name the lines, then leave the single form out and go on. */
        char single[128] = "", sources[128] = "";
        struct text_cursor cursor;
        struct text_line line;
        bool blanked = false;
        text_cursor_init(&cursor, work, l->config_len);
        while (text_next_line(&cursor, &line)) {
            char word[64];
            if (line.len == 0 || line.start[0] == '#')
                continue;
            first_word(&line, word, sizeof(word));
            const struct config_directive *d = config_directive_find(word);
            char *list = strcmp(word, "socket") == 0 || strcmp(word, "version") == 0 ? single
                       : d && d->kind == CONFIG_SOURCE                                ? sources
                                                                                      : NULL;
            if (list == NULL)
                continue;
            size_t used = strlen(list);
            snprintf(list + used, 128 - used, "%s%u", used ? ", " : "", line.number);
            if (list == single)
                blanked = true;
        }
        add(l, SEV_ERROR, 0, err.file, 0, "%s (socket/version on line %s; source lines %s)", err.reason,
            single[0] ? single : "-", sources[0] ? sources : "-");
        if (!blanked)
            break;
        text_cursor_init(&cursor, work, l->config_len);
        unsigned to_blank[64], nblank = 0;
        while (text_next_line(&cursor, &line) && nblank < 64) {
            char word[64];
            first_word(&line, word, sizeof(word));
            if (strcmp(word, "socket") == 0 || strcmp(word, "version") == 0)
                to_blank[nblank++] = line.number;
        }
        for (unsigned i = 0; i < nblank; i++)
            blank_line(work, l->config_len, to_blank[i]);
    }
    free(work);

    /* Directives given twice, where the last one silently wins (erroneous lines count: the
     * operator wrote them). */
    unsigned seen[CONFIG_MAX_DIRECTIVES] = {0};
    struct text_cursor cursor;
    struct text_line line;
    text_cursor_init(&cursor, l->config_text, l->config_len);
    while (text_next_line(&cursor, &line)) {
        char word[64];
        if (line.len == 0 || line.start[0] == '#')
            continue;
        first_word(&line, word, sizeof(word));
        const struct config_directive *d = config_directive_find(word);
        if (d && d->repeat == CONFIG_LAST_WINS) {
            size_t i = (size_t)(d - config_directives);
            if (seen[i])
                add(l, SEV_WARNING, 0, l->config_path, line.number,
                    "%s is also set on line %u: this line, the last one, wins", word, seen[i]);
            seen[i] = line.number;
        }
        if (strcmp(word, "timeout_ms") == 0) {
            unsigned long ms;
            const char *v = line.start + strlen(word);
            char value[32];
            while (*v == ' ' || *v == '\t')
                v++;
            size_t vlen = (size_t)(line.start + line.len - v);
            if (vlen < sizeof(value)) {
                memcpy(value, v, vlen);
                value[vlen] = '\0';
                if (parse_ulong_arg(value, 1, TIMEOUT_MS_TOO_SHORT - 1, &ms) == 0)
                    add(l, SEV_WARNING, 0, l->config_path, line.number,
                        "timeout_ms %lu leaves p0f no time: it learns a host 1-5 ms after accept (more on busy "
                        "links), so most verdicts would be unknown",
                        ms);
            }
        }
    }
}

/* What an unreachable p0f costs under the configured fingerprint source. */
static const char *p0f_down_effect(const struct lint *l)
{
    return l->eff.fingerprint == FINGERPRINT_P0F
               ? "every connection is logged verdict=error and passes"
               : "connections without a saved SYN (queued before the listener kept SYNs, inetd mode, SYN "
                 "cookies) are logged verdict=error and pass";
}

/* The SYN fingerprinter's signature files, read and parsed as the library does when it loads. */
static void lint_fp_files(struct lint *l)
{
    struct p0ffp_db db;
    char why[P0FFP_ERROR_MAX];
    bool all_read = true;
    p0ffp_db_init(&db);
    for (size_t i = 0; i < l->eff.nfp_files; i++) {
        const char *path = l->eff.fp_files[i];
        unsigned line = l->eff.fp_file_lines[i];
        char *text = NULL;
        size_t len = 0;
        int rc = read_policy_file(l, 2, path, "signature file", &text, &len);
        if (rc == -ENOENT)
            add(l, SEV_WARNING, line ? 0 : 2, line ? l->config_path : path, line,
                "fp_file %s does not exist: the library does not fingerprint from the SYN (%s)", path,
                l->eff.fingerprint == FINGERPRINT_SYN ? "every verdict is unknown" : "p0f decides");
        if (rc != 0) {
            all_read = false;
            continue;
        }
        if (p0ffp_load_text(&db, path, text, len, why, sizeof(why)) != 0) {
            /* "FILE:LINE: reason": the place is the file's own line. */
            const char *after = why + strlen(path);
            char *end = (char *)after;
            unsigned at = *after == ':' ? (unsigned)strtoul(after + 1, &end, 10) : 0;
            add(l, SEV_ERROR, 2, path, at, "%s (p0f would refuse this file; the library passes everything through)",
                at && end[0] == ':' ? end + 2 : why);
        }
        free(text);
    }
    if (all_read && l->errors == 0 && p0ffp_request_count(&db) == 0)
        add(l, SEV_WARNING, 0, l->config_path, config_line_of(&l->eff, "fp_file"),
            "the fp_files hold no [tcp:request] signature: nothing can be fingerprinted from the SYN");
    p0ffp_db_free(&db);
}

static void lint_v3_socket(struct lint *l)
{
    const char *path = l->eff.v3.socket_path;
    unsigned line = l->eff.v3.line;
    struct p0fq_result r;
    struct endpoint nobody = {.family = AF_INET};
    p0fq_query(path, &nobody, PROBE_TIMEOUT_MS, &r);
    if (r.status == P0FQ_DOWN || r.status == P0FQ_NOT_P0F) {
        add(l, SEV_WARNING, line ? 0 : 2, l->config_path, line,
            "p0f v3 socket %s%s: %s; until this is fixed %s", path, line ? "" : " (the default)", r.why,
            p0f_down_effect(l));
        return;
    }
    if (r.have_peer && !p0fsock_peer_trusted(r.peer_uid, l->eff.p0f_uid))
        add(l, SEV_WARNING, line ? 0 : 2, l->config_path, line,
            "p0f socket %s is served by uid %u (pid %d), not root or p0f_user: the shim refuses its answers (set "
            "p0f_user)",
            path, (unsigned)r.peer_uid, (int)r.peer_pid);
}

static void lint_v2_socket(struct lint *l)
{
    const char *path = l->eff.v2.socket_path;
    unsigned line = l->eff.v2.line;
    struct stat st;
    if (stat(path, &st) != 0)
        add(l, SEV_WARNING, line ? 0 : 2, l->config_path, line,
            "p0f v2 socket %s: %s: is p0f 2 running with -Q %s? Until then every connection gets no v2 answer", path,
            strerror(errno), path);
    else if (!S_ISSOCK(st.st_mode))
        add(l, SEV_WARNING, line ? 0 : 2, l->config_path, line, "p0f v2 socket %s is not a socket", path);
}

static void lint_log_socket(struct lint *l)
{
    struct stat st;
    const char *path = l->eff.log_socket;
    unsigned line = config_line_of(&l->eff, "log_socket");
    if (stat(path, &st) != 0)
        add(l, SEV_WARNING, line ? 0 : 2, l->config_path, line,
            "log_socket %s: %s: the shim's log lines would be lost (is the syslog daemon or journald running?)",
            path, strerror(errno));
    else if (!S_ISSOCK(st.st_mode))
        add(l, SEV_WARNING, line ? 0 : 2, l->config_path, line,
            "log_socket %s is not a socket: the shim's log lines would be lost", path);
}

/* ---- Redis stores ---- */

/* One round trip to a store (DBSIZE answers an integer), as the library would make it. */
static void lint_store(struct lint *l, const char *directive, const struct store_url *url, const char *effect)
{
    unsigned line = config_line_of(&l->eff, directive);
    char why[300];
    struct redis_ints r;
    struct redis_link *link = redis_link_new(url, why, sizeof(why));
    static const char *const dbsize[] = {"DBSIZE"};
    if (link == NULL || redis_link_command(link, dbsize, 1, PROBE_TIMEOUT_MS, &r, why, sizeof(why)) != 0)
        add(l, SEV_WARNING, 0, l->config_path, line, "%s: %s; until this is fixed %s", directive, why, effect);
    redis_link_free(link);
}

static void lint_stores(struct lint *l)
{
    const struct config *c = &l->eff;
    if (c->greylist.store.set && c->greylist_os)
        lint_store(l, "greylist_store", &c->greylist.store, "greylisting is off (every host passes)");
    else if (c->greylist.store.set)
        add(l, SEV_WARNING, 0, l->config_path, config_line_of(c, "greylist_store"),
            "greylist_store without greylist_os: nothing is greylisted");
    if (c->karma.store.set)
        lint_store(l, "karma_store", &c->karma.store, "fleet karma is off (no karma_total=, no karma_limit)");
    if (c->karma.limit && !c->karma.store.set)
        add(l, SEV_WARNING, 0, l->config_path, config_line_of(c, "karma_limit"),
            "karma_limit without karma_store: nothing counts hits, no client is ever refused for karma");
    else if (c->karma.limit && !c->policy.smite_os)
        add(l, SEV_WARNING, 0, l->config_path, config_line_of(c, "karma_limit"),
            "karma_limit without smite_os: no hit is ever counted here (only other hosts' hits can reach it)");
    bool password = (c->greylist.store.set && c->greylist.store.password[0]) ||
                    (c->karma.store.set && c->karma.store.password[0]);
    struct stat st;
    if (password && l->config_text && stat(l->config_path, &st) == 0 && (st.st_mode & S_IROTH))
        add(l, SEV_WARNING, 0, l->config_path, 0,
            "holds a Redis password and is readable by everyone (mode %04o): chmod o-r, and give the MTA's "
            "group read access (chgrp)",
            (unsigned)(st.st_mode & 07777));
}

/* ---- programs ---- */

static bool executable_in(const char *dir, size_t dlen, const char *name)
{
    char path[PATH_MAX];
    struct stat st;
    if (dlen == 0) {
        dir = ".";
        dlen = 1;
    }
    if ((size_t)snprintf(path, sizeof(path), "%.*s/%s", (int)dlen, dir, name) >= sizeof(path))
        return false;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

static bool program_exists(const char *name)
{
    const char *path = getenv("PATH");
    if (path == NULL)
        path = "/usr/local/bin:/usr/bin:/bin";
    for (const char *p = path;; p++) {
        const char *colon = strchr(p, ':');
        size_t n = colon ? (size_t)(colon - p) : strlen(p);
        if (executable_in(p, n, name))
            return true;
        if (colon == NULL)
            break;
        p = colon;
    }
    return executable_in("/usr/lib/postfix/sbin", 21, name) || executable_in("/usr/sbin", 9, name);
}

/* Daemons whose reload (SIGHUP, as Debian's init script and unit send it) re-executes them
 * with their environment cleared: an LD_PRELOAD is lost then, silently. */
static const char *const reexecuting_daemons[] = {"exim4", "sendmail-mta"};

/* Whether /etc/ld.so.preload names the library by its system-wide name. */
static bool preloaded_system_wide(void)
{
    char *text = NULL;
    size_t len = 0;
    bool found = read_anyway(SYSTEM_PRELOAD_FILE, &text, &len) == 0 && strstr(text, SYSGATE_LIBRARY_NAME) != NULL;
    free(text);
    return found;
}

static void lint_reload(struct lint *l)
{
    const struct config *c = &l->eff;
    if (preloaded_system_wide())
        return;
    for (size_t i = 0; i < c->nprograms; i++)
        for (size_t k = 0; k < sizeof(reexecuting_daemons) / sizeof(reexecuting_daemons[0]); k++)
            if (strcmp(c->programs[i], reexecuting_daemons[k]) == 0)
                add(l, SEV_WARNING, 0, l->config_path, c->program_lines[i],
                    "programs: %s re-executes itself with a cleared environment when it is reloaded "
                    "(SIGHUP): a library loaded through LD_PRELOAD is gone after the first reload, and "
                    "nothing is logged. Load it system-wide: %s in %s (docs/mta.md, \"Surviving a "
                    "reload\")",
                    c->programs[i], SYSGATE_LIBRARY_NAME, SYSTEM_PRELOAD_FILE);
}

static void lint_programs(struct lint *l)
{
    const struct config *c = &l->eff;
    size_t missing = 0;
    for (size_t i = 0; i < c->nprograms; i++) {
        const char *name = c->programs[i];
        if (strchr(name, '/') && ++missing)
            add(l, SEV_WARNING, 0, l->config_path, c->program_lines[i],
                "programs: \"%s\" contains a slash: processes are named by base name (e.g. smtpd), so it "
                "matches nothing",
                name);
        else if (!program_exists(name)) {
            missing++;
            add(l, SEV_WARNING, 0, l->config_path, c->program_lines[i],
                "programs: \"%s\" names no executable in PATH, /usr/lib/postfix/sbin or /usr/sbin: the shim "
                "acts only in processes of that name (a typo?)",
                name);
        }
    }
    if (c->nprograms && missing == c->nprograms)
        add(l, SEV_WARNING, 0, l->config_path, config_line_of(c, "programs"),
            "none of the programs exists: the shim would act in no process at all");
    lint_reload(l);
}

/* ---- a Postfix chroot that cannot reach the socket ---- */

static bool socket_at(const char *root, const char *path)
{
    char full[PATH_MAX];
    struct stat st;
    if ((size_t)snprintf(full, sizeof(full), "%s%s", root, path) >= sizeof(full))
        return false;
    return stat(full, &st) == 0 && S_ISSOCK(st.st_mode);
}

/* As the engine does after a chroot: the path, then the path with leading directories removed. */
static bool reachable_in_chroot(const char *root, const char *path)
{
    if (socket_at(root, path))
        return true;
    for (const char *tail = strchr(path + 1, '/'); tail; tail = strchr(tail + 1, '/'))
        if (socket_at(root, tail))
            return true;
    return false;
}

static void queue_directory(const char *postfix_dir, char *out, size_t size)
{
    char path[PATH_MAX], line[1024];
    snprintf(out, size, "/var/spool/postfix");
    snprintf(path, sizeof(path), "%s/main.cf", postfix_dir);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return;
    while (fgets(line, sizeof(line), f)) {
        char *p = line;
        if (strncmp(p, "queue_directory", 15) != 0)
            continue;
        p += 15;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p++ != '=')
            continue;
        while (*p == ' ' || *p == '\t')
            p++;
        p[strcspn(p, " \t\r\n")] = '\0';
        if (p[0] == '/')
            snprintf(out, size, "%s", p);
    }
    fclose(f);
}

static void lint_postfix_chroot(struct lint *l)
{
    char path[PATH_MAX], line[2048], qdir[PATH_MAX];
    if (l->eff.nprograms && !config_program_selected(&l->eff, "smtpd"))
        return;
    snprintf(path, sizeof(path), "%s/master.cf", l->postfix_dir);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return;
    queue_directory(l->postfix_dir, qdir, sizeof(qdir));
    unsigned number = 0;
    while (fgets(line, sizeof(line), f)) {
        number++;
        if (line[0] == '#' || line[0] == ' ' || line[0] == '\t' || line[0] == '\n')
            continue;
        char *save = NULL, *field[8];
        size_t n = 0;
        for (char *t = strtok_r(line, " \t\r\n", &save); t && n < 8; t = strtok_r(NULL, " \t\r\n", &save))
            field[n++] = t;
        if (n < 8 || strcmp(field[7], "smtpd") != 0 || strcmp(field[4], "y") != 0)
            continue;
        if (strcmp(field[1], "inet") != 0 && strcmp(field[1], "pass") != 0)
            continue;
        const struct p0f_source *sources[2] = {&l->eff.v3, &l->eff.v2};
        for (size_t i = 0; i < 2 && l->eff.fingerprint != FINGERPRINT_SYN; i++) {
            if (!sources[i]->enabled || reachable_in_chroot(qdir, sources[i]->socket_path))
                continue;
            add(l, SEV_WARNING, 2, path, number,
                "service \"%s\" runs smtpd chrooted in %s, where the p0f socket %s cannot be found (neither as "
                "%s%s nor with leading directories removed): %s. Let p0f listen inside the chroot (p0f -s "
                "%s/p0f/p0f.sock, and socket %s/p0f/p0f.sock)",
                field[0], qdir, sources[i]->socket_path, qdir, sources[i]->socket_path,
                l->eff.fingerprint == FINGERPRINT_P0F ? "every connection would be logged verdict=error"
                                                      : "connections without a saved SYN would be logged verdict=error",
                qdir, qdir);
        }
        const struct store_url *stores[2] = {&l->eff.greylist.store, &l->eff.karma.store};
        static const char *const names[2] = {"greylist_store", "karma_store"};
        for (size_t i = 0; i < 2; i++) {
            if (!stores[i]->set || !stores[i]->is_unix || reachable_in_chroot(qdir, stores[i]->path))
                continue;
            add(l, SEV_WARNING, 2, path, number,
                "service \"%s\" runs smtpd chrooted in %s, where the Redis socket %s of %s cannot be found "
                "(neither as %s%s nor with leading directories removed): the store would be off in smtpd. Put "
                "the socket inside the chroot (Redis's unixsocket %s/var/run/redis/redis.sock) and name it so",
                field[0], qdir, stores[i]->path, names[i], qdir, stores[i]->path, qdir);
        }
    }
    fclose(f);
}

/* ---- the blocked-OS file ---- */

static size_t genres_matched(const struct lint *l, const struct regex *re, const char **example)
{
    size_t n = 0;
    *example = NULL;
    for (size_t i = 0; i < l->genres.n; i++)
        if (regex_matches(re, l->genres.genre[i])) {
            if (*example == NULL)
                *example = l->genres.genre[i];
            n++;
        }
    return n;
}

static void lint_phrase(struct lint *l, const struct blocked_rule *r, const char *file)
{
    size_t len = strlen(r->text);
    if ((r->text[0] == '/') != (len > 1 && r->text[len - 1] == '/')) {
        add(l, SEV_WARNING, 1, file, r->line,
            "\"%s\" looks like a regex but lacks a slash: it is a phrase that must equal the genre exactly",
            r->text);
        return;
    }
    if (!l->genres.from_file)
        return;
    const char *caseless = NULL, *part = NULL;
    for (size_t i = 0; i < l->genres.n; i++) {
        const char *g = l->genres.genre[i];
        if (strcmp(g, r->text) == 0)
            return;
        if (!caseless && strcasecmp(g, r->text) == 0)
            caseless = g;
        if (!part && strcasestr(g, r->text))
            part = g;
    }
    if (caseless)
        add(l, SEV_WARNING, 1, file, r->line,
            "phrase \"%s\" equals no genre of %s: phrases are case-sensitive; did you mean \"%s\"?", r->text,
            l->fp_path, caseless);
    else if (part)
        add(l, SEV_WARNING, 1, file, r->line,
            "phrase \"%s\" equals no genre of %s: a phrase must equal the whole genre (e.g. \"%s\"); for part of "
            "it write /%s/",
            r->text, l->fp_path, part, r->text);
    else
        add(l, SEV_WARNING, 1, file, r->line,
            "phrase \"%s\" equals no genre of %s (genres look like \"Windows 7 or 8\"): it blocks nothing", r->text,
            l->fp_path);
}

static void lint_rules(struct lint *l, const char *file)
{
    for (size_t i = 0; i < l->rules.nrules; i++) {
        const struct blocked_rule *r = &l->rules.rules[i];
        for (size_t k = 0; k < i; k++)
            if (strcmp(l->rules.rules[k].text, r->text) == 0) {
                add(l, SEV_WARNING, 1, file, r->line, "\"%s\" repeats line %u: it never matches anything new",
                    r->text, l->rules.rules[k].line);
                break;
            }
        if (r->re == NULL) {
            lint_phrase(l, r, file);
            continue;
        }
        const char *example;
        size_t n = genres_matched(l, r->re, &example);
        if (n == l->genres.n && regex_matches(r->re, "")) {
            add(l, SEV_WARNING, 1, file, r->line,
                "%s%s matches every genre: it blocks every host whose OS p0f identifies (only unidentified hosts "
                "pass)",
                r->text, strcmp(r->text, "//") == 0 ? " (an empty regex)" : "");
        } else if (n == l->genres.n) {
            add(l, SEV_WARNING, 1, file, r->line,
                "%s matches every genre of %s: it blocks every host whose OS p0f identifies", r->text,
                l->genres.from_file ? l->fp_path : "p0f's database");
        } else if (n == 0 && l->genres.from_file) {
            add(l, SEV_WARNING, 1, file, r->line,
                "%s matches no genre of %s (genres look like \"Windows 7 or 8\"): a typo?", r->text, l->fp_path);
        }
    }
}

static void lint_blocked_text(struct lint *l, const char *path)
{
    char *work = malloc(l->blocked_len + 1);
    if (work == NULL)
        return;
    memcpy(work, l->blocked_text, l->blocked_len + 1);
    for (unsigned round = 0; round < MAX_PROBLEMS; round++) {
        struct diag err = {0};
        memset(&l->rules, 0, sizeof(l->rules));
        if (policy_parse_blocked(&l->rules, work, l->blocked_len, path, &err) == 0)
            break;
        add(l, SEV_ERROR, 1, err.file, err.line, "%s", err.reason);
        policy_free(&l->rules);
        if (err.line == 0)
            break;
        blank_line(work, l->blocked_len, err.line);
    }
    free(work);
    lint_rules(l, path);
}

/* A genre regex of the configuration (smite_os, greylist_os) that matches every genre acts on
 * every identified host; one that matches none p0f knows is likely a typo. */
static void lint_genre_regex(struct lint *l, const char *directive, const struct regex *re, const char *effect)
{
    const char *example;
    if (re == NULL)
        return;
    unsigned line = config_line_of(&l->eff, directive);
    size_t n = genres_matched(l, re, &example);
    if (n == l->genres.n)
        add(l, SEV_WARNING, 0, l->config_path, line, "%s matches every genre: %s", directive, effect);
    else if (n == 0 && l->genres.from_file)
        add(l, SEV_WARNING, 0, l->config_path, line, "%s matches no genre of %s: a typo?", directive, l->fp_path);
}

static void lint_usage(FILE *f)
{
    fputs("usage: p0fshim lint [--config FILE] [--fp P0F.FP] [--postfix-dir DIR]\n", f);
}

int cmd_lint(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"fp", required_argument, NULL, 'f'},
        {"postfix-dir", required_argument, NULL, 'p'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static struct lint l;
    const char *config_given = NULL;
    int opt;

    l.fp_path = P0F_FP_DEFAULT;
    l.postfix_dir = POSTFIX_DIR_DEFAULT;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (opt) {
        case 'c': config_given = optarg; break;
        case 'f': l.fp_path = optarg; break;
        case 'p': l.postfix_dir = optarg; break;
        case 'h': lint_usage(stdout); return 0;
        case ':': fprintf(stderr, "p0fshim lint: %s needs a value\n", argv[optind - 1]); return EXIT_USAGE;
        default:
            fprintf(stderr, "p0fshim lint: unknown option %s\n", argv[optind - 1]);
            lint_usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind != argc) {
        lint_usage(stderr);
        return EXIT_USAGE;
    }
    bool must_exist;
    l.config_path = clientconf_path(config_given, &must_exist);
    genre_list_load(&l.genres, l.fp_path);

    int rc = read_policy_file(&l, 0, l.config_path, "configuration", &l.config_text, &l.config_len);
    if (rc == -ENOENT) {
        if (must_exist)
            add(&l, SEV_ERROR, 0, l.config_path, 0, "no such file: the library refuses to start with it");
        else
            add(&l, SEV_NOTE, 0, l.config_path, 0, "no configuration file: the defaults apply");
        l.config_text = NULL;
        config_init(&l.eff);
        l.eff_valid = true;
    } else if (rc != 0) {
        l.config_text = NULL;
    } else {
        lint_config_text(&l);
    }

    if (l.eff_valid) {
        /* fingerprint syn never asks p0f. */
        bool asks_p0f = l.eff.fingerprint != FINGERPRINT_SYN;
        if (l.eff.v3.enabled && asks_p0f)
            lint_v3_socket(&l);
        if (l.eff.v2.enabled && asks_p0f)
            lint_v2_socket(&l);
        if (config_uses_syn(&l.eff))
            lint_fp_files(&l);
        lint_log_socket(&l);
        lint_stores(&l);
        lint_programs(&l);
        lint_postfix_chroot(&l);
        if (l.config_text) {
            lint_genre_regex(&l, "smite_os", l.eff.policy.smite_os, "every identified host gets karma=-1");
            lint_genre_regex(&l, "greylist_os", l.eff.greylist_os,
                             "every identified host is greylisted on first contact");
        }

        const char *blocked = l.eff.blocked_os_file;
        rc = read_policy_file(&l, 1, blocked, "blocked-OS file", &l.blocked_text, &l.blocked_len);
        if (rc == -ENOENT) {
            unsigned line = config_line_of(&l.eff, "blocked_os_file");
            add(&l, SEV_WARNING, line ? 0 : 1, line ? l.config_path : blocked, line,
                "blocked-OS file %s does not exist: nothing is blocked", blocked);
        } else if (rc == 0) {
            lint_blocked_text(&l, blocked);
        }

        /* The library's own loader must agree that the configuration is good. */
        if (l.errors == 0) {
            static struct config check;
            struct diag err = {0};
            config_init(&check);
            if (config_load(&check, l.config_path, must_exist, &err) != 0)
                add(&l, SEV_ERROR, 0, err.file, err.line, "%s", err.reason);
            config_free(&check);
        }
    }

    qsort(l.p, l.n, sizeof(*l.p), by_place);
    for (size_t i = 0; i < l.n; i++) {
        const struct problem *p = &l.p[i];
        static const char *const words[] = {"error", "warning", "note"};
        if (p->line)
            printf("%s:%u: %s: ", p->file, p->line, words[p->sev]);
        else
            printf("%s: %s: ", p->file, words[p->sev]);
        put_safe(stdout, p->msg, strlen(p->msg));
        putchar('\n');
    }
    if (l.dropped)
        printf("(%u more problems not shown)\n", l.dropped);
    printf("p0fshim lint: %s: %u error%s, %u warning%s", l.config_path, l.errors, l.errors == 1 ? "" : "s",
           l.warnings, l.warnings == 1 ? "" : "s");
    if (l.eff_valid && l.blocked_text)
        printf("; %zu blocked-OS entr%s in %s", l.rules.nrules, l.rules.nrules == 1 ? "y" : "ies",
               l.eff.blocked_os_file);
    printf("\n");

    if (l.eff_valid)
        config_free(&l.eff);
    policy_free(&l.rules);
    free(l.config_text);
    free(l.blocked_text);
    free(l.p);
    genre_list_free(&l.genres);
    if (l.errors)
        return EXIT_NEGATIVE;
    return l.warnings ? EXIT_P0F_DOWN : 0;
}
