/* The SYN source: the client's SYN as the kernel saved it, matched inside accept() against
 * p0f's own signatures (synmatch.h), so that the verdict needs no p0f daemon and no wait.
 *
 * Linux keeps a copy of each connection's SYN (IP and TCP headers) when the listening socket
 * has TCP_SAVE_SYN set, and hands it to the first reader of TCP_SAVED_SYN on the accepted
 * socket. The option is set only on listening TCP sockets of the configured ports: at load
 * for those the process inherited, at listen() for those it makes, and before the first
 * accept() on any other (one made while the library was not active). A connection
 * queued before that, a SYN-cookie connection, and one accepted by another program (inetd
 * mode) have no saved SYN.
 *
 * The signature files are read once, when the library loads (before the daemon chroots),
 * and never again: the database is read-only afterwards, shared by every thread without a
 * lock. */
#ifndef P0FSHIM_SYNSOURCE_H
#define P0FSHIM_SYNSOURCE_H

#include <stdbool.h>

#include "config.h"
#include "diag.h"
#include "synmatch.h"

/* Loads cfg's fp_files in order. 0; or -1 with *err: a file p0f would refuse (err->line set)
 * is a configuration error, and a file that cannot be read leaves the SYN source off
 * (err->line 0; synsource_ready() false). */
int synsource_load(const struct config *cfg, struct diag *err);
bool synsource_ready(void);
/* Why the signatures are not loaded (empty while they are). */
const char *synsource_unavailable_reason(void);

/* Sets TCP_SAVE_SYN on every listening TCP socket of cfg's ports the process holds now. */
void synsource_arm_inherited(const struct config *cfg);
/* After listen() on fd: sets TCP_SAVE_SYN if it is a listening TCP socket of cfg's ports
 * (and marks the number as seen). Keeps errno. */
void synsource_arm_new_listener(int fd, const struct config *cfg);
/* Before an accept() on fd: the first time the number is seen, sets TCP_SAVE_SYN if it is
 * a listening TCP socket of cfg's ports. Keeps errno. */
void synsource_arm_before_accept(int fd, const struct config *cfg);
/* After an accepted connection came without a saved SYN: sets the option on its listener if
 * it lacks it (a number reused for a new listener), so that the next ones have it. */
void synsource_arm_listener(int listen_fd);

enum syn_status {
    SYN_MATCHED,             /* read and matched: match holds p0f's answer (os may be false) */
    SYN_NONE,                /* no saved SYN: p0f may know the host */
    SYN_UNREADABLE,          /* a SYN p0f could not read either, or no signatures */
    SYN_NOT_TCP,             /* an SCTP stream on the port: no business of the shim's */
};

struct syn_reading {
    enum syn_status status;
    struct syn_match match;  /* with SYN_MATCHED */
    char reason[96];         /* with SYN_NONE and SYN_UNREADABLE: fp_reason= */
};

/* Reads the saved SYN of the accepted connection fd (freeing the kernel's copy) and matches
 * it. Keeps errno. */
void synsource_read(int fd, struct syn_reading *out);

/* Pure: reads the SYN pkt[0..len) (synpkt_parse flags) and matches it against db: what
 * synsource_read does with the kernel's copy, and the tool with a captured packet. */
void synsource_match(const struct p0ffp_db *db, const unsigned char *pkt, size_t len, unsigned flags,
                     struct syn_reading *out);

#endif
