/* greylist: the LMDB store behind greylisting by OS, with a clock the tests set. */
#include <criterion/criterion.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <lmdb.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "greylist.h"

/* In greylist.c, deliberately not in its header: shrinks the LMDB map; runs inside a check's
 * write transaction. */
extern size_t greylist_test_map_size;
extern void (*greylist_test_inside_check)(void);

#define T0 ((time_t)1700000000)
#define DELAY 300u
#define WINDOW 86400u
#define EXPIRE (36u * 86400u)

/* A scratch directory per test, removed after it whether the test passed or not. */
static char scratch[64];
static char store[128];

static void scratch_setup(void)
{
    snprintf(scratch, sizeof(scratch), "/tmp/p0fshim-unit-greylist-XXXXXX");
    cr_assert_not_null(mkdtemp(scratch));
    snprintf(store, sizeof(store), "%s/store", scratch);
    cr_assert_eq(mkdir(store, 0700), 0);
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    remove(path);
    return 0;
}

static void scratch_teardown(void)
{
    nftw(scratch, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(greylist, .init = scratch_setup, .fini = scratch_teardown, .timeout = 60);

static struct greylist_settings settings(void)
{
    struct greylist_settings s;
    memset(&s, 0, sizeof(s));
    snprintf(s.dir, sizeof(s.dir), "%s", store);
    s.delay_s = DELAY;
    s.window_s = WINDOW;
    s.expire_s = EXPIRE;
    s.v4_prefix = 32;
    s.v6_prefix = 128;
    return s;
}

static struct greylist *open_ok(const struct greylist_settings *s)
{
    struct greylist *g = NULL;
    struct diag err;
    memset(&err, 0, sizeof(err));
    cr_assert_eq(greylist_open(&g, s, &err), 0, "greylist_open: %s", err.reason);
    cr_assert_not_null(g);
    return g;
}

static struct greylist *open_default(void)
{
    struct greylist_settings s = settings();
    return open_ok(&s);
}

/* Expects greylist_open to fail with a reason containing `part` (and the directory). */
static void open_fails(const struct greylist_settings *s, const char *part)
{
    struct greylist *g = (struct greylist *)1;
    struct diag err;
    memset(&err, 0, sizeof(err));
    cr_assert_eq(greylist_open(&g, s, &err), -1, "greylist_open accepted %s", s->dir);
    cr_assert_null(g);
    cr_assert_not_null(strstr(err.reason, part), "reason \"%s\" lacks \"%s\"", err.reason, part);
}

static struct endpoint ip(const char *text)
{
    struct endpoint ep;
    cr_assert_eq(endpoint_parse_ip(text, &ep), 0, "%s", text);
    ep.port = 40000;
    return ep;
}

static const char *outcome_name(enum greylist_outcome o)
{
    switch (o) {
    case GREYLIST_FIRST: return "first";
    case GREYLIST_EARLY: return "early";
    case GREYLIST_PASSED: return "passed";
    case GREYLIST_GOOD: return "good";
    case GREYLIST_FAILED: return "failed";
    }
    return "?";
}

static struct greylist_result check(struct greylist *g, const char *addr, time_t now)
{
    struct greylist_result r;
    struct endpoint ep = ip(addr);
    greylist_check(g, &ep, now, &r);
    return r;
}

static void expect(struct greylist *g, const char *addr, time_t now, enum greylist_outcome want)
{
    struct greylist_result r = check(g, addr, now);
    cr_assert_eq(r.outcome, want, "%s at T0%+lld: %s, want %s (%s)", addr, (long long)(now - T0),
                 outcome_name(r.outcome), outcome_name(want), r.error);
}

static int peek(struct greylist *g, const char *addr, time_t now, struct greylist_result *r)
{
    struct endpoint ep = ip(addr);
    return greylist_peek(g, &ep, now, r);
}

/* ---- transitions ---- */

Test(greylist, first_then_early)
{
    struct greylist *g = open_default();
    struct greylist_result r = check(g, "192.0.2.1", T0);
    cr_assert_eq(r.outcome, GREYLIST_FIRST, "%s", r.error);
    cr_assert_eq(r.first_seen, T0);
    cr_assert_eq(r.attempts, 1u);
    cr_assert_eq(r.good_until, 0);
    cr_assert_str_empty(r.error);

    r = check(g, "192.0.2.1", T0 + 10);
    cr_assert_eq(r.outcome, GREYLIST_EARLY);
    cr_assert_eq(r.first_seen, T0, "a retry must not restart the series");
    cr_assert_eq(r.attempts, 2u);

    r = check(g, "192.0.2.1", T0 + DELAY - 1);
    cr_assert_eq(r.outcome, GREYLIST_EARLY);
    cr_assert_eq(r.first_seen, T0);
    cr_assert_eq(r.attempts, 3u);
    cr_assert_eq(r.checks, 3u);
    cr_assert_eq(r.passes, 0u);
    greylist_close(g);
}

Test(greylist, passes_exactly_at_the_delay)
{
    struct greylist *g = open_default();
    expect(g, "192.0.2.1", T0, GREYLIST_FIRST);
    struct greylist_result r = check(g, "192.0.2.1", T0 + DELAY);
    cr_assert_eq(r.outcome, GREYLIST_PASSED, "%s", outcome_name(r.outcome));
    cr_assert_eq(r.waited_s, (long)DELAY);
    cr_assert_eq(r.first_seen, T0);
    cr_assert_eq(r.good_until, T0 + DELAY + EXPIRE);
    cr_assert_eq(r.passes, 1u);
    greylist_close(g);
}

Test(greylist, passes_later_within_the_window)
{
    struct greylist *g = open_default();
    expect(g, "192.0.2.1", T0, GREYLIST_FIRST);
    expect(g, "192.0.2.1", T0 + 60, GREYLIST_EARLY);
    struct greylist_result r = check(g, "192.0.2.1", T0 + 3600);
    cr_assert_eq(r.outcome, GREYLIST_PASSED);
    cr_assert_eq(r.waited_s, 3600);
    cr_assert_eq(r.attempts, 3u);
    greylist_close(g);

    /* The window's last second still counts. */
    g = open_default();
    expect(g, "192.0.2.2", T0, GREYLIST_FIRST);
    r = check(g, "192.0.2.2", T0 + WINDOW);
    cr_assert_eq(r.outcome, GREYLIST_PASSED);
    cr_assert_eq(r.waited_s, (long)WINDOW);
    greylist_close(g);
}

Test(greylist, a_series_older_than_the_window_starts_over)
{
    struct greylist *g = open_default();
    expect(g, "192.0.2.1", T0, GREYLIST_FIRST);
    expect(g, "192.0.2.1", T0 + 10, GREYLIST_EARLY);
    time_t t1 = T0 + WINDOW + 1;
    struct greylist_result r = check(g, "192.0.2.1", t1);
    cr_assert_eq(r.outcome, GREYLIST_FIRST);
    cr_assert_eq(r.first_seen, t1, "the new series starts now");
    cr_assert_eq(r.attempts, 1u);
    cr_assert_eq(r.checks, 3u, "the lifetime count survives a new series");
    expect(g, "192.0.2.1", t1 + DELAY - 1, GREYLIST_EARLY);
    r = check(g, "192.0.2.1", t1 + DELAY);
    cr_assert_eq(r.outcome, GREYLIST_PASSED);
    cr_assert_eq(r.waited_s, (long)DELAY);
    greylist_close(g);
}

Test(greylist, good_after_passing_and_refreshed_on_each_pass)
{
    struct greylist *g = open_default();
    time_t t1 = T0 + DELAY;
    expect(g, "192.0.2.1", T0, GREYLIST_FIRST);
    expect(g, "192.0.2.1", t1, GREYLIST_PASSED);

    struct greylist_result r = check(g, "192.0.2.1", t1 + 1000);
    cr_assert_eq(r.outcome, GREYLIST_GOOD);
    cr_assert_eq(r.good_until, t1 + 1000 + EXPIRE, "a pass pushes the expiry out");
    cr_assert_eq(r.first_seen, T0);
    cr_assert_eq(r.waited_s, (long)DELAY, "GOOD reports the wait it passed with");

    /* Just before the first expiry, then past it: still good thanks to the refresh. */
    r = check(g, "192.0.2.1", t1 + EXPIRE - 1);
    cr_assert_eq(r.outcome, GREYLIST_GOOD);
    cr_assert_eq(r.good_until, t1 + EXPIRE - 1 + EXPIRE);
    r = check(g, "192.0.2.1", t1 + EXPIRE + 10);
    cr_assert_eq(r.outcome, GREYLIST_GOOD);
    cr_assert_eq(r.passes, 4u);
    cr_assert_eq(r.checks, 5u);
    greylist_close(g);
}

Test(greylist, an_expired_good_host_starts_over)
{
    struct greylist *g = open_default();
    time_t t1 = T0 + DELAY;
    expect(g, "192.0.2.1", T0, GREYLIST_FIRST);
    expect(g, "192.0.2.1", t1, GREYLIST_PASSED);
    /* good_until is t1 + EXPIRE: at that second it is over. */
    struct greylist_result r = check(g, "192.0.2.1", t1 + EXPIRE);
    cr_assert_eq(r.outcome, GREYLIST_FIRST, "%s", outcome_name(r.outcome));
    cr_assert_eq(r.first_seen, t1 + EXPIRE);
    cr_assert_eq(r.good_until, 0);
    cr_assert_eq(r.attempts, 1u);
    expect(g, "192.0.2.1", t1 + EXPIRE + 1, GREYLIST_EARLY);
    expect(g, "192.0.2.1", t1 + EXPIRE + DELAY, GREYLIST_PASSED);
    greylist_close(g);
}

Test(greylist, a_clock_set_back_far_restarts_the_series)
{
    struct greylist *g = open_default();
    expect(g, "192.0.2.1", T0, GREYLIST_FIRST);
    expect(g, "192.0.2.1", T0 - 5, GREYLIST_EARLY);   /* a second process a little behind */
    struct greylist_result r = check(g, "192.0.2.1", T0 - WINDOW - 1);
    cr_assert_eq(r.outcome, GREYLIST_FIRST);
    cr_assert_eq(r.first_seen, T0 - WINDOW - 1);
    greylist_close(g);
}

Test(greylist, zero_delay_passes_the_first_retry)
{
    struct greylist_settings s = settings();
    s.delay_s = 0;
    struct greylist *g = open_ok(&s);
    expect(g, "192.0.2.1", T0, GREYLIST_FIRST);
    expect(g, "192.0.2.1", T0, GREYLIST_PASSED);
    expect(g, "192.0.2.1", T0 + 1, GREYLIST_GOOD);
    greylist_close(g);
}

/* ---- keys ---- */

Test(greylist, ipv4_slash24_keys_the_network)
{
    struct greylist_settings s = settings();
    s.v4_prefix = 24;
    struct greylist *g = open_ok(&s);
    expect(g, "192.0.2.1", T0, GREYLIST_FIRST);
    expect(g, "192.0.2.200", T0 + 10, GREYLIST_EARLY);        /* same /24 */
    expect(g, "192.0.3.1", T0 + 20, GREYLIST_FIRST);          /* next /24 */
    expect(g, "192.0.2.77", T0 + DELAY, GREYLIST_PASSED);     /* a sibling retried */
    expect(g, "192.0.2.1", T0 + DELAY + 1, GREYLIST_GOOD);
    greylist_close(g);
}

Test(greylist, ipv4_slash32_keys_the_host)
{
    struct greylist *g = open_default();
    expect(g, "192.0.2.1", T0, GREYLIST_FIRST);
    expect(g, "192.0.2.2", T0 + DELAY, GREYLIST_FIRST);
    expect(g, "192.0.2.1", T0 + DELAY, GREYLIST_PASSED);
    expect(g, "192.0.2.2", T0 + DELAY + 1, GREYLIST_EARLY);
    greylist_close(g);
}

Test(greylist, ipv6_slash64_keys_the_network)
{
    struct greylist_settings s = settings();
    s.v6_prefix = 64;
    struct greylist *g = open_ok(&s);
    expect(g, "2001:db8:1:2::1", T0, GREYLIST_FIRST);
    expect(g, "2001:db8:1:2:ffff:ffff:ffff:fffe", T0 + 10, GREYLIST_EARLY);
    expect(g, "2001:db8:1:3::1", T0 + 20, GREYLIST_FIRST);
    expect(g, "2001:db8:1:2:abcd::9", T0 + DELAY, GREYLIST_PASSED);
    greylist_close(g);
}

Test(greylist, ipv6_slash128_keys_the_host)
{
    struct greylist *g = open_default();
    expect(g, "2001:db8:1:2::1", T0, GREYLIST_FIRST);
    expect(g, "2001:db8:1:2::2", T0 + DELAY, GREYLIST_FIRST);
    expect(g, "2001:db8:1:2::1", T0 + DELAY, GREYLIST_PASSED);
    greylist_close(g);
}

Test(greylist, ipv4_and_ipv6_never_share_a_key)
{
    struct greylist_settings s = settings();
    s.v6_prefix = 32;   /* masks 192.0.2.1 spelled as IPv6 to the same bytes as the IPv4 key */
    struct greylist *g = open_ok(&s);
    expect(g, "192.0.2.1", T0, GREYLIST_FIRST);
    expect(g, "c000:201::", T0 + DELAY, GREYLIST_FIRST);
    expect(g, "c000:201:ffff::1", T0 + DELAY + 1, GREYLIST_EARLY);
    /* The IPv4-mapped form is the IPv4 host (addr.c unmaps it). */
    expect(g, "::ffff:192.0.2.1", T0 + DELAY, GREYLIST_PASSED);
    greylist_close(g);
}

Test(greylist, an_unknown_family_fails_open)
{
    struct greylist *g = open_default();
    struct endpoint ep;
    struct greylist_result r;
    memset(&ep, 0, sizeof(ep));
    ep.family = AF_UNIX;
    greylist_check(g, &ep, T0, &r);
    cr_assert_eq(r.outcome, GREYLIST_FAILED);
    cr_assert_not_null(strstr(r.error, "greylist store"), "%s", r.error);
    greylist_close(g);
}

/* ---- peek, restart ---- */

Test(greylist, peek_does_not_record)
{
    struct greylist *g = open_default();
    struct greylist_result r;

    cr_assert_eq(peek(g, "192.0.2.1", T0, &r), -1);
    cr_assert_eq(r.outcome, GREYLIST_FIRST);
    cr_assert_eq(peek(g, "192.0.2.1", T0, &r), -1, "a peek must not create the host");
    expect(g, "192.0.2.1", T0, GREYLIST_FIRST);

    cr_assert_eq(peek(g, "192.0.2.1", T0 + 10, &r), 0);
    cr_assert_eq(r.outcome, GREYLIST_EARLY);
    cr_assert_eq(r.first_seen, T0);
    cr_assert_eq(r.attempts, 1u);
    cr_assert_eq(r.checks, 1u);

    struct greylist_result c = check(g, "192.0.2.1", T0 + 20);
    cr_assert_eq(c.outcome, GREYLIST_EARLY);
    cr_assert_eq(c.attempts, 2u, "the peeks were not counted");

    /* A peek after the delay says the host would pass, but does not let it pass. */
    cr_assert_eq(peek(g, "192.0.2.1", T0 + DELAY, &r), 0);
    cr_assert_eq(r.outcome, GREYLIST_PASSED);
    cr_assert_eq(r.waited_s, (long)DELAY);
    cr_assert_eq(r.good_until, 0, "the stored record has not passed");
    expect(g, "192.0.2.1", T0 + DELAY, GREYLIST_PASSED);

    cr_assert_eq(peek(g, "192.0.2.1", T0 + DELAY + 5, &r), 0);
    cr_assert_eq(r.outcome, GREYLIST_GOOD);
    cr_assert_eq(r.good_until, T0 + DELAY + EXPIRE, "a peek does not refresh");
    cr_assert_eq(peek(g, "192.0.2.1", T0 + DELAY + EXPIRE, &r), 0);
    cr_assert_eq(r.outcome, GREYLIST_FIRST, "expired: a check would start over");
    greylist_close(g);
}

Test(greylist, state_survives_close_and_reopen)
{
    struct greylist *g = open_default();
    expect(g, "192.0.2.1", T0, GREYLIST_FIRST);
    expect(g, "2001:db8::1", T0, GREYLIST_FIRST);
    greylist_close(g);

    g = open_default();
    expect(g, "192.0.2.1", T0 + DELAY, GREYLIST_PASSED);
    greylist_close(g);

    g = open_default();
    expect(g, "192.0.2.1", T0 + DELAY + 1, GREYLIST_GOOD);
    struct greylist_result r = check(g, "2001:db8::1", T0 + DELAY + 2);
    cr_assert_eq(r.outcome, GREYLIST_PASSED);
    cr_assert_eq(r.waited_s, (long)DELAY + 2);
    greylist_close(g);
}

/* ---- open failures ---- */

Test(greylist, a_missing_directory_fails_at_open)
{
    struct greylist_settings s = settings();
    snprintf(s.dir, sizeof(s.dir), "%s/absent", scratch);
    open_fails(&s, s.dir);
    open_fails(&s, "No such file or directory");
}

Test(greylist, a_file_is_not_a_directory)
{
    struct greylist_settings s = settings();
    snprintf(s.dir, sizeof(s.dir), "%s/file", scratch);
    FILE *f = fopen(s.dir, "w");
    cr_assert_not_null(f);
    fclose(f);
    open_fails(&s, s.dir);
    open_fails(&s, "not a directory");
}

Test(greylist, an_unwritable_directory_fails_at_open)
{
    char dir[160];
    int pipefd[2];
    snprintf(dir, sizeof(dir), "%s/readonly", scratch);
    cr_assert_eq(mkdir(dir, 0555), 0);
    cr_assert_eq(chmod(dir, 0555), 0);
    cr_assert_eq(chmod(scratch, 0755), 0);
    cr_assert_eq(pipe(pipefd), 0);

    /* Root writes anywhere: the attempt runs in a child as nobody. */
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        struct greylist_settings s = settings();
        struct greylist *g = NULL;
        struct diag err;
        memset(&err, 0, sizeof(err));
        snprintf(s.dir, sizeof(s.dir), "%s", dir);
        if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
            _exit(3);
        int rc = greylist_open(&g, &s, &err);
        if (write(pipefd[1], err.reason, strlen(err.reason)) < 0)
            _exit(4);
        _exit(rc == -1 ? 0 : 1);
    }
    close(pipefd[1]);
    char reason[300] = "";
    ssize_t n = read(pipefd[0], reason, sizeof(reason) - 1);
    reason[n > 0 ? n : 0] = '\0';
    close(pipefd[0]);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status), "the child died: status %d", status);
    cr_assert_eq(WEXITSTATUS(status), 0, "greylist_open did not fail (exit %d, reason \"%s\")", WEXITSTATUS(status),
                 reason);
    cr_assert_not_null(strstr(reason, dir), "reason \"%s\" does not name %s", reason, dir);
    cr_assert_not_null(strstr(reason, "Permission denied"), "reason: %s", reason);
    cr_assert_eq(access(dir, F_OK), 0);
    char lock[200];
    snprintf(lock, sizeof(lock), "%s/lock.mdb", dir);
    cr_assert_neq(access(lock, F_OK), 0, "nothing may be left behind");
}

