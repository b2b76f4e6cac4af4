/* munmap(), and MAP_FIXED over managed ranges: cut the range out of the registry and give up
 * the frames that lie in it. Everything runs under the registry's write lock, so no filler is
 * mid-fill anywhere; only evictors may be dropping a frame concurrently. */
#include <errno.h>
#include <sched.h>

#include "mapping.h"
#include "os.h"
#include "runtime.h"

struct cut {
    uintptr_t lo, hi; /* the range being unmapped or replaced */
};

static void drop_frames(struct um_mapping *m, uintptr_t lo, uintptr_t hi, void *arg)
{
    const struct cut *cut = arg;
    size_t last = um_mapping_block(m, hi - 1);
    for (size_t k = um_mapping_block(m, lo); k <= last; k++) {
        for (;;) {
            uint32_t s = atomic_load(&m->slots[k]);
            if (s == 0)
                break;
            if (um_cache_claim(&um_rt.cache, s - 1)) {
                /* A frame reaching past the cut keeps no pages outside it either: its block is
                 * refilled, clipped to what remains, on the next fault. */
                um_cache_drop(&um_rt.cache, s - 1, cut->lo, cut->hi);
                break;
            }
            sched_yield(); /* an evictor is dropping it; the slot clears when it is done */
        }
    }
}

static void free_orphan(struct um_mapping *m, void *arg)
{
    (void)arg;
    um_mapping_free(m);
}

static int cut_locked(uintptr_t lo, uintptr_t hi)
{
    struct cut cut = {lo, hi};
    return um_registry_cut(&um_rt.registry, lo, hi, drop_frames, free_orphan, &cut);
}

static bool page_range(void *addr, size_t len, uintptr_t *lo, uintptr_t *hi)
{
    *lo = (uintptr_t)addr;
    *hi = *lo + um_page_up(len);
    return len != 0 && *lo % UM_PAGE == 0 && *hi > *lo;
}

bool um_unmap(void *addr, size_t len, int *result)
{
    uintptr_t lo, hi;
    if (!page_range(addr, len, &lo, &hi) || um_registry_empty(&um_rt.registry))
        return false; /* the kernel answers invalid arguments itself */
    um_registry_wrlock(&um_rt.registry);
    if (!um_registry_overlaps(&um_rt.registry, lo, hi)) {
        um_registry_unlock(&um_rt.registry);
        return false;
    }
    /* Unmap first: if the kernel refuses (ENOMEM), the mapping stays whole and tracked. The
     * cut that follows cannot fail once its room is reserved. */
    if (um_registry_reserve_cut(&um_rt.registry)) {
        *result = -1;
    } else {
        *result = um_os_munmap(addr, len);
        if (*result == 0)
            cut_locked(lo, hi);
    }
    um_registry_unlock(&um_rt.registry);
    return true;
}

int um_forget_locked(void *addr, size_t len)
{
    uintptr_t lo, hi;
    if (page_range(addr, len, &lo, &hi) && um_registry_overlaps(&um_rt.registry, lo, hi))
        return cut_locked(lo, hi);
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
