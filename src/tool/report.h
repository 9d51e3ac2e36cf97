/* p0fshim report: the pieces behind cmd_report. Line classification and the logfmt
 * parser are pure (no I/O, no allocation); the tables have bounded memory. */
#ifndef P0FSHIM_TOOL_REPORT_H
#define P0FSHIM_TOOL_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "logfmt.h"
#include "policy.h"

/* Longer lines are not the shim's: classified by their first bytes, then skipped. */
#define REPORT_LINE_MAX (16 * 1024)
/* The shim never writes a message longer than its logfmt buffer. */
#define REPORT_MSG_MAX (LOGFMT_MAX - 1)

/* ---- syslog / journal line classification (report_parse.c) ---- */

enum line_kind {
    LINE_SHIM,               /* a p0fshim line: msg is the logfmt message */
    LINE_OTHER,              /* another program's line, a journal marker, a blank line */
    LINE_BAD,                /* neither: unparsable */
};

struct time_ctx {
    int fixed_year;          /* --year; 0 = infer */
    int ref_year, ref_mon;   /* the input's mtime: a later month is the previous year */
    /* cache: consecutive lines usually share the second */
    char last_stamp[32];
    size_t last_stamp_len;
    int64_t last_t;
};

struct line_info {
    enum line_kind kind;
    bool dated;
    int64_t t;               /* wall-clock seconds as written (timegm of the fields) */
    const char *msg;
    size_t msg_len;
    unsigned repeat;         /* rsyslog "message repeated N times: [ ... ]": N, else 1 */
    const char *why;         /* LINE_BAD */
};

void classify_line(struct time_ctx *tc, const char *p, size_t n, struct line_info *out);

/* Days since 1970-01-01 of a civil date. */
int64_t days_from_civil(int64_t y, unsigned m, unsigned d);
/* "YYYY-MM-DD[( |T)HH:MM[:SS]]" -> wall seconds; -1 on error. */
int parse_time_arg(const char *s, int64_t *out);
/* wall seconds -> "YYYY-MM-DD HH:MM:SS" */
void format_wall(int64_t t, char *buf, size_t size);

/* ---- the logfmt message ---- */

struct field {
    const char *v;
    uint32_t len;
    bool escaped;
};

enum msg_kind { MSG_CONNECTION, MSG_DIAGNOSTIC };

/* Every enum verdict, by index: allow block exempt unknown error greylist pass_greylist. */
#define VERDICTS (VERDICT_PASS_GREYLIST + 1)

struct ipkey {
    uint8_t family;          /* 4 or 6 */
    uint8_t ip[16];
};

struct message {
    enum msg_kind kind;
    uint64_t present;            /* bit f: field f was given */
    struct field f[LOG_FIELDS];  /* by enum log_field; only the fields the report reads */
    int verdict;             /* enum verdict */
    enum cutoff cutoff;      /* logfmt.h's; CUTOFF_NONE too for a word not known here */
    struct ipkey remote;
    bool has_ms, has_karma;
    int64_t ms, karma, suppressed;
};

_Static_assert(LOG_FIELDS <= 64, "struct message's present has a bit per field");

static inline bool has_field(const struct message *m, enum log_field f)
{
    return m->present >> f & 1;
}

/* 0, or -1 with *why (a static string). */
int parse_message(const char *msg, size_t len, struct message *m, const char **why);
/* Undoes \" \\ \xHH; out must hold len bytes. Returns the length. */
size_t unescape_value(const char *v, size_t len, char *out);
void ipkey_format(const struct ipkey *k, char *buf, size_t size);

/* ---- bounded tables (report_tab.c) ---- */

struct sent {
    uint64_t hash;
    uint32_t off, len;       /* key in the arena */
    uint32_t aux_off, aux_len;
    uint64_t n[VERDICTS];
    uint64_t total;
    int64_t extra;
};

struct strtab {
    uint32_t *slots;         /* 0 empty, else entry index + 1 */
    size_t nslots;
    struct sent *e;
    size_t n, cap, max;
    char *arena;
    size_t alen, acap, amax;
    uint64_t overflow[VERDICTS], overflow_total;
};

void strtab_init(struct strtab *t, size_t max_keys, size_t max_arena);
void strtab_free(struct strtab *t);
/* NULL when the table is full (the count then goes to overflow). */
struct sent *strtab_add(struct strtab *t, const char *key, size_t len, int verdict, uint64_t weight);
const char *strtab_key(const struct strtab *t, const struct sent *e);
/* Sets the aux string once (the first one seen). */
void strtab_set_aux(struct strtab *t, struct sent *e, const char *s, size_t len);

struct ient {
    struct ipkey key;
    uint8_t used;
    uint32_t blocks;
    int32_t karma;
    uint32_t karma_lines;
};

struct iptab {
    struct ient *e;
    size_t nslots, n, max;
    uint64_t evictions, evicted_entries, evicted_max;
};

void iptab_init(struct iptab *t, size_t max_ips);
void iptab_free(struct iptab *t);
void iptab_add(struct iptab *t, const struct ipkey *k, uint32_t blocks, int64_t karma, uint32_t karma_lines);

struct hent {
    int64_t hour;            /* wall seconds / 3600 */
    uint8_t used;
    uint64_t n[VERDICTS];
    uint64_t total;
};

struct hourtab {
    struct hent *e;
    size_t nslots, n, max;
    uint64_t overflow;
    struct hent *last;       /* consecutive lines share the hour */
};

void hourtab_init(struct hourtab *t, size_t max_hours);
void hourtab_free(struct hourtab *t);
void hourtab_add(struct hourtab *t, int64_t hour, int verdict, uint64_t weight);

#endif
