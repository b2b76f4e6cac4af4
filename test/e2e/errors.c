/* Invalid requests for managed files fail with exactly the kernel's errno. The kernel's answer
 * comes from the raw system call in the same process, which the shim does not see. */
#include <sys/syscall.h>

#include "common.h"

static int shim_errno(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    errno = 0;
    void *p = mmap(addr, len, prot, flags, fd, off);
    if (p != MAP_FAILED) {
        munmap(p, len);
        return 0;
    }
    return errno;
}

static int kernel_errno(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    errno = 0;
    long p = syscall(SYS_mmap, addr, len, prot, flags, fd, off);
    if (p != -1) {
        syscall(SYS_munmap, p, len);
        return 0;
    }
    return errno;
}

#define SAME(addr, len, prot, flags, fd, off)                                        \
    do {                                                                             \
        int k = kernel_errno(addr, len, prot, flags, fd, off);                       \
        int s = shim_errno(addr, len, prot, flags, fd, off);                         \
        CHECK(k != 0, "the kernel accepted a case meant to be invalid");             \
        CHECK(s == k, "errno %d (%s), kernel %d (%s)", s, strerror(s), k, strerror(k)); \
    } while (0)

int main(int argc, char **argv)
{
    const char *dir = data_dir(argc, argv);
    char *path = make_file(dir, "errors.bin", 16 * PAGE);
    int fd = open_ro(path);
    int wfd = open(path, O_WRONLY);
    CHECK(wfd >= 0, "open O_WRONLY");
    /* The valid request is managed, so the cases below reach the shim's checks. */
    void *ok = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, 0);
    CHECK(ok != MAP_FAILED, "valid mmap");
    expect_managed(ok);

    SAME(NULL, 0, PROT_READ, MAP_SHARED, fd, 0);                      /* EINVAL */
    SAME(NULL, PAGE, PROT_READ, MAP_SHARED, fd, 100);                 /* EINVAL */
    SAME(NULL, PAGE, PROT_READ, MAP_SHARED, fd, -PAGE);               /* EINVAL/EOVERFLOW */
    SAME(NULL, PAGE, PROT_READ, MAP_SHARED, wfd, 0);                  /* EACCES */
    SAME(NULL, PAGE, PROT_READ, 0, fd, 0);                            /* EINVAL */
    SAME(NULL, (size_t)1 << 62, PROT_READ, MAP_SHARED, fd, 0);        /* ENOMEM */
    SAME((void *)((uintptr_t)ok + 1), PAGE, PROT_READ, MAP_SHARED | MAP_FIXED, fd, 0); /* EINVAL */
    SAME(ok, PAGE, PROT_READ, MAP_SHARED | MAP_FIXED_NOREPLACE, fd, 0); /* EEXIST */
    close(wfd);
    int closed = dup(fd);
    close(closed);
    SAME(NULL, PAGE, PROT_READ, MAP_SHARED, closed, 0);               /* EBADF */

    errno = 0;
    CHECK(munmap((char *)ok + 1, PAGE) == -1 && errno == EINVAL, "munmap unaligned: %d", errno);
    errno = 0;
    CHECK(munmap(ok, 0) == -1 && errno == EINVAL, "munmap of 0 bytes: %d", errno);
    CHECK(*(volatile uint8_t *)ok == pattern_at(0), "mapping damaged by failed calls");
    munmap(ok, PAGE);
    unlink(path);
    printf("errors: every invalid request failed with the kernel's errno\n");
    return 0;
}
