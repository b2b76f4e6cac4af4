/* State shared by the shim's files. */
#ifndef UM_SHIM_H
#define UM_SHIM_H

#include "../core/os.h"

/* Calls made while the shim itself is at work (the core calling libc, which calls an allocator,
 * which calls mmap) go straight on to libc. */
extern _Thread_local int um_shim_depth __attribute__((tls_model("initial-exec")));

/* A program's thread going into the core, and out: no signal handler runs and no cancellation
 * acts in between (os.h says why). */
struct um_shim_call {
    struct um_os_quiet quiet;
};

static inline void um_shim_enter(struct um_shim_call *call)
{
    um_os_quiet_begin(&call->quiet);
    um_shim_depth++;
}

static inline void um_shim_leave(struct um_shim_call *call)
{
    um_shim_depth--;
    um_os_quiet_end(&call->quiet);
}

#endif
