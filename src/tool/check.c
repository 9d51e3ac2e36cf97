/* p0fshim check IP: the verdict the shim would reach for a connection from IP, and why,
 * in the manner of TCP Wrappers' tcpdmatch: the same config_load, the same p0f codec,
 * the same policy_judge and the same log formatting as the library. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "action.h"
#include "args.h"
#include "client/clientconf.h"
#include "greylist.h"
#include "karma.h"
#include "logfmt.h"
#include "output.h"
#include "pcap.h"
#include "p0ffp.h"
#include "synmatch.h"
#include "p0fsock.h"
#include "textfile.h"
#include "tool.h"
#include "verdict.h"

static void check_usage(FILE *f)
{
    fputs("usage: p0fshim check IP [--config FILE] [--socket PATH] [--timeout MS] [--os NAME [--flavor F]]\n"
          "                        [--pcap FILE] [--json]\n",
          f);
}

struct check {
    const char *ip_text;
    struct endpoint ip;
    char ip_shown[ENDPOINT_TEXT_MAX];
    const char *config_path;
    bool config_exists;
    char *config_text;              /* for naming lines; NULL when the file is absent */
    size_t config_len;
    const char *socket_path;
    bool simulated;                 /* --os: p0f is not asked */
    const char *pcap_path;          /* --pcap: the client's SYN from a capture decides, as in the library */
    bool from_syn;
    struct syn_match syn;           /* with from_syn */
    struct p0fq_result q;
    enum lookup_outcome outcome;
    const char *reason;             /* reason= of unknown and error */
    char reason_buf[200];
    char genre[SYNMATCH_GENRE_MAX];  /* p0f's "name flavor", or a signature file's (longer) */
    struct judgement j, without_exempt;
    unsigned exempt_line, smite_line, greylist_line;
    bool smite_matches, greylist_matches;
    /* with greylist_matches: what the store says (read, never written) */
    enum { GREY_NOT_READ, GREY_READ, GREY_NO_STORE, GREY_FAILED } grey_state;
    struct greylist_result grey;
    long greylist_wait_s;
    char grey_why[300];
    /* with a karma_store: the fleet's count, read, never added to */
    enum { KARMA_NO_STORE, KARMA_READ, KARMA_FAILED } karma_state;
    long long karma_stored;         /* hits in the window now */
    long long karma_total;          /* what this connection's line would say (its own hit included) */
    char karma_why[300];
    const char *action;             /* what a refusal does, as the engine logs it */
    char reply[260];
    char log_fields[LOGFMT_MAX];
    bool blocked_file_exists;
};

/* The text of line n, trimmed. */
static void config_line(const struct check *c, unsigned n, const char **start, size_t *len)
{
    struct text_cursor cursor;
    struct text_line line;
    *start = "";
    *len = 0;
    if (c->config_text == NULL || n == 0)
        return;
    text_cursor_init(&cursor, c->config_text, c->config_len);
    while (text_next_line(&cursor, &line))
        if (line.number == n) {
            *start = line.start;
            *len = line.len;
            return;
        }
}

/* The last SYN from the checked address in the capture, matched (pcap_each_syn's callback). */
struct syn_finder {
    struct check *c;
    const struct p0ffp_db *db;
};

static void keep_syn_of_ip(void *ctx, const struct syn_features *f)
{
    struct syn_finder *finder = ctx;
    struct endpoint remote, local;
    pcap_syn_endpoints(f, &remote, &local);
    if (remote.family != finder->c->ip.family ||
        memcmp(remote.ip, finder->c->ip.ip, remote.family == AF_INET ? 4 : 16) != 0)
        return;
    synmatch_packet(finder->db, f, &finder->c->syn);
    finder->c->from_syn = true;
}

/* --pcap: the library's signatures (the configuration's fp_files) on the client's SYN. */
static int lookup_syn(struct check *c, const struct config *cfg)
{
    static struct p0ffp_db db;
    char why[P0FFP_ERROR_MAX];
    p0ffp_db_init(&db);
    for (size_t i = 0; i < cfg->nfp_files; i++)
        if (p0ffp_load_file(&db, cfg->fp_files[i], why, sizeof(why)) != 0) {
            fputs("p0fshim check: ", stderr);
            put_safe(stderr, why, strlen(why));
            fputc('\n', stderr);
            return EXIT_CONFIG;
        }
    struct syn_finder finder = {c, &db};
    if (pcap_each_syn(c->pcap_path, "p0fshim check", keep_syn_of_ip, &finder) != 0)
        return EXIT_USAGE;
    if (!c->from_syn) {
        fprintf(stderr, "p0fshim check: no SYN from %s in ", c->ip_shown);
        put_safe(stderr, c->pcap_path, strlen(c->pcap_path));
        fputc('\n', stderr);
        return EXIT_USAGE;
    }
    if (c->syn.os) {
        c->outcome = LOOKUP_OS_KNOWN;
        snprintf(c->genre, sizeof(c->genre), "%s", c->syn.genre);
    } else {
        c->outcome = LOOKUP_NO_OS;
    }
    return 0;
}

