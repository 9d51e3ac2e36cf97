/* schedule.c: when the engine asks p0f. Pure functions, so every time here is made up. */
#include <criterion/criterion.h>

#include <string.h>

#include "schedule.h"

#define MS NS_PER_MS

static struct lookup fresh(void)
{
    return (struct lookup){.active = true, .retry_ms = ENGINE_RETRY_FIRST_MS};
}

static struct endpoint host(const char *ip, uint16_t port)
{
    struct endpoint ep;
    cr_assert_eq(endpoint_parse_ip(ip, &ep), 0);
    ep.port = port;
    return ep;
}

Test(schedule, nomatch_retries_every_ms_then_backs_off)
{
    struct lookup l = fresh();
    uint64_t accepted = 1000 * MS, deadline = accepted + 500 * MS;
    lookup_retry(&l, accepted, deadline, accepted + 2 * MS);
    cr_assert(l.saw_nomatch);
    cr_assert_eq(l.next_query_ns, accepted + 3 * MS);
    cr_assert_eq(l.retry_ms, ENGINE_RETRY_FIRST_MS, "fast retries while p0f may still learn the host");
    for (int i = 0; i < 10; i++)
        lookup_retry(&l, accepted, deadline, accepted + (ENGINE_RETRY_FAST_MS + (uint64_t)i) * MS);
    cr_assert_eq(l.retry_ms, ENGINE_RETRY_MAX_MS, "backed off to the maximum");
}

Test(schedule, no_retry_past_the_deadline)
{
    struct lookup l = fresh();
    uint64_t accepted = 0, deadline = 5 * MS;
    lookup_retry(&l, accepted, deadline, 5 * MS - 1);
    cr_assert_eq(l.next_query_ns, UINT64_MAX);
    cr_assert_not(lookup_due(&l, true, deadline, 4 * MS));
}

Test(schedule, due_only_when_vetted_idle_and_in_time)
{
    struct lookup l = fresh();
    l.next_query_ns = 10;
    cr_assert(lookup_due(&l, true, 100, 10));
    cr_assert_not(lookup_due(&l, false, 100, 10), "not before the socket was vetted");
    cr_assert_not(lookup_due(&l, true, 100, 9), "not before its time");
    cr_assert_not(lookup_due(&l, true, 100, 100), "not at the deadline");
    l.in_flight = true;
    cr_assert_not(lookup_due(&l, true, 100, 10));
}

Test(schedule, expiry_says_no_match_once_p0f_said_so)
{
    struct lookup a = fresh(), b = fresh();
    lookup_retry(&a, 0, 100 * MS, 1 * MS);
    lookup_expire(&a, "p0f timeout");
    cr_assert(a.done);
    cr_assert_eq(a.outcome, LOOKUP_NO_MATCH);
    cr_assert_str_eq(a.reason, "no match");
    lookup_expire(&b, "p0f connect: Connection refused");
    cr_assert_eq(b.outcome, LOOKUP_FAILED);
    cr_assert_str_eq(b.reason, "p0f connect: Connection refused");
    struct lookup done = fresh();
    lookup_finish(&done, LOOKUP_OS_KNOWN, NULL);
    lookup_expire(&done, "p0f timeout");
    cr_assert_eq(done.outcome, LOOKUP_OS_KNOWN, "a settled lookup stays settled");
}

Test(schedule, cache_serves_the_same_host_on_any_port_until_stale)
{
    static struct answer_cache c;
    struct p0f3_answer a = {0};
    strcpy(a.os_name, "Linux");
    struct endpoint h1 = host("192.0.2.1", 40000), h1b = host("192.0.2.1", 40001), h2 = host("192.0.2.2", 40000);
    answer_cache_store(&c, &h1, &a, 0);
    const struct p0f3_answer *hit = answer_cache_find(&c, &h1b, CACHE_FRESH_MS * MS - 1);
    cr_assert_not_null(hit);
    cr_assert_str_eq(hit->os_name, "Linux");
    cr_assert_null(answer_cache_find(&c, &h1, CACHE_FRESH_MS * MS), "stale");
    cr_assert_null(answer_cache_find(&c, &h2, 0), "another host");
}

