/* A pattern matched by several threads at once (the engine's worker and the host's accepting
 * threads, which decide from the SYN): every answer stays right. */
#include <criterion/criterion.h>

#include <pthread.h>

#include "policy.h"

#define MATCHES_PER_THREAD 20000
#define THREADS 4

static struct regex *shared_re;

static void *match_many(void *arg)
{
    long wrong = 0;
    (void)arg;
    for (int i = 0; i < MATCHES_PER_THREAD; i++) {
        bool yes = regex_matches(shared_re, i % 2 ? "Windows NT kernel" : "Linux 3.11 and newer");
        if (yes != (i % 2 == 1))
            wrong++;
    }
    return (void *)wrong;
}

Test(regex_threads, concurrent_matches_of_one_pattern_agree)
{
    char why[256];
    pthread_t t[THREADS];
    shared_re = regex_compile("^(windows|win(dows)? ?(nt|xp|7|8|10))( kernel)?$", why, sizeof(why));
    cr_assert_not_null(shared_re, "%s", why);
    for (int i = 0; i < THREADS; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, match_many, NULL), 0);
    for (int i = 0; i < THREADS; i++) {
        void *wrong;
        pthread_join(t[i], &wrong);
        cr_assert_eq((long)wrong, 0, "thread %d: %ld wrong answers", i, (long)wrong);
    }
    regex_free(shared_re);
}
