/* A descriptor the library holds, remembered with the identity (device and inode) it had
 * when the library got it. Host programs close "all fds" before they exec or daemonise, and
 * reuse the numbers at once: a number the library holds may name the host's file a moment
 * later. Before using or closing one, the library checks that it still names the same
 * file; one it no longer owns is forgotten, never touched. */
#ifndef P0FSHIM_FDIDENT_H
#define P0FSHIM_FDIDENT_H

#include <stdbool.h>
#include <sys/types.h>

struct owned_fd {
    int fd;                  /* -1: none */
    dev_t dev;
    ino_t ino;
};

#define OWNED_FD_NONE ((struct owned_fd){.fd = -1})

/* Records fd's identity in out; -1 (errno from fstat) when fd cannot be looked at. */
int owned_fd_take(int fd, struct owned_fd *out);
/* Whether the number still names the file it named when taken. */
bool owned_fd_still(const struct owned_fd *o);
/* Whether fd names the file o was taken from (another number for the same file). */
bool owned_fd_same_file(const struct owned_fd *o, int fd);
/* Closes the fd only if it is still ours; forgets it either way. */
void owned_fd_release(struct owned_fd *o);

#endif
