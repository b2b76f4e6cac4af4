/* msync(MS_SYNC) makes stores durable: a child stores through a shared mapping, syncs, then is
 * killed with SIGKILL before it can exit; the synced bytes are in the file. Also: msync()
 * errors are the kernel's, and MS_INVALIDATE makes later reads see the file. */
#include <signal.h>
#include <sys/wait.h>

#include "common.h"

int main(int argc, char **argv)
{
    const char *dir = data_dir(argc, argv);
    uint64_t budget = env_size("UFFDMAP_BUFSIZE", 16 * MiB);
    uint64_t size = 2 * budget;
    char *path = make_file(dir, "msync_kill.bin", size);
    int ready[2];
    CHECK(pipe(ready) == 0, "pipe");
    pid_t child = fork();
    CHECK(child >= 0, "fork");
    if (child == 0) {
        int fd = open(path, O_RDWR);
        uint8_t *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        CHECK(p != MAP_FAILED, "mmap");
        expect_managed(p);
        for (uint64_t off = 0; off < size; off += 2 * PAGE)
            p[off] = 0xa5;
        CHECK(msync(p, size, MS_SYNC) == 0, "msync: %s", strerror(errno));
        CHECK(write(ready[1], "x", 1) == 1, "write");
        for (;;)
            pause();
    }
    char c;
    CHECK(read(ready[0], &c, 1) == 1, "the child died before syncing");
    kill(child, SIGKILL);
    int status;
    waitpid(child, &status, 0);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "child status %#x", status);
    int fd = open_ro(path);
    for (uint64_t off = 0; off < size; off += PAGE) {
        uint8_t b;
        CHECK(pread(fd, &b, 1, (off_t)off) == 1, "pread");
        uint8_t want = off % (2 * PAGE) == 0 ? 0xa5 : pattern_at(off);
        CHECK(b == want, "file byte %lu is %u, want %u", (unsigned long)off, b, want);
    }

    /* Errors as the kernel's. */
    int rw = open(path, O_RDWR);
    uint8_t *p = mmap(NULL, 17 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, rw, 0);
    CHECK(p != MAP_FAILED, "mmap");
    expect_managed(p);
    CHECK(munmap(p + 16 * PAGE, PAGE) == 0, "munmap the last page"); /* a hole after */
    errno = 0;
    CHECK(msync(p + 1, PAGE, MS_SYNC) == -1 && errno == EINVAL, "unaligned: errno %d", errno);
    errno = 0;
    CHECK(msync(p, PAGE, MS_SYNC | MS_ASYNC) == -1 && errno == EINVAL, "both: errno %d", errno);
    errno = 0;
    CHECK(msync(p, 17 * PAGE, MS_SYNC) == -1 && errno == ENOMEM, "past the end: errno %d",
          errno);
    /* MS_INVALIDATE: a clean page read before a pwrite shows the pwrite afterwards. */
    CHECK(p[7 * PAGE] == pattern_at(7 * PAGE), "byte before");
    uint8_t v = 0x3c;
    CHECK(pwrite(rw, &v, 1, 7 * PAGE) == 1, "pwrite");
    CHECK(msync(p, 16 * PAGE, MS_INVALIDATE) == 0, "MS_INVALIDATE: %s", strerror(errno));
    CHECK(p[7 * PAGE] == 0x3c, "after MS_INVALIDATE the mapping shows %u", p[7 * PAGE]);
    munmap(p, 16 * PAGE);
    unlink(path);
    printf("msync_kill: synced stores survived SIGKILL; msync errors and MS_INVALIDATE as the kernel\n");
    return 0;
}
