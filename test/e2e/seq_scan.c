/* A sequential scan of a file 4x the budget reads the file's bytes, through a mapping served
 * by the shim, and peak RSS grows by no more than the budget (x1.05 + 16 MiB). */
#include "common.h"

int main(int argc, char **argv)
{
    const char *dir = data_dir(argc, argv);
    uint64_t budget = env_size("UFFDMAP_BUFSIZE", 0);
    CHECK(budget > 0, "UFFDMAP_BUFSIZE must be set for this test");
    uint64_t size = 4 * budget + 12345; /* a partial last page too */
    char *path = make_file(dir, "seq_scan.bin", size);
    int fd = open_ro(path);
    uint64_t baseline = vm_hwm();

    const uint8_t *p = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
    CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
    expect_managed(p);
    CHECK(!strstr(maps_line(p), path), "the file itself is mapped: %s", maps_line(p));

    uint64_t sum = 0, expected = 0;
    for (uint64_t off = 0; off < size; off++) {
        sum = sum * 31 + p[off];
        expected = expected * 31 + pattern_at(off);
    }
    CHECK(sum == expected, "checksum %lx, expected %lx", (unsigned long)sum, (unsigned long)expected);
    expect_file_bytes(fd, p + size - 3 * PAGE, size - 3 * PAGE, 3 * PAGE);
    /* The tail of the last page past EOF reads zero. */
    for (uint64_t off = size; off % PAGE; off++)
        CHECK(p[off] == 0, "byte %lu past EOF is %u", (unsigned long)off, p[off]);

    uint64_t grown = vm_hwm() - baseline;
    uint64_t limit = budget + budget / 20 + 16 * MiB;
    printf("seq_scan: %lu MiB file, budget %lu MiB, VmHWM grew %lu KiB (limit %lu KiB)\n",
           (unsigned long)(size >> 20), (unsigned long)(budget >> 20),
           (unsigned long)(grown >> 10), (unsigned long)(limit >> 10));
    CHECK(grown <= limit, "peak RSS grew %lu bytes, over %lu", (unsigned long)grown,
          (unsigned long)limit);
    CHECK(munmap((void *)p, size) == 0, "munmap: %s", strerror(errno));
    unlink(path);
    return 0;
}