static void lookup(struct check *c, const struct config *cfg)
{
    struct p0f3_answer *a = &c->q.answer;
    if (!c->simulated) {
        p0fq_query(c->socket_path, &c->ip, cfg->timeout_ms, &c->q);
        /* The engine refuses answers from a socket served by anyone but root or p0f_user. */
        if (c->q.status == P0FQ_OK && c->q.have_peer && !p0fsock_peer_trusted(c->q.peer_uid, cfg->p0f_uid)) {
            p0fsock_untrusted_reason(c->q.log_reason, sizeof(c->q.log_reason), c->q.peer_uid, c->q.peer_pid);
            snprintf(c->q.why, sizeof(c->q.why), "%s: the shim refuses its answers", c->q.log_reason);
            c->q.status = P0FQ_NOT_P0F;
        }
    }
    switch (c->q.status) {
    case P0FQ_OK:
        if (a->os_name[0]) {
            c->outcome = LOOKUP_OS_KNOWN;
            genre_format(a, c->genre, sizeof(c->genre));
        } else {
            c->outcome = LOOKUP_NO_OS;
            c->reason = "os not identified";
        }
        break;
    case P0FQ_NOMATCH:
        c->outcome = LOOKUP_NO_MATCH;
        c->reason = "no match";
        break;
    case P0FQ_DOWN:
    case P0FQ_NOT_P0F:
        c->outcome = LOOKUP_FAILED;
        snprintf(c->reason_buf, sizeof(c->reason_buf), "%s", c->q.log_reason);
        c->reason = c->reason_buf;
        break;
    }
}

/* The fields after remote= and local=, as logfmt_connection writes them, without ms=. */
static void log_fields(struct check *c, const struct config *cfg)
{
    struct connection_report report = {0};
    struct logfmt l;
    report.remote = c->ip;
    report.local.family = AF_INET;
    report.judgement = c->j;
    report.fp = c->from_syn ? FP_SOURCE_SYN : FP_SOURCE_P0F;
    report.syn = c->from_syn ? &c->syn : NULL;
    report.answer = !c->from_syn && c->q.status == P0FQ_OK ? &c->q.answer : NULL;
    report.genre = report.answer ? c->genre : NULL;
    report.blocked_file = cfg->policy.blocked_file;
    report.reason = c->reason;
    report.action = c->action;
    report.reply = c->reply[0] ? c->reply : NULL;
    report.greylist_wait_s = c->greylist_wait_s;
    report.karma_counted = c->karma_state == KARMA_READ;
    report.karma_total = c->karma_total;
    logfmt_connection(&l, &report);
    const char *v = strstr(l.text, " verdict=");
    const char *ms = v ? strstr(v, " ms=") : NULL;
    c->log_fields[0] = '\0';
    if (v == NULL || ms == NULL)
        return;
    const char *after_ms = strchr(ms + 1, ' ');
    snprintf(c->log_fields, sizeof(c->log_fields), "%.*s%s", (int)(ms - (v + 1)), v + 1, after_ms ? after_ms : "");
}

static void print_scope(const struct config *cfg)
{
    printf("  scope:     local ports");
    for (size_t i = 0; i < cfg->nports; i++)
        printf(" %u", (unsigned)cfg->ports[i]);
    if (cfg->nprograms == 0) {
        printf("; every program\n");
        return;
    }
    printf("; programs");
    for (size_t i = 0; i < cfg->nprograms; i++) {
        putchar(' ');
        put_escaped_str(stdout, cfg->programs[i]);
    }
    putchar('\n');
}

