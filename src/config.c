#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "textfile.h"

#define MAX_WORDS 64

static const uint16_t default_ports[] = {25, 465, 587};

struct words {
    char *word[MAX_WORDS];
    size_t n;
    const char *rest_after_first;   /* the raw text after the directive name */
};

struct parse_ctx {
    struct config *c;
    const char *file;
    unsigned line;
    struct diag *err;
};

void config_init(struct config *c)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->socket_path, sizeof(c->socket_path), "/run/p0f/p0f.sock");
    c->version = 3;
    snprintf(c->blocked_os_file, sizeof(c->blocked_os_file), "/etc/p0fshim/blocked_operating_systems");
    c->single_form_used = false;
    memcpy(c->ports, default_ports, sizeof(default_ports));
    c->nports = sizeof(default_ports) / sizeof(default_ports[0]);
    c->timeout_ms = 500;
    snprintf(c->log_socket, sizeof(c->log_socket), "/dev/log");
    c->log_facility = LOG_MAIL;
    c->add_headers = true;
    c->p0f_uid = (uid_t)-1;
    c->mode = MODE_ASYNC;
    c->hold_ms = 50;
    c->action = ACTION_REJECT;
    snprintf(c->reject_text, sizeof(c->reject_text), "Connection refused: your host is not accepted here");
    snprintf(c->tempfail_text, sizeof(c->tempfail_text), "Service temporarily unavailable, try again later");
    snprintf(c->greylist_text, sizeof(c->greylist_text), "Greylisted, please try again later");
    snprintf(c->greylist.dir, sizeof(c->greylist.dir), "/var/lib/p0fshim/greylist");
    c->greylist.delay_s = 300;
    c->greylist.window_s = 24 * 3600;
    c->greylist.expire_s = 36 * 24 * 3600;
    c->greylist.v4_prefix = 32;
    c->greylist.v6_prefix = 128;
}

void config_free(struct config *c)
{
    policy_free(&c->policy);
    regex_free(c->greylist_os);
    c->greylist_os = NULL;
}

static int fail(struct parse_ctx *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct parse_ctx *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err->reason, sizeof(p->err->reason), fmt, ap);
    va_end(ap);
    snprintf(p->err->file, sizeof(p->err->file), "%s", p->file);
    p->err->line = p->line;
    return -1;
}

