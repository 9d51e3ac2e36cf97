/* Opening the greylist store (greylist.h) as root without being tricked into writing
 * someone else's file, and closing it without touching descriptors that are no longer
 * its own. The reasoning is in the comment "whose files" below. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "greylist_store.h"
#include "tunables.h"

/* ---- descriptors ---- */

static bool same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

static void track_fd(struct greylist *g, int fd, const struct stat *st)
{
    for (size_t i = 0; i < g->nfds; i++)
        if (g->fds[i].fd == fd)
            return;
    if (g->nfds == MAX_TRACKED_FDS)
        return;
    g->fds[g->nfds].fd = fd;
    g->fds[g->nfds].dev = st->st_dev;
    g->fds[g->nfds].ino = st->st_ino;
    g->nfds++;
}

/* LMDB 0.9.24 opens lock.mdb and its O_DSYNC handle on data.mdb with O_CLOEXEC but not
 * its main handle on data.mdb, and the API only hands out that one. So find every
 * descriptor on the two files greylist_open vetted (they were opened just now, before
 * any chroot, so /proc is there; otherwise probe the descriptor table), except
 * greylist_open's own on data.mdb, make each close-on-exec, and remember what it
 * points to: greylist_check then notices a daemon that closed or reused them
 * (closefrom() when daemonising) instead of writing pages into whatever file now has
 * that number. Counts the descriptors found on each file. */
static void find_lmdb_fds(struct greylist *g, size_t *on_data, size_t *on_lock)
{
    struct stat st;
    int fd;

    *on_data = *on_lock = 0;
    if (mdb_env_get_fd(g->env, &fd) != 0 || fstat(fd, &st) != 0 || !same_file(&st, &g->data_st))
        return;
    track_fd(g, fd, &st);       /* first: the truncation check reads the main handle's size */
    DIR *d = opendir("/proc/self/fd");
    long max = sysconf(_SC_OPEN_MAX);
    if (max < 0 || max > 65536)
        max = 65536;
    for (long i = 0;; i++) {
        long n = i;
        if (d) {
            struct dirent *de = readdir(d);
            char *end;
            if (de == NULL)
                break;
            n = strtol(de->d_name, &end, 10);
            if (*end != '\0' || end == de->d_name || n < 0 || n == dirfd(d))
                continue;
        } else if (i >= max) {
            break;
        }
        if ((int)n == g->data_fd || fstat((int)n, &st) != 0)
            continue;
        if (same_file(&st, &g->data_st))
            (*on_data)++;
        else if (same_file(&st, &g->lock_st))
            (*on_lock)++;
        else
            continue;
        track_fd(g, (int)n, &st);
    }
    if (d)
        closedir(d);
    for (size_t i = 0; i < g->nfds; i++) {
        int flags = fcntl(g->fds[i].fd, F_GETFD);
        if (flags >= 0 && !(flags & FD_CLOEXEC))
            fcntl(g->fds[i].fd, F_SETFD, flags | FD_CLOEXEC);
    }
}

/* ---- whose files: the store's directory and its two files ---- */

/* The store is opened in the library's constructor, as root, in a daemon that drops
 * privileges later; the directory belongs to the daemon's user. Whoever owns the
 * directory can plant a symbolic link or a hard link as data.mdb or lock.mdb, and
 * LMDB opens both with O_CREAT, following links, and writes a header into them: as
 * root, that would rewrite any file on the system. So before LMDB sees the directory:
 *   - the directory is opened without following a link, and must not be writable by
 *     group or others (anyone who can write it can plant links);
 *   - it must belong to root or to the process's user; a process running as root
 *     accepts any owner, and then every open of the store's files (ours and LMDB's)
 *     runs with the owner's filesystem identity (fsuid, fsgid, no supplementary
 *     groups), so that a link planted by the owner reaches nothing the owner could
 *     not write anyway, and the files created belong to the owner, not to root;
 *   - each file is opened (created) by us without following a link, and must be a
 *     regular file with one name, owned by the directory's owner, not writable by
 *     others;
 *   - after mdb_env_open, LMDB's descriptors must be on those very files: otherwise
 *     a link was swapped in between, and the store is closed again.
 * The fsuid switch is per thread (the raw system calls below, not glibc's setgroups,
 * which changes every thread), so the daemon's other threads keep their identity. */

