/* Writing stores made through managed mappings back to their files. */
#ifndef UM_WRITEBACK_H
#define UM_WRITEBACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct um_cache;
struct um_mapping;

/* Write the dirty chunks of frame f (BUSY, owned by the caller) to its file. The frame's
 * range is write-protected first, so a store from then on faults and waits for the frame to
 * leave BUSY: no store can slip between the copy and the clearing of its dirty bit. Returns 0,
 * or the errno of a failed write, with the chunks not written left dirty. */
int um_writeback_frame(struct um_cache *c, uint32_t f);

enum um_flush_mode {
    UM_FLUSH_KEEP_CLAIMED, /* leave the frames BUSY (registry write lock held: unmap) */
    UM_FLUSH_RELEASE,      /* back to RESIDENT once written (msync) */
    UM_FLUSH_INVALIDATE,   /* drop those left clean, so later reads see the file (MS_INVALIDATE) */
};

/* Claim each frame of m in [lo, hi) in turn (waiting out evictions), write back its dirty
 * chunks, and leave, release or drop it as `mode` says. Returns 0 or the first write-back
 * errno. With a registry lock held. */
int um_claim_and_flush(struct um_mapping *m, uintptr_t lo, uintptr_t hi, enum um_flush_mode mode);
/* Put back frames of m in [lo, hi) left BUSY by UM_FLUSH_KEEP_CLAIMED, or drop them (releasing
 * pages outside [keep_lo, keep_hi)). With the registry write lock held. */
void um_release_claimed(struct um_mapping *m, uintptr_t lo, uintptr_t hi);
void um_drop_claimed(struct um_mapping *m, uintptr_t lo, uintptr_t hi, uintptr_t keep_lo,
                     uintptr_t keep_hi);

#endif
