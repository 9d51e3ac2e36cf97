/* p0fshim(1): the operator's tool. query, check, lint and report, on the same core
 * (codec, policy engine, config parser) as the library. */
#ifndef P0FSHIM_TOOL_H
#define P0FSHIM_TOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "addr.h"
#include "config.h"
#include "p0f3.h"

#define TOOL_NAME "p0fshim"
#define TOOL_VERSION "0.1"

/* Exit statuses shared by the subcommands (documented in p0fshim(1)). */
#define EXIT_NEGATIVE 1      /* query: NOMATCH; check: block or greylist; lint: errors; report: unreadable input */
#define EXIT_USAGE 2
#define EXIT_P0F_DOWN 3      /* no socket, nobody listening, no answer in time; lint: warnings only */
#define EXIT_NOT_P0F 4       /* not a socket, not p0f (bad magic), undecodable reply */
#define EXIT_CONFIG 5        /* check: the configuration does not load (the shim would pass through) */

int cmd_query(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_lint(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_policy(int argc, char **argv);   /* policy.c: Postfix policy service (fingerprint headers) */
int cmd_header(int argc, char **argv);   /* header.c: one header value, for Exim's ${run} */

/* ---- main.c: small shared helpers ---- */

/* Parses an unsigned decimal in [min, max]; -1 on anything else. */
int parse_ulong_arg(const char *text, unsigned long min, unsigned long max, unsigned long *out);
/* Which configuration the library would read: --config, else $P0FSHIM_CONFIG, else the
 * default. *must_exist as the library has it (a named file must exist). */
const char *tool_config_path(const char *given, bool *must_exist);

/* config_init, then the configuration the library would read, parsed with config_parse
 * (the blocked-OS file is not read). A missing default file leaves the defaults. */
int tool_parse_config(const char *path, bool must_exist, struct config *c, struct diag *err);

/* "FILE:LINE: reason" (no LINE when the problem is not on a line). */
void print_diag(FILE *f, const char *prefix, const struct diag *d);

/* Text for humans: logfmt-style escapes (\" \\ \xHH), so nothing from p0f or a log
 * can write control bytes to a terminal. */
void put_escaped(FILE *f, const char *s, size_t n);
void put_escaped_str(FILE *f, const char *s);
/* Only control and non-ASCII bytes escaped (\xHH): for messages that quote on their own. */
void put_safe(FILE *f, const char *s, size_t n);
/* A JSON string, quotes included; bytes >= 0x80 are written as \u00XX (Latin-1). */
void put_json(FILE *f, const char *s, size_t n);
void put_json_str(FILE *f, const char *s);
/* A CSV field, quoted (RFC 4180) when it holds a comma or a quote; control and non-ASCII
 * bytes as \xHH, so a row is always one line. */
void put_csv(FILE *f, const char *s, size_t n);
/* "2024/11/27 04:00:01" local time, as p0f-client prints it. */
void format_unix_time(uint32_t t, char *buf, size_t size);

/* ---- p0fq.c: one p0f v3 query ---- */

enum p0fq_status {
    P0FQ_OK,                 /* p0f has a record (its OS may still be unknown) */
    P0FQ_NOMATCH,            /* p0f has no record of the host */
    P0FQ_DOWN,               /* no socket file, nobody listening, refused, no answer in time */
    P0FQ_NOT_P0F,            /* not a (stream) socket, bad magic, undecodable reply */
};

struct p0fq_result {
    enum p0fq_status status;
    struct p0f3_answer answer;       /* with P0FQ_OK */
    char why[320];                   /* for a human: what went wrong and what to do */
    char log_reason[160];            /* what the shim would log as reason= */
    bool have_peer;                  /* the server's credentials (SO_PEERCRED) */
    uid_t peer_uid;
    pid_t peer_pid;
    unsigned elapsed_us;
};

void p0fq_query(const char *socket_path, const struct endpoint *ip, unsigned timeout_ms, struct p0fq_result *r);

/* The same query in steps that never block, for a poll loop (p0fq_query is these steps with
 * poll() between them): p0fq_start, then p0fq_continue whenever p0fq_poll_events are ready on
 * fd or the monotonic time p0fq_wake_us has come, until either returns true; r then holds the
 * result and the socket is closed. p0fq_abandon closes an unfinished query. */
struct p0fq_pending {
    int fd;                          /* -1 once done */
    char socket_path[UNIX_PATH_MAX_LEN];
    unsigned timeout_ms;
    uint64_t start_us, deadline_us;  /* CLOCK_MONOTONIC, as p0fq_now_us */
    uint64_t connect_again_us;       /* nonzero: p0f's backlog was full, connect again then */
    uint8_t query[P0F3_QUERY_LEN], reply[P0F3_RESPONSE_LEN];
    size_t sent, have;
    struct p0fq_result r;
};
bool p0fq_start(struct p0fq_pending *q, const char *socket_path, const struct endpoint *ip, unsigned timeout_ms);
bool p0fq_continue(struct p0fq_pending *q);
short p0fq_poll_events(const struct p0fq_pending *q);   /* 0: wait for p0fq_wake_us only */
uint64_t p0fq_wake_us(const struct p0fq_pending *q);
uint64_t p0fq_now_us(void);
void p0fq_abandon(struct p0fq_pending *q);
int p0fq_exit_status(enum p0fq_status s);

/* ---- fpfile.c: the genres p0f can report, from its fingerprint database ---- */

#define P0F_FP_DEFAULT "/etc/p0f/p0f.fp"

struct genre_list {
    char **genre;
    size_t n;
    bool from_file;          /* false: a built-in sample (p0f.fp unreadable) */
};

/* Genres ("os flavor") of the [tcp:request] and [tcp:response] labels; a built-in sample
 * when the file cannot be read. */
void genre_list_load(struct genre_list *g, const char *fp_path);
void genre_list_free(struct genre_list *g);

#endif
