/* mremap() of a managed range: moved, grown, shrunk or duplicated (old size 0), the range keeps
 * mapping the same memfd at the same file offsets, so the blocks stay where they are and only
 * the registry and the domain's copies of its ranges change. The kernel drops the userfaultfd
 * registration of a range it moves (measured on 6.18: a moved or duplicated range faults no
 * more, and a touch of a punched page there would put zeros into the memfd); the new range is
 * registered again before mremap() returns it, and write-protected where stores are tracked,
 * since moved page-table entries lose their write-protect bit. */
#include <errno.h>
#include <sys/mman.h>

#include "domains.h"
#include "log.h"
#include "mapping.h"
#include "os.h"
#include "runtime.h"
#include "uffd.h"

#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif

struct remap {
    uintptr_t lo;
    size_t old_len, new_len;
    int flags;
    void *new_addr;
};

/* Register and track the range the kernel gave back. -1 if it cannot be registered. */
static int adopt(struct um_mapping *m, uint64_t off, int prot, uintptr_t p, size_t len)
{
    if (um_registry_insert(&um_rt.registry, p, p + len, off, prot, m))
        return -1;
    if (um_uffd_register(um_rt.uffd, p, len, m->wp)) {
        um_cut_locked(p, p + len, false);
        return -1;
    }
    /* Unchecked, a store to a page the move carried along could go unseen. */
    if (m->wp && m->shared && um_uffd_stop_stores(um_rt.uffd, p, len)) {
        um_cut_locked(p, p + len, false);
        return -1;
    }
    return um_domains_refresh(p, p + len, 0, 0);
}

static void *remap_locked(const struct remap *q)
{
    struct um_registry *r = &um_rt.registry;
    const struct um_entry *e = um_registry_find(r, q->lo);
    if (!e || (q->old_len && q->lo + q->old_len > e->end)) {
        errno = EFAULT; /* the kernel's answer for a range over more than one mapping */
        return MAP_FAILED;
    }
    struct um_mapping *m = e->map;
    uint64_t off = um_entry_off(e, q->lo);
    int prot = e->prot;
    size_t keep_len = q->old_len ? q->old_len : 0;
    if (off + q->new_len > UM_DOMAIN_MAX_BYTES) {
        errno = ENOMEM; /* past what a domain serves: refused rather than left unserved */
        return MAP_FAILED;
    }
    if (um_registry_reserve_cut(r) ||
        um_domains_refresh(q->lo, q->lo + keep_len, q->lo, q->lo + keep_len)) {
        errno = ENOMEM;
        return MAP_FAILED;
    }
    /* A MAP_FIXED target loses its managed ranges only if the kernel accepts the call; the
     * domains' copies of them go first, so that no evictor zaps what moves in there. */
    uintptr_t to = (uintptr_t)q->new_addr;
    bool fixed = q->flags & MREMAP_FIXED;
    if (fixed && um_domains_refresh(to, to + q->new_len, to, to + q->new_len)) {
        um_domains_refresh(q->lo, q->lo + keep_len, 0, 0);
        errno = ENOMEM;
        return MAP_FAILED;
    }
    void *p = um_os_mremap((void *)q->lo, q->old_len, q->new_len, q->flags, q->new_addr);
    if (p == MAP_FAILED) {
        int err = errno;
        um_domains_refresh(q->lo, q->lo + keep_len, 0, 0);
        if (fixed)
            um_domains_refresh(to, to + q->new_len, 0, 0);
        errno = err;
        return MAP_FAILED;
    }
    if (fixed)
        um_cut_locked(to, to + q->new_len, false); /* what the kernel replaced there */
    bool moved_out = q->old_len && !(q->flags & MREMAP_DONTUNMAP);
    m->entries++; /* the cut below must not free m, which the new range keeps using */
    if (moved_out)
        um_registry_cut(r, q->lo, q->lo + q->old_len, NULL, NULL, NULL);
    int rc = adopt(m, off, prot, (uintptr_t)p, q->new_len);
    if (--m->entries == 0) { /* the new range could not be kept either */
        um_view_unuse(um_here(m->dom));
        um_mapping_free(m);
    }
    if (rc) {
        /* Never leave the memfd mapped unregistered: the range goes, as if never remapped. */
        um_error("mremap(): the moved range cannot be registered again (%m); it is unmapped");
        um_os_munmap(p, q->new_len);
        errno = ENOMEM;
        p = MAP_FAILED;
    }
    if (moved_out)
        um_uffd_wake(um_rt.uffd, q->lo, q->old_len);
    um_domains_collect();
    return p;
}

bool um_mremap(void *old, size_t old_len, size_t new_len, int flags, void *new_addr,
               void **result)
{
    uintptr_t lo = (uintptr_t)old;
    if (um_registry_empty(&um_rt.registry) || lo % UM_PAGE)
        return false;
    struct remap q = {lo, um_page_up(old_len), um_page_up(new_len), flags, new_addr};
    um_registry_wrlock(&um_rt.registry);
    bool ours = um_registry_find(&um_rt.registry, lo) != NULL;
    if (ours)
        *result = remap_locked(&q);
    um_registry_unlock(&um_rt.registry);
    return ours;
}
