/* learn_grid: inferring the phase of p0f's capture blocks from its answers. The engine is
 * simulated: a host's SYN at t, p0f learns it at the first instant of the true grid after
 * t, the engine asks at the predicted instant + 200 us (or 4.5 ms after the SYN without a
 * prediction), retries after a NOMATCH at the instant predicted from that query's time
 * (without a prediction: 1 ms later), and observes (last NOMATCH or SYN, OK]. */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "learngrid.h"

#define MS 1000000ull
#define US 1000ull
#define P LEARN_GRID_PERIOD_NS
#define GUARD (200 * US)

static uint64_t lcg(uint64_t *state)
{
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    return *state >> 33;
}

/* The first instant of the grid with this phase later than t. */
static uint64_t grid_next(uint64_t phase, uint64_t t)
{
    uint64_t offset = t % P;
    return t + (phase > offset ? phase - offset : P - (offset - phase));
}

struct outcome {
    unsigned queries;
    uint64_t late;   /* from p0f learning the host to the OK */
};

static struct outcome serve_host(struct learn_grid *g, uint64_t phase, uint64_t syn)
{
    uint64_t learned = grid_next(phase, syn), at, after = syn;
    bool on_grid = learn_grid_predict(g, syn, &at);
    uint64_t ask = on_grid ? at + GUARD : syn + 4500 * US;
    struct outcome o = {1, 0};
    while (ask < learned) {   /* NOMATCH */
        after = ask;
        ask = on_grid && learn_grid_predict(g, ask, &at) ? at + GUARD : ask + 1 * MS;
        o.queries++;
    }
    learn_grid_observe(g, after, ask + 30 * US);
    o.late = ask - learned;
    return o;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Hosts every 7-12 ms from a grid of this phase; after a warm-up of 50 hosts, the next 400:
 * queries per host and the median time from p0f's learning to the OK. */
static void run(uint64_t phase, uint64_t seed, double *queries, uint64_t *median_late)
{
    static uint64_t late[400];
    struct learn_grid g = {0};
    uint64_t state = seed, t = 1000 * P;
    unsigned total = 0;
    for (int i = 0; i < 450; i++) {
        t += 7 * MS + lcg(&state) % P;
        struct outcome o = serve_host(&g, phase, t);
        if (i >= 50) {
            total += o.queries;
            late[i - 50] = o.late;
        }
    }
    qsort(late, 400, sizeof(late[0]), cmp_u64);
    *queries = total / 400.0;
    *median_late = late[200];
}

Test(learngrid, no_prediction_without_observations)
{
    struct learn_grid g = {0};
    uint64_t at;
    cr_assert_not(learn_grid_predict(&g, 1000 * P, &at));
    for (int i = 0; i < LEARN_GRID_MIN_WEIGHT - 1; i++)
        learn_grid_observe(&g, 1000 * P + 1 * MS, 1000 * P + 2 * MS);
    cr_assert_not(learn_grid_predict(&g, 1000 * P, &at), "fewer than the minimum observations");
    learn_grid_observe(&g, 1000 * P + 1 * MS, 1000 * P + 2 * MS);
    cr_assert(learn_grid_predict(&g, 2000 * P, &at), "enough agreeing observations");
}

Test(learngrid, intervals_as_long_as_the_period_say_nothing)
{
    struct learn_grid g = {0};
    uint64_t at;
    for (int i = 0; i < 50; i++)
        learn_grid_observe(&g, 1000 * P + i * US, 1000 * P + i * US + P);
    cr_assert_eq(g.weight, 0);
    cr_assert_not(learn_grid_predict(&g, 1000 * P, &at));
}

/* Ten answers that all say "between 2.0 and 2.3 ms into the period". */
Test(learngrid, predicts_the_next_candidate_instant)
{
    struct learn_grid g = {0};
    uint64_t at;
    for (int i = 0; i < 10; i++)
        learn_grid_observe(&g, (1000 + 3 * i) * P + 2 * MS + 1, (1000 + 3 * i) * P + 2 * MS + 250 * US);
    cr_assert(learn_grid_predict(&g, 2000 * P + 500 * US, &at));
    cr_assert_eq(at, 2000 * P + 2 * MS, "the start of the first agreed bin after the SYN");
    cr_assert(learn_grid_predict(&g, 2000 * P + 3 * MS, &at));
    cr_assert_eq(at, 2001 * P + 2 * MS, "past it: the next period's");
    cr_assert(learn_grid_predict(&g, 2000 * P + 2 * MS + 150 * US, &at));
    cr_assert_eq(at, 2000 * P + 2 * MS + 300 * US, "inside it: when the run is past (bins 2.0-2.3 ms)");
}

/* Consistent answers never predict later than p0f learns a host whose SYN came before the
 * candidates: the true phase is always one of them, and the prediction is the first. */
Test(learngrid, never_later_than_p0f)
{
    for (uint64_t phase = 0; phase < P; phase += 370 * US) {
        struct learn_grid g = {0};
        uint64_t state = phase + 1, t = 1000 * P, at;
        for (int i = 0; i < 300; i++) {
            t += 7 * MS + lcg(&state) % P;
            bool inside = (g.candidates >> (t / (P / LEARN_GRID_BINS) % LEARN_GRID_BINS)) & 1;
            if (learn_grid_predict(&g, t, &at) && !inside)
                cr_assert_leq(at, grid_next(phase, t), "phase %llu host %d", (unsigned long long)phase, i);
            serve_host(&g, phase, t);
        }
    }
}

/* The point of it: about one query per host, and the OK within a few hundred us of p0f
 * learning the host (without the grid: 4.5 ms after the SYN, about 2 ms late on average). */
Test(learngrid, one_query_and_prompt)
{
    double sum = 0;
    unsigned phases = 0;
    for (uint64_t phase = 100 * US; phase < P; phase += 700 * US) {
        double queries;
        uint64_t median_late;
        run(phase, phase, &queries, &median_late);
        cr_assert_leq(queries, 1.25, "phase %llu: %.3f queries per host", (unsigned long long)phase, queries);
        cr_assert_leq(median_late, GUARD + 150 * US, "phase %llu: median %llu ns late", (unsigned long long)phase,
                      (unsigned long long)median_late);
        sum += queries;
        phases++;
    }
    /* The misses are what narrows the estimate (a NOMATCH just before the instant): about
     * one host in seven pays a second query. */
    cr_assert_leq(sum / phases, 1.15, "%.3f queries per host", sum / phases);
}

/* The phase moves (a re-armed timer drifts): the predictions follow within a few windows. */
Test(learngrid, follows_a_phase_that_moves)
{
    struct learn_grid g = {0};
    uint64_t state = 3, t = 100 * P;
    for (int i = 0; i < 200; i++) {
        t += 9 * MS + lcg(&state) % P;
        serve_host(&g, 2 * MS, t);
    }
    unsigned queries = 0, hosts = 0;
    for (int i = 0; i < 400; i++) {
        t += 9 * MS + lcg(&state) % P;
        struct outcome o = serve_host(&g, 3 * MS + 500 * US, t);
        if (i >= 8 * LEARN_GRID_WINDOW) {
            queries += o.queries;
            hosts++;
            cr_assert_leq(o.late, 1 * MS, "host %d: %llu ns late", i, (unsigned long long)o.late);
        }
    }
    cr_assert_leq(queries, hosts * 1.15, "%u queries for %u hosts", queries, hosts);
}

/* No grid (a busy link: blocks retire when full, at any time): no prediction. */
Test(learngrid, no_grid_no_prediction)
{
    struct learn_grid g = {0};
    uint64_t state = 99, t = 100 * P, at;
    unsigned predicted = 0;
    for (int i = 0; i < 400; i++) {
        t += 3 * MS + lcg(&state) % P;
        uint64_t lag = 200 * US + lcg(&state) % (2 * MS);
        learn_grid_observe(&g, t + lag - 1 * MS, t + lag + 30 * US);
        predicted += learn_grid_predict(&g, t, &at);
    }
    cr_assert_lt(predicted, 20, "%u of 400 rounds predicted a phase that is not there", predicted);
}
