/* mlock(), mlock2(), mlockall() and munlockall(), interposed: locked pages cannot live in a
 * bounded cache, so managed ranges about to be locked go to the kernel first, and mlockall()
 * leaves the core's own memory unlocked (core/lock.c). munlock() needs nothing. */
#include <errno.h>
#include <sys/mman.h>

#include "../core/runtime.h"
#include "next.h"
#include "shim.h"

#define EXPORT __attribute__((visibility("default")))

EXPORT int mlock(const void *addr, size_t len)
{
    if (um_shim_depth || !um_runtime_configured())
        return um_next_mlock(addr, len);
    int saved = errno;
    struct um_shim_call call;
    um_shim_enter(&call);
    um_lock_range(addr, len);
    int result = um_next_mlock(addr, len);
    um_shim_leave(&call);
    if (result == 0)
        errno = saved;
    return result;
}

EXPORT int mlock2(const void *addr, size_t len, unsigned flags)
{
    if (um_shim_depth || !um_runtime_configured())
        return um_next_mlock2(addr, len, flags);
    int saved = errno;
    struct um_shim_call call;
    um_shim_enter(&call);
    um_lock_range(addr, len);
    int result = um_next_mlock2(addr, len, flags);
    um_shim_leave(&call);
    if (result == 0)
        errno = saved;
    return result;
}

EXPORT int mlockall(int flags)
{
    int saved = errno;
    struct um_shim_call call;
    um_shim_enter(&call);
    int result = um_mlockall(flags);
    um_shim_leave(&call);
    if (result == 0)
        errno = saved;
    return result;
}

EXPORT int munlockall(void)
{
    int saved = errno;
    struct um_shim_call call;
    um_shim_enter(&call);
    int result = um_munlockall();
    um_shim_leave(&call);
    if (result == 0)
        errno = saved;
    return result;
}
