#include "learngrid.h"

#define BIN_NS (LEARN_GRID_PERIOD_NS / LEARN_GRID_BINS)

_Static_assert(LEARN_GRID_BINS <= 64, "candidates is a 64-bit mask");

static uint64_t agreed_candidates(const struct learn_grid *g)
{
    uint32_t best = 0;
    uint64_t mask = 0;
    unsigned n = 0;

    for (unsigned i = 0; i < LEARN_GRID_BINS; i++)
        if (g->count[i] > best)
            best = g->count[i];
    if (g->weight < 2 * LEARN_GRID_MIN_WEIGHT || (uint64_t)best * 100 < (uint64_t)g->weight * LEARN_GRID_AGREEMENT_PCT)
        return 0;
    for (unsigned i = 0; i < LEARN_GRID_BINS; i++)
        if (g->count[i] == best) {
            mask |= 1ull << i;
            n++;
        }
    return n <= LEARN_GRID_MAX_CANDIDATES ? mask : 0;
}

void learn_grid_observe(struct learn_grid *g, uint64_t after_ns, uint64_t by_ns)
{
    if (by_ns <= after_ns || by_ns - after_ns >= LEARN_GRID_PERIOD_NS)
        return;
    /* Every bin that the interval touches, once (it may end in the bin it began in, a
     * period later): the true phase's bin always gets its count, and no bin more than it. */
    uint64_t first = after_ns / BIN_NS, last = by_ns / BIN_NS;
    if (last - first >= LEARN_GRID_BINS)
        last = first + LEARN_GRID_BINS - 1;
    for (uint64_t b = first; b <= last; b++)
        g->count[b % LEARN_GRID_BINS] += 2;
    g->weight += 2;
    if (++g->since_decay >= LEARN_GRID_WINDOW) {
        for (unsigned i = 0; i < LEARN_GRID_BINS; i++)
            g->count[i] /= 2;
        g->weight /= 2;
        g->since_decay = 0;
    }
    g->candidates = agreed_candidates(g);
}

static bool candidate(const struct learn_grid *g, uint64_t bin)
{
    return (g->candidates >> (bin % LEARN_GRID_BINS)) & 1;
}

bool learn_grid_predict(const struct learn_grid *g, uint64_t t_ns, uint64_t *at_ns)
{
    if (g->candidates == 0)
        return false;
    uint64_t bin = t_ns / BIN_NS;
    if (candidate(g, bin)) {
        /* Inside a run of candidates: the instant may already be past (the host is then
         * learned a period later), so ask when the whole run is past. */
        uint64_t end = bin;
        while (candidate(g, end + 1) && end - bin < LEARN_GRID_BINS)
            end++;
        *at_ns = (end + 1) * BIN_NS;
        return true;
    }
    for (uint64_t k = 1; k <= LEARN_GRID_BINS; k++)
        if (candidate(g, bin + k)) {
            *at_ns = (bin + k) * BIN_NS;
            return true;
        }
    return false;
}
