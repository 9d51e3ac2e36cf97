/* The shared stack of altstack.h. */
#include "altstack.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>

#include "hotmem.h"
#include "tunables.h"

#define GUARD 4096

/* At the top of the mapping: flags in the library's own data would be private pages written
 * after every fork. */
struct altstack_top {
    atomic_int busy;
    atomic_int forked;   /* this process has forked since the stack was made */
};

/* In hotmem's process page, which a forked child finds zeroed: a child has no stack (the mapping
 * is not inherited) until it makes its own. NULL: no switching in this process. */
struct altstack_local {
    struct altstack_top *top;
    atomic_int making;   /* one thread maps it */
    bool failed;
};
static struct altstack_local *local;

void altstack_init(void)
{
    if (local == NULL)
        local = hotmem_process_local(sizeof(*local));
}

#if defined(__x86_64__)
#define HAVE_SWITCH 1
/* call_on_stack(fn, arg, sp): fn(arg) with the stack pointer at sp (16-byte aligned). The
 * frame pointer keeps the caller's stack: the frame information says where the return address
 * and the saved frame pointer are, so unwinding continues on the caller's stack. */
__asm__(".text\n"
        ".p2align 4\n"
        ".hidden p0fshim_call_on_stack\n"
        ".type p0fshim_call_on_stack,@function\n"
        "p0fshim_call_on_stack:\n"
        "    .cfi_startproc\n"
#ifdef __CET__
        "    endbr64\n"
#endif
        "    pushq %rbp\n"
        "    .cfi_def_cfa_offset 16\n"
        "    .cfi_offset %rbp, -16\n"
        "    movq %rsp, %rbp\n"
        "    .cfi_def_cfa_register %rbp\n"
        "    movq %rdx, %rsp\n"
        "    movq %rdi, %rax\n"
        "    movq %rsi, %rdi\n"
        "    callq *%rax\n"
        "    movq %rbp, %rsp\n"
        "    popq %rbp\n"
        "    .cfi_def_cfa %rsp, 8\n"
        "    ret\n"
        "    .cfi_endproc\n"
        ".size p0fshim_call_on_stack, .-p0fshim_call_on_stack\n");
#elif defined(__aarch64__)
#define HAVE_SWITCH 1
__asm__(".text\n"
        ".p2align 2\n"
        ".hidden p0fshim_call_on_stack\n"
        ".type p0fshim_call_on_stack,%function\n"
        "p0fshim_call_on_stack:\n"
        "    .cfi_startproc\n"
        "    stp x29, x30, [sp, #-16]!\n"
        "    .cfi_def_cfa_offset 16\n"
        "    .cfi_offset x29, -16\n"
        "    .cfi_offset x30, -8\n"
        "    mov x29, sp\n"
        "    .cfi_def_cfa x29, 16\n"
        "    mov sp, x2\n"
        "    mov x3, x0\n"
        "    mov x0, x1\n"
        "    blr x3\n"
        "    mov sp, x29\n"
        "    .cfi_def_cfa sp, 16\n"
        "    ldp x29, x30, [sp], #16\n"
        "    .cfi_def_cfa_offset 0\n"
        "    .cfi_restore x29\n"
        "    .cfi_restore x30\n"
        "    ret\n"
        "    .cfi_endproc\n"
        ".size p0fshim_call_on_stack, .-p0fshim_call_on_stack\n");
#else
#define HAVE_SWITCH 0
#endif

#if HAVE_SWITCH
void p0fshim_call_on_stack(void (*fn)(void *), void *arg, void *sp);

/* The stack of this process, made now if it has none; NULL when it cannot be. MADV_DONTFORK:
 * fork() neither copies nor write-protects it (a child has no such mapping). */
static struct altstack_top *stack_of_process(void)
{
    struct altstack_top *t = __atomic_load_n(&local->top, __ATOMIC_ACQUIRE);
    if (t || __atomic_load_n(&local->failed, __ATOMIC_RELAXED))
        return t;
    int expected = 0;
    if (!atomic_compare_exchange_strong(&local->making, &expected, 1))
        return NULL;   /* another thread makes it: this call runs where it is */
    char *m = mmap(NULL, GUARD + ALTSTACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (m == MAP_FAILED || mprotect(m, GUARD, PROT_NONE) != 0 || madvise(m, GUARD + ALTSTACK_SIZE, MADV_DONTFORK) != 0) {
        if (m != MAP_FAILED)
            munmap(m, GUARD + ALTSTACK_SIZE);
        __atomic_store_n(&local->failed, true, __ATOMIC_RELAXED);
    } else {
        t = (struct altstack_top *)(m + GUARD + ALTSTACK_SIZE) - 1;
        __atomic_store_n(&local->top, t, __ATOMIC_RELEASE);
    }
    atomic_store(&local->making, 0);
    return t;
}

/* Held while the library runs on its stack: a host's handler that forked would leave its child
 * on a stack that child does not have, one that ran deep would need more than it holds. Not
 * the signals of a fault, which are the library's own bug and must reach the host's handler. */
static void hold_signals(sigset_t *before)
{
    sigset_t held;
    sigfillset(&held);
    sigdelset(&held, SIGSEGV);
    sigdelset(&held, SIGBUS);
    sigdelset(&held, SIGFPE);
    sigdelset(&held, SIGILL);
    sigdelset(&held, SIGTRAP);
    sigdelset(&held, SIGSYS);
    pthread_sigmask(SIG_BLOCK, &held, before);
}
#endif

void altstack_run(void (*fn)(void *), void *arg)
{
#if HAVE_SWITCH
    struct altstack_top *t = local ? stack_of_process() : NULL;
    /* Only a process that forks gains from it. */
    if (t && atomic_load_explicit(&t->forked, memory_order_relaxed)) {
        int idle = 0;
        if (atomic_compare_exchange_strong_explicit(&t->busy, &idle, 1, memory_order_acquire, memory_order_relaxed)) {
            sigset_t before;
            uintptr_t sp = ((uintptr_t)t - 64) & ~(uintptr_t)63;
            hold_signals(&before);
            p0fshim_call_on_stack(fn, arg, (void *)sp);
            pthread_sigmask(SIG_SETMASK, &before, NULL);
            atomic_store_explicit(&t->busy, 0, memory_order_release);
            return;
        }
    }
#endif
    fn(arg);
}

void altstack_before_fork(void)
{
    struct altstack_top *t = local ? __atomic_load_n(&local->top, __ATOMIC_ACQUIRE) : NULL;
    if (t && !atomic_load_explicit(&t->forked, memory_order_relaxed))
        atomic_store_explicit(&t->forked, 1, memory_order_relaxed);
}
