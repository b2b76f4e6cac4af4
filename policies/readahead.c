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
