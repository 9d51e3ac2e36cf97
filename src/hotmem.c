/* Memory kept out of fork()'s copy-on-write (see hotmem.h). */
#include "hotmem.h"

#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "tunables.h"

static char *region;             /* HOTMEM_SIZE bytes, MAP_SHARED until a child privatises it */
static size_t used;
static struct {
    void (*fn)(void *);
    void *arg;
} hooks[HOTMEM_HOOKS];
static size_t nhooks;

/* 0: ours; 1: shared with the parent; 2: being made ours by a thread; 3: could not be. */
atomic_int hotmem_pending;

void *hotmem_alloc(size_t size)
{
    size_t rounded = (size + 63) & ~(size_t)63;
    if (region == NULL) {
        void *r = mmap(NULL, HOTMEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (r != MAP_FAILED)
            region = r;
    }
    if (region == NULL || atomic_load(&hotmem_pending) != 0 || rounded > HOTMEM_SIZE - used ||
        rounded > HOTMEM_OBJECT_MAX)
        return calloc(1, size);
    void *p = region + used;
    used += rounded;
    return p;   /* zero: fresh pages of the mapping */
}

bool hotmem_owns(const void *p)
{
    return region && (const char *)p >= region && (const char *)p < region + HOTMEM_SIZE;
}

void hotmem_free(void *p)
{
    if (p && !hotmem_owns(p))
        free(p);
}

void hotmem_at_privatise(void (*fn)(void *), void *arg)
{
    if (nhooks < HOTMEM_HOOKS)
        hooks[nhooks++] = (typeof(hooks[0])){fn, arg};
}

void hotmem_after_fork_child(void)
{
    if ((region && used) || nhooks)
        atomic_store(&hotmem_pending, 1);
}

/* The whole used part is copied (a few pages, once per child that uses the library): asking
 * which pages exist (mincore) would miss one the parent's memory swapped out. */
static int make_private(void)
{
    size_t len = (used + 4095) & ~(size_t)4095;
    char *copy = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (copy == MAP_FAILED)
        return -1;
    memcpy(copy, region, used);
    void *r = mmap(region, HOTMEM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE,
                   -1, 0);
    if (r == MAP_FAILED) {
        munmap(copy, len);
        return -1;
    }
    memcpy(region, copy, used);
    munmap(copy, len);
    return 0;
}

void hotmem_privatise(void)
{
    int expected = 1;
    if (atomic_compare_exchange_strong(&hotmem_pending, &expected, 2)) {
        if (region && used && make_private() != 0) {
            atomic_store_explicit(&hotmem_pending, 3, memory_order_release);
            return;
        }
        for (size_t i = 0; i < nhooks; i++)
            hooks[i].fn(hooks[i].arg);
        atomic_store_explicit(&hotmem_pending, 0, memory_order_release);
        return;
    }
    while (atomic_load_explicit(&hotmem_pending, memory_order_acquire) == 2)   /* another thread copies */
        sched_yield();
}
