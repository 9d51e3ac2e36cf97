/* Every number the library was tuned with, in one place (in the manner of p0f's config.h),
 * each with the reason or the measurement behind it. Wire formats (p0f2.h, p0f3.h) and
 * limits of the configuration language (config.h) are not tunables and live with their code.
 * Times: _NS nanoseconds, _MS milliseconds, _S seconds. */
#ifndef P0FSHIM_TUNABLES_H
#define P0FSHIM_TUNABLES_H

#define NS_PER_MS 1000000ull

/* ---- the engine: connections awaiting a verdict ---------------------------------------- */

/* Connections awaiting a verdict at once; beyond this, connections pass unjudged. */
#define ENGINE_PENDING_MAX 1024
/* Queries sent and not yet answered (a hung p0f); beyond this nothing more is sent. */
#define ENGINE_OUTSTANDING_MAX 4096
/* The worker thread's stack: it keeps its large buffers in static storage. */
#define WORKER_STACK_SIZE (256 * 1024)
/* After pthread_create failed, the next attempt waits this long, doubling up to the maximum. */
#define WORKER_RETRY_FIRST_MS 100
#define WORKER_RETRY_MAX_MS (60 * 1000)
/* While connections are pending, the worker looks this often whether the host still holds
 * each one: a connection the MTA closed must not be kept open by the shim's duplicate. */
#define HOST_CLOSE_CHECK_NS (1 * NS_PER_MS)
/* Host descriptor numbers below this are watched for the host's close() (a bitmap); higher
 * ones are left to the worker's periodic look. */
#define WATCHED_FDS 65536
/* The host's close() tries the engine's lock this often (with a yield between) before it
 * leaves the duplicate to the worker's periodic look: it must never wait long. */
#define CLOSE_LOCK_TRIES 64
/* How long the worker waits for a busy log receiver before it drops a line (and says so). */
#define LOG_WAIT_MS 200

/* ---- asking p0f -------------------------------------------------------------------------- */

/* An idle p0f connection is closed after this long: p0f has no idle timeout of its own
 * and only 20 API slots by default, shared by every process of the MTA. */
#define ENGINE_IDLE_CLOSE_MS 100
/* After p0f refused a connection or dropped one, wait this long before trying again. */
#define RECONNECT_DELAY_MS 10
/* NOMATCH retries: p0f learns a host 1-5 ms after accept on fast links. */
#define ENGINE_RETRY_FIRST_MS 1
#define ENGINE_RETRY_FAST_MS 10   /* retries stay ENGINE_RETRY_FIRST_MS apart this long after accept */
#define ENGINE_RETRY_MAX_MS 50
/* The adaptive delay before a first query ranges up to one p0f capture block. */
#define FIRST_QUERY_DELAY_MAX_NS (5 * NS_PER_MS)
#define FIRST_QUERY_DELAY_MIN_NS (250 * 1000ull)
/* After a predicted learning instant: p0f must still read the block and answer. */
#define GRID_GUARD_NS (200 * 1000ull)
/* A connection established this much longer before accept() than accept() is ago waited in
 * the accept queue (the kernel's clock for it ticks in jiffies: up to 10 ms). */
#define ACCEPT_QUEUE_SLACK_MS 10
/* Wake-up coalescing (async mode). A new connection does not wake the sleeping worker if
 * the worker's own timer ends within COALESCE_NS of the connection's first query time, and
 * while connections arrive less than COALESCE_NS apart the worker sleeps at most that long:
 * under a steady stream it wakes on its own timer and judges every connection that came
 * meanwhile, and accept() never pays for a wake-up (5-10 us on a VM, plus a context switch
 * per connection). The cost is at most COALESCE_NS on a verdict, below p0f's own lag: p0f
 * learns a host 1-5 ms after its SYN. Hold mode always wakes the worker at once. */
#define COALESCE_NS (1 * NS_PER_MS)
/* ... nor while queries are in flight: their replies wake it, in well under a millisecond
 * from a healthy p0f; it sleeps at most this long after the oldest was queued. */
#define REPLY_EXPECTED_NS (1 * NS_PER_MS)
/* Recent p0f answers by host: a client that opens many connections at once (a bulk
 * sender) costs one query per CACHE_FRESH_MS, not one per connection. */
#define CACHE_SLOTS 512
#define CACHE_FRESH_MS 500

/* The learning grid (learngrid.h). Decay: the counts are halved every LEARN_GRID_WINDOW
 * observations, so a phase that drifts (the block timer is re-armed from its last expiry)
 * is followed. */
#define LEARN_GRID_WINDOW 32
/* A prediction needs this many recent observations (decayed weight), ... */
#define LEARN_GRID_MIN_WEIGHT 6
/* ... this share of them (percent) agreeing on the same phases, ... */
#define LEARN_GRID_AGREEMENT_PCT 75
/* ... and those phases narrow enough to say something: at most this many bins. */
#define LEARN_GRID_MAX_CANDIDATES 20

/* ---- the descriptor band (fdband.h) -------------------------------------------------------- */

/* A limit above this counts as this: the band stays in the first few pages of the table. */
#define FDBAND_CEILING 4096
/* Below this limit there is no band worth the name (the host needs every descriptor). */
#define FDBAND_MIN_LIMIT 16
/* The host is "inside the band" once its new descriptor lies more than this above the
 * duplicates the shim holds. */
#define FDBAND_SLACK 16

/* ---- accept() in hold mode ----------------------------------------------------------------- */

/* After a refusal on a non-blocking listener another connection is taken only if it is
 * already queued, and never more than this many refusals in one call (refused clients may keep
 * arriving; the caller has other listeners, signals and timers to see to). A blocking
 * listener's call ends with its first refusal. */
