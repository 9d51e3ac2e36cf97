/* The table of log fields: every name found by the reader's lookup and nothing else, and the
 * enumerated words the same as those of the modules that produce them. */
#include <criterion/criterion.h>

#include <string.h>

#include "action.h"
#include "logfields.h"
#include "logfmt.h"
#include "p0f3.h"
#include "policy.h"

Test(logfields, names_are_unique_keys_and_found)
{
    struct log_field_index ix;
    log_field_index_build(&ix);
    for (int f = 0; f < LOG_FIELDS; f++) {
        const struct log_field_spec *s = &log_field_table[f];
        cr_assert_not_null(s->name, "field %d has no entry", f);
        cr_assert_eq(s->name_len, strlen(s->name), "%s", s->name);
        cr_assert_leq(s->name_len, LOG_FIELD_NAME_MAX, "%s", s->name);
        for (const char *p = s->name; *p; p++)
            cr_assert((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_', "%s", s->name);
        for (int g = 0; g < f; g++)
            cr_assert_str_neq(log_field_table[g].name, s->name);
        cr_assert_eq(log_field_find(&ix, s->name, s->name_len), f, "%s", s->name);
        cr_assert_eq((s->words != NULL), (s->nwords > 0), "%s", s->name);
        for (unsigned w = 0; w < s->nwords; w++)
            cr_assert(s->words[w] && s->words[w][0], "%s: word %u is missing", s->name, w);
    }
}

Test(logfields, other_keys_are_not_fields)
{
    static const char *const others[] = {"", "o", "OS", "Os", "remot", "remotes", "verdict_", "v2", "v2_",
                                         "mode", "client", "x", "reasonx", "greylist_wait_sx", "level2"};
    struct log_field_index ix;
    log_field_index_build(&ix);
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++)
        cr_assert_eq(log_field_find(&ix, others[i], strlen(others[i])), -1, "\"%s\"", others[i]);
    cr_assert_eq(log_field_find(&ix, "ms=", 2), LF_MS, "the length given, not the string's");
    cr_assert_eq(log_field_find(&ix, "greylist_wait_s_and_more", 24), -1);
}

Test(logfields, verdict_words_are_verdict_names)
{
    const struct log_field_spec *s = &log_field_table[LF_VERDICT];
    cr_assert_eq(s->nwords, VERDICT_PASS_GREYLIST + 1);
    cr_assert_eq(s->nwords, LOG_VERDICT_WORDS);
    for (int v = 0; v <= VERDICT_PASS_GREYLIST; v++) {
        cr_assert_str_eq(s->words[v], verdict_name((enum verdict)v));
        cr_assert_eq(log_field_word_index(LF_VERDICT, s->words[v], strlen(s->words[v])), v);
    }
    cr_assert_eq(log_field_word_index(LF_VERDICT, "blocks", 6), -1);
    cr_assert_eq(log_field_word_index(LF_VERDICT, "bloc", 4), -1);
    cr_assert_eq(log_field_word_index(LF_REMOTE, "allow", 5), -1, "a field without words has none");
}

Test(logfields, match_words_are_p0f3_match_words)
{
    const struct log_field_spec *s = &log_field_table[LF_MATCH];
    cr_assert_eq(s->nwords, LOG_MATCH_WORDS);
    cr_assert_str_eq(s->words[0], p0f3_match_word(0));
    cr_assert_str_eq(s->words[1], p0f3_match_word(P0F3_MATCH_GENERIC));
    cr_assert_str_eq(s->words[2], p0f3_match_word(P0F3_MATCH_FUZZY));
    cr_assert_str_eq(s->words[2], p0f3_match_word(P0F3_MATCH_FUZZY | P0F3_MATCH_GENERIC));
}

Test(logfields, action_words_are_every_action_log_word)
{
    struct config cfg;
    bool seen[LOG_ACTION_WORDS] = {false, false, false};
    cr_assert_eq(log_field_table[LF_ACTION].nwords, LOG_ACTION_WORDS);
    config_init(&cfg);
    for (int mode = MODE_ASYNC; mode <= MODE_HOLD; mode++)
        for (int action = ACTION_CLOSE; action <= ACTION_TEMPFAIL; action++)
            for (int v = 0; v <= VERDICT_PASS_GREYLIST; v++)
                for (int handed = 0; handed < 2; handed++) {
                    cfg.mode = mode;
                    cfg.action = action;
                    const char *w = action_log_word(&cfg, (enum verdict)v, handed);
                    if (w == NULL)
                        continue;
                    int i = log_field_word_index(LF_ACTION, w, strlen(w));
                    cr_assert_geq(i, 0, "action=%s is not in the table", w);
                    seen[i] = true;
                }
    cr_assert(seen[0] && seen[1] && seen[2], "every word of the table is written");
}

Test(logfields, cutoff_words_follow_enum_cutoff)
{
    const struct log_field_spec *s = &log_field_table[LF_CUTOFF];
    cr_assert_eq(s->nwords, CUTOFF_TOO_LATE - CUTOFF_IN_TIME + 1);
    cr_assert_eq(s->nwords, LOG_CUTOFF_WORDS);
    cr_assert_str_eq(s->words[CUTOFF_IN_TIME - CUTOFF_IN_TIME], "in_time");
    cr_assert_str_eq(s->words[CUTOFF_AFTER_DATA - CUTOFF_IN_TIME], "after_data");
    cr_assert_str_eq(s->words[CUTOFF_TOO_LATE - CUTOFF_IN_TIME], "too_late");
}
