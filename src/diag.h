/* Where a problem was found and why, for one clear log line (or a lint message). */
#ifndef P0FSHIM_DIAG_H
#define P0FSHIM_DIAG_H

#include <limits.h>

struct diag {
    char file[PATH_MAX];
    unsigned line;           /* 0 when the problem is not on a line */
    char reason[256];
};

void diag_set(struct diag *d, const char *file, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
