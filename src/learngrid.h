/* When p0f learns hosts. p0f 3.09b reads packets through libpcap's TPACKET_V3 ring, which
 * hands them over in blocks the kernel retires on a timer (p0f asks for 5 ms): every host
 * whose SYN fell in a block becomes known at the same instant, and those instants lie on a
 * grid. Knowing the grid's phase, the first query for a connection goes just after the
 * instant p0f learns its host: one query, and the verdict as early as p0f allows.
 *
 * Nothing here is assumed but the period: the phase is inferred from p0f's own answers
 * (a NOMATCH for a query sent at t: the host's instant is later than t; an OK: it is no
 * later than the reply; and it is the first grid instant after the host's SYN). When the
 * answers do not agree on a phase (a busy link fills blocks before their timer, another
 * p0f build), there is no prediction and the caller falls back on its adaptive delay.
 * Pure: no clock, no I/O; times are CLOCK_MONOTONIC nanoseconds from the caller. */
#ifndef P0FSHIM_LEARNGRID_H
#define P0FSHIM_LEARNGRID_H

#include <stdbool.h>
#include <stdint.h>

#include "tunables.h"

#define LEARN_GRID_PERIOD_NS (5 * 1000000ull)
#define LEARN_GRID_BINS 50   /* 100 us each */
/* Its tunables (window, weight, agreement, candidates) are in tunables.h. */

struct learn_grid {
    uint32_t count[LEARN_GRID_BINS];   /* observations (x2, decayed) consistent with each phase bin */
    uint32_t weight;                   /* observations (x2, decayed) that said anything */
    uint32_t since_decay;
    uint64_t candidates;               /* bit per bin: the phases the answers agree on; 0: none */
};

/* One host's instant lies in (after_ns, by_ns]. An interval as long as the period says
 * nothing and is ignored. */
void learn_grid_observe(struct learn_grid *g, uint64_t after_ns, uint64_t by_ns);

/* When to ask p0f about a host whose SYN came (or that was last unknown) at t_ns: the start
 * of the next run of candidate phases (the answers may agree on more than one run; a
 * NOMATCH then rules the early one out), or, when t_ns is inside a run, the run's end.
 * false when the answers do not agree: no prediction. */
bool learn_grid_predict(const struct learn_grid *g, uint64_t t_ns, uint64_t *at_ns);

#endif
