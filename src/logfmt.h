/* logfmt lines (key=value ...) that no value can break: every string from the network
 * is quoted, with quote, backslash, control and non-ASCII bytes escaped. */
#ifndef P0FSHIM_LOGFMT_H
#define P0FSHIM_LOGFMT_H

#include <stdbool.h>
#include <stddef.h>

#include "addr.h"
#include "logfields.h"
#include "p0f2.h"
#include "p0f3.h"
#include "policy.h"
#include "synmatch.h"

#define LOGFMT_MAX 1536

struct logfmt {
    char text[LOGFMT_MAX];
    size_t len;
    bool truncated;          /* a field did not fit and was left out whole */
};

void logfmt_init(struct logfmt *l);
void logfmt_quoted(struct logfmt *l, const char *key, const char *value);
/* For values the shim itself produced from a fixed vocabulary (verdict, match). */
void logfmt_word(struct logfmt *l, const char *key, const char *value);
void logfmt_int(struct logfmt *l, const char *key, long long value);

/* How far the client had got when the shim cut its connection off (cutoff=; its words are
 * log_field_table[LF_CUTOFF]'s, from CUTOFF_IN_TIME on). */
enum cutoff {
    CUTOFF_NONE,             /* not cut off by the shim: no field */
    CUTOFF_IN_TIME,          /* the client had sent nothing yet */
    CUTOFF_AFTER_DATA,       /* the client had sent data: it was in its SMTP dialogue */
    CUTOFF_TOO_LATE,         /* the MTA or the client had already closed the connection */
};

/* Which source decided (fp=; its words are log_field_table[LF_FP]'s, from FP_SOURCE_SYN on). */
enum fp_source {
    FP_SOURCE_NONE,          /* no field (lines of the tool's own making) */
    FP_SOURCE_SYN,           /* the kernel's saved SYN, matched in-process */
    FP_SOURCE_P0F,           /* the p0f daemon */
};

/* Everything one connection's line says. */
struct connection_report {
    struct endpoint remote, local;
    struct judgement judgement;
    bool karma_counted;                  /* a karma store answered: karma_total= */
    long long karma_total;
    long elapsed_ms;
    enum fp_source fp;
    const struct syn_match *syn;         /* the SYN's match when a SYN was read: os fields and sig=
                                          * from it, p0f's answer then adds only what the SYN
                                          * cannot tell (uptime, total_conn, nat, os_change) */
    const char *fp_reason;               /* why there is no SYN fingerprint */
    const struct p0f3_answer *answer;    /* NULL unless p0f answered OK */
    const char *genre;                   /* with answer */
    const char *blocked_file;            /* for rule_at= */
    const char *reason;                  /* why the v3 source gave no OS */
    const struct p0f2_answer *answer_v2; /* NULL unless p0f v2 answered OK */
    const char *reason_v2;               /* why the v2 source gave no OS */
    const char *action;                  /* close, reject, tempfail: what was done, if anything */
    const char *reply;                   /* the SMTP reply sent, without CRLF */
    long greylist_wait_s;                /* with pass_greylist after a wait; -1 otherwise */
    enum cutoff cutoff;
    bool client_sent_known;              /* with cutoff: client_sent is the kernel's count */
    unsigned long long client_sent;      /* bytes the client had sent by then */
};

/* The fields in log_field_table's order, each written as its kind says. */
void logfmt_connection(struct logfmt *l, const struct connection_report *r);

/* "Windows NT kernel": os_name, a space, os_flavor; just os_name when the flavor is empty. */
void genre_format(const struct p0f3_answer *a, char *buf, size_t size);

#endif
