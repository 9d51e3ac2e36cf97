#define PCRE2_CODE_UNIT_WIDTH 8
#include "policy.h"

#include <errno.h>
#include <pcre2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hotmem.h"
#include "textfile.h"
#include "logfields.h"
#include "tunables.h"


struct regex {
    pcre2_code *code;
    pcre2_match_context *context;
};

/* The match data every pattern uses (PCRE2 writes into it, its backtracking frames too), one
 * match at a time under its lock, in hotmem (hotmem.h): a fork-per-connection server matches
 * once per connection, and these pages would otherwise be copied after every fork. One for all
 * patterns: a match needs no captures (an ovector of one pair serves any pattern), and the
 * frames, 20 KiB, exist once.
 * It never grows: PCRE2 would give a match that needs more frames a bigger vector, from the
 * heap, with its pointer in the shared match data; a child forked before that shares the data
 * until its first match, keeps that pointer, and would match into memory its own heap never
 * allocated. Such a match gets PCRE2_ERROR_NOMEMORY there and is made again with match data of
 * its own. */
struct shared_matcher {
    pthread_mutex_t lock;
    pcre2_general_context *memory;   /* allocates in hotmem, until sealed */
    pcre2_match_data *match;
    bool sealed;                     /* its frames are made: it allocates nothing more */
};
static struct shared_matcher *matcher;

static void *hot_malloc(PCRE2_SIZE size, void *unused)
{
    (void)unused;
    return matcher && matcher->sealed ? NULL : hotmem_alloc(size);
}

static void hot_free(void *p, void *unused)
{
    (void)unused;
    hotmem_free(p);
}

/* In a forked child's copy: a thread of the parent may have been matching. */
static void matcher_after_fork_child(void *m)
{
    pthread_mutex_init(&((struct shared_matcher *)m)->lock, NULL);
}

/* Made by the first pattern compiled (in the constructor or the tool: one thread). */
static struct shared_matcher *shared_matcher(void)
{
    if (matcher)
        return matcher;
    struct shared_matcher *m = hotmem_alloc(sizeof(*m));
    if (m == NULL)
        return NULL;
    pthread_mutex_init(&m->lock, NULL);
    m->memory = pcre2_general_context_create(hot_malloc, hot_free, NULL);
    m->match = m->memory ? pcre2_match_data_create(1, m->memory) : NULL;
    if (m->match == NULL) {
        pcre2_general_context_free(m->memory);
        hotmem_free(m);
        return NULL;
    }
    hotmem_at_privatise(matcher_after_fork_child, m);
    matcher = m;
    return m;
}


const char *verdict_name(enum verdict v)
{
    /* The log's words for verdict= are the log field table's, in enum verdict's order. */
    const struct log_field_spec *f = &log_field_table[LF_VERDICT];
    return (unsigned)v < f->nwords ? f->words[v] : f->words[VERDICT_ERROR];
}

struct regex *regex_compile(const char *pattern, char *why, size_t why_size)
{
    int code;
    PCRE2_SIZE offset;
    struct regex *re = calloc(1, sizeof(*re));
    if (re == NULL) {
        snprintf(why, why_size, "out of memory");
        return NULL;
    }
    re->code = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, PCRE2_CASELESS, &code, &offset, NULL);
    if (re->code == NULL) {
        PCRE2_UCHAR message[160];
        pcre2_get_error_message(code, message, sizeof(message));
        snprintf(why, why_size, "regex \"%s\" does not compile: %s at offset %zu", pattern, (char *)message,
                 (size_t)offset);
        free(re);
        return NULL;
    }
    re->context = pcre2_match_context_create(NULL);
    struct shared_matcher *m = shared_matcher();
    if (m == NULL || re->context == NULL) {
        snprintf(why, why_size, "out of memory");
        regex_free(re);
        return NULL;
    }
    pcre2_set_match_limit(re->context, REGEX_MATCH_LIMIT);
    /* PCRE2 allocates the match data's backtracking frames on the first match (and replaces
     * them for a pattern whose frames are larger): do it here, in the loading thread, before
     * any fork. Left to the engine's worker, that first malloc() would give the worker a
     * malloc arena of its own (64 MiB of address space), and glibc's fork() would then lock
     * and touch that arena in every fork of a fork-per-connection server. */
    m->sealed = false;
    (void)pcre2_match(re->code, (PCRE2_SPTR) "", 0, 0, 0, m->match, re->context);
    m->sealed = true;
    return re;
}

