/* One p0f v3 query with a deadline, as the programs beside the library ask it (the tool's
 * query, check and lint, the header lookups of the policy service, `p0fshim header` and the
 * milter): blocking (p0fq_query) or as steps for a poll loop. Every way the socket can be
 * wrong ends in a status and a diagnosis a human can act on, and in the reason= the shim
 * would log for it. */
#ifndef P0FSHIM_CLIENT_P0FQ_H
#define P0FSHIM_CLIENT_P0FQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "addr.h"
#include "config.h"
#include "p0f3.h"

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

#endif
