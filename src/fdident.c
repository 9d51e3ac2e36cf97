/* Descriptors remembered by identity (see fdident.h). */
#include "fdident.h"

#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

int owned_fd_take(int fd, struct owned_fd *out)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return -1;
    out->fd = fd;
    out->dev = st.st_dev;
    out->ino = st.st_ino;
    return 0;
}

bool owned_fd_same_file(const struct owned_fd *o, int fd)
{
    struct stat st;
    return fd >= 0 && fstat(fd, &st) == 0 && st.st_dev == o->dev && st.st_ino == o->ino;
}

bool owned_fd_still(const struct owned_fd *o)
{
    return owned_fd_same_file(o, o->fd);
}

void owned_fd_release(struct owned_fd *o)
{
    if (owned_fd_still(o))
        (void)syscall(SYS_close, o->fd);   /* not a cancellation point, unlike close() */
    o->fd = -1;
}