/* Where the fingerprint came from, and what the library would have used. */
static void print_source(const struct check *c, const struct config *cfg)
{
    static const char *const modes[] = {"auto", "syn", "syn+p0f", "p0f"};
    if (c->from_syn) {
        printf("  SYN:       from ");
        put_safe(stdout, c->pcap_path, strlen(c->pcap_path));
        printf(", matched against %zu fp_file%s: ", cfg->nfp_files, cfg->nfp_files == 1 ? "" : "s");
        if (c->syn.os) {
            printf("\"");
            put_escaped_str(stdout, c->syn.sig->name);
            printf("\" flavor \"");
            put_escaped_str(stdout, c->syn.sig->flavor);
            printf("\", %s match (%s:%u)", synmatch_match_word(c->syn.match), c->syn.sig->file, c->syn.sig->line);
        } else {
            printf("no operating system matches");
        }
        printf(", distance %u\n", c->syn.distance);
        printf("  sig:       %s\n", c->syn.raw_sig);
        return;
    }
    if (cfg->fingerprint != FINGERPRINT_P0F && !c->simulated)
        printf("  source:    fingerprint %s: the library decides a live connection from its SYN, which only\n"
               "             the daemon sees%s;\n"
               "             here p0f is asked. --pcap FILE (a capture of the client's SYN) gives the SYN's verdict.\n",
               modes[cfg->fingerprint],
               cfg->fingerprint == FINGERPRINT_SYN ? " (it never asks p0f)" : " (p0f serves those without a saved SYN)");
}

static void print_p0f(const struct check *c)
{
    if (c->from_syn)
        return;
    const struct p0f3_answer *a = &c->q.answer;
    if (c->simulated) {
        printf("  p0f:       not asked (--os): assumed to know the host");
        if (a->os_name[0])
            printf(" as an exact match\n");
        else
            printf(" without identifying its OS\n");
        return;
    }
    printf("  p0f:       %s: ", c->socket_path);
    switch (c->q.status) {
    case P0FQ_OK:
        if (a->os_name[0]) {
            printf("\"");
            put_escaped_str(stdout, a->os_name);
            printf("\" flavor \"");
            put_escaped_str(stdout, a->os_flavor);
            printf("\", %s match", p0f3_match_word(a->os_match_q));
        } else {
            printf("knows the host, OS not identified");
        }
        if (a->distance >= 0)
            printf(", distance %d", a->distance);
        if (a->link_type[0]) {
            printf(", link \"");
            put_escaped_str(stdout, a->link_type);
            printf("\"");
        }
        char when[64];
        format_unix_time(a->last_seen, when, sizeof(when));
        printf(", last seen %s\n", when);
        break;
    case P0FQ_NOMATCH:
        printf("no record of the host (NOMATCH)\n");
        break;
    default:
        printf("no usable answer: %s\n", c->q.why);
        break;
    }
}

/* check's greylist store, for verdict_decide: read, never recorded. It is opened only when
 * LMDB's two files exist, so that running check as root cannot leave root-owned files the
 * daemon's user could not open; a store that does not exist yet greylists a first contact. */
struct grey_reader {
    struct check *c;
    const struct config *cfg;
};

static bool greylist_read_only(void *ctx, const struct endpoint *peer, struct greylist_result *out)
{
    struct grey_reader *r = ctx;
    struct check *c = r->c;
    char data[PATH_MAX + 16], lock[PATH_MAX + 16];
    struct stat st;
    struct greylist *g;
    struct diag err = {0};

    if (r->cfg->greylist.store.set)   /* Redis: nothing is created by reading */
        goto open;
    snprintf(data, sizeof(data), "%s/data.mdb", r->cfg->greylist.dir);
    snprintf(lock, sizeof(lock), "%s/lock.mdb", r->cfg->greylist.dir);
    if (stat(data, &st) != 0 || stat(lock, &st) != 0) {
        c->grey_state = GREY_NO_STORE;
        out->outcome = GREYLIST_FIRST;
        return true;
    }
open:
    if (greylist_open(&g, &r->cfg->greylist, &err) != 0) {
        c->grey_state = GREY_FAILED;
        snprintf(c->grey_why, sizeof(c->grey_why), "%s", err.reason);
        return false;
    }
    int rc = greylist_peek(g, peer, time(NULL), out);
    greylist_close(g);
    if (rc != 0 && out->outcome != GREYLIST_FIRST) {
        c->grey_state = GREY_FAILED;
        snprintf(c->grey_why, sizeof(c->grey_why), "%s", out->error);
        return false;
    }
    c->grey_state = out->outcome == GREYLIST_FAILED ? GREY_FAILED : GREY_READ;
    if (out->outcome == GREYLIST_FAILED)
        snprintf(c->grey_why, sizeof(c->grey_why), "%s", out->error);
    return true;
}

/* check's karma store, for verdict_decide: the fleet's count read, this connection's hit (when
 * smite_os matches) added to what the line would say but never to the store. */
