/* The adaptive read-ahead window: grows on sequential faults, collapses on random ones, and
 * madvise hints override it. */
#include "cmocka_all.h"
#include "policies/readahead.h"

static void sequential_doubles_to_max(void **state)
{
    (void)state;
    struct um_ra ra = {0};
    assert_int_equal(um_ra_on_fault(&ra, 0, 16, true), 1);  /* block 0 is "next" at start */
    assert_int_equal(um_ra_on_fault(&ra, 2, 16, true), 2);  /* after 1 read ahead: block 2 */
    assert_int_equal(um_ra_on_fault(&ra, 5, 16, true), 4);
    assert_int_equal(um_ra_on_fault(&ra, 10, 16, true), 8);
    assert_int_equal(um_ra_on_fault(&ra, 19, 16, true), 16);
    assert_int_equal(um_ra_on_fault(&ra, 36, 16, true), 16); /* capped */
}

static void random_collapses(void **state)
{
    (void)state;
    struct um_ra ra = {0};
    um_ra_on_fault(&ra, 0, 16, true);
    um_ra_on_fault(&ra, 2, 16, true);
    assert_int_equal(um_ra_on_fault(&ra, 100, 16, true), 0);
    assert_int_equal(um_ra_on_fault(&ra, 7, 16, true), 0);
    assert_int_equal(um_ra_on_fault(&ra, 8, 16, true), 1); /* a new stream starts small */
}

static void off_and_hints(void **state)
{
    (void)state;
    struct um_ra ra = {0};
    assert_int_equal(um_ra_on_fault(&ra, 0, 16, false), 0);
    assert_int_equal(um_ra_on_fault(&ra, 1, 16, false), 0);
    atomic_store(&ra.hint, UM_RA_SEQUENTIAL);
    assert_int_equal(um_ra_on_fault(&ra, 50, 16, false), 16); /* even when off, even random */
    atomic_store(&ra.hint, UM_RA_RANDOM);
    assert_int_equal(um_ra_on_fault(&ra, 67, 16, true), 0);  /* even when sequential */
    assert_int_equal(um_ra_on_fault(&ra, 68, 16, true), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sequential_doubles_to_max),
        cmocka_unit_test(random_collapses),
        cmocka_unit_test(off_and_hints),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
