/* munmap(), and MAP_FIXED over managed ranges: write back what was stored in the range, cut it
 * out of the registry and give up its frames. Everything runs under the registry's write lock,
 * so no filler is mid-fill and no store fault is served meanwhile (a store to a page of the
 * range waits in the kernel); only evictors may be dropping a frame concurrently, and they are
 * waited out. */
#include <errno.h>
#include <sched.h>

#include "mapping.h"
#include "os.h"
#include "runtime.h"
#include "uffd.h"
#include "writeback.h"

struct cut {
    uintptr_t lo, hi; /* the range being unmapped or replaced */
};

static void flush_piece(struct um_mapping *m, uintptr_t lo, uintptr_t hi, void *arg)
{
    (void)arg;
    um_claim_and_flush(m, lo, hi, UM_FLUSH_KEEP_CLAIMED);
}

static void release_piece(struct um_mapping *m, uintptr_t lo, uintptr_t hi, void *arg)
{
    (void)arg;
    um_release_claimed(m, lo, hi);
}

static void drop_piece(struct um_mapping *m, uintptr_t lo, uintptr_t hi, void *arg)
{
    const struct cut *cut = arg;
    /* A frame reaching past the cut keeps no pages outside it either: it is clean now, and
     * its block is refilled, clipped to what remains, on the next fault. */
    um_drop_claimed(m, lo, hi, cut->lo, cut->hi);
}

static void free_orphan(struct um_mapping *m, void *arg)
{
    (void)arg;
    um_mapping_free(m);
}

static bool page_range(void *addr, size_t len, uintptr_t *lo, uintptr_t *hi)
{
    *lo = (uintptr_t)addr;
    *hi = *lo + um_page_up(len);
    return len != 0 && *lo % UM_PAGE == 0 && *hi > *lo;
}

/* Write back and claim every frame in [lo, hi); then either unmap the range (`unmap`) or leave
 * that to the caller's MAP_FIXED mapping, and forget it. -1 with errno on failure, in which
 * case everything is as it was (stores written back excepted). */
static int cut_locked(uintptr_t lo, uintptr_t hi, bool unmap)
{
    struct um_registry *r = &um_rt.registry;
    if (um_registry_reserve_cut(r))
        return -1;
    struct cut cut = {lo, hi};
    um_registry_for_each(r, lo, hi, flush_piece, &cut);
    if (unmap && um_os_munmap((void *)lo, hi - lo)) {
        int err = errno;
        um_registry_for_each(r, lo, hi, release_piece, &cut);
        errno = err;
        return -1;
    }
    um_registry_cut(r, lo, hi, drop_piece, free_orphan, &cut);
    /* Stores that waited on pages of the range retry now: after an unmap they fault as the
     * kernel would have them fault. */
    um_uffd_wake(um_rt.uffd, lo, hi - lo);
    return 0;
}

bool um_unmap(void *addr, size_t len, int *result)
{
    uintptr_t lo, hi;
    if (!page_range(addr, len, &lo, &hi) || um_registry_empty(&um_rt.registry))
        return false; /* the kernel answers invalid arguments itself */
    um_registry_wrlock(&um_rt.registry);
    bool ours = um_registry_overlaps(&um_rt.registry, lo, hi);
    if (ours)
        *result = cut_locked(lo, hi, true);
    um_registry_unlock(&um_rt.registry);
    return ours;
}

int um_forget_locked(void *addr, size_t len)
{
    uintptr_t lo, hi;
    if (page_range(addr, len, &lo, &hi) && um_registry_overlaps(&um_rt.registry, lo, hi))
        return cut_locked(lo, hi, false);
    return 0;
}

void um_forget(void *addr, size_t len)
{
    if (um_registry_empty(&um_rt.registry))
        return;
    um_registry_wrlock(&um_rt.registry);
    um_forget_locked(addr, len);
    um_registry_unlock(&um_rt.registry);
}
