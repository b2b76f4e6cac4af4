/* A managed mapping: one application mmap() of a file, mapping that file's cache domain.
 *
 * The registry's entries point here; each entry carries its own address range and file offset,
 * so pieces left by a partial munmap() or moved by mremap() need nothing of the mapping but
 * what it was asked for. Blocks are the domain's: file offsets, whatever the address. */
#ifndef UM_MAPPING_H
#define UM_MAPPING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../policies/readahead.h"
#include "domain.h"
#include "registry.h"

struct um_mapping {
    struct um_domain *dom;
    int prot, flags;       /* as the application asked (entries hold the protection now) */
    bool shared;           /* MAP_SHARED: stores reach the file */
    bool wp;               /* registered for write-protect faults: stores are tracked */
    bool maywrite;         /* MAP_SHARED of a descriptor open for writing (the kernel's
                            * VM_MAYWRITE): mprotect(PROT_WRITE), MADV_REMOVE allowed */
    bool mayexec;          /* its file is not on a noexec mount (VM_MAYEXEC) */
    struct um_ra ra;       /* read-ahead state and madvise() hint */
    int ra_mode;           /* enum um_ra_mode, from the path's rule or the process */
    size_t ra_max;         /* bytes read ahead at most */
    unsigned entries;      /* registry entries pointing here (changed under the registry lock) */
};

/* A mapping of domain d; NULL (errno set) on failure. */
struct um_mapping *um_mapping_new(struct um_domain *d, int prot, int flags);
void um_mapping_free(struct um_mapping *m);
/* A registry cut's orphan callback (registry.h): this process's use of the view ends with the
 * mapping (unmap.c). */
void um_mapping_release(struct um_mapping *m, void *arg);

/* Whether stores through e's mapping reach the file and must be tracked. */
static inline bool um_mapping_writes_file(const struct um_mapping *m)
{
    return m->shared && m->wp;
}

/* Block k's address range in entry e, clipped to e; empty (lo >= hi) if e does not map it. */
static inline void um_entry_block_range(const struct um_entry *e, size_t k, uintptr_t *lo,
                                        uintptr_t *hi)
{
    const struct um_domain *d = e->map->dom;
    uint64_t b_lo = um_domain_block_off(d, k), b_hi = b_lo + d->pagesize;
    uint64_t e_hi = um_entry_off(e, e->end);
    uint64_t a = b_lo > e->off ? b_lo : e->off;
    uint64_t b = b_hi < e_hi ? b_hi : e_hi;
    *lo = a < b ? e->start + (uintptr_t)(a - e->off) : 0;
    *hi = a < b ? e->start + (uintptr_t)(b - e->off) : 0;
}

static inline size_t um_entry_block(const struct um_entry *e, uintptr_t addr)
{
    return um_domain_block(e->map->dom, um_entry_off(e, addr));
}

/* Replace [lo, hi) of entry e, in place, by the kernel's own mapping of the file at the same
 * offsets, with the mapping's protection and sharing. 0, or -1 (said on stderr) if the kernel
 * refused. */
int um_entry_to_kernel(const struct um_entry *e, uintptr_t lo, uintptr_t hi);
/* The same, only over the pages of [lo, hi) that are not the program's own private copies
 * (those stay, as the kernel's copy-on-write keeps them), calling replaced (if not NULL) for
 * each run replaced, after the kernel mapped it. */
void um_entry_to_kernel_keeping_private(const struct um_entry *e, uintptr_t lo, uintptr_t hi,
                                        void (*replaced)(uintptr_t lo, uintptr_t hi));

#endif
