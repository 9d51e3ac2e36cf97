/* LMDB, loaded only by a process that opens a greylist store. Linked into the library, liblmdb
 * (and the libpthread it needs) would be mapped into every process the library is preloaded
 * into, and every fork of a fork-per-connection server copies and every child's exit unmaps
 * their mappings: 10 more of them, 6-10% of such a server's connections/s. So greylist_open()
 * loads it (before any chroot: it runs in the constructor) and the store's code calls LMDB
 * through lmdb_fn, under LMDB's own names (the macros below). */
#ifndef P0FSHIM_LMDB_LOAD_H
#define P0FSHIM_LMDB_LOAD_H

#include <lmdb.h>
#include <stddef.h>

struct lmdb_functions {
    int (*env_create)(MDB_env **env);
    int (*env_open)(MDB_env *env, const char *path, unsigned int flags, mdb_mode_t mode);
    void (*env_close)(MDB_env *env);
    int (*env_set_mapsize)(MDB_env *env, size_t size);
    int (*env_set_maxdbs)(MDB_env *env, MDB_dbi dbs);
    int (*env_set_assert)(MDB_env *env, MDB_assert_func *func);
    int (*env_stat)(MDB_env *env, MDB_stat *stat);
    int (*env_info)(MDB_env *env, MDB_envinfo *stat);
    int (*env_get_fd)(MDB_env *env, mdb_filehandle_t *fd);
    int (*reader_check)(MDB_env *env, int *dead);
    int (*txn_begin)(MDB_env *env, MDB_txn *parent, unsigned int flags, MDB_txn **txn);
    int (*txn_commit)(MDB_txn *txn);
    void (*txn_abort)(MDB_txn *txn);
    int (*dbi_open)(MDB_txn *txn, const char *name, unsigned int flags, MDB_dbi *dbi);
    int (*get)(MDB_txn *txn, MDB_dbi dbi, MDB_val *key, MDB_val *data);
    int (*put)(MDB_txn *txn, MDB_dbi dbi, MDB_val *key, MDB_val *data, unsigned int flags);
    int (*del)(MDB_txn *txn, MDB_dbi dbi, MDB_val *key, MDB_val *data);
    int (*cursor_open)(MDB_txn *txn, MDB_dbi dbi, MDB_cursor **cursor);
    void (*cursor_close)(MDB_cursor *cursor);
    int (*cursor_get)(MDB_cursor *cursor, MDB_val *key, MDB_val *data, MDB_cursor_op op);
    int (*cursor_del)(MDB_cursor *cursor, unsigned int flags);
    char *(*strerror)(int err);
};

extern struct lmdb_functions lmdb_fn;

/* Loads liblmdb once (later calls return at once). 0; or -1 with why. Not thread-safe: called
 * where the store is opened (the constructor, the tool). */
int lmdb_load(char *why, size_t why_size);

#define mdb_env_create (*lmdb_fn.env_create)
#define mdb_env_open (*lmdb_fn.env_open)
#define mdb_env_close (*lmdb_fn.env_close)
#define mdb_env_set_mapsize (*lmdb_fn.env_set_mapsize)
#define mdb_env_set_maxdbs (*lmdb_fn.env_set_maxdbs)
#define mdb_env_set_assert (*lmdb_fn.env_set_assert)
#define mdb_env_stat (*lmdb_fn.env_stat)
#define mdb_env_info (*lmdb_fn.env_info)
#define mdb_env_get_fd (*lmdb_fn.env_get_fd)
#define mdb_reader_check (*lmdb_fn.reader_check)
#define mdb_txn_begin (*lmdb_fn.txn_begin)
#define mdb_txn_commit (*lmdb_fn.txn_commit)
#define mdb_txn_abort (*lmdb_fn.txn_abort)
#define mdb_dbi_open (*lmdb_fn.dbi_open)
#define mdb_get (*lmdb_fn.get)
#define mdb_put (*lmdb_fn.put)
#define mdb_del (*lmdb_fn.del)
#define mdb_cursor_open (*lmdb_fn.cursor_open)
#define mdb_cursor_close (*lmdb_fn.cursor_close)
#define mdb_cursor_get (*lmdb_fn.cursor_get)
#define mdb_cursor_del (*lmdb_fn.cursor_del)
#define mdb_strerror (*lmdb_fn.strerror)

#endif
