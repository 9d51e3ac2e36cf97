/* Greylisting state in LMDB (see greylist.h); opening it is greylist_open.c's. One environment directory holds two
 * named databases: "hosts" (one fixed-size record per masked address) and "meta" (the
 * housekeeping counter and where the last sweep stopped). Every check is one write
 * transaction, so the read-decide-write of a host cannot interleave with another
 * process's; LMDB serialises writers with a robust process-shared mutex in lock.mdb. */
#include "greylist.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include "lmdb_load.h"
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "greylist_store.h"
#include "tunables.h"

/* Key: address family tag (4 or 6), the prefix length, then the masked address
 * (IPv4 in the first 4 bytes, the rest zero). The prefix is part of the key so that
 * changing greylist_v4_prefix does not reinterpret old records: they just expire. */
#define KEY_SIZE 18


#define META_VERSION 1
static const char meta_key[] = "sweep";

struct meta {
    uint8_t version;
    uint8_t has_resume;      /* resume_key is where the last sweep stopped */
    uint8_t reserved[2];
    uint32_t counter;        /* checks since the store was created, wrapping */
    uint8_t resume_key[KEY_SIZE];
    uint8_t reserved2[2];
};
_Static_assert(sizeof(struct meta) == 28, "struct meta must have no padding");

size_t greylist_test_map_size;
void (*greylist_test_inside_check)(void);

__thread sigjmp_buf *assert_jump;
__thread char assert_text[120];

void on_lmdb_assert(MDB_env *env, const char *msg)
{
    (void)env;
    if (assert_jump == NULL)
        return;
    snprintf(assert_text, sizeof(assert_text), "%s", msg);
    siglongjmp(*assert_jump, 1);
}