Test(greylist, nonsense_settings_fail_at_open)
{
    struct greylist_settings s = settings();
    s.window_s = s.delay_s - 1;
    open_fails(&s, "shorter than the delay");
    s = settings();
    s.v4_prefix = 0;
    open_fails(&s, "prefixes");
    s = settings();
    s.v6_prefix = 129;
    open_fails(&s, "prefixes");
    s = settings();
    s.dir[0] = '\0';
    open_fails(&s, "no directory");
}

/* ---- whose files ---- */

/* The store is opened as root in a directory its daemon's user owns: a link that user
 * plants as data.mdb or lock.mdb must never lead root's writes elsewhere. */

#define NOBODY 65534u

/* Ownership needs root; CI runs the unit tests as root. */
#define skip_unless_root()                                                                                     \
    do {                                                                                                       \
        if (geteuid() != 0)                                                                                    \
            cr_skip_test("needs root");                                                                        \
    } while (0)

static const char victim_text[] = "a file of root's that the store must never write (67 bytes long)\n";

struct file_state {
    off_t size;
    mode_t mode;
    uid_t uid;
    char text[128];
};

static void victim_path(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", scratch, name);
}

/* A root-owned file outside the store. */
static void make_victim(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
    cr_assert_eq(write(fd, victim_text, sizeof(victim_text) - 1), (ssize_t)(sizeof(victim_text) - 1));
    cr_assert_eq(fchmod(fd, 0644), 0);
    close(fd);
}

