/* The fields of the shim's log lines, in one table: each field's name, its place in the
 * line, its kind and, where the shim writes a fixed vocabulary, its words. The writer
 * (logfmt_connection) walks the table in order; the reader (p0fshim report) finds fields
 * and words in it; so the two cannot drift apart. */
#ifndef P0FSHIM_LOGFIELDS_H
#define P0FSHIM_LOGFIELDS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* A connection line has these fields in this order (absent ones are left out). A diagnostic
 * line is level= msg=, then a detail (often reason=), then suppressed= when some were held
 * back; milter and policy-service lines use further keys of their own. */
enum log_field {
    LF_REMOTE,
    LF_LOCAL,
    LF_VERDICT,
    LF_MS,
    /* p0f v3's answer */
    LF_OS,
    LF_FLAVOR,
    LF_GENRE,
    LF_MATCH,
    LF_DISTANCE,
    LF_LINK,
    LF_UPTIME_MIN,
    LF_TOTAL_CONN,
    LF_NAT,
    LF_OS_CHANGE,
    /* p0f v2's answer */
    LF_V2_GENRE,
    LF_V2_DETAIL,
    LF_V2_DIST,
    LF_V2_LINK,
    LF_V2_UPTIME_H,
    LF_V2_NAT,
    LF_V2_FW,
    LF_V2_REAL,
    LF_V2_SCORE,
    LF_V2_MFLAGS,
    /* the policy and what was done */
    LF_RULE,
    LF_RULE_AT,
    LF_KARMA,
    LF_EXEMPT,
    LF_ACTION,
    LF_REPLY,
    LF_CUTOFF,
    LF_CLIENT_SENT,
    LF_GREYLIST_WAIT_S,
    LF_REASON,
    LF_V2_REASON,
    /* diagnostics only */
    LF_LEVEL,
    LF_MSG,
    LF_SUPPRESSED,
    LOG_FIELDS
};
#define LOG_CONNECTION_FIELDS (LF_V2_REASON + 1)

enum log_field_kind {
    LOG_ENDPOINT,            /* IP:PORT, an IPv6 address in brackets */
    LOG_WORD,                /* bare: the shim's own vocabulary, never text from outside */
    LOG_NUMBER,              /* decimal, possibly negative */
    LOG_QUOTED,              /* "...", with \" \\ \xHH escapes: text from p0f, the network or a file */
};

struct log_field_spec {
    const char *name;
    uint8_t name_len;
    enum log_field_kind kind;
    const char *const *words; /* an enumerated word's vocabulary, in its enum's order; else NULL */
    uint8_t nwords;
};

extern const struct log_field_spec log_field_table[LOG_FIELDS];

/* The words of verdict= are enum verdict's (verdict_name), cutoff= enum cutoff's from
 * CUTOFF_IN_TIME on, match= p0f3_match_word's, action= action_log_word's. */
#define LOG_FIELD_NAME_MAX 15

/* The index of the word w[0..len) in the field's vocabulary, or -1. */
int log_field_word_index(enum log_field f, const char *w, size_t len);

/* Finding a field by name as fast as a hand-written switch: a small hash of the names, built
 * once by its user (log_field_index_build) and then only read. */
#define LOG_FIELD_SLOTS 128

struct log_field_index {
    uint8_t slot[LOG_FIELD_SLOTS];   /* 0 empty, else field + 1 */
};

void log_field_index_build(struct log_field_index *ix);

static inline unsigned log_field_hash(const char *name, size_t len)
{
    return ((unsigned char)name[0] * 7u + (unsigned char)name[len - 1] * 3u + (unsigned char)name[len / 2] +
            (unsigned)len * 13u) & (LOG_FIELD_SLOTS - 1);
}

/* The field called name[0..len), or -1 when the shim writes no such field. */
static inline int log_field_find(const struct log_field_index *ix, const char *name, size_t len)
{
    if (len == 0 || len > LOG_FIELD_NAME_MAX)
        return -1;
    for (unsigned s = log_field_hash(name, len);; s = (s + 1) & (LOG_FIELD_SLOTS - 1)) {
        unsigned id = ix->slot[s];
        if (id == 0)
            return -1;
        const struct log_field_spec *f = &log_field_table[id - 1];
        if (f->name_len == len && memcmp(f->name, name, len) == 0)
            return (int)id - 1;
    }
}

#endif
