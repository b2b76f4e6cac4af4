/* mapcat FILE... [--sleep SECONDS]: map each file read-only, print an FNV-1a digest of its bytes
 * and whether the shim served the mapping ("managed") or the kernel did ("kernel"); then sleep
 * if asked (with the mappings still there). Used by the shell tests. */
#include "common.h"

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--sleep") && i + 1 < argc) {
            sleep((unsigned)atoi(argv[i + 1]));
            break;
        }
        int fd = open_ro(argv[i]);
        struct stat st;
        CHECK(fstat(fd, &st) == 0, "fstat");
        size_t size = (size_t)st.st_size;
        const uint8_t *p = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
        CHECK(p != MAP_FAILED, "mmap %s: %s", argv[i], strerror(errno));
        uint64_t h = 0xcbf29ce484222325ULL;
        for (size_t j = 0; j < size; j++)
            h = (h ^ p[j]) * 0x100000001b3ULL;
        printf("%016llx %s %s\n", (unsigned long long)h, is_managed(p) ? "managed" : "kernel",
               argv[i]);
        close(fd);
    }
    return 0;
}
