/* What the subcommands take from their command line by the same rules: a number option is
 * plain decimal within the subcommand's bounds, or the subcommand refuses it (exit 2). */
#ifndef P0FSHIM_TOOL_ARGS_H
#define P0FSHIM_TOOL_ARGS_H

#include <stdbool.h>

#include "client/clientconf.h"

/* Parses an unsigned decimal in [min, max]; -1 on anything else. */
int parse_ulong_arg(const char *text, unsigned long min, unsigned long max, unsigned long *out);

/* The name lint.c and check.c call clientconf_path by, kept so that they build unchanged;
 * new code calls clientconf_path. */
static inline const char *tool_config_path(const char *given, bool *must_exist)
{
    return clientconf_path(given, must_exist);
}

#endif
