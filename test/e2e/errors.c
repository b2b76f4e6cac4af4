/* Invalid requests for managed files fail with exactly the kernel's errno, and calls that
 * succeed leave errno as it was. The kernel's answer comes from the raw system call in the
 * same process, which the shim does not see. */
#include <limits.h>
#include <sys/resource.h>
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

/* An address range free now. */
static void *free_range(size_t len)
{
    void *p = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(p != MAP_FAILED, "anonymous mmap");
    munmap(p, len);
    return p;
}

/* Flags MAP_SHARED_VALIDATE does not know, on a free range: the kernel's answer (EOPNOTSUPP
 * on 6.x for MAP_FIXED_NOREPLACE, found only once the address is checked). */
static void validate_flags(int fd)
{
    void *at = free_range(4 * PAGE);
    SAME(at, PAGE, PROT_READ, MAP_SHARED_VALIDATE | MAP_FIXED_NOREPLACE, fd, 0);
}

/* MADV_REMOVE on a read-only shared mapping of a descriptor open for writing: the kernel
 * punches the file (the mapping may be made writable: VM_MAYWRITE), and a private one it
 * refuses. Same result, and the same bytes in the file afterwards. */
static void remove_read_only(const char *dir)
{
    char *path = make_file(dir, "errors_remove.bin", 8 * PAGE);
    int fd = open(path, O_RDWR);
    CHECK(fd >= 0, "open O_RDWR");
    uint8_t zero[PAGE] = {0}, buf[PAGE];
    for (int type = 0; type < 2; type++) {
        int flags = type ? MAP_PRIVATE : MAP_SHARED;
        long k = syscall(SYS_mmap, NULL, 4 * PAGE, PROT_READ, flags, fd, 0);
        CHECK(k != -1, "kernel mmap");
        errno = 0;
        int kr = (int)syscall(SYS_madvise, k + PAGE, PAGE, MADV_REMOVE), kerr = errno;
        syscall(SYS_munmap, k, 4 * PAGE);
        uint8_t *p = mmap(NULL, 4 * PAGE, PROT_READ, flags, fd, 4 * PAGE);
        CHECK(p != MAP_FAILED, "mmap");
        expect_managed(p);
        CHECK(p[0] == pattern_at(4 * PAGE), "bytes");
        errno = 0;
        int sr = madvise(p + PAGE, PAGE, MADV_REMOVE), serr = errno;
        CHECK(sr == kr && (kr == 0 || serr == kerr),
              "MADV_REMOVE of a read-only %s mapping: %d errno %d, kernel %d errno %d",
              type ? "private" : "shared", sr, serr, kr, kerr);
        munmap(p, 4 * PAGE);
        for (int i = 0; i < 2; i++) {
            CHECK(pread(fd, buf, PAGE, (off_t)((i * 4 + 1) * PAGE)) == PAGE, "pread");
            bool holed = !memcmp(buf, zero, PAGE);
            CHECK(holed == (kr == 0), "page %d of the file %s punched", i * 4 + 1,
                  holed ? "was" : "was not");
        }
        if (kr == 0) { /* the next case starts from the pattern again */
            pattern_fill(buf, PAGE, PAGE);
            CHECK(pwrite(fd, buf, PAGE, PAGE) == PAGE, "pwrite");
            pattern_fill(buf, 5 * PAGE, PAGE);
            CHECK(pwrite(fd, buf, PAGE, 5 * PAGE) == PAGE, "pwrite");
        }
    }
    close(fd);
    unlink(path);
}

static size_t vm_size(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    size_t kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmSize: %zu kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb << 10;
}

/* Under an RLIMIT_AS that leaves room for the program's mapping and little else, the mapping
 * is made as the kernel makes it, whatever the shim would need besides (then it is the
 * kernel's). A file not mapped before, so that its cache must be set up now. */
static void address_space_limit(const char *dir)
{
    char *path = make_file(dir, "errors_as.bin", 256 * PAGE);
    int fd = open_ro(path);
    struct rlimit old, rl;
    CHECK(getrlimit(RLIMIT_AS, &old) == 0, "getrlimit");
    for (size_t extra = 0; extra <= 4 * PAGE; extra += PAGE) {
        rl = (struct rlimit){vm_size() + 256 * PAGE + extra, old.rlim_max};
        CHECK(setrlimit(RLIMIT_AS, &rl) == 0, "setrlimit");
        errno = 0;
        long k = syscall(SYS_mmap, NULL, 256 * PAGE, PROT_READ, MAP_SHARED, fd, 0);
        int kerr = errno;
        if (k != -1)
            syscall(SYS_munmap, k, 256 * PAGE);
        errno = 0;
        uint8_t *p = mmap(NULL, 256 * PAGE, PROT_READ, MAP_SHARED, fd, 0);
        int serr = errno;
        CHECK((p == MAP_FAILED) == (k == -1) && (k != -1 || serr == kerr),
              "RLIMIT_AS with %zu bytes to spare: mmap %s (errno %d), kernel's %s (errno %d)",
              extra, p == MAP_FAILED ? "failed" : "succeeded", serr,
              k == -1 ? "failed" : "succeeded", kerr);
        if (p != MAP_FAILED) {
            CHECK(p[255 * PAGE] == pattern_at(255 * PAGE), "bytes");
            munmap(p, 256 * PAGE);
        }
        CHECK(setrlimit(RLIMIT_AS, &old) == 0, "setrlimit");
    }
    close(fd);
    unlink(path);
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
    validate_flags(fd);
    remove_read_only(dir);
    success_keeps_errno(fd);
    address_space_limit(dir);
    munmap(ok, PAGE);
    unlink(path);
    printf("errors: every invalid request failed with the kernel's errno\n");
    return 0;
}
