/* One process's connection to a Redis server (a store_url), for the greylist and karma stores.
 *
 * Every call is one round trip bounded by a deadline: the connection is made lazily by the
 * first call (a forked child makes its own; a call never uses its parent's), and a new
 * connection sends its AUTH and SELECT in the same write as the command. Past the deadline,
 * on any error of the connection, or when the server does not speak Redis's protocol, the
 * connection is dropped, the call fails with a reason, and the next attempt to connect waits
 * out a backoff (doubling up to a maximum), so a dead server costs nothing per connection.
 * An error reply to the command itself (OOM, READONLY, a script error) fails the call and
 * keeps the connection.
 *
 * Inside the MTA's process: the socket is close-on-exec and lives in the library's descriptor
 * band (fdband.h), is checked to be still ours before each use (fdident.h), is written with
 * MSG_NOSIGNAL (no SIGPIPE), never blocks past the deadline, and the calling thread is not
 * cancellable while it holds the link's lock. Calls from several threads are serialised; a
 * thread that cannot have the link within the deadline fails its call. A reason never
 * contains the password. */
#ifndef P0FSHIM_REDIS_LINK_H
#define P0FSHIM_REDIS_LINK_H

#include <stddef.h>

#include "store_url.h"

#define REDIS_INTS_MAX 8

/* A reply of integers: an integer, or an array of integers (a nil counts as 0); a status reply
 * (+OK) has none. */
struct redis_ints {
    size_t n;
    long long v[REDIS_INTS_MAX];
};

struct redis_link;

/* Loads hiredis (hiredis_load.h) and remembers the URL; nothing is connected yet. NULL and
 * why when hiredis cannot be loaded or memory is short. */
struct redis_link *redis_link_new(const struct store_url *url, char *why, size_t why_size);
/* The process's link to that server, made by the first store that names it (the greylist and
 * karma stores on one server share one connection); NULL and why as redis_link_new. Links
 * made this way live as long as the process. Not thread-safe: called where stores are opened. */
struct redis_link *redis_link_shared(const struct store_url *url, char *why, size_t why_size);
/* Every shared link, for the fork handler: calls fn on each. */
void redis_link_each_shared(void (*fn)(struct redis_link *l));
/* EVAL script 1 key args...: 0 and the reply's integers; -1 and why. */
int redis_link_eval(struct redis_link *l, const char *script, const char *key, const char *const *args,
                    size_t nargs, unsigned timeout_ms, struct redis_ints *out, char *why, size_t why_size);
/* Any command (argv[0] is its name) whose reply is an integer or an array of them; for tests and
 * the tool (e.g. TTL). */
int redis_link_command(struct redis_link *l, const char *const *argv, size_t argc, unsigned timeout_ms,
                       struct redis_ints *out, char *why, size_t why_size);
/* The URL, as log lines show it (no password). */
const char *redis_link_shown(const struct redis_link *l);
/* In a forked child: the lock may have been held by a parent's thread that is gone. */
void redis_link_after_fork_child(struct redis_link *l);
/* Closes the connection (only if the descriptor is still ours) and frees the link. */
void redis_link_free(struct redis_link *l);

#endif
