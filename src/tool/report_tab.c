/* Hash tables with a ceiling: growth by doubling up to a fixed number of entries, then
 * overflow counters (strings, hours) or eviction of the lightest half (IPs, whose
 * counts then carry a stated error bound). Nothing is allocated per line. */
#include <stdlib.h>
#include <string.h>

#include "report.h"

static uint64_t hash_bytes(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = 0x9e3779b97f4a7c15ull ^ (len * 0xff51afd7ed558ccdull);
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0x100000001b3ull;
        h ^= h >> 29;
        p += 8;
        len -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, p, len);
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 32;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

/* ---- strings ---- */

void strtab_init(struct strtab *t, size_t max_keys, size_t max_arena)
{
    memset(t, 0, sizeof(*t));
    t->max = max_keys;
    t->amax = max_arena;
}

void strtab_free(struct strtab *t)
{
    free(t->slots);
    free(t->e);
    free(t->arena);
    memset(t, 0, sizeof(*t));
}

static bool strtab_grow_slots(struct strtab *t)
{
    size_t n = t->nslots ? t->nslots * 2 : 256;
    uint32_t *slots = calloc(n, sizeof(*slots));
    if (slots == NULL)
        return false;
    for (size_t i = 0; i < t->n; i++) {
        size_t s = t->e[i].hash & (n - 1);
        while (slots[s])
            s = (s + 1) & (n - 1);
        slots[s] = (uint32_t)i + 1;
    }
    free(t->slots);
    t->slots = slots;
    t->nslots = n;
    return true;
}

static bool arena_put(struct strtab *t, const char *s, size_t len, uint32_t *off)
{
    if (t->alen + len > t->acap) {
        size_t cap = t->acap ? t->acap : 4096;
        while (cap < t->alen + len)
            cap *= 2;
        if (cap > t->amax)
            cap = t->amax;
        if (t->alen + len > cap)
            return false;
        char *grown = realloc(t->arena, cap);
        if (grown == NULL)
            return false;
        t->arena = grown;
        t->acap = cap;
    }
    if (len)                 /* an empty key may come first, before there is an arena */
        memcpy(t->arena + t->alen, s, len);
    *off = (uint32_t)t->alen;
    t->alen += len;
    return true;
}

struct sent *strtab_add(struct strtab *t, const char *key, size_t len, int verdict, uint64_t weight)
{
    uint64_t h = hash_bytes(key, len);
    if (t->nslots) {
        size_t s = h & (t->nslots - 1);
        for (uint32_t i; (i = t->slots[s]) != 0; s = (s + 1) & (t->nslots - 1)) {
            struct sent *e = &t->e[i - 1];
            if (e->hash == h && e->len == len && memcmp(strtab_key(t, e), key, len) == 0) {
                e->n[verdict] += weight;
                e->total += weight;
                return e;
            }
        }
    }
    if (t->n >= t->max)
        goto overflow;
    if ((t->n + 1) * 2 > t->nslots && !strtab_grow_slots(t))
        goto overflow;
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        struct sent *grown = realloc(t->e, cap * sizeof(*grown));
        if (grown == NULL)
            goto overflow;
        t->e = grown;
        t->cap = cap;
    }
    uint32_t off;
    if (!arena_put(t, key, len, &off))
        goto overflow;
    struct sent *e = &t->e[t->n];
    memset(e, 0, sizeof(*e));
    e->hash = h;
    e->off = off;
    e->len = (uint32_t)len;
    e->n[verdict] = weight;
    e->total = weight;
    size_t s = h & (t->nslots - 1);
    while (t->slots[s])
        s = (s + 1) & (t->nslots - 1);
    t->slots[s] = (uint32_t)++t->n;
    return e;
overflow:
    t->overflow[verdict] += weight;
    t->overflow_total += weight;
    return NULL;
}

const char *strtab_key(const struct strtab *t, const struct sent *e)
{
    return t->arena ? t->arena + e->off : ""; /* only empty keys so far: no arena */
}

void strtab_set_aux(struct strtab *t, struct sent *e, const char *s, size_t len)
{
    uint32_t off;
    if (e->aux_len || len == 0)
        return;
    if (arena_put(t, s, len, &off)) {
        e->aux_off = off;
        e->aux_len = (uint32_t)len;
    }
}

/* ---- IPs ---- */

static uint64_t ip_hash(const struct ipkey *k)
{
    uint64_t a, b;
    memcpy(&a, k->ip, 8);
    memcpy(&b, k->ip + 8, 8);
    uint64_t h = (a * 0x9e3779b97f4a7c15ull) ^ (b + k->family) * 0xc2b2ae3d27d4eb4full;
    h ^= h >> 31;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 29;
    return h;
}

void iptab_init(struct iptab *t, size_t max_ips)
{
    memset(t, 0, sizeof(*t));
    t->max = max_ips < 16 ? 16 : max_ips;
}

void iptab_free(struct iptab *t)
{
    free(t->e);
    memset(t, 0, sizeof(*t));
}

static void ip_insert(struct ient *slots, size_t nslots, const struct ient *e)
{
    size_t s = ip_hash(&e->key) & (nslots - 1);
    while (slots[s].used)
        s = (s + 1) & (nslots - 1);
    slots[s] = *e;
}

