#include "action.h"

#include <stdio.h>

#include "logfields.h"

enum hold_reply action_reply_kind(const struct config *cfg, enum verdict v)
{
    if (v == VERDICT_GREYLIST)
        return HOLD_GREYLIST;
    if (v != VERDICT_BLOCK)
        return HOLD_PASS;
    switch (cfg->action) {
    case ACTION_CLOSE: return HOLD_CLOSE;
    case ACTION_REJECT: return HOLD_REJECT;
    case ACTION_TEMPFAIL: return HOLD_TEMPFAIL;
    }
    return HOLD_CLOSE;
}

size_t action_reply_text(const struct config *cfg, enum hold_reply kind, char *buf, size_t size)
{
    const char *code, *text;
    switch (kind) {
    case HOLD_REJECT: code = "554 5.7.1"; text = cfg->reject_text; break;
    case HOLD_TEMPFAIL: code = "421 4.7.0"; text = cfg->tempfail_text; break;
    case HOLD_GREYLIST: code = "421 4.7.1"; text = cfg->greylist_text; break;
    default:
        if (size)
            buf[0] = '\0';
        return 0;
    }
    int n = snprintf(buf, size, "%s %s\r\n", code, text);
    return n < 0 || size == 0 ? 0 : (size_t)n < size ? (size_t)n : size - 1;
}

const char *action_log_word(const struct config *cfg, enum verdict v, bool handed)
{
    enum hold_reply kind = action_reply_kind(cfg, v);
    if (kind == HOLD_PASS || (!handed && cfg->mode != MODE_HOLD && v != VERDICT_GREYLIST))
        return NULL;
    /* The log field table's words for action=: close, reject, tempfail. */
    const char *const *words = log_field_table[LF_ACTION].words;
    if (!handed || kind == HOLD_CLOSE)
        return words[0];
    return kind == HOLD_REJECT ? words[1] : words[2];
}
