/*
 * syscost: what one system call costs on this machine, so that the figures of `make bench`
 * can be read against it: the library's SYN path makes four calls per connection
 * (getsockname, getsockopt(TCP_SAVED_SYN), fstat of the log socket, the line's send; in a
 * process that has forked, two sigprocmask more), and a machine whose calls cost ten times
 * another's moves the "extra time inside accept()" rows by as much.
 *
 *   syscost   prints "getppid_ns=MEDIAN" over 21 runs of 100,000 calls
 */
#include "benchlib.h"

#include <sys/syscall.h>

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    (void)argv;
    enum { RUNS = 21, CALLS = 100000 };
    double ns[RUNS];
    bl_prog = "syscost";
    if (argc != 1)
        bl_die("usage: syscost");
    for (int r = 0; r < RUNS; r++) {
        uint64_t t0 = bl_now_ns();
        for (int i = 0; i < CALLS; i++)
            (void)syscall(SYS_getppid);   /* not getppid(): nothing may cache it */
        ns[r] = (double)(bl_now_ns() - t0) / CALLS;
    }
    qsort(ns, RUNS, sizeof(ns[0]), cmp_double);
    printf("getppid_ns=%.0f\n", ns[RUNS / 2]);
    return 0;
}
