/* verdict_decide(): the one verdict function the engine and `p0fshim check` share. The
 * configuration is parsed as the library would; the greylist store is a stub that says what
 * each test needs and counts how often it was asked. */
#include <criterion/criterion.h>

#include <string.h>

#include "config.h"
#include "verdict.h"

static struct config cfg;
static int store_calls;
static bool store_available;
static struct greylist_result store_says;

static void load(const char *text, const char *blocked)
{
    struct diag err = {0};
    config_init(&cfg);
    cr_assert_eq(config_parse(&cfg, text, strlen(text), "test.conf", &err), 0, "%s:%u: %s", err.file, err.line,
                 err.reason);
    if (blocked)
        cr_assert_eq(policy_parse_blocked(&cfg.policy, blocked, strlen(blocked), "blocked", &err), 0, "%s",
                     err.reason);
}

static bool stub_store(void *ctx, const struct endpoint *peer, struct greylist_result *out)
{
    (void)ctx;
    (void)peer;
    store_calls++;
    *out = store_says;
    return store_available;
}

static struct verdict_result decide(const char *ip, enum lookup_outcome outcome, const char *genre)
{
    struct endpoint peer;
    cr_assert_eq(endpoint_parse_ip(ip, &peer), 0);
    struct source_view view = {outcome, genre, true};
    struct verdict_request rq = {.cfg = &cfg, .peer = &peer, .views = &view, .nviews = 1, .greylist = stub_store};
    struct verdict_result v;
    verdict_decide(&rq, &v);
    return v;
}

static void reset(void)
{
    store_calls = 0;
    store_available = true;
    memset(&store_says, 0, sizeof(store_says));
}

static void teardown(void)
{
    config_free(&cfg);
}

TestSuite(verdict, .init = reset, .fini = teardown);

Test(verdict, block_by_rule_with_reply_in_hold_mode)
{
    char reply[256];
    load("mode hold\naction reject\n", "/windows/\n");
    struct verdict_result v = decide("192.0.2.1", LOOKUP_OS_KNOWN, "Windows 7 or 8");
    cr_assert_eq(v.judgement.verdict, VERDICT_BLOCK);
    cr_assert(verdict_refuses(&v));
    cr_assert_eq(v.reply_kind, HOLD_REJECT);
    const char *action = verdict_action(&cfg, &v, true, reply, sizeof(reply));
    cr_assert_str_eq(action, "reject");
    cr_assert(strncmp(reply, "554 5.7.1 ", 10) == 0, "reply %s", reply);
    cr_assert_null(strchr(reply, '\r'), "the log shows the reply without CRLF");
    /* Not handed to a waiting accept(): no reply text. */
    verdict_action(&cfg, &v, false, reply, sizeof(reply));
    cr_assert_str_eq(reply, "");
    cr_assert_eq(store_calls, 0);
}

Test(verdict, allowed_host_not_greylisted_without_greylist_os)
{
    load("\n", NULL);
    struct verdict_result v = decide("192.0.2.1", LOOKUP_OS_KNOWN, "Linux 3.11 and newer");
    cr_assert_eq(v.judgement.verdict, VERDICT_ALLOW);
    cr_assert_not(v.greylist_matched);
    cr_assert_eq(v.reply_kind, HOLD_PASS);
    cr_assert_eq(v.greylist_wait_s, -1);
    cr_assert_eq(store_calls, 0);
}

Test(verdict, greylist_first_contact_and_early_retry)
{
    load("greylist_os linux\n", NULL);
    store_says.outcome = GREYLIST_FIRST;
    struct verdict_result v = decide("192.0.2.1", LOOKUP_OS_KNOWN, "Linux 3.11 and newer");
    cr_assert(v.greylist_matched);
    cr_assert(v.greylist_consulted);
    cr_assert_eq(v.judgement.verdict, VERDICT_GREYLIST);
    cr_assert(verdict_refuses(&v));
    cr_assert_eq(v.reply_kind, HOLD_GREYLIST);
    store_says.outcome = GREYLIST_EARLY;
    cr_assert_eq(decide("192.0.2.1", LOOKUP_OS_KNOWN, "Linux 2.2.x-3.x").judgement.verdict, VERDICT_GREYLIST);
    cr_assert_eq(store_calls, 2);
}

