/* Command-line values (see args.h). */
#include "args.h"

#include <errno.h>
#include <stdlib.h>

int parse_ulong_arg(const char *text, unsigned long min, unsigned long max, unsigned long *out)
{
    char *end;
    if (text == NULL || text[0] < '0' || text[0] > '9')
        return -1;
    errno = 0;
    unsigned long v = strtoul(text, &end, 10);
    if (errno || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}
