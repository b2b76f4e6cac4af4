/* A file on a noexec mount: mprotect(PROT_EXEC) of its mapping fails with the kernel's errno
 * (EACCES: the mapping may never execute), and mmap(PROT_EXEC) too, managed or not. The mount
 * is a tmpfs mounted noexec over the data directory in a mount namespace of the test's own,
 * so root is needed: skipped (77) otherwise. */
#include <sched.h>
#include <sys/mount.h>
#include <sys/syscall.h>

#include "common.h"

#define PAGES 8

int main(int argc, char **argv)
{
    alarm(60);
    const char *dir = data_dir(argc, argv);
    /* Before the first managed mmap(): the shim's threads would make unshare() fail. */
    if (geteuid() != 0 || unshare(CLONE_NEWNS) ||
        mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
        mount("tmpfs", dir, "tmpfs", MS_NOEXEC | MS_NOSUID | MS_NODEV, "size=1m")) {
        printf("noexec: skipped, a noexec mount needs root (%s)\n", strerror(errno));
        return 77;
    }
    char *path = make_file(dir, "noexec.bin", PAGES * PAGE);
    int fd = open_ro(path);
    long k = syscall(SYS_mmap, NULL, PAGES * PAGE, PROT_READ, MAP_SHARED, fd, 0);
    CHECK(k != -1, "kernel mmap: %s", strerror(errno));
    errno = 0;
    int kr = (int)syscall(SYS_mprotect, k, PAGE, PROT_READ | PROT_EXEC), kerr = errno;
    syscall(SYS_munmap, k, PAGES * PAGE);
    errno = 0;
    long kx = syscall(SYS_mmap, NULL, PAGE, PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0);
    int kxerr = errno;
    CHECK(kr == -1 && kx == -1, "the kernel let a noexec file execute");

    uint8_t *p = mmap(NULL, PAGES * PAGE, PROT_READ, MAP_SHARED, fd, 0);
    CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
    expect_managed(p);
    CHECK(p[0] == pattern_at(0), "bytes");
    errno = 0;
    int sr = mprotect(p, PAGE, PROT_READ | PROT_EXEC), serr = errno;
    CHECK(sr == kr && serr == kerr, "mprotect(PROT_EXEC): %d errno %d, kernel %d errno %d", sr,
          serr, kr, kerr);
    CHECK(mprotect(p, PAGE, PROT_READ) == 0, "mprotect(PROT_READ): %s", strerror(errno));
    expect_file_bytes(fd, p, 0, PAGES * PAGE);
    errno = 0;
    void *x = mmap(NULL, PAGE, PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0);
    CHECK(x == MAP_FAILED && errno == kxerr, "mmap(PROT_EXEC): errno %d, kernel %d", errno,
          kxerr);
    munmap(p, PAGES * PAGE);
    printf("noexec: PROT_EXEC refused as by the kernel (errno %d)\n", kerr);
    return 0;
}