static bool karma_read_only(void *ctx, const struct endpoint *peer, unsigned hits, long long *total)
{
    struct grey_reader *r = ctx;
    struct check *c = r->c;
    struct karma_store *k;
    if (karma_open(&k, &r->cfg->karma, r->cfg->store_timeout_ms < 1000 ? 1000 : r->cfg->store_timeout_ms,
                   c->karma_why, sizeof(c->karma_why)) != 0) {
        c->karma_state = KARMA_FAILED;
        return false;
    }
    int rc = karma_count(k, peer, time(NULL), 0, &c->karma_stored, c->karma_why, sizeof(c->karma_why));
    karma_close(k);
    if (rc != 0) {
        c->karma_state = KARMA_FAILED;
        return false;
    }
    c->karma_state = KARMA_READ;
    c->karma_total = c->karma_stored + hits;
    *total = c->karma_total;
    return true;
}

/* The verdict, by the library's own function: the policy on p0f's answer, then the greylist
 * store, then what a refusal does (action= and reply= as the engine logs a refusal that a
 * hold-mode accept() answered). */
static void decide(struct check *c, const struct config *cfg)
{
    struct source_view view = {c->outcome, c->outcome == LOOKUP_OS_KNOWN ? c->genre : NULL, true};
    struct grey_reader reader = {c, cfg};
    struct verdict_request rq = {
        .cfg = cfg, .peer = &c->ip, .views = &view, .nviews = 1,
        .greylist = greylist_read_only, .greylist_ctx = &reader,
        .karma = karma_read_only, .karma_ctx = &reader,
    };
    struct verdict_result v;
    verdict_decide(&rq, &v);
    c->j = v.judgement;
    c->greylist_matches = v.greylist_matched;
    c->grey = v.grey;
    c->greylist_wait_s = v.greylist_wait_s;
    if (!v.karma_counted && c->karma_state == KARMA_READ)
        c->karma_state = KARMA_FAILED;
    /* A verdict from the SYN is applied inside accept(), as a hold-mode one. */
    c->action = verdict_action(cfg, &v, cfg->mode == MODE_HOLD || c->from_syn, c->reply, sizeof(c->reply));
}

/* What a refusal does to the client. */
static void print_refusal(const struct config *cfg, enum verdict v, bool from_syn)
{
    char reply[260];
    if (cfg->mode == MODE_ASYNC && !from_syn) {
        printf("  The shim would shut the connection down (shutdown SHUT_RDWR) as soon as p0f answers,\n"
               "  typically 1-5 ms after accept; the client may see the banner first (mode async).\n");
        return;
    }
    if (from_syn)
        printf("  accept() would decide before it returns, from the SYN: the MTA never sees it;\n  the client ");
    else
        printf("  accept() would hold the connection for up to %u ms (mode hold): the MTA never sees it;\n  the client ",
               cfg->hold_ms);
    if (action_reply_text(cfg, action_reply_kind(cfg, v), reply, sizeof(reply)) > 2) {
        reply[strlen(reply) - 2] = '\0';
        printf("gets \"%s\" and is closed (action %s).\n", reply, action_log_word(cfg, v, true));
    } else {
        printf("is closed without a reply (action close).\n");
    }
    if (!from_syn)
        printf("  A verdict later than that is applied as in mode async.\n");
}

static void print_greylist(const struct check *c, const struct config *cfg)
{
    const char *gtext;
    size_t glen;
    char when[64];
    config_line(c, c->greylist_line, &gtext, &glen);
    printf("  greylist_os matches");
    if (c->greylist_line) {
        printf(" (%s:%u: ", c->config_path, c->greylist_line);
        put_safe(stdout, gtext, glen);
        printf(")");
    }
    printf("; the greylist store %s ", cfg->greylist.store.set ? cfg->greylist.store.shown : cfg->greylist.dir);
    switch (c->grey_state) {
    case GREY_NO_STORE:
        printf("does not exist yet (not created by check):\n  a first contact is greylisted");
        break;
    case GREY_FAILED:
        printf("cannot be read (%s):\n  the shim would fail open and let the host pass", c->grey_why);
        break;
    case GREY_NOT_READ:
        printf("was not read");
        break;
    case GREY_READ:
        switch (c->grey.outcome) {
        case GREYLIST_FIRST:
            printf("does not know the host: a first contact is greylisted");
            break;
        case GREYLIST_EARLY:
            format_unix_time((uint32_t)c->grey.first_seen, when, sizeof(when));
            printf("saw it first at %s:\n  a retry before %u s is greylisted again", when, cfg->greylist.delay_s);
            break;
        case GREYLIST_PASSED:
            printf("says it waited %ld s: a retry now passes", c->grey.waited_s);
            break;
        case GREYLIST_GOOD:
            printf("knows it as good (it passed before): it passes");
            break;
        case GREYLIST_FAILED:
            break;
        }
        break;
    }
    printf(".\n  (a retry after %u s and within %u s passes, and the host is then good for %u days)\n",
           cfg->greylist.delay_s, cfg->greylist.window_s, cfg->greylist.expire_s / 86400);
}

