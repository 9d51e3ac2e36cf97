/* Greylisting by operating system: the first connection from a host whose OS
 * matches greylist_os is told to come back later; a retry after greylist_delay and
 * within greylist_window passes, and the host is then remembered as good for
 * greylist_expire. State lives in an LMDB environment shared by every process of the
 * daemon (Postfix runs many smtpd) and survives restarts. Time is always passed in, so
 * that tests control the clock.
 *
 * Keys are the peer's address masked to v4_prefix/v6_prefix. The directory must exist,
 * be owned by root or the daemon's user and not be writable by group or others; its
 * files are never opened through a link, and a process running as root opens them
 * as the directory's owner (see greylist.c). Its path is resolved only by greylist_open
 * (LMDB keeps data.mdb open twice and lock.mdb once, all close-on-exec, and never
 * reopens them), so opening before a chroot uses the outside path. greylist_open reads
 * every page once, so that a damaged store fails there rather than crash a check.
 * A handle belongs to the process that opened it: LMDB environments must not be used
 * across fork(). In a forked child, check and peek fail (GREYLIST_FAILED) and
 * greylist_close only closes the child's copies of the descriptors. If the process
 * closes or reuses the store's descriptors, check fails from then on instead of
 * writing into someone else's file. Calls on one handle must not overlap (one thread
 * at a time, any thread); one handle per directory per process (LMDB's fcntl locks
 * are per process, and closing a second handle would drop the first one's). */
#ifndef P0FSHIM_GREYLIST_H
#define P0FSHIM_GREYLIST_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "addr.h"
#include "diag.h"
#include "store_url.h"

struct greylist_settings {
    struct store_url store;  /* a Redis store shared by a fleet; when !store.set, LMDB in dir */
    unsigned timeout_ms;     /* the Redis store's deadline per check (store_timeout_ms) */
    char dir[PATH_MAX];      /* the LMDB environment directory (reachable from a chroot) */
    unsigned delay_s;        /* default 300 */
    unsigned window_s;       /* default 86400 */
    unsigned expire_s;       /* default 36 days */
    unsigned v4_prefix;      /* 32, or 24 to key IPv4 hosts by /24 as postgrey can */
    unsigned v6_prefix;      /* 128, or 64 */
};

enum greylist_outcome {
    GREYLIST_FIRST,          /* never seen (or forgotten): tempfail, now remembered */
    GREYLIST_EARLY,          /* retried before the delay: tempfail */
    GREYLIST_PASSED,         /* retried after the delay, within the window: pass, now good */
    GREYLIST_GOOD,           /* passed before, not yet expired: pass */
    GREYLIST_FAILED,         /* the store failed: fail open (pass) */
};

struct greylist_result {
    enum greylist_outcome outcome;
    time_t first_seen;       /* of the current attempt series */
    long waited_s;           /* with GREYLIST_PASSED: how long the host waited; with GOOD,
                                how long it had waited when it passed */
    time_t good_until;       /* with PASSED/GOOD: remembered as good until then; else 0 */
    unsigned attempts;       /* attempts in the current series (a check counts itself) */
    unsigned long checks;    /* every check recorded for this key since it was stored */
    unsigned long passes;    /* of which passed (PASSED or GOOD) */
    char error[160];         /* with GREYLIST_FAILED */
};

struct greylist;

/* Opens (creating when missing) the store; -1 and *err when it cannot. */
int greylist_open(struct greylist **out, const struct greylist_settings *s, struct diag *err);
/* Records the attempt and says what to do. Safe against concurrent processes. */
void greylist_check(struct greylist *g, const struct endpoint *peer, time_t now, struct greylist_result *out);
/* For `p0fshim check` and tests: the stored state without recording anything.
 * Returns 0 and fills out with the stored record, outcome being what a check at `now`
 * would say (GREYLIST_FIRST for a record a check would forget); or -1 when there is
 * nothing to show: outcome GREYLIST_FIRST when the host is not in the store,
 * GREYLIST_FAILED (with error) when the store failed. */
int greylist_peek(struct greylist *g, const struct endpoint *peer, time_t now, struct greylist_result *out);
void greylist_close(struct greylist *g);
/* Whether a forked child may go on using the handle: a Redis store's child makes its own
 * connection; an LMDB environment is its opener's only. */
bool greylist_survives_fork(const struct greylist *g);

#endif