static bool iptab_resize(struct iptab *t, size_t nslots)
{
    struct ient *slots = calloc(nslots, sizeof(*slots));
    if (slots == NULL)
        return false;
    for (size_t i = 0; i < t->nslots; i++)
        if (t->e[i].used)
            ip_insert(slots, nslots, &t->e[i]);
    free(t->e);
    t->e = slots;
    t->nslots = nslots;
    return true;
}

static uint64_t weight_of(const struct ient *e)
{
    return (uint64_t)e->blocks + (uint64_t)(e->karma < 0 ? -(int64_t)e->karma : e->karma);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Full: the lighter half goes (everything at or below the median weight). The heaviest
 * weight that went bounds what any later count can be missing. */
static void iptab_evict(struct iptab *t)
{
    uint64_t *w = malloc(t->n * sizeof(*w));
    size_t k = 0;
    if (w == NULL)
        return;
    for (size_t i = 0; i < t->nslots; i++)
        if (t->e[i].used)
            w[k++] = weight_of(&t->e[i]);
    qsort(w, k, sizeof(*w), cmp_u64);
    uint64_t median = w[k / 2];
    free(w);
    struct ient *old = t->e;
    size_t nold = t->nslots;
    t->e = calloc(nold, sizeof(*t->e));
    if (t->e == NULL) {
        t->e = old;
        return;
    }
    t->n = 0;
    for (size_t i = 0; i < nold; i++) {
        if (!old[i].used)
            continue;
        uint64_t wt = weight_of(&old[i]);
        if (wt <= median) {
            t->evicted_entries++;
            if (wt > t->evicted_max)
                t->evicted_max = wt;
            continue;
        }
        ip_insert(t->e, nold, &old[i]);
        t->n++;
    }
    free(old);
    t->evictions++;
}

void iptab_add(struct iptab *t, const struct ipkey *k, uint32_t blocks, int64_t karma, uint32_t karma_lines,
               int64_t karma_total)
{
    uint32_t fleet = karma_total < 0 ? 0 : karma_total > UINT32_MAX ? UINT32_MAX : (uint32_t)karma_total;
    if (t->nslots) {
        size_t s = ip_hash(k) & (t->nslots - 1);
        for (; t->e[s].used; s = (s + 1) & (t->nslots - 1)) {
            struct ient *e = &t->e[s];
            if (e->key.family == k->family && memcmp(e->key.ip, k->ip, 16) == 0) {
                e->blocks += blocks;
                int64_t sum = (int64_t)e->karma + karma;
                e->karma = sum < INT32_MIN ? INT32_MIN : sum > INT32_MAX ? INT32_MAX : (int32_t)sum;
                e->karma_lines += karma_lines;
                if (fleet > e->karma_total_max)
                    e->karma_total_max = fleet;
                return;
            }
        }
    }
    if (t->n >= t->max)
        iptab_evict(t);
    if ((t->n + 1) * 2 > t->nslots && !iptab_resize(t, t->nslots ? t->nslots * 2 : 1024))
        return;
    struct ient e = {.key = *k, .used = 1, .blocks = blocks, .karma = (int32_t)karma, .karma_lines = karma_lines,
                     .karma_total_max = fleet};
    ip_insert(t->e, t->nslots, &e);
    t->n++;
}

/* ---- hours ---- */

void hourtab_init(struct hourtab *t, size_t max_hours)
{
    memset(t, 0, sizeof(*t));
    t->max = max_hours;
}

void hourtab_free(struct hourtab *t)
{
    free(t->e);
    memset(t, 0, sizeof(*t));
}

static size_t hour_slot(int64_t hour, size_t nslots)
{
    return ((uint64_t)hour * 0x9e3779b97f4a7c15ull >> 17) & (nslots - 1);
}

static bool hourtab_resize(struct hourtab *t, size_t nslots)
{
    struct hent *slots = calloc(nslots, sizeof(*slots));
    if (slots == NULL)
        return false;
    for (size_t i = 0; i < t->nslots; i++) {
        if (!t->e[i].used)
            continue;
        size_t s = hour_slot(t->e[i].hour, nslots);
        while (slots[s].used)
            s = (s + 1) & (nslots - 1);
        slots[s] = t->e[i];
    }
    free(t->e);
    t->e = slots;
    t->nslots = nslots;
    t->last = NULL;
    return true;
}

void hourtab_add(struct hourtab *t, int64_t hour, int verdict, uint64_t weight)
{
    struct hent *e = t->last;
    if (e == NULL || e->hour != hour) {
        e = NULL;
        if (t->nslots) {
            size_t s = hour_slot(hour, t->nslots);
            for (; t->e[s].used; s = (s + 1) & (t->nslots - 1))
                if (t->e[s].hour == hour) {
                    e = &t->e[s];
                    break;
                }
        }
        if (e == NULL) {
            if (t->n >= t->max || ((t->n + 1) * 2 > t->nslots && !hourtab_resize(t, t->nslots ? t->nslots * 2 : 256))) {
                t->overflow += weight;
                return;
            }
            size_t s = hour_slot(hour, t->nslots);
            while (t->e[s].used)
                s = (s + 1) & (t->nslots - 1);
            e = &t->e[s];
            e->used = 1;
            e->hour = hour;
            t->n++;
        }
        t->last = e;
    }
    e->n[verdict] += weight;
    e->total += weight;
}
