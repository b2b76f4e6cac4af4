/* msync_blockerr DIR: store through a shared mapping of DIR/data.bin and msync(MS_SYNC); print
 * the errno (0 if none) and whether the mapping was served by the shim. blockerr.sh runs it on
 * a file system whose block device fails writes, with and without the preload, and compares. */
#include "common.h"

int main(int argc, char **argv)
{
    CHECK(argc == 2, "usage: %s DIR", argv[0]);
    char path[4096];
    snprintf(path, sizeof path, "%s/data.bin", argv[1]);
    int fd = open(path, O_RDWR);
    CHECK(fd >= 0, "open %s", path);
    size_t size = 1 * MiB;
    uint8_t *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
    for (size_t off = 0; off < size; off += PAGE)
        p[off] = 7;
    int rc = msync(p, size, MS_SYNC);
    printf("%s %s\n", rc ? strerrorname_np(errno) : "0", is_managed(p) ? "managed" : "kernel");
    return 0;
}