#define REFUSALS_PER_CALL_MAX 16

/* A refused early talker's bytes are read away before the close (up to this many reads of
 * this many bytes: an SMTP client that talks first sends a few commands), so that the close is
 * a FIN and not a reset. */
#define REFUSAL_DRAIN_READS 8
#define REFUSAL_DRAIN_CHUNK 2048

/* ---- logging ------------------------------------------------------------------------------- */

/* At most one diagnostic per period per category; the next one says how many were held back. */
#define RATE_LIMIT_PERIOD_S 60

/* ---- matching ------------------------------------------------------------------------------ */

/* The shortest subject a genre can be is tiny, but an admin's pattern can still
 * backtrack badly: bound the work so one regex cannot stall the worker. */
#define REGEX_MATCH_LIMIT 100000

/* ---- the greylist store (greylist.h) ------------------------------------------------------- */

/* The map only reserves address space and the file grows as pages are written, so
 * this costs nothing up front; at ~170 bytes a host (half-full pages included) it
 * holds some 400 000. */
#define GREYLIST_MAP_SIZE ((size_t)64 << 20)
/* LMDB's writer lock has no timeout: a check that sees no other process's write complete for
 * GREYLIST_WRITER_STALL_MS (a healthy write is one sync, well under it: the holder is stopped,
 * by SIGSTOP, a debugger or a frozen cgroup, or its disk hung), or that has waited
 * GREYLIST_WRITER_WAIT_MAX_MS behind writers that do complete, fails open. */
#define GREYLIST_WRITER_STALL_MS 1000
#define GREYLIST_WRITER_WAIT_MAX_MS 5000
/* A store-wide counter (not per process: a Postfix smtpd handles max_use connections
 * and exits) starts a sweep every SWEEP_EVERY checks, which looks at SWEEP_BATCH
 * entries from where the last one stopped. Two entries looked at per check, against at
 * most one created, so expired entries are removed faster than they can pile up. */
#define SWEEP_EVERY 100
#define SWEEP_BATCH 200
/* One sender controls a whole IPv6 /64: keyed by /128, it could create a record per
 * address (2^64 of them) until the map is full, and greylisting would then fail open for
 * everyone. So a /64 holds at most this many records of hosts that never passed; a new
 * one evicts the network's least recently seen. 256 gives a /64 the room an IPv4 /24 has
 * by nature (its 256 addresses), so a large sender's pool in one /64 (a cluster whose
 * retries may come from other hosts of it) is treated no worse than the same pool in IPv4,
 * and bounds one network to ~43 KiB of the store. IPv4 needs no cap: there a sender holds
 * at most the addresses it really has. The scan that counts a network's records stops
 * after NETWORK_SCAN_LIMIT of them (passed ones included), so a check never walks far. */
#define GREYLIST_NETWORK_CAP 256
#define NETWORK_SCAN_LIMIT (4 * GREYLIST_NETWORK_CAP)
/* A map full of live records, expired ones purged, loses this share (percent) of its
 * never-passed records, least recently seen first: new hosts then churn instead of
 * passing ungreylisted. Ages are sorted into EVICT_BUCKETS slices of the window. */
#define EVICT_PERCENT 10
#define EVICT_BUCKETS 256

/* ---- the SYN source (synsource.c) ---- */
/* Listener numbers below this are looked at once before their first accept() (a bitmap);
 * the inherited ones are found at load in /proc/PID/fd or, without /proc, by probing every
 * number below it (or the process's descriptor limit, if lower). */
#define SYN_ARM_FDS 4096
/* Room for a saved SYN: 60 bytes for IPv4 and 80 for IPv6 without IP options; IP options
 * add up to 40, IPv6 extension headers more. */
#define SYN_SAVED_MAX 1024
/* A line sent from inside accept() tries the log writer's lock this many times (yielding
 * between tries) before it counts the line as dropped rather than wait. */
#define SEND_NOW_LOCK_TRIES 8

/* ---- Redis stores (redis_link.c) ---- */
/* After a failed connection or a dropped one, the next attempt waits this long, doubling up to
 * the maximum: a Redis host that is down and silent would otherwise cost every connection the
 * whole store_timeout_ms. 200 ms lets a restarted server back in quickly; 10 s bounds how long
 * a recovered one stays unused. */
#define REDIS_RETRY_FIRST_MS 200
#define REDIS_RETRY_MAX_MS (10 * 1000)
/* Room for one round trip's replies (AUTH, SELECT and a script's array of integers are far
 * smaller); a larger reply is no store of ours. */
#define REDIS_READ_MAX 4096
/* Fleet karma is counted in this many slices of karma_window (karma.h): a hit ages out within
 * 1/24 of the window of its exact time (an hour of a day), and a client's record holds at most
 * this many counters however many hits it gets. */
#define KARMA_SLICES 24

/* ---- memory written on every connection (hotmem.c) ---- */
/* The region's size: the log writer (~4.5 KiB) and the regexes' shared match data with PCRE2's
 * backtracking frames (20 KiB; more if a match needs more: then they move to the heap); address
 * space only until touched. A forked child that uses the library copies what is used, once. */
#define HOTMEM_SIZE (128 * 1024)
#define HOTMEM_OBJECT_MAX (32 * 1024)
/* Owners with something to redo in a child's copy: the log writer, the regexes' matcher. */
#define HOTMEM_HOOKS 4
/* The page a forked child finds zeroed (hotmem.h): the region's state and the alternate
 * stack's (altstack.h). */
#define HOTMEM_LOCAL_PAGE 4096
/* The shared stack of altstack.h: the verdict inside accept() needs ~10 KiB (a store's client,
 * a host's signal handler run meanwhile, more); address space only until touched. */
#define ALTSTACK_SIZE (256 * 1024)
#endif
