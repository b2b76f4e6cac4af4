#include "readahead.h"

unsigned um_ra_on_fault(struct um_ra *ra, size_t block, unsigned max, enum um_ra_mode mode)
{
    int hint = atomic_load_explicit(&ra->hint, memory_order_relaxed);
    unsigned window = 0;
    if (hint == UM_RA_SEQUENTIAL || (hint == UM_RA_NORMAL && mode == UM_RA_FIXED)) {
        window = max;
    } else if (hint == UM_RA_NORMAL && mode == UM_RA_ADAPTIVE &&
               block == atomic_load_explicit(&ra->next, memory_order_relaxed)) {
        unsigned last = atomic_load_explicit(&ra->window, memory_order_relaxed);
        window = last ? 2 * last : 1;
        if (window > max)
            window = max;
    }
    atomic_store_explicit(&ra->window, window, memory_order_relaxed);
    atomic_store_explicit(&ra->next, block + window + 1, memory_order_relaxed);
    return window;
}

unsigned um_ra_on_catch_up(struct um_ra *ra, size_t block, unsigned max, size_t lead,
                           size_t *start)
{
    unsigned last = atomic_load_explicit(&ra->window, memory_order_relaxed);
    size_t next = atomic_load_explicit(&ra->next, memory_order_relaxed);
    if (last == 0 || atomic_load_explicit(&ra->hint, memory_order_relaxed) == UM_RA_RANDOM ||
        block >= next || next - block >= lead)
        return 0;
    unsigned window = 2 * last > max ? max : 2 * last;
    if (window == 0 || !atomic_compare_exchange_strong(&ra->next, &next, next + window))
        return 0;
    atomic_store_explicit(&ra->window, window, memory_order_relaxed);
    *start = next;
    return window;
}
