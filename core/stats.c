#include "stats.h"

#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include "os.h"

struct um_stats um_stats;

void um_stat_peak(uint64_t resident)
{
    uint64_t seen = atomic_load_explicit(&um_stats.peak_resident, memory_order_relaxed);
    while (resident > seen &&
           !atomic_compare_exchange_weak_explicit(&um_stats.peak_resident, &seen, resident,
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

static uint64_t get(_Atomic uint64_t *counter)
{
    return atomic_load_explicit(counter, memory_order_relaxed);
}

void um_stats_print(int fd)
{
    /* Wrappers and shells started under the preload map nothing: stay quiet for them. */
    if (get(&um_stats.mappings) + get(&um_stats.passed) == 0)
        return;
    char line[512];
    int n = snprintf(line, sizeof line,
                     "uffdmap: stats: pid=%d prog=%s mappings=%llu passed=%llu faults=%llu fills=%llu "
                     "readahead_fills=%llu "
                     "pages_filled=%llu bytes_read=%llu evictions=%llu wp_faults=%llu dirtied_pages=%llu "
                     "writeback_bytes=%llu private_pages=%llu peak_resident=%llu\n",
                     (int)getpid(), program_invocation_short_name,
                     (unsigned long long)get(&um_stats.mappings),
                     (unsigned long long)get(&um_stats.passed),
                     (unsigned long long)get(&um_stats.faults),
                     (unsigned long long)get(&um_stats.fills),
                     (unsigned long long)get(&um_stats.readahead_fills),
                     (unsigned long long)get(&um_stats.pages_filled),
                     (unsigned long long)get(&um_stats.bytes_read),
                     (unsigned long long)get(&um_stats.evictions),
                     (unsigned long long)get(&um_stats.wp_faults),
                     (unsigned long long)get(&um_stats.dirtied_pages),
                     (unsigned long long)get(&um_stats.writeback_bytes),
                     (unsigned long long)get(&um_stats.private_pages),
                     (unsigned long long)get(&um_stats.peak_resident));
    if (n > 0) {
        ssize_t ignored = um_os_write(fd, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
        (void)ignored;
    }
}
