#include "os.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>

#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

void *um_os_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
}

int um_os_munmap(void *addr, size_t len)
{
    return (int)syscall(SYS_munmap, addr, len);
}

int um_os_madvise(void *addr, size_t len, int advice)
{
    return (int)syscall(SYS_madvise, addr, len, advice);
}

ssize_t um_os_pread(int fd, void *buf, size_t len, off_t off)
{
    return syscall(SYS_pread64, fd, buf, len, off);
}

ssize_t um_os_pwrite(int fd, const void *buf, size_t len, off_t off)
{
    return syscall(SYS_pwrite64, fd, buf, len, off);
}

ssize_t um_os_read(int fd, void *buf, size_t len)
{
    return syscall(SYS_read, fd, buf, len);
}

ssize_t um_os_write(int fd, const void *buf, size_t len)
{
    return syscall(SYS_write, fd, buf, len);
}

/* The core's own memory lives in an address zone of its own, far below where the kernel
 * places mappings top-down. Were it placed by the kernel, a table could land in a hole the
 * application punched in one of its mappings, and the application's later munmap() of the
 * whole original range (legal, and common) would unmap the table under us. */
#ifdef UM_OS_NO_ZONE
static _Atomic uintptr_t zone_next = 0; /* sanitizer builds: their runtimes own the layout */
#else
static _Atomic uintptr_t zone_next = 0x200000000000UL; /* 32 TiB */
#endif

#define ZONE_TRIES 64

static void *zone_alloc(size_t len)
{
    for (int i = 0; i < ZONE_TRIES && atomic_load(&zone_next); i++) {
        uintptr_t at = atomic_fetch_add(&zone_next, len);
        void *p = um_os_mmap((void *)at, len, PROT_READ | PROT_WRITE,
                             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE,
                             -1, 0);
        if (p == (void *)at)
            return p;
        if (p != MAP_FAILED) /* a kernel without MAP_FIXED_NOREPLACE treated it as a hint */
            um_os_munmap(p, len);
        else if (errno != EEXIST)
            break;
    }
    return NULL;
}

void *um_os_alloc(size_t len)
{
    len = um_page_up(len);
    void *p = zone_alloc(len);
    if (p)
        return p;
    p = um_os_mmap(NULL, len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void um_os_free(void *p, size_t len)
{
    if (p)
        um_os_munmap(p, um_page_up(len));
}
