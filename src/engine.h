/* The asynchronous lookup engine: connections handed over by the accept wrappers are
 * judged by one worker thread per process, which talks to p0f over one persistent,
 * pipelined, non-blocking connection and shuts blocked connections down. */
#ifndef P0FSHIM_ENGINE_H
#define P0FSHIM_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "action.h"
#include "addr.h"
#include "config.h"
#include "synsource.h"
#include "syslog_writer.h"
#include "tunables.h"

struct engine_ticket {
    bool valid;
    uint32_t slot, generation;
};

/* cfg and log must outlive the engine (they are the process's, set up in the constructor). */
void engine_setup(const struct config *cfg, struct syslog_writer *log);
/* Called on the accept path: takes a private close-on-exec dup of fd, in the descriptor band
 * (fdband.h). Never blocks, keeps errno. Called with cancellation disabled. With hold, the verdict is kept for engine_wait() (an invalid ticket: the
 * connection could not be queued and simply passes). inherited: judged at load, not
 * accepted (inetd mode). */
struct engine_ticket engine_submit(int fd, const struct endpoint *remote, const struct endpoint *local, bool hold,
                                   bool inherited);
/* Hold mode: waits at most hold_ms for the verdict. HOLD_PASS also when time ran out. To be
 * called with cancellation disabled; cancel_state is the caller's own, in force during the
 * wait only (a cancelled wait leaves the connection to the worker and the lock free). */
enum hold_reply engine_wait(struct engine_ticket ticket, unsigned hold_ms, int cancel_state);
/* A connection's verdict from its SYN, inside accept() (engine_syn.c): decided (greylist
 * store included) and logged from the caller's thread with one non-blocking send; or, with
 * ask_p0f (fingerprint syn+p0f), decided now and logged by the worker once p0f added what
 * only it knows. Returns what the caller does with the connection (HOLD_PASS: hand it to the
 * host). Never blocks but for the greylist store; keeps errno; called with cancellation
 * disabled. */
enum hold_reply engine_judge_syn(const struct endpoint *remote, const struct endpoint *local,
                                 const struct syn_reading *syn, bool ask_p0f);

/* The reply for a kind under the process's configuration (action_reply_text). */
size_t engine_reply_text(enum hold_reply kind, char *buf, size_t size);

/* The host's close(): whether fd is (may be) the number of a connection awaiting a verdict,
 * and, once the host closed it (dev/ino: what the number named just before), drop the
 * duplicate at once unless a fork since may have handed the connection on. Never blocks;
 * safe in a signal handler. */
bool engine_fd_watched(int fd);
void engine_host_closed(int fd, dev_t dev, ino_t ino);

/* At exit: wait (at most until the last pending deadline) for verdicts still pending in
 * this process, so that a program serving one connection (inetd mode) still logs it. */
void engine_drain_at_exit(void);

#endif
