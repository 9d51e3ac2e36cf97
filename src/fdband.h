/* Where the shim's own descriptors live: in a band at the top of the host's descriptor
 * table, never at the numbers the host would get next.
 *
 * open(), socket() and accept() hand out the lowest free number. A descriptor the shim
 * takes there shifts the host's numbering (a daemon that closed stdio would find our
 * eventfd or duplicate at 0-2, where it reopens /dev/null), and near the limit it is the
 * descriptor the host's next open() needed. So every descriptor the shim keeps is moved
 * into the band [floor, limit) with F_DUPFD_CLOEXEC: the top quarter of the soft
 * RLIMIT_NOFILE, counted below FDBAND_CEILING so that a huge limit does not grow the
 * kernel's descriptor table (copied at every fork) to match. The host reaches the band
 * only after using three quarters of its descriptors; from then on the shim takes no new
 * duplicate (see fdband_host_inside), so it can never be the reason the host runs out. */
#ifndef P0FSHIM_FDBAND_H
#define P0FSHIM_FDBAND_H

#include <stdbool.h>

#include "tunables.h"

/* The band's first number under the current limit (read every time: a host may lower its
 * limit at any moment), or -1 when the limit is too small for a band. */
int fdband_floor(void);
/* A close-on-exec duplicate of fd inside the band, or -1 with errno (EMFILE: the band is
 * full). fd itself is left alone. */
int fdband_dup(int fd);
/* Moves a descriptor the shim just created into the band: returns the new number and closes
 * the old one, or returns -1 (errno kept from the failed move) and closes it. */
int fdband_move(int fd);
/* Whether a duplicate that landed at dup_fd shows that the host itself holds numbers inside
 * the band: more numbers below it are taken than the shim itself can hold there (ours:
 * descriptors the shim keeps in the band, give or take a few in flight on other threads). */
bool fdband_host_inside(int floor, int dup_fd, unsigned ours);

#endif
