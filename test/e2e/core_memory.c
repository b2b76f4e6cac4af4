/* The shim's own tables live at addresses of their own (from 32 TiB, and a group's region at
 * 48 TiB). A program's MAP_FIXED mapping there would replace them and crash it later: the
 * call fails with ENOMEM instead (said once), and managed mappings go on working. With the
 * kernel's mmap (no preload) the same calls succeed. */
#include "common.h"

static const uintptr_t places[] = {0x200000000000UL, 0x300000000000UL};

int main(int argc, char **argv)
{
    const char *dir = data_dir(argc, argv);
    char *path = make_file(dir, "core_memory.bin", 8 * MiB);
    int fd = open_ro(path);
    const uint8_t *p = mmap(NULL, 8 * MiB, PROT_READ, MAP_SHARED, fd, 0);
    CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
    const bool preload = getenv("LD_PRELOAD") != NULL;
    if (preload)
        expect_managed(p);
    for (unsigned i = 0; i < sizeof places / sizeof places[0]; i++) {
        void *at = (void *)places[i];
        void *q = mmap(at, MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
                       -1, 0);
        if (q == MAP_FAILED) {
            CHECK(errno == ENOMEM, "MAP_FIXED at %p: %s, not ENOMEM", at, strerror(errno));
            CHECK(preload, "MAP_FIXED at %p refused by the kernel: %s", at, strerror(errno));
        } else {
            CHECK(q == at, "MAP_FIXED at %p gave %p", at, q);
            memset(q, 0xee, MiB);
            munmap(q, MiB);
        }
    }
    /* Every page read afresh: each fill uses the shim's tables. */
    CHECK(madvise((void *)p, 8 * MiB, MADV_DONTNEED) == 0, "madvise: %s", strerror(errno));
    for (uint64_t off = 0; off < 8 * MiB; off += PAGE)
        CHECK(p[off + 7] == pattern_at(off + 7), "byte %lu wrong", (unsigned long)(off + 7));
    printf("MAP_FIXED over the shim's tables: %s; managed mapping still right\n",
           preload ? "refused or harmless" : "the kernel's (no preload)");
    return 0;
}
