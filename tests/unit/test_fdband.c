/* fdband: where the shim's descriptors go under a given descriptor limit (each Criterion test
 * runs in a process of its own, so setrlimit stays there). */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "fdband.h"

static void limit_to(rlim_t n)
{
    struct rlimit rl;
    cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    rl.rlim_cur = n;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < n)
        rl.rlim_max = n;
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0, "setrlimit %lu", (unsigned long)n);
}

Test(fdband, the_top_quarter_of_the_limit)
{
    limit_to(64);
    cr_assert_eq(fdband_floor(), 48);
    limit_to(1024);
    cr_assert_eq(fdband_floor(), 768);
}

Test(fdband, a_large_limit_counts_as_the_ceiling)
{
    limit_to(FDBAND_CEILING * 4);
    cr_assert_eq(fdband_floor(), FDBAND_CEILING - FDBAND_CEILING / 4);
}

Test(fdband, no_band_below_the_minimum)
{
    limit_to(FDBAND_MIN_LIMIT - 1);
    cr_assert_eq(fdband_floor(), -1);
    errno = 0;
    cr_assert_eq(fdband_dup(0), -1);
    cr_assert_eq(errno, EMFILE);
}

Test(fdband, a_duplicate_lands_in_the_band_and_moves_leave_no_low_number)
{
    limit_to(256);
    int low = open("/dev/null", O_RDONLY);
    cr_assert_geq(low, 0);
    int high = fdband_dup(low);
    cr_assert_geq(high, 192, "the duplicate took %d", high);
    cr_assert(fcntl(high, F_GETFD) & FD_CLOEXEC);
    int moved = fdband_move(low);
    cr_assert_geq(moved, 192);
    cr_assert_eq(fcntl(low, F_GETFD), -1, "the low number is still open");
    close(high);
    close(moved);
}

Test(fdband, a_full_band_says_emfile)
{
    limit_to(64);
    int nul = open("/dev/null", O_RDONLY);
    for (int fd = 48; fd < 64; fd++)
        cr_assert_eq(fcntl(nul, F_DUPFD, fd), fd);
    errno = 0;
    cr_assert_eq(fdband_dup(nul), -1);
    cr_assert_eq(errno, EMFILE);
}

Test(fdband, the_host_inside_the_band_is_seen)
{
    /* The shim holds 3 in the band: numbers up to floor + 3 + slack are explained by it. */
    cr_assert_not(fdband_host_inside(768, 768, 0));
    cr_assert_not(fdband_host_inside(768, 768 + 3 + 16, 3));
    cr_assert(fdband_host_inside(768, 768 + 3 + 17, 3));
}
