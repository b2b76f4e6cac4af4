/* A managed mapping: one application mmap() of a file, served from anonymous memory.
 *
 * The range is split into blocks of `pagesize` bytes aligned in *file* offsets, so that the same
 * file offset always falls into the same block whatever address it is mapped at. A partial
 * munmap() only trims the registry entries that point here; the block table stays as first laid
 * out, which is why a frame records the exact address range it populated. */
#ifndef UM_MAPPING_H
#define UM_MAPPING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../policies/readahead.h"
#include "io.h"
#include "stats.h"

struct um_mapping {
    uintptr_t start, end;  /* the range as first mapped */
    uint64_t file_off;     /* file offset of start */
    uint64_t first_block;  /* file_off / pagesize */
    size_t nblocks;
    size_t pagesize;
    unsigned shift;        /* log2(pagesize) */
    int fd;                /* the mapping's own descriptor of the file */
    int prot, flags;       /* as the application asked */
    bool shared;           /* MAP_SHARED: stores reach the file */
    bool wp;               /* registered for write-protect faults: stores are tracked */
    unsigned chunk_shift;  /* log2 of the dirty-tracking unit: max(4 KiB, pagesize / 64) */
    _Atomic int wb_error;  /* errno of a write-back that failed, until msync() reports it */
    struct um_ra ra;       /* read-ahead state and madvise() hint */
    int ra_mode;           /* enum um_ra_mode, from the path's rule or the process */
    unsigned policy;       /* eviction policy number (policies/policy.h), if policy_set */
    bool policy_set;
    size_t ra_max;         /* bytes read ahead at most */
    struct um_file_stats *stats; /* this file's counters (stats.h) */
    dev_t dev;             /* the file's identity: other descriptors of it are found by these */
    ino_t ino;
    char path[192];        /* for messages */
    _Atomic uint64_t file_size; /* last size seen; refreshed when a fill reaches past it */
    int direct_fd;         /* the file opened with O_DIRECT for cold fills (map.c); -1: none */
    bool direct_always;    /* UFFDMAP_IO=direct */
    unsigned entries;      /* registry entries pointing here (changed under the registry lock) */
    size_t alloc_len;
    pthread_mutex_t stream_lock; /* streaming read-ahead's device reads, one at a time (io.h) */
    /* Per block: the frame number + 1 while a frame owns the block; UM_SLOT_PRIVATE once a
     * store made a private block the program's own; 0 otherwise. */
    _Atomic uint32_t slots[];
};

#define UM_SLOT_PRIVATE UINT32_MAX

/* Where m's fills read from (core/io.h). */
static inline struct um_io_src um_mapping_io(struct um_mapping *m)
{
    return (struct um_io_src){.fd = m->fd, .direct_fd = m->direct_fd,
                              .direct_always = m->direct_always, .size = &m->file_size};
}

/* The frame a slot names, or UINT32_MAX (UM_NO_FRAME) for none. */
static inline uint32_t um_slot_frame(uint32_t slot)
{
    return slot == 0 || slot == UM_SLOT_PRIVATE ? UINT32_MAX : slot - 1;
}

/* Takes ownership of fd. NULL (errno set) on failure. */
struct um_mapping *um_mapping_new(uintptr_t start, size_t len, uint64_t file_off, size_t pagesize,
                                  int fd, int prot, int flags, uint64_t file_size);
void um_mapping_set_path(struct um_mapping *m, const char *path);
/* Replace [lo, hi) of m, in place, by the kernel's own mapping of the file at the same offsets,
 * with m's protection and sharing. 0, or -1 (said on stderr) if the kernel refused. */
int um_mapping_to_kernel(const struct um_mapping *m, uintptr_t lo, uintptr_t hi);
/* The same, only over the pages of [lo, hi) that are not present (mincore). */
void um_mapping_to_kernel_where_missing(const struct um_mapping *m, uintptr_t lo, uintptr_t hi);
void um_mapping_free(struct um_mapping *m);

static inline size_t um_mapping_block(const struct um_mapping *m, uintptr_t addr)
{
    return (size_t)(((m->file_off + (addr - m->start)) >> m->shift) - m->first_block);
}

/* Address range of block k, clipped to the mapping. */
static inline void um_mapping_block_range(const struct um_mapping *m, size_t k, uintptr_t *lo,
                                          uintptr_t *hi)
{
    uint64_t file_lo = (m->first_block + k) << m->shift;
    uintptr_t a = m->start + (uintptr_t)(file_lo - m->file_off); /* may wrap below start */
    uintptr_t b = a + m->pagesize;
    *lo = file_lo < m->file_off ? m->start : a;
    *hi = b > m->end ? m->end : b;
}

#endif
