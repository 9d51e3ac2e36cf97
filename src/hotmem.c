/* Memory kept out of fork()'s copy-on-write (see hotmem.h). */
#include "hotmem.h"

#include <sched.h>
#include <stddef.h>
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

/* The page a forked child finds zeroed (MADV_WIPEONFORK): the region's state first, then
 * hotmem_process_local()'s allocations. */
struct process_page {
    atomic_int state;
    char pad[60];
    char local[];
};
static struct process_page *page;       /* NULL: not made yet, or the kernel cannot wipe */
static bool page_tried;
static size_t local_used;
static atomic_int fallback_state = HOTMEM_OURS;   /* marked by the fork handler instead */
atomic_int *hotmem_state = &fallback_state;

static void make_process_page(void)
{
    if (page_tried)
        return;
    page_tried = true;
    void *p = mmap(NULL, HOTMEM_LOCAL_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return;
    if (madvise(p, HOTMEM_LOCAL_PAGE, MADV_WIPEONFORK) != 0) {
        munmap(p, HOTMEM_LOCAL_PAGE);
        return;
    }
    page = p;
    atomic_store(&page->state, HOTMEM_OURS);
    hotmem_state = &page->state;
}

void *hotmem_process_local(size_t size)
{
    size_t rounded = (size + 63) & ~(size_t)63;
    make_process_page();
    if (page == NULL || rounded > HOTMEM_LOCAL_PAGE - offsetof(struct process_page, local) - local_used)
        return NULL;
    void *p = page->local + local_used;
    local_used += rounded;
    return p;
}

void *hotmem_alloc(size_t size)
{
    size_t rounded = (size + 63) & ~(size_t)63;
    make_process_page();
    if (region == NULL) {
        void *r = mmap(NULL, HOTMEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (r != MAP_FAILED)
            region = r;
    }
    if (region == NULL || atomic_load(hotmem_state) != HOTMEM_OURS || rounded > HOTMEM_SIZE - used ||
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

bool hotmem_wipes_on_fork(void)
{
    make_process_page();
    return page != NULL;
}

void hotmem_after_fork_child(void)
{
    if (page == NULL && ((region && used) || nhooks))
        atomic_store(&fallback_state, HOTMEM_SHARED);
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
    int expected = HOTMEM_SHARED;
    if (atomic_compare_exchange_strong(hotmem_state, &expected, HOTMEM_COPYING)) {
        if (region && used && make_private() != 0) {
            atomic_store_explicit(hotmem_state, HOTMEM_FAILED, memory_order_release);
            return;
        }
        for (size_t i = 0; i < nhooks; i++)
            hooks[i].fn(hooks[i].arg);
        atomic_store_explicit(hotmem_state, HOTMEM_OURS, memory_order_release);
        return;
    }
    while (atomic_load_explicit(hotmem_state, memory_order_acquire) == HOTMEM_COPYING)   /* another thread copies */
        sched_yield();
}
