/* Connections over time, for the charts of `report --html`: one count per time bucket and
 * series (a verdict, or a genre), kept at the finest width the table has room for. It starts
 * at a minute; when the table is full, every count is merged into the next wider bucket (an
 * hour, then a day), so memory stays bounded however long or varied the log is. A table of
 * day buckets that is still full draws further genres as "other genres", and loses a count
 * only when even its reserve is full (the timeline says how many of each). Lines may
 * come in any order (several files, rotated ones): buckets are hashed, not appended. The
 * width the charts draw is chosen from the time range at the end (timeline_width_for). */
#include <stdlib.h>
#include <string.h>

#include "report.h"

const struct bucket_unit bucket_units[BUCKET_WIDTHS] = {
    [BUCKET_MINUTE] = {"minute", 60, 16},
    [BUCKET_HOUR] = {"hour", 3600, 16},
    [BUCKET_DAY] = {"day", 86400, 10},
};

/* A chart shows a range in minutes up to 6 hours (361 bars at most), in hours up to 14 days
 * (337 bars), beyond that in days: enough bars to see the rhythm of a day or a week, few
 * enough that each is wider than a pixel on a laptop's screen. */
#define MINUTES_UP_TO (6 * 3600)
#define HOURS_UP_TO (14 * 86400)

int64_t bucket_start(int64_t when, enum bucket_width width)
{
    int64_t s = bucket_units[width].seconds;
    int64_t rem = when % s;
    return when - (rem < 0 ? rem + s : rem);
}

void timeline_init(struct timeline *t, size_t max_cells)
{
    memset(t, 0, sizeof(*t));
    t->max = max_cells < 16 ? 16 : max_cells;
}

void timeline_free(struct timeline *t)
{
    free(t->c);
    memset(t, 0, sizeof(*t));
}

static size_t cell_slot(int64_t start, uint32_t series, size_t nslots)
{
    uint64_t h = ((uint64_t)start * 0x9e3779b97f4a7c15ull) ^ ((uint64_t)series * 0xc2b2ae3d27d4eb4full);
    h ^= h >> 29;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 32;
    return h & (nslots - 1);
}

/* The cell of (start, series) in slots, or the empty slot where it goes. */
static struct tcell *cell_find(struct tcell *slots, size_t nslots, int64_t start, uint32_t series)
{
    size_t s = cell_slot(start, series, nslots);
    while (slots[s].used && (slots[s].start != start || slots[s].series != series))
        s = (s + 1) & (nslots - 1);
    return &slots[s];
}

/* The cells rehashed into nslots slots at the table's width: cells that now share a bucket
 * are merged. false when out of memory (the table is unchanged). */
static bool cells_rebuild(struct timeline *t, size_t nslots)
{
    struct tcell *slots = calloc(nslots, sizeof(*slots));
    if (slots == NULL)
        return false;
    size_t n = 0;
    for (size_t i = 0; i < t->nslots; i++) {
        const struct tcell *old = &t->c[i];
        if (!old->used)
            continue;
        int64_t start = bucket_start(old->start, t->width);
        struct tcell *c = cell_find(slots, nslots, start, old->series);
        if (!c->used) {
            *c = (struct tcell){.start = start, .series = old->series, .used = 1};
            n++;
        }
        c->n += old->n;
    }
    free(t->c);
    t->c = slots;
    t->nslots = nslots;
    t->n = n;
    return true;
}

/* Genres may fill the table up to its last eighth, which is kept for the cells of the
 * verdicts, of "no genre" and of "other genres" (nine a bucket at most): so that a log of
 * countless genres still has every bucket's verdicts, and draws the genres it has no room
 * for as other genres rather than not at all. */
static size_t room_for(const struct timeline *t, uint32_t series)
{
    return series < SERIES_GENRE ? t->max : t->max - t->max / 8;
}

/* Every cell merged into the next wider bucket; false at days, or when out of memory. */
static bool coarsen(struct timeline *t)
{
    if (t->width + 1 >= BUCKET_WIDTHS)
        return false;
    t->width++;
    if (!cells_rebuild(t, t->nslots)) {
        t->width--;
        return false;
    }
    t->coarsened++;
    return true;
}

void timeline_add(struct timeline *t, int64_t when, uint32_t series, uint64_t weight)
{
    int64_t start = bucket_start(when, t->width);
    struct tcell *c = t->nslots ? cell_find(t->c, t->nslots, start, series) : NULL;
    if (c && c->used) {
        c->n += weight;
        return;
    }
    if (t->n >= room_for(t, series)) {
        if (coarsen(t)) {
            timeline_add(t, when, series, weight);
        } else if (series >= SERIES_GENRE) {
            t->folded += weight;
            timeline_add(t, when, SERIES_GENRE_OVERFLOW, weight);
        } else {
            t->dropped += weight;
        }
        return;
    }
    if ((t->n + 1) * 2 > t->nslots && !cells_rebuild(t, t->nslots ? t->nslots * 2 : 1024)) {
        t->dropped += weight;
        return;
    }
    c = cell_find(t->c, t->nslots, start, series);
    *c = (struct tcell){.start = start, .series = series, .used = 1, .n = weight};
    t->n++;
}

enum bucket_width timeline_width_for(const struct timeline *t, int64_t first, int64_t last)
{
    int64_t span = last - first;
    enum bucket_width w = span <= MINUTES_UP_TO ? BUCKET_MINUTE : span <= HOURS_UP_TO ? BUCKET_HOUR : BUCKET_DAY;
    return w > t->width ? w : t->width;
}

uint64_t timeline_sum(const struct timeline *t, enum bucket_width width, int64_t from, size_t nbuckets,
                      int (*column_of)(uint32_t series, const void *ctx), const void *ctx, uint64_t *out,
                      size_t ncolumns)
{
    int64_t s = bucket_units[width].seconds;
    uint64_t outside = 0;
    for (size_t i = 0; i < t->nslots; i++) {
        const struct tcell *c = &t->c[i];
        if (!c->used)
            continue;
        int col = column_of(c->series, ctx);
        if (col < 0 || (size_t)col >= ncolumns)
            continue;
        int64_t b = (bucket_start(c->start, width) - from) / s;
        if (c->start < from || b >= (int64_t)nbuckets)
            outside += c->n;
        else
            out[(size_t)b * ncolumns + (size_t)col] += c->n;
    }
    return outside;
}