/* The engine's worker and the host's accepting threads (a verdict from the SYN) match at the
 * same time, and PCRE2 writes into the match data: the pattern's own match data is used under
 * its lock, and a match that finds it taken (another thread matching; or, in a forked child,
 * a thread of the parent that was matching at the fork) uses match data of its own instead.
 * Nobody waits. */
bool regex_matches(const struct regex *re, const char *subject)
{
    int rc;
    if (hotmem_enter() && pthread_mutex_trylock(&matcher->lock) == 0) {
        rc = pcre2_match(re->code, (PCRE2_SPTR)subject, strlen(subject), 0, 0, matcher->match, re->context);
        pthread_mutex_unlock(&matcher->lock);
        if (rc != PCRE2_ERROR_NOMEMORY)   /* it needed more frames than the shared data has */
            return rc >= 0;
    }
    pcre2_match_data *own = pcre2_match_data_create_from_pattern(re->code, NULL);
    if (own == NULL)
        return false;
    rc = pcre2_match(re->code, (PCRE2_SPTR)subject, strlen(subject), 0, 0, own, re->context);
    pcre2_match_data_free(own);
    return rc >= 0;
}

void regex_free(struct regex *re)
{
    if (re == NULL)
        return;
    pcre2_match_context_free(re->context);
    pcre2_code_free(re->code);
    free(re);
}

static int add_rule(struct policy *p, const char *line, size_t len, unsigned lineno, const char *file,
                    struct diag *err)
{
    struct blocked_rule rule = {.line = lineno};
    struct blocked_rule *grown;

    rule.text = strndup(line, len);
    if (rule.text == NULL) {
        diag_set(err, file, lineno, "out of memory");
        return -1;
    }
    if (len >= 2 && line[0] == '/' && line[len - 1] == '/') {
        char why[sizeof(err->reason)];
        char *pattern = strndup(line + 1, len - 2);
        if (pattern == NULL) {
            free(rule.text);
            diag_set(err, file, lineno, "out of memory");
            return -1;
        }
        rule.re = regex_compile(pattern, why, sizeof(why));
        free(pattern);
        if (rule.re == NULL) {
            free(rule.text);
            diag_set(err, file, lineno, "%s", why);
            return -1;
        }
    }
    grown = realloc(p->rules, (p->nrules + 1) * sizeof(*grown));
    if (grown == NULL) {
        regex_free(rule.re);
        free(rule.text);
        diag_set(err, file, lineno, "out of memory");
        return -1;
    }
    p->rules = grown;
    p->rules[p->nrules++] = rule;
    return 0;
}

int policy_parse_blocked(struct policy *p, const char *text, size_t len, const char *file, struct diag *err)
{
    struct text_line line;
    struct text_cursor cursor;

    text_cursor_init(&cursor, text, len);
    while (text_next_line(&cursor, &line)) {
        if (line.len == 0 || line.start[0] == '#')
            continue;
        if (memchr(line.start, '\0', line.len) != NULL) {
            diag_set(err, file, line.number, "NUL byte in line");
            return -1;
        }
        if (add_rule(p, line.start, line.len, line.number, file, err) != 0)
            return -1;
    }
    return 0;
}

