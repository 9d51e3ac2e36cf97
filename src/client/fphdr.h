/* Fingerprint headers (X-P0F-Genre, X-P0F-Link-Type) for one client address: what p0f v3
 * says about it, as the shim's log line has it, shared by `p0fshim policy`, `p0fshim
 * header` and p0fshim-milter, with a short deadline: the MTA waits. Blocking (fphdr_lookup)
 * or as steps for a poll loop (fphdr_lookup_start ...); the decisions are made once, in the
 * steps, which fphdr_lookup drives with a blocking p0f query. */
#ifndef P0FSHIM_CLIENT_FPHDR_H
#define P0FSHIM_CLIENT_FPHDR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "addr.h"
#include "config.h"
#include "postfix_delegation.h"

#define FPHDR_DEFAULT_TIMEOUT_MS 200
/* NOMATCH is asked again (10, 20, 40 ms apart) for at most this long. */
#define FPHDR_NOMATCH_RETRY_MS 75

enum fphdr_status {
    FPHDR_OK,                /* p0f answered; genre/link may still be empty (OS unknown) */
    FPHDR_NOMATCH,           /* p0f has no record of the host (after the retries) */
    FPHDR_OFF,               /* add_headers false, or no p0f v3 source configured */
    FPHDR_BAD_ADDRESS,       /* not an IPv4/IPv6 address ("unknown", empty, ...) */
    FPHDR_ERROR,             /* p0f down, hung, not p0f, or an untrusted socket */
};

struct fphdr_values {
    enum fphdr_status status;
    char genre[HDRVAL_MAX + 1];      /* sanitised; "" = no X-P0F-Genre */
    char link[HDRVAL_MAX + 1];       /* sanitised; "" = no X-P0F-Link-Type */
    char reason[160];                /* with FPHDR_ERROR/NOMATCH/OFF/BAD_ADDRESS: why, for a log */
    unsigned elapsed_ms;
};

/* Asks the configured p0f v3 source about address (text, as the MTA gives it; an
 * IPv4-mapped IPv6 address is asked about as IPv4, like the shim does). NOMATCH is asked
 * again a few times within FPHDR_NOMATCH_RETRY_MS and timeout_ms (p0f may lag behind a fresh connection). Answers
 * are only taken from a socket served by root or the configured p0f_user. */
void fphdr_lookup(const struct config *c, const char *address, unsigned timeout_ms, struct fphdr_values *out);

/* fphdr_lookup as steps that never block (for `p0fshim policy --socket-listen`, where one
 * client's lookup must not wait for another's). Times are CLOCK_MONOTONIC milliseconds
 * (fphdr_now_ms). Each step returns what to do next:
 *   DONE: l->values holds the outcome.
 *   ASK:  ask p0f (c->v3.socket_path) about l->ip with l->ask_ms as the query's deadline, then
 *         pass its result to fphdr_lookup_answer.
 *   WAIT: call fphdr_lookup_wake at l->wake_at_ms (NOMATCH is asked again after a pause). */
enum fphdr_step {
    FPHDR_STEP_DONE,
    FPHDR_STEP_ASK,
    FPHDR_STEP_WAIT,
};

struct fphdr_lookup {
    struct endpoint ip;
    uint64_t start_ms, deadline_ms, wake_at_ms;
    unsigned pause_ms;               /* the next pause after a NOMATCH */
    unsigned ask_ms;                 /* with ASK */
    struct fphdr_values values;      /* with DONE */
};

struct p0fq_result;
uint64_t fphdr_now_ms(void);
enum fphdr_step fphdr_lookup_start(struct fphdr_lookup *l, const struct config *c, const char *address,
                                   unsigned timeout_ms, uint64_t now_ms);
enum fphdr_step fphdr_lookup_answer(struct fphdr_lookup *l, const struct config *c, const struct p0fq_result *r,
                                    uint64_t now_ms);
enum fphdr_step fphdr_lookup_wake(struct fphdr_lookup *l, uint64_t now_ms);

const char *fphdr_status_word(enum fphdr_status s);

/* The value of one header from values ("" = none). */
const char *fphdr_value(const struct fphdr_values *v, enum hdr_kind h);

#endif
