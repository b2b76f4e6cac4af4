#include "next.h"

#include <dlfcn.h>
#include <sys/syscall.h>
#include <unistd.h>

typedef void *mmap_fn(void *, size_t, int, int, int, off_t);
typedef int munmap_fn(void *, size_t);
typedef int msync_fn(void *, size_t, int);

static mmap_fn *next_mmap;
static munmap_fn *next_munmap;
static msync_fn *next_msync;

void um_next_resolve(void)
{
    next_mmap = (mmap_fn *)dlsym(RTLD_NEXT, "mmap");
    next_munmap = (munmap_fn *)dlsym(RTLD_NEXT, "munmap");
    next_msync = (msync_fn *)dlsym(RTLD_NEXT, "msync");
}

void *um_next_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    if (next_mmap)
        return next_mmap(addr, len, prot, flags, fd, off);
    return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
}

int um_next_munmap(void *addr, size_t len)
{
    if (next_munmap)
        return next_munmap(addr, len);
    return (int)syscall(SYS_munmap, addr, len);
}

int um_next_msync(void *addr, size_t len, int flags)
{
    if (next_msync)
        return next_msync(addr, len, flags);
    return (int)syscall(SYS_msync, addr, len, flags);
}
