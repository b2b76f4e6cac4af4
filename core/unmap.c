/* munmap(), and MAP_FIXED over managed ranges: cut the range out of the registry. The blocks
 * stay in their domain's memfd, as the kernel's page cache outlives a mapping: stores made
 * through the range are in them, dirty, and are written back by eviction, msync() or the end of
 * the domain. A domain no mapping uses any more is written back and freed (domains.c). Runs
 * under the registry's write lock, so no fill is in flight meanwhile. */
#include <errno.h>
#include <sys/mman.h>

#include "domains.h"
#include "mapping.h"
#include "log.h"
#include "os.h"
#include "runtime.h"
#include "shm.h"
#include "uffd.h"

static void ignore_piece(const struct um_entry *e, uintptr_t lo, uintptr_t hi, void *arg)
{
    (void)e;
    (void)lo;
    (void)hi;
    (void)arg;
}

void um_mapping_release(struct um_mapping *m, void *arg)
{
    (void)arg;
    um_view_unuse(um_here(m->dom));
    um_mapping_free(m);
}

static bool page_range(void *addr, size_t len, uintptr_t *lo, uintptr_t *hi)
{
    *lo = (uintptr_t)addr;
    *hi = *lo + um_page_up(len);
    return len != 0 && *lo % UM_PAGE == 0 && *hi > *lo;
}

int um_cut_locked(uintptr_t lo, uintptr_t hi, bool unmap)
{
    struct um_registry *r = &um_rt.registry;
    if (um_registry_reserve_cut(r))
        return -1;
    /* The domains' copies of the ranges lose [lo, hi) before the addresses do: an evictor must
     * never zap addresses that may be mapped afresh by the time it gets to them. */
    if (um_domains_refresh(lo, hi, lo, hi))
        return -1;
    if (unmap && um_os_munmap((void *)lo, hi - lo)) {
        int err = errno;
        um_domains_refresh(lo, hi, 0, 0);
        errno = err;
        return -1;
    }
    um_registry_cut(r, lo, hi, ignore_piece, um_mapping_release, NULL);
    um_domains_collect();
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
        *result = um_cut_locked(lo, hi, true);
    um_registry_unlock(&um_rt.registry);
    return ours;
}

int um_forget_locked(void *addr, size_t len)
{
    uintptr_t lo, hi;
    if (page_range(addr, len, &lo, &hi) && um_registry_overlaps(&um_rt.registry, lo, hi))
        return um_cut_locked(lo, hi, false);
    return 0;
}

bool um_map_fixed_over(void *addr, size_t len, int prot, int flags, int fd, off_t off,
                       void **result)
{
    uintptr_t lo, hi;
    if (!page_range(addr, len, &lo, &hi) || um_registry_empty(&um_rt.registry))
        return false;
    struct um_registry *r = &um_rt.registry;
    um_registry_wrlock(r);
    bool ours = um_registry_overlaps(r, lo, hi);
    /* The managed range goes only if the kernel takes the call: until then it stays
     * registered and known (a refused call must change nothing). Evictors lose it first, so
     * that they never zap what the kernel puts there. */
    if (ours && um_registry_reserve_cut(r) == 0 && um_domains_refresh(lo, hi, lo, hi) == 0) {
        *result = um_os_mmap(addr, len, prot, flags, fd, off);
        int err = errno;
        if (*result == MAP_FAILED)
            um_domains_refresh(lo, hi, 0, 0);
        else
            um_cut_locked(lo, hi, false);
        errno = err;
    } else if (ours) {
        *result = MAP_FAILED;
        errno = ENOMEM;
    }
    um_registry_unlock(r);
    return ours;
}

bool um_core_memory(uintptr_t lo, uintptr_t hi)
{
    return um_os_zone_overlaps(lo, hi) || um_shm_overlaps(lo, hi);
}

bool um_fixed_over_core(void *addr, size_t len)
{
    uintptr_t lo = (uintptr_t)addr, hi = lo + len < lo ? UINTPTR_MAX : lo + len;
    if (!len || !um_core_memory(lo, hi))
        return false;
    um_warn_once("a mapping at %p (+%zu) would replace the shim's own memory: refused with "
                 "ENOMEM", addr, len);
    errno = ENOMEM;
    return true;
}

void um_forget(void *addr, size_t len)
{
    if (um_registry_empty(&um_rt.registry))
        return;
    um_registry_wrlock(&um_rt.registry);
    um_forget_locked(addr, len);
    um_registry_unlock(&um_rt.registry);
}