static struct file_state file_state(const char *path)
{
    struct file_state f;
    struct stat st;
    memset(&f, 0, sizeof(f));
    cr_assert_eq(lstat(path, &st), 0, "%s: %s", path, strerror(errno));
    f.size = st.st_size;
    f.mode = st.st_mode;
    f.uid = st.st_uid;
    FILE *fp = fopen(path, "r");
    cr_assert_not_null(fp);
    size_t n = fread(f.text, 1, sizeof(f.text) - 1, fp);
    f.text[n] = '\0';
    fclose(fp);
    return f;
}

static void expect_victim_untouched(const char *path)
{
    struct file_state f = file_state(path);
    cr_assert_eq(f.size, (off_t)(sizeof(victim_text) - 1), "%s grew to %lld bytes", path, (long long)f.size);
    cr_assert_str_eq(f.text, victim_text, "%s was written", path);
    cr_assert_eq(f.mode & 07777, 0644u, "%s: mode %o", path, (unsigned)(f.mode & 07777));
    cr_assert_eq(f.uid, 0u, "%s changed owner", path);
}

static void store_file(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", store, name);
}

/* Root runs the tests; a directory owned by nobody is what Postfix's setup looks like. */
static void store_owned_by_nobody(void)
{
    cr_assert_eq(chown(store, NOBODY, NOBODY), 0);
    cr_assert_eq(chmod(store, 0700), 0);
}

