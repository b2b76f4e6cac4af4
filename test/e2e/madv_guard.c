/* MADV_DONTNEED_LOCKED, MADV_GUARD_INSTALL and MADV_GUARD_REMOVE on managed mappings give what
 * they give on the kernel's own mapping of the same file in the same process (raw system
 * calls, unseen by the shim), step by step: the same results, the same faults on guard pages,
 * the same bytes after, with twice the budget read in between; stores made to a shared mapping
 * are kept, private copies dropped. An alarm turns a livelock into a failure.
 * E2E_NO_MANAGED_CHECK=1 runs it without the preload. */
#include <sys/syscall.h>

#include "common.h"

#ifndef MADV_DONTNEED_LOCKED
#define MADV_DONTNEED_LOCKED 24
#endif
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#define MADV_GUARD_REMOVE 103
#endif

#define N 64
#define PRESSURE (32 * MiB) /* twice the tests' budget */

static bool check_managed = true;

struct pair {
    uint8_t *m, *k; /* the shim's mapping, the kernel's */
    const char *what;
};

/* The same advice on both: the same result and errno. */
static void advise(struct pair *p, size_t pg, size_t pages, int advice)
{
    errno = 0;
    int r = madvise(p->m + pg * PAGE, pages * PAGE, advice), e = errno;
    errno = 0;
    int kr = (int)syscall(SYS_madvise, p->k + pg * PAGE, pages * PAGE, advice);
    CHECK(r == kr && (r == 0 || e == errno), "%s: madvise(%d) gave %d (errno %d), kernel %d (%d)",
          p->what, advice, r, e, kr, errno);
}

/* Every page: faults on both or neither, and reads the same bytes. */
static void same_view(struct pair *p, const char *when)
{
    for (size_t pg = 0; pg < N; pg++) {
        bool mf = read_faults(p->m + pg * PAGE), kf = read_faults(p->k + pg * PAGE);
        CHECK(mf == kf, "%s %s: page %zu %s", p->what, when, pg,
              mf ? "faults, not the kernel's" : "readable, the kernel's faults");
        if (!mf)
            CHECK(!memcmp(p->m + pg * PAGE, p->k + pg * PAGE, PAGE),
                  "%s %s: page %zu differs from the kernel's", p->what, when, pg);
    }
}

static void store(struct pair *p, size_t pg, uint8_t v)
{
    p->m[pg * PAGE + 9] = v;
    p->k[pg * PAGE + 9] = v;
}

/* Each run on a file of its own: a guarded file may stay the kernel's. */
static void run(const char *dir, int fd, int type, const char *what)
{
    struct pair p = {mmap(NULL, N * PAGE, PROT_READ | PROT_WRITE, type, fd, 0),
                     (uint8_t *)syscall(SYS_mmap, NULL, N * PAGE, PROT_READ | PROT_WRITE, type,
                                        fd, 0),
                     what};
    CHECK(p.m != MAP_FAILED && p.k != MAP_FAILED, "mmap: %s", strerror(errno));
    if (check_managed)
        expect_managed(p.m);
    for (size_t pg = 0; pg < 16; pg++)
        store(&p, pg, (uint8_t)(0x40 + pg + (type == MAP_SHARED ? 0 : 0x20)));
    advise(&p, 0, 4, MADV_DONTNEED_LOCKED); /* shared: kept; private: dropped */
    same_view(&p, "after MADV_DONTNEED_LOCKED");
    store(&p, 1, 0x51);
    advise(&p, 4, 2, MADV_GUARD_INSTALL);
    advise(&p, 9, 1, MADV_GUARD_INSTALL);
    same_view(&p, "with guards");
    store(&p, 8, 0x52);
    pressure(dir, "madv_guard_pressure.bin", PRESSURE);
    same_view(&p, "with guards, after pressure");
    advise(&p, 0, 12, MADV_DONTNEED_LOCKED);
    same_view(&p, "with guards, after MADV_DONTNEED_LOCKED");
    advise(&p, 3, 8, MADV_GUARD_REMOVE);
    same_view(&p, "after MADV_GUARD_REMOVE");
    store(&p, 4, 0x53);
    store(&p, 10, 0x54);
    same_view(&p, "after stores");
    CHECK(munmap(p.m, N * PAGE) == 0, "munmap");
    syscall(SYS_munmap, p.k, N * PAGE);
}

int main(int argc, char **argv)
{
    alarm(120);
    const char *dir = data_dir(argc, argv);
    const char *nm = getenv("E2E_NO_MANAGED_CHECK");
    check_managed = !(nm && *nm == '1');
    char *ppath = make_file(dir, "madv_guard_private.bin", N * PAGE);
    char *path = make_file(dir, "madv_guard.bin", N * PAGE);
    int pfd = open(ppath, O_RDWR), fd = open(path, O_RDWR);
    CHECK(pfd >= 0 && fd >= 0, "open: %s", strerror(errno));
    errno = 0;
    void *probe = (void *)syscall(SYS_mmap, NULL, PAGE, PROT_READ, MAP_SHARED, fd, 0);
    if (syscall(SYS_madvise, probe, PAGE, MADV_GUARD_INSTALL)) {
        printf("madv_guard: no guard regions on file mappings here (%s): skipped\n",
               strerror(errno));
        return 77;
    }
    syscall(SYS_munmap, probe, PAGE);
    run(dir, pfd, MAP_PRIVATE, "private");
    run(dir, fd, MAP_SHARED, "shared");
    uint8_t b;
    CHECK(pread(fd, &b, 1, 10 * PAGE + 9) == 1 && b == 0x54, "shared store not in the file");
    CHECK(pread(fd, &b, 1, 8 * PAGE + 9) == 1 && b == 0x52, "shared store not in the file");
    printf("madv_guard: guards and MADV_DONTNEED_LOCKED behave as on the kernel's mapping\n");
    return 0;
}