static void set_error(struct greylist_result *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void set_error(struct greylist_result *out, const char *fmt, ...)
{
    va_list ap;
    out->outcome = GREYLIST_FAILED;
    va_start(ap, fmt);
    vsnprintf(out->error, sizeof(out->error), fmt, ap);
    va_end(ap);
}

static void lmdb_error(struct greylist_result *out, const char *what, int rc)
{
    set_error(out, "greylist store: %s: %s", what, mdb_strerror(rc));
}

static int64_t add_seconds(int64_t t, unsigned s)
{
    return t > INT64_MAX - (int64_t)s ? INT64_MAX : t + (int64_t)s;
}

static uint32_t bump(uint32_t n)
{
    return n == UINT32_MAX ? n : n + 1;
}

static int make_key(const struct greylist *g, const struct endpoint *peer, uint8_t key[KEY_SIZE])
{
    unsigned bytes, prefix;
    memset(key, 0, KEY_SIZE);
    if (peer->family == AF_INET) {
        key[0] = 4;
        bytes = 4;
        prefix = g->s.v4_prefix;
    } else if (peer->family == AF_INET6) {
        key[0] = 6;
        bytes = 16;
        prefix = g->s.v6_prefix;
    } else {
        return -1;
    }
    key[1] = (uint8_t)prefix;
    for (unsigned i = 0; i < bytes; i++) {
        unsigned bits = prefix > i * 8 ? prefix - i * 8 : 0;
        uint8_t mask = bits >= 8 ? 0xff : (uint8_t)(0xff << (8 - bits));
        key[2 + i] = peer->ip[i] & mask;
    }
    return 0;
}

/* Whether a record says nothing any more: a check would start a new series. A series
 * that started "in the future" by more than the window means the clock was set back. */
static bool record_stale(const struct record *r, int64_t now, const struct greylist_settings *s)
{
    if (r->flags & RECORD_PASSED)
        return r->good_until <= now;
    int64_t age = now - r->first_seen;
    return age > (int64_t)s->window_s || age < -(int64_t)s->window_s;
}

/* Applies one attempt at `now` to the record (absent when !present) and says what it
 * means. Pure: greylist_peek runs it on a copy to say what a check would do. */
enum greylist_outcome greylist_decide(struct record *r, bool present, int64_t now, const struct greylist_settings *s,
                                      long *waited)
{
    *waited = 0;
    if (present && (r->flags & RECORD_PASSED) && r->good_until > now) {
        /* As postgrey: every pass pushes the expiry out, so regular senders stay good. */
        r->good_until = add_seconds(now, s->expire_s);
        r->last_seen = now;
        r->attempts = bump(r->attempts);
        r->checks = bump(r->checks);
        r->passes = bump(r->passes);
        *waited = (long)(r->passed_at - r->first_seen);
        return GREYLIST_GOOD;
    }
    if (!present || record_stale(r, now, s)) {
        uint32_t checks = present ? r->checks : 0, passes = present ? r->passes : 0;
        memset(r, 0, sizeof(*r));
        r->version = RECORD_VERSION;
        r->first_seen = now;
        r->last_seen = now;
        r->attempts = 1;
        r->checks = bump(checks);
        r->passes = passes;
        return GREYLIST_FIRST;
    }
    int64_t age = now - r->first_seen;
    r->last_seen = now;
    r->attempts = bump(r->attempts);
    r->checks = bump(r->checks);
    if (age < (int64_t)s->delay_s)
        return GREYLIST_EARLY;
    r->flags |= RECORD_PASSED;
    r->passed_at = now;
    r->good_until = add_seconds(now, s->expire_s);
    r->passes = bump(r->passes);
    *waited = (long)age;
    return GREYLIST_PASSED;
}

void greylist_fill_result(struct greylist_result *out, enum greylist_outcome outcome, const struct record *r,
                        long waited)
{
    out->outcome = outcome;
    out->first_seen = (time_t)r->first_seen;
    out->waited_s = waited;
    out->good_until = (r->flags & RECORD_PASSED) ? (time_t)r->good_until : 0;
    out->attempts = r->attempts;
    out->checks = r->checks;
    out->passes = r->passes;
}

/* A record that is not ours (another size or version, e.g. from a newer p0fshim) is
 * reported, never reinterpreted or overwritten. */
static int read_record(const MDB_val *v, struct record *r, struct greylist_result *out)
{
    if (v->mv_size != sizeof(*r)) {
        set_error(out, "greylist store: corrupt record (%zu bytes, expected %zu)", v->mv_size, sizeof(*r));
        return -1;
    }
    memcpy(r, v->mv_data, sizeof(*r));
    if (r->version != RECORD_VERSION) {
        set_error(out, "greylist store: record version %u, this p0fshim reads version %u", r->version,
                  RECORD_VERSION);
        return -1;
    }
    return 0;
}

int txn_begin(struct greylist *g, unsigned flags, MDB_txn **txn)
{
    int rc = mdb_txn_begin(g->env, NULL, flags, txn);
    if (rc == MDB_MAP_RESIZED) {
        rc = mdb_env_set_mapsize(g->env, 0);
        if (rc == 0)
            rc = mdb_txn_begin(g->env, NULL, flags, txn);
    }
    g->txn = rc == 0 ? *txn : NULL;
    return rc;
}

void txn_abort(struct greylist *g)
{
    MDB_txn *txn = g->txn;
    g->txn = NULL;
    mdb_txn_abort(txn);
}

int txn_commit(struct greylist *g)
{
    MDB_txn *txn = g->txn;
    g->txn = NULL;
    return mdb_txn_commit(txn);
}

/* After an LMDB assertion: give back the transaction (and with it the writer lock,
 * which other processes wait for) and never touch the environment again. */
static void after_assert(struct greylist *g, struct greylist_result *out)
{
    assert_jump = NULL;
    if (g->txn)
        txn_abort(g);
    snprintf(g->dead, sizeof(g->dead), "greylist store: corrupt (LMDB: %.100s); off until it is removed",
             assert_text);
    set_error(out, "%s", g->dead);
}

/* Deletes expired entries, looking at no more than `limit` of them, starting after
 * the key where the previous sweep stopped so that a big store is covered in turns.
 * Records it does not understand are left alone. */
static int sweep(struct greylist *g, MDB_txn *txn, int64_t now, struct meta *m, size_t limit, size_t *deleted)
{
    MDB_cursor *cur;
    MDB_val k, v;
    size_t seen = 0;
    int rc = mdb_cursor_open(txn, g->hosts, &cur);
    if (rc != 0)
        return rc;
    if (m->has_resume) {
        k.mv_size = KEY_SIZE;
        k.mv_data = m->resume_key;
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        if (rc == 0 && k.mv_size == KEY_SIZE && memcmp(k.mv_data, m->resume_key, KEY_SIZE) == 0)
            rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    } else {
        rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    }
    while (rc == 0 && seen < limit) {
        struct record r;
        seen++;
        if (k.mv_size == KEY_SIZE) {
            memcpy(m->resume_key, k.mv_data, KEY_SIZE);
            m->has_resume = 1;
        }
        if (k.mv_size == KEY_SIZE && v.mv_size == sizeof(r)) {
            memcpy(&r, v.mv_data, sizeof(r));
            if (r.version == RECORD_VERSION && record_stale(&r, now, &g->s)) {
                rc = mdb_cursor_del(cur, 0);
                if (rc != 0)
                    break;
                (*deleted)++;
            }
        }
        /* After a delete the cursor already stands on the next entry; MDB_NEXT knows. */
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(cur);
    if (rc == MDB_NOTFOUND) {
        m->has_resume = 0;      /* reached the end: the next sweep starts over */
        rc = 0;
    }
    return rc;
}

static void read_meta(MDB_txn *txn, MDB_dbi dbi, struct meta *m)
{
    MDB_val k = {sizeof(meta_key) - 1, (void *)meta_key}, v;
    memset(m, 0, sizeof(*m));
    if (mdb_get(txn, dbi, &k, &v) == 0 && v.mv_size == sizeof(*m)) {
        memcpy(m, v.mv_data, sizeof(*m));
        if (m->version == META_VERSION)
            return;
    }
    /* Housekeeping only: anything unreadable just starts over. */
    memset(m, 0, sizeof(*m));
    m->version = META_VERSION;
}

static int write_meta(MDB_txn *txn, MDB_dbi dbi, const struct meta *m)
{
    MDB_val k = {sizeof(meta_key) - 1, (void *)meta_key}, v = {sizeof(*m), (void *)m};
    return mdb_put(txn, dbi, &k, &v, 0);
}

/* How many leading key bytes name the network a record counts against (family tag,
 * prefix, then /24 or /64 of the address); 0 when a record is a network already. */
static size_t network_key_bytes(const uint8_t key[KEY_SIZE])
{
    if (key[0] == 6 && key[1] > 64)
        return 2 + 8;
    return 0;
}

static bool unconfirmed(const MDB_val *k, const MDB_val *v, struct record *r)
{
    if (k->mv_size != KEY_SIZE || v->mv_size != sizeof(*r))
        return false;
    memcpy(r, v->mv_data, sizeof(*r));
    return r->version == RECORD_VERSION && !(r->flags & RECORD_PASSED);
}

/* Before a new key is stored: keys sort by network, so the network's records are one
 * run from its first possible key. Counts its never-passed records and, at the cap,
 * deletes the least recently seen of them. */
static int cap_network(struct greylist *g, MDB_txn *txn, const uint8_t key[KEY_SIZE])
{
    size_t net = network_key_bytes(key);
    uint8_t start[KEY_SIZE] = {0}, oldest_key[KEY_SIZE];
    int64_t oldest_seen = INT64_MAX;
    unsigned count = 0, looked = 0;
    MDB_cursor *cur;
    MDB_val k = {KEY_SIZE, start}, v;
    struct record r;

    if (net == 0)
        return 0;
    memcpy(start, key, net);
    int rc = mdb_cursor_open(txn, g->hosts, &cur);
    if (rc != 0)
        return rc;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
         rc == 0 && count < GREYLIST_NETWORK_CAP && looked < NETWORK_SCAN_LIMIT;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != KEY_SIZE || memcmp(k.mv_data, start, net) != 0)
            break;
        looked++;
        if (!unconfirmed(&k, &v, &r))
            continue;
        count++;
        if (r.last_seen < oldest_seen) {
            oldest_seen = r.last_seen;
            memcpy(oldest_key, k.mv_data, KEY_SIZE);
        }
    }
    mdb_cursor_close(cur);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return rc;
    if (count < GREYLIST_NETWORK_CAP)
        return 0;
    k.mv_size = KEY_SIZE;
    k.mv_data = oldest_key;
    return mdb_del(txn, g->hosts, &k, NULL);
}

