/* A stack for the library's work inside the host's accept(), kept out of the way of fork().
 *
 * After fork() every stack page the parent writes is copied first (see hotmem.h for what a
 * copied page costs). A fork-per-connection server's accept loop writes the one or two stack
 * pages of its own frames; the library's verdict (the SYN read and matched, the policy, the
 * log line) runs a few KiB deeper and would add its pages to every connection. altstack_run()
 * runs it instead on a stack of its own, mapped MADV_DONTFORK: fork() neither copies nor
 * write-protects it, and a child does not have it.
 *
 * One such stack per process, made at the first call and used once the process has forked (a
 * child finds none, its state zeroed by the kernel: hotmem.h's process page), by
 * one thread at a time, with the host's signals held (a handler never runs on it: one that
 * forked would leave its child on a stack the child does not have; only the signals of a fault,
 * the library's own bug, go through). A call runs on its
 * caller's stack instead when the stack is busy (another thread), in a process that never
 * forked (nothing to gain), on an architecture without the switch (x86-64 and AArch64 have
 * it), and when the mapping or that page failed. The switch keeps frame information, so debuggers and
 * unwinders walk through it to the host's frames. */
#ifndef P0FSHIM_ALTSTACK_H
#define P0FSHIM_ALTSTACK_H

/* Before any fork (the library's constructor): its state in hotmem's process page. */
void altstack_init(void);
/* fn(arg), on the shared stack when it can be, else on the caller's. */
void altstack_run(void (*fn)(void *), void *arg);
/* The fork handler's part, in the parent: it forks, so the stack is worth using from now on. */
void altstack_before_fork(void);

#endif
