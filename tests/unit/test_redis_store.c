/* The Redis stores (greylist and fleet karma) against a real redis-server that each test
 * starts on a unix socket of its own: the key layout, the TTLs, the greylist decision held to
 * the LMDB store's answers event for event, the karma window, and what a dead, hung, hostile or
 * password-protected server does to a call. Also the store URL parser, which needs no server. */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "greylist.h"
#include "karma.h"
#include "redis_link.h"
#include "store_key.h"
#include "store_url.h"

#define T0 ((time_t)1700000000)
#define DELAY 300u
#define WINDOW 86400u
#define EXPIRE (36u * 86400u)

static char scratch[64];
static char sock_path[96];
static pid_t server = -1;

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st, (void)type, (void)ftw;
    remove(path);
    return 0;
}

static bool can_connect(const char *path)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%.100s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    bool ok = connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0;
    close(fd);
    return ok;
}

/* redis-server on scratch/redis.sock, no persistence; extra: further "--name value" pairs. */
static void start_server(const char *const *extra)
{
    const char *argv[32] = {"redis-server", "--port", "0", "--unixsocket", sock_path, "--save", "",
                            "--appendonly", "no", "--dir", scratch, "--daemonize", "no"};
    size_t n = 13;
    for (size_t i = 0; extra && extra[i]; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    server = fork();
    cr_assert_neq(server, -1);
    if (server == 0) {
        int null = open("/dev/null", 0);
        dup2(null, 1);
        execvp("redis-server", (char *const *)argv);
        _exit(127);
    }
    for (int i = 0; i < 500 && !can_connect(sock_path); i++)
        usleep(10000);
    cr_assert(can_connect(sock_path), "redis-server did not start (is the redis-server package installed?)");
}

static void setup(void)
{
    snprintf(scratch, sizeof(scratch), "/tmp/p0fshim-unit-redis-XXXXXX");
    cr_assert_not_null(mkdtemp(scratch));
    snprintf(sock_path, sizeof(sock_path), "%s/redis.sock", scratch);
}

static void teardown(void)
{
    if (server > 0) {
        kill(server, SIGCONT);
        kill(server, SIGKILL);
        waitpid(server, NULL, 0);
        server = -1;
    }
    nftw(scratch, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(redis_store, .init = setup, .fini = teardown, .timeout = 60);

static struct store_url url_of(const char *text)
{
    struct store_url u;
    char why[200];
    cr_assert_eq(store_url_parse(text, &u, why, sizeof(why)), 0, "%s: %s", text, why);
    return u;
}

static struct store_url server_url(void)
{
    char text[200];
    snprintf(text, sizeof(text), "unix:%s", sock_path);
    return url_of(text);
}

static struct endpoint ip(const char *text)
{
    struct endpoint e;
    cr_assert_eq(endpoint_parse_ip(text, &e), 0);
    return e;
}

/* A command whose reply is an integer, through the library's own link. */
static long long command(const char *const *argv, size_t argc)
{
    char why[200];
    struct redis_ints r;
    struct store_url u = server_url();
    struct redis_link *l = redis_link_shared(&u, why, sizeof(why));
    cr_assert_not_null(l, "%s", why);
    cr_assert_eq(redis_link_command(l, argv, argc, 1000, &r, why, sizeof(why)), 0, "%s: %s", argv[0], why);
    cr_assert_eq(r.n, 1);
    return r.v[0];
}

static long long ttl_of(const char *key)
{
    const char *argv[] = {"TTL", key};
    return command(argv, 2);
}

static long long exists(const char *key)
{
    const char *argv[] = {"EXISTS", key};
    return command(argv, 2);
}

/* ---- store URLs ---- */

Test(redis_store, url_forms)
{
    struct store_url u = url_of("redis://:s3cret@127.0.0.1:6380/2");
    cr_assert(!u.is_unix);
    cr_assert_str_eq(u.password, "s3cret");
    cr_assert_str_eq(u.user, "");
    cr_assert_eq(u.db, 2);
    cr_assert_str_eq(u.shown, "redis://:***@127.0.0.1:6380/2");

    u = url_of("redis://mx:p%40ss@[2001:db8::1]/3");
    cr_assert_str_eq(u.user, "mx");
    cr_assert_str_eq(u.password, "p@ss");
    cr_assert_eq(u.addr.ss_family, AF_INET6);
    cr_assert_str_eq(u.shown, "redis://mx:***@[2001:db8::1]:6379/3");

    u = url_of("redis://localhost");
    cr_assert_str_eq(u.shown, "redis://127.0.0.1:6379/0");

    u = url_of("unix:/var/run/redis/redis.sock?db=4&password=pw");
    cr_assert(u.is_unix);
    cr_assert_str_eq(u.path, "/var/run/redis/redis.sock");
    cr_assert_eq(u.db, 4);
    cr_assert_str_eq(u.password, "pw");
    cr_assert_null(strstr(u.shown, "pw"), "the password is shown: %s", u.shown);
}

Test(redis_store, url_errors_name_the_problem_not_the_password)
{
    static const char *const bad[][2] = {
        {"redis://mx.example.org:6379", "no name is looked up"},
        {"redis://127.0.0.1:0", "port"},
        {"redis://127.0.0.1:99999", "port"},
        {"redis://127.0.0.1/x", "database"},
        {"redis://u:sec%zzret@127.0.0.1", "badly encoded"},
        {"unix:relative.sock", "absolute"},
        {"unix:/x.sock?database=1", "options"},
        {"http://127.0.0.1", "starts with"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct store_url u;
        char why[200] = "";
        cr_assert_eq(store_url_parse(bad[i][0], &u, why, sizeof(why)), -1, "%s was accepted", bad[i][0]);
        cr_assert_not_null(strstr(why, bad[i][1]), "%s: %s", bad[i][0], why);
        cr_assert_null(strstr(why, "sec"), "%s", why);
        cr_assert(!u.set);
    }
}

/* ---- keys ---- */

Test(redis_store, key_layout)
{
    char key[STORE_KEY_MAX];
    struct endpoint v4 = ip("203.0.113.77"), v6 = ip("2001:db8:1:2:3:4:5:6");
    cr_assert_eq(store_key(key, STORE_KEY_GREYLIST, &v4, 32, 128), 0);
    cr_assert_str_eq(key, "p0fshim:greylist:203.0.113.77/32");
    cr_assert_eq(store_key(key, STORE_KEY_GREYLIST, &v4, 24, 128), 0);
    cr_assert_str_eq(key, "p0fshim:greylist:203.0.113.0/24");
    cr_assert_eq(store_key(key, STORE_KEY_KARMA, &v6, 32, 64), 0);
    cr_assert_str_eq(key, "p0fshim:karma:2001:db8:1:2::/64");
    cr_assert_eq(store_key(key, STORE_KEY_KARMA, &v6, 32, 128), 0);
    cr_assert_str_eq(key, "p0fshim:karma:2001:db8:1:2:3:4:5:6/128");
}

/* ---- greylisting ---- */

static struct greylist_settings grey_settings(bool redis)
{
    struct greylist_settings s;
    memset(&s, 0, sizeof(s));
    if (redis)
        s.store = server_url();
    snprintf(s.dir, sizeof(s.dir), "%s/lmdb", scratch);
    s.timeout_ms = 1000;
    s.delay_s = DELAY;
    s.window_s = WINDOW;
    s.expire_s = EXPIRE;
    s.v4_prefix = 32;
    s.v6_prefix = 128;
    return s;
}

static struct greylist *grey_open(const struct greylist_settings *s)
{
    struct greylist *g = NULL;
    struct diag err;
    memset(&err, 0, sizeof(err));
    cr_assert_eq(greylist_open(&g, s, &err), 0, "greylist_open: %s", err.reason);
    return g;
}

Test(redis_store, greylist_record_and_ttl)
{
    start_server(NULL);
    struct greylist_settings s = grey_settings(true);
    struct greylist *g = grey_open(&s);
    struct endpoint host = ip("198.51.100.9");
    struct greylist_result r;
    time_t now = time(NULL);

    greylist_check(g, &host, now, &r);
    cr_assert_eq(r.outcome, GREYLIST_FIRST, "%s", r.error);
    long long ttl = ttl_of("p0fshim:greylist:198.51.100.9/32");
    cr_assert(ttl >= WINDOW - 1 && ttl <= WINDOW + 1, "a first contact lives as long as its window: TTL %lld", ttl);

    greylist_check(g, &host, now + DELAY, &r);
    cr_assert_eq(r.outcome, GREYLIST_PASSED, "%s", r.error);
    cr_assert_eq(r.waited_s, DELAY);
    ttl = ttl_of("p0fshim:greylist:198.51.100.9/32");
    cr_assert(ttl >= EXPIRE - 2 && ttl <= EXPIRE, "a passed host lives until good_until: TTL %lld", ttl);

    struct greylist_result peek;
    cr_assert_eq(greylist_peek(g, &host, now + DELAY + 1, &peek), 0, "%s", peek.error);
    cr_assert_eq(peek.outcome, GREYLIST_GOOD);
    cr_assert_eq(peek.checks, 2);
    cr_assert_eq(peek.passes, 1);
    struct endpoint other = ip("198.51.100.10");
    cr_assert_eq(greylist_peek(g, &other, now, &peek), -1);
    cr_assert_eq(peek.outcome, GREYLIST_FIRST);
    cr_assert_eq(exists("p0fshim:greylist:198.51.100.10/32"), 0, "peek wrote a record");
    greylist_close(g);
}

/* The Lua decision and greylist_decide() agree on every step of a long story. */
Test(redis_store, greylist_same_answers_as_lmdb)
{
    start_server(NULL);
    struct greylist_settings sr = grey_settings(true), sl = grey_settings(false);
    cr_assert_eq(mkdir(sl.dir, 0700), 0);
    struct greylist *redis = grey_open(&sr), *lmdb = grey_open(&sl);
    struct endpoint a = ip("192.0.2.1"), b = ip("2001:db8::7");
    static const long steps[] = {
        0, 10, DELAY - 1, DELAY, DELAY + 5, 2 * 86400,            /* first, early x2, passed, good x2 */
        EXPIRE + 2 * 86400 + 1,                                    /* expired: a new series */
        EXPIRE + 2 * 86400 + 1 + WINDOW + 1,                       /* the window ran out: new again */
        EXPIRE + 2 * 86400 + 1 + WINDOW + 1 - WINDOW - 5,          /* the clock set back */
        EXPIRE + 2 * 86400 + 1 + WINDOW + 1 + DELAY,               /* passes */
    };
    for (size_t host = 0; host < 2; host++) {
        const struct endpoint *peer = host ? &b : &a;
        for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
            struct greylist_result x, y;
            time_t now = T0 + steps[i];
            greylist_check(redis, peer, now, &x);
            greylist_check(lmdb, peer, now, &y);
            cr_assert_eq(x.outcome, y.outcome, "step %zu: redis %d (%s), lmdb %d", i, x.outcome, x.error, y.outcome);
            cr_assert_eq(x.first_seen, y.first_seen, "step %zu", i);
            cr_assert_eq(x.waited_s, y.waited_s, "step %zu", i);
            cr_assert_eq(x.good_until, y.good_until, "step %zu", i);
            cr_assert_eq(x.attempts, y.attempts, "step %zu", i);
            cr_assert_eq(x.checks, y.checks, "step %zu", i);
            cr_assert_eq(x.passes, y.passes, "step %zu", i);
            struct greylist_result px, py;
            int rx = greylist_peek(redis, peer, now + 1, &px), ry = greylist_peek(lmdb, peer, now + 1, &py);
            cr_assert_eq(rx, ry, "peek, step %zu", i);
            cr_assert_eq(px.outcome, py.outcome, "peek, step %zu", i);
            cr_assert_eq(px.attempts, py.attempts, "peek, step %zu", i);
        }
    }
    greylist_close(redis);
    greylist_close(lmdb);
}

/* ---- karma ---- */

static struct karma_store *karma_open_ok(unsigned window, unsigned v4_prefix)
{
    struct karma_settings s = {.store = server_url(), .window_s = window, .v4_prefix = v4_prefix, .v6_prefix = 128};
    struct karma_store *k;
    char why[200];
    cr_assert_eq(karma_open(&k, &s, 1000, why, sizeof(why)), 0, "%s", why);
    return k;
}

static long long count(struct karma_store *k, const char *peer, time_t now, unsigned hits)
{
    long long total = -1;
    char why[200];
    struct endpoint e = ip(peer);
    cr_assert_eq(karma_count(k, &e, now, hits, &total, why, sizeof(why)), 0, "%s", why);
    return total;
}

Test(redis_store, karma_counts_in_the_window)
{
    start_server(NULL);
    struct karma_store *k = karma_open_ok(86400, 32);
    time_t now = time(NULL);
    cr_assert_eq(count(k, "203.0.113.5", now, 0), 0);
    cr_assert_eq(exists("p0fshim:karma:203.0.113.5/32"), 0, "a count without a hit stored a record");
    cr_assert_eq(count(k, "203.0.113.5", now, 1), 1);
    cr_assert_eq(count(k, "203.0.113.5", now + 60, 1), 2);
    cr_assert_eq(count(k, "203.0.113.5", now + 120, 0), 2);
    long long ttl = ttl_of("p0fshim:karma:203.0.113.5/32");
    cr_assert(ttl >= 86400 - 2 && ttl <= 86400, "TTL %lld", ttl);
    /* a whole window later the hits have aged out, and the next hit counts alone */
    cr_assert_eq(count(k, "203.0.113.5", now + 86400 + 3600, 0), 0);
    cr_assert_eq(count(k, "203.0.113.5", now + 86400 + 3600, 1), 1);
    /* another host's count is its own */
    cr_assert_eq(count(k, "203.0.113.6", now, 0), 0);
    karma_close(k);
}

Test(redis_store, karma_by_network)
{
    start_server(NULL);
    struct karma_store *k = karma_open_ok(3600, 24);
    time_t now = time(NULL);
    cr_assert_eq(count(k, "203.0.113.5", now, 1), 1);
    cr_assert_eq(count(k, "203.0.113.99", now, 1), 2);
    cr_assert_eq(exists("p0fshim:karma:203.0.113.0/24"), 1);
    karma_close(k);
}

/* Two processes, 2 x 2000 hits at once through their own connections: none lost. */
Test(redis_store, karma_counts_exact_across_processes)
{
    start_server(NULL);
    time_t now = time(NULL);
    pid_t kids[2];
    for (int i = 0; i < 2; i++) {
        kids[i] = fork();
        cr_assert_neq(kids[i], -1);
        if (kids[i] == 0) {
            struct karma_store *k = karma_open_ok(86400, 32);
            for (int j = 0; j < 2000; j++) {
                long long total;
                char why[200];
                struct endpoint e = ip("192.0.2.200");
                if (karma_count(k, &e, now, 1, &total, why, sizeof(why)) != 0)
                    _exit(1);
            }
            _exit(0);
        }
    }
    for (int i = 0; i < 2; i++) {
        int status;
        waitpid(kids[i], &status, 0);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "a counting process failed");
    }
    struct karma_store *k = karma_open_ok(86400, 32);
    cr_assert_eq(count(k, "192.0.2.200", now, 0), 4000);
    karma_close(k);
}

/* ---- failures: fail fast, say why, never the password ---- */

static double ms_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) * 1e3 + (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

Test(redis_store, hung_server_costs_at_most_the_deadline)
{
    start_server(NULL);
    struct karma_settings s = {.store = server_url(), .window_s = 3600, .v4_prefix = 32, .v6_prefix = 128};
    struct karma_store *k;
    char why[200];
    long long total;
    struct endpoint e = ip("192.0.2.1");
    cr_assert_eq(karma_open(&k, &s, 20, why, sizeof(why)), 0, "%s", why);
    cr_assert_eq(karma_count(k, &e, time(NULL), 1, &total, why, sizeof(why)), 0, "%s", why);
    kill(server, SIGSTOP);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    cr_assert_eq(karma_count(k, &e, time(NULL), 1, &total, why, sizeof(why)), -1);
    double took = ms_since(&t0);
    cr_assert_not_null(strstr(why, "store_timeout_ms"), "%s", why);
    /* a hang would be seconds; the deadline is 20 ms (the bound is loose for a loaded machine) */
    cr_assert_lt(took, 500.0, "a call to a hung server took %.1f ms", took);
    /* within the backoff the next call does not even try */
    clock_gettime(CLOCK_MONOTONIC, &t0);
    cr_assert_eq(karma_count(k, &e, time(NULL), 1, &total, why, sizeof(why)), -1);
    cr_assert_not_null(strstr(why, "retrying later"), "%s", why);
    cr_assert_lt(ms_since(&t0), 5.0);
    /* the server comes back: after the backoff, the link reconnects */
    kill(server, SIGCONT);
    usleep(400 * 1000);
    int rc = karma_count(k, &e, time(NULL), 1, &total, why, sizeof(why));
    cr_assert_eq(rc, 0, "no recovery: %s", why);
    karma_close(k);
}

Test(redis_store, stopped_server_fails_open_with_reason)
{
    start_server(NULL);
    struct karma_store *k = karma_open_ok(3600, 32);
    time_t now = time(NULL);
    cr_assert_eq(count(k, "192.0.2.2", now, 1), 1);
    kill(server, SIGKILL);
    waitpid(server, NULL, 0);
    server = -1;
    long long total;
    char why[200];
    struct endpoint e = ip("192.0.2.2");
    cr_assert_eq(karma_count(k, &e, now, 1, &total, why, sizeof(why)), -1);
    cr_assert_not_null(strstr(why, "closed the connection"), "%s", why);
    unlink(sock_path);
    start_server(NULL);
    usleep(500 * 1000);
    cr_assert_eq(karma_count(k, &e, now, 1, &total, why, sizeof(why)), 0, "no recovery: %s", why);
    cr_assert_eq(total, 1, "the new server starts empty");
    karma_close(k);
}

Test(redis_store, password_protected_server)
{
    const char *const extra[] = {"--requirepass", "s3cret-pw", NULL};
    start_server(extra);
    char text[300];
    long long total;
    char why[200];
    struct endpoint e = ip("192.0.2.3");
    struct karma_store *k;

    snprintf(text, sizeof(text), "unix:%s?password=wrong-pw", sock_path);
    struct karma_settings s = {.store = url_of(text), .window_s = 3600, .v4_prefix = 32, .v6_prefix = 128};
    cr_assert_eq(karma_open(&k, &s, 1000, why, sizeof(why)), 0, "%s", why);
    cr_assert_eq(karma_count(k, &e, time(NULL), 1, &total, why, sizeof(why)), -1);
    cr_assert_not_null(strstr(why, "refused the login"), "%s", why);
    cr_assert_null(strstr(why, "wrong-pw"), "the password is in the reason: %s", why);
    karma_close(k);

    snprintf(text, sizeof(text), "unix:%s?password=s3cret-pw&db=3", sock_path);
    s.store = url_of(text);
    cr_assert_eq(karma_open(&k, &s, 1000, why, sizeof(why)), 0, "%s", why);
    cr_assert_eq(karma_count(k, &e, time(NULL), 1, &total, why, sizeof(why)), 0, "%s", why);
    cr_assert_eq(total, 1);
    karma_close(k);
}

/* A server that is not Redis (here: one that answers with an HTTP line) is named as such. */
Test(redis_store, wrong_server)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sock_path);
    int listener = socket(AF_UNIX, SOCK_STREAM, 0);
    cr_assert_eq(bind(listener, (struct sockaddr *)&sun, sizeof(sun)), 0);
    cr_assert_eq(listen(listener, 4), 0);
    pid_t kid = fork();
    if (kid == 0) {
        int c = accept(listener, NULL, NULL);
        char buf[512];
        (void)!read(c, buf, sizeof(buf));
        (void)!write(c, "HTTP/1.0 400 Bad Request\r\n\r\n", 28);
        sleep(2);
        _exit(0);
    }
    struct karma_store *k = karma_open_ok(3600, 32);
    long long total;
    char why[200];
    struct endpoint e = ip("192.0.2.4");
    cr_assert_eq(karma_count(k, &e, time(NULL), 1, &total, why, sizeof(why)), -1);
    cr_assert_not_null(strstr(why, "not a Redis server"), "%s", why);
    kill(kid, SIGKILL);
    waitpid(kid, NULL, 0);
    close(listener);
    karma_close(k);
}

