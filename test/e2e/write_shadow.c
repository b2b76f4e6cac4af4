/* Stores through a shared mapping of a file 4x the budget, from eight threads while eviction
 * writes pages back, reach the file exactly: after munmap() the file equals a shadow copy kept
 * in ordinary memory. */
#include <pthread.h>

#include "common.h"

#define THREADS 8
#define STORES_PER_THREAD 20000

static uint8_t *map, *shadow;
static uint64_t npages;

static void *writer(void *arg)
{
    uint64_t t = (uintptr_t)arg, seed = t + 1;
    for (int i = 0; i < STORES_PER_THREAD; i++) {
        seed = mix64(seed);
        /* Each thread owns the pages p with p % THREADS == t, so the shadow has no races. */
        uint64_t page = (seed % (npages / THREADS)) * THREADS + t;
        uint64_t off = page * PAGE + (seed >> 40) % PAGE;
        uint8_t v = (uint8_t)(seed >> 16);
        map[off] = v;
        shadow[off] = v;
        if (i % 64 == 0) /* reads of its own stores, evicted or not */
            CHECK(map[off] == v, "store at %lu not read back", (unsigned long)off);
    }
    return NULL;
}

static void expect_file_equals(int fd, const uint8_t *want, uint64_t size)
{
    uint8_t buf[1 << 16];
    for (uint64_t off = 0; off < size; off += sizeof buf) {
        size_t n = size - off < sizeof buf ? (size_t)(size - off) : sizeof buf;
        CHECK(pread(fd, buf, n, (off_t)off) == (ssize_t)n, "pread");
        for (size_t i = 0; i < n; i++)
            CHECK(buf[i] == want[off + i], "file byte %lu is %u, stored %u",
                  (unsigned long)(off + i), buf[i], want[off + i]);
    }
}

int main(int argc, char **argv)
{
    const char *dir = data_dir(argc, argv);
    uint64_t budget = env_size("UFFDMAP_BUFSIZE", 16 * MiB);
    uint64_t size = 4 * budget;
    npages = size / PAGE;
    char *path = make_file(dir, "write_shadow.bin", size);
    int fd = open(path, O_RDWR);
    CHECK(fd >= 0, "open");
    shadow = malloc(size);
    CHECK(shadow != NULL, "malloc");
    CHECK(pread(fd, shadow, size, 0) == (ssize_t)size, "pread");

    map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHECK(map != MAP_FAILED, "mmap: %s", strerror(errno));
    expect_managed(map);
    pthread_t t[THREADS];
    for (uintptr_t i = 0; i < THREADS; i++)
        CHECK(pthread_create(&t[i], NULL, writer, (void *)i) == 0, "pthread_create");
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    CHECK(memcmp(map, shadow, size) == 0, "the mapping differs from the shadow");
    CHECK(munmap(map, size) == 0, "munmap");
    expect_file_equals(fd, shadow, size);
    unlink(path);
    printf("write_shadow: %d threads x %d stores reached the file\n", THREADS, STORES_PER_THREAD);
    return 0;
}
