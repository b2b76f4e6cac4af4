/* madvise(), mprotect() and mremap() on managed ranges.
 *
 * A managed range maps its file's memfd, so most advice already means for it what it means for
 * a file mapping, and passes to the kernel: MADV_DONTNEED zaps the pages (the next touch is a
 * minor fault, or reads the file again for a private copy dropped; shared stores are written
 * back first), MADV_FREE is refused.
 * MADV_REMOVE punches the file (stores written back first, the cached blocks dropped so the
 * hole's zeros show). MADV_WILLNEED reads the range in at once; MADV_SEQUENTIAL/RANDOM/NORMAL
 * also steer read-ahead. MADV_GUARD_INSTALL hands the range's files to the kernel first.
 * Where a range holds holes the kernel applies advice to the mapped parts and fails with ENOMEM
 * (mprotect() stops at the first hole): what the shim records follows what the kernel did.
 * mprotect() refuses write access to a shared mapping of a file not open
 * for writing, as the kernel does. mremap() is served: the range moves or grows over the same
 * memfd, and is registered again where the kernel does not carry its registration along. */
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "domains.h"
#include "log.h"
#include "mapping.h"
#include "os.h"
#include "runtime.h"
#include "uffd.h"
#include "writeback.h"

#ifndef MADV_DONTNEED_LOCKED
#define MADV_DONTNEED_LOCKED 24 /* Linux 5.18 */
#endif
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102 /* Linux 6.13 */
#endif

struct advice {
    int err;
};

static void check_remove(const struct um_entry *e, uintptr_t lo, uintptr_t hi, void *arg)
{
    (void)lo;
    (void)hi;
    struct advice *a = arg;
    if (!a->err && !e->map->maywrite) /* the kernel's test: not the protection now */
        a->err = EACCES;
}

/* Write back the blocks of the piece, punch the file there, then drop the blocks: the next
 * access reads the hole's zeros (and what the blocks held outside the piece, written back). */
static void remove_piece(const struct um_entry *e, uintptr_t lo, uintptr_t hi, void *arg)
{
    struct advice *a = arg;
    struct um_domain *d = e->map->dom;
    uint64_t off = um_entry_off(e, lo), len = hi - lo;
    int err = um_domain_flush(d, off, off + len, UM_FLUSH_RELEASE);
    if (!err && syscall(SYS_fallocate, um_here(d)->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                        (off_t)off, (off_t)len))
        err = errno;
    if (!err)
        err = um_domain_flush(d, off, off + len, UM_FLUSH_INVALIDATE);
    if (err && !a->err)
        a->err = err;
}

/* Write back the stores made in a shared piece (keeping its blocks). */
static void write_back_piece(const struct um_entry *e, uintptr_t lo, uintptr_t hi, void *arg)
{
    int *err = arg;
    if (!e->map->shared)
        return;
    uint64_t off = um_entry_off(e, lo);
    int e_wb = um_domain_flush(e->map->dom, off, off + (hi - lo), UM_FLUSH_RELEASE);
    if (e_wb && !*err)
        *err = e_wb;
}

/* Where the program lets go of pages (MADV_DONTNEED) or of write access (mprotect), stores made
 * so far are written back, as the old shim did: the kernel would have them in its page cache,
 * where even a raw read(2) that bypasses the shim finds them. The first errno, or 0. */
static int write_back_range(uintptr_t lo, uintptr_t hi)
{
    int err = 0;
    um_registry_rdlock(&um_rt.registry);
    um_registry_for_each(&um_rt.registry, lo, hi, write_back_piece, &err);
    um_registry_unlock(&um_rt.registry);
    return err;
}

static bool managed_range(void *addr, size_t len, uintptr_t *lo, uintptr_t *hi)
{
    *lo = (uintptr_t)addr;
    *hi = *lo + um_page_up(len);
    return len && *lo % UM_PAGE == 0 && *hi > *lo && !um_registry_empty(&um_rt.registry);
}

/* MADV_DONTFORK/MADV_DOFORK: the kernel's, remembered, so that a fork child leaves out (and
 * never serves, nor hands to the kernel) what the kernel leaves out of it. */
static bool set_dontfork(void *addr, uintptr_t lo, uintptr_t hi, bool dontfork, int *result)
{
    struct um_registry *r = &um_rt.registry;
    um_registry_wrlock(r);
    bool ours = um_registry_overlaps(r, lo, hi);
    if (ours) {
        *result = um_os_madvise(addr, hi - lo, dontfork ? MADV_DONTFORK : MADV_DOFORK);
        /* A hole in the range: ENOMEM, the advice applied to every mapped part all the same. */
        bool applied = *result == 0 || errno == ENOMEM;
        int err = errno;
        if (applied && um_registry_set_dontfork(r, lo, hi, dontfork))
            um_warn_once("madvise(): no memory to record MADV_DONTFORK of a managed range; a "
                         "fork() child may keep it");
        errno = err;
    }
    um_registry_unlock(r);
    return ours;
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
                um_prefetch_locked(e, at, end, buf, um_rt.cache->budget / 2);
            at = end;
        }
        um_os_free(buf, buf_len);
    }
    um_registry_unlock(r);
    return ours;
}

