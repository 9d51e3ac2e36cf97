/* What the exported wrappers in shim/ call: everything else stays hidden in the core. */
#ifndef P0FSHIM_P0FSHIM_H
#define P0FSHIM_P0FSHIM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/stat.h>

/* The constructor's work: read the configuration, open the log socket. Keeps errno. */
void p0fshim_init(void);
/* The destructor's work: let pending verdicts of this process land (bounded). */
void p0fshim_at_exit(void);
#define P0FSHIM_PASS 0       /* return the connection to the caller */
#define P0FSHIM_CONSUMED 1   /* the shim answered and closed it: the caller never sees it */

/* After a successful listen(): a listener of the configured ports keeps its connections'
 * SYNs. Keeps errno. */
void p0fshim_after_listen(int listen_fd);
/* Before an accept() on listen_fd: makes sure a listener of the configured ports keeps its
 * connections' SYNs. Keeps errno; a relaxed load once the number was seen. */
void p0fshim_before_accept(int listen_fd);
/* After a successful accept on listen_fd: judges the connection from its saved SYN, or hands
 * it to the engine when it is one the shim acts on (and in hold mode waits for the verdict).
 * addr/addrlen as the caller passed them, given_len the caller's size. Keeps errno. */
int p0fshim_after_accept(int listen_fd, int fd, const struct sockaddr *addr, const socklen_t *addrlen,
                         socklen_t given_len);

/* Before the host's close(fd): whether the shim wants to know (a connection awaiting its
 * verdict may have that number). Lock-free. */
bool p0fshim_close_watched(int fd);
/* Whether any close was ever watched in this process: false in a process whose verdicts all
 * come from the SYN, whose close() (in every child of a fork-per-connection server, too) then
 * runs no more of the library's code than the wrapper's. */
extern atomic_bool p0fshim_closes_watched;
/* After it, with what fd named before: drops the shim's duplicate of a connection the host
 * let go, so that its client sees the close now. Keeps errno; never blocks. */
void p0fshim_after_close(int fd, const struct stat *before);


#endif
