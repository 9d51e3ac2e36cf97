/* The Redis keys of the shared stores: a fixed prefix naming the store, then the client's
 * address masked to the configured prefix, in CIDR notation, readable with redis-cli:
 *
 *   p0fshim:greylist:203.0.113.0/24      p0fshim:karma:2001:db8:1:2::/64
 *
 * The prefix length is part of the key, so that changing greylist_v4_prefix or
 * karma_v4_prefix starts new records instead of reinterpreting old ones. Pure. */
#ifndef P0FSHIM_STORE_KEY_H
#define P0FSHIM_STORE_KEY_H

#include <stddef.h>

#include "addr.h"

#define STORE_KEY_MAX 96
#define STORE_KEY_GREYLIST "p0fshim:greylist:"
#define STORE_KEY_KARMA "p0fshim:karma:"

/* 0, or -1 for an address that is neither IPv4 nor IPv6. */
int store_key(char out[STORE_KEY_MAX], const char *store_prefix, const struct endpoint *peer, unsigned v4_prefix,
              unsigned v6_prefix);

#endif
