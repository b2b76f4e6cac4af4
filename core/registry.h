/* Address ranges the process has managed, each pointing at its mapping.
 *
 * Locking: the fault path holds the read lock for the whole of one fill, so a mapping and the
 * address range it was looked up under cannot change or vanish while a filler copies into it.
 * map/unmap take the write lock; it prefers writers, so a stream of faults cannot starve a
 * munmap(). Readers do not block each other. */
#ifndef UM_REGISTRY_H
#define UM_REGISTRY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct um_mapping;

struct um_entry {
    uintptr_t start, end;
    uint64_t off; /* file offset of start: pieces of one mapping moved by mremap() differ */
    int prot;     /* the range's protection now: mprotect() changes it piece by piece */
    bool dontfork; /* madvise(MADV_DONTFORK): fork() children do not get it */
    struct um_mapping *map;
};

/* The file offset at addr, inside e. */
static inline uint64_t um_entry_off(const struct um_entry *e, uintptr_t addr)
{
    return e->off + (addr - e->start);
}

struct um_registry {
    pthread_rwlock_t lock;
    struct um_entry *entries; /* sorted by start, never overlapping */
    size_t count, capacity;
    _Atomic size_t published_count; /* count, readable without the lock for fast paths */
    _Atomic uintptr_t published_lo, published_hi; /* the lowest start, the highest end */
};

/* Called for each piece [lo, hi) of entry e that a walk meets or a cut removes (before the
 * entries change). */
typedef void (*um_cut_fn)(const struct um_entry *e, uintptr_t lo, uintptr_t hi, void *ctx);
/* Called once for a mapping no entry points to any more; it may free the mapping. */
typedef void (*um_orphan_fn)(struct um_mapping *m, void *ctx);

int um_registry_init(struct um_registry *r);
/* A fresh lock (in a fork() child, where the inherited one records the parent's thread). */
int um_registry_init_lock(struct um_registry *r);
void um_registry_rdlock(struct um_registry *r);
void um_registry_wrlock(struct um_registry *r);
void um_registry_unlock(struct um_registry *r);

static inline bool um_registry_empty(struct um_registry *r)
{
    return atomic_load_explicit(&r->published_count, memory_order_relaxed) == 0;
}

/* Whether [lo, hi) may overlap a managed range, without the lock: false for certain only if
 * no range was inserted or removed meanwhile (for a fast path that a program racing its own
 * mmap() with a use of the range cannot expect to be exact). */
static inline bool um_registry_may_overlap(struct um_registry *r, uintptr_t lo, uintptr_t hi)
{
    return !um_registry_empty(r) &&
           atomic_load_explicit(&r->published_lo, memory_order_relaxed) < hi &&
           lo < atomic_load_explicit(&r->published_hi, memory_order_relaxed);
}

/* With a lock held. */
const struct um_entry *um_registry_find(const struct um_registry *r, uintptr_t addr);
bool um_registry_overlaps(const struct um_registry *r, uintptr_t lo, uintptr_t hi);

/* Call fn for each piece [lo, hi) of a mapping that [lo, hi) overlaps. With a lock held. */
void um_registry_for_each(const struct um_registry *r, uintptr_t lo, uintptr_t hi, um_cut_fn fn,
                          void *ctx);

/* With the write lock held. Returns 0, or -1 with errno = ENOMEM. */
int um_registry_insert(struct um_registry *r, uintptr_t start, uintptr_t end, uint64_t off,
                       int prot, struct um_mapping *m);
/* With the write lock held: the protection of [lo, hi) is now prot, or whether fork children
 * get it is now !dontfork (entries split at lo and hi, and merged again where they match).
 * -1 with errno = ENOMEM (nothing changed). */
int um_registry_set_prot(struct um_registry *r, uintptr_t lo, uintptr_t hi, int prot);
int um_registry_set_dontfork(struct um_registry *r, uintptr_t lo, uintptr_t hi, bool dontfork);
/* Make room for the one entry a cut may add. Call before an irreversible step whose outcome
 * the cut records, so that the cut cannot fail after it. -1 with errno = ENOMEM. */
int um_registry_reserve_cut(struct um_registry *r);
/* Room for n more entries. -1 with errno = ENOMEM. */
int um_registry_reserve(struct um_registry *r, size_t n);
/* Remove [lo, hi) from every entry, splitting where needed (on_cut and on_orphan may be NULL). -1 with errno = ENOMEM (nothing
 * changed) when a split cannot get room; never after um_registry_reserve_cut succeeded. */
int um_registry_cut(struct um_registry *r, uintptr_t lo, uintptr_t hi, um_cut_fn on_cut,
                    um_orphan_fn on_orphan, void *ctx);

#endif
