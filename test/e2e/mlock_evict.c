/* mlock() and mlock2() of a managed range: locked pages stay resident while twice the budget is
 * read elsewhere, keep every store, and read what the kernel's own mapping of the same file
 * (raw system calls, unseen by the shim) reads; once unlocked, MADV_DONTNEED drops a private
 * copy as the kernel's does. An alarm turns a livelock into a failure.
 * E2E_NO_MANAGED_CHECK=1 runs it without the preload. */
#include <sys/syscall.h>

#include "common.h"

#define N 256 /* 1 MiB */
#define PRESSURE (32 * MiB) /* twice the tests' budget */

#ifndef MLOCK_ONFAULT
#define MLOCK_ONFAULT 1
#endif

static bool check_managed = true;

static uint8_t *managed_map(size_t len, int prot, int flags, int fd)
{
    uint8_t *p = mmap(NULL, len, prot, flags, fd, 0);
    CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
    if (check_managed)
        expect_managed(p);
    return p;
}

static void expect_resident(const uint8_t *p, size_t pages, const char *what)
{
    unsigned char vec[N];
    CHECK(mincore((void *)p, pages * PAGE, vec) == 0, "mincore: %s", strerror(errno));
    for (size_t pg = 0; pg < pages; pg++)
        CHECK(vec[pg] & 1, "%s: locked page %zu was evicted", what, pg);
}

int main(int argc, char **argv)
{
    alarm(120);
    const char *dir = data_dir(argc, argv);
    const char *nm = getenv("E2E_NO_MANAGED_CHECK");
    check_managed = !(nm && *nm == '1');
    char *path = make_file(dir, "mlock_evict.bin", N * PAGE);
    int rw = open(path, O_RDWR);
    CHECK(rw >= 0, "open: %s", strerror(errno));
    uint8_t *k = kernel_map(N * PAGE, PROT_READ, MAP_SHARED, rw);

    /* Shared: stores, then the whole range locked. */
    uint8_t *s = managed_map(N * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, rw);
    for (size_t pg = 0; pg < N; pg += 3)
        s[pg * PAGE + 5] = 0xc1;
    if (mlock(s, N * PAGE)) {
        printf("mlock_evict: mlock() not allowed here (%s): skipped\n", strerror(errno));
        return 77;
    }
    /* Private, of another file (the first one may be the kernel's now): some pages copied,
     * then locked as they are touched. */
    char *path2 = make_file(dir, "mlock_evict2.bin", N * PAGE);
    int rw2 = open(path2, O_RDWR);
    CHECK(rw2 >= 0, "open: %s", strerror(errno));
    uint8_t *p = managed_map(N * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, rw2);
    uint8_t *kp = kernel_map(N * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, rw2);
    for (size_t pg = 0; pg < N; pg += 4) {
        p[pg * PAGE + 6] = 0xc2;
        kp[pg * PAGE + 6] = 0xc2;
    }
    CHECK(mlock2(p, N * PAGE, MLOCK_ONFAULT) == 0, "mlock2: %s", strerror(errno));
    CHECK(!memcmp(p, kp, N * PAGE), "private mapping differs from the kernel's once locked");

    pressure(dir, "mlock_evict_pressure.bin", PRESSURE);
    expect_resident(s, N, "shared");
    expect_resident(p, N, "private");
    CHECK(!memcmp(s, k, N * PAGE), "shared mapping differs from the kernel's");
    CHECK(!memcmp(p, kp, N * PAGE), "private mapping differs from the kernel's");
    for (size_t pg = 0; pg < N; pg += 3)
        s[pg * PAGE + 7] = 0xc3; /* stores to locked pages, after the pressure */
    for (size_t pg = 0; pg < N; pg += 3)
        CHECK(k[pg * PAGE + 5] == 0xc1 && k[pg * PAGE + 7] == 0xc3, "store to page %zu lost",
              pg);

    /* Unlocked, the private copies go with MADV_DONTNEED, as the kernel's do. */
    CHECK(munlock(p, N * PAGE) == 0 && syscall(SYS_munlock, kp, N * PAGE) == 0, "munlock");
    errno = 0;
    int r = madvise(p, N * PAGE, MADV_DONTNEED), e = errno;
    errno = 0;
    int kr = (int)syscall(SYS_madvise, kp, N * PAGE, MADV_DONTNEED);
    CHECK(r == kr && (r == 0 || e == errno), "MADV_DONTNEED: %d (errno %d), kernel %d (%d)", r,
          e, kr, errno);
    CHECK(!memcmp(p, kp, N * PAGE), "private mapping differs from the kernel's after DONTNEED");
    CHECK(munmap(s, N * PAGE) == 0, "munmap");
    expect_file_bytes(rw, k, 0, N * PAGE);
    printf("mlock_evict: locked pages stayed resident and kept every store\n");
    return 0;
}
