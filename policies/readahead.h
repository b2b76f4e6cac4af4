/* Read-ahead: how many blocks after a faulting one to fill as well.
 *
 * Adaptive, like the kernel's on-demand read-ahead: per mapping, a fault on the block right
 * after the last window doubles the window (1, 2, 4, ... up to the maximum); any other fault
 * collapses it to nothing, so random access reads only what it touches (a fixed window is
 * the other mode). madvise() hints
 * override: MADV_SEQUENTIAL always reads the maximum, MADV_RANDOM never reads ahead. */
#ifndef UM_READAHEAD_H
#define UM_READAHEAD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

enum um_ra_hint { UM_RA_NORMAL, UM_RA_SEQUENTIAL, UM_RA_RANDOM };
enum um_ra_mode { UM_RA_NONE, UM_RA_FIXED, UM_RA_ADAPTIVE };

struct um_ra {
    _Atomic size_t next;     /* the block a sequential reader faults on next */
    _Atomic unsigned window; /* blocks read ahead last time */
    _Atomic int hint;        /* enum um_ra_hint */
};

/* A missing-page fault on `block`: the number of following blocks to fill too (at most `max`).
 * UM_RA_NONE: none unless MADV_SEQUENTIAL; UM_RA_FIXED: always `max` unless MADV_RANDOM;
 * UM_RA_ADAPTIVE: as described above. Races between fillers only make the guess less exact,
 * never wrong. */
unsigned um_ra_on_fault(struct um_ra *ra, size_t block, unsigned max, enum um_ra_mode mode);

/* A second fault on a block while read-ahead is filling it: the reader has caught up. If the
 * read-ahead ends less than `lead` blocks after `block`, claims the window after it (its first
 * block in *start) and returns its length, twice the last up to `max`; 0 if the mapping is not
 * streaming, the block lies past the read-ahead or `lead` or more blocks before its end, or
 * another filler claimed the next window first. This is the kernel's asynchronous read-ahead,
 * triggered by the only access user space sees. */
unsigned um_ra_on_catch_up(struct um_ra *ra, size_t block, unsigned max, size_t lead,
                           size_t *start);

#endif
