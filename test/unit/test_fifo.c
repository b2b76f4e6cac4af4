/* The FIFO policy: oldest first, any frame removable. */
#include "cmocka_all.h"
#include "policies/policy.h"

static struct um_pnode nodes[16];
static char state_buf[256];

static const struct um_policy_ops *fresh(void)
{
    const struct um_policy_ops *p = um_policy_find("fifo");
    assert_non_null(p);
    assert_true(p->state_size <= sizeof state_buf);
    p->init(state_buf, nodes);
    return p;
}

static void oldest_first(void **state)
{
    (void)state;
    const struct um_policy_ops *p = fresh();
    assert_int_equal(p->victim(state_buf), UM_NO_FRAME);
    for (uint32_t f = 5; f < 10; f++)
        p->insert(state_buf, f);
    for (uint32_t f = 5; f < 10; f++)
        assert_int_equal(p->victim(state_buf), f);
    assert_int_equal(p->victim(state_buf), UM_NO_FRAME);
}

static void remove_anywhere(void **state)
{
    (void)state;
    const struct um_policy_ops *p = fresh();
    for (uint32_t f = 0; f < 6; f++)
        p->insert(state_buf, f);
    p->remove(state_buf, 0); /* head */
    p->remove(state_buf, 3); /* middle */
    p->remove(state_buf, 5); /* tail */
    p->insert(state_buf, 3); /* re-inserted: now newest */
    assert_int_equal(p->victim(state_buf), 1);
    assert_int_equal(p->victim(state_buf), 2);
    assert_int_equal(p->victim(state_buf), 4);
    assert_int_equal(p->victim(state_buf), 3);
    assert_int_equal(p->victim(state_buf), UM_NO_FRAME);
}

static void unknown_name(void **state)
{
    (void)state;
    assert_null(um_policy_find("mru"));
    assert_null(um_policy_find(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(oldest_first),
        cmocka_unit_test(remove_anywhere),
        cmocka_unit_test(unknown_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
