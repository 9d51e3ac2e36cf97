/* Fleet karma: how often smite_os matched a client, counted across every MX host that shares a
 * Redis store (karma_store), over karma_window. qpsmtpd's karma plugin keeps such a history on
 * one host; here every host adds its hits to the same count and sees the others'. A client with
 * karma_limit hits or more is refused (policy: verdict.c).
 *
 * A count is a hash per masked address (store_key.h), one field per slice of the window
 * (KARMA_SLICES of them) holding that slice's hits. One EVAL adds this connection's hit (if
 * any), drops the slices that left the window and sums the rest, atomically; the key's TTL
 * is the window, so a client that stops misbehaving leaves the store. A hit therefore ages out
 * between (KARMA_SLICES-1)/KARMA_SLICES of the window and the whole window after it happened. */
#ifndef P0FSHIM_KARMA_H
#define P0FSHIM_KARMA_H

#include <stdbool.h>
#include <time.h>

#include "addr.h"
#include "store_url.h"

struct karma_settings {
    struct store_url store;  /* !store.set: no karma store */
    unsigned window_s;       /* karma_window, default 24h */
    unsigned limit;          /* karma_limit: refuse at this many hits; 0 = never */
    unsigned v4_prefix;      /* 32, or 24 to count a /24's hits together */
    unsigned v6_prefix;      /* 128, or 64 */
};

struct karma_store;

/* Loads hiredis and remembers the server (no connection yet). -1 and why when it cannot. */
int karma_open(struct karma_store **out, const struct karma_settings *s, unsigned timeout_ms, char *why,
               size_t why_size);
/* Adds `hits` (0 or 1) at `now` and says the client's hits in the window, this one included:
 * 0 and *total; -1 and why (the caller passes the client: karma is off for it). */
int karma_count(struct karma_store *k, const struct endpoint *peer, time_t now, unsigned hits, long long *total,
                char *why, size_t why_size);
void karma_close(struct karma_store *k);

#endif
