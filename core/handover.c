/* Handing managed ranges to the kernel's own mapping of the file, in place: before fork() for
 * shared writable mappings (fork.c), at exit (runtime.c), and where pages must be locked or
 * guarded (lock.c, advise.c). Stores are written back first; shared ranges are replaced whole;
 * in private ranges the pages the program made its own by storing to them are kept (they stay
 * managed: dropped again, they read the file through the cache), and the rest is replaced.
 * With the registry write lock held, so a store after the write-back faults on its
 * write-protected page and waits until the range is the kernel's, then lands in the kernel's
 * page cache.
 *
 * A file mapped partly by the kernel and partly from the cache would show each side's stores
 * late or never on the other, so where a range goes to the kernel for good (locked, guarded),
 * its whole file does: every managed range of it in this process, and its later mappings. */
#include <stdatomic.h>

#include "domains.h"
#include "log.h"
#include "mapping.h"
#include "runtime.h"
#include "writeback.h"

struct piece {
    struct um_entry e; /* a copy: the cuts below change the registry */
    uintptr_t lo, hi;
    bool found;
};

static void first_piece(const struct um_entry *e, uintptr_t lo, uintptr_t hi, void *arg)
{
    struct piece *p = arg;
    if (!p->found)
        *p = (struct piece){*e, lo, hi, true};
}

static void cut_replaced(uintptr_t lo, uintptr_t hi)
{
    um_cut_locked(lo, hi, false);
}

/* Write back the piece's stores, replace it, and cut what was replaced from the registry
 * (freeing what no mapping uses and waking stores that waited). */
static int replace_piece(const struct piece *p, bool keep_private)
{
    struct um_mapping *m = p->e.map;
    /* A private piece too: its pages not yet copied show the file, and so stores made through
     * shared mappings of it must be there. */
    uint64_t off = um_entry_off(&p->e, p->lo);
    int err = um_domain_flush(m->dom, off, off + (p->hi - p->lo), UM_FLUSH_RELEASE);
    if (!m->shared && keep_private) {
        um_entry_to_kernel_keeping_private(&p->e, p->lo, p->hi, cut_replaced);
        return err;
    }
    um_entry_to_kernel(&p->e, p->lo, p->hi);
    um_cut_locked(p->lo, p->hi, false);
    return err;
}

int um_handover_locked(uintptr_t lo, uintptr_t hi)
{
    return um_handover_range_locked(lo, hi, true);
}

int um_handover_range_locked(uintptr_t lo, uintptr_t hi, bool keep_private)
{
    int err = 0;
    if (um_domains_refresh(lo, hi, lo, hi))
        return -1;
    for (uintptr_t from = lo; from < hi;) {
        struct piece p = {.found = false};
        um_registry_for_each(&um_rt.registry, from, hi, first_piece, &p);
        if (!p.found)
            break;
        int e = replace_piece(&p, keep_private);
        err = err ? err : e;
        from = p.hi;
    }
    return err;
}

/* Files that are the kernel's in this process: appended to, never removed. */
#define KERNEL_FILES 1024

static struct {
    dev_t dev;
    ino_t ino;
} kernel_files[KERNEL_FILES];
static _Atomic unsigned nkernel_files;

bool um_kernel_file(dev_t dev, ino_t ino)
{
    unsigned n = atomic_load_explicit(&nkernel_files, memory_order_acquire);
    for (unsigned i = 0; i < n; i++)
        if (kernel_files[i].dev == dev && kernel_files[i].ino == ino)
            return true;
    return false;
}

void um_kernel_file_add_locked(dev_t dev, ino_t ino)
{
    unsigned n = atomic_load(&nkernel_files);
    if (um_kernel_file(dev, ino))
        return;
    if (n == KERNEL_FILES) {
        um_warn_once("too many files handed to the kernel: later mappings of some of them are "
                     "served again, and do not see stores made through the kernel's");
        return;
    }
    kernel_files[n].dev = dev;
    kernel_files[n].ino = ino;
    atomic_store_explicit(&nkernel_files, n + 1, memory_order_release);
}

static void note_file(const struct um_entry *e, uintptr_t lo, uintptr_t hi, void *arg)
{
    (void)lo;
    (void)hi;
    (void)arg;
    um_kernel_file_add_locked(e->map->dom->dev, e->map->dom->ino);
}

static void first_kernel_piece(const struct um_entry *e, uintptr_t lo, uintptr_t hi, void *arg)
{
    if (um_kernel_file(e->map->dom->dev, e->map->dom->ino))
        first_piece(e, lo, hi, arg);
}

void um_handover_kernel_files_locked(void)
{
    for (uintptr_t from = 0;;) {
        struct piece p = {.found = false};
        um_registry_for_each(&um_rt.registry, from, UINTPTR_MAX, first_kernel_piece, &p);
        if (!p.found)
            break;
        um_handover_locked(p.lo, p.hi);
        from = p.hi;
    }
}

int um_handover_files_locked(uintptr_t lo, uintptr_t hi, bool keep_private)
{
    um_registry_for_each(&um_rt.registry, lo, hi, note_file, NULL);
    int err = um_handover_range_locked(lo, hi, keep_private);
    um_handover_kernel_files_locked();
    return err;
}
