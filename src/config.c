/* The configuration parser. config_directives below is the one list of directives: each
 * row names the kind of value, its default, its limits, what a second line does, and the
 * function that takes a value. The parser splits a line into words, finds the row of the
 * first one, checks the number of values the kind takes, and hands them to that function;
 * config_init applies the defaults through the same functions, so a default is written
 * once, the way an operator would write it. Every value remembers the line that set it. */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "textfile.h"

#define MAX_WORDS 64
/* Room for the longest "name default" line config_init applies. */
#define DEFAULT_LINE_MAX 128
/* Greylisting durations: ten years is already more than any store keeps. */
#define DURATION_MAX (3650ul * 86400)

struct words {
    char *word[MAX_WORDS];
    size_t n;
};

struct config_parser {
    struct config *c;
    const char *file;
    unsigned line;                   /* 0 while config_init applies the defaults */
    struct diag *err;
    const struct words *words;       /* the line's, the directive's name first */
    const char *rest;                /* the raw text after the directive's name */
};

typedef int value_parser(struct config_parser *p, const struct config_directive *d, const char *value);

static value_parser set_path, set_choice, set_number, set_prefix_length, set_duration, set_regex, set_reply_text,
    add_exempt, add_port, add_program, add_fp_file, set_store_url, set_facility, set_local_ip, set_p0f_user, set_qpsmtpd_flag,
    parse_qpsmtpd_line, parse_p0f2_line, parse_p0f3_line;

#define FIELD(member) .offset = offsetof(struct config, member), .size = sizeof(((struct config *)0)->member)

static const struct config_choice versions[] = {{"3", 3}, {"2", 2}, {NULL, 0}};
static const struct config_choice modes[] = {{"async", MODE_ASYNC}, {"hold", MODE_HOLD}, {NULL, 0}};
static const struct config_choice actions[] = {
    {"close", ACTION_CLOSE}, {"reject", ACTION_REJECT}, {"tempfail", ACTION_TEMPFAIL}, {NULL, 0}};
static const struct config_choice fingerprints[] = {{"auto", FINGERPRINT_AUTO},
                                                    {"syn", FINGERPRINT_SYN},
                                                    {"syn+p0f", FINGERPRINT_SYN_P0F},
                                                    {"p0f", FINGERPRINT_P0F},
                                                    {NULL, 0}};
static const struct config_choice v4_prefixes[] = {{"32", 32}, {"24", 24}, {NULL, 0}};
static const struct config_choice v6_prefixes[] = {{"128", 128}, {"64", 64}, {NULL, 0}};

