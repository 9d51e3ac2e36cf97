/* Between the report's section table (report_out.c) and the emitters' primitives
 * (report_emit.c): what a section is, what a group of counters is, and the helpers every
 * section's text, JSON and CSV emitters share. */
#ifndef P0FSHIM_TOOL_REPORT_OUT_H
#define P0FSHIM_TOOL_REPORT_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "report.h"

enum counter_kind { COUNT, SIGNED, PERCENT };

struct counter {
    const char *name;        /* JSON member, CSV key */
    const char *label;       /* text, for the groups that show labels */
    enum counter_kind kind;
    uint64_t n;              /* COUNT */
    int64_t s;               /* SIGNED */
    double pct;              /* PERCENT */
};
#define COUNTERS_MAX 16

struct section;
typedef void emitter(const struct report *r, const struct section *s);

/* One part of the report. The generic emitters below draw a section from its parameters. */
struct section {
    const char *json;        /* member of the JSON object */
    const char *csv;         /* the CSV rows' section */
    emitter *text, *to_json, *to_csv;   /* NULL: not in that output */
    /* a group of counters (none returned: the group is left out of every output) */
    size_t (*counters)(const struct report *r, const struct section *s, struct counter *out);
    const char *title;       /* text heading or label */
    bool text_if_counted;    /* text: only when a counter is not zero */
    enum log_field field;    /* word counters: the field whose vocabulary they count */
    size_t words;            /* word counters: offsetof(struct report, the array) */
    /* a top-N table of strings */
    size_t table;            /* offsetof(struct report, the strtab) */
    bool verdict_columns;    /* a count per verdict (text and JSON; CSV always has them) */
    const char *empty_label; /* text, for the empty value */
};

/* ---- sorting and small helpers ---- */

/* How many of n entries --top shows. */
size_t top_limit(const struct report *r, size_t n);
/* The entries by count, most first (then by key); NULL when out of memory. free() it. */
const struct sent **sorted(const struct strtab *t);
/* The IPs with blocks (or with karma, most negative first), sorted; *n how many. */
const struct ient **sorted_ips(const struct report *r, bool karma, size_t *n);
/* The hours in order (r->hours.n of them). */
const struct hent **sorted_hours(const struct report *r);
uint64_t ms_percentile(const struct report *r, unsigned pct);
double percent(uint64_t part, uint64_t whole);
/* "YYYY-MM-DD HH:00" */
void hour_label(int64_t hour, char *buf, size_t size);
/* A "rule\0at" key (report_count.c): the rule, and where it is ("" when not said). */
void split_rule(const struct strtab *t, const struct sent *e, const char **rule, size_t *rule_len, const char **at,
                size_t *at_len);

/* ---- the outputs' primitives ---- */

/* Text: " allow block ..." headers and cells of the verdict columns that occur. */
void verdict_header(const struct report *r);
void verdict_cells(const struct report *r, const uint64_t *n);
/* Text: "(empty)" for the empty string, escapes otherwise. */
void put_key(FILE *f, const char *k, size_t n);
/* JSON: the top object and its members, with the commas between. */
void json_open(void);
void json_member(const char *name);
void json_close(void);
/* CSV: section,key,subkey,value */
void csv_row(const char *section, const char *key, size_t klen, const char *sub, size_t slen, const char *value);
void csv_num(const char *section, const char *key, const char *sub, long long value);

/* ---- generic emitters ---- */

/* A group of counters: "json":{"name":value,...}; csv,name,,value rows. */
void json_counters(const struct report *r, const struct section *s);
void csv_counters(const struct report *r, const struct section *s);
void json_counter_value(const struct counter *c);
/* Text: "  title: word N, word N" (the vocabulary's words: "other" is left to JSON and CSV). */
void text_word_counters(const struct report *r, const struct section *s);
/* Text: "  title:" and a line per counter, by label. */
void text_counter_rows(const struct report *r, const struct section *s);
/* A top-N table of strings, with a count per verdict. */
void text_strtab(const struct report *r, const struct section *s);
void json_strtab(const struct report *r, const struct section *s);
void csv_strtab(const struct report *r, const struct section *s);

#endif