Test(verdict, greylist_pass_after_retry_carries_the_wait)
{
    load("greylist_os linux\n", NULL);
    store_says.outcome = GREYLIST_PASSED;
    store_says.waited_s = 412;
    struct verdict_result v = decide("192.0.2.1", LOOKUP_OS_KNOWN, "Linux 3.11 and newer");
    cr_assert_eq(v.judgement.verdict, VERDICT_PASS_GREYLIST);
    cr_assert_eq(v.greylist_wait_s, 412);
    store_says.outcome = GREYLIST_GOOD;
    v = decide("192.0.2.1", LOOKUP_OS_KNOWN, "Linux 3.11 and newer");
    cr_assert_eq(v.judgement.verdict, VERDICT_PASS_GREYLIST);
    cr_assert_eq(v.greylist_wait_s, -1, "a host that passed before did not wait now");
}

Test(verdict, greylist_store_failure_or_absence_fails_open)
{
    load("greylist_os linux\n", NULL);
    store_says.outcome = GREYLIST_FAILED;
    struct verdict_result v = decide("192.0.2.1", LOOKUP_OS_KNOWN, "Linux 3.11 and newer");
    cr_assert_eq(v.judgement.verdict, VERDICT_ALLOW);
    cr_assert_not(verdict_refuses(&v));
    store_available = false;
    store_says.outcome = GREYLIST_FIRST;
    v = decide("192.0.2.1", LOOKUP_OS_KNOWN, "Linux 3.11 and newer");
    cr_assert_eq(v.judgement.verdict, VERDICT_ALLOW);
    cr_assert_not(v.greylist_consulted);
}

Test(verdict, greylist_only_for_allowed_hosts_whose_os_is_known)
{
    load("greylist_os .\n", "/windows/\n");
    cr_assert_eq(decide("192.0.2.1", LOOKUP_OS_KNOWN, "Windows XP").judgement.verdict, VERDICT_BLOCK);
    cr_assert_eq(decide("192.0.2.1", LOOKUP_NO_MATCH, NULL).judgement.verdict, VERDICT_UNKNOWN);
    cr_assert_eq(decide("192.0.2.1", LOOKUP_FAILED, NULL).judgement.verdict, VERDICT_ERROR);
    cr_assert_eq(store_calls, 0);
}

Test(verdict, exempt_network_is_never_greylisted_or_blocked)
{
    load("exempt 192.0.2.0/24\ngreylist_os .\n", "/windows/\n");
    struct verdict_result v = decide("192.0.2.7", LOOKUP_OS_KNOWN, "Windows XP");
    cr_assert_eq(v.judgement.verdict, VERDICT_EXEMPT);
    cr_assert_not_null(v.judgement.exempt);
    cr_assert_eq(store_calls, 0);
}

Test(verdict, async_block_reports_no_reply)
{
    char reply[256] = "x";
    load("mode async\n", "/windows/\n");
    struct verdict_result v = decide("192.0.2.1", LOOKUP_OS_KNOWN, "Windows XP");
    verdict_action(&cfg, &v, false, reply, sizeof(reply));
    cr_assert_str_eq(reply, "");
}

/* ---- fleet karma: the store is a stub holding a count ---- */

static long long karma_store_total;
static unsigned karma_hits_added;
static bool karma_available;

static bool stub_karma(void *ctx, const struct endpoint *peer, unsigned hits, long long *total)
{
    (void)ctx, (void)peer;
    karma_hits_added += hits;
    karma_store_total += hits;
    *total = karma_store_total;
    return karma_available;
}