static void plant_symlink(const char *name, const char *target)
{
    char path[200];
    store_file(path, sizeof(path), name);
    cr_assert_eq(symlink(target, path), 0, "%s: %s", path, strerror(errno));
    lchown(path, NOBODY, NOBODY);
}

static void symlink_refused(const char *name, bool nobody_owns)
{
    char victim[160];
    skip_unless_root();
    victim_path(victim, sizeof(victim), "victim");
    make_victim(victim);
    if (nobody_owns)
        store_owned_by_nobody();
    plant_symlink(name, victim);
    struct greylist_settings s = settings();
    char want[64];
    snprintf(want, sizeof(want), "%s is a symbolic link", name);
    open_fails(&s, want);
    expect_victim_untouched(victim);
}

Test(greylist, a_symlinked_lock_file_is_refused)
{
    symlink_refused("lock.mdb", false);
}

Test(greylist, a_symlinked_data_file_is_refused)
{
    symlink_refused("data.mdb", false);
}

Test(greylist, links_planted_by_the_directory_owner_are_refused)
{
    symlink_refused("lock.mdb", true);
}

Test(greylist, a_data_link_planted_by_the_directory_owner_is_refused)
{
    symlink_refused("data.mdb", true);
}

Test(greylist, both_links_planted_leave_both_targets_untouched)
{
    char victim_lock[160], victim_data[160];
    skip_unless_root();
    victim_path(victim_lock, sizeof(victim_lock), "victim-lock");
    victim_path(victim_data, sizeof(victim_data), "victim-data");
    make_victim(victim_lock);
    make_victim(victim_data);
    store_owned_by_nobody();
    plant_symlink("lock.mdb", victim_lock);
    plant_symlink("data.mdb", victim_data);
    struct greylist_settings s = settings();
    open_fails(&s, "is a symbolic link: refusing");
    expect_victim_untouched(victim_lock);
    expect_victim_untouched(victim_data);
}

/* O_CREAT through a dangling link would create the file it names. */
Test(greylist, a_dangling_link_creates_nothing)
{
    char target[160];
    victim_path(target, sizeof(target), "would-be-created");
    plant_symlink("data.mdb", target);
    struct greylist_settings s = settings();
    open_fails(&s, "data.mdb is a symbolic link");
    cr_assert_neq(access(target, F_OK), 0, "%s was created", target);
}

Test(greylist, a_hard_link_is_refused)
{
    char victim[160], path[200];
    skip_unless_root();
    victim_path(victim, sizeof(victim), "victim");
    make_victim(victim);
    store_file(path, sizeof(path), "lock.mdb");
    cr_assert_eq(link(victim, path), 0, "%s", strerror(errno));
    struct greylist_settings s = settings();
    open_fails(&s, "lock.mdb has more than one name");
    expect_victim_untouched(victim);
}

Test(greylist, a_symlinked_directory_is_refused)
{
    struct greylist_settings s = settings();
    snprintf(s.dir, sizeof(s.dir), "%s/link", scratch);
    cr_assert_eq(symlink(store, s.dir), 0);
    open_fails(&s, "is a symbolic link");
}

Test(greylist, a_directory_writable_by_group_or_others_is_refused)
{
    struct greylist_settings s = settings();
    static const mode_t modes[] = {0770, 0707, 0777, 01777};
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        cr_assert_eq(chmod(store, modes[i]), 0);
        open_fails(&s, "chmod go-w");
        open_fails(&s, store);
    }
    char lock[200];
    store_file(lock, sizeof(lock), "lock.mdb");
    cr_assert_neq(access(lock, F_OK), 0, "nothing may be created in an untrusted directory");
    cr_assert_eq(chmod(store, 0755), 0);
    greylist_close(open_default());
}

Test(greylist, a_file_writable_by_a_group_that_can_reach_it_is_refused)
{
    struct greylist_settings s = settings();
    char data[200];
    greylist_close(open_default());
    store_file(data, sizeof(data), "data.mdb");
    cr_assert_eq(chmod(data, 0660), 0);
    cr_assert_eq(chmod(store, 0750), 0);
    open_fails(&s, "data.mdb is writable by its group");
    /* Nobody but the owner can reach it in a 0700 directory. */
    cr_assert_eq(chmod(store, 0700), 0);
    greylist_close(open_default());
    cr_assert_eq(chmod(data, 0602), 0);
    open_fails(&s, "data.mdb is writable by others");
}

Test(greylist, a_file_of_another_user_is_refused)
{
    char data[200];
    skip_unless_root();
    greylist_close(open_default());
    store_file(data, sizeof(data), "data.mdb");
    cr_assert_eq(chown(data, 1234, 1234), 0);
    struct greylist_settings s = settings();
    open_fails(&s, "data.mdb is not owned by the directory's owner");
}

/* As nobody, a directory of another user (not root) is refused. */
Test(greylist, a_directory_of_another_user_is_refused)
{
    skip_unless_root();
    cr_assert_eq(chmod(scratch, 0755), 0);
    cr_assert_eq(chown(store, 1234, 1234), 0);
    cr_assert_eq(chmod(store, 0755), 0);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        struct greylist_settings s = settings();
        struct greylist *g = NULL;
        struct diag err;
        memset(&err, 0, sizeof(err));
        if (setgid(NOBODY) != 0 || setuid(NOBODY) != 0)
            _exit(3);
        int rc = greylist_open(&g, &s, &err);
        _exit(rc == -1 && strstr(err.reason, "owned by uid 1234") ? 0 : 1);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d", status);
}

static void expect_owned_by(const char *name, uid_t uid)
{
    char path[200];
    struct stat st;
    store_file(path, sizeof(path), name);
    cr_assert_eq(lstat(path, &st), 0, "%s: %s", path, strerror(errno));
    cr_assert(S_ISREG(st.st_mode), "%s is not a regular file", path);
    cr_assert_eq(st.st_uid, uid, "%s is owned by uid %u, want %u", path, (unsigned)st.st_uid, (unsigned)uid);
    cr_assert_eq(st.st_mode & 0077, 0u, "%s: mode %o", path, (unsigned)(st.st_mode & 07777));
}

static int fsuid_now(void)
{
    char line[256];
    int fsuid = -1;
    FILE *f = fopen("/proc/self/status", "r");
    cr_assert_not_null(f);
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, "Uid:", 4) == 0) {
            int r, e, sv;
            cr_assert_eq(sscanf(line + 4, "%d %d %d %d", &r, &e, &sv, &fsuid), 4);
        }
    fclose(f);
    return fsuid;
}

Test(greylist, files_created_as_root_belong_to_the_directory_owner)
{
    skip_unless_root();
    int ngroups = getgroups(0, NULL);
    store_owned_by_nobody();
    struct greylist *g = open_default();
    cr_assert_eq(fsuid_now(), 0, "the file identity was not restored");
    cr_assert_eq(getgroups(0, NULL), ngroups, "the supplementary groups were not restored");
    expect(g, "192.0.2.1", T0, GREYLIST_FIRST);
    greylist_close(g);
    expect_owned_by("data.mdb", NOBODY);
    expect_owned_by("lock.mdb", NOBODY);

    /* A later open as root, and one as the owner itself, find the record. */
    g = open_default();
    expect(g, "192.0.2.1", T0 + DELAY, GREYLIST_PASSED);
    greylist_close(g);
    cr_assert_eq(chmod(scratch, 0755), 0);      /* so that nobody reaches the store by its path */
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        struct greylist_settings s = settings();
        struct greylist *child = NULL;
        struct diag err;
        struct greylist_result r;
        struct endpoint ep = ip("192.0.2.1");
        if (setgid(NOBODY) != 0 || setuid(NOBODY) != 0)
            _exit(3);
        if (greylist_open(&child, &s, &err) != 0)
            _exit(4);
        greylist_check(child, &ep, T0 + DELAY + 1, &r);
        greylist_close(child);
        _exit(r.outcome == GREYLIST_GOOD ? 0 : 5);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "as nobody: status %d", status);
}

