/* What the subcommands take from their command line by the same rules: a number option is
 * plain decimal within the subcommand's bounds, and the configuration is the one the library
 * would read. */
#ifndef P0FSHIM_TOOL_ARGS_H
#define P0FSHIM_TOOL_ARGS_H

#include <stdbool.h>

#include "config.h"
#include "diag.h"

/* Parses an unsigned decimal in [min, max]; -1 on anything else. */
int parse_ulong_arg(const char *text, unsigned long min, unsigned long max, unsigned long *out);

/* Which configuration the library would read: --config, else $P0FSHIM_CONFIG, else the
 * default. *must_exist as the library has it (a named file must exist). */
const char *tool_config_path(const char *given, bool *must_exist);

/* config_init, then the configuration the library would read, parsed with config_parse
 * (the blocked-OS file is not read). A missing default file leaves the defaults. */
int tool_parse_config(const char *path, bool must_exist, struct config *c, struct diag *err);

#endif