static void hint_piece(const struct um_entry *e, uintptr_t lo, uintptr_t hi, void *arg)
{
    (void)lo;
    (void)hi;
    atomic_store(&e->map->ra.hint, *(const int *)arg);
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

/* MADV_REMOVE: the kernel validates the range first (on the memfd, where it would punch the
 * cache's pages only); the file is punched here. */
static bool remove_range(uintptr_t lo, uintptr_t hi, int *result)
{
    struct advice a = {0};
    struct um_registry *r = &um_rt.registry;
    um_registry_rdlock(r);
    bool ours = um_registry_overlaps(r, lo, hi);
    if (ours) {
        um_registry_for_each(r, lo, hi, check_remove, &a);
        if (!a.err)
            um_registry_for_each(r, lo, hi, remove_piece, &a);
    }
    um_registry_unlock(r);
    if (ours && !a.err && um_os_mapped_end(lo, hi) < hi)
        a.err = ENOMEM; /* a hole: the mapped parts are punched, and the kernel says so */
    if (ours) {
        *result = a.err ? -1 : 0;
        if (a.err)
            errno = a.err;
    }
    return ours;
}

/* MADV_GUARD_INSTALL: a fill maps a whole block with UFFDIO_CONTINUE, which takes a guard
 * marker for an empty entry and replaces it (seen on 6.18: guards gone after eviction); and
 * over pages write-protected by userfaultfd the kernel finds, after zapping each, a marker of
 * its own where it would put the guard, and tries again forever (seen on 6.18). So the files
 * of the range go to the kernel first (stores written back), where guards work as on any
 * file mapping. */
static void guard_range(uintptr_t lo, uintptr_t hi)
{
    struct um_registry *r = &um_rt.registry;
    um_registry_wrlock(r);
    if (um_registry_overlaps(r, lo, hi)) {
        um_warn_once("madvise(MADV_GUARD_INSTALL) on a managed range: its file is mapped by the "
                     "kernel from then on");
        /* Private copies in the range go too: a guard drops them, and a page kept would stay
         * managed, where a fill could map over the guard. */
        um_handover_files_locked(lo, hi, false);
    }
    um_registry_unlock(r);
}

bool um_madvise(void *addr, size_t len, int advice, int *result)
{
    uintptr_t lo, hi;
    if (!managed_range(addr, len, &lo, &hi))
        return false;
    if (advice == MADV_WILLNEED)
        return prefetch(addr, lo, hi, result);
    if (advice == MADV_SEQUENTIAL || advice == MADV_RANDOM || advice == MADV_NORMAL)
        steer(lo, hi, advice); /* and on to the kernel, which validates the call */
    if (advice == MADV_REMOVE)
        return remove_range(lo, hi, result);
    if (advice == MADV_DONTFORK || advice == MADV_DOFORK)
        return set_dontfork(addr, lo, hi, advice == MADV_DONTFORK, result);
    if (advice == MADV_DONTNEED || advice == MADV_DONTNEED_LOCKED)
        write_back_range(lo, hi);
    if (advice == MADV_GUARD_INSTALL)
        guard_range(lo, hi);
    return false; /* MADV_GUARD_REMOVE too: guards exist only where the kernel put them */
}

struct protect {
    int prot;
    int err;
};

static void check_protect(const struct um_entry *e, uintptr_t lo, uintptr_t hi, void *arg)
{
    (void)lo;
    (void)hi;
    struct protect *p = arg;
    /* Stores through a shared mapping are tracked only if it was registered for it, which
     * it is when its file could be written (map.c): the kernel's EACCES otherwise. */
    if (e->map->shared && (p->prot & PROT_WRITE) && !e->map->wp)
        p->err = EACCES;
    if ((p->prot & PROT_EXEC) && !e->map->mayexec) /* a noexec mount: the memfd is not */
        p->err = EACCES;
}

int um_mprotect_prepare(void *addr, size_t len, int prot)
{
    uintptr_t lo, hi;
    if (!managed_range(addr, len, &lo, &hi))
        return 0;
    struct protect p = {prot, 0};
    um_registry_rdlock(&um_rt.registry);
    um_registry_for_each(&um_rt.registry, lo, hi, check_protect, &p);
    um_registry_unlock(&um_rt.registry);
    if (!p.err && !(prot & PROT_WRITE))
        write_back_range(lo, hi);
    return p.err;
}

bool um_mprotect(void *addr, size_t len, int prot, int *result)
{
    uintptr_t lo, hi;
    if (!managed_range(addr, len, &lo, &hi))
        return false;
    struct um_registry *r = &um_rt.registry;
    /* Under the write lock, so that a fork() sees the kernel's protection and the registry's
     * agree. */
    um_registry_wrlock(r);
    bool ours = um_registry_overlaps(r, lo, hi);
    if (ours) {
        *result = (int)syscall(SYS_mprotect, addr, len, prot);
        int err = errno;
        /* At a hole the kernel stops with ENOMEM, the protection changed up to it. */
        uintptr_t done = *result == 0 ? hi : err == ENOMEM ? um_os_mapped_end(lo, hi) : lo;
        if (done > lo && um_registry_set_prot(r, lo, done, prot))
            um_warn_once("mprotect(): no memory to record the new protection of a managed "
                         "range; a fork() child or the exit path may see the old one");
        errno = err;
    }
    um_registry_unlock(r);
    return ours;
}
