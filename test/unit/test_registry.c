/* The registry of managed ranges: lookup, and cuts that trim, split and orphan mappings. */
#include <string.h>

#include "cmocka_all.h"
#include "core/mapping.h"
#include "core/registry.h"

#define P 4096UL

struct log {
    int cuts, orphans;
    uintptr_t cut_lo[8], cut_hi[8];
    struct um_mapping *orphan[8];
};

static void on_cut(struct um_mapping *m, uintptr_t lo, uintptr_t hi, void *ctx)
{
    (void)m;
    struct log *l = ctx;
    l->cut_lo[l->cuts] = lo;
    l->cut_hi[l->cuts++] = hi;
}

static void on_orphan(struct um_mapping *m, void *ctx)
{
    struct log *l = ctx;
    l->orphan[l->orphans++] = m;
}

static struct um_mapping maps[4];

static struct um_registry *setup_two(void)
{
    static struct um_registry r;
    memset(maps, 0, sizeof maps);
    assert_int_equal(um_registry_init(&r), 0);
    assert_true(um_registry_empty(&r));
    assert_int_equal(um_registry_insert(&r, 100 * P, 110 * P, &maps[0]), 0);
    assert_int_equal(um_registry_insert(&r, 10 * P, 20 * P, &maps[1]), 0);
    assert_false(um_registry_empty(&r));
    return &r;
}

static void find(void **state)
{
    (void)state;
    struct um_registry *r = setup_two();
    assert_null(um_registry_find(r, 9 * P));
    assert_ptr_equal(um_registry_find(r, 10 * P)->map, &maps[1]);
    assert_ptr_equal(um_registry_find(r, 20 * P - 1)->map, &maps[1]);
    assert_null(um_registry_find(r, 20 * P));
    assert_ptr_equal(um_registry_find(r, 105 * P)->map, &maps[0]);
    assert_true(um_registry_overlaps(r, 0, 11 * P));
    assert_false(um_registry_overlaps(r, 20 * P, 100 * P));
    assert_true(um_registry_overlaps(r, 20 * P, 100 * P + 1));
}

static void cut_middle_splits(void **state)
{
    (void)state;
    struct um_registry *r = setup_two();
    struct log l = {0};
    assert_int_equal(um_registry_cut(r, 12 * P, 14 * P, on_cut, on_orphan, &l), 0);
    assert_int_equal(l.cuts, 1);
    assert_int_equal(l.cut_lo[0], 12 * P);
    assert_int_equal(l.cut_hi[0], 14 * P);
    assert_int_equal(l.orphans, 0);
    assert_int_equal(maps[1].entries, 2);
    assert_ptr_equal(um_registry_find(r, 11 * P)->map, &maps[1]);
    assert_null(um_registry_find(r, 13 * P));
    assert_ptr_equal(um_registry_find(r, 14 * P)->map, &maps[1]);
    assert_int_equal(r->count, 3);
    /* Removing both pieces orphans the mapping once. */
    assert_int_equal(um_registry_cut(r, 0, 50 * P, on_cut, on_orphan, &l), 0);
    assert_int_equal(l.cuts, 3);
    assert_int_equal(l.orphans, 1);
    assert_ptr_equal(l.orphan[0], &maps[1]);
    assert_int_equal(r->count, 1);
}

static void cut_across_entries(void **state)
{
    (void)state;
    struct um_registry *r = setup_two();
    struct log l = {0};
    assert_int_equal(um_registry_cut(r, 15 * P, 105 * P, on_cut, on_orphan, &l), 0);
    assert_int_equal(l.cuts, 2);
    assert_int_equal(l.cut_lo[0], 15 * P);
    assert_int_equal(l.cut_hi[0], 20 * P);
    assert_int_equal(l.cut_lo[1], 100 * P);
    assert_int_equal(l.cut_hi[1], 105 * P);
    assert_int_equal(l.orphans, 0);
    const struct um_entry *a = um_registry_find(r, 14 * P);
    const struct um_entry *b = um_registry_find(r, 105 * P);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(a->end, 15 * P);
    assert_int_equal(b->start, 105 * P);
    assert_null(um_registry_find(r, 15 * P));
    assert_null(um_registry_find(r, 104 * P));
}

static void cut_nothing(void **state)
{
    (void)state;
    struct um_registry *r = setup_two();
    struct log l = {0};
    assert_int_equal(um_registry_cut(r, 30 * P, 40 * P, on_cut, on_orphan, &l), 0);
    assert_int_equal(l.cuts, 0);
    assert_int_equal(r->count, 2);
}

static void many_entries_grow(void **state)
{
    (void)state;
    static struct um_registry r;
    static struct um_mapping m[300];
    memset(m, 0, sizeof m);
    assert_int_equal(um_registry_init(&r), 0);
    for (int i = 299; i >= 0; i--)
        assert_int_equal(um_registry_insert(&r, (uintptr_t)(i * 4 + 1) * P,
                                            (uintptr_t)(i * 4 + 3) * P, &m[i]),
                         0);
    for (int i = 0; i < 300; i++) {
        assert_ptr_equal(um_registry_find(&r, (uintptr_t)(i * 4 + 2) * P)->map, &m[i]);
        assert_null(um_registry_find(&r, (uintptr_t)(i * 4 + 3) * P));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(find),
        cmocka_unit_test(cut_middle_splits),
        cmocka_unit_test(cut_across_entries),
        cmocka_unit_test(cut_nothing),
        cmocka_unit_test(many_entries_grow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