/* One check, all in one write transaction. Returns an LMDB code with *what naming the
 * step; a bad record is reported in out and returns 0 with out->outcome FAILED. */
static int check_txn(struct greylist *g, const uint8_t key[KEY_SIZE], int64_t now, struct greylist_result *out,
                     const char **what)
{
    MDB_txn *txn;
    MDB_val k = {KEY_SIZE, (void *)key}, v;
    struct record r;
    struct meta m;
    long waited;
    bool present;
    int rc;

    *what = "begin";
    rc = txn_begin(g, 0, &txn);
    if (rc != 0)
        return rc;
    if (greylist_test_inside_check)
        greylist_test_inside_check();
    *what = "get";
    rc = mdb_get(txn, g->hosts, &k, &v);
    if (rc != 0 && rc != MDB_NOTFOUND)
        goto abort;
    present = rc == 0;
    if (present && read_record(&v, &r, out) != 0) {
        txn_abort(g);
        return 0;
    }
    if (!present) {
        *what = "network cap";
        rc = cap_network(g, txn, key);
        if (rc != 0)
            goto abort;
    }
    enum greylist_outcome outcome = greylist_decide(&r, present, now, &g->s, &waited);
    *what = "put";
    v.mv_size = sizeof(r);
    v.mv_data = &r;
    rc = mdb_put(txn, g->hosts, &k, &v, 0);
    if (rc != 0)
        goto abort;

    read_meta(txn, g->meta, &m);
    m.counter++;
    if (m.counter % SWEEP_EVERY == 0) {
        size_t deleted = 0;
        *what = "sweep";
        rc = sweep(g, txn, now, &m, SWEEP_BATCH, &deleted);
        if (rc != 0)
            goto abort;
    }
    *what = "put";
    rc = write_meta(txn, g->meta, &m);
    if (rc != 0)
        goto abort;
    *what = "commit";
    rc = txn_commit(g);
    if (rc != 0)
        return rc;
    greylist_fill_result(out, outcome, &r, waited);
    return 0;
abort:
    txn_abort(g);
    return rc;
}

