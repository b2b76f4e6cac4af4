/* The interposed functions: the only symbols libuffdmap.so exports.
 *
 * Each one is a thin gate: anonymous mappings and calls that touch nothing managed go straight
 * on to libc; the rest is the core's business. A per-thread um_shim_depth counter sends re-entrant
 * calls (see shim.h) straight on too. */
/* Meson builds with _FILE_OFFSET_BITS=64, under which <sys/mman.h> renames mmap to mmap64;
 * off_t is 64 bits on the targets we build for either way, and both names are defined here. */
#undef _FILE_OFFSET_BITS
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "../core/runtime.h"
#include "next.h"
#include "shim.h"

#define EXPORT __attribute__((visibility("default")))

_Thread_local int um_shim_depth __attribute__((tls_model("initial-exec")));

extern char **environ;

__attribute__((destructor)) static void shim_fini(void)
{
    um_runtime_exit();
}

__attribute__((constructor)) static void shim_init(void)
{
    um_next_resolve();
    um_runtime_configure(environ);
    /* quick_exit() runs no destructor: stores would be lost that the kernel keeps. */
    at_quick_exit(shim_fini);
}

static void *map_file(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    void *out = MAP_FAILED;
    switch (um_map(addr, len, prot, flags, fd, off, &out)) {
    case UM_MANAGED:
        return out;
    case UM_FAILED:
        return MAP_FAILED;
    case UM_PASS:
        break;
    }
    if ((flags & MAP_FIXED) && um_map_fixed_over(addr, len, prot, flags, fd, off, &out))
        return out;
    return um_next_mmap(addr, len, prot, flags, fd, off);
}

EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    if (um_shim_depth || !um_runtime_active())
        return um_next_mmap(addr, len, prot, flags, fd, off);
    bool file = !(flags & MAP_ANONYMOUS) && fd >= 0;
    if (!file && !(flags & MAP_FIXED))
        return um_next_mmap(addr, len, prot, flags, fd, off);
    int saved = errno; /* a call that succeeds leaves errno alone, as the kernel's does */
    struct um_shim_call call;
    um_shim_enter(&call);
    void *p;
    if ((flags & MAP_FIXED) && um_fixed_over_core(addr, len))
        p = MAP_FAILED;
    else if (file)
        p = map_file(addr, len, prot, flags, fd, off);
    else if (!um_map_fixed_over(addr, len, prot, flags, fd, off, &p))
        p = um_next_mmap(addr, len, prot, flags, fd, off);
    um_shim_leave(&call);
    if (p != MAP_FAILED)
        errno = saved;
    return p;
}

EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
    __attribute__((alias("mmap")));

EXPORT int munmap(void *addr, size_t len)
{
    if (um_shim_depth || !um_runtime_active())
        return um_next_munmap(addr, len);
    int saved = errno;
    struct um_shim_call call;
    um_shim_enter(&call);
    int result;
    if (!um_unmap(addr, len, &result))
        result = um_next_munmap(addr, len);
    um_shim_leave(&call);
    if (result == 0)
        errno = saved;
    return result;
}

EXPORT int msync(void *addr, size_t len, int flags)
{
    /* The kernel's msync on the anonymous memory validates arguments and the range with the
     * errors it gives for a file mapping, and does nothing else; then the core writes back. */
    int saved = errno;
    int result = um_next_msync(addr, len, flags);
    if (result || um_shim_depth || !um_runtime_active())
        return result;
    struct um_shim_call call;
    um_shim_enter(&call);
    um_msync(addr, len, flags, &result);
    um_shim_leave(&call);
    if (result == 0)
        errno = saved;
    return result;
}

EXPORT int madvise(void *addr, size_t len, int advice)
{
    if (um_shim_depth || !um_runtime_active())
        return um_next_madvise(addr, len, advice);
    int saved = errno;
    struct um_shim_call call;
    um_shim_enter(&call);
    int result;
    if (!um_madvise(addr, len, advice, &result))
        result = um_next_madvise(addr, len, advice);
    um_shim_leave(&call);
    if (result == 0)
        errno = saved;
    return result;
}

EXPORT int mprotect(void *addr, size_t len, int prot)
{
    if (um_shim_depth || !um_runtime_active())
        return um_next_mprotect(addr, len, prot);
    int saved = errno;
    struct um_shim_call call;
    um_shim_enter(&call);
    int result, err = um_mprotect_prepare(addr, len, prot);
    if (err) {
        errno = err;
        result = -1;
    } else if (!um_mprotect(addr, len, prot, &result)) {
        result = um_next_mprotect(addr, len, prot);
    }
    um_shim_leave(&call);
    if (result == 0)
        errno = saved;
    return result;
}

EXPORT void *mremap(void *old, size_t old_len, size_t new_len, int flags, ...)
{
    void *new_addr = NULL;
    if (flags & MREMAP_FIXED) {
        va_list ap;
        va_start(ap, flags);
        new_addr = va_arg(ap, void *);
        va_end(ap);
    }
    if (um_shim_depth || !um_runtime_active())
        return um_next_mremap(old, old_len, new_len, flags, new_addr);
    int saved = errno;
    struct um_shim_call call;
    um_shim_enter(&call);
    void *result;
    if ((flags & MREMAP_FIXED) && um_fixed_over_core(new_addr, new_len))
        result = MAP_FAILED;
    else if (!um_mremap(old, old_len, new_len, flags, new_addr, &result)) {
        if (flags & MREMAP_FIXED)
            um_forget(new_addr, new_len);
        result = um_next_mremap(old, old_len, new_len, flags, new_addr);
    }
    um_shim_leave(&call);
    if (result != MAP_FAILED)
        errno = saved;
    return result;
}