/* A duration as the configuration writes it. */
static void put_duration(unsigned s)
{
    if (s && s % 86400 == 0 && s > 2 * 86400)
        printf("%ud", s / 86400);
    else if (s && s % 3600 == 0)
        printf("%uh", s / 3600);
    else if (s && s % 60 == 0)
        printf("%um", s / 60);
    else
        printf("%us", s);
}

static void print_karma(const struct check *c, const struct config *cfg)
{
    if (!cfg->karma.store.set)
        return;
    printf("  karma:     ");
    if (c->karma_state != KARMA_READ) {
        printf("the karma store %s cannot be read (%s): the shim would leave karma off for the host\n",
               cfg->karma.store.shown, c->karma_state == KARMA_FAILED ? c->karma_why : "not asked");
        return;
    }
    printf("%lld smite_os hit%s in the last ", c->karma_stored, c->karma_stored == 1 ? "" : "s");
    put_duration(cfg->karma.window_s);
    printf(" across the fleet (%s)", cfg->karma.store.shown);
    if (c->karma_total > c->karma_stored)
        printf("; this connection would add one: karma_total=%lld", c->karma_total);
    if (cfg->karma.limit == 0)
        printf("; no karma_limit\n");
    else if (c->karma_total >= (long long)cfg->karma.limit)
        printf(";\n             karma_limit %u reached: %s\n", cfg->karma.limit,
               c->j.verdict == VERDICT_EXEMPT ? "but exempt hosts are never refused" : "refused");
    else
        printf("; karma_limit %u not reached\n", cfg->karma.limit);
}

static void explain(const struct check *c, const struct config *cfg)
{
    const char *cfgfile = c->config_path;
    char net[ENDPOINT_TEXT_MAX];
    const char *ltext;
    size_t llen;

    if (c->outcome == LOOKUP_OS_KNOWN) {
        printf("  genre:     \"");
        put_escaped_str(stdout, c->genre);
        printf("\"\n");
    }
    if (c->j.exempt) {
        cidr_format(c->j.exempt, net, sizeof(net));
        printf("  exempt:    %s is in %s", c->ip_shown, net);
        if (c->exempt_line)
            printf(" (%s:%u)", cfgfile, c->exempt_line);
        printf(": never blocked\n");
        if (c->without_exempt.verdict == VERDICT_BLOCK)
        {
            printf("             without the exemption: block by ");
            put_safe(stdout, c->without_exempt.rule->text, strlen(c->without_exempt.rule->text));
            printf(" (%s:%u)\n", cfg->policy.blocked_file, c->without_exempt.rule->line);
        }
        else
            printf("             without the exemption: %s\n", verdict_name(c->without_exempt.verdict));
    }
    if (c->outcome == LOOKUP_OS_KNOWN) {
        const struct judgement *j = c->j.exempt ? &c->without_exempt : &c->j;
        if (j->rule == &verdict_karma_rule) {
            printf("  rule:      karma (karma_limit %u, karma_total=%lld)\n", cfg->karma.limit, c->karma_total);
        } else if (j->rule) {
            printf("  rule:      ");
            put_safe(stdout, j->rule->text, strlen(j->rule->text));
            printf(" (%s:%u): %s\n", cfg->policy.blocked_file, j->rule->line,
                   j->rule->re ? "regex, case-insensitive, matches the genre" : "phrase, equals the genre");
        } else if (!c->blocked_file_exists) {
            printf("  rules:     %s does not exist: nothing is blocked\n", cfg->policy.blocked_file);
        } else {
            printf("  rules:     none of the %zu entries of %s matches the genre\n", cfg->policy.nrules,
                   cfg->policy.blocked_file);
        }
        if (cfg->policy.smite_os) {
            config_line(c, c->smite_line, &ltext, &llen);
            printf("  smite_os:  %s", !c->smite_matches ? "does not match: no karma"
                                  : c->j.exempt ? "matches: karma=-1 (an exempt host keeps its karma)"
                                                : "matches: karma=-1");
            if (c->smite_line) {
                printf(" (%s:%u: ", cfgfile, c->smite_line);
                put_escaped(stdout, ltext, llen);
                printf(")");
            }
            putchar('\n');
        }
    }
    print_karma(c, cfg);
    printf("verdict: %s\n", verdict_name(c->j.verdict));
    switch (c->j.verdict) {
    case VERDICT_BLOCK:
        print_refusal(cfg, c->j.verdict, c->from_syn);
        break;
    case VERDICT_GREYLIST:
        print_greylist(c, cfg);
        print_refusal(cfg, c->j.verdict, c->from_syn);
        break;
    case VERDICT_ALLOW:
    case VERDICT_PASS_GREYLIST:
        if (c->greylist_matches) {
            print_greylist(c, cfg);
        } else {
            printf("  The connection would be served.\n");
        }
        break;
    case VERDICT_EXEMPT:
        printf("  The connection would be served: exempt networks are never blocked.\n");
        break;
    case VERDICT_UNKNOWN:
        if (c->outcome == LOOKUP_NO_MATCH)
            printf("  p0f has no record of %s: never blocked. (The shim asks again for up to %u ms after\n"
                   "  accept: p0f learns a host from its SYN, so a new connection is judged by its own SYN.)\n",
                   c->ip_shown, cfg->timeout_ms);
        else
            printf("  p0f knows %s but did not identify its OS: never blocked.\n", c->ip_shown);
        break;
    case VERDICT_ERROR:
        printf("  No usable answer from p0f: the shim fails open, the connection would be served.\n");
        break;
    }
    if (c->log_fields[0]) {
        printf("  log:       remote=%s:PORT local=IP:PORT ", c->ip_shown);
        fputs(c->log_fields, stdout);
        putchar('\n');
    }
}