/* In the order of the documentation's table. */
const struct config_directive config_directives[] = {
    {.name = "socket", .kind = CONFIG_PATH, .default_value = "/run/p0f/p0f.sock", FIELD(socket_path),
     .parse = set_path},
    {.name = "version", .kind = CONFIG_CHOICE, .default_value = "3", .choices = versions,
     .expected = "p0f protocol versions are 2 and 3", FIELD(version), .parse = set_choice},
    {.name = "p0f3", .kind = CONFIG_SOURCE, .repeat = CONFIG_ONE_PER_VERSION, .parse = parse_p0f3_line},
    {.name = "p0f2", .kind = CONFIG_SOURCE, .repeat = CONFIG_ONE_PER_VERSION, .parse = parse_p0f2_line},
    {.name = "local_ip", .kind = CONFIG_IPV4, FIELD(local_ip), .parse = set_local_ip},
    {.name = "blocked_os_file", .kind = CONFIG_PATH, .default_value = "/etc/p0fshim/blocked_operating_systems",
     FIELD(blocked_os_file), .parse = set_path},
    {.name = "smite_os", .kind = CONFIG_REGEX, FIELD(policy.smite_os), .parse = set_regex},
    {.name = "exempt", .kind = CONFIG_CIDR_LIST, .repeat = CONFIG_ADDS_UP, .parse = add_exempt},
    {.name = "ports", .kind = CONFIG_PORT_LIST, .repeat = CONFIG_ADDS_UP, .default_value = "25 465 587", .min = 1,
     .max = 65535, .parse = add_port},
    {.name = "fingerprint", .kind = CONFIG_CHOICE, .default_value = "auto", .choices = fingerprints,
     .expected = "auto, syn, syn+p0f or p0f", FIELD(fingerprint), .parse = set_choice},
    {.name = "fp_file", .kind = CONFIG_PATH_LIST, .repeat = CONFIG_ADDS_UP, .default_value = "/etc/p0f/p0f.fp",
     .parse = add_fp_file},
    {.name = "timeout_ms", .kind = CONFIG_NUMBER, .default_value = "500", .min = 1, .max = 60000,
     FIELD(timeout_ms), .parse = set_number},
    {.name = "log_socket", .kind = CONFIG_PATH, .default_value = "/dev/log", FIELD(log_socket), .parse = set_path},
    {.name = "log_facility", .kind = CONFIG_FACILITY, .default_value = "mail", FIELD(log_facility),
     .parse = set_facility},
    {.name = "p0f_user", .kind = CONFIG_USER, FIELD(p0f_uid), .parse = set_p0f_user},
    {.name = "mode", .kind = CONFIG_CHOICE, .default_value = "async", .choices = modes, .expected = "async or hold",
     FIELD(mode), .parse = set_choice},
    {.name = "hold_ms", .kind = CONFIG_NUMBER, .default_value = "50", .min = 1, .max = 10000, FIELD(hold_ms),
     .parse = set_number},
    {.name = "action", .kind = CONFIG_CHOICE, .default_value = "reject", .choices = actions,
     .expected = "close, reject or tempfail", FIELD(action), .parse = set_choice},
    {.name = "reject_text", .kind = CONFIG_REPLY_TEXT,
     .default_value = "Connection refused: your host is not accepted here", FIELD(reject_text),
     .parse = set_reply_text},
    {.name = "tempfail_text", .kind = CONFIG_REPLY_TEXT,
     .default_value = "Service temporarily unavailable, try again later", FIELD(tempfail_text),
     .parse = set_reply_text},
    {.name = "greylist_text", .kind = CONFIG_REPLY_TEXT, .default_value = "Greylisted, please try again later",
     FIELD(greylist_text), .parse = set_reply_text},
    {.name = "greylist_os", .kind = CONFIG_REGEX, FIELD(greylist_os), .parse = set_regex},
    {.name = "greylist_delay", .kind = CONFIG_DURATION, .default_value = "5m", .max = DURATION_MAX,
     FIELD(greylist.delay_s), .parse = set_duration},
    {.name = "greylist_window", .kind = CONFIG_DURATION, .default_value = "24h", .max = DURATION_MAX,
     FIELD(greylist.window_s), .parse = set_duration},
    {.name = "greylist_expire", .kind = CONFIG_DURATION, .default_value = "36d", .max = DURATION_MAX,
     FIELD(greylist.expire_s), .parse = set_duration},
    {.name = "greylist_dir", .kind = CONFIG_PATH, .default_value = "/var/lib/p0fshim/greylist",
     FIELD(greylist.dir), .parse = set_path},
    {.name = "greylist_store", .kind = CONFIG_STORE_URL, FIELD(greylist.store), .parse = set_store_url},
    {.name = "greylist_v4_prefix", .kind = CONFIG_PREFIX_LENGTH, .default_value = "32", .max = 128,
     .choices = v4_prefixes, .expected = "32 (the host) or 24", FIELD(greylist.v4_prefix),
     .parse = set_prefix_length},
    {.name = "greylist_v6_prefix", .kind = CONFIG_PREFIX_LENGTH, .default_value = "128", .max = 128,
     .choices = v6_prefixes, .expected = "128 (the host) or 64", FIELD(greylist.v6_prefix),
     .parse = set_prefix_length},
    {.name = "karma_store", .kind = CONFIG_STORE_URL, FIELD(karma.store), .parse = set_store_url},
    {.name = "karma_window", .kind = CONFIG_DURATION, .default_value = "24h", .min = 1, .max = DURATION_MAX,
     FIELD(karma.window_s), .parse = set_duration},
    {.name = "karma_limit", .kind = CONFIG_NUMBER, .default_value = "0", .min = 0, .max = 1000000000,
     FIELD(karma.limit), .parse = set_number},
    {.name = "karma_v4_prefix", .kind = CONFIG_PREFIX_LENGTH, .default_value = "32", .max = 128,
     .choices = v4_prefixes, .expected = "32 (the host) or 24", FIELD(karma.v4_prefix), .parse = set_prefix_length},
    {.name = "karma_v6_prefix", .kind = CONFIG_PREFIX_LENGTH, .default_value = "128", .max = 128,
     .choices = v6_prefixes, .expected = "128 (the host) or 64", FIELD(karma.v6_prefix), .parse = set_prefix_length},
    {.name = "store_timeout_ms", .kind = CONFIG_NUMBER, .default_value = "20", .min = 1, .max = 10000,
     FIELD(store_timeout_ms), .parse = set_number},
    {.name = "programs", .kind = CONFIG_NAME_LIST, .repeat = CONFIG_ADDS_UP, .parse = add_program},
    {.name = "ident/p0f", .instance_suffix = true, .kind = CONFIG_SOURCE, .repeat = CONFIG_ONE_PER_VERSION,
     .parse = parse_qpsmtpd_line},
    {.name = "add_headers", .kind = CONFIG_QPSMTPD_FLAG, .default_value = "true", FIELD(add_headers),
     .parse = set_qpsmtpd_flag},
};
const size_t config_ndirectives = sizeof(config_directives) / sizeof(config_directives[0]);

