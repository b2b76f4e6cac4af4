/* 2Q: new blocks are evicted first; a block that faults again soon after its eviction is
 * protected; a scan does not push the protected blocks out. */
#include "cmocka_all.h"
#include "policies/policy.h"

#define N 64

static struct um_pnode nodes[N];
static char state_buf[1 << 18];

static const struct um_policy_ops *fresh(void)
{
    const struct um_policy_ops *p = um_policy_find("2q");
    assert_non_null(p);
    assert_true(p->state_size <= sizeof state_buf);
    p->init(state_buf, nodes);
    return p;
}

static void insert(const struct um_policy_ops *p, uint32_t f, uint64_t key)
{
    nodes[f].key = key;
    p->insert(state_buf, f);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(refault_is_protected),
        cmocka_unit_test(remove_from_either_list),
        cmocka_unit_test(ghosts_are_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