/* 32-bit x86 and ARM have separate calls for 32-bit ids; the plain ones elsewhere. */
#ifdef SYS_setfsuid32
#define NR_SETFSUID SYS_setfsuid32
#define NR_SETFSGID SYS_setfsgid32
#define NR_SETGROUPS SYS_setgroups32
#else
#define NR_SETFSUID SYS_setfsuid
#define NR_SETFSGID SYS_setfsgid
#define NR_SETGROUPS SYS_setgroups
#endif

static long set_fsuid(uid_t uid) { return syscall(NR_SETFSUID, uid); }
static long set_fsgid(gid_t gid) { return syscall(NR_SETFSGID, gid); }
static long set_thread_groups(size_t n, const gid_t *groups) { return syscall(NR_SETGROUPS, n, groups); }

/* Puts back the thread's filesystem identity; 0, or -1 when the kernel refused. */
static int restore_identity(struct fs_identity *id)
{
    int rc = 0;
    if (!id->switched)
        return 0;
    id->switched = false;
    set_fsuid(id->saved_uid);
    if ((uid_t)set_fsuid((uid_t)-1) != id->saved_uid)
        rc = -1;
    set_fsgid(id->saved_gid);
    if ((gid_t)set_fsgid((gid_t)-1) != id->saved_gid)
        rc = -1;
    if (set_thread_groups((size_t)id->ngroups, id->groups) != 0)
        rc = -1;
    free(id->groups);
    id->groups = NULL;
    return rc;
}

/* Makes this thread's file accesses those of uid/gid with no supplementary groups;
 * 0, or -1 with why. setfsuid says nothing on failure but the previous value, so
 * each switch is read back. */
static int become_owner(struct fs_identity *id, uid_t uid, gid_t gid, char *why, size_t size)
{
    int n = getgroups(0, NULL);
    memset(id, 0, sizeof(*id));
    id->groups = n > 0 ? malloc((size_t)n * sizeof(gid_t)) : NULL;
    if (n < 0 || (n > 0 && id->groups == NULL) || (n > 0 && (n = getgroups(n, id->groups)) < 0)) {
        free(id->groups);
        id->groups = NULL;
        snprintf(why, size, "cannot read the process's groups");
        return -1;
    }
    id->ngroups = n;
    id->saved_uid = (uid_t)set_fsuid((uid_t)-1);
    id->saved_gid = (gid_t)set_fsgid((gid_t)-1);
    id->switched = true;
    if (set_thread_groups(0, NULL) != 0) {
        snprintf(why, size, "cannot drop supplementary groups: %s", strerror(errno));
        restore_identity(id);
        return -1;
    }
    set_fsgid(gid);
    set_fsuid(uid);
    if ((gid_t)set_fsgid((gid_t)-1) != gid || (uid_t)set_fsuid((uid_t)-1) != uid) {
        snprintf(why, size, "cannot take the file identity of uid %u gid %u", (unsigned)uid, (unsigned)gid);
        restore_identity(id);
        return -1;
    }
    return 0;
}

/* Opens the directory without following a link and says whether it may hold the
 * store: the descriptor, or -1 with why. */
