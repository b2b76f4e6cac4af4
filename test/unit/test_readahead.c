/* The adaptive read-ahead window: grows on sequential faults, collapses on random ones, per
 * stream, and madvise hints override it. */
#include "cmocka_all.h"
#include "policies/readahead.h"

static void sequential_doubles_to_max(void **state)
{
    (void)state;
    struct um_ra ra = {0};
    assert_int_equal(um_ra_on_fault(&ra, 0, 16, UM_RA_ADAPTIVE), 1);  /* block 0 is "next" at start */
    assert_int_equal(um_ra_on_fault(&ra, 2, 16, UM_RA_ADAPTIVE), 2);  /* after 1 read ahead: block 2 */
    assert_int_equal(um_ra_on_fault(&ra, 5, 16, UM_RA_ADAPTIVE), 4);
    assert_int_equal(um_ra_on_fault(&ra, 10, 16, UM_RA_ADAPTIVE), 8);
    assert_int_equal(um_ra_on_fault(&ra, 19, 16, UM_RA_ADAPTIVE), 16);
    assert_int_equal(um_ra_on_fault(&ra, 36, 16, UM_RA_ADAPTIVE), 16); /* capped */
}

static void random_collapses(void **state)
{
    (void)state;
    struct um_ra ra = {0};
    um_ra_on_fault(&ra, 0, 16, UM_RA_ADAPTIVE);
    um_ra_on_fault(&ra, 2, 16, UM_RA_ADAPTIVE);
    assert_int_equal(um_ra_on_fault(&ra, 100, 16, UM_RA_ADAPTIVE), 0);
    assert_int_equal(um_ra_on_fault(&ra, 7, 16, UM_RA_ADAPTIVE), 0);
    assert_int_equal(um_ra_on_fault(&ra, 8, 16, UM_RA_ADAPTIVE), 1); /* a new stream starts small */
}

static void off_and_hints(void **state)
{
    (void)state;
    struct um_ra ra = {0};
    assert_int_equal(um_ra_on_fault(&ra, 0, 16, UM_RA_NONE), 0);
    assert_int_equal(um_ra_on_fault(&ra, 1, 16, UM_RA_NONE), 0);
    atomic_store(&ra.hint, UM_RA_SEQUENTIAL);
    assert_int_equal(um_ra_on_fault(&ra, 50, 16, UM_RA_NONE), 16); /* even when off, even random */
    atomic_store(&ra.hint, UM_RA_RANDOM);
    assert_int_equal(um_ra_on_fault(&ra, 67, 16, UM_RA_ADAPTIVE), 0);  /* even when sequential */
    assert_int_equal(um_ra_on_fault(&ra, 68, 16, UM_RA_ADAPTIVE), 0);
}

static void fixed_window(void **state)
{
    (void)state;
    struct um_ra ra = {0};
    assert_int_equal(um_ra_on_fault(&ra, 40, 8, UM_RA_FIXED), 8); /* random or not */
    assert_int_equal(um_ra_on_fault(&ra, 3, 8, UM_RA_FIXED), 8);
    atomic_store(&ra.hint, UM_RA_RANDOM);
    assert_int_equal(um_ra_on_fault(&ra, 4, 8, UM_RA_FIXED), 0);
}

/* A second fault within `lead` blocks of the read-ahead's end claims the next window, until the
 * read-ahead leads by `lead`; anything else does not. */
static void catch_up_claims_windows_up_to_lead(void **state)
{
    (void)state;
    struct um_ra ra = {0};
    size_t start = 0;
    assert_int_equal(um_ra_on_catch_up(&ra, 0, 16, 8, &start), 0); /* not streaming */
    assert_int_equal(um_ra_on_fault(&ra, 0, 16, UM_RA_ADAPTIVE), 1);  /* window [1, 2) */
    assert_int_equal(um_ra_on_fault(&ra, 2, 16, UM_RA_ADAPTIVE), 2);  /* window [3, 5) */
    assert_int_equal(um_ra_on_catch_up(&ra, 5, 16, 8, &start), 0); /* past the read-ahead */
    assert_int_equal(um_ra_on_catch_up(&ra, 3, 16, 8, &start), 4); /* doubles: [5, 9) */
    assert_int_equal(start, 5);
    assert_int_equal(um_ra_on_catch_up(&ra, 3, 16, 8, &start), 8); /* lead 6 < 8: [9, 17) */
    assert_int_equal(start, 9);
    assert_int_equal(um_ra_on_catch_up(&ra, 3, 16, 8, &start), 0); /* lead 14: enough */
    assert_int_equal(um_ra_on_catch_up(&ra, 12, 5, 8, &start), 5); /* [17, 22), at most max */
    assert_int_equal(start, 17);
    assert_int_equal(um_ra_on_catch_up(&ra, 1, 16, 8, &start), 0); /* far behind */
    assert_int_equal(um_ra_on_fault(&ra, 22, 16, UM_RA_ADAPTIVE), 10); /* then as before */
    atomic_store(&ra.hint, UM_RA_RANDOM);
    assert_int_equal(um_ra_on_catch_up(&ra, 30, 16, 8, &start), 0);
}