/* A file of root's in another user's directory is refused, never used nor taken over: that
 * user may have moved it there from any directory it can write. */
Test(greylist, root_owned_files_in_a_users_directory_are_refused)
{
    skip_unless_root();
    struct greylist *g = open_default();
    expect(g, "192.0.2.1", T0, GREYLIST_FIRST);
    greylist_close(g);
    expect_owned_by("data.mdb", 0);
    store_owned_by_nobody();
    struct greylist_settings s = settings();
    open_fails(&s, "lock.mdb");
    expect_owned_by("data.mdb", 0);
    expect_owned_by("lock.mdb", 0);
}

Test(greylist, a_new_store_is_private_to_its_owner)
{
    greylist_close(open_default());
    expect_owned_by("data.mdb", geteuid());
    expect_owned_by("lock.mdb", geteuid());
}

/* ---- corruption ---- */

static void write_file(const char *path, const void *data, size_t len, off_t at, bool truncate_file)
{
    int fd = open(path, O_WRONLY | O_CREAT | (truncate_file ? O_TRUNC : 0), 0600);
    cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
    cr_assert_eq(pwrite(fd, data, len, at), (ssize_t)len);
    cr_assert_eq(close(fd), 0);
}

static void junk(unsigned char *buf, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i++) {
        seed = seed * 1103515245u + 12345u;
        buf[i] = (unsigned char)(seed >> 16);
    }
}

/* A damaged store may fail at open or at the check, never crash; and it says so. */
static void expect_fails_open(const char *what)
{
    struct greylist_settings s = settings();
    struct greylist *g = NULL;
    struct diag err;
    memset(&err, 0, sizeof(err));
    if (greylist_open(&g, &s, &err) != 0) {
        cr_assert_null(g);
        cr_assert_not_null(strstr(err.reason, store), "%s: reason \"%s\" does not name the store", what, err.reason);
        return;
    }
    struct greylist_result r = check(g, "192.0.2.1", T0 + DELAY);
    if (r.outcome == GREYLIST_FAILED)
        cr_assert_not_null(strstr(r.error, "greylist store"), "%s: error \"%s\"", what, r.error);
    greylist_close(g);
}

/* The same in a child, which cannot use cr_assert: 0 open failed naming the store,
 * 1 the check failed with a clear error, 2 the damage went unnoticed, >= 10 wrong. */
static int damaged_store_verdict(void)
{
    struct greylist_settings s = settings();
    struct greylist *g = NULL;
    struct diag err;
    struct endpoint ep;
    struct greylist_result r;
    memset(&err, 0, sizeof(err));
    if (greylist_open(&g, &s, &err) != 0)
        return g == NULL && strstr(err.reason, store) ? 0 : 10;
    for (int i = 0; i < 300; i++) {
        char addr[32];
        snprintf(addr, sizeof(addr), "10.%d.%d.1", i / 250, i % 250);
        endpoint_parse_ip(addr, &ep);
        greylist_check(g, &ep, T0 + DELAY, &r);
        if (r.outcome == GREYLIST_FAILED) {
            greylist_close(g);
            return strncmp(r.error, "greylist store", 14) == 0 ? 1 : 11;
        }
    }
    greylist_close(g);
    return 2;
}

static void data_file(char *path, size_t size)
{
    snprintf(path, size, "%s/data.mdb", store);
}

static void populate(void)
{
    char addr[32];
    struct greylist *g = open_default();
    for (int i = 0; i < 300; i++) {
        snprintf(addr, sizeof(addr), "10.%d.%d.1", i / 250, i % 250);
        expect(g, addr, T0, GREYLIST_FIRST);
    }
    greylist_close(g);
}

Test(greylist, a_data_file_of_junk_fails_open)
{
    char path[200];
    unsigned char buf[65536];
    data_file(path, sizeof(path));
    junk(buf, sizeof(buf), 1);
    write_file(path, buf, sizeof(buf), 0, true);
    expect_fails_open("junk data.mdb");

    struct greylist_settings s = settings();
    open_fails(&s, "remove data.mdb");
}

Test(greylist, junk_over_the_tree_pages_fails_open)
{
    char path[200];
    unsigned char buf[4096];
    data_file(path, sizeof(path));
    populate();
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    /* Keep the two meta pages, spoil every other page in turn, one run each. */
    int verdicts[3] = {0, 0, 0};
    for (off_t at = 2 * 4096; at < st.st_size; at += 4096) {
        junk(buf, sizeof(buf), (unsigned)at);
        write_file(path, buf, sizeof(buf), at, false);
        pid_t pid = fork();
        cr_assert_neq(pid, -1);
        if (pid == 0)
            _exit(damaged_store_verdict());
        int status;
        cr_assert_eq(waitpid(pid, &status, 0), pid);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) < 3, "junk at page %lld: %s %d", (long long)(at / 4096),
                  WIFSIGNALED(status) ? "killed by signal" : "exit", WIFSIGNALED(status) ? WTERMSIG(status) :
                  WEXITSTATUS(status));
        verdicts[WEXITSTATUS(status)]++;
        /* Start over from a sound store for the next page. */
        char lock[200];
        snprintf(lock, sizeof(lock), "%s/lock.mdb", store);
        unlink(path);
        unlink(lock);
        populate();
    }
    cr_log_info("junk pages: %d failed at open, %d at a check, %d unnoticed", verdicts[0], verdicts[1], verdicts[2]);
}

Test(greylist, a_truncated_data_file_fails_open)
{
    char path[200];
    data_file(path, sizeof(path));
    populate();
    cr_assert_eq(truncate(path, 3 * 4096), 0);
    struct greylist_settings s = settings();
    open_fails(&s, "truncated");
    open_fails(&s, store);
}

