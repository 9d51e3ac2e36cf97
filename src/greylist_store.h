/* Inside the greylist store (greylist.h): what its two halves share. greylist.c keeps the
 * records (check, peek, sweep, eviction); greylist_open.c opens the store safely as root
 * (whose files, which descriptors) and closes it. */
#ifndef P0FSHIM_GREYLIST_STORE_H
#define P0FSHIM_GREYLIST_STORE_H

#include "lmdb_load.h"
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "fdident.h"
#include "greylist.h"

/* LMDB opens data.mdb twice and lock.mdb once; a little room for surprises. */
#define MAX_TRACKED_FDS 6

/* The filesystem identity the store's files are opened with (see greylist_open). */
struct fs_identity {
    bool switched;                      /* the thread runs as the directory's owner */
    uid_t saved_uid;                    /* the thread's fsuid and fsgid before */
    gid_t saved_gid;
    int ngroups;                        /* its supplementary groups, put aside */
    gid_t *groups;
};

/* The record of one masked address (the LMDB store's value; the Redis store keeps the same
 * fields in a hash). Native byte order: the LMDB store is local to one machine. */
#define RECORD_VERSION 1
#define RECORD_PASSED 0x01   /* flags: the host passed; good_until is meaningful */

struct record {
    uint8_t version;
    uint8_t flags;
    uint8_t reserved[2];
    uint32_t attempts;       /* in the current series, saturating */
    int64_t first_seen;      /* start of the current series */
    int64_t last_seen;
    int64_t passed_at;       /* with RECORD_PASSED */
    int64_t good_until;      /* with RECORD_PASSED */
    uint32_t checks;         /* every check recorded since the record was created, saturating */
    uint32_t passes;         /* of which PASSED or GOOD, saturating */
};
_Static_assert(sizeof(struct record) == 48, "struct record must have no padding");

struct redis_link;

struct greylist {
    struct redis_link *redis;           /* a Redis store (greylist_redis.c): none of the rest is used */
    MDB_env *env;
    MDB_dbi hosts, meta;
    struct greylist_settings s;
    pid_t pid;                          /* the opener: the only process that may use env */
    struct owned_fd fds[MAX_TRACKED_FDS];
    size_t nfds;
    bool broken;                        /* the descriptors were taken away: never touch env again */
    MDB_txn *txn;                       /* the transaction in progress, for the assert escape */
    MDB_cursor *walk;                   /* the open-time walk's cursor, for the fault escape */
    char dead[160];                     /* why the store is off for good (LMDB found it corrupt) */
    int64_t no_purge_before;            /* a full store had nothing expired: do not walk it again yet */
    /* Only while greylist_open runs: */
    int dir_fd;                         /* the vetted directory, -1 when closed */
    int data_fd;                        /* the vetted data.mdb, held until LMDB's own are checked */
    struct stat dir_st, data_st, lock_st;
    struct fs_identity as_owner;
};

/* LMDB meets some kinds of damage (a junk page in the tree) with an internal assertion,
 * which prints and calls abort(): that would kill the daemon. Its assert callback runs
 * first, so the callback jumps back to the greylist call in progress on this thread,
 * which aborts the transaction (releasing the writer lock) and turns the store off.
 * Outside a greylist call the pointer is NULL and LMDB's abort() happens as usual. */
extern __thread sigjmp_buf *assert_jump;
extern __thread char assert_text[120];
void on_lmdb_assert(MDB_env *env, const char *msg);

/* Tests shrink the map to reach MDB_MAP_FULL without writing 64 MiB. Not in greylist.h on
 * purpose: it is no knob for callers. 0 = GREYLIST_MAP_SIZE. */
extern size_t greylist_test_map_size;

/* The gate every write transaction takes before LMDB's writer lock (greylist.c): true when
 * taken (or when the kernel has no such locks); false, with why, after waiting too long. */
bool greylist_gate_enter(struct greylist *g, char *why, size_t size);
void greylist_gate_leave(struct greylist *g);

/* Tests: called inside a check's write transaction (the writer lock held), when set. */
extern void (*greylist_test_inside_check)(void);

/* Another process may have grown the map (LMDB adopts the larger size from the file):
 * then begin says MDB_MAP_RESIZED once, and picking up the new size is the remedy. */
int txn_begin(struct greylist *g, unsigned flags, MDB_txn **txn);
void txn_abort(struct greylist *g);
/* Commit frees the transaction whatever it returns. */
int txn_commit(struct greylist *g);

/* Applies one attempt at `now` to the record (absent when !present) and says what it means.
 * Pure: peek runs it on a copy to say what a check would do; the Redis store's script is the
 * same decision in Lua (tests hold the two to the same answers). */
enum greylist_outcome greylist_decide(struct record *r, bool present, int64_t now, const struct greylist_settings *s,
                                      long *waited);
void greylist_fill_result(struct greylist_result *out, enum greylist_outcome outcome, const struct record *r,
                          long waited);

/* The Redis store (greylist_redis.c), behind the same greylist.h functions. */
int greylist_redis_open(struct greylist **out, const struct greylist_settings *s, struct diag *err);
void greylist_redis_check(struct greylist *g, const struct endpoint *peer, time_t now, struct greylist_result *out);
int greylist_redis_peek(struct greylist *g, const struct endpoint *peer, time_t now, struct greylist_result *out);

#endif
