/* Blocks are aligned in file offsets, clipped to the mapping. */
#include "cmocka_all.h"
#include "core/mapping.h"

#define P 4096UL

static void blocks_follow_file_offsets(void **state)
{
    (void)state;
    /* 64 KiB blocks; the mapping starts 3 pages into a block of the file. */
    uintptr_t base = 0x100000000UL;
    struct um_mapping *m = um_mapping_new(base, 40 * P, 3 * P, 16 * P, -1, 1, 1, 0);
    assert_non_null(m);
    assert_int_equal(m->nblocks, 3); /* file pages 3..42: blocks 0, 1, 2 */
    assert_int_equal(um_mapping_block(m, base), 0);
    assert_int_equal(um_mapping_block(m, base + 12 * P), 0);
    assert_int_equal(um_mapping_block(m, base + 13 * P), 1);
    assert_int_equal(um_mapping_block(m, base + 40 * P - 1), 2);
    uintptr_t lo, hi;
    um_mapping_block_range(m, 0, &lo, &hi);
    assert_int_equal(lo, base); /* clipped: the block starts before the mapping */
    assert_int_equal(hi, base + 13 * P);
    um_mapping_block_range(m, 1, &lo, &hi);
    assert_int_equal(lo, base + 13 * P);
    assert_int_equal(hi, base + 29 * P);
    um_mapping_block_range(m, 2, &lo, &hi);
    assert_int_equal(lo, base + 29 * P);
    assert_int_equal(hi, base + 40 * P); /* clipped at the end */
    um_mapping_free(m);
}

static void slots_start_empty(void **state)
{
    (void)state;
    /* A huge sparse mapping: the slot table is lazily backed, and reads as empty. */
    struct um_mapping *m = um_mapping_new(0x200000000UL, 1UL << 40, 0, P, -1, 1, 1, 0);
    assert_non_null(m);
    assert_int_equal(m->nblocks, (1UL << 40) / P);
    assert_int_equal(atomic_load(&m->slots[0]), 0);
    assert_int_equal(atomic_load(&m->slots[m->nblocks - 1]), 0);
    um_mapping_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(blocks_follow_file_offsets),
        cmocka_unit_test(slots_start_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
