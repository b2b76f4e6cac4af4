/* Fork children writing one shared mapping larger than the budget, as multiprocessing workers
 * do: each child stores to its own stripe of pages scattered over the whole file and leaves
 * with _exit() (no msync, no exit handlers); meanwhile the parent reads the whole mapping. The
 * parent then sees every child's stores through its mapping, and after msync() the file holds
 * them (read with the raw system call, past the shim). No mapping is handed to the kernel. */
#include <sys/syscall.h>
#include <sys/wait.h>

#include "common.h"

#define CHILDREN 4

static uint8_t stored(uint64_t page, unsigned child)
{
    return (uint8_t)(0x40 + child * 7 + page % 5);
}

static void child_work(uint8_t *p, uint64_t pages, unsigned child)
{
    expect_managed(p);
    for (uint64_t k = child; k < pages; k += CHILDREN)
        p[k * PAGE + 17] = stored(k, child);
    _exit(0);
}

int main(int argc, char **argv)
{
    const char *dir = data_dir(argc, argv);
    uint64_t budget = env_size("UFFDMAP_BUFSIZE", 16 * MiB);
    uint64_t size = 3 * budget, pages = size / PAGE;
    char *path = make_file(dir, "fork_writers.bin", size);
    int fd = open(path, O_RDWR);
    CHECK(fd >= 0, "open");
    uint8_t *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
    expect_managed(p);
    /* Resident blocks scattered over the file before the fork: every third page read. */
    for (uint64_t k = 0; k < pages; k += 3)
        CHECK(p[k * PAGE] == pattern_at(k * PAGE), "page %lu before the fork", (unsigned long)k);
    pid_t kids[CHILDREN];
    for (unsigned c = 0; c < CHILDREN; c++) {
        kids[c] = fork();
        CHECK(kids[c] >= 0, "fork");
        if (kids[c] == 0)
            child_work(p, pages, c);
    }
    uint64_t sum = 0;
    for (uint64_t k = 0; k < pages; k++)
        sum += p[k * PAGE + 5]; /* the parent reads meanwhile: evictions under the children */
    for (unsigned c = 0; c < CHILDREN; c++) {
        int status;
        CHECK(waitpid(kids[c], &status, 0) == kids[c], "waitpid");
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child %u status %#x", c, status);
    }
    for (uint64_t k = 0; k < pages; k++)
        CHECK(p[k * PAGE + 17] == stored(k, (unsigned)(k % CHILDREN)),
              "page %lu: the parent sees %u, the child stored %u", (unsigned long)k,
              p[k * PAGE + 17], stored(k, (unsigned)(k % CHILDREN)));
    expect_managed(p);
    CHECK(msync(p, size, MS_SYNC) == 0, "msync: %s", strerror(errno));
    for (uint64_t k = 0; k < pages; k++) {
        uint8_t b[2];
        CHECK(syscall(SYS_pread64, fd, b, 2, (off_t)(k * PAGE + 16)) == 2, "pread");
        CHECK(b[1] == stored(k, (unsigned)(k % CHILDREN)) && b[0] == pattern_at(k * PAGE + 16),
              "file page %lu holds %u, want %u", (unsigned long)k, b[1],
              stored(k, (unsigned)(k % CHILDREN)));
    }
    munmap(p, size);
    close(fd);
    unlink(path);
    printf("fork_writers: %u children's stores over %lu pages reached the parent and the file "
           "(checksum %lu)\n", CHILDREN, (unsigned long)pages, (unsigned long)sum);
    return 0;
}
