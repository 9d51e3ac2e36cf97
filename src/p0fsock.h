/* p0f's API socket, as every p0fshim program reaches it: the connect that still finds the
 * socket after the daemon chrooted, and the rule for whom its answers are trusted from.
 * The library's worker, the tool (query, check, lint) and the policy service and milter
 * all apply the same rule, so `p0fshim check` and `lint` warn about exactly what the
 * library would refuse. */
#ifndef P0FSHIM_P0FSOCK_H
#define P0FSHIM_P0FSOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* connect() to a unix socket path; ENAMETOOLONG when it does not fit. */
int p0fsock_connect_path(int fd, const char *path);

/* Like p0fsock_connect_path; when path does not exist and the process's root is no longer
 * the one it started with (chrooted_since_start), the same socket is looked for under the
 * path with leading directories removed: /var/spool/postfix/p0f/p0f.sock is /p0f/p0f.sock
 * inside /var/spool/postfix. errno is the most telling failure. */
int p0fsock_connect(int fd, const char *path, bool chrooted_since_start);

/* Anyone can create a socket in /tmp, or replace a path a careless setup left writable:
 * the answers decide which mail is refused, so only root (p0f binds its socket before
 * dropping privileges) or the configured p0f_user may give them. */
bool p0fsock_peer_trusted(uid_t peer_uid, uid_t p0f_uid);

/* The reason for an untrusted peer, as the library logs it:
 * "p0f socket served by uid U (pid P), not root or p0f_user"; without the pid when pid < 0. */
void p0fsock_untrusted_reason(char *buf, size_t size, uid_t peer_uid, pid_t peer_pid);

#endif
