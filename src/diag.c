#include "diag.h"

#include <stdarg.h>
#include <stdio.h>

void diag_set(struct diag *d, const char *file, unsigned line, const char *fmt, ...)
{
    va_list ap;
    snprintf(d->file, sizeof(d->file), "%s", file ? file : "");
    d->line = line;
    va_start(ap, fmt);
    vsnprintf(d->reason, sizeof(d->reason), fmt, ap);
    va_end(ap);
}
