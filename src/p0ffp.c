/* p0f's signature file reader (see p0ffp.h). Each line is taken as p0f 3.09b's readfp.c and
 * tcp_register_sig() take it, in the same order of checks, so that a file is refused here
 * exactly when p0f refuses it, for the same reason. Where p0f's reading is odd (numbers read
 * with atol(), "ittl-:" skipping one more character, a trailing space making a line
 * malformed), this reading is odd the same way: p0f's database is what is being read. Each
 * file stands alone, as p0f would read it: its own classes, its own names, and duplicates
 * only within it (a local file may restate a p0f.fp signature with another label). */
#include "p0ffp.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p0ffp_loader.h"
#include "synmatch.h"

#define FP_FILE_MAX (16 * 1024 * 1024)
#define LINE_PAD 4               /* NULs after a line: p0f's "ittl-:" skip may step past its end */

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool same_ignoring_case(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (lower(a[i]) != lower(b[i]))
            return false;
    return true;
}

int32_t p0f_atol(const char *s)
{
    unsigned long long v = 0;
    bool negative = false, overflow = false;
    while (*s == ' ' || (*s >= '\t' && *s <= '\r'))
        s++;
    if (*s == '+' || *s == '-')
        negative = *s++ == '-';
    for (; is_digit(*s); s++) {
        if (v > (unsigned long long)LONG_MAX / 10 + 1)
            overflow = true;
        else
            v = v * 10 + (unsigned)(*s - '0');
    }
    long r;
    if (negative)
        r = overflow || v > (unsigned long long)LONG_MAX + 1 ? LONG_MIN : (long)(0 - v);
    else
        r = overflow || v > (unsigned long long)LONG_MAX ? LONG_MAX : (long)v;
    return (int32_t)(uint32_t)(unsigned long)r;
}

