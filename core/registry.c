#include "registry.h"

#include <errno.h>
#include <string.h>

#include "mapping.h"
#include "os.h"

int um_registry_init(struct um_registry *r)
{
    memset(r, 0, sizeof *r);
    return um_registry_init_lock(r);
}

int um_registry_init_lock(struct um_registry *r)
{
    memset(&r->lock, 0, sizeof r->lock);
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    int rc = pthread_rwlock_init(&r->lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    return rc ? -1 : 0;
}

void um_registry_rdlock(struct um_registry *r) { pthread_rwlock_rdlock(&r->lock); }
void um_registry_wrlock(struct um_registry *r) { pthread_rwlock_wrlock(&r->lock); }
void um_registry_unlock(struct um_registry *r) { pthread_rwlock_unlock(&r->lock); }

/* Index of the first entry whose end is above addr. */
static size_t first_ending_after(const struct um_registry *r, uintptr_t addr)
{
    size_t lo = 0, hi = r->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->entries[mid].end <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

const struct um_entry *um_registry_find(const struct um_registry *r, uintptr_t addr)
{
    size_t i = first_ending_after(r, addr);
    if (i < r->count && r->entries[i].start <= addr)
        return &r->entries[i];
    return NULL;
}

bool um_registry_overlaps(const struct um_registry *r, uintptr_t lo, uintptr_t hi)
{
    size_t i = first_ending_after(r, lo);
    return i < r->count && r->entries[i].start < hi;
}

void um_registry_for_each(const struct um_registry *r, uintptr_t lo, uintptr_t hi, um_cut_fn fn,
                          void *ctx)
{
    for (size_t i = first_ending_after(r, lo); i < r->count && r->entries[i].start < hi; i++) {
        const struct um_entry *e = &r->entries[i];
        fn(e, e->start > lo ? e->start : lo, e->end < hi ? e->end : hi, ctx);
    }
}

static int reserve(struct um_registry *r, size_t want)
{
    if (want <= r->capacity)
        return 0;
    size_t cap = r->capacity ? r->capacity * 2 : 64;
    while (cap < want)
        cap *= 2;
    struct um_entry *e = um_os_alloc(cap * sizeof *e);
    if (!e) {
        errno = ENOMEM;
        return -1;
    }
    if (r->count)
        memcpy(e, r->entries, r->count * sizeof *e);
    um_os_free(r->entries, r->capacity * sizeof *e);
    r->entries = e;
    r->capacity = cap;
    return 0;
}

static void publish(struct um_registry *r)
{
    if (r->count) {
        atomic_store_explicit(&r->published_lo, r->entries[0].start, memory_order_relaxed);
        atomic_store_explicit(&r->published_hi, r->entries[r->count - 1].end,
                              memory_order_relaxed);
    }
    atomic_store_explicit(&r->published_count, r->count, memory_order_relaxed);
}

int um_registry_reserve_cut(struct um_registry *r)
{
    return reserve(r, r->count + 1);
}

int um_registry_reserve(struct um_registry *r, size_t n)
{
    return reserve(r, r->count + n);
}

int um_registry_insert(struct um_registry *r, uintptr_t start, uintptr_t end, uint64_t off,
                       int prot, struct um_mapping *m)
{
    if (reserve(r, r->count + 1))
        return -1;
    size_t i = first_ending_after(r, start);
    memmove(&r->entries[i + 1], &r->entries[i], (r->count - i) * sizeof r->entries[0]);
    r->entries[i] = (struct um_entry){start, end, off, prot, false, m};
    r->count++;
    m->entries++;
    publish(r);
    return 0;
}

int um_registry_cut(struct um_registry *r, uintptr_t lo, uintptr_t hi, um_cut_fn on_cut,
                    um_orphan_fn on_orphan, void *ctx)
{
    size_t first = first_ending_after(r, lo);
    size_t last = first; /* one past the last overlapping entry */
    while (last < r->count && r->entries[last].start < hi)
        last++;
    if (first == last)
        return 0;
    /* At most one entry (one that strictly contains [lo, hi)) splits in two. */
    if (reserve(r, r->count + 1))
        return -1;
    for (size_t i = first; i < last; i++) {
        struct um_entry *e = &r->entries[i];
        if (on_cut)
            on_cut(e, e->start > lo ? e->start : lo, e->end < hi ? e->end : hi, ctx);
    }
    /* Only the first overlapping entry can start below lo and only the last can end above
     * hi, so at most two pieces survive. */
    struct um_entry keep[2];
    size_t nkeep = 0;
    for (size_t i = first; i < last; i++) {
        struct um_entry e = r->entries[i];
        size_t before = nkeep;
        if (e.start < lo)
            keep[nkeep++] = (struct um_entry){e.start, lo, e.off, e.prot, e.dontfork, e.map};
        if (e.end > hi)
            keep[nkeep++] =
                (struct um_entry){hi, e.end, um_entry_off(&e, hi), e.prot, e.dontfork, e.map};
        e.map->entries += (unsigned)(nkeep - before);
        if (--e.map->entries == 0 && on_orphan)
            on_orphan(e.map, ctx); /* nothing below touches e.map again */
    }
    size_t tail = r->count - last;
    memmove(&r->entries[first + nkeep], &r->entries[last], tail * sizeof r->entries[0]);
    memcpy(&r->entries[first], keep, nkeep * sizeof keep[0]);
    r->count = first + nkeep + tail;
    publish(r);
    return 0;
}

/* Split the entry strictly containing addr, if any, in two at addr. Room reserved. */
static void split_at(struct um_registry *r, uintptr_t addr)
{
    size_t i = first_ending_after(r, addr);
    if (i == r->count || r->entries[i].start >= addr)
        return;
    struct um_entry *e = &r->entries[i];
    memmove(&r->entries[i + 1], e, (r->count - i) * sizeof *e);
    r->entries[i].end = addr;
    r->entries[i + 1].start = addr;
    r->entries[i + 1].off = um_entry_off(e, addr);
    e->map->entries++;
    r->count++;
}

/* Whether b continues a in address, file offset, mapping and protection. */
static bool continues(const struct um_entry *a, const struct um_entry *b)
{
    return a->end == b->start && um_entry_off(a, a->end) == b->off && a->map == b->map &&
           a->prot == b->prot && a->dontfork == b->dontfork;
}

/* Set what the program changed of [lo, hi): prot, unless -1; dontfork, unless -1. */
static int set_attributes(struct um_registry *r, uintptr_t lo, uintptr_t hi, int prot,
                          int dontfork)
{
    if (reserve(r, r->count + 2))
        return -1;
    split_at(r, lo);
    split_at(r, hi);
    size_t first = first_ending_after(r, lo), last = first;
    for (; last < r->count && r->entries[last].start < hi; last++) {
        if (prot != -1)
            r->entries[last].prot = prot;
        if (dontfork != -1)
            r->entries[last].dontfork = dontfork;
    }
    /* Pieces that match again are one entry again, as the kernel merges its areas: a later
     * mremap() of the whole must find one. */
    size_t i = first ? first - 1 : 0;
    while (i + 1 < r->count && i <= last) {
        if (continues(&r->entries[i], &r->entries[i + 1])) {
            r->entries[i].end = r->entries[i + 1].end;
            r->entries[i].map->entries--;
            memmove(&r->entries[i + 1], &r->entries[i + 2],
                    (r->count - i - 2) * sizeof r->entries[0]);
            r->count--;
            last--;
        } else {
            i++;
        }
    }
    publish(r);
    return 0;
}

int um_registry_set_prot(struct um_registry *r, uintptr_t lo, uintptr_t hi, int prot)
{
    return set_attributes(r, lo, hi, prot, -1);
}

int um_registry_set_dontfork(struct um_registry *r, uintptr_t lo, uintptr_t hi, bool dontfork)
{
    return set_attributes(r, lo, hi, -1, dontfork);
}
