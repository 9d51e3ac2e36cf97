/* hotmem: memory the parent of a fork-per-connection server writes without a copy-on-write
 * fault, which each child makes its own (at the same address) before it first writes it. */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hotmem.h"

static long minor_faults(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_minflt;
}

static int hook_calls;
static void count_hook(void *arg)
{
    (void)arg;
    hook_calls++;
}

/* Not instrumented: under ASan a write also writes its shadow, private memory of its own. */
__attribute__((no_sanitize("address"), noinline)) static void store(volatile long *p, long v)
{
    *p = v;
}

/* Criterion runs each test in a process of its own: the region starts empty in each. */
Test(hotmem, parent_writes_after_fork_without_fault)
{
    volatile long *hot = hotmem_alloc(4096);
    volatile long *cold = aligned_alloc(4096, 4096);
    cr_assert(hotmem_owns((void *)hot));
    hot[0] = 1;
    cold[0] = 1;
    pid_t kid = fork();
    if (kid == 0) {
        sleep(2);
        _exit(0);
    }
    store(hot + 1, 0);   /* the stack pages these calls use, copied before the measure */
    (void)minor_faults();
    long before = minor_faults();
    store(hot, 2);
    long after_hot = minor_faults();
    store(cold, 2);
    long after_cold = minor_faults();
    kill(kid, SIGKILL);
    waitpid(kid, NULL, 0);
    cr_assert_geq(after_cold - after_hot, 1, "the private page did not fault: the test measures nothing");
    cr_assert_eq(after_hot - before, 0, "a write to hot memory after fork faulted");
    free((void *)cold);
}

Test(hotmem, child_gets_its_own_copy_at_the_same_address)
{
    int *hot = hotmem_alloc(sizeof(int) * 2);
    hot[0] = 7;
    hotmem_at_privatise(count_hook, NULL);
    int pipefd[2];
    cr_assert_eq(pipe(pipefd), 0);
    pid_t kid = fork();
    if (kid == 0) {
        /* No fork handler: the kernel zeroes the state page (MADV_WIPEONFORK). */
        int seen_before = hot[0];
        if (!hotmem_enter())
            _exit(3);
        hot[0] = 99;                 /* the child's own copy */
        int result[3] = {seen_before, hot[0], hook_calls};
        (void)!write(pipefd[1], result, sizeof(result));
        _exit(0);
    }
    int result[3] = {0, 0, 0};
    cr_assert_eq(read(pipefd[0], result, sizeof(result)), (ssize_t)sizeof(result));
    int status;
    waitpid(kid, &status, 0);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    cr_assert_eq(result[0], 7, "the child's copy holds the parent's content");
    cr_assert_eq(result[1], 99);
    cr_assert_eq(result[2], 1, "the owner's hook runs once, in the child");
    cr_assert_eq(hot[0], 7, "the child's write reached the parent");
    cr_assert_eq(hook_calls, 0, "the hook ran in the parent");
}

Test(hotmem, large_objects_and_outside_pointers_go_to_the_heap)
{
    void *big = hotmem_alloc(1024 * 1024);
    cr_assert_not_null(big);
    cr_assert(!hotmem_owns(big));
    hotmem_free(big);
    void *small = hotmem_alloc(100);
    cr_assert(hotmem_owns(small));
    hotmem_free(small);   /* nothing: it lives as long as the process */
    cr_assert_eq(((char *)small)[0], 0);
}

Test(hotmem, the_fork_handler_is_needed_only_without_a_wiped_page)
{
    cr_assert(hotmem_wipes_on_fork(), "this kernel has MADV_WIPEONFORK (4.14 and later)");
}

Test(hotmem, process_local_memory_is_zero_in_a_child_and_kept_in_the_parent)
{
    volatile int *mine = hotmem_process_local(sizeof(int));
    cr_assert_not_null(mine);
    *mine = 42;
    int pipefd[2];
    cr_assert_eq(pipe(pipefd), 0);
    pid_t kid = fork();
    if (kid == 0) {
        int seen = *mine;
        (void)!write(pipefd[1], &seen, sizeof(seen));
        _exit(0);
    }
    int seen = -1;
    cr_assert_eq(read(pipefd[0], &seen, sizeof(seen)), (ssize_t)sizeof(seen));
    waitpid(kid, NULL, 0);
    cr_assert_eq(seen, 0, "the child found the parent's value");
    cr_assert_eq(*mine, 42);
}
