/* Memory for the few objects the library writes on every connection (the log writer, the
 * regexes' match data and lock), kept out of the way of fork().
 *
 * After fork() every private page both processes map is copy-on-write: the first write to it
 * by the parent (of a fork-per-connection server, after every fork) takes a page fault, a copy
 * and, on a virtual machine, a flush of the other CPUs' TLBs: measured at ~55 us a page on a
 * 2-core VM, ~5% of such a server's connections/s per page. These objects therefore live in one
 * MAP_SHARED anonymous region, whose pages fork() never write-protects.
 *
 * A forked child must not write them while it still shares them with its parent. It knows it
 * does without a fork handler's write (which would itself copy a page in every child): the
 * region's state lives in a page mapped MADV_WIPEONFORK, which a child finds zeroed, and zero
 * means "shared with the parent". The first use in the child (hotmem_enter(), called by every
 * function that writes these objects) then replaces the region, at the same address, by a
 * private copy, so every pointer into it stays valid, and runs the owners' hooks (locks a
 * parent's thread may have held are made new). A child that never uses them (the usual child
 * of a fork-per-connection server) pays nothing. The same page holds other per-process state
 * that a child must find empty (hotmem_process_local()). Where MADV_WIPEONFORK is missing
 * (kernels before 4.14) the fork handler marks the state instead (hotmem_after_fork_child).
 * (A child of a raw clone() without the fork handlers would, on such a kernel, share them: no
 * daemon does that and then accepts.)
 *
 * A bump allocator: nothing is given back (the objects live as long as the process);
 * hotmem_free() of a pointer outside the region frees it with free(). An allocation that does
 * not fit, or a region that could not be mapped, falls back to calloc(). */
#ifndef P0FSHIM_HOTMEM_H
#define P0FSHIM_HOTMEM_H

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

/* Zeroed, 64-byte aligned; NULL only when calloc() fails too. */
void *hotmem_alloc(size_t size);
/* free() for memory outside the region; nothing for memory inside it. */
void hotmem_free(void *p);
bool hotmem_owns(const void *p);
/* After the region became a child's own: fn(arg) (at most HOTMEM_HOOKS of them; registered
 * where the objects are made, before any fork). */
void hotmem_at_privatise(void (*fn)(void *), void *arg);
/* The fork handler's part, in the child: nothing where the kernel wipes the state page. */
void hotmem_after_fork_child(void);
/* Whether it does (the fork handler then has nothing to do for hotmem). */
bool hotmem_wipes_on_fork(void);
/* Zeroed memory, 64-byte aligned, that every forked child finds zeroed again (before the
 * child's first write, without any write by a fork handler); NULL where the kernel cannot
 * wipe a page on fork, or when the HOTMEM_LOCAL_SIZE bytes are used up. Call before any fork. */
void *hotmem_process_local(size_t size);

/* The region's state: shared with a parent (a forked child's zeroed page), this process's,
 * being made this process's by another thread, or could not be. */
enum hotmem_state { HOTMEM_SHARED = 0, HOTMEM_OURS = 1, HOTMEM_COPYING = 2, HOTMEM_FAILED = 3 };
extern atomic_int *hotmem_state;
void hotmem_privatise(void);
/* Before writing into the region. false: the region could not be made this process's own (the
 * caller must not write it). */
static inline bool hotmem_enter(void)
{
    if (__builtin_expect(atomic_load_explicit(hotmem_state, memory_order_acquire) != HOTMEM_OURS, 0))
        hotmem_privatise();
    return atomic_load_explicit(hotmem_state, memory_order_acquire) == HOTMEM_OURS;
}

/* errno back to the caller's value, written only if it changed: errno lives in the thread's
 * block, a private page that a fork-per-connection server's parent would copy after each fork
 * for a write of the same value. */
static inline void errno_restore(int saved)
{
    if (errno != saved)
        errno = saved;
}

#endif