/* A window filled or mapped only in part: the stream goes on from where it stopped, with its
 * window, and only the stream that ended there is moved. */
static void stopped_stream_continues_where_it_stopped(void **state)
{
    (void)state;
    struct um_ra ra = {0};
    assert_int_equal(um_ra_on_fault(&ra, 0, 16, UM_RA_ADAPTIVE), 1);  /* [1, 2) */
    assert_int_equal(um_ra_on_fault(&ra, 2, 16, UM_RA_ADAPTIVE), 2);  /* [3, 5): next 5 */
    um_ra_stopped(&ra, 5, 4);                                          /* only block 3 done */
    assert_int_equal(um_ra_on_fault(&ra, 4, 16, UM_RA_ADAPTIVE), 4);  /* continued: doubles */
    um_ra_stopped(&ra, 99, 50);                                        /* no such stream */
    assert_int_equal(um_ra_on_fault(&ra, 9, 16, UM_RA_ADAPTIVE), 8);
}

/* Two readers scanning different parts of one mapping, their faults interleaved, each keep
 * their own window and catch-up; random faults take over the streams used least recently. */
static void interleaved_streams_keep_their_windows(void **state)
{
    (void)state;
    struct um_ra ra = {0};
    size_t start = 0;
    assert_int_equal(um_ra_on_fault(&ra, 0, 16, UM_RA_ADAPTIVE), 1);    /* A: next 2 */
    assert_int_equal(um_ra_on_fault(&ra, 1000, 16, UM_RA_ADAPTIVE), 0); /* B starts: next 1001 */
    assert_int_equal(um_ra_on_fault(&ra, 2, 16, UM_RA_ADAPTIVE), 2);    /* A: next 5 */
    assert_int_equal(um_ra_on_fault(&ra, 1001, 16, UM_RA_ADAPTIVE), 1); /* B: next 1003 */
    assert_int_equal(um_ra_on_fault(&ra, 5, 16, UM_RA_ADAPTIVE), 4);    /* A: next 10 */
    assert_int_equal(um_ra_on_fault(&ra, 1003, 16, UM_RA_ADAPTIVE), 2); /* B: next 1006 */
    assert_int_equal(um_ra_used(&ra, 10), 4);
    assert_int_equal(um_ra_used(&ra, 1006), 2);
    assert_int_equal(um_ra_used(&ra, 11), 0);
    assert_int_equal(um_ra_on_catch_up(&ra, 7, 16, 16, &start), 8); /* A: [10, 18) */
    assert_int_equal(start, 10);
    assert_int_equal(um_ra_on_catch_up(&ra, 1004, 16, 8, &start), 4); /* B: [1006, 1010) */
    assert_int_equal(start, 1006);
    /* Three random faults: the two unused streams, then A, used before B last. */
    assert_int_equal(um_ra_on_fault(&ra, 500, 16, UM_RA_ADAPTIVE), 0);
    assert_int_equal(um_ra_on_fault(&ra, 700, 16, UM_RA_ADAPTIVE), 0);
    assert_int_equal(um_ra_on_fault(&ra, 900, 16, UM_RA_ADAPTIVE), 0);
    assert_int_equal(um_ra_on_fault(&ra, 1010, 16, UM_RA_ADAPTIVE), 8); /* B goes on */
    assert_int_equal(um_ra_on_fault(&ra, 18, 16, UM_RA_ADAPTIVE), 0);   /* A was taken over */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sequential_doubles_to_max),
        cmocka_unit_test(random_collapses),
        cmocka_unit_test(off_and_hints),
        cmocka_unit_test(fixed_window),
        cmocka_unit_test(catch_up_claims_windows_up_to_lead),
        cmocka_unit_test(interleaved_streams_keep_their_windows),
        cmocka_unit_test(stopped_stream_continues_where_it_stopped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
