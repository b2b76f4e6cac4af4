/* The core's raw memory operations: batched page release and read buffers. */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>

#include "cmocka_all.h"
#include "core/os.h"

/* Ranges released in one batch read back as zeros; the pages between them keep their bytes. */
static void dontneed_ranges_drops_only_them(void **state)
{
    (void)state;
    size_t len = 16 * UM_PAGE;
    unsigned char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(p != MAP_FAILED);
    memset(p, 0xab, len);
    struct iovec ranges[] = {
        {p, UM_PAGE}, {p + 3 * UM_PAGE, 2 * UM_PAGE}, {p + 9 * UM_PAGE, 7 * UM_PAGE}};
    um_os_dontneed_ranges(ranges, 3);
    for (size_t page = 0; page < 16; page++) {
        bool dropped = page == 0 || page == 3 || page == 4 || page >= 9;
        for (size_t at = page * UM_PAGE; at < (page + 1) * UM_PAGE; at += 511)
            assert_int_equal(p[at], dropped ? 0 : 0xab);
    }
    um_os_dontneed_ranges(ranges, 1); /* one range, and a second time: no harm */
    assert_int_equal(p[UM_PAGE], 0xab);
    munmap(p, len);
}

/* Read buffers are aligned for O_DIRECT and for transparent huge pages, and usable throughout. */
static void io_buffers_are_aligned(void **state)
{
    (void)state;
    size_t len = (4UL << 20) + UM_PAGE;
    unsigned char *b = um_os_alloc_io(len);
    assert_non_null(b);
    assert_int_equal((uintptr_t)b % (2UL << 20), 0);
    memset(b, 1, len);
    assert_int_equal(b[len - 1], 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(dontneed_ranges_drops_only_them),
        cmocka_unit_test(io_buffers_are_aligned),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
