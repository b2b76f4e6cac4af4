/* 2Q: new blocks are evicted first; a block that faults again soon after its eviction, or is
 * used after its turn unmapped it, is protected; a scan does not push the protected blocks
 * out; a block the cache soft-evicted comes back where it was. */
#include <stdbool.h>
#include <string.h>

#include "cmocka_all.h"
#include "policies/policy.h"

#define N 64

static struct um_pnode nodes[N];
static char state_buf[1 << 18];
static bool mapped[N];

static const struct um_policy_ops *fresh(void)
{
    const struct um_policy_ops *p = um_policy_find("2q");
    assert_non_null(p);
    assert_true(p->state_size <= sizeof state_buf);
    memset(nodes, 0, sizeof nodes); /* as the cache's are at first */
    memset(mapped, 0, sizeof mapped);
    p->init(state_buf, nodes);
    return p;
}

static void insert(const struct um_policy_ops *p, uint32_t f, uint64_t key)
{
    nodes[f].key = key;
    p->insert(state_buf, f);
}

/* What the cache does, for one process that maps every block: a fill maps the block; a use is
 * seen only when the block is not mapped (the minor fault maps it); a victim still mapped is
 * only unmapped and given back to the policy (soft eviction). */
static void fill(const struct um_policy_ops *p, uint32_t f, uint64_t key)
{
    mapped[f] = true;
    insert(p, f, key);
}

static void use(const struct um_policy_ops *p, uint32_t f)
{
    if (!mapped[f]) {
        mapped[f] = true;
        p->touch(state_buf, f);
    }
}

/* What the cache does with a frame victim() or remove() returned that stays resident. */
static void back(const struct um_policy_ops *p, uint32_t f)
{
    (p->back ? p->back : p->insert)(state_buf, f);
}

/* The next frame evicted for good. */
static uint32_t evict(const struct um_policy_ops *p)
{
    for (;;) {
        uint32_t f = p->victim(state_buf);
        if (f == UM_NO_FRAME || !mapped[f])
            return f;
        mapped[f] = false;
        back(p, f);
    }
}

static void refault_is_protected(void **state)
{
    (void)state;
    const struct um_policy_ops *p = fresh();
    for (uint32_t f = 0; f < 8; f++)
        insert(p, f, 100 + f);
    /* Everything is new: evicted oldest first, and remembered. */
    assert_int_equal(p->victim(state_buf), 0);
    assert_int_equal(p->victim(state_buf), 1);
    /* Block 100 faults again (into frame 20): it goes to the protected list. */
    insert(p, 20, 100);
    for (uint32_t f = 30; f < 40; f++) /* a scan of new blocks */
        insert(p, f, 1000 + f);
    for (int i = 0; i < 16; i++)
        assert_int_not_equal(p->victim(state_buf), 20);
    /* Only once the new blocks are gone does the protected one go. */
    uint32_t last = UM_NO_FRAME, f;
    while ((f = p->victim(state_buf)) != UM_NO_FRAME)
        last = f;
    assert_int_equal(last, 20);
}

static void remove_from_either_list(void **state)
{
    (void)state;
    const struct um_policy_ops *p = fresh();
    insert(p, 1, 11);
    insert(p, 2, 12);
    assert_int_equal(p->victim(state_buf), 1);
    insert(p, 3, 11); /* protected */
    insert(p, 4, 14);
    p->remove(state_buf, 3);
    p->remove(state_buf, 2);
    assert_int_equal(p->victim(state_buf), 4);
    assert_int_equal(p->victim(state_buf), UM_NO_FRAME);
}

static void ghosts_are_bounded(void **state)
{
    (void)state;
    const struct um_policy_ops *p = fresh();
    /* Far more evictions than ghosts: old keys are forgotten, new ones remembered. */
    for (uint64_t k = 1; k < 20000; k++) {
        insert(p, 0, k);
        assert_int_equal(p->victim(state_buf), 0);
    }
    insert(p, 1, 19999);
    insert(p, 2, 1);
    insert(p, 3, 50000);
    /* 19999 is remembered (protected), 1 long forgotten (new), 50000 new. */
    assert_int_equal(p->victim(state_buf), 2);
    assert_int_equal(p->victim(state_buf), 3);
    assert_int_equal(p->victim(state_buf), 1);
}

/* A block used after A1in's turn unmapped it is protected from a scan; the others, unmapped
 * and unused, go at their next turn (coming back from the unmapping does not make them reused,
 * although their keys are remembered). */
static void used_after_unmapping_is_protected(void **state)
{
    (void)state;
    const struct um_policy_ops *p = fresh();
    assert_non_null(p->touch);
    for (uint32_t f = 0; f < 8; f++)
        fill(p, f, 100 + f);
    assert_int_equal(evict(p), 0); /* each unmapped once, then the oldest evicted */
    use(p, 3);
    fill(p, 0, 1000);
    uint64_t next = 1001;
    for (int i = 0; i < 40; i++) { /* a scan */
        uint32_t f = evict(p);
        assert_int_not_equal(f, UM_NO_FRAME);
        assert_int_not_equal(nodes[f].key, 103);
        if (i < 6) /* the unused ones go first, in order */
            assert_int_equal(nodes[f].key, 100 + i + (i >= 2) + 1);
        fill(p, f, next++);
    }
}

/* A block of Am that Am's turn unmapped comes back to Am, not to A1in as a new block, even when
 * the ghosts no longer remember it. */
static void back_to_am(void **state)
{
    (void)state;
    const struct um_policy_ops *p = fresh();
    assert_non_null(p->touch);
    for (uint32_t f = 0; f < 4; f++)
        fill(p, f, 100 + f);
    assert_int_equal(evict(p), 0);
    fill(p, 4, 100); /* faults again: to Am */
    for (uint64_t key = 1000; key < 6000; key++) { /* new blocks: 100 is forgotten */
        uint32_t f = evict(p);
        assert_true(f >= 1 && f <= 3);
        fill(p, f, key);
    }
    for (int i = 0; i < 3; i++) /* A1in emptied */
        assert_int_not_equal(evict(p), 4);
    assert_int_equal(p->victim(state_buf), 4); /* Am's turn: mapped, so only unmapped */
    mapped[4] = false;
    back(p, 4);
    for (uint32_t f = 1; f < 4; f++)
        fill(p, f, 200 + f);
    for (uint32_t f = 1; f < 4; f++)
        assert_int_equal(evict(p), f);
    assert_int_equal(evict(p), 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(refault_is_protected),
        cmocka_unit_test(remove_from_either_list),
        cmocka_unit_test(ghosts_are_bounded),
        cmocka_unit_test(used_after_unmapping_is_protected),
        cmocka_unit_test(back_to_am),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