static void print_json(const struct check *c, const struct config *cfg, int status)
{
    char net[ENDPOINT_TEXT_MAX];
    const char *ltext;
    size_t llen;

    printf("{\"ip\":");
    put_json_str(stdout, c->ip_shown);
    printf(",\"config\":");
    put_json_str(stdout, c->config_path);
    printf(",\"verdict\":\"%s\",\"exit\":%d,\"karma\":%d,\"ports\":[", verdict_name(c->j.verdict), status,
           c->j.karma);
    for (size_t i = 0; i < cfg->nports; i++)
        printf("%s%u", i ? "," : "", (unsigned)cfg->ports[i]);
    printf("],\"programs\":[");
    for (size_t i = 0; i < cfg->nprograms; i++) {
        if (i)
            putchar(',');
        put_json_str(stdout, cfg->programs[i]);
    }
    static const char *const modes[] = {"auto", "syn", "syn+p0f", "p0f"};
    printf("],\"fingerprint\":\"%s\",\"syn\":", modes[cfg->fingerprint]);
    if (c->from_syn) {
        printf("{\"pcap\":");
        put_json_str(stdout, c->pcap_path);
        printf(",\"os_name\":");
        put_json_str(stdout, c->syn.os ? c->syn.sig->name : "");
        printf(",\"os_flavor\":");
        put_json_str(stdout, c->syn.os ? c->syn.sig->flavor : "");
        printf(",\"match\":\"%s\",\"distance\":%u,\"sig\":", synmatch_match_word(c->syn.match), c->syn.distance);
        put_json_str(stdout, c->syn.raw_sig);
        printf("},\"p0f\":{\"asked\":false}");
    } else {
        printf("null,");
    }
    if (!c->from_syn)
        printf("\"p0f\":{\"asked\":%s", c->simulated ? "false" : "true");
    if (!c->simulated && !c->from_syn) {
        printf(",\"socket\":");
        put_json_str(stdout, c->socket_path);
    }
    static const char *const words[] = {"ok", "nomatch", "p0f_down", "not_p0f"};
    if (!c->from_syn)
        printf(",\"status\":\"%s\"", words[c->q.status]);
    if (c->from_syn) {
    } else if (c->q.status == P0FQ_OK) {
        printf(",\"os_name\":");
        put_json_str(stdout, c->q.answer.os_name);
        printf(",\"os_flavor\":");
        put_json_str(stdout, c->q.answer.os_flavor);
        printf(",\"match\":\"%s\",\"distance\":", p0f3_match_word(c->q.answer.os_match_q));
        if (c->q.answer.distance < 0)
            printf("null");
        else
            printf("%d", c->q.answer.distance);
        printf(",\"link_type\":");
        put_json_str(stdout, c->q.answer.link_type);
        printf(",\"last_seen\":%u", (unsigned)c->q.answer.last_seen);
    } else if (c->q.status != P0FQ_NOMATCH) {
        printf(",\"error\":");
        put_json_str(stdout, c->q.why);
    }
    if (!c->from_syn)
        printf("}");
    printf(",\"genre\":");
    if (c->outcome == LOOKUP_OS_KNOWN)
        put_json_str(stdout, c->genre);
    else
        printf("null");
    const struct judgement *j = c->j.exempt ? &c->without_exempt : &c->j;
    printf(",\"rule\":");
    if (c->j.rule == &verdict_karma_rule) {
        printf("{\"text\":\"karma\",\"karma_limit\":%u}", cfg->karma.limit);
    } else if (c->j.rule) {
        printf("{\"text\":");
        put_json_str(stdout, c->j.rule->text);
        printf(",\"file\":");
        put_json_str(stdout, cfg->policy.blocked_file);
        printf(",\"line\":%u}", c->j.rule->line);
    } else {
        printf("null");
    }
    printf(",\"exempt\":");
    if (c->j.exempt) {
        cidr_format(c->j.exempt, net, sizeof(net));
        printf("{\"network\":");
        put_json_str(stdout, net);
        printf(",\"file\":");
        put_json_str(stdout, c->config_path);
        printf(",\"line\":%u,\"verdict_without\":\"%s\"", c->exempt_line, verdict_name(j->verdict));
        if (j->rule) {
            printf(",\"rule_without\":");
            put_json_str(stdout, j->rule->text);
        }
        printf("}");
    } else {
        printf("null");
    }
    printf(",\"smite_os\":");
    if (cfg->policy.smite_os && c->outcome == LOOKUP_OS_KNOWN) {
        config_line(c, c->smite_line, &ltext, &llen);
        printf("{\"matches\":%s,\"file\":", c->smite_matches ? "true" : "false");
        put_json_str(stdout, c->config_path);
        printf(",\"line\":%u,\"text\":", c->smite_line);
        put_json(stdout, ltext, llen);
        printf("}");
    } else {
        printf("null");
    }
    printf(",\"greylist_os\":");
    if (c->greylist_matches) {
        printf("{\"matches\":true,\"file\":");
        put_json_str(stdout, c->config_path);
        printf(",\"line\":%u}", c->greylist_line);
    } else
        printf("null");
    printf(",\"karma_store\":");
    if (!cfg->karma.store.set) {
        printf("null");
    } else {
        printf("{\"store\":");
        put_json_str(stdout, cfg->karma.store.shown);
        if (c->karma_state == KARMA_READ)
            printf(",\"hits\":%lld,\"karma_total\":%lld", c->karma_stored, c->karma_total);
        else {
            printf(",\"error\":");
            put_json_str(stdout, c->karma_state == KARMA_FAILED ? c->karma_why : "not asked");
        }
        printf(",\"window_s\":%u,\"karma_limit\":%u}", cfg->karma.window_s, cfg->karma.limit);
    }
    printf(",\"reason\":");
    if (c->reason)
        put_json_str(stdout, c->reason);
    else
        printf("null");
    printf(",\"log\":");
    put_json_str(stdout, c->log_fields);
    printf("}\n");
}

