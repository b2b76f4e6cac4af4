/* Read-ahead: how many blocks after a faulting one to fill as well.
 *
 * Adaptive, like the kernel's on-demand read-ahead, per stream: a fault on the block right
 * after a stream's last window doubles its window (1, 2, 4, ... up to the maximum); any other
 * fault starts a new stream with nothing read ahead, so random access reads only what it
 * touches. A mapping follows UM_RA_STREAMS streams at once (threads scanning parts of one
 * file each keep their window); a new one replaces the stream used least recently. A fixed
 * window is the other mode. madvise() hints override: MADV_SEQUENTIAL always reads the
 * maximum, MADV_RANDOM never reads ahead. */
#ifndef UM_READAHEAD_H
#define UM_READAHEAD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

enum um_ra_hint { UM_RA_NORMAL, UM_RA_SEQUENTIAL, UM_RA_RANDOM };
enum um_ra_mode { UM_RA_NONE, UM_RA_FIXED, UM_RA_ADAPTIVE };

#define UM_RA_STREAMS 4

struct um_ra_stream {
    _Atomic size_t next;     /* the block its reader faults on next */
    _Atomic unsigned window; /* blocks read ahead last time */
    _Atomic unsigned used;   /* `tick` when last matched, for replacing the oldest */
};

struct um_ra {
    struct um_ra_stream streams[UM_RA_STREAMS];
    _Atomic unsigned tick;
    _Atomic int hint; /* enum um_ra_hint */
};

/* A missing-page fault on `block`: the number of following blocks to fill too (at most `max`).
 * UM_RA_NONE: none unless MADV_SEQUENTIAL; UM_RA_FIXED: always `max` unless MADV_RANDOM;
 * UM_RA_ADAPTIVE: as described above. Races between fillers only make the guess less exact,
 * never wrong. */
unsigned um_ra_on_fault(struct um_ra *ra, size_t block, unsigned max, enum um_ra_mode mode);

/* The stream whose next block was `next` stopped short of its window, before block `stop` (a
 * window mapped over resident blocks, up to one that is not): its reader's fault there
 * continues it, its window kept. */
void um_ra_stopped(struct um_ra *ra, size_t next, size_t stop);

/* The window of the stream whose read-ahead ends right before `block` (its reader used all of
 * it), or 0. Ask before um_ra_on_fault() moves the stream on. */
unsigned um_ra_used(struct um_ra *ra, size_t block);

/* A second fault on a block while read-ahead is filling it: the reader has caught up. If the
 * read-ahead of the stream `block` belongs to ends less than `lead` blocks after it, claims the
 * window after it (its first block in *start) and returns its length, twice the last up to
 * `max`; 0 if no stream is reading ahead of `block` within `lead`, or another filler claimed
 * the next window first. This is the kernel's asynchronous read-ahead, triggered by the only
 * access user space sees. */
unsigned um_ra_on_catch_up(struct um_ra *ra, size_t block, unsigned max, size_t lead,
                           size_t *start);

#endif
