/* madvise(), mprotect() and mremap() on managed ranges.
 *
 * madvise(MADV_DONTNEED/MADV_REMOVE) keeps file semantics: stores are written back, and the
 * next access reads the file (after MADV_REMOVE, the zeros of the hole punched).
 * MADV_WILLNEED reads the range in at once; MADV_SEQUENTIAL/RANDOM/NORMAL steer read-ahead. Other advice
 * passes to the kernel, where on anonymous memory it changes nothing the program can see,
 * except MADV_FREE, which the kernel refuses for file mappings and so does the shim.
 * mprotect() refuses write access to a shared mapping of a file not open for writing, as the
 * kernel does, and writes back stores when it takes write access away. mremap() is not
 * served: the range is handed to the kernel's own mapping of the file first. */
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>

#include "log.h"
#include "mapping.h"
#include "os.h"
#include "runtime.h"
#include "uffd.h"
#include "writeback.h"

struct advice {
    uintptr_t lo, hi;
    int advice;
    int err;
};

static void check_piece(struct um_mapping *m, uintptr_t lo, uintptr_t hi, void *arg)
{
    (void)lo;
    (void)hi;
    struct advice *a = arg;
    if (a->advice == MADV_FREE)
        a->err = EINVAL;
    else if (a->advice == MADV_REMOVE && !(m->shared && (m->prot & PROT_WRITE)))
        a->err = a->err ? a->err : EACCES;
}

static void flush_piece(struct um_mapping *m, uintptr_t lo, uintptr_t hi, void *arg)
{
    (void)arg;
    um_claim_and_flush(m, lo, hi, UM_FLUSH_KEEP_CLAIMED);
}

static void punch_piece(struct um_mapping *m, uintptr_t lo, uintptr_t hi, void *arg)
{
    struct advice *a = arg;
    off_t off = (off_t)(m->file_off + (lo - m->start));
    if (fallocate(m->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, (off_t)(hi - lo)) &&
        !a->err)
        a->err = errno;
}

static void drop_piece(struct um_mapping *m, uintptr_t lo, uintptr_t hi, void *arg)
{
    const struct advice *a = arg;
    um_drop_claimed(m, lo, hi, a->lo, a->hi);
    /* Private blocks wholly emptied read the file again, through the cache. */
    for (size_t k = um_mapping_block(m, lo); k <= um_mapping_block(m, hi - 1); k++) {
        uintptr_t blo, bhi;
        um_mapping_block_range(m, k, &blo, &bhi);
        if (blo >= lo && bhi <= hi && atomic_load(&m->slots[k]) == UM_SLOT_PRIVATE)
            atomic_store(&m->slots[k], 0);
    }
}

static void release_piece(struct um_mapping *m, uintptr_t lo, uintptr_t hi, void *arg)
{
    (void)arg;
    um_release_claimed(m, lo, hi);
}

static bool managed_range(void *addr, size_t len, uintptr_t *lo, uintptr_t *hi)
{
    *lo = (uintptr_t)addr;
    *hi = *lo + um_page_up(len);
    return len && *lo % UM_PAGE == 0 && *hi > *lo && !um_registry_empty(&um_rt.registry);
}

/* MADV_WILLNEED: read the range in now, up to half the budget (more would evict itself). */
static bool prefetch(void *addr, uintptr_t lo, uintptr_t hi, int *result)
{
    struct um_registry *r = &um_rt.registry;
    um_registry_rdlock(r);
    bool ours = um_registry_overlaps(r, lo, hi);
    if (ours) {
        *result = um_os_madvise(addr, hi - lo, MADV_WILLNEED); /* the kernel's validation */
        size_t buf_len = um_config_max_pagesize(&um_rt.cfg);
        void *buf = um_os_alloc(buf_len);
        for (uintptr_t at = lo; *result == 0 && buf && at < hi;) {
            const struct um_entry *e = um_registry_find(r, at);
            uintptr_t end = e ? (e->end < hi ? e->end : hi) : at + UM_PAGE;
            if (e)
                um_prefetch_locked(e, at, end, buf, um_rt.cache.budget / 2);
            at = end;
        }
        um_os_free(buf, buf_len);
    }
    um_registry_unlock(r);
    return ours;
}