int p0ffp_fail(struct loader *ld, const char *fmt, ...)
{
    char reason[P0FFP_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    if (ld->errsize)
        snprintf(ld->err, ld->errsize, "%s:%u: %s", ld->file, ld->line, reason);
    return -1;
}

static const char *keep(struct p0ffp_db *db, const char *s, size_t n)
{
    if (db->nstrings == db->strings_cap) {
        size_t cap = db->strings_cap ? 2 * db->strings_cap : 64;
        char **grown = realloc(db->strings, cap * sizeof(*grown));
        if (!grown)
            return NULL;
        db->strings = grown;
        db->strings_cap = cap;
    }
    char *copy = strndup(s, n);
    if (copy)
        db->strings[db->nstrings++] = copy;
    return copy;
}

static int out_of_memory(struct loader *ld)
{
    return p0ffp_fail(ld, "out of memory");
}

/* classes = win,unix,other */
static int parse_classes(struct loader *ld, const char *val)
{
    while (*val) {
        while (is_blank(*val) || *val == ',')
            val++;
        const char *end = val;
        while (is_alnum(*end))
            end++;
        if (end == val || (*end && *end != ','))
            return p0ffp_fail(ld, "Malformed class entry");
        char **grown = realloc(ld->classes, (ld->nclasses + 1) * sizeof(*grown));
        char *copy = strndup(val, (size_t)(end - val));
        if (!grown || !copy) {
            free(copy);
            if (grown)
                ld->classes = grown;
            return out_of_memory(ld);
        }
        ld->classes = grown;
        ld->classes[ld->nclasses++] = copy;
        val = end;
    }
    return 0;
}

static bool find_class(const struct loader *ld, const char *s, size_t n)
{
    for (size_t i = 0; i < ld->nclasses; i++)
        if (strlen(ld->classes[i]) == n && same_ignoring_case(ld->classes[i], s, n))
            return true;
    return false;
}

/* A name as the file first spelled it, recorded if new. */
static const char *name_of(struct loader *ld, const char *s, size_t n)
{
    for (size_t i = 0; i < ld->nnames; i++)
        if (strlen(ld->names[i]) == n && same_ignoring_case(ld->names[i], s, n))
            return ld->names[i];
    const char **grown = realloc(ld->names, (ld->nnames + 1) * sizeof(*grown));
    if (!grown)
        return NULL;
    ld->names = grown;
    const char *kept = keep(ld->db, s, n);
    if (kept)
        ld->names[ld->nnames++] = kept;
    return kept;
}

/* label = s|g:class|!:name:flavor (an [mtu] label is just the link type) */
static int parse_label(struct loader *ld, const char *val)
{
    if (ld->mod == MOD_MTU) {
        if (!*val)
            return p0ffp_fail(ld, "Empty MTU label");
        ld->flavor = keep(ld->db, val, strlen(val));
        return ld->flavor ? 0 : out_of_memory(ld);
    }
    if (*val != 'g' && *val != 's')
        return p0ffp_fail(ld, "Malformed class entry");
    ld->generic = *val == 'g';
    if (val[1] != ':')
        return p0ffp_fail(ld, "Malformed class entry");
    val += 2;
    const char *end = val;
    while (is_alnum(*end) || *end == '!')
        end++;
    if (end == val || *end != ':')
        return p0ffp_fail(ld, "Malformed class entry");
    if (*val == '!' && val[1] == ':') {
        ld->userland = true;
    } else {
        if (!find_class(ld, val, (size_t)(end - val)))
            return p0ffp_fail(ld, "Unknown class '%.*s'", (int)(end - val), val);
        ld->userland = false;
    }
    val = end + 1;
    end = val;
    while (is_name_char(*end))
        end++;
    if (end == val || *end != ':')
        return p0ffp_fail(ld, "Malformed name");
    ld->name = name_of(ld, val, (size_t)(end - val));
    ld->flavor = keep(ld->db, end + 1, strlen(end + 1));
    return ld->name && ld->flavor ? 0 : out_of_memory(ld);
}

/* sys = Windows,@unix,... (for tools: the systems they run on; only checked here) */
static int parse_sys(struct loader *ld, const char *val)
{
    while (*val) {
        while (is_blank(*val) || *val == ',')
            val++;
        bool is_class = *val == '@';
        if (is_class)
            val++;
        const char *end = val;
        while (is_name_char(*end))
            end++;
        if (end == val || (*end && *end != ','))
            return p0ffp_fail(ld, "Malformed sys entry");
        if (is_class) {
            if (!find_class(ld, val, (size_t)(end - val)))
                return p0ffp_fail(ld, "Unknown class '%.*s'", (int)(end - val), val);
        } else if (!name_of(ld, val, (size_t)(end - val))) {
            return out_of_memory(ld);
        }
        val = end;
    }
    return 0;
}

/* sig = N under [mtu] */
static int parse_mtu_sig(struct loader *ld, const char *val)
{
    const char *end = val;
    while (is_digit(*end))
        end++;
    if (end == val || *end)
        return p0ffp_fail(ld, "Malformed MTU value");
    int32_t mtu = p0f_atol(val);
    if (mtu <= 0 || mtu > 65535)
        return p0ffp_fail(ld, "Malformed MTU value");
    struct p0ffp_db *db = ld->db;
    if (db->nmtu == db->mtu_cap) {
        size_t cap = db->mtu_cap ? 2 * db->mtu_cap : 32;
        struct p0ffp_mtu *grown = realloc(db->mtu, cap * sizeof(*grown));
        if (!grown)
            return out_of_memory(ld);
        db->mtu = grown;
        db->mtu_cap = cap;
    }
    db->mtu[db->nmtu++] = (struct p0ffp_mtu){.mtu = (uint16_t)mtu, .link = ld->flavor};
    return 0;
}

/* p0f refuses a signature that an earlier one of the same direction already matches exactly
 * and specifically: the new one could never be reported. */
static const struct p0ffp_sig *covered_by(const struct loader *ld, const struct p0ffp_sig *s)
{
    const struct p0ffp_db *db = ld->db;
    const struct syn_probe p = {
        .ip_ver = s->ip_ver,
        .ttl = s->ttl,
        .ip_opt_len = s->ip_opt_len,
        .mss = s->mss,
        .win_type = s->win_type,
        .win = s->win,
        .wscale = s->wscale,
        .pay_class = s->pay_class,
        .opt_eol_pad = s->opt_eol_pad,
        .opt_cnt = s->opt_cnt,
        .opt_layout = s->opt_layout,
        .quirks = s->quirks,
    };
    struct syn_scan scan;
    for (size_t i = ld->first_sig; i < db->nsig; i++) {
        const struct p0ffp_sig *r = &db->sig[i];
        if (r->to_server != s->to_server || r->layout_hash != s->layout_hash)
            continue;
        uint32_t one = (uint32_t)i;
        synmatch_scan(db->sig, &one, 1, &p, &scan);
        if (scan.specific)
            return scan.specific;
    }
    return NULL;
}

static int add_tcp_sig(struct loader *ld, const char *val)
{
    struct p0ffp_sig s;
    memset(&s, 0, sizeof(s));
    if (p0ffp_parse_tcp_sig(ld, val, &s) < 0)
        return -1;
    s.name = ld->name;
    s.flavor = ld->flavor;
    s.generic = ld->generic;
    s.userland = ld->userland;
    s.to_server = ld->to_server;
    s.file = ld->file;
    s.line = ld->line;
    const struct p0ffp_sig *earlier = covered_by(ld, &s);
    if (earlier)
        return p0ffp_fail(ld, "Signature is already covered by line %u", earlier->line);

    struct p0ffp_db *db = ld->db;
    if (db->nsig == db->sig_cap) {
        size_t cap = db->sig_cap ? 2 * db->sig_cap : 128;
        struct p0ffp_sig *grown = realloc(db->sig, cap * sizeof(*grown));
        if (!grown)
            return out_of_memory(ld);
        db->sig = grown;
        db->sig_cap = cap;
    }
    db->sig[db->nsig++] = s;
    return 0;
}

static int parse_section(struct loader *ld, const char *line)
{
    line++;
    ld->state = NEED_LABEL;
    if (strcmp(line, "mtu]") == 0) {
        ld->mod = MOD_MTU;
        return 0;
    }
    const char *colon = strchr(line, ':');
    if (!colon)
        return p0ffp_fail(ld, "Malformed section identifier");
    size_t n = (size_t)(colon - line);
    if (n == 3 && strncmp(line, "tcp", 3) == 0)
        ld->mod = MOD_TCP;
    else if (n == 4 && strncmp(line, "http", 4) == 0)
        ld->mod = MOD_HTTP;
    else
        return p0ffp_fail(ld, "Unrecognized fingerprinting module '%.*s'", (int)n, line);
    if (strcmp(colon + 1, "request]") == 0)
        ld->to_server = true;
    else if (strcmp(colon + 1, "response]") == 0)
        ld->to_server = false;
    else
        return p0ffp_fail(ld, "Unrecognized traffic direction");
    return 0;
}

static int parse_line(struct loader *ld, const char *line)
{
    if (*line == '[')
        return parse_section(ld, line);

    const char *val = line;
    while (is_alpha(*val) || *val == '_')
        val++;
    size_t name_len = (size_t)(val - line);
    while (is_blank(*val))
        val++;
    if (line == val || *val != '=')
        return p0ffp_fail(ld, "Unexpected statement");
    while (is_blank(*++val))
        ;
#define IS(word) (name_len == sizeof(word) - 1 && strncmp(line, word, name_len) == 0)
    if (IS("classes")) {
        if (ld->state != NEED_SECT)
            return p0ffp_fail(ld, "misplaced 'classes'");
        return parse_classes(ld, val);
    }
    if (IS("ua_os")) {
        /* The HTTP module's; not checked beyond its place. */
        if (ld->state != NEED_LABEL || !ld->to_server || ld->mod != MOD_HTTP)
            return p0ffp_fail(ld, "misplaced 'us_os'");
        return 0;
    }
    if (IS("label")) {
        if (ld->state != NEED_LABEL && ld->state != NEED_SIG)
            return p0ffp_fail(ld, "misplaced 'label'");
        if (parse_label(ld, val) < 0)
            return -1;
        ld->state = ld->mod != MOD_MTU && ld->userland ? NEED_SYS : NEED_SIG;
        return 0;
    }
    if (IS("sys")) {
        if (ld->state != NEED_SYS)
            return p0ffp_fail(ld, "Misplaced 'sys'");
        ld->state = NEED_SIG;
        return parse_sys(ld, val);
    }
    if (IS("sig")) {
        if (ld->state != NEED_SIG)
            return p0ffp_fail(ld, "Misplaced 'sig'");
        switch (ld->mod) {
        case MOD_TCP: return add_tcp_sig(ld, val);
        case MOD_MTU: return parse_mtu_sig(ld, val);
        default: return 0;   /* HTTP signatures: not used, not checked */
        }
    }
#undef IS
    return p0ffp_fail(ld, "Unrecognized field '%.*s'", (int)name_len, line);
}

uint32_t p0ffp_layout_hash(const uint8_t *layout, unsigned cnt)
{
    uint32_t h = 2166136261u;   /* FNV-1a */
    for (unsigned i = 0; i < cnt; i++)
        h = (h ^ layout[i]) * 16777619u;
    return (h ^ cnt) * 16777619u;
}

/* The request signatures by bucket, each bucket keeping load order. */
static int index_buckets(struct p0ffp_db *db)
{
    uint32_t *by_bucket = malloc((db->nsig ? db->nsig : 1) * sizeof(*by_bucket));
    uint32_t fill[P0FFP_BUCKETS];
    if (!by_bucket)
        return -1;
    memset(db->bucket_start, 0, sizeof(db->bucket_start));
    for (size_t i = 0; i < db->nsig; i++)
        if (db->sig[i].to_server)
            db->bucket_start[P0FFP_BUCKET(db->sig[i].layout_hash) + 1]++;
    for (unsigned b = 0; b < P0FFP_BUCKETS; b++)
        db->bucket_start[b + 1] += db->bucket_start[b];
    memcpy(fill, db->bucket_start, sizeof(fill));
    for (size_t i = 0; i < db->nsig; i++)
        if (db->sig[i].to_server)
            by_bucket[fill[P0FFP_BUCKET(db->sig[i].layout_hash)]++] = (uint32_t)i;
    free(db->by_bucket);
    db->by_bucket = by_bucket;
    return 0;
}

void p0ffp_db_init(struct p0ffp_db *db)
{
    memset(db, 0, sizeof(*db));
}

void p0ffp_db_free(struct p0ffp_db *db)
{
    for (size_t i = 0; i < db->nstrings; i++)
        free(db->strings[i]);
    free(db->strings);
    free(db->sig);
    free(db->mtu);
    free(db->by_bucket);
    memset(db, 0, sizeof(*db));
}

int p0ffp_load_text(struct p0ffp_db *db, const char *name, const char *text, size_t len, char *err, size_t errsize)
{
    struct loader ld = {.db = db, .state = NEED_SECT, .mod = MOD_NONE, .err = err, .errsize = errsize};
    const size_t nsig = db->nsig, nmtu = db->nmtu, nstrings = db->nstrings;
    const char *end = memchr(text, '\0', len);
    const char *cur = text;
    char *line = NULL;
    int rc = 0;

    if (errsize)
        err[0] = '\0';
    if (end)
        len = (size_t)(end - text);
    ld.first_sig = nsig;
    ld.file = keep(db, name, strlen(name));
    if (!ld.file) {
        ld.file = name;
        rc = out_of_memory(&ld);
    }
    line = malloc(len + LINE_PAD);
    if (!line && rc == 0)
        rc = out_of_memory(&ld);

    while (rc == 0) {
        ld.line++;
        while (cur < text + len && is_blank(*cur))
            cur++;
        const char *eol = memchr(cur, '\n', (size_t)(text + len - cur));
        if (!eol)
            eol = text + len;
        if (cur != eol && *cur != ';') {
            memcpy(line, cur, (size_t)(eol - cur));
            memset(line + (eol - cur), 0, LINE_PAD);
            rc = parse_line(&ld, line);
        }
        if (eol == text + len)
            break;
        cur = eol + 1;
    }
    if (rc == 0 && index_buckets(db) < 0)
        rc = out_of_memory(&ld);
    if (rc < 0) {
        /* Back to what the database held before this file. */
        for (size_t i = nstrings; i < db->nstrings; i++)
            free(db->strings[i]);
        db->nstrings = nstrings;
        db->nsig = nsig;
        db->nmtu = nmtu;
        index_buckets(db);
    }
    for (size_t i = 0; i < ld.nclasses; i++)
        free(ld.classes[i]);
    free(ld.classes);
    free(ld.names);
    free(line);
    return rc;
}

int p0ffp_load_file(struct p0ffp_db *db, const char *path, char *err, size_t errsize)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        snprintf(err, errsize, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    char *text = malloc(FP_FILE_MAX + 1);
    size_t len = text ? fread(text, 1, FP_FILE_MAX + 1, f) : 0;
    int read_error = ferror(f);
    fclose(f);
    if (!text || read_error || len > FP_FILE_MAX) {
        snprintf(err, errsize, "%s: %s", path,
                 !text ? "out of memory" : read_error ? "read error" : "larger than 16 MiB");
        free(text);
        return -1;
    }
    int rc = p0ffp_load_text(db, path, text, len, err, errsize);
    free(text);
    return rc;
}

const char *p0ffp_link_for_mtu(const struct p0ffp_db *db, unsigned mtu)
{
    for (size_t i = 0; i < db->nmtu; i++)
        if (db->mtu[i].mtu == mtu)
            return db->mtu[i].link;
    return NULL;
}

size_t p0ffp_request_count(const struct p0ffp_db *db)
{
    return db->bucket_start[P0FFP_BUCKETS];
}
