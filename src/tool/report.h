/* p0fshim report: the pieces behind cmd_report, in the order a line goes through them:
 * reading the inputs (report.c), classifying lines and parsing the shim's messages
 * (report_parse.c, pure: no I/O, no allocation), counting (report_count.c, into tables with
 * bounded memory: report_tab.c, and over time: report_time.c), and drawing the counts as
 * text, JSON or CSV (report_out.c, one table of sections) or as an HTML page with charts
 * (report_html.c, report_chart.c). */
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
    uint64_t present;        /* bit f: field f was given */
    struct field f[LOG_FIELDS]; /* by enum log_field; only the fields the report reads */
    int verdict;             /* enum verdict */
    enum cutoff cutoff;      /* logfmt.h's; CUTOFF_NONE too for a word not known here */
    struct ipkey remote;
    bool has_ms, has_karma, has_karma_total;
    int64_t ms, karma, suppressed, karma_total;
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
    uint32_t karma_total_max;    /* the highest karma_total= of its lines (a fleet's karma store) */
};

struct iptab {
    struct ient *e;
    size_t nslots, n, max;
    uint64_t evictions, evicted_entries, evicted_max;
};

void iptab_init(struct iptab *t, size_t max_ips);
void iptab_free(struct iptab *t);
void iptab_add(struct iptab *t, const struct ipkey *k, uint32_t blocks, int64_t karma, uint32_t karma_lines,
               int64_t karma_total);

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

/* ---- connections over time (report_time.c) ---- */

enum bucket_width { BUCKET_MINUTE, BUCKET_HOUR, BUCKET_DAY, BUCKET_WIDTHS };

struct bucket_unit {
    const char *name;
    int64_t seconds;
    int label_len;           /* of format_wall's text: "YYYY-MM-DD HH:MM" or "YYYY-MM-DD" */
};
extern const struct bucket_unit bucket_units[BUCKET_WIDTHS];

/* What a count of the timeline is of: a verdict, or a genre by its entry in report.genre. */
enum {
    SERIES_VERDICT = 0,                 /* + enum verdict */
    SERIES_NO_GENRE = VERDICTS,         /* a connection line without genre= (p0f gave no answer) */
    SERIES_GENRE_OVERFLOW,              /* a genre the genre table had no room for */
    SERIES_GENRE,                       /* + the genre's index in report.genre.e */
};

struct tcell {
    int64_t start;           /* wall seconds, a multiple of the timeline's width */
    uint32_t series;
    uint32_t used;
    uint64_t n;
};

struct timeline {
    enum bucket_width width; /* of every cell: the finest the table has had room for */
    struct tcell *c;
    size_t nslots, n, max;
    uint64_t folded;         /* genre counts put under "other genres": day buckets filled the table */
    uint64_t dropped;        /* counts in no cell: day buckets filled even the table's reserve */
    unsigned coarsened;      /* how often the width grew */
};

/* The start of the bucket holding wall second `when` (floored, also before 1970). */
int64_t bucket_start(int64_t when, enum bucket_width width);
void timeline_init(struct timeline *t, size_t max_cells);
void timeline_free(struct timeline *t);
void timeline_add(struct timeline *t, int64_t when, uint32_t series, uint64_t weight);
/* The width to draw the range first..last in: by its length, never finer than the table's. */
enum bucket_width timeline_width_for(const struct timeline *t, int64_t first, int64_t last);
/* Adds the counts into out[bucket * ncolumns + column] for the nbuckets buckets of `width`
 * from `from` (a bucket start), the column given by column_of (negative: not wanted).
 * Returns the wanted counts that fell outside those buckets. */
uint64_t timeline_sum(const struct timeline *t, enum bucket_width width, int64_t from, size_t nbuckets,
                      int (*column_of)(uint32_t series, const void *ctx), const void *ctx, uint64_t *out,
                      size_t ncolumns);

/* ---- the counts (report_count.c) ---- */

#define MS_BUCKETS 10000
#define EXAMPLE_TEXT_MAX 160

/* Refusals the library carried out itself after the MTA already had the connection (async
 * mode, or a hold that timed out), that could no longer stop everything: cutoff= on a block
 * or greylist line. One row per counter. cutoff=in_time, the usual and effective case, is no
 * row: these are the ones to look at. */
struct cutoff_row {
    const char *key;         /* JSON and CSV */
    const char *label;       /* text */
    int verdict;
    enum cutoff cutoff;
};
#define CUTOFF_ROWS 4
extern const struct cutoff_row cutoff_rows[CUTOFF_ROWS];

/* An unparsable line, as shown. */
struct example {
    size_t input;
    uint64_t line;
    const char *why;
    char text[EXAMPLE_TEXT_MAX + 1];
    size_t len;
    size_t full_len;
};

struct input {
    const char *name;
    uint64_t lines, bytes;
    char error[300];
};

struct report {
    /* options */
    bool has_since, has_until;
    int64_t since, until;
    size_t top, show_bad;
    int fixed_year;
    /* the input being read */
    struct input *inputs;
    size_t ninputs, cur;
    struct time_ctx tc;
    uint64_t lineno;
    /* counts */
    /* lines = shim_lines + other + not_syslog; shim_lines = connection lines + diagnostics +
     * bad_shim + outside + undated_left_out; bad = bad_shim + not_syslog */
    uint64_t lines, shim_lines, conn_lines, connections, diagnostics, other, bad, bad_shim, not_syslog;
    uint64_t undated, outside, undated_left_out;
    uint64_t verdict[VERDICTS], karma_lines;
    /* per word of match=, action= and fp=, then the words the log field table does not know */
    uint64_t match[LOG_MATCH_WORDS + 1], action[LOG_ACTION_WORDS + 1], fp[LOG_FP_WORDS + 1];
    /* saw_cutoff: a block or greylist line said cutoff=, so the log is new enough for the
     * cutoff counters to mean something (an older log has none, and shows none) */
    uint64_t cutoff[CUTOFF_ROWS];
    bool saw_cutoff;
    int64_t karma_sum;
    /* karma_total= (a fleet's karma store): lines with it, their highest value, and the
     * connections karma_limit refused (rule="karma") */
    uint64_t karma_total_lines, karma_limit_blocks;
    int64_t karma_total_max;
    bool have_period;
    int64_t first_t, last_t;
    uint64_t *ms_hist, ms_over, ms_count, ms_max;
    /* sigs: the raw sig= of connections no OS was named for (keys "sig", by verdict) */
    struct strtab os, genre, rules, reasons, exempts, diags, sigs;
    struct iptab ips;
    struct hourtab hours;
    bool with_timeline;      /* count the timeline (report --html draws it) */
    struct timeline timeline;
    struct example *examples;
    size_t nexamples;
};

/* One line of the input being read (r->cur); overlong: it was cut at REPORT_LINE_MAX. */
void report_line(struct report *r, const char *p, size_t n, bool overlong);

/* ---- drawing the counts (report_out.c) ---- */

enum report_format { REPORT_TEXT, REPORT_JSON, REPORT_CSV, REPORT_HTML };

/* The whole report on stdout. */
void report_print(const struct report *r, enum report_format format);

/* ---- the page (report_html.c) ---- */

/* The report as one self-contained HTML page on stdout (report_print's REPORT_HTML). */
void report_html(const struct report *r);

#endif