static int open_store_dir(const char *dir, struct stat *st, char *why, size_t size)
{
    uid_t euid = geteuid();
    if (lstat(dir, st) == 0 && S_ISLNK(st->st_mode)) {
        snprintf(why, size, "is a symbolic link: refusing (give the directory's real path)");
        return -1;
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (e == ENOTDIR)
            snprintf(why, size, "not a directory");
        else if (e == ELOOP)
            snprintf(why, size, "is a symbolic link: refusing (give the directory's real path)");
        else
            snprintf(why, size, "%s%s", strerror(e),
                     e == ENOENT ? " (create it, owned by the daemon's user, mode 0700)" : "");
        return -1;
    }
    if (fstat(fd, st) != 0 || !S_ISDIR(st->st_mode)) {
        snprintf(why, size, "not a directory");
        close(fd);
        return -1;
    }
    if (st->st_mode & (S_IWGRP | S_IWOTH)) {
        snprintf(why, size, "writable by %s (mode %04o): refusing (chmod go-w %.120s)",
                 st->st_mode & S_IWOTH ? "others" : "its group", (unsigned)(st->st_mode & 07777), dir);
        close(fd);
        return -1;
    }
    if (euid != 0 && st->st_uid != 0 && st->st_uid != euid) {
        snprintf(why, size, "owned by uid %u, neither root nor this process's user (uid %u): refusing",
                 (unsigned)st->st_uid, (unsigned)euid);
        close(fd);
        return -1;
    }
    return fd;
}

/* Opens (creating) one of the store's files without following a link and says
 * whether LMDB may use it: the descriptor, or -1 with why. */
static int open_store_file(int dir_fd, const char *name, const struct stat *dir_st, struct stat *st, char *why,
                           size_t size)
{
    int fd = openat(dir_fd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC, 0600);
    if (fd < 0) {
        int e = errno;
        if (e == ELOOP)
            snprintf(why, size, "%s is a symbolic link: refusing (remove it)", name);
        else
            snprintf(why, size, "%s: %s%s", name, strerror(e),
                     e == EACCES || e == EPERM
                         ? " (the directory and its files must be writable by the directory's owner)"
                         : "");
        return -1;
    }
    const char *bad = NULL;
    if (fstat(fd, st) != 0)
        bad = "cannot be examined";
    else if (!S_ISREG(st->st_mode))
        bad = "is not a regular file";
    else if (st->st_nlink != 1)
        bad = "has more than one name (a hard link)";
    /* Not even root's in another user's directory: that user may have moved a file of
     * root's in (from any directory it can write), and LMDB would write into it. */
    else if (st->st_uid != dir_st->st_uid)
        bad = "is not owned by the directory's owner";
    else if (st->st_mode & S_IWOTH)
        bad = "is writable by others";
    /* Group write matters only where the group can reach the file. */
    else if ((st->st_mode & S_IWGRP) && (dir_st->st_mode & (S_IXGRP | S_IXOTH)))
        bad = "is writable by its group";
    if (bad) {
        snprintf(why, size, "%s %s: refusing", name, bad);
        close(fd);
        return -1;
    }
    return fd;
}

/* Vets the directory's two files as its owner (see above) and leaves the thread in
 * that identity for mdb_env_open; 0, or -1 with why (identity restored by the
 * caller, finish_opening). */
static int vet_store_files(struct greylist *g, char *why, size_t size)
{
    uid_t euid = geteuid();

    if (euid == 0 && g->dir_st.st_uid != 0) {
        if (become_owner(&g->as_owner, g->dir_st.st_uid, g->dir_st.st_gid, why, size) != 0)
            return -1;
    }
    int fd = open_store_file(g->dir_fd, "lock.mdb", &g->dir_st, &g->lock_st, why, size);
    if (fd < 0)
        return -1;
    /* Not held open: POSIX locks belong to the process and the file, so closing this
     * descriptor after LMDB locked lock.mdb would drop LMDB's locks. */
    close(fd);
    g->data_fd = open_store_file(g->dir_fd, "data.mdb", &g->dir_st, &g->data_st, why, size);
    return g->data_fd < 0 ? -1 : 0;
}

/* Ends what greylist_open set up for the opening, whatever its outcome: the
 * identity, the directory and the vetted data file; -1 when the identity could not
 * be put back. */
static int finish_opening(struct greylist *g)
{
    int rc = restore_identity(&g->as_owner);
    if (g->dir_fd >= 0)
        close(g->dir_fd);
    if (g->data_fd >= 0)
        close(g->data_fd);
    g->dir_fd = g->data_fd = -1;
    return rc;
}

/* ---- API ---- */

