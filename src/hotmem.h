/* Memory for the few objects the library writes on every connection (the log writer, the
 * regexes' match data and lock), kept out of the way of fork().
 *
 * After fork() every private page both processes map is copy-on-write: the first write to it
 * by the parent (of a fork-per-connection server, after every fork) takes a page fault, a copy
 * and, on a virtual machine, a flush of the other CPUs' TLBs: measured at ~55 us a page on a
 * 2-core VM, ~5% of such a server's connections/s per page. These objects therefore live in one
 * MAP_SHARED anonymous region, whose pages fork() never write-protects.
 *
 * A forked child must not write them while it still shares them with its parent: the fork
 * handler only marks the region pending (hotmem_after_fork_child), and the first use in the
 * child (hotmem_enter(), called by every function that writes these objects) replaces the
 * region, at the same address, by a private copy, so every pointer into it stays valid, then
 * runs the owners' hooks (locks a parent's thread may have held are made new). A child that
 * never uses them (the usual child of a fork-per-connection server) pays nothing. (A child of
 * a raw clone() without the fork handlers would share them: no daemon does that and then
 * accepts.)
 *
 * A bump allocator: nothing is given back (the objects live as long as the process);
 * hotmem_free() of a pointer outside the region frees it with free(). An allocation that does
 * not fit, or a region that could not be mapped, falls back to calloc(). */
#ifndef P0FSHIM_HOTMEM_H
#define P0FSHIM_HOTMEM_H

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
/* The fork handler's part, in the child: no write to the region, only a mark. */
void hotmem_after_fork_child(void);

extern atomic_int hotmem_pending;   /* 1: this process still shares the region with its parent */
void hotmem_privatise(void);
/* Before writing into the region. false: the region could not be made this process's own (the
 * caller must not write it). */
static inline bool hotmem_enter(void)
{
    if (__builtin_expect(atomic_load_explicit(&hotmem_pending, memory_order_acquire) != 0, 0))
        hotmem_privatise();
    return atomic_load_explicit(&hotmem_pending, memory_order_acquire) == 0;
}

#endif
