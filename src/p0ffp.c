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

#include "synmatch.h"

#define FP_FILE_MAX (16 * 1024 * 1024)
#define NAME_CHARS " ./-_!?()"   /* besides letters and digits, in names (p0f's NAME_CHARS) */
#define LINE_PAD 4               /* NULs after a line: p0f's "ittl-:" skip may step past its end */

/* Character classes of the C locale, whatever locale the host process has set. */
static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static bool is_alnum(char c) { return is_digit(c) || is_alpha(c); }
static bool is_blank(char c) { return c == ' ' || c == '\t'; }
static bool is_name_char(char c) { return is_alnum(c) || (c && strchr(NAME_CHARS, c)); }

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

/* atol() as glibc's, then stored in p0f's 32-bit variable. */
static int32_t p0f_atol(const char *s)
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

enum need { NEED_SECT, NEED_LABEL, NEED_SYS, NEED_SIG };
enum module { MOD_NONE, MOD_TCP, MOD_HTTP, MOD_MTU };

struct loader {
    struct p0ffp_db *db;
    const char *file;
    unsigned line;
    enum need state;
    enum module mod;
    bool to_server;
    /* the current label */
    bool generic, userland;
    const char *name, *flavor;
    /* this file's classes and names (names keep the spelling of their first use) */
    char **classes;
    size_t nclasses;
    const char **names;
    size_t nnames;
    size_t first_sig;
    char *err;
    size_t errsize;
};