int policy_load_blocked_file(struct policy *p, const char *path, struct diag *err)
{
    char *text;
    size_t len;
    int rc;

    free(p->blocked_file);
    p->blocked_file = strdup(path);
    if (p->blocked_file == NULL) {
        diag_set(err, path, 0, "out of memory");
        return -1;
    }
    rc = text_file_read(path, &text, &len);
    if (rc == -ENOENT)
        return 0;
    if (rc != 0) {
        diag_set(err, path, 0, "cannot read the blocked-OS file: %s", text_file_strerror(rc));
        return -1;
    }
    rc = policy_parse_blocked(p, text, len, path, err);
    free(text);
    return rc;
}

static const struct cidr *exempt_network(const struct policy *p, const struct endpoint *peer)
{
    for (size_t i = 0; i < p->nexempt; i++)
        if (cidr_contains(&p->exempt[i], peer))
            return &p->exempt[i];
    return NULL;
}

static const struct blocked_rule *blocking_rule(const struct policy *p, const char *genre)
{
    for (size_t i = 0; i < p->nrules; i++) {
        const struct blocked_rule *rule = &p->rules[i];
        if (rule->re ? regex_matches(rule->re, genre) : strcmp(rule->text, genre) == 0)
            return rule;
    }
    return NULL;
}

static void judge_source(const struct policy *p, enum lookup_outcome outcome, const char *genre, bool smite,
                         struct judgement *out)
{
    memset(out, 0, sizeof(*out));
    switch (outcome) {
    case LOOKUP_FAILED:
        out->verdict = VERDICT_ERROR;
        return;
    case LOOKUP_NO_MATCH:
    case LOOKUP_NO_OS:
        out->verdict = VERDICT_UNKNOWN;
        return;
    case LOOKUP_OS_KNOWN:
        break;
    }
    if (smite && p->smite_os && regex_matches(p->smite_os, genre))
        out->karma = -1;
    out->rule = blocking_rule(p, genre);
    out->verdict = out->rule ? VERDICT_BLOCK : VERDICT_ALLOW;
}

void policy_judge(const struct policy *p, const struct endpoint *peer, enum lookup_outcome outcome,
                  const char *genre, struct judgement *out)
{
    struct source_view view = {outcome, genre, true};
    policy_judge_sources(p, peer, &view, 1, out);
}

/* Lower is stronger when sources disagree. */
static int verdict_rank(enum verdict v)
{
    switch (v) {
    case VERDICT_BLOCK: return 0;
    case VERDICT_ALLOW: return 1;
    case VERDICT_UNKNOWN: return 2;
    case VERDICT_ERROR: return 3;
    case VERDICT_EXEMPT:
    case VERDICT_GREYLIST:
    case VERDICT_PASS_GREYLIST: return 4;
    }
    return 3;
}

void policy_judge_sources(const struct policy *p, const struct endpoint *peer, const struct source_view *views,
                          size_t n, struct judgement *out)
{
    memset(out, 0, sizeof(*out));
    out->verdict = VERDICT_ERROR;
    for (size_t i = 0; i < n; i++) {
        struct judgement one;
        judge_source(p, views[i].outcome, views[i].genre, views[i].smite, &one);
        if (one.karma)
            out->karma = one.karma;
        if (verdict_rank(one.verdict) < verdict_rank(out->verdict)) {
            out->verdict = one.verdict;
            out->rule = one.rule;
        }
    }
    /* An exempt host is never blocked, but its karma is kept: it is still fingerprinted. */
    out->exempt = exempt_network(p, peer);
    if (out->exempt) {
        out->verdict = VERDICT_EXEMPT;
        out->rule = NULL;
    }
}

void policy_free(struct policy *p)
{
    for (size_t i = 0; i < p->nrules; i++) {
        regex_free(p->rules[i].re);
        free(p->rules[i].text);
    }
    free(p->rules);
    regex_free(p->smite_os);
    free(p->exempt);
    free(p->blocked_file);
    memset(p, 0, sizeof(*p));
}