/* Rewrites the value of the first host in the store, through LMDB itself. */
static void rewrite_record(const void *data, size_t len)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_cursor *cur;
    MDB_val k, v;
    uint8_t key[64];
    cr_assert_eq(mdb_env_create(&env), 0);
    cr_assert_eq(mdb_env_set_maxdbs(env, 2), 0);
    cr_assert_eq(mdb_env_open(env, store, MDB_NOTLS, 0600), 0);
    cr_assert_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
    cr_assert_eq(mdb_dbi_open(txn, "hosts", 0, &dbi), 0);
    cr_assert_eq(mdb_cursor_open(txn, dbi, &cur), 0);
    cr_assert_eq(mdb_cursor_get(cur, &k, &v, MDB_FIRST), 0);
    cr_assert_leq(k.mv_size, sizeof(key));
    memcpy(key, k.mv_data, k.mv_size);
    k.mv_data = key;
    mdb_cursor_close(cur);
    v.mv_size = len;
    v.mv_data = (void *)data;
    cr_assert_eq(mdb_put(txn, dbi, &k, &v, 0), 0);
    cr_assert_eq(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

Test(greylist, a_record_of_the_wrong_size_or_version_fails_open)
{
    struct greylist *g = open_default();
    struct greylist_result r;
    expect(g, "192.0.2.1", T0, GREYLIST_FIRST);
    greylist_close(g);

    rewrite_record("short", 5);
    g = open_default();
    r = check(g, "192.0.2.1", T0 + DELAY);
    cr_assert_eq(r.outcome, GREYLIST_FAILED);
    cr_assert_not_null(strstr(r.error, "greylist store: corrupt record"), "%s", r.error);
    cr_assert_eq(peek(g, "192.0.2.1", T0, &r), -1);
    cr_assert_eq(r.outcome, GREYLIST_FAILED);
    expect(g, "192.0.2.2", T0, GREYLIST_FIRST);     /* other hosts are fine */
    greylist_close(g);

    /* The version is the first byte. */
    unsigned char future[48];
    memset(future, 0, sizeof(future));
    future[0] = 99;
    g = open_default();
    greylist_close(g);
    /* rewrite_record takes the first key: 192.0.2.1 sorts before 192.0.2.2. */
    rewrite_record(future, sizeof(future));
    g = open_default();
    r = check(g, "192.0.2.1", T0 + DELAY);
    cr_assert_eq(r.outcome, GREYLIST_FAILED);
    cr_assert_not_null(strstr(r.error, "version 99"), "%s", r.error);
    /* Not overwritten: it still fails, and a sweep leaves it alone. */
    r = check(g, "192.0.2.1", T0 + DELAY);
    cr_assert_eq(r.outcome, GREYLIST_FAILED);
    greylist_close(g);
}

/* ---- descriptors, fork ---- */

static size_t store_fds(int *cloexec_missing)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *de;
    size_t n = 0;
    cr_assert_not_null(d);
    *cloexec_missing = -1;
    while ((de = readdir(d)) != NULL) {
        char link[300], target[300], info[300], line[200];
        snprintf(link, sizeof(link), "/proc/self/fd/%s", de->d_name);
        ssize_t len = readlink(link, target, sizeof(target) - 1);
        if (len < 0)
            continue;
        target[len] = '\0';
        if (strncmp(target, store, strlen(store)) != 0)
            continue;
        n++;
        snprintf(info, sizeof(info), "/proc/self/fdinfo/%s", de->d_name);
        FILE *f = fopen(info, "r");
        cr_assert_not_null(f);
        unsigned long flags = 0;
        while (fgets(line, sizeof(line), f))
            if (sscanf(line, "flags: %lo", &flags) == 1)
                break;
        fclose(f);
        if (!(flags & O_CLOEXEC))
            *cloexec_missing = atoi(de->d_name);
    }
    closedir(d);
    return n;
}

Test(greylist, every_lmdb_descriptor_is_close_on_exec)
{
    int missing;
    struct greylist *g = open_default();
    expect(g, "192.0.2.1", T0, GREYLIST_FIRST);
    size_t n = store_fds(&missing);
    /* lock.mdb, data.mdb, and data.mdb again for the O_DSYNC meta writes. */
    cr_assert_geq(n, 2u, "only %zu descriptors on the store", n);
    cr_assert_eq(missing, -1, "descriptor %d lacks O_CLOEXEC", missing);
    greylist_close(g);
    cr_assert_eq(store_fds(&missing), 0u, "greylist_close left descriptors open");
}

Test(greylist, a_forked_child_may_not_use_the_store)
{
    struct greylist *g = open_default();
    expect(g, "192.0.2.1", T0, GREYLIST_FIRST);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        struct greylist_result r;
        struct endpoint ep;
        int missing;
        endpoint_parse_ip("192.0.2.1", &ep);
        greylist_check(g, &ep, T0 + DELAY, &r);
        if (r.outcome != GREYLIST_FAILED || strstr(r.error, "forked child") == NULL)
            _exit(1);
        if (greylist_peek(g, &ep, T0 + DELAY, &r) != -1 || r.outcome != GREYLIST_FAILED)
            _exit(2);
        greylist_close(g);
        _exit(store_fds(&missing) == 0 ? 0 : 3);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child: status %d", status);
    /* The child's close did not disturb the parent, nor did its failed check record. */
    expect(g, "192.0.2.1", T0 + 10, GREYLIST_EARLY);
    expect(g, "192.0.2.1", T0 + DELAY, GREYLIST_PASSED);
    greylist_close(g);
}

Test(greylist, descriptors_taken_away_turn_the_store_off)
{
    struct greylist *g = open_default();
    expect(g, "192.0.2.1", T0, GREYLIST_FIRST);
    char path[200];
    data_file(path, sizeof(path));
    /* Find LMDB's data.mdb descriptors and put /dev/null there, as a daemon closing
     * every descriptor and opening its own files would. */
    int victims[8], nvictims = 0;
    for (int fd = 0; fd < 1024 && nvictims < 8; fd++) {
        char link[64], target[300];
        snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
        ssize_t len = readlink(link, target, sizeof(target) - 1);
        if (len < 0)
            continue;
        target[len] = '\0';
        if (strcmp(target, path) == 0)
            victims[nvictims++] = fd;
    }
    cr_assert_geq(nvictims, 1);
    int null = open("/dev/null", O_RDWR);
    cr_assert_geq(null, 0);
    for (int i = 0; i < nvictims; i++)
        cr_assert_eq(dup2(null, victims[i]), victims[i]);
    close(null);

    struct greylist_result r = check(g, "192.0.2.1", T0 + DELAY);
    cr_assert_eq(r.outcome, GREYLIST_FAILED);
    cr_assert_not_null(strstr(r.error, "closed or replaced"), "%s", r.error);
    greylist_close(g);
    /* Not closed by greylist_close: those numbers are someone else's now. */
    for (int i = 0; i < nvictims; i++)
        cr_assert_neq(fcntl(victims[i], F_GETFD), -1, "descriptor %d was closed", victims[i]);
}

/* ---- housekeeping ---- */

static size_t count_hosts(void)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_stat st;
    cr_assert_eq(mdb_env_create(&env), 0);
    cr_assert_eq(mdb_env_set_maxdbs(env, 2), 0);
    cr_assert_eq(mdb_env_open(env, store, MDB_NOTLS | MDB_RDONLY, 0600), 0);
    cr_assert_eq(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
    cr_assert_eq(mdb_dbi_open(txn, "hosts", 0, &dbi), 0);
    cr_assert_eq(mdb_stat(txn, dbi, &st), 0);
    mdb_txn_abort(txn);
    mdb_env_close(env);
    return st.ms_entries;
}

/* Hosts prefix.i.1 for i in [from, to): one a /24, which the per-network cap leaves alone. */
static void check_range(const char *prefix, int from, int to, time_t now, enum greylist_outcome want)
{
    char addr[32];
    struct greylist *g = open_default();
    for (int i = from; i < to; i++) {
        snprintf(addr, sizeof(addr), "%s.%d.1", prefix, i);
        expect(g, addr, now, want);
    }
    /* Closed before counting: one process, one handle on a store at a time. */
    greylist_close(g);
}

/* Every SWEEP_EVERY (100) checks, SWEEP_BATCH (200) entries are looked at, from where the
 * previous sweep stopped. Keys sort by family, prefix, then address bytes. */