static int fail(struct loader *ld, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct loader *ld, const char *fmt, ...)
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
    return fail(ld, "out of memory");
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
            return fail(ld, "Malformed class entry");
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
            return fail(ld, "Empty MTU label");
        ld->flavor = keep(ld->db, val, strlen(val));
        return ld->flavor ? 0 : out_of_memory(ld);
    }
    if (*val != 'g' && *val != 's')
        return fail(ld, "Malformed class entry");
    ld->generic = *val == 'g';
    if (val[1] != ':')
        return fail(ld, "Malformed class entry");
    val += 2;
    const char *end = val;
    while (is_alnum(*end) || *end == '!')
        end++;
    if (end == val || *end != ':')
        return fail(ld, "Malformed class entry");
    if (*val == '!' && val[1] == ':') {
        ld->userland = true;
    } else {
        if (!find_class(ld, val, (size_t)(end - val)))
            return fail(ld, "Unknown class '%.*s'", (int)(end - val), val);
        ld->userland = false;
    }
    val = end + 1;
    end = val;
    while (is_name_char(*end))
        end++;
    if (end == val || *end != ':')
        return fail(ld, "Malformed name");
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
            return fail(ld, "Malformed sys entry");
        if (is_class) {
            if (!find_class(ld, val, (size_t)(end - val)))
                return fail(ld, "Unknown class '%.*s'", (int)(end - val), val);
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
        return fail(ld, "Malformed MTU value");
    int32_t mtu = p0f_atol(val);
    if (mtu <= 0 || mtu > 65535)
        return fail(ld, "Malformed MTU value");
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

/* The digits at *p, then one of the delimiters; the text after the delimiter follows. */
static const char *skip_digits(const char *p)
{
    while (is_digit(*p))
        p++;
    return p;
}

static int parse_layout(struct loader *ld, const char **valp, struct p0ffp_sig *s)
{
    const char *val = *valp;
    static const struct {
        const char *word;
        uint8_t kind;
    } named[] = {
        {"nop", SYN_OPT_NOP}, {"mss", SYN_OPT_MSS}, {"ws", SYN_OPT_WS}, {"sok", SYN_OPT_SACKOK},
        {"sack", SYN_OPT_SACK}, {"ts", SYN_OPT_TS},
    };

    while (*val != ':') {
        if (s->opt_cnt >= SYN_MAX_OPTS)
            return fail(ld, "Too many TCP options");
        if (strncmp(val, "eol", 3) == 0) {
            s->opt_layout[s->opt_cnt++] = SYN_OPT_EOL;
            val += 3;
            if (*val != '+')
                return fail(ld, "Malformed EOL option");
            val++;
            const char *end = skip_digits(val);
            if (!*end)
                return fail(ld, "Truncated options");
            if (*end != ':')
                return fail(ld, "EOL must be the last option");
            int32_t pad = p0f_atol(val);
            if (pad < 0 || pad > 255)
                return fail(ld, "Bogus EOL padding");
            s->opt_eol_pad = (uint8_t)pad;
            val = end;
        } else if (*val == '?') {
            val++;
            const char *end = skip_digits(val);
            if (*end != ':' && *end != ',')
                return fail(ld, "Malformed '?' option");
            int32_t kind = p0f_atol(val);
            if (kind < 0 || kind > 255)
                return fail(ld, "Bogus '?' option");
            s->opt_layout[s->opt_cnt++] = (uint8_t)kind;
            val = end;
        } else {
            size_t i;
            for (i = 0; i < sizeof(named) / sizeof(named[0]); i++)
                if (strncmp(val, named[i].word, strlen(named[i].word)) == 0)
                    break;
            if (i == sizeof(named) / sizeof(named[0]))
                return fail(ld, "Unrecognized TCP option");
            s->opt_layout[s->opt_cnt++] = named[i].kind;
            val += strlen(named[i].word);
        }
        if (*val == ':')
            break;
        if (*val != ',')
            return fail(ld, "Malformed TCP options");
        val++;
    }
    *valp = val + 1;
    return 0;
}

static int parse_quirks(struct loader *ld, const char **valp, struct p0ffp_sig *s)
{
    const char *val = *valp;
    /* Quirks that cannot occur in one IP version are refused in its signatures. */
    const uint32_t v4_only = SYN_QUIRK_BIT(SYN_QUIRK_DF) | SYN_QUIRK_BIT(SYN_QUIRK_NZ_ID) |
                             SYN_QUIRK_BIT(SYN_QUIRK_ZERO_ID) | SYN_QUIRK_BIT(SYN_QUIRK_NZ_MBZ);

    while (*val != ':') {
        unsigned q;
        for (q = 0; q < SYN_QUIRKS; q++)
            if (strncmp(val, syn_quirk_names[q], strlen(syn_quirk_names[q])) == 0)
                break;
        if (q == SYN_QUIRKS)
            return fail(ld, "Unrecognized quirk");
        if (s->ip_ver == 6 && (SYN_QUIRK_BIT(q) & v4_only))
            return fail(ld, "'%s' is not valid for IPv6", syn_quirk_names[q]);
        if (s->ip_ver == 4 && q == SYN_QUIRK_FLOW)
            return fail(ld, "'flow' is not valid for IPv4");
        s->quirks |= SYN_QUIRK_BIT(q);
        val += strlen(syn_quirk_names[q]);
        if (*val == ':')
            break;
        if (*val != ',')
            return fail(ld, "Malformed quirks");
        val++;
    }
    *valp = val + 1;
    return 0;
}

/* sig = ver:ittl:olen:mss:wsize,scale:olayout:quirks:pclass, into *s. */
static int parse_tcp_sig(struct loader *ld, const char *val, struct p0ffp_sig *s)
{
    const char *end;

    switch (*val) {
    case '4': s->ip_ver = 4; break;
    case '6': s->ip_ver = 6; break;
    case '*': s->ip_ver = -1; break;
    default: return fail(ld, "Unrecognized IP version");
    }
    if (val[1] != ':')
        return fail(ld, "Malformed signature");
    val += 2;

    /* Initial TTL: N, N+distance, or N- (random) */
    end = skip_digits(val);
    if (*end != ':' && *end != '+' && *end != '-')
        return fail(ld, "Malformed signature");
    int32_t ittl = p0f_atol(val);
    if (ittl < 1 || ittl > 255)
        return fail(ld, "Bogus initial TTL");
    val = end + 1;
    if (*end == '-' && end[1] == ':') {
        /* p0f steps two more characters here, past the ':' and one after it. */
        s->bad_ttl = true;
        val += 2;
    } else if (*end == '+') {
        end = skip_digits(end + 1);
        if (*end != ':')
            return fail(ld, "Malformed signature");
        int32_t add = p0f_atol(val);
        if (add < 0 || ittl + add > 255)
            return fail(ld, "Bogus initial TTL");
        ittl += add;
        val = end + 1;
    }
    s->ttl = (uint8_t)ittl;

    end = skip_digits(val);
    if (*end != ':')
        return fail(ld, "Malformed signature");
    int32_t olen = p0f_atol(val);
    if (olen < 0 || olen > 255)
        return fail(ld, "Bogus IP option length");
    s->ip_opt_len = (uint8_t)olen;
    val = end + 1;

    if (*val == '*' && val[1] == ':') {
        s->mss = -1;
        val += 2;
    } else {
        end = skip_digits(val);
        if (*end != ':')
            return fail(ld, "Malformed signature");
        s->mss = p0f_atol(val);
        if (s->mss < 0 || s->mss > 65535)
            return fail(ld, "Bogus MSS");
        val = end + 1;
    }

    if (*val == '*' && val[1] == ',') {
        s->win_type = P0FFP_WIN_ANY;
        s->win = 0;
        val += 2;
    } else if (*val == '%') {
        s->win_type = P0FFP_WIN_MOD;
        end = skip_digits(++val);
        if (*end != ',')
            return fail(ld, "Malformed signature");
        s->win = p0f_atol(val);
        if (s->win < 2 || s->win > 65535)
            return fail(ld, "Bogus '%%' value");
        val = end + 1;
    } else if (strncmp(val, "mss*", 4) == 0 || strncmp(val, "mtu*", 4) == 0) {
        s->win_type = val[1] == 's' ? P0FFP_WIN_MSS : P0FFP_WIN_MTU;
        val += 4;
        end = skip_digits(val);
        if (*end != ',')
            return fail(ld, "Malformed signature");
        s->win = p0f_atol(val);
        if (s->win < 1 || s->win > 1000)
            return fail(ld, "Bogus MSS/MTU multiplier");
        val = end + 1;
    } else {
        s->win_type = P0FFP_WIN_NORMAL;
        end = skip_digits(val);
        if (*end != ',')
            return fail(ld, "Malformed signature");
        s->win = p0f_atol(val);
        if (s->win < 0 || s->win > 65535)
            return fail(ld, "Bogus window size");
        val = end + 1;
    }

    if (*val == '*' && val[1] == ':') {
        s->wscale = -1;
        val += 2;
    } else {
        end = skip_digits(val);
        if (*end != ':')
            return fail(ld, "Malformed signature");
        int32_t scale = p0f_atol(val);
        if (scale < 0 || scale > 255)
            return fail(ld, "Bogus window scale");
        s->wscale = (int16_t)scale;
        val = end + 1;
    }

    if (parse_layout(ld, &val, s) < 0 || parse_quirks(ld, &val, s) < 0)
        return -1;
    s->layout_hash = p0ffp_layout_hash(s->opt_layout, s->opt_cnt);

    if (strcmp(val, "*") == 0)
        s->pay_class = -1;
    else if (strcmp(val, "0") == 0)
        s->pay_class = 0;
    else if (strcmp(val, "+") == 0)
        s->pay_class = 1;
    else
        return fail(ld, "Malformed payload class");
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
    if (parse_tcp_sig(ld, val, &s) < 0)
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
        return fail(ld, "Signature is already covered by line %u", earlier->line);

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
        return fail(ld, "Malformed section identifier");
    size_t n = (size_t)(colon - line);
    if (n == 3 && strncmp(line, "tcp", 3) == 0)
        ld->mod = MOD_TCP;
    else if (n == 4 && strncmp(line, "http", 4) == 0)
        ld->mod = MOD_HTTP;
    else
        return fail(ld, "Unrecognized fingerprinting module '%.*s'", (int)n, line);
    if (strcmp(colon + 1, "request]") == 0)
        ld->to_server = true;
    else if (strcmp(colon + 1, "response]") == 0)
        ld->to_server = false;
    else
        return fail(ld, "Unrecognized traffic direction");
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
        return fail(ld, "Unexpected statement");
    while (is_blank(*++val))
        ;
#define IS(word) (name_len == sizeof(word) - 1 && strncmp(line, word, name_len) == 0)
    if (IS("classes")) {
        if (ld->state != NEED_SECT)
            return fail(ld, "misplaced 'classes'");
        return parse_classes(ld, val);
    }
    if (IS("ua_os")) {
        /* The HTTP module's; not checked beyond its place. */
        if (ld->state != NEED_LABEL || !ld->to_server || ld->mod != MOD_HTTP)
            return fail(ld, "misplaced 'us_os'");
        return 0;
    }
    if (IS("label")) {
        if (ld->state != NEED_LABEL && ld->state != NEED_SIG)
            return fail(ld, "misplaced 'label'");
        if (parse_label(ld, val) < 0)
            return -1;
        ld->state = ld->mod != MOD_MTU && ld->userland ? NEED_SYS : NEED_SIG;
        return 0;
    }
    if (IS("sys")) {
        if (ld->state != NEED_SYS)
            return fail(ld, "Misplaced 'sys'");
        ld->state = NEED_SIG;
        return parse_sys(ld, val);
    }
    if (IS("sig")) {
        if (ld->state != NEED_SIG)
            return fail(ld, "Misplaced 'sig'");
        switch (ld->mod) {
        case MOD_TCP: return add_tcp_sig(ld, val);
        case MOD_MTU: return parse_mtu_sig(ld, val);
        default: return 0;   /* HTTP signatures: not used, not checked */
        }
    }
#undef IS
    return fail(ld, "Unrecognized field '%.*s'", (int)name_len, line);
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
