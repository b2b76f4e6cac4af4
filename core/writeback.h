/* Writing stores made through managed mappings back to their files. */
#ifndef UM_WRITEBACK_H
#define UM_WRITEBACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct um_cache;
struct um_domain;

/* Write the dirty chunks of frame f (BUSY, owned by the caller) to its file. The block is
 * write-protected in every tracked mapping first, so a store from then on faults and waits for
 * the frame to leave BUSY: no store can slip between the copy and the clearing of its dirty
 * bit. Returns 0, or the errno of a failed write, with the chunks not written left dirty. */
int um_writeback_frame(struct um_cache *c, uint32_t f);

enum um_flush_mode {
    UM_FLUSH_RELEASE,    /* back to RESIDENT once written (msync, a read of the file) */
    UM_FLUSH_INVALIDATE, /* drop those left clean, so later reads see the file (a write) */
    UM_FLUSH_DROP,       /* drop them all, saying so of stores that could not be written */
    UM_FLUSH_DISCARD,    /* drop them all unwritten: the file is truncated there */
};

/* Claim each resident block of d holding file bytes [lo, hi) in turn (waiting out fills and
 * evictions), write back its dirty chunks, and release or drop it as `mode` says. Returns 0 or
 * the first write-back errno. */
int um_domain_flush(struct um_domain *d, uint64_t lo, uint64_t hi, enum um_flush_mode mode);

/* Make d follow its file's size now (fstat): the memfd grows, or shrinks after the blocks past
 * the new end are written back and dropped. Shrinking needs the registry write lock (no fill in
 * flight): without it (`exclusive` false) returns 1 when a shrink is due, doing nothing. 0 or
 * -1 (errno) otherwise. */
int um_domain_follow_file(struct um_domain *d, bool exclusive);

#endif
