/* The registry of managed ranges: lookup, and cuts that trim, split and orphan mappings, with
 * each surviving piece keeping the file offset of its own start. */
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

static void on_cut(const struct um_entry *e, uintptr_t lo, uintptr_t hi, void *ctx)
{
    struct log *l = ctx;
    /* Called before the entries change: the piece lies inside the entry as it was. */
    assert_true(e->start <= lo && lo < hi && hi <= e->end);
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
    assert_int_equal(um_registry_insert(&r, 100 * P, 110 * P, 0, 1, &maps[0]), 0);
    assert_int_equal(um_registry_insert(&r, 10 * P, 20 * P, 1000 * P, 1, &maps[1]), 0);
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
    assert_int_equal(um_registry_find(r, 10 * P)->off, 1000 * P);
    assert_int_equal(um_entry_off(um_registry_find(r, 15 * P), 15 * P), 1005 * P);
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
    /* The left piece keeps the offset; the right one starts hi - start into the file range. */
    const struct um_entry *left = um_registry_find(r, 11 * P);
    const struct um_entry *right = um_registry_find(r, 14 * P);
    assert_int_equal(left->start, 10 * P);
    assert_int_equal(left->end, 12 * P);
    assert_int_equal(left->off, 1000 * P);
    assert_int_equal(right->start, 14 * P);
    assert_int_equal(right->end, 20 * P);
    assert_int_equal(right->off, 1000 * P + (14 * P - 10 * P));
    assert_int_equal(um_entry_off(right, 19 * P), 1009 * P);
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
    assert_int_equal(a->off, 1000 * P);
    assert_int_equal(b->start, 105 * P);
    assert_int_equal(b->end, 110 * P);
    assert_int_equal(b->off, 5 * P); /* trimmed from the left: moved by what was cut */
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
                                            (uintptr_t)(i * 4 + 3) * P, (uint64_t)i * P, 1, &m[i]),
                         0);
    for (int i = 0; i < 300; i++) {
        assert_ptr_equal(um_registry_find(&r, (uintptr_t)(i * 4 + 2) * P)->map, &m[i]);
        assert_int_equal(um_registry_find(&r, (uintptr_t)(i * 4 + 2) * P)->off, (uint64_t)i * P);
        assert_null(um_registry_find(&r, (uintptr_t)(i * 4 + 3) * P));
    }
    assert_int_equal(r.count, 300);
}

/* No callbacks: a split, a trim and a removal that orphans all work the same. */
static void cut_without_callbacks(void **state)
{
    (void)state;
    struct um_registry *r = setup_two();
    assert_int_equal(um_registry_cut(r, 12 * P, 14 * P, NULL, NULL, NULL), 0);
    assert_int_equal(r->count, 3);
    assert_int_equal(maps[1].entries, 2);
    assert_int_equal(um_registry_find(r, 14 * P)->off, 1004 * P);
    assert_int_equal(um_registry_cut(r, 0, 50 * P, NULL, NULL, NULL), 0);
    assert_int_equal(maps[1].entries, 0); /* orphaned, silently */
    assert_int_equal(r->count, 1);
    assert_int_equal(um_registry_cut(r, 108 * P, 200 * P, NULL, NULL, NULL), 0);
    assert_int_equal(um_registry_find(r, 100 * P)->end, 108 * P);
    assert_int_equal(um_registry_find(r, 100 * P)->off, 0);
    assert_int_equal(maps[0].entries, 1);
}

/* mprotect() of part of a mapping: the entry splits, each piece keeps its file offset, and
 * pieces whose protection matches again merge back into one entry. */
static void set_prot_splits_and_merges(void **state)
{
    (void)state;
    struct um_registry *r = setup_two();
    assert_int_equal(um_registry_set_prot(r, 12 * P, 14 * P, 3), 0);
    assert_int_equal(r->count, 4);
    assert_int_equal(maps[1].entries, 3);
    assert_int_equal(um_registry_find(r, 11 * P)->prot, 1);
    assert_int_equal(um_registry_find(r, 12 * P)->prot, 3);
    assert_int_equal(um_registry_find(r, 12 * P)->off, 1002 * P);
    assert_int_equal(um_registry_find(r, 14 * P)->prot, 1);
    assert_int_equal(um_registry_find(r, 14 * P)->off, 1004 * P);
    assert_int_equal(um_registry_find(r, 105 * P)->prot, 1); /* another mapping: untouched */
    assert_int_equal(um_registry_set_prot(r, 10 * P, 20 * P, 1), 0);
    assert_int_equal(r->count, 2);
    assert_int_equal(maps[1].entries, 1);
    assert_int_equal(um_registry_find(r, 10 * P)->end, 20 * P);
    assert_int_equal(um_registry_find(r, 19 * P)->off, 1000 * P);
}

/* for_each hands each overlapping entry's piece, clipped, with the entry itself. */
static void for_each_clips(void **state)
{
    (void)state;
    struct um_registry *r = setup_two();
    struct log l = {0};
    um_registry_for_each(r, 15 * P, 105 * P, on_cut, &l);
    assert_int_equal(l.cuts, 2);
    assert_int_equal(l.cut_lo[0], 15 * P);
    assert_int_equal(l.cut_hi[0], 20 * P);
    assert_int_equal(l.cut_lo[1], 100 * P);
    assert_int_equal(l.cut_hi[1], 105 * P);
    assert_int_equal(r->count, 2); /* nothing changed */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(set_prot_splits_and_merges),
        cmocka_unit_test(find),
        cmocka_unit_test(cut_middle_splits),
        cmocka_unit_test(cut_across_entries),
        cmocka_unit_test(cut_nothing),
        cmocka_unit_test(many_entries_grow),
        cmocka_unit_test(cut_without_callbacks),
        cmocka_unit_test(for_each_clips),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
