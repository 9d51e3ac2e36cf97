/* The table of log fields (see logfields.h) and the lookups the reader needs. */
#include "logfields.h"

static const char *const verdict_words[LOG_VERDICT_WORDS] = {"allow",   "block",    "exempt",       "unknown",
                                                             "error",   "greylist", "pass_greylist"};
static const char *const match_words[LOG_MATCH_WORDS] = {"exact", "generic", "fuzzy"};
static const char *const action_words[LOG_ACTION_WORDS] = {"close", "reject", "tempfail"};
static const char *const fp_words[LOG_FP_WORDS] = {"syn", "p0f"};
static const char *const cutoff_words[LOG_CUTOFF_WORDS] = {"in_time", "after_data", "too_late"};

#define FIELD(id, text, k) [id] = {.name = text, .name_len = sizeof(text) - 1, .kind = k}
#define ENUMERATED(id, text, vocabulary)                                                                  \
    [id] = {.name = text, .name_len = sizeof(text) - 1, .kind = LOG_WORD, .words = vocabulary,           \
            .nwords = sizeof(vocabulary) / sizeof(vocabulary[0])}

const struct log_field_spec log_field_table[LOG_FIELDS] = {
    FIELD(LF_REMOTE, "remote", LOG_ENDPOINT),
    FIELD(LF_LOCAL, "local", LOG_ENDPOINT),
    ENUMERATED(LF_VERDICT, "verdict", verdict_words),
    FIELD(LF_MS, "ms", LOG_NUMBER),
    ENUMERATED(LF_FP, "fp", fp_words),
    FIELD(LF_OS, "os", LOG_QUOTED),
    FIELD(LF_FLAVOR, "flavor", LOG_QUOTED),
    FIELD(LF_GENRE, "genre", LOG_QUOTED),
    ENUMERATED(LF_MATCH, "match", match_words),
    FIELD(LF_DISTANCE, "distance", LOG_NUMBER),
    FIELD(LF_LINK, "link", LOG_QUOTED),
    FIELD(LF_SIG, "sig", LOG_QUOTED),
    FIELD(LF_UPTIME_MIN, "uptime_min", LOG_NUMBER),
    FIELD(LF_TOTAL_CONN, "total_conn", LOG_NUMBER),
    FIELD(LF_NAT, "nat", LOG_NUMBER),
    FIELD(LF_OS_CHANGE, "os_change", LOG_NUMBER),
    FIELD(LF_V2_GENRE, "v2_genre", LOG_QUOTED),
    FIELD(LF_V2_DETAIL, "v2_detail", LOG_QUOTED),
    FIELD(LF_V2_DIST, "v2_dist", LOG_NUMBER),
    FIELD(LF_V2_LINK, "v2_link", LOG_QUOTED),
    FIELD(LF_V2_UPTIME_H, "v2_uptime_h", LOG_NUMBER),
    FIELD(LF_V2_NAT, "v2_nat", LOG_NUMBER),
    FIELD(LF_V2_FW, "v2_fw", LOG_NUMBER),
    FIELD(LF_V2_REAL, "v2_real", LOG_NUMBER),
    FIELD(LF_V2_SCORE, "v2_score", LOG_NUMBER),
    FIELD(LF_V2_MFLAGS, "v2_mflags", LOG_NUMBER),
    FIELD(LF_RULE, "rule", LOG_QUOTED),
    FIELD(LF_RULE_AT, "rule_at", LOG_QUOTED),
    FIELD(LF_KARMA, "karma", LOG_NUMBER),
    FIELD(LF_KARMA_TOTAL, "karma_total", LOG_NUMBER),
    FIELD(LF_EXEMPT, "exempt", LOG_QUOTED),
    ENUMERATED(LF_ACTION, "action", action_words),
    FIELD(LF_REPLY, "reply", LOG_QUOTED),
    ENUMERATED(LF_CUTOFF, "cutoff", cutoff_words),
    FIELD(LF_CLIENT_SENT, "client_sent", LOG_NUMBER),
    FIELD(LF_GREYLIST_WAIT_S, "greylist_wait_s", LOG_NUMBER),
    FIELD(LF_REASON, "reason", LOG_QUOTED),
    FIELD(LF_FP_REASON, "fp_reason", LOG_QUOTED),
    FIELD(LF_V2_REASON, "v2_reason", LOG_QUOTED),
    FIELD(LF_LEVEL, "level", LOG_WORD),
    FIELD(LF_MSG, "msg", LOG_QUOTED),
    FIELD(LF_SUPPRESSED, "suppressed", LOG_NUMBER),
};

void log_field_index_build(struct log_field_index *ix)
{
    memset(ix, 0, sizeof(*ix));
    for (unsigned f = 0; f < LOG_FIELDS; f++) {
        ix->key[f] = log_field_key(log_field_table[f].name, log_field_table[f].name_len);
        unsigned s = log_field_slot(&ix->key[f]);
        while (ix->slot[s])
            s = (s + 1) & (LOG_FIELD_SLOTS - 1);
        ix->slot[s] = (uint8_t)(f + 1);
    }
}