/* Splits in place on blanks; too many words is an error rather than a silent cut. */
static int split_words(char *text, struct words *w)
{
    char *save = NULL;
    w->n = 0;
    for (char *tok = strtok_r(text, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
        if (w->n == MAX_WORDS)
            return -1;
        w->word[w->n++] = tok;
    }
    return 0;
}

static int set_path(struct parse_ctx *p, char *dst, size_t size, const char *value, const char *what)
{
    if (value[0] != '/')
        return fail(p, "%s must be an absolute path", what);
    if (strlen(value) >= size)
        return fail(p, "%s is too long", what);
    memcpy(dst, value, strlen(value) + 1);
    return 0;
}

static int parse_unsigned(const char *text, unsigned long min, unsigned long max, unsigned long *out)
{
    char *end;
    if (text[0] < '0' || text[0] > '9')
        return -1;
    errno = 0;
    unsigned long value = strtoul(text, &end, 10);
    if (errno || *end != '\0' || value < min || value > max)
        return -1;
    *out = value;
    return 0;
}

/* qpsmtpd reads any version but 3 as the v2 protocol; only the two real ones are accepted. */
static int parse_version(struct parse_ctx *p, const char *value, int *out)
{
    if (strcmp(value, "3") == 0 || strcmp(value, "2") == 0) {
        *out = value[0] - '0';
        return 0;
    }
    return fail(p, "version \"%.32s\": p0f protocol versions are 2 and 3", value);
}

static struct p0f_source *source_for(struct config *c, int version)
{
    return version == 2 ? &c->v2 : &c->v3;
}

static int define_source(struct parse_ctx *p, int version, const char *path, const struct endpoint *local_ip)
{
    struct p0f_source *src = source_for(p->c, version);
    if (src->enabled)
        return fail(p, "a second p0f v%d source: at most one p0f per protocol version", version);
    if (set_path(p, src->socket_path, sizeof(src->socket_path), path, "the p0f socket") != 0)
        return -1;
    src->enabled = true;
    if (local_ip) {
        src->has_local_ip = true;
        src->local_ip = *local_ip;
    }
    return 0;
}

static int set_smite_os(struct parse_ctx *p, const char *pattern)
{
    char why[sizeof(p->err->reason)];
    struct regex *re = regex_compile(pattern, why, sizeof(why));
    if (re == NULL)
        return fail(p, "smite_os: %s", why);
    regex_free(p->c->policy.smite_os);
    p->c->policy.smite_os = re;
    return 0;
}

static int add_exempt(struct parse_ctx *p, const char *text)
{
    struct cidr net;
    const char *why;
    if (cidr_parse(text, &net, &why) != 0)
        return fail(p, "exempt \"%.80s\": %s", text, why);
    struct cidr *grown = realloc(p->c->policy.exempt, (p->c->policy.nexempt + 1) * sizeof(*grown));
    if (grown == NULL)
        return fail(p, "%s", "out of memory");
    p->c->policy.exempt = grown;
    grown[p->c->policy.nexempt++] = net;
    return 0;
}

static int parse_ip(struct parse_ctx *p, const char *text, struct endpoint *out)
{
    if (endpoint_parse_ip(text, out) != 0)
        return fail(p, "local_ip \"%.64s\" is not an IP address", text);
    if (out->family != AF_INET)
        return fail(p, "local_ip \"%.64s\": p0f v2 is IPv4-only, give the server's public IPv4 address", text);
    return 0;
}

/* A uid, or a name looked up now: the constructor runs before any chroot hides
 * /etc/passwd. */
static int set_p0f_user(struct parse_ctx *p, const char *value)
{
    unsigned long uid;
    if (parse_unsigned(value, 0, (uid_t)-2, &uid) == 0) {
        p->c->p0f_uid = (uid_t)uid;
        return 0;
    }
    struct passwd pw, *found = NULL;
    char buf[1024];
    if (getpwnam_r(value, &pw, buf, sizeof(buf), &found) != 0 || found == NULL)
        return fail(p, "p0f_user \"%.64s\": no such user", value);
    p->c->p0f_uid = found->pw_uid;
    return 0;
}

static int set_add_headers(struct parse_ctx *p, const char *text)
{
    /* qpsmtpd: on unless the value matches /false/i. */
    p->c->add_headers = strcasestr(text, "false") == NULL;
    return 0;
}

/* ident/p0f[:N] SOCKET [version N] [local_ip IP] [smite_os RE] [add_headers BOOL]: one
 * source per line, so qpsmtpd's two-instance setup (ident/p0f:2 ... version 2 and
 * ident/p0f:3 ...) pastes as it is. */
static int parse_qpsmtpd_line(struct parse_ctx *p, struct words *w)
{
    int version = 3;
    struct endpoint local_ip = {0};
    bool has_local_ip = false;

    if (w->n < 2)
        return fail(p, "%s: the p0f socket path is missing", w->word[0]);
    for (size_t i = 2; i < w->n; i += 2) {
        const char *key = w->word[i];
        if (i + 1 >= w->n)
            return fail(p, "ident/p0f option \"%s\" has no value", key);
        const char *value = w->word[i + 1];
        int rc;
        if (strcmp(key, "version") == 0)
            rc = parse_version(p, value, &version);
        else if (strcmp(key, "smite_os") == 0)
            rc = set_smite_os(p, value);
        else if (strcmp(key, "local_ip") == 0)
            rc = parse_ip(p, value, &local_ip), has_local_ip = rc == 0;
        else if (strcmp(key, "add_headers") == 0)
            rc = set_add_headers(p, value);
        else
            return fail(p, "unknown ident/p0f option \"%s\"", key);
        if (rc != 0)
            return -1;
    }
    return define_source(p, version, w->word[1], has_local_ip ? &local_ip : NULL);
}

/* p0f2 PATH [local_ip IP] | p0f3 PATH */
static int parse_source_line(struct parse_ctx *p, struct words *w, int version)
{
    struct endpoint local_ip = {0};
    if (w->n < 2)
        return fail(p, "%s: the p0f socket path is missing", w->word[0]);
    if (version == 2 && w->n == 4 && strcmp(w->word[2], "local_ip") == 0) {
        if (parse_ip(p, w->word[3], &local_ip) != 0)
            return -1;
        return define_source(p, 2, w->word[1], &local_ip);
    }
    if (w->n != 2)
        return fail(p, "%s takes a socket path%s", w->word[0], version == 2 ? " and optionally local_ip IP" : "");
    return define_source(p, version, w->word[1], NULL);
}

/* "300", "300s", "5m", "24h", "36d" -> seconds. */
static int parse_duration(struct parse_ctx *p, const char *key, const char *text, unsigned *out)
{
    char *end;
    errno = 0;
    if (text[0] < '0' || text[0] > '9')
        return fail(p, "%s \"%.32s\" is not a duration (e.g. 300, 5m, 24h, 36d)", key, text);
    unsigned long value = strtoul(text, &end, 10);
    unsigned long unit = 1;
    if (*end == 's' || *end == 'm' || *end == 'h' || *end == 'd') {
        unit = *end == 's' ? 1 : *end == 'm' ? 60 : *end == 'h' ? 3600 : 86400;
        end++;
    }
    if (errno || *end != '\0' || value > 3650ul * 86400 / unit)
        return fail(p, "%s \"%.32s\" is not a duration (e.g. 300, 5m, 24h, 36d)", key, text);
    *out = (unsigned)(value * unit);
    return 0;
}

/* SMTP reply text: printable ASCII only, so the reply stays one line. */
static int set_reply_text(struct parse_ctx *p, const char *key, const char *text, char *dst, size_t size)
{
    for (const char *q = text; *q; q++)
        if (*q < 0x20 || *q > 0x7e)
            return fail(p, "%s: only printable ASCII is allowed in an SMTP reply", key);
    if (strlen(text) >= size)
        return fail(p, "%s is too long (at most %zu characters)", key, size - 1);
    memcpy(dst, text, strlen(text) + 1);
    return 0;
}

static int set_regex(struct parse_ctx *p, const char *key, const char *pattern, struct regex **dst)
{
    char why[sizeof(p->err->reason)];
    struct regex *re = regex_compile(pattern, why, sizeof(why));
    if (re == NULL)
        return fail(p, "%s: %s", key, why);
    regex_free(*dst);
    *dst = re;
    return 0;
}

static int need_values(struct parse_ctx *p, const struct words *w, size_t min, size_t max)
{
    size_t values = w->n - 1;
    if (values < min)
        return fail(p, "%s needs a value", w->word[0]);
    if (values > max)
        return fail(p, "%s takes one value", w->word[0]);
    return 0;
}

static int add_port(struct parse_ctx *p, const char *text)
{
    unsigned long port;
    if (parse_unsigned(text, 1, 65535, &port) != 0)
        return fail(p, "port \"%s\" is not a number from 1 to 65535", text);
    if (!p->c->ports_given) {
        p->c->ports_given = true;
        p->c->nports = 0;
    }
    if (p->c->nports == CONFIG_MAX_PORTS)
        return fail(p, "%s", "too many ports");
    p->c->ports[p->c->nports++] = (uint16_t)port;
    return 0;
}

static int add_program(struct parse_ctx *p, const char *name)
{
    if (strlen(name) >= CONFIG_PROGRAM_NAME_MAX)
        return fail(p, "program name \"%.80s\" is too long", name);
    if (p->c->nprograms == CONFIG_MAX_PROGRAMS)
        return fail(p, "%s", "too many programs");
    memcpy(p->c->programs[p->c->nprograms++], name, strlen(name) + 1);
    return 0;
}

static int parse_directive(struct parse_ctx *p, struct words *w)
{
    struct config *c = p->c;
    const char *key = w->word[0];

    if (strcmp(key, "ident/p0f") == 0 || strncmp(key, "ident/p0f:", 10) == 0)
        return parse_qpsmtpd_line(p, w);
    if (strcmp(key, "p0f2") == 0 || strcmp(key, "p0f3") == 0)
        return parse_source_line(p, w, key[3] - '0');
    if (strcmp(key, "smite_os") == 0) {
        /* A regex may contain blanks: take the rest of the line as written. */
        if (w->n < 2)
            return fail(p, "%s needs a value", key);
        return set_smite_os(p, w->rest_after_first);
    }
    if (strcmp(key, "greylist_os") == 0) {
        if (w->n < 2)
            return fail(p, "%s needs a value", key);
        return set_regex(p, key, w->rest_after_first, &c->greylist_os);
    }
    if (strcmp(key, "reject_text") == 0 || strcmp(key, "tempfail_text") == 0 || strcmp(key, "greylist_text") == 0) {
        if (w->n < 2)
            return fail(p, "%s needs a value", key);
        char *dst = key[0] == 'r' ? c->reject_text : key[0] == 't' ? c->tempfail_text : c->greylist_text;
        return set_reply_text(p, key, w->rest_after_first, dst, sizeof(c->reject_text));
    }
    if (strcmp(key, "exempt") == 0 || strcmp(key, "ports") == 0 || strcmp(key, "programs") == 0) {
        if (w->n < 2)
            return fail(p, "%s needs at least one value", key);
        for (size_t i = 1; i < w->n; i++) {
            int rc = key[0] == 'e' ? add_exempt(p, w->word[i])
                   : key[0] == 'p' && key[1] == 'o' ? add_port(p, w->word[i])
                   : add_program(p, w->word[i]);
            if (rc != 0)
                return -1;
        }
        return 0;
    }
    static const char *const single_value[] = {"socket", "version", "blocked_os_file", "log_socket", "timeout_ms",
                                               "log_facility", "local_ip", "add_headers", "p0f_user",
                                               "mode", "hold_ms", "action", "greylist_delay", "greylist_window",
                                               "greylist_expire", "greylist_dir", "greylist_v4_prefix",
                                               "greylist_v6_prefix"};
    bool known = false;
    for (size_t i = 0; i < sizeof(single_value) / sizeof(single_value[0]); i++)
        known = known || strcmp(key, single_value[i]) == 0;
    if (!known)
        return fail(p, "unknown directive \"%.80s\"", key);
    if (need_values(p, w, 1, 1) != 0)
        return -1;
    const char *value = w->word[1];
    if (strcmp(key, "socket") == 0) {
        c->single_form_used = true;
        return set_path(p, c->socket_path, sizeof(c->socket_path), value, "socket");
    }
    if (strcmp(key, "version") == 0) {
        c->single_form_used = true;
        return parse_version(p, value, &c->version);
    }
    if (strcmp(key, "blocked_os_file") == 0)
        return set_path(p, c->blocked_os_file, sizeof(c->blocked_os_file), value, "blocked_os_file");
    if (strcmp(key, "log_socket") == 0)
        return set_path(p, c->log_socket, sizeof(c->log_socket), value, "log_socket");
    if (strcmp(key, "timeout_ms") == 0) {
        unsigned long ms;
        if (parse_unsigned(value, 1, 60000, &ms) != 0)
            return fail(p, "timeout_ms \"%s\" is not a number from 1 to 60000", value);
        c->timeout_ms = (unsigned)ms;
        return 0;
    }
    if (strcmp(key, "log_facility") == 0) {
        int facility = config_facility_from_name(value);
        if (facility < 0)
            return fail(p, "unknown log_facility \"%s\"", value);
        c->log_facility = facility;
        return 0;
    }
    if (strcmp(key, "local_ip") == 0) {
        if (parse_ip(p, value, &c->local_ip) != 0)
            return -1;
        c->has_local_ip = true;
        return 0;
    }
    if (strcmp(key, "p0f_user") == 0)
        return set_p0f_user(p, value);
    if (strcmp(key, "mode") == 0) {
        if (strcmp(value, "async") == 0)
            c->mode = MODE_ASYNC;
        else if (strcmp(value, "hold") == 0)
            c->mode = MODE_HOLD;
        else
            return fail(p, "mode \"%.32s\": async or hold", value);
        return 0;
    }
    if (strcmp(key, "hold_ms") == 0) {
        unsigned long ms;
        if (parse_unsigned(value, 1, 10000, &ms) != 0)
            return fail(p, "hold_ms \"%s\" is not a number from 1 to 10000", value);
        c->hold_ms = (unsigned)ms;
        return 0;
    }
    if (strcmp(key, "action") == 0) {
        if (strcmp(value, "close") == 0)
            c->action = ACTION_CLOSE;
        else if (strcmp(value, "reject") == 0)
            c->action = ACTION_REJECT;
        else if (strcmp(value, "tempfail") == 0)
            c->action = ACTION_TEMPFAIL;
        else
            return fail(p, "action \"%.32s\": close, reject or tempfail", value);
        return 0;
    }
    if (strcmp(key, "greylist_delay") == 0)
        return parse_duration(p, key, value, &c->greylist.delay_s);
    if (strcmp(key, "greylist_window") == 0)
        return parse_duration(p, key, value, &c->greylist.window_s);
    if (strcmp(key, "greylist_expire") == 0)
        return parse_duration(p, key, value, &c->greylist.expire_s);
    if (strcmp(key, "greylist_dir") == 0)
        return set_path(p, c->greylist.dir, sizeof(c->greylist.dir), value, "greylist_dir");
    if (strcmp(key, "greylist_v4_prefix") == 0 || strcmp(key, "greylist_v6_prefix") == 0) {
        bool v4 = key[10] == '4';
        unsigned long bits;
        if (parse_unsigned(value, 0, 128, &bits) != 0 || (v4 ? bits != 32 && bits != 24 : bits != 128 && bits != 64))
            return fail(p, "%s \"%s\": %s", key, value, v4 ? "32 (the host) or 24" : "128 (the host) or 64");
        *(v4 ? &c->greylist.v4_prefix : &c->greylist.v6_prefix) = (unsigned)bits;
        return 0;
    }
    if (strcmp(key, "add_headers") == 0)
        return set_add_headers(p, value);
    return fail(p, "unknown directive \"%s\"", key);
}

/* The single-source form (socket, version) becomes a source unless a source line
 * already defined that version; with no source at all, the default v3 socket is used. */
static int settle_sources(struct config *c, const char *file, struct diag *err)
{
    if (c->single_form_used || (!c->v2.enabled && !c->v3.enabled)) {
        struct p0f_source *src = source_for(c, c->version);
        if (src->enabled) {
            diag_set(err, file, 0, "socket/version and a p0f%d or ident/p0f line both define the p0f v%d source",
                     c->version, c->version);
            return -1;
        }
        src->enabled = true;
        memcpy(src->socket_path, c->socket_path, sizeof(src->socket_path));
    }
    if (c->v2.enabled && !c->v2.has_local_ip && c->has_local_ip) {
        c->v2.has_local_ip = true;
        c->v2.local_ip = c->local_ip;
    }
    return 0;
}

int config_parse(struct config *c, const char *text, size_t len, const char *file, struct diag *err)
{
    struct text_cursor cursor;
    struct text_line line;
    struct parse_ctx p = {.c = c, .file = file, .err = err};

    text_cursor_init(&cursor, text, len);
    while (text_next_line(&cursor, &line)) {
        p.line = line.number;
        if (line.len == 0 || line.start[0] == '#')
            continue;
        if (memchr(line.start, '\0', line.len) != NULL)
            return fail(&p, "%s", "NUL byte in line");
        char *copy = strndup(line.start, line.len);
        char *rest = strndup(line.start, line.len);
        struct words w = {0};
        int rc = -1;
        if (copy == NULL || rest == NULL) {
            fail(&p, "%s", "out of memory");
        } else if (split_words(copy, &w) != 0) {
            fail(&p, "%s", "too many words on the line");
        } else {
            size_t skip = strcspn(rest, " \t");
            w.rest_after_first = rest + skip + strspn(rest + skip, " \t");
            rc = parse_directive(&p, &w);
        }
        free(copy);
        free(rest);
        if (rc != 0)
            return -1;
    }
    return settle_sources(c, file, err);
}

int config_load(struct config *c, const char *path, bool must_exist, struct diag *err)
{
    char *text;
    size_t len;
    int rc = text_file_read(path, &text, &len);
    if (rc == -ENOENT && !must_exist)
        return policy_load_blocked_file(&c->policy, c->blocked_os_file, err);
    if (rc != 0) {
        diag_set(err, path, 0, "cannot read the configuration: %s", text_file_strerror(rc));
        return -1;
    }
    rc = config_parse(c, text, len, path, err);
    free(text);
    if (rc != 0)
        return -1;
    return policy_load_blocked_file(&c->policy, c->blocked_os_file, err);
}

bool config_port_selected(const struct config *c, uint16_t port)
{
    for (size_t i = 0; i < c->nports; i++)
        if (c->ports[i] == port)
            return true;
    return false;
}

bool config_program_selected(const struct config *c, const char *name)
{
    if (c->nprograms == 0)
        return true;
    for (size_t i = 0; i < c->nprograms; i++)
        if (strcmp(c->programs[i], name) == 0)
            return true;
    return false;
}

int config_facility_from_name(const char *name)
{
    static const struct { const char *name; int value; } facilities[] = {
        {"kern", LOG_KERN}, {"user", LOG_USER}, {"mail", LOG_MAIL}, {"daemon", LOG_DAEMON},
        {"auth", LOG_AUTH}, {"syslog", LOG_SYSLOG}, {"lpr", LOG_LPR}, {"news", LOG_NEWS},
        {"uucp", LOG_UUCP}, {"cron", LOG_CRON}, {"authpriv", LOG_AUTHPRIV}, {"ftp", LOG_FTP},
        {"local0", LOG_LOCAL0}, {"local1", LOG_LOCAL1}, {"local2", LOG_LOCAL2}, {"local3", LOG_LOCAL3},
        {"local4", LOG_LOCAL4}, {"local5", LOG_LOCAL5}, {"local6", LOG_LOCAL6}, {"local7", LOG_LOCAL7},
    };
    for (size_t i = 0; i < sizeof(facilities) / sizeof(facilities[0]); i++)
        if (strcmp(facilities[i].name, name) == 0)
            return facilities[i].value;
    return -1;
}
