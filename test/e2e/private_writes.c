/* MAP_PRIVATE stores stay the program's own: read back after eviction pressure, never reach
 * the file; pages not stored to still read the file. */
#include "common.h"

int main(int argc, char **argv)
{
    const char *dir = data_dir(argc, argv);
    uint64_t budget = env_size("UFFDMAP_BUFSIZE", 16 * MiB);
    uint64_t size = 4 * budget;
    char *path = make_file(dir, "private_writes.bin", size);
    int fd = open(path, O_RDWR);
    CHECK(fd >= 0, "open");
    uint8_t *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
    expect_managed(p);
    uint64_t stride = 37 * PAGE + 123; /* every so often, across blocks */
    for (uint64_t off = 0; off < size; off += stride)
        p[off] = (uint8_t)(pattern_at(off) + 1);
    /* Read the whole file through the mapping twice: evictions churn the clean pages. */
    for (int round = 0; round < 2; round++)
        for (uint64_t off = 0; off < size; off += 512) {
            uint8_t want = off % stride == 0 ? (uint8_t)(pattern_at(off) + 1) : pattern_at(off);
            CHECK(p[off] == want, "round %d: byte %lu is %u, want %u", round,
                  (unsigned long)off, p[off], want);
        }
    for (uint64_t off = 0; off < size; off += stride)
        CHECK(p[off] == (uint8_t)(pattern_at(off) + 1), "private store at %lu lost",
              (unsigned long)off);
    CHECK(msync(p, size, MS_SYNC) == 0, "msync");
    CHECK(munmap(p, size) == 0, "munmap");
    expect_file_bytes(fd, NULL, 0, 0);
    uint8_t buf[PAGE];
    for (uint64_t off = 0; off < size; off += PAGE) {
        CHECK(pread(fd, buf, PAGE, (off_t)off) == (ssize_t)PAGE, "pread");
        for (size_t i = 0; i < PAGE; i++)
            CHECK(buf[i] == pattern_at(off + i), "private store reached the file at %lu",
                  (unsigned long)(off + i));
    }
    unlink(path);
    printf("private_writes: private stores kept through eviction and never written\n");
    return 0;
}
