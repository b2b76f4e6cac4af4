/* One handler thread's private state. */
#ifndef UM_FILLER_H
#define UM_FILLER_H

#include <stdbool.h>
#include <stdint.h>

struct um_filler {
    unsigned index;
    void *buf;            /* bounce buffer: the handler never touches a mapping */
    size_t run_bytes;     /* its size: one block, or the longest read-ahead run */
    uint32_t *run;        /* frames of a read-ahead run */
    uintptr_t last_miss;  /* last page that faulted outside every managed range */
    unsigned misses;      /* how many times in a row */
    bool streaming;       /* filling read-ahead of a reader that caught up (io.h `stream`) */
};

#endif