static int verdict_status(const struct check *c)
{
    if (c->j.verdict == VERDICT_BLOCK || c->j.verdict == VERDICT_GREYLIST)
        return EXIT_NEGATIVE;
    if (c->j.verdict == VERDICT_ERROR)
        return query_exit_status(c->q.status);
    return 0;
}

int cmd_check(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"socket", required_argument, NULL, 's'},
        {"timeout", required_argument, NULL, 't'}, {"os", required_argument, NULL, 'o'},
        {"flavor", required_argument, NULL, 'f'}, {"json", no_argument, NULL, 'j'},
        {"pcap", required_argument, NULL, 'p'},   {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static struct check c;
    static struct config cfg;
    const char *config_given = NULL, *socket_given = NULL, *os = NULL, *flavor = NULL;
    unsigned long timeout_ms = 0;
    bool json = false;
    int opt;

    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (opt) {
        case 'c': config_given = optarg; break;
        case 's': socket_given = optarg; break;
        case 'o': os = optarg; break;
        case 'f': flavor = optarg; break;
        case 'j': json = true; break;
        case 'p': c.pcap_path = optarg; break;
        case 't':
            if (parse_ulong_arg(optarg, 1, 600000, &timeout_ms) != 0) {
                fprintf(stderr, "p0fshim check: --timeout wants milliseconds from 1 to 600000\n");
                return EXIT_USAGE;
            }
            break;
        case 'h': check_usage(stdout); return 0;
        case ':': fprintf(stderr, "p0fshim check: %s needs a value\n", argv[optind - 1]); return EXIT_USAGE;
        default:
            fprintf(stderr, "p0fshim check: unknown option %s\n", argv[optind - 1]);
            check_usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind + 1 != argc) {
        check_usage(stderr);
        return EXIT_USAGE;
    }
    if (os && c.pcap_path) {
        fprintf(stderr, "p0fshim check: --os and --pcap both say where the fingerprint comes from: give one\n");
        return EXIT_USAGE;
    }
    if (flavor && !os) {
        fprintf(stderr, "p0fshim check: --flavor needs --os\n");
        return EXIT_USAGE;
    }
    if (os && (strlen(os) >= P0F3_STR_MAX || (flavor && strlen(flavor) >= P0F3_STR_MAX))) {
        fprintf(stderr, "p0fshim check: p0f's os and flavor are at most %d bytes\n", P0F3_STR_MAX - 1);
        return EXIT_USAGE;
    }
    c.ip_text = argv[optind];
    if (endpoint_parse_ip(c.ip_text, &c.ip) != 0) {
        fprintf(stderr, "p0fshim check: \"");
        put_escaped_str(stderr, c.ip_text);
        fprintf(stderr, "\" is not an IPv4 or IPv6 address\n");
        return EXIT_USAGE;
    }
    endpoint_format_ip(&c.ip, c.ip_shown, sizeof(c.ip_shown));

    bool must_exist;
    struct diag err = {0};
    c.config_path = clientconf_path(config_given, &must_exist);
    config_init(&cfg);
    if (config_load(&cfg, c.config_path, must_exist, &err) != 0) {
        if (json) {
            printf("{\"ip\":");
            put_json_str(stdout, c.ip_shown);
            printf(",\"config\":");
            put_json_str(stdout, c.config_path);
            printf(",\"verdict\":null,\"exit\":%d,\"config_error\":{\"file\":", EXIT_CONFIG);
            put_json_str(stdout, err.file);
            printf(",\"line\":%u,\"reason\":", err.line);
            put_json_str(stdout, err.reason);
            printf("}}\n");
        } else {
            print_diag(stdout, "configuration error: ", &err);
            printf("verdict: none: the shim would log this error once and pass every connection through "
                   "untouched\n");
        }
        config_free(&cfg);
        return EXIT_CONFIG;
    }
    int rc = text_file_read(c.config_path, &c.config_text, &c.config_len);
    c.config_exists = rc == 0;
    if (rc != 0)
        c.config_text = NULL;
    c.blocked_file_exists = access(cfg.policy.blocked_file, F_OK) == 0;

    if (c.pcap_path) {
        int st = lookup_syn(&c, &cfg);
        if (st != 0) {
            config_free(&cfg);
            free(c.config_text);
            return st;
        }
    } else if (os) {
        c.simulated = true;
        c.q.status = P0FQ_OK;
        snprintf(c.q.answer.os_name, sizeof(c.q.answer.os_name), "%s", os);
        snprintf(c.q.answer.os_flavor, sizeof(c.q.answer.os_flavor), "%s", flavor ? flavor : "");
        c.q.answer.distance = -1;
    } else {
        if (socket_given)
            c.socket_path = socket_given;
        else if (cfg.v3.enabled)
            c.socket_path = cfg.v3.socket_path;
        else {
            fprintf(stderr, "p0fshim check: %s has no p0f v3 source (p0f v2 is asked per connection, not per "
                            "IP): give --socket PATH or --os NAME [--flavor F]\n",
                    c.config_path);
            config_free(&cfg);
            free(c.config_text);
            return EXIT_USAGE;
        }
        if (timeout_ms)
            cfg.timeout_ms = (unsigned)timeout_ms;
    }
    if (!c.from_syn)
        lookup(&c, &cfg);
    decide(&c, &cfg);
    struct policy no_exempt = cfg.policy;
    no_exempt.nexempt = 0;
    policy_judge(&no_exempt, &c.ip, c.outcome, c.outcome == LOOKUP_OS_KNOWN ? c.genre : NULL, &c.without_exempt);
    c.smite_matches = c.without_exempt.karma != 0;
    if (c.config_text) {
        c.smite_line = config_line_of(&cfg, "smite_os");
        c.greylist_line = config_line_of(&cfg, "greylist_os");
        if (c.j.exempt)
            c.exempt_line = config_exempt_line(&cfg, c.j.exempt);
    }
    log_fields(&c, &cfg);

    int status = verdict_status(&c);
    if (json) {
        print_json(&c, &cfg, status);
    } else {
        printf("check %s", c.ip_shown);
        if (strcmp(c.ip_shown, c.ip_text) != 0)
            printf(" (given as %s: IPv4-mapped, folded to IPv4 as the shim does)", c.ip_text);
        printf(" with %s%s\n", c.config_path, c.config_exists ? "" : " (absent: the defaults)");
        print_scope(&cfg);
        print_source(&c, &cfg);
        print_p0f(&c);
        explain(&c, &cfg);
    }
    config_free(&cfg);
    free(c.config_text);
    return status;
}
