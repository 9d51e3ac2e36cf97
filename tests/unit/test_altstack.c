/* altstack: the verdict inside accept() runs, in a process that forks, on a stack that fork()
 * neither copies nor write-protects, with the host's signals held. */
#include <criterion/criterion.h>

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "altstack.h"

struct probe {
    uintptr_t frame;
    bool all_blocked;
    long faults;
    int nested_same;   /* a call made while the stack is busy runs where it is */
};

/* Not instrumented (here and in probe()): ASan would put these frames' arrays on its own
 * "fake stack", private memory that a fork write-protects like any other. */
__attribute__((no_sanitize("address"))) static long minor_faults(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_minflt;
}

/* Not instrumented: under ASan a write also writes its shadow, private memory of its own. */
__attribute__((no_sanitize("address"), noinline)) static void write_deep(volatile char *p, size_t n)
{
    for (size_t i = 0; i < n; i += 512)
        p[i] = (char)i;
}

__attribute__((noinline)) static void record_frame(void *arg)
{
    *(uintptr_t *)arg = (uintptr_t)__builtin_frame_address(0);
}

/* 12 KiB of the stack written, as the verdict's frames do: after a fork every one of those
 * pages would be copied on the host's stack. Called once before the fork that is measured, so
 * that the pages exist. */
__attribute__((noinline, no_sanitize("address"))) static void probe(void *arg)
{
    struct probe *p = arg;
    volatile char frames[12 * 1024];
    sigset_t now;
    p->frame = (uintptr_t)__builtin_frame_address(0);
    pthread_sigmask(SIG_SETMASK, NULL, &now);
    p->all_blocked = sigismember(&now, SIGTERM) && sigismember(&now, SIGALRM) && sigismember(&now, SIGCHLD) &&
                     !sigismember(&now, SIGSEGV);
    (void)minor_faults();   /* its own frame's page, copied before the measure */
    long before = minor_faults();
    write_deep(frames, sizeof(frames));
    p->faults = minor_faults() - before;
    uintptr_t inner = 0;
    altstack_run(record_frame, &inner);
    p->nested_same = inner < p->frame && p->frame - inner < 64 * 1024;
}

static uintptr_t here(void)
{
    return (uintptr_t)__builtin_frame_address(0);
}

static bool far_apart(uintptr_t a, uintptr_t b)
{
    return (a > b ? a - b : b - a) > 1024 * 1024;
}

/* As the library sets it up: its state made before any fork, the engine's prepare handler. */
static void setup(void)
{
    altstack_init();
    pthread_atfork(altstack_before_fork, NULL, NULL);
}

static pid_t fork_sleeper(void)
{
    pid_t kid = fork();
    if (kid == 0) {
        sleep(5);
        _exit(0);
    }
    return kid;
}

Test(altstack, a_process_that_never_forked_stays_on_its_stack, .init = setup)
{
    struct probe p = {0};
    altstack_run(probe, &p);
    cr_assert(!far_apart(p.frame, here()), "switched although the process never forked");
    cr_assert(!p.all_blocked, "signals held on the caller's own stack");
}

Test(altstack, after_a_fork_the_parent_writes_its_frames_without_a_fault, .init = setup)
{
    struct probe warm = {0}, p = {0};
    altstack_run(probe, &warm);   /* makes the stack */
    pid_t kid = fork_sleeper();   /* marks the process as one that forks */
    altstack_run(probe, &warm);   /* touches the shared stack's pages */
    pid_t kid2 = fork_sleeper();  /* write-protects every private page, but not those */
    altstack_run(probe, &p);
    kill(kid, SIGKILL);
    kill(kid2, SIGKILL);
    waitpid(kid, NULL, 0);
    waitpid(kid2, NULL, 0);
    cr_assert(far_apart(p.frame, here()), "not run on the library's stack");
    cr_assert(p.all_blocked, "a host's signal handler could run on the library's stack");
    cr_assert_eq(p.faults, 0, "writing the verdict's frames after fork faulted %ld times", p.faults);
    cr_assert(p.nested_same, "a call made while the stack was busy did not run where it was");
    sigset_t now;
    pthread_sigmask(SIG_SETMASK, NULL, &now);
    cr_assert(!sigismember(&now, SIGTERM), "the signal mask was not given back");
}

Test(altstack, the_same_writes_on_the_callers_stack_fault)
{
    struct probe p = {0};
    probe(&p);
    pid_t kid = fork_sleeper();
    probe(&p);
    kill(kid, SIGKILL);
    waitpid(kid, NULL, 0);
    cr_assert_geq(p.faults, 1, "the host's stack did not fault after fork: the test above measures nothing");
}

Test(altstack, a_child_runs_on_its_own_stack_then_makes_one, .init = setup)
{
    int pipefd[2];
    struct probe p = {0};
    cr_assert_eq(pipe(pipefd), 0);
    altstack_run(probe, &p);
    pid_t first = fork_sleeper();   /* the parent forks: its stack is in use from now on */
    kill(first, SIGKILL);
    waitpid(first, NULL, 0);
    pid_t kid = fork();
    if (kid == 0) {
        struct probe c = {0}, d = {0};
        altstack_run(probe, &c);   /* the parent's stack is not in this process */
        pid_t grandkid = fork_sleeper();
        altstack_run(probe, &d);   /* its own, now that it forks too */
        kill(grandkid, SIGKILL);
        waitpid(grandkid, NULL, 0);
        int result[2] = {far_apart(c.frame, here()), far_apart(d.frame, here())};
        (void)!write(pipefd[1], result, sizeof(result));
        _exit(0);
    }
    int result[2] = {-1, -1};
    cr_assert_eq(read(pipefd[0], result, sizeof(result)), (ssize_t)sizeof(result));
    waitpid(kid, NULL, 0);
    cr_assert_eq(result[0], 0, "the child used a stack it does not have");
    cr_assert_eq(result[1], 1, "the child, once it forked, did not use a stack of its own");
    altstack_run(probe, &p);
    cr_assert(far_apart(p.frame, here()), "the parent lost its stack");
}
