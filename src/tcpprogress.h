/* How far a client had got with the connection: read from the kernel's TCP_INFO when the
 * shim cuts a connection off, so that a block that came too late shows in the log. */
#ifndef P0FSHIM_TCPPROGRESS_H
#define P0FSHIM_TCPPROGRESS_H

#include <stdbool.h>
#include <stdint.h>

struct tcp_progress {
    bool bytes_known;        /* the kernel reports tcpi_bytes_received (Linux 4.1 and later) */
    uint64_t bytes_received; /* what the client had sent, payload only */
    bool session_over;       /* either side has closed (FIN or reset): nothing left to cut off */
};

/* false when fd is no TCP socket or TCP_INFO fails. */
bool tcp_progress_read(int fd, struct tcp_progress *out);

#endif