Test(schedule, a_host_being_asked_is_not_asked_twice)
{
    static struct answer_cache c;
    uint64_t retry_at = 0;
    struct endpoint h = host("2001:db8::1", 25);
    cr_assert_not(answer_cache_being_asked(&c, &h, 0, &retry_at));
    answer_cache_asking(&c, &h, 10 * MS);
    cr_assert(answer_cache_being_asked(&c, &h, 10 * MS, &retry_at));
    cr_assert_eq(retry_at, 10 * MS + REPLY_EXPECTED_NS);
    cr_assert_not(answer_cache_being_asked(&c, &h, 10 * MS + REPLY_EXPECTED_NS, &retry_at), "no longer expected");
    answer_cache_answered(&c, &h);
    cr_assert_not(answer_cache_being_asked(&c, &h, 10 * MS, &retry_at));
}

Test(schedule, first_query_delay_doubles_on_a_miss_and_shrinks_on_a_hit)
{
    struct first_query_timing t = {0};
    first_query_adapt(&t, true);
    cr_assert_eq(t.delay_ns, FIRST_QUERY_DELAY_MIN_NS);
    first_query_adapt(&t, true);
    cr_assert_eq(t.delay_ns, 2 * FIRST_QUERY_DELAY_MIN_NS);
    for (int i = 0; i < 20; i++)
        first_query_adapt(&t, true);
    cr_assert_eq(t.delay_ns, FIRST_QUERY_DELAY_MAX_NS);
    for (int i = 0; i < 200; i++)
        first_query_adapt(&t, false);
    cr_assert_eq(t.delay_ns, 0, "a p0f that knows every host is asked at once");
}

Test(schedule, first_query_waits_the_delay_from_the_syn_without_a_grid)
{
    struct first_query_timing t = {.delay_ns = 2 * MS};
    struct lookup l = fresh();
    first_query_schedule(&t, &l, 100 * MS, 100 * MS, 100 * MS);
    cr_assert_not(l.on_grid);
    cr_assert(l.delay_timed);
    cr_assert_eq(l.next_query_ns, 102 * MS);
    cr_assert_eq(l.unknown_after_ns, 100 * MS);
    /* A SYN long before accept (a distant client, or the accept queue): at once, and the
     * answer teaches the delay nothing. */
    first_query_schedule(&t, &l, 0, 100 * MS, 100 * MS);
    cr_assert_not(l.delay_timed);
    cr_assert_eq(l.next_query_ns, 100 * MS);
}

Test(schedule, first_query_follows_the_learned_grid)
{
    struct first_query_timing t = {.delay_ns = 4 * MS};
    /* Hosts learned at instants 0.3 ms into every 5 ms block. */
    for (uint64_t k = 1; k <= 40; k++) {
        uint64_t instant = k * LEARN_GRID_PERIOD_NS + 300 * 1000;
        struct lookup seen = {.unknown_after_ns = instant - 50 * 1000};
        first_query_observe(&t, &seen, instant + 50 * 1000);
    }
    struct lookup l = fresh();
    uint64_t syn = 1000 * LEARN_GRID_PERIOD_NS + 1 * MS;
    first_query_schedule(&t, &l, syn, syn, syn);
    cr_assert(l.on_grid, "the grid predicts");
    cr_assert_gt(l.next_query_ns, syn);
    cr_assert_leq(l.next_query_ns, syn + LEARN_GRID_PERIOD_NS + GRID_GUARD_NS);
    /* A NOMATCH then waits for the next instant, not a millisecond. */
    uint64_t asked = l.next_query_ns;
    lookup_retry(&l, syn, syn + 500 * MS, asked + 100 * 1000);
    first_query_after_nomatch(&t, &l, asked, asked + 100 * 1000);
    cr_assert_geq(l.next_query_ns, asked + LEARN_GRID_PERIOD_NS - 2 * GRID_GUARD_NS, "the next instant, not a millisecond later");
}