static struct verdict_result decide_karma(const char *ip, const char *genre)
{
    struct endpoint peer;
    cr_assert_eq(endpoint_parse_ip(ip, &peer), 0);
    struct source_view view = {LOOKUP_OS_KNOWN, genre, true};
    struct verdict_request rq = {.cfg = &cfg, .peer = &peer, .views = &view, .nviews = 1, .greylist = stub_store,
                                 .karma = stub_karma};
    struct verdict_result v;
    verdict_decide(&rq, &v);
    return v;
}

static void karma_reset(void)
{
    reset();
    karma_store_total = 0;
    karma_hits_added = 0;
    karma_available = true;
}

Test(verdict, karma_limit_blocks_a_smitten_client, .init = karma_reset)
{
    load("karma_store redis://127.0.0.1:6379\nkarma_limit 3\nsmite_os ^Windows\n", NULL);
    karma_store_total = 1;   /* one hit elsewhere in the fleet */
    struct verdict_result v = decide_karma("192.0.2.1", "Windows XP");
    cr_assert(v.karma_counted);
    cr_assert_eq(v.karma_total, 2);
    cr_assert_eq(v.judgement.verdict, VERDICT_ALLOW, "2 hits are under the limit of 3");
    v = decide_karma("192.0.2.1", "Windows XP");
    cr_assert_eq(v.karma_total, 3);
    cr_assert_eq(v.judgement.verdict, VERDICT_BLOCK, "3 hits reach the limit");
    cr_assert_eq(v.judgement.rule, &verdict_karma_rule);
    cr_assert_str_eq(v.judgement.rule->text, "karma");
    cr_assert_eq(karma_hits_added, 2);
}

Test(verdict, karma_limit_blocks_any_os_once_reached, .init = karma_reset)
{
    load("karma_store redis://127.0.0.1:6379\nkarma_limit 3\nsmite_os ^Windows\n", NULL);
    karma_store_total = 5;
    struct verdict_result v = decide_karma("192.0.2.1", "Linux 3.11 and newer");
    cr_assert_eq(karma_hits_added, 0, "Linux is not smitten");
    cr_assert_eq(v.karma_total, 5);
    cr_assert_eq(v.judgement.verdict, VERDICT_BLOCK);
}

Test(verdict, karma_never_blocks_exempt_and_keeps_os_rule, .init = karma_reset)
{
    load("karma_store redis://127.0.0.1:6379\nkarma_limit 1\nsmite_os ^Windows\nexempt 192.0.2.0/24\n",
         "/windows xp/\n");
    struct verdict_result v = decide_karma("192.0.2.1", "Windows XP");
    cr_assert_eq(v.judgement.verdict, VERDICT_EXEMPT);
    cr_assert_eq(v.karma_total, 1, "an exempt host's hit is counted");
    v = decide_karma("198.51.100.1", "Windows XP");
    cr_assert_eq(v.judgement.verdict, VERDICT_BLOCK);
    cr_assert_neq(v.judgement.rule, &verdict_karma_rule, "the blocked-OS rule is named");
}

Test(verdict, karma_store_down_passes_and_counts_nothing, .init = karma_reset)
{
    load("karma_store redis://127.0.0.1:6379\nkarma_limit 1\nsmite_os ^Windows\n", NULL);
    karma_available = false;
    struct verdict_result v = decide_karma("192.0.2.1", "Windows XP");
    cr_assert(!v.karma_counted);
    cr_assert_eq(v.judgement.verdict, VERDICT_ALLOW);
}

Test(verdict, karma_blocked_client_is_not_greylisted, .init = karma_reset)
{
    load("karma_store redis://127.0.0.1:6379\nkarma_limit 1\nsmite_os ^Windows\ngreylist_os ^Windows\n", NULL);
    struct verdict_result v = decide_karma("192.0.2.1", "Windows XP");
    cr_assert_eq(v.judgement.verdict, VERDICT_BLOCK);
    cr_assert_eq(store_calls, 0);
}

Test(verdict, no_karma_store_no_count, .init = karma_reset)
{
    load("smite_os ^Windows\n", NULL);
    struct verdict_result v = decide_karma("192.0.2.1", "Windows XP");
    cr_assert(!v.karma_counted);
    cr_assert_eq(karma_hits_added, 0);
}
