/*
 * vgwrap: runs a test server under valgrind for `make check-valgrind` (mk/hardening.mk), so that
 * the scripts' `env LD_PRELOAD=libp0fshim.so $HELPERS/testsrv ...` starts valgrind instead.
 *
 * CLI (as installed by mk/hardening.mk: a static copy named after the server it stands for):
 *   NAME ARGS...    with P0FSHIM_VG_REAL_DIR (where the real NAME is) and P0FSHIM_VG_RUN (a
 *                   script that execs valgrind on its arguments) in the environment
 *
 * Built static on purpose: the dynamic loader does not preload anything into a static program,
 * so the shim runs in no process but the server (a refused config would otherwise be logged by
 * the wrapper too). vgwrap moves LD_PRELOAD to P0FSHIM_VG_PRELOAD and execs
 *   sh $P0FSHIM_VG_RUN $P0FSHIM_VG_REAL_DIR/NAME ARGS...
 * which hands the preload back to the server only (valgrind --trace-children=yes env LD_PRELOAD=...).
 * Exit 127 when it cannot exec.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    const char *dir = getenv("P0FSHIM_VG_REAL_DIR"), *run = getenv("P0FSHIM_VG_RUN");
    const char *preload = getenv("LD_PRELOAD");
    const char *name = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
    char real[4096];
    char **args = calloc((size_t)argc + 3, sizeof(*args));

    if (dir == NULL || run == NULL || args == NULL) {
        fputs("vgwrap: P0FSHIM_VG_REAL_DIR and P0FSHIM_VG_RUN must be set\n", stderr);
        return 127;
    }
    if (snprintf(real, sizeof(real), "%s/%s", dir, name) >= (int)sizeof(real))
        return 127;
    setenv("P0FSHIM_VG_PRELOAD", preload ? preload : "", 1);
    unsetenv("LD_PRELOAD");
    args[0] = "sh";
    args[1] = (char *)run;
    args[2] = real;
    for (int i = 1; i < argc; i++)
        args[i + 2] = argv[i];
    execv("/bin/sh", args);
    fprintf(stderr, "vgwrap: /bin/sh: %s\n", strerror(errno));
    return 127;
}