Test(greylist, expired_entries_are_swept_in_bounded_turns)
{
    struct greylist_result r;
    /* Checks 1-248: one-off hosts (203.0.x.1, sorting last), 249-250: a host that passes. */
    check_range("203.0", 0, 248, T0, GREYLIST_FIRST);
    struct greylist *g = open_default();
    expect(g, "198.51.100.1", T0, GREYLIST_FIRST);
    expect(g, "198.51.100.1", T0 + DELAY, GREYLIST_PASSED);
    greylist_close(g);
    cr_assert_eq(count_hosts(), 249u);

    /* A day later the one-off hosts are expired; new hosts 10.2.x.1 (sorting first) come. */
    time_t later = T0 + WINDOW + 10;
    check_range("10.2", 0, 49, later, GREYLIST_FIRST);           /* checks 251-299 */
    cr_assert_eq(count_hosts(), 249u + 49u, "no sweep yet");
    /* Check 300 sweeps 200 entries: 50 new, the good one, and 149 expired. */
    check_range("10.2", 49, 50, later, GREYLIST_FIRST);
    cr_assert_eq(count_hosts(), 50u + 1u + 248u - 149u, "one bounded sweep");
    /* Check 400 resumes after the last entry looked at: the 99 other expired ones go. */
    check_range("10.2", 50, 150, later, GREYLIST_FIRST);
    cr_assert_eq(count_hosts(), 150u + 1u, "the second sweep did not resume where the first stopped");

    g = open_default();
    cr_assert_eq(peek(g, "198.51.100.1", later, &r), 0);
    cr_assert_eq(r.outcome, GREYLIST_GOOD);
    cr_assert_eq(peek(g, "203.0.7.1", later, &r), -1);
    cr_assert_eq(r.outcome, GREYLIST_FIRST);
    expect(g, "10.2.7.1", later + DELAY, GREYLIST_PASSED);
    greylist_close(g);
}

/* Passed hosts are never evicted: a map full of them fails open until they expire. */
Test(greylist, a_full_map_purges_expired_entries_once, .timeout = 120)
{
    char addr[32];
    greylist_test_map_size = 32 * 4096;
    struct greylist *g = open_default();
    struct greylist_result r;
    int stored = 0;
    /* Fill the map with hosts that pass, all expired in EXPIRE + DELAY. */
    for (stored = 0; stored < 100000; stored++) {
        snprintf(addr, sizeof(addr), "10.%d.%d.%d", stored / 65536, stored / 256 % 256, stored % 256);
        r = check(g, addr, T0);
        if (r.outcome == GREYLIST_FAILED)
            break;
        cr_assert_eq(r.outcome, GREYLIST_FIRST);
        r = check(g, addr, T0 + DELAY);
        if (r.outcome == GREYLIST_FAILED)
            break;
        cr_assert_eq(r.outcome, GREYLIST_PASSED);
    }
    cr_assert_lt(stored, 100000, "the map never filled");
    cr_log_info("a map of 32 pages took %d hosts: %s", stored, r.error);
    cr_assert_gt(stored, 100);
    cr_assert_not_null(strstr(r.error, "full"), "%s", r.error);
    cr_assert_not_null(strstr(r.error, "greylist store"), "%s", r.error);
    /* Still full of live entries: whether a known host's update finds room depends on
     * LMDB's free pages, but it fails open (without another walk) rather than hang. */
    r = check(g, "10.0.0.1", T0 + DELAY + 10);
    cr_assert(r.outcome == GREYLIST_GOOD || r.outcome == GREYLIST_FAILED, "%s", outcome_name(r.outcome));
    if (r.outcome == GREYLIST_FAILED)
        cr_assert_not_null(strstr(r.error, "full"), "%s", r.error);

    /* Once they expired, the purge frees the space: as many new hosts fit again. */
    time_t later = T0 + DELAY + EXPIRE + 60;
    for (int i = 0; i < stored; i++) {
        snprintf(addr, sizeof(addr), "172.%d.%d.1", 16 + i / 256, i % 256);
        r = check(g, addr, later);
        cr_assert_eq(r.outcome, GREYLIST_FIRST, "new host %d of %d: %s: %s", i, stored, outcome_name(r.outcome),
                     r.error);
    }
    expect(g, "172.16.0.1", later + DELAY, GREYLIST_PASSED);
    greylist_close(g);
    cr_assert_leq(count_hosts(), (size_t)(2 * stored));
}

/* ---- floods ---- */

Test(greylist, one_ipv6_network_keeps_at_most_the_cap, .timeout = 120)
{
    char addr[64];
    struct greylist_result r;
    struct greylist *g = open_default();
    /* A /64 whose every address is new: 10 000 of them. */
    for (int i = 0; i < 10000; i++) {
        snprintf(addr, sizeof(addr), "2001:db8:1:2::%x:%x", i / 65536 + 1, i % 65536);
        expect(g, addr, T0 + i / 100, GREYLIST_FIRST);
    }
    greylist_close(g);
    size_t n = count_hosts();
    cr_assert_leq(n, 256u, "the /64 holds %zu records", n);
    cr_assert_geq(n, 8u, "the /64 holds only %zu records", n);

    /* Someone else is still greylisted, and remembered. */
    g = open_default();
    expect(g, "2001:db8:9::1", T0 + 200, GREYLIST_FIRST);
    cr_assert_eq(peek(g, "2001:db8:9::1", T0 + 201, &r), 0);
    cr_assert_eq(r.outcome, GREYLIST_EARLY);
    /* The newest of the flood are kept: the evicted ones were the least recently seen. */
    cr_assert_eq(peek(g, "2001:db8:1:2::1:270f", T0 + 200, &r), 0, "the last host of the flood was evicted");
    expect(g, "2001:db8:9::1", T0 + 200 + DELAY, GREYLIST_PASSED);
    greylist_close(g);
}

/* An IPv4 /24 is not capped: its 256 addresses bound it already, and a large sender's pool
 * there must not evict its own first attempts before their retries. */
Test(greylist, an_ipv4_network_is_not_capped)
{
    char addr[32];
    struct greylist *g = open_default();
    expect(g, "198.51.100.200", T0, GREYLIST_FIRST);
    expect(g, "198.51.100.200", T0 + DELAY, GREYLIST_PASSED);
    for (int i = 0; i < 200; i++) {
        snprintf(addr, sizeof(addr), "198.51.100.%d", i);
        expect(g, addr, T0 + DELAY + i, GREYLIST_FIRST);
    }
    greylist_close(g);
    cr_assert_eq(count_hosts(), 200u + 1u, "200 new hosts and the one that passed");
    g = open_default();
    expect(g, "198.51.100.200", T0 + DELAY + 300, GREYLIST_GOOD);
    greylist_close(g);
}

/* Many networks, each under the cap, fill the map: the oldest hosts that never passed
 * make room, and new hosts are still greylisted (and remembered) rather than passed. */
Test(greylist, a_full_store_keeps_greylisting_new_hosts, .timeout = 120)
{
    char addr[32];
    struct greylist_result r;
    greylist_test_map_size = 32 * 4096;
    struct greylist *g = open_default();
    expect(g, "192.0.2.1", T0, GREYLIST_FIRST);
    expect(g, "192.0.2.1", T0 + DELAY, GREYLIST_PASSED);
    for (int i = 0; i < 20000; i++) {
        snprintf(addr, sizeof(addr), "10.%d.%d.1", i / 256, i % 256);
        r = check(g, addr, T0 + DELAY + i / 10);
        cr_assert_eq(r.outcome, GREYLIST_FIRST, "host %d: %s: %s", i, outcome_name(r.outcome), r.error);
    }
    time_t now = T0 + DELAY + 2000;
    expect(g, "203.0.113.9", now, GREYLIST_FIRST);
    cr_assert_eq(peek(g, "203.0.113.9", now + 1, &r), 0, "the new host was not stored");
    expect(g, "203.0.113.9", now + DELAY, GREYLIST_PASSED);
    expect(g, "192.0.2.1", now + DELAY, GREYLIST_GOOD);
    greylist_close(g);
}

