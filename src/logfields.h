/* The fields of the shim's log lines, in one table: each field's name, its place in the
 * line, its kind and, where the shim writes a fixed vocabulary, its words. The writer
 * (logfmt_connection) walks the table in order; the reader (p0fshim report) finds fields
 * and words in it; so the two cannot drift apart. */
#ifndef P0FSHIM_LOGFIELDS_H
#define P0FSHIM_LOGFIELDS_H

#include <stdbool.h>
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
    LF_FP,                   /* the source that decided: syn or p0f */
    /* the fingerprint: from the SYN, or p0f v3's answer */
    LF_OS,
    LF_FLAVOR,
    LF_GENRE,
    LF_MATCH,
    LF_DISTANCE,
    LF_LINK,
    LF_SIG,                  /* the SYN's signature, in p0f's raw_sig form */
    /* p0f v3's own */
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
    LF_KARMA_TOTAL,          /* the fleet's smite_os hits for the client in karma_window */
    LF_EXEMPT,
    LF_ACTION,
    LF_REPLY,
    LF_CUTOFF,
    LF_CLIENT_SENT,
    LF_GREYLIST_WAIT_S,
    LF_REASON,
    LF_FP_REASON,            /* why the SYN gave no fingerprint */
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

#define LOG_FIELD_NAME_MAX 15

/* The sizes of the enumerated vocabularies, for counters kept per word. */
#define LOG_VERDICT_WORDS 7
#define LOG_MATCH_WORDS 3
#define LOG_ACTION_WORDS 3
#define LOG_CUTOFF_WORDS 3
#define LOG_FP_WORDS 2

/* The words of verdict= are enum verdict's (verdict_name), cutoff= enum cutoff's from
 * CUTOFF_IN_TIME on, match= p0f3_match_word's, action= action_log_word's, fp= enum
 * fp_source's from FP_SOURCE_SYN on. */
struct log_field_spec {
    const char *name;
    uint8_t name_len;
    enum log_field_kind kind;
    const char *const *words; /* an enumerated word's vocabulary, in its enum's order; else NULL */
    uint8_t nwords;
};

extern const struct log_field_spec log_field_table[LOG_FIELDS];

/* The index of the word w[0..len) in the field's vocabulary, or -1. w holds no NUL (no log
 * value can); a word is NUL-terminated, so the first differing byte ends the comparison. */
static inline int log_field_word_index(enum log_field f, const char *w, size_t len)
{
    const struct log_field_spec *spec = &log_field_table[f];
    for (unsigned i = 0; i < spec->nwords; i++) {
        const char *word = spec->words[i];
        size_t j = 0;
        while (j < len && word[j] == w[j])
            j++;
        if (j == len && word[j] == '\0')
            return (int)i;
    }
    return -1;
}

/* Finding a field by name as fast as a hand-written switch: the name's bytes are read as two
 * (overlapping) words, which both pick a slot of a small hash and, compared with the words
 * stored for the field there, decide the match. Built once by its user, then only read. */
#define LOG_FIELD_SLOTS 128

struct log_field_key {
    uint64_t head, tail;     /* the name's first and last bytes, as log_field_key reads them */
    uint32_t len;
};

struct log_field_index {
    uint8_t slot[LOG_FIELD_SLOTS];   /* 0 empty, else field + 1 */
    struct log_field_key key[LOG_FIELDS];
};

void log_field_index_build(struct log_field_index *ix);

/* The words of name[0..len), 0 < len <= 16, reading no byte outside it: of the widest load
 * size (8, 4, 2, 1) that fits, the first and the last such load. */
static inline struct log_field_key log_field_key(const char *name, size_t len)
{
    struct log_field_key k = {.len = (uint32_t)len};
    if (len >= 8) {
        memcpy(&k.head, name, 8);
        memcpy(&k.tail, name + len - 8, 8);
    } else if (len >= 4) {
        uint32_t h, t;
        memcpy(&h, name, 4);
        memcpy(&t, name + len - 4, 4);
        k.head = h, k.tail = t;
    } else if (len >= 2) {
        uint16_t h, t;
        memcpy(&h, name, 2);
        memcpy(&t, name + len - 2, 2);
        k.head = h, k.tail = t;
    } else {
        k.head = (unsigned char)name[0];
    }
    return k;
}

static inline unsigned log_field_slot(const struct log_field_key *k)
{
    return (unsigned)(((k->head ^ (k->tail << 3) ^ k->len) * 0x9e3779b97f4a7c15ull) >> 57);
}

/* The field called name[0..len), or -1 when the shim writes no such field. */
static inline int log_field_find(const struct log_field_index *ix, const char *name, size_t len)
{
    if (len == 0 || len > LOG_FIELD_NAME_MAX)
        return -1;
    struct log_field_key k = log_field_key(name, len);
    for (unsigned s = log_field_slot(&k);; s = (s + 1) & (LOG_FIELD_SLOTS - 1)) {
        unsigned id = ix->slot[s];
        if (id == 0)
            return -1;
        const struct log_field_key *f = &ix->key[id - 1];
        if (f->head == k.head && f->tail == k.tail && f->len == k.len)
            return (int)id - 1;
    }
}

#endif
