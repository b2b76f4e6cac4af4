#include "readahead.h"

/* The stream whose next block is `block`, or NULL. */
static struct um_ra_stream *continued(struct um_ra *ra, size_t block)
{
    for (unsigned i = 0; i < UM_RA_STREAMS; i++)
        if (atomic_load_explicit(&ra->streams[i].next, memory_order_relaxed) == block)
            return &ra->streams[i];
    return NULL;
}

/* The stream used least recently: a new reader takes it over. */
static struct um_ra_stream *oldest(struct um_ra *ra)
{
    struct um_ra_stream *old = &ra->streams[0];
    unsigned now = atomic_load_explicit(&ra->tick, memory_order_relaxed);
    for (unsigned i = 1; i < UM_RA_STREAMS; i++) {
        struct um_ra_stream *s = &ra->streams[i];
        if (now - atomic_load_explicit(&s->used, memory_order_relaxed) >
            now - atomic_load_explicit(&old->used, memory_order_relaxed))
            old = s;
    }
    return old;
}

static void touch(struct um_ra *ra, struct um_ra_stream *s)
{
    unsigned now = atomic_fetch_add_explicit(&ra->tick, 1, memory_order_relaxed) + 1;
    atomic_store_explicit(&s->used, now, memory_order_relaxed);
}

unsigned um_ra_on_fault(struct um_ra *ra, size_t block, unsigned max, enum um_ra_mode mode)
{
    int hint = atomic_load_explicit(&ra->hint, memory_order_relaxed);
    struct um_ra_stream *s = continued(ra, block);
    unsigned window = 0;
    if (hint == UM_RA_SEQUENTIAL || (hint == UM_RA_NORMAL && mode == UM_RA_FIXED)) {
        window = max;
    } else if (hint == UM_RA_NORMAL && mode == UM_RA_ADAPTIVE && s) {
        unsigned last = atomic_load_explicit(&s->window, memory_order_relaxed);
        window = last ? 2 * last : 1;
        if (window > max)
            window = max;
    }
    if (!s)
        s = oldest(ra);
    touch(ra, s);
    atomic_store_explicit(&s->window, window, memory_order_relaxed);
    atomic_store_explicit(&s->next, block + window + 1, memory_order_relaxed);
    return window;
}

void um_ra_stopped(struct um_ra *ra, size_t next, size_t stop)
{
    struct um_ra_stream *s = continued(ra, next);
    if (s)
        atomic_compare_exchange_strong(&s->next, &next, stop);
}

unsigned um_ra_used(struct um_ra *ra, size_t block)
{
    struct um_ra_stream *s = continued(ra, block);
    return s ? atomic_load_explicit(&s->window, memory_order_relaxed) : 0;
}

unsigned um_ra_on_catch_up(struct um_ra *ra, size_t block, unsigned max, size_t lead,
                           size_t *start)
{
    if (atomic_load_explicit(&ra->hint, memory_order_relaxed) == UM_RA_RANDOM)
        return 0;
    for (unsigned i = 0; i < UM_RA_STREAMS; i++) {
        struct um_ra_stream *s = &ra->streams[i];
        unsigned last = atomic_load_explicit(&s->window, memory_order_relaxed);
        size_t next = atomic_load_explicit(&s->next, memory_order_relaxed);
        if (last == 0 || block >= next || next - block >= lead)
            continue;
        unsigned window = 2 * last > max ? max : 2 * last;
        if (window == 0 || !atomic_compare_exchange_strong(&s->next, &next, next + window))
            return 0;
        touch(ra, s);
        atomic_store_explicit(&s->window, window, memory_order_relaxed);
        *start = next;
        return window;
    }
    return 0;
}
