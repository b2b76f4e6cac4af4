/* A program that closes every descriptor, as daemons do (close() in a loop, then
 * close_range()), keeps reading its managed mapping of a file 2x the budget correctly: the
 * shim's own descriptors survive (close, close_range, closefrom). The descriptors the program opens afterwards get the lowest
 * free numbers, as without the shim. */
#include "common.h"

int main(int argc, char **argv)
{
    const char *dir = data_dir(argc, argv);
    uint64_t budget = env_size("UFFDMAP_BUFSIZE", 16 * MiB);
    uint64_t size = 2 * budget;
    char *path = make_file(dir, "close_all.bin", size);
    int fd = open_ro(path);
    const uint8_t *p = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
    CHECK(p != MAP_FAILED, "mmap");
    expect_managed(p);
    CHECK(p[0] == pattern_at(0), "first byte");
    for (int i = 3; i < 4096; i++)
        close(i);
    CHECK(close_range(3, ~0U, 0) == 0, "close_range: %s", strerror(errno));
    closefrom(3);
    int again = open(path, O_RDONLY);
    CHECK(again == 3, "the next descriptor is %d, not 3", again);
    uint8_t want[PAGE];
    for (uint64_t off = 0; off < size; off += PAGE) {
        pattern_fill(want, off, PAGE);
        CHECK(!memcmp(want, p + off, PAGE), "page at %lu wrong after closing all",
              (unsigned long)off);
    }
    unlink(path);
    printf("close_all: the mapping kept working after every descriptor was closed\n");
    return 0;
}