/* ---- concurrency ---- */

#define WRITERS 8
#define CHECKS_EACH 500
#define HOSTS 16

static void host_name(int h, char *buf, size_t size)
{
    if (h % 2)
        snprintf(buf, size, "2001:db8::%x", h);
    else
        snprintf(buf, size, "192.0.2.%d", h);
}

Test(greylist, concurrent_writers_keep_the_store_consistent, .timeout = 120)
{
    /* Outcome counts per writer, in memory the children share with the parent. */
    long (*counts)[5] = mmap(NULL, sizeof(long[WRITERS][5]), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                             -1, 0);
    cr_assert_neq((void *)counts, MAP_FAILED);
    memset(counts, 0, sizeof(long[WRITERS][5]));
    pid_t pids[WRITERS];

    /* Each opens the (not yet existing) store itself, as every smtpd does. */
    for (int w = 0; w < WRITERS; w++) {
        pids[w] = fork();
        cr_assert_neq(pids[w], -1);
        if (pids[w] != 0)
            continue;
        struct greylist_settings s = settings();
        struct greylist *g = NULL;
        struct diag err;
        if (greylist_open(&g, &s, &err) != 0)
            _exit(2);
        for (int j = 0; j < CHECKS_EACH; j++) {
            char addr[64];
            struct endpoint ep;
            struct greylist_result r;
            host_name((w + j) % HOSTS, addr, sizeof(addr));
            if (endpoint_parse_ip(addr, &ep) != 0)
                _exit(3);
            /* Every writer's clock runs from T0, one second a check: a host is first
             * seen within the first HOSTS seconds and passes DELAY seconds later. */
            greylist_check(g, &ep, T0 + j, &r);
            counts[w][r.outcome]++;
        }
        greylist_close(g);
        _exit(0);
    }
    for (int w = 0; w < WRITERS; w++) {
        int status;
        cr_assert_eq(waitpid(pids[w], &status, 0), pids[w]);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "writer %d: status %d", w, status);
    }

    long total[5] = {0};
    for (int w = 0; w < WRITERS; w++)
        for (int o = 0; o < 5; o++)
            total[o] += counts[w][o];
    cr_assert_eq(total[GREYLIST_FAILED], 0);
    cr_assert_eq(total[GREYLIST_FIRST], HOSTS, "each host is new exactly once: %ld", total[GREYLIST_FIRST]);
    cr_assert_eq(total[GREYLIST_PASSED], HOSTS, "each host passes exactly once: %ld", total[GREYLIST_PASSED]);
    cr_assert_eq(total[GREYLIST_FIRST] + total[GREYLIST_EARLY] + total[GREYLIST_PASSED] + total[GREYLIST_GOOD],
                 WRITERS * CHECKS_EACH);

    /* One record per host, and the records account for every check. */
    cr_assert_eq(count_hosts(), (size_t)HOSTS);
    struct greylist *g = open_default();
    unsigned long checks = 0, passes = 0;
    for (int h = 0; h < HOSTS; h++) {
        char addr[64];
        struct greylist_result r;
        host_name(h, addr, sizeof(addr));
        cr_assert_eq(peek(g, addr, T0 + CHECKS_EACH, &r), 0, "%s is missing", addr);
        cr_assert_eq(r.outcome, GREYLIST_GOOD, "%s: %s", addr, outcome_name(r.outcome));
        cr_assert_lt(r.first_seen, T0 + HOSTS);
        cr_assert_eq(r.attempts, r.checks, "one series per host");
        checks += r.checks;
        passes += r.passes;
    }
    cr_assert_eq(checks, (unsigned long)WRITERS * CHECKS_EACH, "lost or doubled updates: %lu", checks);
    cr_assert_eq(passes, (unsigned long)(total[GREYLIST_PASSED] + total[GREYLIST_GOOD]));
    greylist_close(g);
    munmap(counts, sizeof(long[WRITERS][5]));
}

/* A writer killed in the middle of a transaction (an smtpd that got SIGKILL) must not
 * wedge the others: LMDB's writer mutex is robust. */
Test(greylist, a_writer_dying_mid_transaction_does_not_wedge_the_store, .timeout = 30)
{
    struct greylist *g = open_default();
    expect(g, "192.0.2.1", T0, GREYLIST_FIRST);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        MDB_env *env;
        MDB_txn *txn;
        if (mdb_env_create(&env) || mdb_env_set_maxdbs(env, 2) || mdb_env_open(env, store, MDB_NOTLS, 0600) ||
            mdb_txn_begin(env, NULL, 0, &txn))
            _exit(1);
        raise(SIGKILL);
        _exit(2);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "child: status %d", status);
    expect(g, "192.0.2.1", T0 + DELAY, GREYLIST_PASSED);
    greylist_close(g);
}

/* ---- a writer that stops ---- */

static void stop_inside_check(void)
{
    raise(SIGSTOP);
}

/* Another process of the MTA stops (SIGSTOP, a debugger, a frozen cgroup) in the middle of a
 * check, holding LMDB's writer lock, which has no timeout. A check inside accept() must not
 * wait for it: it fails open within GREYLIST_WRITER_STALL_MS. Once the stopped process is
 * gone, checks work again. */
Test(greylist, a_stopped_writer_does_not_hold_a_check)
{
    struct greylist *g = open_default();
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        struct greylist *mine = NULL;
        struct greylist_settings s = settings();
        struct diag err;
        struct greylist_result r;
        struct endpoint ep = ip("192.0.2.99");
        if (greylist_open(&mine, &s, &err) != 0)
            _exit(3);
        greylist_test_inside_check = stop_inside_check;
        greylist_check(mine, &ep, T0, &r);
        _exit(0);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, WUNTRACED), pid);
    cr_assert(WIFSTOPPED(status), "the writer did not stop inside its check (status %#x)", status);

    /* A watchdog kills the stopped writer after 5 s: a check that waits for it is seen as a
     * long wait instead of hanging the test. */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t watchdog = fork();
    cr_assert_geq(watchdog, 0);
    if (watchdog == 0) {
        sleep(5);
        kill(pid, SIGKILL);   /* frees LMDB's lock (robust): a check still waiting ends */
        _exit(0);
    }
    struct greylist_result r = check(g, "192.0.2.1", T0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    kill(watchdog, SIGKILL);
    waitpid(watchdog, NULL, 0);
    kill(pid, SIGKILL);
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert_eq(r.outcome, GREYLIST_FAILED, "the check went on after %ld ms: %s", ms, outcome_name(r.outcome));
    cr_assert_lt(ms, 3000, "the check waited %ld ms for the stopped writer", ms);
    cr_assert_not_null(strstr(r.error, "another process has held it"), "error: %s", r.error);

    /* The stopped writer killed: LMDB hands its lock on, and the gate was its descriptor's. */
    expect(g, "192.0.2.1", T0, GREYLIST_FIRST);
    greylist_close(g);
}
