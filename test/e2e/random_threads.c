/* Eight threads reading random pages of a file 4x the budget, while eviction runs, each see
 * exactly the file's bytes. */
#include <pthread.h>

#include "common.h"

#define THREADS 8
#define READS_PER_THREAD 6000

static const uint8_t *map;
static uint64_t npages;

static void *reader(void *arg)
{
    uint64_t seed = (uintptr_t)arg;
    uint8_t want[PAGE];
    for (int i = 0; i < READS_PER_THREAD; i++) {
        seed = mix64(seed);
        uint64_t page = seed % npages;
        pattern_fill(want, page * PAGE, PAGE);
        CHECK(!memcmp(want, map + page * PAGE, PAGE), "page %lu differs from the file",
              (unsigned long)page);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    const char *dir = data_dir(argc, argv);
    uint64_t budget = env_size("UFFDMAP_BUFSIZE", 16 * MiB);
    uint64_t size = 4 * budget;
    char *path = make_file(dir, "random_threads.bin", size);
    int fd = open_ro(path);
    map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    CHECK(map != MAP_FAILED, "mmap: %s", strerror(errno));
    expect_managed(map);
    npages = size / PAGE;
    pthread_t t[THREADS];
    for (uintptr_t i = 0; i < THREADS; i++)
        CHECK(pthread_create(&t[i], NULL, reader, (void *)(i + 1)) == 0, "pthread_create");
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    munmap((void *)map, size);
    unlink(path);
    printf("random_threads: %d threads x %d random pages verified\n", THREADS, READS_PER_THREAD);
    return 0;
}