/* The last resort when the map is full: forget every expired entry at once. */
static int purge_all(struct greylist *g, int64_t now, size_t *deleted)
{
    MDB_txn *txn;
    struct meta m = {.version = META_VERSION};
    int rc = txn_begin(g, 0, &txn);
    if (rc != 0)
        return rc;
    rc = sweep(g, txn, now, &m, SIZE_MAX, deleted);
    if (rc != 0) {
        txn_abort(g);
        return rc;
    }
    return txn_commit(g);
}

static unsigned age_bucket(const struct record *r, int64_t now, const struct greylist_settings *s)
{
    int64_t since = r->last_seen - (now - (int64_t)s->window_s);
    if (since <= 0)
        return 0;
    if (since >= (int64_t)s->window_s)
        return EVICT_BUCKETS - 1;
    return (unsigned)(since * EVICT_BUCKETS / ((int64_t)s->window_s + 1));
}

/* When purging freed nothing: deletes the least recently seen EVICT_PERCENT of the
 * records that never passed, all networks together. Passed records stay. One walk
 * sorts them into age slices, a second deletes the oldest slices (and of the slice
 * where the share ends, its first records in key order). */
static int evict_unconfirmed(struct greylist *g, int64_t now, size_t *deleted)
{
    uint32_t slices[EVICT_BUCKETS] = {0};
    size_t total = 0, target, before = 0, take_last;
    unsigned cut;
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_val k, v;
    struct record r;
    int rc = txn_begin(g, 0, &txn);
    if (rc != 0)
        return rc;
    rc = mdb_cursor_open(txn, g->hosts, &cur);
    if (rc != 0)
        goto abort;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
        if (unconfirmed(&k, &v, &r)) {
            slices[age_bucket(&r, now, &g->s)]++;
            total++;
        }
    if (rc != MDB_NOTFOUND || total == 0) {
        mdb_cursor_close(cur);
        if (rc == MDB_NOTFOUND)
            rc = 0;
        goto abort;
    }
    target = total * EVICT_PERCENT / 100;
    if (target == 0)
        target = 1;
    for (cut = 0; cut < EVICT_BUCKETS - 1 && before + slices[cut] < target; cut++)
        before += slices[cut];
    take_last = target - before;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (!unconfirmed(&k, &v, &r))
            continue;
        unsigned b = age_bucket(&r, now, &g->s);
        if (b > cut || (b == cut && take_last == 0))
            continue;
        if (b == cut)
            take_last--;
        rc = mdb_cursor_del(cur, 0);
        if (rc != 0)
            break;
        (*deleted)++;
    }
    mdb_cursor_close(cur);
    if (rc != 0 && rc != MDB_NOTFOUND)
        goto abort;
    return txn_commit(g);
