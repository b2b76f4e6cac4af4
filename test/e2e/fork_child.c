/* A forked child that does not exec reads the file's bytes from every managed mapping it
 * inherited, filled or not (never zeros); the parent's mappings stay served by the shim. */
#include <sys/wait.h>

#include "common.h"

static bool file_backed(const void *addr)
{
    unsigned long lo, hi, off, ino;
    char perms[8], dev[16];
    return sscanf(maps_line(addr), "%lx-%lx %7s %lx %15s %lu", &lo, &hi, perms, &off, dev,
                  &ino) == 6 &&
           ino != 0;
}

int main(int argc, char **argv)
{
    const char *dir = data_dir(argc, argv);
    uint64_t budget = env_size("UFFDMAP_BUFSIZE", 16 * MiB);
    uint64_t size = 2 * budget + 5000;
    char *path = make_file(dir, "fork_child.bin", size);
    int fd = open_ro(path);
    const uint8_t *p = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
    expect_managed(p);
    expect_file_bytes(fd, p, 0, 64 * PAGE); /* some pages filled before the fork */

    pid_t child = fork();
    CHECK(child >= 0, "fork");
    if (child == 0) {
        CHECK(file_backed(p), "child's mapping is not the file: %s", maps_line(p));
        expect_file_bytes(fd, p, 0, size);
        _exit(0);
    }
    int status;
    CHECK(waitpid(child, &status, 0) == child, "waitpid");
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child failed (status %#x)", status);
    expect_managed(p);
    expect_file_bytes(fd, p, 0, size);
    munmap((void *)p, size);
    unlink(path);
    printf("fork_child: the child read the file's bytes; the parent still managed\n");
    return 0;
}
