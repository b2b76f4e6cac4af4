/* msync_eio FILE: FILE is on a file system whose writes fail with EIO (eio.sh mounts one).
 * Stores through a shared mapping make msync() fail with EIO, and keep failing (the stores are
 * kept dirty, never dropped); exit then reports them on stderr. */
#include "common.h"

int main(int argc, char **argv)
{
    CHECK(argc == 2, "usage: %s FILE", argv[0]);
    int fd = open(argv[1], O_RDWR);
    CHECK(fd >= 0, "open %s: %s", argv[1], strerror(errno));
    uint8_t *p = mmap(NULL, MiB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
    expect_managed(p);
    p[5 * PAGE] = 9;
    errno = 0;
    CHECK(msync(p, MiB, MS_SYNC) == -1 && errno == EIO, "msync: %s", strerror(errno));
    errno = 0;
    CHECK(msync(p, MiB, MS_SYNC) == -1 && errno == EIO, "second msync: %s", strerror(errno));
    CHECK(p[5 * PAGE] == 9, "the store is gone from the mapping");
    printf("msync_eio: EIO reported, and again: the store was kept\n");
    return 0;
}