abort:
    txn_abort(g);
    return rc;
}

/* Whether env may be used from here, now; says why not in out. */
static bool usable(struct greylist *g, struct greylist_result *out)
{
    if (g == NULL) {
        set_error(out, "greylist store: not open");
        return false;
    }
    if (getpid() != g->pid) {
        set_error(out, "greylist store: used in a forked child; LMDB allows only the process that opened it");
        return false;
    }
    if (g->dead[0]) {
        set_error(out, "%s", g->dead);
        return false;
    }
    if (!g->broken)
        for (size_t i = 0; i < g->nfds; i++)
            if (!owned_fd_still(&g->fds[i])) {
                g->broken = true;
                break;
            }
    if (g->broken) {
        set_error(out, "greylist store: its file descriptors were closed or replaced by the process; "
                       "off until restart");
        return false;
    }
    return true;
}

static void check_guarded(struct greylist *g, const uint8_t key[KEY_SIZE], int64_t now, struct greylist_result *out)
{
    const char *what;
    size_t deleted = 0;
    int rc = check_txn(g, key, now, out, &what);
    if (rc == MDB_MAP_FULL && now < g->no_purge_before) {
        set_error(out, "greylist store: full of unexpired entries (%s)", mdb_strerror(rc));
        return;
    }
    if (rc == MDB_MAP_FULL) {
        int purge = purge_all(g, now, &deleted);
        if (purge != 0) {
            lmdb_error(out, "full, and purging expired entries failed", purge);
            return;
        }
        if (deleted == 0) {
            purge = evict_unconfirmed(g, now, &deleted);
            if (purge != 0) {
                lmdb_error(out, "full, and evicting hosts that never passed failed", purge);
                return;
            }
        }
        /* A walk of the whole store holds the writer lock: after one that found
         * nothing, let a minute pass before the next. */
        if (deleted == 0)
            g->no_purge_before = now + 60;
        rc = check_txn(g, key, now, out, &what);
        /* Records deleted here and there free room in pages but seldom whole pages,
         * and a new key may need one: evict further shares until it fits. */
        for (int round = 0; rc == MDB_MAP_FULL && deleted > 0 && round < 100 / EVICT_PERCENT; round++) {
            deleted = 0;
            int evict = evict_unconfirmed(g, now, &deleted);
            if (evict != 0) {
                lmdb_error(out, "full, and evicting hosts that never passed failed", evict);
                return;
            }
            rc = check_txn(g, key, now, out, &what);
        }
        if (rc == MDB_MAP_FULL) {
            set_error(out, "greylist store: full of hosts that passed, even after purging expired entries (%s)",
                      mdb_strerror(rc));
            return;
        }
    }
    if (rc != 0)
        lmdb_error(out, what, rc);
}

/* LMDB's writer lock has no timeout, and a check runs inside the host's accept(): another
 * process of the MTA stopped (SIGSTOP, a debugger, a frozen cgroup) or stuck syncing to a hung
 * disk while it holds that lock would hold every accept() of every process for as long. So
 * every write transaction first takes this gate, a lock of the open file description on a byte
 * of data.mdb past any data (the map is 64 MiB; within a 32-bit off_t), polling it: a wait that
 * sees no other write complete for GREYLIST_WRITER_STALL_MS, or that lasts
 * GREYLIST_WRITER_WAIT_MAX_MS, gives up and the check fails open. Each process opened the store
 * itself (a forked child never uses its parent's), so the gate excludes the other processes;
 * the threads of one are E.greylist_lock's. A kernel without such locks (before 3.15) leaves
 * LMDB's lock alone in charge. */
#define GATE_OFFSET ((off_t)0x7ffffff0)

static bool gate_lock(struct greylist *g, short type)
{
    int fd;
    struct flock l = {.l_type = type, .l_whence = SEEK_SET, .l_start = GATE_OFFSET, .l_len = 1};
    return mdb_env_get_fd(g->env, &fd) != 0 || fcntl(fd, F_OFD_SETLK, &l) == 0 || (errno != EAGAIN && errno != EACCES);
}

static int64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The id of the last write committed by anyone: it moves while the writers make progress. */
static size_t last_write(struct greylist *g)
{
    MDB_envinfo info;
    return mdb_env_info(g->env, &info) == 0 ? info.me_last_txnid : 0;
}

