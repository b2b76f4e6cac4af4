/* The whole core in process, without the shim: map a file through um_map(), read it from
 * several threads while the budget forces evictions, punch holes with um_unmap(). Linked
 * directly, so it runs under ASan/UBSan and TSan where the preload cannot. */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cmocka_all.h"
#include "core/runtime.h"

#define P 4096UL
#define FILE_PAGES 1024 /* 4 MiB against a 1 MiB budget */
#define THREADS 3

static char path[] = "/tmp/uffdmap-test-runtime-XXXXXX";
static int fd;
static const unsigned char *map;

static unsigned char byte_at(size_t off) { return (unsigned char)((off >> 12) * 7 + off % 251); }

static int setup(void **state)
{
    (void)state;
    fd = mkstemp(path);
    assert_true(fd >= 0);
    static unsigned char page[P];
    for (size_t pg = 0; pg < FILE_PAGES; pg++) {
        for (size_t i = 0; i < P; i++)
            page[i] = byte_at(pg * P + i);
        assert_int_equal(write(fd, page, P), (ssize_t)P);
    }
    char paths[128];
    snprintf(paths, sizeof paths, "UFFDMAP_PATHS=%s", path);
    /* A group of its own (the cache is a group's where the build allows it: not under the
     * sanitizers), shared with no other test. */
    char group[64];
    snprintf(group, sizeof group, "UFFDMAP_GROUP=unit-runtime-%d", (int)getpid());
    char *env[] = {paths, "UFFDMAP_BUFSIZE=1M", "UFFDMAP_PAGESIZE=16K", "UFFDMAP_FILLERS=2",
                   group, NULL};
    um_runtime_configure(env);
    return um_runtime_active() ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    um_runtime_exit(); /* as the shim's destructor: the last member removes the group's files */
    close(fd);
    unlink(path);
    return 0;
}

static void *reader(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    for (int i = 0; i < 3000; i++) {
        seed = seed * 1103515245u + 12345u;
        size_t off = (seed >> 4) % (FILE_PAGES * P);
        if (map[off] != byte_at(off))
            return (void *)1;
    }
    return NULL;
}

static void threads_read_file_bytes_within_budget(void **state)
{
    (void)state;
    void *out = NULL;
    assert_int_equal(um_map(NULL, FILE_PAGES * P, PROT_READ, MAP_SHARED, fd, 0, &out),
                     UM_MANAGED);
    map = out;
    pthread_t t[THREADS];
    for (uintptr_t i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, reader, (void *)(i + 1)), 0);
    for (int i = 0; i < THREADS; i++) {
        void *bad;
        pthread_join(t[i], &bad);
        assert_null(bad);
    }
    assert_true(um_cache_charged(um_rt.cache) <= um_rt.cache->budget);
    /* A hole in the middle of a block, then reads on both sides of it. */
    int result = -1;
    assert_true(um_unmap((void *)(map + 5 * P), P, &result));
    assert_int_equal(result, 0);
    assert_int_equal(map[4 * P + 1], byte_at(4 * P + 1));
    assert_int_equal(map[6 * P + 1], byte_at(6 * P + 1));
    assert_true(um_unmap((void *)map, FILE_PAGES * P, &result));
    assert_int_equal(result, 0);
    assert_true(um_registry_empty(&um_rt.registry));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(threads_read_file_bytes_within_budget),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
