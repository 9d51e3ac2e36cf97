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

struct greylist {
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

/* Another process may have grown the map (LMDB adopts the larger size from the file):
 * then begin says MDB_MAP_RESIZED once, and picking up the new size is the remedy. */
int txn_begin(struct greylist *g, unsigned flags, MDB_txn **txn);
void txn_abort(struct greylist *g);
/* Commit frees the transaction whatever it returns. */
int txn_commit(struct greylist *g);

#endif
