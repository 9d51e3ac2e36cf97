/* The verdict, as a pure function of the peer, what p0f said, and the policy
 * (in the manner of TCP Wrappers' hosts_access()): no I/O happens in policy_judge(). */
#ifndef P0FSHIM_POLICY_H
#define P0FSHIM_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "addr.h"
#include "diag.h"

struct regex;   /* a compiled PCRE2 pattern, caseless */

struct blocked_rule {
    char *text;              /* the line as written, e.g. "/windows/" or "Windows XP" */
    struct regex *re;        /* NULL for a phrase, which must equal the genre */
    unsigned line;
};

struct policy {
    char *blocked_file;      /* where the rules came from, for rule_at= */
    struct blocked_rule *rules;
    size_t nrules;
    struct regex *smite_os;
    struct cidr *exempt;
    size_t nexempt;
};

enum verdict {
    VERDICT_ALLOW,
    VERDICT_BLOCK,
    VERDICT_EXEMPT,
    VERDICT_UNKNOWN,         /* p0f has no record, or no OS for the host: never blocked */
    VERDICT_ERROR,           /* no usable answer from p0f: fail open */
    VERDICT_GREYLIST,        /* greylist_os matched a host not yet seen long enough ago */
    VERDICT_PASS_GREYLIST,   /* greylist_os matched a host that retried in time, or passed before */
};

/* What the lookup produced, as the policy needs it. */
enum lookup_outcome {
    LOOKUP_OS_KNOWN,
    LOOKUP_NO_OS,            /* p0f knows the host but did not identify its OS */
    LOOKUP_NO_MATCH,         /* p0f has no record of the host */
    LOOKUP_FAILED,
};

struct judgement {
    enum verdict verdict;
    const struct blocked_rule *rule;   /* with VERDICT_BLOCK */
    const struct cidr *exempt;         /* with VERDICT_EXEMPT */
    int karma;                         /* -1 when smite_os matched, else 0 */
};

const char *verdict_name(enum verdict v);

/* Compiles a caseless PCRE2 pattern; NULL and a reason with the error offset on failure. */
struct regex *regex_compile(const char *pattern, char *why, size_t why_size);
bool regex_matches(const struct regex *re, const char *subject);
void regex_free(struct regex *re);

/* Parses blocked-OS text (the qpsmtpd format); the rules are appended. -1 and *err on
 * the first bad line. Pure: no file access, so it can be fuzzed. */
int policy_parse_blocked(struct policy *p, const char *text, size_t len, const char *file, struct diag *err);
/* Reads and parses the file; a missing file means nothing is blocked. */
int policy_load_blocked_file(struct policy *p, const char *path, struct diag *err);

/* genre may be NULL when outcome is not LOOKUP_OS_KNOWN. */
void policy_judge(const struct policy *p, const struct endpoint *peer, enum lookup_outcome outcome,
                  const char *genre, struct judgement *out);

/* One p0f source's answer, for a connection asked of several (p0f v2 and v3 at once). */
struct source_view {
    enum lookup_outcome outcome;
    const char *genre;       /* with LOOKUP_OS_KNOWN */
    bool smite;              /* smite_os applies to this source's genre */
};

/* Exempt first; then block when any source's genre matches a rule (the first such rule
 * is named), else allow when any source knew the OS, else unknown when any source
 * answered, else error. karma -1 when smite_os matched a source it applies to, exempt or
 * not. */
void policy_judge_sources(const struct policy *p, const struct endpoint *peer, const struct source_view *views,
                          size_t n, struct judgement *out);

void policy_free(struct policy *p);

#endif