/* A forked child never uses its parent's connection: it makes its own. */
Test(redis_store, forked_child_has_its_own_connection)
{
    start_server(NULL);
    const char *argv[] = {"CLIENT", "ID"};
    long long parent_id = command(argv, 2);
    int pipefd[2];
    cr_assert_eq(pipe(pipefd), 0);
    pid_t kid = fork();
    if (kid == 0) {
        struct store_url u = server_url();
        char why[200];
        redis_link_after_fork_child(redis_link_shared(&u, why, sizeof(why)));
        long long id = command(argv, 2);
        (void)!write(pipefd[1], &id, sizeof(id));
        _exit(0);
    }
    long long child_id = 0;
    cr_assert_eq(read(pipefd[0], &child_id, sizeof(child_id)), (ssize_t)sizeof(child_id));
    waitpid(kid, NULL, 0);
    cr_assert_neq(child_id, parent_id);
    cr_assert_eq(command(argv, 2), parent_id, "the parent's connection was disturbed by the child");
}

/* A full server (maxmemory reached, no eviction) answers the script with an error: the call fails
 * with Redis's reason, the connection is kept, and the next call works once there is room. */
Test(redis_store, full_server_fails_the_call_keeps_the_connection)
{
    const char *const extra[] = {"--maxmemory", "1", "--maxmemory-policy", "noeviction", NULL};
    start_server(extra);
    struct karma_store *k = karma_open_ok(3600, 32);
    const char *id[] = {"CLIENT", "ID"};
    long long before = command(id, 2);
    long long total;
    char why[200];
    struct endpoint e = ip("192.0.2.5");
    cr_assert_eq(karma_count(k, &e, time(NULL), 1, &total, why, sizeof(why)), -1);
    cr_assert_not_null(strstr(why, "OOM"), "%s", why);
    const char *room[] = {"CONFIG", "SET", "maxmemory", "0"};
    struct redis_ints r;
    struct store_url u = server_url();
    struct redis_link *l = redis_link_shared(&u, why, sizeof(why));
    cr_assert_eq(redis_link_command(l, room, 4, 1000, &r, why, sizeof(why)), 0, "%s", why);
    cr_assert_eq(r.n, 0, "+OK carries no integer");
    cr_assert_eq(karma_count(k, &e, time(NULL), 1, &total, why, sizeof(why)), 0, "%s", why);
    cr_assert_eq(total, 1);
    cr_assert_eq(command(id, 2), before, "the connection was dropped for an error reply");
    karma_close(k);
}
