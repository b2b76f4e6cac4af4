/* A forked child that does not exec shares its parent's page cache: every mapping it inherited
 * stays served by the shim and reads the file's bytes, filled or not (never zeros); it keeps the
 * parent's private stores as its own; parent and child see each other's stores through a shared
 * mapping, before and after the fork, and the child's pwrite() shows through its mapping at
 * once. The parent's mappings stay served by the shim, and the child's new ones are served too;
 * every store reaches the file. */
#include <sys/wait.h>

#include "common.h"

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

    /* A private store and a shared store, both before the fork. */
    uint8_t *priv = mmap(NULL, 16 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    CHECK(priv != MAP_FAILED, "mmap private: %s", strerror(errno));
    expect_managed(priv);
    priv[3 * PAGE + 1] = (uint8_t)(pattern_at(3 * PAGE + 1) + 1);
    char *shared_path = make_file(dir, "fork_child_shared.bin", 16 * PAGE);
    int rw = open(shared_path, O_RDWR);
    CHECK(rw >= 0, "open O_RDWR");
    uint8_t *shared = mmap(NULL, 16 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, rw, 0);
    CHECK(shared != MAP_FAILED, "mmap shared: %s", strerror(errno));
    expect_managed(shared);
    shared[4 * PAGE + 2] = 0x5a;
    int ping[2], pong[2];
    CHECK(pipe(ping) == 0 && pipe(pong) == 0, "pipe");

    pid_t child = fork();
    CHECK(child >= 0, "fork");
    if (child == 0) {
        const uint8_t *unfilled = p + size - PAGE;
        expect_managed(unfilled);
        CHECK(*unfilled == pattern_at(size - PAGE), "child's unfilled page reads %u",
              *unfilled);
        /* The file as the parent left it: its shared store included. */
        CHECK(shared[4 * PAGE + 2] == 0x5a, "child does not see the parent's shared store");
        expect_managed(shared);
        uint8_t b;
        CHECK(pread(rw, &b, 1, 4 * PAGE + 2) == 1 && b == 0x5a, "shared store not in the file");
        b = 0x63;
        CHECK(pwrite(rw, &b, 1, 8 * PAGE + 3) == 1, "child pwrite");
        CHECK(shared[8 * PAGE + 3] == 0x63, "child's pwrite not seen through its mapping");
        /* Stores after the fork, each way, through the shared mapping. */
        shared[6 * PAGE] = 0x61;
        CHECK(write(ping[1], "c", 1) == 1, "ping");
        char c;
        CHECK(read(pong[0], &c, 1) == 1, "pong");
        CHECK(shared[7 * PAGE] == 0x62, "child does not see the parent's later store");
        expect_file_bytes(fd, p + 64 * PAGE, 64 * PAGE, size - 64 * PAGE);
        CHECK(priv[3 * PAGE + 1] == (uint8_t)(pattern_at(3 * PAGE + 1) + 1),
              "child lost the parent's private store");
        expect_file_bytes(fd, priv + 4 * PAGE, 4 * PAGE, 12 * PAGE);
        /* The child's own new mappings are served by the shim (its own threads). */
        const uint8_t *fresh = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
        CHECK(fresh != MAP_FAILED, "child mmap");
        expect_managed(fresh);
        expect_file_bytes(fd, fresh + 64 * PAGE, 64 * PAGE, size - 64 * PAGE);
        _exit(0);
    }
    char c;
    CHECK(read(ping[0], &c, 1) == 1, "ping");
    CHECK(shared[6 * PAGE] == 0x61, "parent does not see the child's store");
    CHECK(shared[8 * PAGE + 3] == 0x63, "parent does not see the child's pwrite");
    shared[7 * PAGE] = 0x62;
    CHECK(write(pong[1], "p", 1) == 1, "pong");
    int status;
    CHECK(waitpid(child, &status, 0) == child, "waitpid");
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child failed (status %#x)", status);
    expect_managed(p);
    expect_file_bytes(fd, p + 64 * PAGE, 64 * PAGE, size - 64 * PAGE);
    CHECK(priv[3 * PAGE + 1] == (uint8_t)(pattern_at(3 * PAGE + 1) + 1), "parent lost its store");
    expect_managed(shared);
    munmap(shared, 16 * PAGE);
    uint8_t stored[3];
    CHECK(pread(rw, &stored[0], 1, 6 * PAGE) == 1 && pread(rw, &stored[1], 1, 7 * PAGE) == 1 &&
              pread(rw, &stored[2], 1, 8 * PAGE + 3) == 1,
          "pread");
    CHECK(stored[0] == 0x61 && stored[1] == 0x62 && stored[2] == 0x63,
          "stores not in the file: %x %x %x", stored[0], stored[1], stored[2]);
    munmap(priv, 16 * PAGE);
    close(rw);
    unlink(shared_path);
    munmap((void *)p, size);
    unlink(path);
    printf("fork_child: parent and child share the cache; every store reached the file\n");
    return 0;
}
