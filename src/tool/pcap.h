/* Classic pcap captures read for their TCP SYNs, as p0f -r reads them: either byte order,
 * micro- or nanosecond timestamps; Ethernet (one 802.1Q tag), raw IPv4/IPv6 and Linux cooked
 * (v1 and v2) link types. Shared by `p0fshim fingerprint` and `p0fshim check --pcap`. */
#ifndef P0FSHIM_TOOL_PCAP_H
#define P0FSHIM_TOOL_PCAP_H

#include <stdio.h>

#include "addr.h"
#include "synpkt.h"

/* Called for every SYN (a packet synpkt_parse reads as one). */
typedef void (*pcap_syn_fn)(void *ctx, const struct syn_features *f);

/* Every SYN of the capture at path, in order; a malformed SYN and a file that cannot be read
 * to its end are reported on stderr after prefix. 0, or -1 when the file was not read whole. */
int pcap_each_syn(const char *path, const char *prefix, pcap_syn_fn fn, void *ctx);

/* The same from an open stream (left open), named name in the reports, which go to report. */
int pcap_each_syn_in(FILE *f, const char *name, FILE *report, const char *prefix, pcap_syn_fn fn, void *ctx);

/* The SYN's source (the client) and destination. */
void pcap_syn_endpoints(const struct syn_features *f, struct endpoint *remote, struct endpoint *local);

#endif
