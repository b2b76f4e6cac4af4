/* ra_threads FILE THREADS: THREADS threads each read their own part of FILE in order through
 * one shared read-only mapping, comparing every page with what pread() (the kernel) returns;
 * then prints the peak resident set (VmHWM) in bytes. readahead_budget.sh runs it with a budget
 * smaller than the read-ahead windows all fillers may fill at once. */
#include <pthread.h>

#include "common.h"

#define STEP (64 * 1024)

static const uint8_t *map;
static int fd;
static uint64_t part;

static void *reader(void *arg)
{
    uint64_t lo = (uintptr_t)arg * part;
    static _Thread_local uint8_t buf[STEP];
    for (uint64_t off = lo; off < lo + part; off += STEP) {
        size_t n = lo + part - off < STEP ? (size_t)(lo + part - off) : STEP;
        CHECK(pread(fd, buf, n, (off_t)off) == (ssize_t)n, "pread: %s", strerror(errno));
        if (memcmp(buf, map + off, n))
            for (size_t i = 0; i < n; i++)
                CHECK(buf[i] == map[off + i], "byte at file offset %lu: mapped %u, file %u",
                      (unsigned long)(off + i), map[off + i], buf[i]);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    CHECK(argc == 3, "usage: %s FILE THREADS", argv[0]);
    unsigned threads = (unsigned)atoi(argv[2]);
    CHECK(threads > 0 && threads <= 64, "THREADS: 1 to 64");
    fd = open_ro(argv[1]);
    struct stat st;
    CHECK(fstat(fd, &st) == 0, "fstat");
    uint64_t size = (uint64_t)st.st_size;
    part = size / threads / STEP * STEP;
    map = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
    CHECK(map != MAP_FAILED, "mmap: %s", strerror(errno));
    pthread_t t[64];
    for (uintptr_t i = 0; i < threads; i++)
        CHECK(pthread_create(&t[i], NULL, reader, (void *)i) == 0, "pthread_create");
    for (unsigned i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    printf("%s %lu\n", is_managed(map) ? "managed" : "kernel", (unsigned long)vm_hwm());
    munmap((void *)map, size);
    close(fd);
    return 0;
}
