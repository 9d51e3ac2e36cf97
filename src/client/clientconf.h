/* The configuration as the programs beside the library read it (the tool, the policy
 * service, `p0fshim header`, the milter): the same file the library would read, by the same
 * rule, and its settings parsed as the library parses them. The blocked-OS file is not read:
 * these programs ask p0f and add headers, they do not judge. */
#ifndef P0FSHIM_CLIENT_CLIENTCONF_H
#define P0FSHIM_CLIENT_CLIENTCONF_H

#include <stdbool.h>

#include "config.h"
#include "diag.h"

/* Which configuration the library would read: given (a --config option), else
 * $P0FSHIM_CONFIG, else the default. *must_exist as the library has it: a file that was
 * named must exist, the default may be missing. */
const char *clientconf_path(const char *given, bool *must_exist);

/* config_init, then the file clientconf_path(given) parsed with config_parse. A missing
 * file that need not exist leaves the defaults; -1 with err set when the file cannot be
 * read or does not parse. */
int clientconf_load(const char *given, struct config *c, struct diag *err);

#endif