static void hint_piece(struct um_mapping *m, uintptr_t lo, uintptr_t hi, void *arg)
{
    (void)lo;
    (void)hi;
    atomic_store(&m->ra.hint, *(const int *)arg);
}

/* MADV_SEQUENTIAL/RANDOM/NORMAL steer read-ahead, for the whole mapping touched. */
static void steer(uintptr_t lo, uintptr_t hi, int advice)
{
    int hint = advice == MADV_SEQUENTIAL ? UM_RA_SEQUENTIAL
               : advice == MADV_RANDOM   ? UM_RA_RANDOM
                                         : UM_RA_NORMAL;
    um_registry_rdlock(&um_rt.registry);
    um_registry_for_each(&um_rt.registry, lo, hi, hint_piece, &hint);
    um_registry_unlock(&um_rt.registry);
}

bool um_madvise(void *addr, size_t len, int advice, int *result)
{
    uintptr_t lo, hi;
    if (advice == MADV_WILLNEED && managed_range(addr, len, &lo, &hi))
        return prefetch(addr, lo, hi, result);
    if ((advice == MADV_SEQUENTIAL || advice == MADV_RANDOM || advice == MADV_NORMAL) &&
        managed_range(addr, len, &lo, &hi))
        steer(lo, hi, advice); /* and on to the kernel, which validates the call */
    if (!managed_range(addr, len, &lo, &hi) ||
        (advice != MADV_DONTNEED && advice != MADV_REMOVE && advice != MADV_FREE))
        return false;
    struct advice a = {lo, hi, advice, 0};
    struct um_registry *r = &um_rt.registry;
    um_registry_wrlock(r);
    bool ours = um_registry_overlaps(r, lo, hi);
    if (ours) {
        um_registry_for_each(r, lo, hi, check_piece, &a);
        if (!a.err) {
            /* Under the write lock no fill runs: nothing refills between the write-back and the
             * pages' release, and the frames leave with their pages. */
            um_registry_for_each(r, lo, hi, flush_piece, &a);
            if (advice == MADV_REMOVE)
                um_registry_for_each(r, lo, hi, punch_piece, &a);
            if (!a.err && um_os_madvise(addr, hi - lo, MADV_DONTNEED))
                a.err = errno;
            um_registry_for_each(r, lo, hi, a.err ? release_piece : drop_piece, &a);
            um_uffd_wake(um_rt.uffd, lo, hi - lo);
        }
    }
    um_registry_unlock(r);
    if (ours) {
        *result = a.err ? -1 : 0;
        if (a.err)
            errno = a.err;
    }
    return ours;
}

struct protect {
    int prot;
    int err;
};

static void protect_piece(struct um_mapping *m, uintptr_t lo, uintptr_t hi, void *arg)
{
    struct protect *p = arg;
    if (!m->shared)
        return;
    if ((p->prot & PROT_WRITE) && (fcntl(m->fd, F_GETFL) & O_ACCMODE) == O_RDONLY)
        p->err = EACCES;
    else if (!(p->prot & PROT_WRITE))
        um_claim_and_flush(m, lo, hi, UM_FLUSH_RELEASE);
}

int um_mprotect_prepare(void *addr, size_t len, int prot)
{
    uintptr_t lo, hi;
    if (!managed_range(addr, len, &lo, &hi))
        return 0;
    struct protect p = {prot, 0};
    um_registry_rdlock(&um_rt.registry);
    um_registry_for_each(&um_rt.registry, lo, hi, protect_piece, &p);
    um_registry_unlock(&um_rt.registry);
    return p.err;
}

void um_mremap_prepare(void *addr, size_t len)
{
    uintptr_t lo, hi;
    if (!managed_range(addr, len ? len : UM_PAGE, &lo, &hi))
        return;
    um_registry_wrlock(&um_rt.registry);
    if (um_registry_overlaps(&um_rt.registry, lo, hi)) {
        um_warn_once("mremap() of a managed mapping: that mapping is handed to the kernel");
        um_handover_locked(lo, hi);
    }
    um_registry_unlock(&um_rt.registry);
}
