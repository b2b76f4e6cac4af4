/* Invalid requests for managed files fail with exactly the kernel's errno, and calls that
 * succeed leave errno as it was. The kernel's answer comes from the raw system call in the
 * same process, which the shim does not see. */
#include <limits.h>
#include <sys/syscall.h>
#include <sys/uio.h>

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

/* readv/writev/preadv/pwritev of a managed file with iovecs the kernel refuses: its errno,
 * never a crash in the shim reading them. */
static void bad_iovecs(int fd)
{
    static struct iovec many[IOV_MAX + 1];
    static char byte;
    for (int i = 0; i <= IOV_MAX; i++)
        many[i] = (struct iovec){&byte, 1};
    const struct iovec *bad = (const struct iovec *)8;
    struct {
        const struct iovec *iov;
        int n;
    } cases[] = {{bad, 1}, {many, IOV_MAX + 1}, {many, -1}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        errno = 0;
        long k = syscall(SYS_readv, fd, cases[i].iov, cases[i].n);
        int kerr = errno;
        errno = 0;
        CHECK(k == -1 && readv(fd, cases[i].iov, cases[i].n) == -1 && errno == kerr,
              "readv case %zu: errno %d, kernel %d", i, errno, kerr);
        errno = 0;
        CHECK(preadv(fd, cases[i].iov, cases[i].n, 0) == -1 && errno == kerr,
              "preadv case %zu: errno %d, kernel %d", i, errno, kerr);
        errno = 0;
        k = syscall(SYS_writev, fd, cases[i].iov, cases[i].n);
        kerr = errno;
        errno = 0;
        CHECK(k == -1 && writev(fd, cases[i].iov, cases[i].n) == -1 && errno == kerr,
              "writev case %zu: errno %d, kernel %d", i, errno, kerr);
        errno = 0;
        CHECK(pwritev(fd, cases[i].iov, cases[i].n, 0) == -1 && errno == kerr,
              "pwritev case %zu: errno %d, kernel %d", i, errno, kerr);
    }
    errno = 0;
    long k = syscall(SYS_close_range, 10, 5, 0);
    int kerr = errno;
    errno = 0;
    CHECK(k == -1 && close_range(10, 5, 0) == -1 && errno == kerr,
          "close_range(10, 5): errno %d, kernel %d", errno, kerr);
}

/* Managed calls that succeed leave errno untouched. */
static void success_keeps_errno(int fd)
{
    errno = EDOM;
    uint8_t *p = mmap(NULL, 4 * PAGE, PROT_READ, MAP_SHARED, fd, 0);
    CHECK(p != MAP_FAILED && errno == EDOM, "mmap succeeded, errno %d", errno);
    expect_managed(p);
    CHECK(*(volatile uint8_t *)p == pattern_at(0), "bytes");
    CHECK(madvise(p, PAGE, MADV_DONTNEED) == 0 && errno == EDOM, "madvise: errno %d", errno);
    CHECK(mprotect(p, PAGE, PROT_NONE) == 0 && errno == EDOM, "mprotect: errno %d", errno);
    CHECK(mprotect(p, PAGE, PROT_READ) == 0 && errno == EDOM, "mprotect: errno %d", errno);
    CHECK(msync(p, PAGE, MS_SYNC) == 0 && errno == EDOM, "msync: errno %d", errno);
    uint8_t b;
    CHECK(pread(fd, &b, 1, 0) == 1 && errno == EDOM, "pread: errno %d", errno);
    p = mremap(p, 4 * PAGE, 8 * PAGE, MREMAP_MAYMOVE);
    CHECK(p != MAP_FAILED && errno == EDOM, "mremap: errno %d", errno);
    CHECK(munmap(p, 8 * PAGE) == 0 && errno == EDOM, "munmap: errno %d", errno);
}

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
    bad_iovecs(fd);
    success_keeps_errno(fd);
    munmap(ok, PAGE);
    unlink(path);
    printf("errors: every invalid request failed with the kernel's errno\n");
    return 0;
}
