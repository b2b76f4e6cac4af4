/* Handing managed ranges to the kernel's own mapping of the file, in place: before fork() for
 * shared writable mappings (fork.c) and at exit (runtime.c). Stores are written back first;
 * shared ranges are replaced whole; in private ranges the pages the program made its own by
 * storing to them are kept, and the rest is replaced. With the registry write lock held, so a
 * store after the write-back faults on its write-protected page and waits until the range is
 * the kernel's, then lands in the kernel's page cache. */
#include "domains.h"
#include "log.h"
#include "mapping.h"
#include "runtime.h"
#include "writeback.h"

static void replace_piece(const struct um_entry *e, uintptr_t lo, uintptr_t hi, void *arg)
{
    int *err = arg;
    struct um_mapping *m = e->map;
    if (!m->shared) {
        um_entry_to_kernel_keeping_private(e, lo, hi);
        return;
    }
    uint64_t off = um_entry_off(e, lo);
    int e_wb = um_domain_flush(m->dom, off, off + (hi - lo), UM_FLUSH_RELEASE);
    if (e_wb && !*err)
        *err = e_wb;
    um_entry_to_kernel(e, lo, hi);
}

int um_handover_locked(uintptr_t lo, uintptr_t hi)
{
    int err = 0;
    if (um_domains_refresh(lo, hi, lo, hi))
        return -1;
    um_registry_for_each(&um_rt.registry, lo, hi, replace_piece, &err);
    /* Cuts the range from the registry, frees what no mapping uses and wakes stores that
     * waited. */
    um_cut_locked(lo, hi, false);
    return err;
}
