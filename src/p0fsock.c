/* p0f's API socket: reaching it and trusting it (see p0fsock.h). */
#include "p0fsock.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "mutant.h"

int p0fsock_connect_path(int fd, const char *path)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    size_t len = strlen(path);
    if (len >= sizeof(sun.sun_path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(sun.sun_path, path, len + 1);
    return connect(fd, (struct sockaddr *)&sun, sizeof(sun));
}

int p0fsock_connect(int fd, const char *path, bool chrooted_since_start)
{
    if (p0fsock_connect_path(fd, path) == 0)
        return 0;
    int reported = errno;
    if (reported != ENOENT || !chrooted_since_start)
        return -1;
    for (const char *tail = strchr(path + 1, '/'); tail; tail = strchr(tail + 1, '/')) {
        if (p0fsock_connect_path(fd, tail) == 0)
            return 0;
        /* A socket that exists but refuses says more than a path that is not there. */
        if (errno != ENOENT && reported == ENOENT)
            reported = errno;
    }
    errno = reported;
    return -1;
}

bool p0fsock_peer_trusted(uid_t peer_uid, uid_t p0f_uid)
{
    return P0FSHIM_MUTANT_PEERCRED || peer_uid == 0 || peer_uid == p0f_uid;
}

void p0fsock_untrusted_reason(char *buf, size_t size, uid_t peer_uid, pid_t peer_pid)
{
    if (peer_pid < 0)
        snprintf(buf, size, "p0f socket served by uid %u, not root or p0f_user", (unsigned)peer_uid);
    else
        snprintf(buf, size, "p0f socket served by uid %u (pid %d), not root or p0f_user", (unsigned)peer_uid,
                 (int)peer_pid);
}
