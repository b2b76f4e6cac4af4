/* munmap() of part of a managed mapping: the hole is really unmapped, everything around it
 * still reads the file, and memory the application later maps into the hole is never touched
 * by eviction of the old mapping's pages. */
#include "common.h"

static bool is_unmapped(const uint8_t *addr, size_t len)
{
    return msync((void *)addr, len, MS_ASYNC) == -1 && errno == ENOMEM;
}

int main(int argc, char **argv)
{
    const char *dir = data_dir(argc, argv);
    uint64_t budget = env_size("UFFDMAP_BUFSIZE", 16 * MiB);
    uint64_t size = 64 * PAGE;
    char *path = make_file(dir, "partial_munmap.bin", size);
    int fd = open_ro(path);
    const uint8_t *p = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
    CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
    expect_managed(p);
    expect_file_bytes(fd, p, 0, size); /* everything resident */

    /* A hole inside one 64 KiB block, one spanning blocks, and both ends. */
    CHECK(munmap((void *)(p + 10 * PAGE), 2 * PAGE) == 0, "munmap middle: %s", strerror(errno));
    CHECK(munmap((void *)(p + 30 * PAGE), 20 * PAGE) == 0, "munmap span: %s", strerror(errno));
    CHECK(munmap((void *)p, 2 * PAGE) == 0, "munmap head: %s", strerror(errno));
    CHECK(munmap((void *)(p + 62 * PAGE), 2 * PAGE) == 0, "munmap tail: %s", strerror(errno));
    CHECK(is_unmapped(p + 10 * PAGE, 2 * PAGE), "hole at page 10 still mapped");
    CHECK(is_unmapped(p + 30 * PAGE, 20 * PAGE), "hole at page 30 still mapped");
    CHECK(is_unmapped(p, 2 * PAGE), "head still mapped");
    CHECK(is_unmapped(p + 62 * PAGE, 2 * PAGE), "tail still mapped");
    /* Both sides of the hole inside one block, alternately, then all that remains. */
    for (int round = 0; round < 3; round++) {
        expect_file_bytes(fd, p + 9 * PAGE, 9 * PAGE, PAGE);
        expect_file_bytes(fd, p + 12 * PAGE, 12 * PAGE, PAGE);
    }
    expect_file_bytes(fd, p + 2 * PAGE, 2 * PAGE, 8 * PAGE);
    expect_file_bytes(fd, p + 12 * PAGE, 12 * PAGE, 18 * PAGE);
    expect_file_bytes(fd, p + 50 * PAGE, 50 * PAGE, 12 * PAGE);

    /* Application memory in a hole survives evictions of the old mapping's pages. */
    uint8_t *mine = mmap((void *)(p + 30 * PAGE), 20 * PAGE, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    CHECK(mine == p + 30 * PAGE, "mapping into the hole: %s", strerror(errno));
    memset(mine, 0xab, 20 * PAGE);
    uint64_t big = 3 * budget;
    char *big_path = make_file(dir, "partial_munmap_big.bin", big);
    int big_fd = open_ro(big_path);
    const uint8_t *q = mmap(NULL, big, PROT_READ, MAP_SHARED, big_fd, 0);
    CHECK(q != MAP_FAILED, "mmap big: %s", strerror(errno));
    const volatile uint8_t *scan = q; /* volatile: every page must really be touched */
    for (uint64_t off = 0; off < big; off += PAGE)
        (void)scan[off];
    for (size_t i = 0; i < 20 * PAGE; i++)
        CHECK(mine[i] == 0xab, "application byte %zu in the hole changed to %u", i, mine[i]);
    expect_file_bytes(fd, p + 50 * PAGE, 50 * PAGE, 12 * PAGE);

    munmap((void *)q, big);
    munmap(mine, 20 * PAGE);
    /* A new managed mapping made while holes exist (the shim allocates for it), then one
     * munmap() of the whole original range, holes included: the new one must not suffer. */
    char *small_path = make_file(dir, "partial_munmap_small.bin", 8 * PAGE);
    int small_fd = open_ro(small_path);
    const uint8_t *s = mmap(NULL, 8 * PAGE, PROT_READ, MAP_PRIVATE, small_fd, 0);
    CHECK(s != MAP_FAILED, "mmap small");
    expect_managed(s);
    CHECK(munmap((void *)p, size) == 0, "munmap of a range with holes: %s", strerror(errno));
    CHECK(is_unmapped(p + 2 * PAGE, 8 * PAGE), "remains still mapped");
    expect_file_bytes(small_fd, s, 0, 8 * PAGE);
    munmap((void *)s, 8 * PAGE);
    unlink(small_path);
    unlink(big_path);
    unlink(path);
    printf("partial_munmap: holes unmapped, remains intact, foreign memory untouched\n");
    return 0;
}