bool greylist_gate_enter(struct greylist *g, char *why, size_t size)
{
    int64_t now = monotonic_ms(), stalled_at = now + GREYLIST_WRITER_STALL_MS, give_up = now + GREYLIST_WRITER_WAIT_MAX_MS;
    size_t seen = last_write(g);
    while (!gate_lock(g, F_WRLCK)) {
        now = monotonic_ms();
        size_t latest = last_write(g);
        if (latest != seen) {   /* a write completed: the holders are alive */
            seen = latest;
            stalled_at = now + GREYLIST_WRITER_STALL_MS;
        }
        if (now >= stalled_at) {
            snprintf(why, size, "another process has held it for %d ms without finishing a write (stopped, or its disk hung?)",
                     GREYLIST_WRITER_STALL_MS);
            return false;
        }
        if (now >= give_up) {
            snprintf(why, size, "waited %d ms behind other processes' writes", GREYLIST_WRITER_WAIT_MAX_MS);
            return false;
        }
        /* Cancellation is held off on every path that gets here (a check inside accept(), the
         * worker, the tool's single thread). */
        struct timespec ms = {0, 1000000};
        clock_nanosleep(CLOCK_MONOTONIC, 0, &ms, NULL);
    }
    return true;
}

void greylist_gate_leave(struct greylist *g)
{
    (void)gate_lock(g, F_UNLCK);
}

void greylist_check(struct greylist *g, const struct endpoint *peer, time_t now, struct greylist_result *out)
{
    uint8_t key[KEY_SIZE];
    sigjmp_buf jump;

    if (g->redis) {
        greylist_redis_check(g, peer, now, out);
        return;
    }
    memset(out, 0, sizeof(*out));
    if (!usable(g, out))
        return;
    if (make_key(g, peer, key) != 0) {
        set_error(out, "greylist store: address family %d is neither IPv4 nor IPv6", peer->family);
        return;
    }
    char why[sizeof(out->error) - 20];
    if (!greylist_gate_enter(g, why, sizeof(why))) {
        set_error(out, "greylist store: %s", why);
        return;
    }
    if (sigsetjmp(jump, 0) != 0) {
        after_assert(g, out);
        greylist_gate_leave(g);
        return;
    }
    assert_jump = &jump;
    check_guarded(g, key, (int64_t)now, out);
    assert_jump = NULL;
    greylist_gate_leave(g);
}

/* Fills out from the stored record; 0, or -1 with out saying why there is none. */
static int peek_guarded(struct greylist *g, const uint8_t key[KEY_SIZE], int64_t now, struct greylist_result *out)
{
    MDB_txn *txn;
    MDB_val k = {KEY_SIZE, (void *)key}, v;
    struct record stored, r;
    long waited;
    int rc = txn_begin(g, MDB_RDONLY, &txn);
    if (rc != 0) {
        lmdb_error(out, "begin", rc);
        return -1;
    }
    rc = mdb_get(txn, g->hosts, &k, &v);
    if (rc != 0) {
        txn_abort(g);
        if (rc != MDB_NOTFOUND)
            lmdb_error(out, "get", rc);
        return -1;
    }
    /* Copied out before the abort: v points into the map, valid only inside the txn. */
    rc = read_record(&v, &stored, out);
    txn_abort(g);
    if (rc != 0)
        return -1;
    r = stored;
    enum greylist_outcome outcome = greylist_decide(&r, true, now, &g->s, &waited);
    greylist_fill_result(out, outcome, &stored, waited);
    return 0;
}

int greylist_peek(struct greylist *g, const struct endpoint *peer, time_t now, struct greylist_result *out)
{
    uint8_t key[KEY_SIZE];
    sigjmp_buf jump;
    int rc;

    if (g->redis)
        return greylist_redis_peek(g, peer, now, out);
    memset(out, 0, sizeof(*out));
    out->outcome = GREYLIST_FIRST;
    if (!usable(g, out))
        return -1;
    if (make_key(g, peer, key) != 0) {
        set_error(out, "greylist store: address family %d is neither IPv4 nor IPv6", peer->family);
        return -1;
    }
    if (sigsetjmp(jump, 0) != 0) {
        after_assert(g, out);
        return -1;
    }
    assert_jump = &jump;
    rc = peek_guarded(g, key, (int64_t)now, out);
    assert_jump = NULL;
    return rc;
}
