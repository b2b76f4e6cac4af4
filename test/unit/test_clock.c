/* CLOCK: frames age in order; a frame stored to gets one more round. */
#include "cmocka_all.h"
#include "policies/policy.h"

static struct um_pnode nodes[16];
static char state_buf[256];

static void second_chance(void **state)
{
    (void)state;
    const struct um_policy_ops *p = um_policy_find("clock");
    assert_non_null(p);
    assert_non_null(p->touch);
    p->init(state_buf, nodes);
    for (uint32_t f = 0; f < 4; f++)
        p->insert(state_buf, f);
    p->touch(state_buf, 0);
    p->touch(state_buf, 2);
    assert_int_equal(p->victim(state_buf), 1); /* 0 had its bit: passed over */
    assert_int_equal(p->victim(state_buf), 3);
    assert_int_equal(p->victim(state_buf), 0); /* bits cleared on the way round */
    assert_int_equal(p->victim(state_buf), 2);
    assert_int_equal(p->victim(state_buf), UM_NO_FRAME);
}

static void all_touched_still_evicts(void **state)
{
    (void)state;
    const struct um_policy_ops *p = um_policy_find("clock");
    p->init(state_buf, nodes);
    for (uint32_t f = 0; f < 3; f++) {
        p->insert(state_buf, f);
        p->touch(state_buf, f);
    }
    p->remove(state_buf, 1);
    assert_int_equal(p->victim(state_buf), 0);
    assert_int_equal(p->victim(state_buf), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(second_chance),
        cmocka_unit_test(all_touched_still_evicts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
