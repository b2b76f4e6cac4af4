/* A memfd that may be sealed: F_ADD_SEALS(F_SEAL_WRITE) fails with EBUSY while a shared
 * writable mapping of it exists, and its stores stay in the memfd, as with the kernel's
 * mapping; the kernel alone can tell its own mappings, so the shim leaves such memfds to it. A
 * memfd that cannot be sealed is served like any file. The program runs itself again with
 * UFFDMAP_PATHS matching memfds ("/memfd:NAME (deleted)"). */
#include <sys/syscall.h>

#include "common.h"

/* A byte the file does not hold there. */
static uint8_t flipped(uint64_t off)
{
    return (uint8_t)(pattern_at(off) ^ 0xff);
}

#define PAGES 16

static bool preloaded(void)
{
    const char *p = getenv("LD_PRELOAD");
    return p && *p;
}

static int make_memfd(const char *name, unsigned flags)
{
    int fd = memfd_create(name, flags);
    CHECK(fd >= 0, "memfd_create: %s", strerror(errno));
    static uint8_t buf[PAGES * PAGE];
    pattern_fill(buf, 0, sizeof buf);
    CHECK(write(fd, buf, sizeof buf) == (ssize_t)sizeof buf, "write");
    return fd;
}

static int add_seal(int fd)
{
    errno = 0;
    return fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE) ? errno : 0;
}

static void sealable(void)
{
    int fd = make_memfd("e2e-seal", MFD_ALLOW_SEALING);
    long k = syscall(SYS_mmap, NULL, PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHECK(k != -1, "kernel mmap");
    int kernel = add_seal(fd);
    syscall(SYS_munmap, k, PAGES * PAGE);
    CHECK(kernel == EBUSY, "the kernel sealed a mapped memfd: %d", kernel);

    uint8_t *p = mmap(NULL, PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
    p[3 * PAGE + 1] = flipped(3 * PAGE + 1);
    int shim = add_seal(fd);
    CHECK(shim == kernel, "F_ADD_SEALS(F_SEAL_WRITE) with a writable mapping: %d, kernel %d",
          shim, kernel);
    CHECK(munmap(p, PAGES * PAGE) == 0, "munmap");
    uint8_t b;
    CHECK(pread(fd, &b, 1, 3 * PAGE + 1) == 1 && b == flipped(3 * PAGE + 1),
          "the store was lost");
    CHECK(add_seal(fd) == 0, "F_ADD_SEALS once unmapped");
    close(fd);
}

static void not_sealable(void)
{
    int fd = make_memfd("e2e-plain", 0);
    uint8_t *p = mmap(NULL, PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
    if (preloaded())
        expect_managed(p);
    expect_file_bytes(fd, p, 0, PAGES * PAGE);
    p[5] = flipped(5);
    CHECK(msync(p, PAGES * PAGE, MS_SYNC) == 0, "msync");
    uint8_t b;
    CHECK(pread(fd, &b, 1, 5) == 1 && b == flipped(5), "the store was lost");
    CHECK(add_seal(fd) == EPERM, "a memfd without MFD_ALLOW_SEALING was sealed");
    munmap(p, PAGES * PAGE);
    close(fd);
}

int main(int argc, char **argv)
{
    (void)argc;
    alarm(60);
    if (preloaded() && !getenv("E2E_MEMFD_AGAIN")) {
        const char *paths = getenv("UFFDMAP_PATHS");
        char *both = malloc(strlen(paths ? paths : "") + 32);
        sprintf(both, "/memfd?e2e-*:%s", paths ? paths : "");
        setenv("UFFDMAP_PATHS", both, 1);
        setenv("E2E_MEMFD_AGAIN", "1", 1);
        execv("/proc/self/exe", argv);
        CHECK(0, "execv: %s", strerror(errno));
    }
    sealable();
    not_sealable();
    printf("memfd_seal: sealing and stores as with the kernel's mappings\n");
    return 0;
}