static int open_failed(struct greylist *g, struct diag *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int open_failed(struct greylist *g, struct diag *err, const char *fmt, ...)
{
    va_list ap;
    char reason[sizeof(err->reason)];
    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    diag_set(err, NULL, 0, "%s", reason);
    if (g) {
        finish_opening(g);
        mdb_env_close(g->env);
        free(g);
    }
    return -1;
}

static const char *open_hint(int rc)
{
    switch (rc) {
    case EACCES:
    case EPERM:
    case EROFS:
        return " (the directory and its files must be writable by the daemon's user)";
    case MDB_INVALID:
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
        return " (a damaged store: remove data.mdb and lock.mdb to start afresh)";
    case MDB_VERSION_MISMATCH:
        return " (written by another LMDB version)";
    default:
        return "";
    }
}

/* ---- the walk at open ---- */

/* LMDB trusts its pages: a damaged one (a page number past the end of the file, a
 * node offset past the end of the page) is a SIGBUS or SIGSEGV, not an error code, and
 * in an MTA that would be a crash on every greylisted connection. So greylist_open
 * reads every page once, under fault handlers installed for just that long: damage
 * that is there when the daemon starts fails the open instead. (Damage that appears
 * later, to a store opened sound, is not covered: trapping faults on every check
 * would mean owning the daemon's signal handlers.) */
static __thread sigjmp_buf *fault_jump;
static struct sigaction saved_segv, saved_bus;

static void restore_fault_handlers(void)
{
    sigaction(SIGSEGV, &saved_segv, NULL);
    sigaction(SIGBUS, &saved_bus, NULL);
}

static void on_fault(int sig)
{
    if (fault_jump)
        siglongjmp(*fault_jump, sig);
    /* Another thread's fault: put the daemon's handlers back, and returning lets the
     * faulting instruction run again under them. */
    restore_fault_handlers();
}

static int walk_dbi(struct greylist *g, MDB_txn *txn, MDB_dbi dbi)
{
    MDB_val k, v;
    int rc = mdb_cursor_open(txn, dbi, &g->walk);
    if (rc != 0)
        return rc;
    for (rc = mdb_cursor_get(g->walk, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(g->walk, &k, &v, MDB_NEXT))
        ;
    mdb_cursor_close(g->walk);
    g->walk = NULL;
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* The free list (dbi 0, read by every commit), the main database, and ours. */
static int walk_all(struct greylist *g)
{
    static const char *const names[] = {"hosts", "meta"};
    MDB_txn *txn;
    MDB_dbi dbi;
    int rc = txn_begin(g, MDB_RDONLY, &txn);
    if (rc != 0)
        return rc;
    rc = walk_dbi(g, txn, 0);
    if (rc == 0)
        rc = mdb_dbi_open(txn, NULL, 0, &dbi);
    if (rc == 0)
        rc = walk_dbi(g, txn, dbi);
    for (size_t i = 0; rc == 0 && i < sizeof(names) / sizeof(names[0]); i++) {
        rc = mdb_dbi_open(txn, names[i], 0, &dbi);
        if (rc == 0)
            rc = walk_dbi(g, txn, dbi);
        else if (rc == MDB_NOTFOUND)
            rc = 0;     /* a new store */
    }
    txn_abort(g);
    return rc;
}

/* 0, an LMDB code, or -1 with why filled (a fault or an LMDB assertion). */
static int verify_pages(struct greylist *g, char *why, size_t size)
{
    sigjmp_buf jump;
    sigjmp_buf *outer = assert_jump;
    struct sigaction sa;
    int rc, sig;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_fault;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &saved_segv);
    sigaction(SIGBUS, &sa, &saved_bus);
    sig = sigsetjmp(jump, 1);
    if (sig == 0) {
        fault_jump = &jump;
        assert_jump = &jump;
        rc = walk_all(g);
    } else {
        rc = -1;
        snprintf(why, size, "%s", sig == 1 ? assert_text : strsignal(sig));
    }
    fault_jump = NULL;
    assert_jump = outer;
    restore_fault_handlers();
    if (rc == -1) {
        if (g->txn)
            txn_abort(g);
        if (g->walk)
            mdb_cursor_close(g->walk);      /* read-only cursors may outlive their txn */
        g->walk = NULL;
    }
    return rc;
}

/* The LMDB part of greylist_open, once g->env exists; the caller guards it against
 * LMDB's assertions. */
static int open_env(struct greylist *g, struct diag *err)
{
    const char *dir = g->s.dir;
    struct stat st;
    MDB_txn *txn;
    MDB_envinfo info;
    MDB_stat mst;
    int rc, dead;

    /* NOTLS: the transactions are not tied to the opening thread (the shim's worker
     * runs them) and read slots are released at each abort. NOMETASYNC: one sync per
     * commit instead of two; a system crash may lose the last commit but never
     * breaks the store. */
    /* Through the vetted directory's descriptor where /proc allows: LMDB then opens the
     * files in the directory checked above, whatever happened to its path since, and
     * the owner's identity needs no search permission on the directories above it. */
    char via_fd[64];
    const char *env_path = dir;
    snprintf(via_fd, sizeof(via_fd), "/proc/self/fd/%d", g->dir_fd);
    if (stat(via_fd, &st) == 0 && same_file(&st, &g->dir_st))
        env_path = via_fd;
    rc = mdb_env_open(g->env, env_path, MDB_NOTLS | MDB_NOMETASYNC, 0600);
    if (rc != 0)
        return open_failed(g, err, "greylist store %s: cannot open: %s%s", dir, mdb_strerror(rc), open_hint(rc));
    /* LMDB has its descriptors: nothing is opened by name from here on. */
    if (restore_identity(&g->as_owner) != 0)
        return open_failed(g, err, "greylist store %s: cannot restore the process's file identity", dir);
    /* LMDB 0.9 opens data.mdb twice (its main handle and a synchronous one for the
     * meta pages) and lock.mdb once, each by name: each must be a file vetted above. */
    size_t on_data, on_lock;
    find_lmdb_fds(g, &on_data, &on_lock);
    if (on_data < 2 || on_lock < 1)
        return open_failed(g, err,
                           "greylist store %s: data.mdb or lock.mdb was replaced while LMDB opened it: refusing",
                           dir);
    finish_opening(g);

    /* A data file shorter than what the meta page says is in use would make LMDB read
     * past the end of the file, which is SIGBUS, not an error code. */
    if (g->nfds > 0 && mdb_env_info(g->env, &info) == 0 && mdb_env_stat(g->env, &mst) == 0 &&
        fstat(g->fds[0].fd, &st) == 0 && (uint64_t)st.st_size < ((uint64_t)info.me_last_pgno + 1) * mst.ms_psize)
        return open_failed(g, err, "greylist store %s: data.mdb is truncated (%lld bytes, %llu in use)%s", dir,
                           (long long)st.st_size, ((unsigned long long)info.me_last_pgno + 1) * mst.ms_psize,
                           open_hint(MDB_CORRUPTED));

    /* Slots of readers that died mid-transaction would pin old pages forever. */
    mdb_reader_check(g->env, &dead);

    char why[120];
    rc = verify_pages(g, why, sizeof(why));
    if (rc == -1)
        return open_failed(g, err, "greylist store %s: corrupt (%s while reading it)%s", dir, why,
                           open_hint(MDB_CORRUPTED));
    if (rc != 0)
        return open_failed(g, err, "greylist store %s: %s%s", dir, mdb_strerror(rc), open_hint(rc));

    /* A write transaction, in the daemon's start: never behind a stopped writer (greylist.c). */
    if (!greylist_gate_enter(g, why, sizeof(why)))
        return open_failed(g, err, "greylist store %s: %s", dir, why);
    rc = txn_begin(g, 0, &txn);
    if (rc == 0)
        rc = mdb_dbi_open(txn, "hosts", MDB_CREATE, &g->hosts);
    if (rc == 0)
        rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &g->meta);
    if (rc == 0)
        rc = txn_commit(g);
    else if (g->txn)
        txn_abort(g);
    greylist_gate_leave(g);
    if (rc != 0)
        return open_failed(g, err, "greylist store %s: %s%s", dir, mdb_strerror(rc), open_hint(rc));
    return 0;
}

int greylist_open(struct greylist **out, const struct greylist_settings *s, struct diag *err)
{
    struct greylist *g;
    struct stat st;
    sigjmp_buf jump;
    char why[200];
    int rc;

    *out = NULL;
    if (s->store.set)
        return greylist_redis_open(out, s, err);
    if (s->dir[0] == '\0')
        return open_failed(NULL, err, "greylist store: no directory configured");
    if (s->v4_prefix < 1 || s->v4_prefix > 32 || s->v6_prefix < 1 || s->v6_prefix > 128)
        return open_failed(NULL, err, "greylist store %s: prefixes /%u and /%u: IPv4 takes 1-32, IPv6 1-128", s->dir,
                           s->v4_prefix, s->v6_prefix);
    if (s->window_s < s->delay_s)
        return open_failed(NULL, err,
                           "greylist store %s: the window (%u s) is shorter than the delay (%u s): no retry could pass",
                           s->dir, s->window_s, s->delay_s);
    int dir_fd = open_store_dir(s->dir, &st, why, sizeof(why));
    if (dir_fd < 0)
        return open_failed(NULL, err, "greylist store %s: %s", s->dir, why);

    g = calloc(1, sizeof(*g));
    if (g == NULL) {
        close(dir_fd);
        return open_failed(NULL, err, "greylist store %s: out of memory", s->dir);
    }
    g->s = *s;
    g->pid = getpid();
    g->dir_fd = dir_fd;
    g->dir_st = st;
    g->data_fd = -1;
    if (lmdb_load(why, sizeof(why)) != 0) {
        finish_opening(g);
        free(g);
        return open_failed(NULL, err, "greylist store %s: %s", s->dir, why);
    }
    rc = mdb_env_create(&g->env);
    if (rc != 0) {
        finish_opening(g);
        free(g);
        return open_failed(NULL, err, "greylist store %s: %s", s->dir, mdb_strerror(rc));
    }
    mdb_env_set_assert(g->env, on_lmdb_assert);
    rc = mdb_env_set_maxdbs(g->env, 2);
    if (rc == 0)
        rc = mdb_env_set_mapsize(g->env, greylist_test_map_size ? greylist_test_map_size : GREYLIST_MAP_SIZE);
    if (rc != 0)
        return open_failed(g, err, "greylist store %s: %s", s->dir, mdb_strerror(rc));
    if (vet_store_files(g, why, sizeof(why)) != 0)
        return open_failed(g, err, "greylist store %s: %s", s->dir, why);

    if (sigsetjmp(jump, 0) != 0) {
        assert_jump = NULL;
        if (g->txn)
            txn_abort(g);
        return open_failed(g, err, "greylist store %s: corrupt (LMDB: %s)%s", s->dir, assert_text,
                           open_hint(MDB_CORRUPTED));
    }
    assert_jump = &jump;
    rc = open_env(g, err);      /* frees g on failure */
    assert_jump = NULL;
    if (rc == 0)
        *out = g;
    return rc;
}

bool greylist_survives_fork(const struct greylist *g)
{
    return g->redis != NULL;
}

void greylist_close(struct greylist *g)
{
    if (g == NULL)
        return;
    if (g->redis) {   /* the link is shared by the process's stores and lives as long as it */
        free(g);
        return;
    }
    bool ours = getpid() == g->pid && !g->broken;
    for (size_t i = 0; ours && i < g->nfds; i++)
        if (!owned_fd_still(&g->fds[i]))
            ours = false;
    if (ours) {
        mdb_env_close(g->env);
    } else if (getpid() != g->pid) {
        /* A forked child: mdb_env_close would clear the parent's reader slots (LMDB
         * knows readers by the opener's pid). Only drop the child's copies of the
         * descriptors; the parent's fcntl locks are not the child's to release. The
         * mappings and the env's memory are left behind, deliberately. */
        for (size_t i = 0; i < g->nfds; i++)
            if (owned_fd_still(&g->fds[i]))
                close(g->fds[i].fd);
    }
    /* Otherwise the numbers belong to someone else now: leave them and leak env. */
    free(g);
}
