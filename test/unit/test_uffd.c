/* UFFDIO_COPY into a shared mapping of a memfd, as fills use it (filler.c store_run()): the
 * pages go into the memfd and are mapped at once; a page the memfd has already stops the copy
 * and is left as it is, for the caller to finish with pwrite() and UFFDIO_CONTINUE. The memfd's
 * own bytes (pread) and the page table (/proc/self/pagemap) are the oracle. */
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cmocka_all.h"
#include "core/os.h"
#include "core/uffd.h"

#define PAGES 16

struct fixture {
    int uffd, memfd;
    unsigned char *map;
    unsigned char src[PAGES * UM_PAGE];
};

/* Whether the page at p is mapped (present in the page table): read without touching it, for a
 * touch of a registered page nobody fills would never return. */
static bool mapped(const void *p)
{
    int fd = open("/proc/self/pagemap", O_RDONLY);
    uint64_t entry = 0;
    off_t at = (off_t)((uintptr_t)p / UM_PAGE * sizeof entry);
    bool ok = fd >= 0 && pread(fd, &entry, sizeof entry, at) == (ssize_t)sizeof entry;
    if (fd >= 0)
        close(fd);
    return ok && (entry >> 63 & 1);
}

static int setup(void **state)
{
    static struct fixture f;
    uint64_t features;
    f.uffd = um_uffd_open(UFFD_FEATURE_MINOR_SHMEM, &features);
    if (f.uffd >= 0 && !(features & UFFD_FEATURE_MINOR_SHMEM)) {
        close(f.uffd);
        f.uffd = -1;
    }
    *state = &f;
    if (f.uffd < 0)
        return 0; /* not permitted here: the tests skip */
    f.memfd = (int)syscall(SYS_memfd_create, "test_uffd", 0);
    assert_true(f.memfd >= 0 && ftruncate(f.memfd, PAGES * UM_PAGE) == 0);
    f.map = mmap(NULL, PAGES * UM_PAGE, PROT_READ, MAP_SHARED, f.memfd, 0);
    assert_true(f.map != MAP_FAILED);
    assert_int_equal(um_uffd_register(f.uffd, (uintptr_t)f.map, PAGES * UM_PAGE, false), 0);
    for (size_t i = 0; i < sizeof f.src; i++)
        f.src[i] = (unsigned char)(i * 7 + i / UM_PAGE);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    if (f->uffd < 0)
        return 0;
    munmap(f->map, PAGES * UM_PAGE);
    close(f->memfd);
    close(f->uffd);
    return 0;
}

static void copy_fills_memfd_and_maps(void **state)
{
    struct fixture *f = *state;
    if (f->uffd < 0)
        skip();
    assert_int_equal(um_uffd_copy(f->uffd, (uintptr_t)f->map, f->src, PAGES * UM_PAGE, false),
                     PAGES * UM_PAGE);
    unsigned char back[PAGES * UM_PAGE];
    assert_int_equal(pread(f->memfd, back, sizeof back, 0), (ssize_t)sizeof back);
    assert_memory_equal(back, f->src, sizeof back);
    for (size_t page = 0; page < PAGES; page++)
        assert_true(mapped(f->map + page * UM_PAGE));
    assert_memory_equal(f->map, f->src, sizeof back);
}

static void copy_stops_at_a_page_the_memfd_has(void **state)
{
    struct fixture *f = *state;
    if (f->uffd < 0)
        skip();
    unsigned char other[UM_PAGE];
    memset(other, 0x5a, sizeof other);
    assert_int_equal(pwrite(f->memfd, other, sizeof other, 5 * UM_PAGE), (ssize_t)sizeof other);
    size_t done = um_uffd_copy(f->uffd, (uintptr_t)f->map, f->src, PAGES * UM_PAGE, false);
    assert_int_equal(done, 5 * UM_PAGE);
    unsigned char back[PAGES * UM_PAGE];
    assert_int_equal(pread(f->memfd, back, sizeof back, 0), (ssize_t)sizeof back);
    assert_memory_equal(back, f->src, done);
    assert_memory_equal(back + done, other, sizeof other); /* left as it was */
    for (size_t page = 0; page < 5; page++)
        assert_true(mapped(f->map + page * UM_PAGE));
    assert_false(mapped(f->map + 5 * UM_PAGE));
    /* The caller's way on: the memfd's page overwritten, the rest mapped from it. */
    assert_int_equal(pwrite(f->memfd, f->src + done, sizeof back - done, (off_t)done),
                     (ssize_t)(sizeof back - done));
    assert_int_equal(um_uffd_continue(f->uffd, (uintptr_t)f->map + done, sizeof back - done,
                                      false), sizeof back - done);
    assert_memory_equal(f->map, f->src, sizeof back);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(copy_fills_memfd_and_maps, setup, teardown),
        cmocka_unit_test_setup_teardown(copy_stops_at_a_page_the_memfd_has, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
