/* Process-wide counters, updated with relaxed atomics and printed once at exit. */
#ifndef UM_STATS_H
#define UM_STATS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define UM_LATENCY_BUCKETS 256
#define UM_STATS_FILES 32 /* files counted one by one; the rest share the last entry */

struct um_file_stats {
    char path[192];
    _Atomic uint64_t mappings, faults, fills, bytes_read, evictions;
};

struct um_stats {
    _Atomic uint64_t mappings;      /* mmap() calls served by the shim */
    _Atomic uint64_t passed;        /* mmap() calls of matching files left to the kernel */
    _Atomic uint64_t faults;        /* page-fault events read from userfaultfd */
    _Atomic uint64_t fills;         /* blocks filled */
    _Atomic uint64_t readahead_fills; /* of which read ahead of a fault */
    _Atomic uint64_t readahead_used;  /* read-ahead blocks the program went on to read past:
                                          a lower bound (reads of resident pages are unseen) */
    _Atomic uint64_t readahead_async; /* windows started when the program caught up with one
                                         still being filled */
    _Atomic uint64_t pages_filled;  /* 4 KiB pages installed */
    _Atomic uint64_t bytes_read;    /* bytes read from files */
    _Atomic uint64_t evictions;     /* blocks evicted to stay within the budget */
    _Atomic uint64_t soft_evictions; /* blocks unmapped but kept, to see whether they are used */
    _Atomic uint64_t minor_faults;  /* faults on pages the cache held but had not mapped there */
    _Atomic uint64_t wp_faults;     /* write-protect faults: first stores to clean pages */
    _Atomic uint64_t dirtied_pages; /* 4 KiB pages marked dirty (shared mappings) */
    _Atomic uint64_t writeback_bytes; /* bytes written back to files */
    _Atomic uint64_t peak_resident; /* most bytes charged to the budget at once */
    /* Time to serve a fault event, from reading it to the end of its handling: buckets of a
     * quarter power of two of nanoseconds. */
    _Atomic uint64_t latency[UM_LATENCY_BUCKETS];
    _Atomic uint64_t latency_max_ns;
    struct um_file_stats files[UM_STATS_FILES];
    _Atomic unsigned nfiles;
};

extern struct um_stats um_stats;

static inline void um_stat_add(_Atomic uint64_t *counter, uint64_t n)
{
    atomic_fetch_add_explicit(counter, n, memory_order_relaxed);
}

void um_stat_peak(uint64_t resident);
void um_stat_latency(uint64_t ns);
/* The per-file counters for path (found or added; the last entry collects the overflow). */
struct um_file_stats *um_stats_file(const char *path);
/* The summary, as one text line or one JSON object, on fd; nothing if this process mapped no
 * file that matched UFFDMAP_PATHS. */
void um_stats_print(int fd, bool json);
/* The JSON summary written to path ("%p" replaced by the pid): created if missing; never
 * through a symbolic link, nor over another user's file. */
void um_stats_write_file(const char *path);

#endif
