/* A failed write-back is never silent: on a full file system msync() fails with ENOSPC and the
 * stores stay dirty; once there is room a second msync() writes them all. Run on a small tmpfs
 * (enospc.sh mounts one): DIR holds BALLAST_KIB of ballast to delete. */
#include "common.h"

int main(int argc, char **argv)
{
    CHECK(argc == 3, "usage: %s DIR BALLAST_PATH", argv[0]);
    char path[4096];
    snprintf(path, sizeof path, "%s/data.bin", argv[1]);
    int fd = open(path, O_CREAT | O_TRUNC | O_RDWR, 0644);
    CHECK(fd >= 0, "open");
    size_t size = 1 * MiB;
    CHECK(ftruncate(fd, (off_t)size) == 0, "ftruncate"); /* sparse: no space taken yet */
    uint8_t *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
    expect_managed(p);
    for (size_t off = 0; off < size; off += PAGE)
        p[off] = (uint8_t)(off / PAGE + 1);
    errno = 0;
    CHECK(msync(p, size, MS_SYNC) == -1 && errno == ENOSPC, "msync on a full file system: %s",
          strerror(errno));
    errno = 0;
    CHECK(msync(p, size, MS_SYNC) == -1 && errno == ENOSPC, "the stores were dropped: %s",
          strerror(errno));
    CHECK(unlink(argv[2]) == 0, "unlink ballast");
    CHECK(msync(p, size, MS_SYNC) == 0, "msync with room: %s", strerror(errno));
    for (size_t off = 0; off < size; off += PAGE) {
        uint8_t b;
        CHECK(pread(fd, &b, 1, (off_t)off) == 1 && b == (uint8_t)(off / PAGE + 1),
              "store at %zu not in the file", off);
    }
    /* Stores that cannot be written at exit are reported, not dropped silently. */
    CHECK(ftruncate(fd, 0) == 0 && ftruncate(fd, (off_t)size) == 0, "re-sparse");
    int ballast = open(argv[2], O_CREAT | O_WRONLY, 0644);
    static uint8_t junk[64 << 10];
    while (write(ballast, junk, sizeof junk) > 0)
        ;
    close(ballast);
    for (size_t off = 0; off < size; off += PAGE)
        p[off] = 0x77;
    printf("msync_enospc: ENOSPC reported and stores kept until there was room\n");
    return 0; /* enospc.sh expects the exit report on stderr */
}
