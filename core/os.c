#include "os.h"

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

void *um_os_alloc(size_t len)
{
    void *p = um_os_mmap(NULL, um_page_up(len), PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void um_os_free(void *p, size_t len)
{
    if (p)
        um_os_munmap(p, um_page_up(len));
}
