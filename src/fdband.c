#include "fdband.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "mutant.h"

int fdband_floor(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return -1;
    if (P0FSHIM_MUTANT_BAND)
        return 0;
    rlim_t limit = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > FDBAND_CEILING ? FDBAND_CEILING : rl.rlim_cur;
    if (limit < FDBAND_MIN_LIMIT)
        return -1;
    return (int)(limit - limit / 4);
}

int fdband_dup(int fd)
{
    int floor = fdband_floor();
    if (floor < 0) {
        errno = EMFILE;
        return -1;
    }
    return fcntl(fd, F_DUPFD_CLOEXEC, floor);
}

int fdband_move(int fd)
{
    int moved = fdband_dup(fd);
    int err = errno;
    close(fd);
    errno = err;
    return moved;
}

bool fdband_host_inside(int floor, int dup_fd, unsigned ours)
{
    return !P0FSHIM_MUTANT_BAND && dup_fd - floor > (int)ours + FDBAND_SLACK;
}
