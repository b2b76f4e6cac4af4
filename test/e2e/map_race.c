/* Mapping and unmapping (whole and partial) on some threads while others fault on another
 * mapping and on the very mappings coming and going: no wrong byte, no hang. */
#include <pthread.h>
#include <stdatomic.h>

#include "common.h"

#define READERS 4
#define CYCLES 300

static const uint8_t *stable;
static uint64_t stable_pages;
static int churn_fd;
static atomic_bool done;

static void *reader(void *arg)
{
    uint64_t seed = (uintptr_t)arg;
    uint8_t want[PAGE];
    while (!atomic_load(&done)) {
        seed = mix64(seed);
        uint64_t page = seed % stable_pages;
        pattern_fill(want, page * PAGE, PAGE);
        CHECK(!memcmp(want, stable + page * PAGE, PAGE), "page %lu wrong", (unsigned long)page);
    }
    return NULL;
}

static void *churner(void *arg)
{
    uint64_t seed = (uintptr_t)arg;
    for (int i = 0; i < CYCLES; i++) {
        seed = mix64(seed);
        uint64_t pages = 16 + seed % 64;
        uint64_t off = (seed >> 8) % 32;
        const uint8_t *p = mmap(NULL, pages * PAGE, PROT_READ, MAP_SHARED, churn_fd,
                                (off_t)(off * PAGE));
        CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
        for (uint64_t k = 0; k < pages; k += 3)
            CHECK(p[k * PAGE + 5] == pattern_at((off + k) * PAGE + 5), "churned byte wrong");
        uint64_t cut = 1 + seed % (pages - 2);
        CHECK(munmap((void *)(p + cut * PAGE), PAGE) == 0, "munmap part");
        for (uint64_t k = cut + 1; k < pages; k++)
            CHECK(p[k * PAGE] == pattern_at((off + k) * PAGE), "byte after the hole wrong");
        CHECK(munmap((void *)p, pages * PAGE) == 0, "munmap rest");
    }
    return NULL;
}

int main(int argc, char **argv)
{
    const char *dir = data_dir(argc, argv);
    uint64_t budget = env_size("UFFDMAP_BUFSIZE", 16 * MiB);
    uint64_t size = 2 * budget;
    char *path = make_file(dir, "map_race.bin", size);
    char *churn_path = make_file(dir, "map_race_churn.bin", 128 * PAGE);
    int fd = open_ro(path);
    churn_fd = open_ro(churn_path);
    stable = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
    CHECK(stable != MAP_FAILED, "mmap");
    expect_managed(stable);
    stable_pages = size / PAGE;
    pthread_t r[READERS], c[2];
    for (uintptr_t i = 0; i < READERS; i++)
        pthread_create(&r[i], NULL, reader, (void *)(i + 1));
    for (uintptr_t i = 0; i < 2; i++)
        pthread_create(&c[i], NULL, churner, (void *)(i + 100));
    for (int i = 0; i < 2; i++)
        pthread_join(c[i], NULL);
    atomic_store(&done, true);
    for (int i = 0; i < READERS; i++)
        pthread_join(r[i], NULL);
    munmap((void *)stable, size);
    unlink(path);
    unlink(churn_path);
    printf("map_race: %d map/unmap cycles beside %d readers\n", 2 * CYCLES, READERS);
    return 0;
}