_Static_assert(sizeof(config_directives) / sizeof(config_directives[0]) <= CONFIG_MAX_DIRECTIVES,
               "config.set_on_line has a slot per directive");
_Static_assert(sizeof(((struct config *)0)->mode) == sizeof(int) && sizeof(((struct config *)0)->action) ==
                   sizeof(int) && sizeof(((struct config *)0)->version) == sizeof(int) &&
                   sizeof(((struct config *)0)->fingerprint) == sizeof(int),
               "set_choice stores an int");

const struct config_directive *config_directive_find(const char *word)
{
    for (size_t i = 0; i < config_ndirectives; i++) {
        const struct config_directive *d = &config_directives[i];
        size_t n = strlen(d->name);
        if (strncmp(word, d->name, n) == 0 && (word[n] == '\0' || (d->instance_suffix && word[n] == ':')))
            return d;
    }
    return NULL;
}

static int fail(struct config_parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct config_parser *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err->reason, sizeof(p->err->reason), fmt, ap);
    va_end(ap);
    snprintf(p->err->file, sizeof(p->err->file), "%s", p->file);
    p->err->line = p->line;
    return -1;
}

static void *field(const struct config_parser *p, const struct config_directive *d)
{
    return (char *)p->c + d->offset;
}

static void note_line(struct config_parser *p, const struct config_directive *d)
{
    p->c->set_on_line[d - config_directives] = p->line;
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

/* ---- one value of each kind ---- */

static int store_path(struct config_parser *p, char *dst, size_t size, const char *value, const char *what)
{
    if (value[0] != '/')
        return fail(p, "%s must be an absolute path", what);
    if (strlen(value) >= size)
        return fail(p, "%s is too long", what);
    memcpy(dst, value, strlen(value) + 1);
    return 0;
}

static int set_path(struct config_parser *p, const struct config_directive *d, const char *value)
{
    return store_path(p, field(p, d), d->size, value, d->name);
}

static int set_store_url(struct config_parser *p, const struct config_directive *d, const char *value)
{
    char why[200];
    struct store_url url;
    if (store_url_parse(value, &url, why, sizeof(why)) != 0)
        return fail(p, "%s: %s", d->name, why);
    memcpy(field(p, d), &url, sizeof(url));
    return 0;
}

static int choose(struct config_parser *p, const struct config_directive *d, const char *value, int *out)
{
    for (const struct config_choice *choice = d->choices; choice->word; choice++)
        if (strcmp(choice->word, value) == 0) {
            *out = choice->value;
            return 0;
        }
    return fail(p, "%s \"%.32s\": %s", d->name, value, d->expected);
}

static int set_choice(struct config_parser *p, const struct config_directive *d, const char *value)
{
    int chosen = 0;
    if (choose(p, d, value, &chosen) != 0)
        return -1;
    memcpy(field(p, d), &chosen, sizeof(chosen));
    return 0;
}

static int set_number(struct config_parser *p, const struct config_directive *d, const char *value)
{
    unsigned long n;
    if (parse_unsigned(value, d->min, d->max, &n) != 0)
        return fail(p, "%s \"%s\" is not a number from %lu to %lu", d->name, value, d->min, d->max);
    *(unsigned *)field(p, d) = (unsigned)n;
    return 0;
}

static int set_prefix_length(struct config_parser *p, const struct config_directive *d, const char *value)
{
    unsigned long bits;
    if (parse_unsigned(value, d->min, d->max, &bits) == 0)
        for (const struct config_choice *choice = d->choices; choice->word; choice++)
            if ((unsigned long)choice->value == bits) {
                *(unsigned *)field(p, d) = (unsigned)bits;
                return 0;
            }
    return fail(p, "%s \"%s\": %s", d->name, value, d->expected);
}

/* "300", "300s", "5m", "24h", "36d" -> seconds. */
static int set_duration(struct config_parser *p, const struct config_directive *d, const char *value)
{
    char *end;
    errno = 0;
    if (value[0] < '0' || value[0] > '9')
        return fail(p, "%s \"%.32s\" is not a duration (e.g. 300, 5m, 24h, 36d)", d->name, value);
    unsigned long n = strtoul(value, &end, 10);
    unsigned long unit = 1;
    if (*end == 's' || *end == 'm' || *end == 'h' || *end == 'd') {
        unit = *end == 's' ? 1 : *end == 'm' ? 60 : *end == 'h' ? 3600 : 86400;
        end++;
    }
    if (errno || *end != '\0' || n > d->max / unit)
        return fail(p, "%s \"%.32s\" is not a duration (e.g. 300, 5m, 24h, 36d)", d->name, value);
    if (n * unit < d->min)
        return fail(p, "%s \"%.32s\" is shorter than %lu s", d->name, value, d->min);
    *(unsigned *)field(p, d) = (unsigned)(n * unit);
    return 0;
}

static int set_regex(struct config_parser *p, const struct config_directive *d, const char *value)
{
    char why[sizeof(p->err->reason)];
    struct regex *re = regex_compile(value, why, sizeof(why));
    if (re == NULL)
        return fail(p, "%s: %s", d->name, why);
    struct regex **dst = field(p, d);
    regex_free(*dst);
    *dst = re;
    return 0;
}

/* SMTP reply text: printable ASCII only, so the reply stays one line. */
static int set_reply_text(struct config_parser *p, const struct config_directive *d, const char *value)
{
    for (const char *q = value; *q; q++)
        if (*q < 0x20 || *q > 0x7e)
            return fail(p, "%s: only printable ASCII is allowed in an SMTP reply", d->name);
    if (strlen(value) >= d->size)
        return fail(p, "%s is too long (at most %zu characters)", d->name, d->size - 1);
    memcpy(field(p, d), value, strlen(value) + 1);
    return 0;
}

static int add_exempt(struct config_parser *p, const struct config_directive *d, const char *value)
{
    struct config *c = p->c;
    struct cidr net;
    const char *why;
    if (cidr_parse(value, &net, &why) != 0)
        return fail(p, "%s \"%.80s\": %s", d->name, value, why);
    unsigned *lines = realloc(c->exempt_lines, (c->policy.nexempt + 1) * sizeof(*lines));
    if (lines == NULL)
        return fail(p, "%s", "out of memory");
    c->exempt_lines = lines;
    struct cidr *grown = realloc(c->policy.exempt, (c->policy.nexempt + 1) * sizeof(*grown));
    if (grown == NULL)
        return fail(p, "%s", "out of memory");
    c->policy.exempt = grown;
    lines[c->policy.nexempt] = p->line;
    grown[c->policy.nexempt++] = net;
    return 0;
}

static int add_port(struct config_parser *p, const struct config_directive *d, const char *value)
{
    unsigned long port;
    if (parse_unsigned(value, d->min, d->max, &port) != 0)
        return fail(p, "port \"%s\" is not a number from %lu to %lu", value, d->min, d->max);
    if (p->c->nports == CONFIG_MAX_PORTS)
        return fail(p, "too many %s", d->name);
    p->c->ports[p->c->nports++] = (uint16_t)port;
    return 0;
}

static int add_fp_file(struct config_parser *p, const struct config_directive *d, const char *value)
{
    struct config *c = p->c;
    if (c->nfp_files == CONFIG_MAX_FP_FILES)
        return fail(p, "too many %s entries (at most %d)", d->name, CONFIG_MAX_FP_FILES);
    if (store_path(p, c->fp_files[c->nfp_files], sizeof(c->fp_files[0]), value, "a signature file") != 0)
        return -1;
    c->fp_file_lines[c->nfp_files++] = p->line;
    return 0;
}

static int add_program(struct config_parser *p, const struct config_directive *d, const char *value)
{
    struct config *c = p->c;
    if (strlen(value) >= CONFIG_PROGRAM_NAME_MAX)
        return fail(p, "program name \"%.80s\" is too long", value);
    if (c->nprograms == CONFIG_MAX_PROGRAMS)
        return fail(p, "too many %s", d->name);
    c->program_lines[c->nprograms] = p->line;
    memcpy(c->programs[c->nprograms++], value, strlen(value) + 1);
    return 0;
}

static int set_facility(struct config_parser *p, const struct config_directive *d, const char *value)
{
    int facility = config_facility_from_name(value);
    if (facility < 0)
        return fail(p, "unknown %s \"%s\"", d->name, value);
    *(int *)field(p, d) = facility;
    return 0;
}

static int parse_ipv4(struct config_parser *p, const char *text, struct endpoint *out)
{
    if (endpoint_parse_ip(text, out) != 0)
        return fail(p, "local_ip \"%.64s\" is not an IP address", text);
    if (out->family != AF_INET)
        return fail(p, "local_ip \"%.64s\": p0f v2 is IPv4-only, give the server's public IPv4 address", text);
    return 0;
}

static int set_local_ip(struct config_parser *p, const struct config_directive *d, const char *value)
{
    if (parse_ipv4(p, value, field(p, d)) != 0)
        return -1;
    p->c->has_local_ip = true;
    return 0;
}

/* A uid, or a name looked up now: the constructor runs before any chroot hides
 * /etc/passwd. */
static int set_p0f_user(struct config_parser *p, const struct config_directive *d, const char *value)
{
    unsigned long uid;
    uid_t *dst = field(p, d);
    if (parse_unsigned(value, 0, (uid_t)-2, &uid) == 0) {
        *dst = (uid_t)uid;
        return 0;
    }
    struct passwd pw, *found = NULL;
    char buf[1024];
    if (getpwnam_r(value, &pw, buf, sizeof(buf), &found) != 0 || found == NULL)
        return fail(p, "%s \"%.64s\": no such user", d->name, value);
    *dst = found->pw_uid;
    return 0;
}

static int set_qpsmtpd_flag(struct config_parser *p, const struct config_directive *d, const char *value)
{
    *(bool *)field(p, d) = strcasestr(value, "false") == NULL;
    return 0;
}

/* ---- p0f sources ---- */

static struct p0f_source *source_for(struct config *c, int version)
{
    return version == 2 ? &c->v2 : &c->v3;
}

static int define_source(struct config_parser *p, int version, const char *path, const struct endpoint *local_ip)
{
    struct p0f_source *src = source_for(p->c, version);
    if (src->enabled)
        return fail(p, "a second p0f v%d source: at most one p0f per protocol version", version);
    if (store_path(p, src->socket_path, sizeof(src->socket_path), path, "the p0f socket") != 0)
        return -1;
    src->enabled = true;
    src->line = p->line;
    if (local_ip) {
        src->has_local_ip = true;
        src->local_ip = *local_ip;
    }
    return 0;
}

/* An ident/p0f option that is a directive of its own (smite_os, add_headers) sets what the
 * directive would, and the line is remembered as the directive's. */
static int set_as_directive(struct config_parser *p, const char *name, const char *value)
{
    const struct config_directive *d = config_directive_find(name);
    if (d->parse(p, d, value) != 0)
        return -1;
    note_line(p, d);
    return 0;
}

/* ident/p0f[:N] SOCKET [version N] [local_ip IP] [smite_os RE] [add_headers BOOL]: one
 * source per line, so qpsmtpd's two-instance setup (ident/p0f:2 ... version 2 and
 * ident/p0f:3 ...) pastes as it is. */
static int parse_qpsmtpd_line(struct config_parser *p, const struct config_directive *d, const char *value)
{
    const struct words *w = p->words;
    int version = 3;
    struct endpoint local_ip = {0};
    bool has_local_ip = false;

    (void)d, (void)value;
    if (w->n < 2)
        return fail(p, "%s: the p0f socket path is missing", w->word[0]);
    for (size_t i = 2; i < w->n; i += 2) {
        const char *key = w->word[i];
        if (i + 1 >= w->n)
            return fail(p, "ident/p0f option \"%s\" has no value", key);
        const char *option = w->word[i + 1];
        int rc;
        if (strcmp(key, "version") == 0)
            rc = choose(p, config_directive_find("version"), option, &version);
        else if (strcmp(key, "smite_os") == 0 || strcmp(key, "add_headers") == 0)
            rc = set_as_directive(p, key, option);
        else if (strcmp(key, "local_ip") == 0)
            rc = parse_ipv4(p, option, &local_ip), has_local_ip = rc == 0;
        else
            return fail(p, "unknown ident/p0f option \"%s\"", key);
        if (rc != 0)
            return -1;
    }
    return define_source(p, version, w->word[1], has_local_ip ? &local_ip : NULL);
}

/* p0f2 PATH [local_ip IP] | p0f3 PATH */
static int parse_source_line(struct config_parser *p, int version)
{
    const struct words *w = p->words;
    struct endpoint local_ip = {0};
    if (w->n < 2)
        return fail(p, "%s: the p0f socket path is missing", w->word[0]);
    if (version == 2 && w->n == 4 && strcmp(w->word[2], "local_ip") == 0) {
        if (parse_ipv4(p, w->word[3], &local_ip) != 0)
            return -1;
        return define_source(p, 2, w->word[1], &local_ip);
    }
    if (w->n != 2)
        return fail(p, "%s takes a socket path%s", w->word[0], version == 2 ? " and optionally local_ip IP" : "");
    return define_source(p, version, w->word[1], NULL);
}

static int parse_p0f2_line(struct config_parser *p, const struct config_directive *d, const char *value)
{
    (void)d, (void)value;
    return parse_source_line(p, 2);
}

static int parse_p0f3_line(struct config_parser *p, const struct config_directive *d, const char *value)
{
    (void)d, (void)value;
    return parse_source_line(p, 3);
}

/* The single-source form (socket, version) becomes a source unless a source line
 * already defined that version; with no source at all, the default v3 socket is used. */
static int settle_sources(struct config *c, const char *file, struct diag *err)
{
    unsigned socket_line = config_line_of(c, "socket");
    bool single_form_used = socket_line != 0 || config_line_of(c, "version") != 0;
    if (single_form_used || (!c->v2.enabled && !c->v3.enabled)) {
        struct p0f_source *src = source_for(c, c->version);
        if (src->enabled) {
            diag_set(err, file, 0, "socket/version and a p0f%d or ident/p0f line both define the p0f v%d source",
                     c->version, c->version);
            return -1;
        }
        src->enabled = true;
        src->line = socket_line;
        memcpy(src->socket_path, c->socket_path, sizeof(src->socket_path));
    }
    if (c->v2.enabled && !c->v2.has_local_ip && c->has_local_ip) {
        c->v2.has_local_ip = true;
        c->v2.local_ip = c->local_ip;
    }
    return 0;
}

/* ---- lines ---- */

/* How a kind takes its values from the line. */
enum value_shape { ONE_WORD, REST_OF_LINE, EACH_WORD, WHOLE_LINE };

static enum value_shape shape_of(enum config_kind kind)
{
    switch (kind) {
    case CONFIG_REGEX:
    case CONFIG_REPLY_TEXT:
        return REST_OF_LINE;   /* a regex or a reply may contain blanks: the line as written */
    case CONFIG_CIDR_LIST:
    case CONFIG_PORT_LIST:
    case CONFIG_NAME_LIST:
    case CONFIG_PATH_LIST:
        return EACH_WORD;
    case CONFIG_SOURCE:
        return WHOLE_LINE;
    default:
        return ONE_WORD;
    }
}

static int parse_directive(struct config_parser *p)
{
    const struct words *w = p->words;
    const struct config_directive *d = config_directive_find(w->word[0]);
    int rc = 0;

    if (d == NULL)
        return fail(p, "unknown directive \"%.80s\"", w->word[0]);
    switch (shape_of(d->kind)) {
    case WHOLE_LINE:
        rc = d->parse(p, d, NULL);
        break;
    case REST_OF_LINE:
        if (w->n < 2)
            return fail(p, "%s needs a value", d->name);
        rc = d->parse(p, d, p->rest);
        break;
    case EACH_WORD:
        if (w->n < 2)
            return fail(p, "%s needs at least one value", d->name);
        /* The first line replaces a default list (ports 25 465 587) instead of adding to it. */
        if (d->kind == CONFIG_PORT_LIST && p->c->set_on_line[d - config_directives] == 0)
            p->c->nports = 0;
        if (d->kind == CONFIG_PATH_LIST && p->c->set_on_line[d - config_directives] == 0)
            p->c->nfp_files = 0;
        for (size_t i = 1; i < w->n && rc == 0; i++)
            rc = d->parse(p, d, w->word[i]);
        break;
    case ONE_WORD:
        if (w->n < 2)
            return fail(p, "%s needs a value", d->name);
        if (w->n > 2)
            return fail(p, "%s takes one value", d->name);
        rc = d->parse(p, d, w->word[1]);
        break;
    }
    if (rc == 0)
        note_line(p, d);
    return rc;
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

/* One line, given twice (NUL-terminated): text is split into words in place, whole stays as
 * written for the values that are the rest of the line. */
static int parse_line(struct config_parser *p, char *text, const char *whole)
{
    struct words w;
    if (split_words(text, &w) != 0)
        return fail(p, "%s", "too many words on the line");
    size_t skip = strcspn(whole, " \t");
    p->words = &w;
    p->rest = whole + skip + strspn(whole + skip, " \t");
    return parse_directive(p);
}

void config_init(struct config *c)
{
    struct diag unused;
    struct config_parser p = {.c = c, .file = "", .line = 0, .err = &unused};

    memset(c, 0, sizeof(*c));
    c->p0f_uid = (uid_t)-1;   /* p0f_user's default: root alone, which no other uid is */
    for (size_t i = 0; i < config_ndirectives; i++) {
        const struct config_directive *d = &config_directives[i];
        char text[DEFAULT_LINE_MAX], whole[DEFAULT_LINE_MAX];
        if (d->default_value == NULL)
            continue;
        snprintf(whole, sizeof(whole), "%s %s", d->name, d->default_value);
        memcpy(text, whole, sizeof(text));
        parse_line(&p, text, whole);
    }
    c->greylist.timeout_ms = c->store_timeout_ms;
}

void config_free(struct config *c)
{
    policy_free(&c->policy);
    regex_free(c->greylist_os);
    c->greylist_os = NULL;
    free(c->exempt_lines);
    c->exempt_lines = NULL;
}

int config_parse(struct config *c, const char *text, size_t len, const char *file, struct diag *err)
{
    struct text_cursor cursor;
    struct text_line line;
    struct config_parser p = {.c = c, .file = file, .err = err};

    snprintf(c->file, sizeof(c->file), "%s", file);
    text_cursor_init(&cursor, text, len);
    while (text_next_line(&cursor, &line)) {
        p.line = line.number;
        if (line.len == 0 || line.start[0] == '#')
            continue;
        if (memchr(line.start, '\0', line.len) != NULL)
            return fail(&p, "%s", "NUL byte in line");
        char *words = strndup(line.start, line.len);
        char *whole = strndup(line.start, line.len);
        int rc = words && whole ? parse_line(&p, words, whole) : fail(&p, "%s", "out of memory");
        free(words);
        free(whole);
        if (rc != 0)
            return -1;
    }
    c->greylist.timeout_ms = c->store_timeout_ms;
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

unsigned config_line_of(const struct config *c, const char *directive)
{
    const struct config_directive *d = config_directive_find(directive);
    return d ? c->set_on_line[d - config_directives] : 0;
}

unsigned config_exempt_line(const struct config *c, const struct cidr *entry)
{
    for (size_t i = 0; i < c->policy.nexempt; i++)
        if (&c->policy.exempt[i] == entry)
            return c->exempt_lines[i];
    return 0;
}

bool config_port_selected(const struct config *c, uint16_t port)
{
    for (size_t i = 0; i < c->nports; i++)
        if (c->ports[i] == port)
            return true;
    return false;
}

bool config_uses_syn(const struct config *c)
{
    return c->fingerprint != FINGERPRINT_P0F;
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
