/* What a refusing verdict does to the client: pure functions of the configuration, shared
 * by the engine (which acts) and `p0fshim check` (which explains). */
#ifndef P0FSHIM_ACTION_H
#define P0FSHIM_ACTION_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "policy.h"

enum hold_reply {
    HOLD_PASS,               /* give it to the MTA */
    HOLD_CLOSE,              /* close it silently */
    HOLD_REJECT,             /* 554 5.7.1, then close */
    HOLD_TEMPFAIL,           /* 421 4.7.0, then close */
    HOLD_GREYLIST,           /* 421 4.7.1, then close */
};

/* HOLD_PASS unless the verdict refuses the connection (block, greylist). */
enum hold_reply action_reply_kind(const struct config *cfg, enum verdict v);
/* "554 5.7.1 text\r\n"; 0 and an empty string for HOLD_PASS and HOLD_CLOSE. */
size_t action_reply_text(const struct config *cfg, enum hold_reply kind, char *buf, size_t size);
/* The log's action= word for a verdict; handed: the accept path refused the connection
 * itself (a hold-mode accept(), or the SYN's verdict inside accept()).
 * NULL where there is no choice to report (a block in async mode is always a close). */
const char *action_log_word(const struct config *cfg, enum verdict v, bool handed);

#endif
