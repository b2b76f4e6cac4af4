/* read()/write() and the like on a file that is also mapped here must agree with the mapping,
 * as they do through the kernel's one page cache. A managed file is known by device and inode
 * (its domain), whatever descriptor or path is used. Before a read of a range, stores made
 * through mappings of it are written back; around a write (or a size change), they are written
 * back and the clean blocks dropped, so the next access through a mapping reads the file again.
 * The second pass after the call drops blocks a fault may have refilled from the old bytes
 * meanwhile, and sizes the domain's memfd as the file now is. */
#include <sys/stat.h>

#include "domains.h"
#include "runtime.h"
#include "writeback.h"

bool um_file_managed(const struct stat *st)
{
    if (!S_ISREG(st->st_mode) || um_registry_empty(&um_rt.registry))
        return false;
    um_registry_rdlock(&um_rt.registry);
    bool managed = um_domains_find(st->st_dev, st->st_ino) != NULL;
    um_registry_unlock(&um_rt.registry);
    return managed;
}

static void first_piece(const struct um_entry *e, uintptr_t lo, uintptr_t hi, void *ctx)
{
    (void)e;
    (void)hi;
    uintptr_t *first = ctx;
    if (lo < *first)
        *first = lo;
}

uintptr_t um_managed_run(uintptr_t lo, uintptr_t hi, int *prot)
{
    struct um_registry *r = &um_rt.registry;
    um_registry_rdlock(r);
    const struct um_entry *e = um_registry_find(r, lo);
    uintptr_t end = hi;
    *prot = e ? e->prot : -1;
    if (e)
        end = e->end < hi ? e->end : hi;
    else
        um_registry_for_each(r, lo, hi, first_piece, &end);
    um_registry_unlock(r);
    return end;
}

void um_file_sync(const struct stat *st, uint64_t off, uint64_t len, bool invalidate)
{
    if (len == 0)
        return;
    uint64_t hi = off + len < off ? UINT64_MAX : off + len;
    um_registry_rdlock(&um_rt.registry);
    struct um_view *v = um_domains_find(st->st_dev, st->st_ino);
    struct um_domain *d = v ? v->dom : NULL;
    int shrink = 0;
    if (d) {
        um_domain_flush(d, off, hi, invalidate ? UM_FLUSH_INVALIDATE : UM_FLUSH_RELEASE);
        if (invalidate)
            shrink = um_domain_follow_file(d, false);
    }
    um_registry_unlock(&um_rt.registry);
    if (shrink != 1)
        return;
    /* The file shrank: the memfd follows with no fill in flight, so that past the new end the
     * kernel raises SIGBUS as for the file. */
    um_registry_wrlock(&um_rt.registry);
    v = um_domains_find(st->st_dev, st->st_ino);
    if (v)
        um_domain_follow_file(v->dom, true);
    um_registry_unlock(&um_rt.registry);
}

void um_file_truncating(const struct stat *st, uint64_t size)
{
    um_registry_rdlock(&um_rt.registry);
    struct um_view *v = um_domains_find(st->st_dev, st->st_ino);
    if (v) {
        struct um_domain *d = v->dom;
        /* The block holding the new end keeps its stores below it; those past it are dropped
         * unwritten, as the kernel drops the truncated pages of its page cache. */
        uint64_t keep = um_domain_block_off(d, um_domain_block(d, size));
        if (keep < size)
            um_domain_flush(d, keep, keep + 1, UM_FLUSH_RELEASE);
        uint64_t from = keep < size ? keep + d->pagesize : keep;
        um_domain_flush(d, from, UINT64_MAX, UM_FLUSH_DISCARD);
    }
    um_registry_unlock(&um_rt.registry);
}
