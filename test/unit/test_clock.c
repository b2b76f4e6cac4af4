/* CLOCK: frames age in order; a frame used gets more rounds than a new one. */
#include <stdbool.h>
#include <string.h>

#include "cmocka_all.h"
#include "policies/policy.h"

static struct um_pnode nodes[16];
static char state_buf[256];
static bool mapped[16];

static const struct um_policy_ops *fresh(void)
{
    const struct um_policy_ops *p = um_policy_find("clock");
    assert_non_null(p);
    assert_true(p->state_size <= sizeof state_buf);
    memset(nodes, 0, sizeof nodes); /* as the cache's are at first */
    memset(mapped, 0, sizeof mapped);
    p->init(state_buf, nodes);
    return p;
}

/* What the cache does, for one process that maps every block: a fill maps the block; a use is
 * seen only when the block is not mapped (the minor fault maps it); a victim still mapped is
 * only unmapped and given back to the policy (soft eviction). */
static void fill(const struct um_policy_ops *p, uint32_t f, uint64_t key)
{
    nodes[f].key = key;
    mapped[f] = true;
    p->insert(state_buf, f);
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

/* Blocks evicted before block `key` is, while new blocks stream through the frames
 * (each eviction frees a frame for the next one). */
static unsigned evicted_before(const struct um_policy_ops *p, uint64_t key)
{
    uint64_t next = 1000;
    for (unsigned count = 0; count < 1000; count++) {
        uint32_t f = evict(p);
        assert_int_not_equal(f, UM_NO_FRAME);
        if (nodes[f].key == key)
            return count;
        fill(p, f, next++);
    }
    fail();
    return 0;
}

/* A block used once after the hand unmapped it stays for rounds without another use, while new
 * blocks that are not used go after two (the first unmaps them). */
static void used_block_outlives_new_ones(void **state)
{
    (void)state;
    const struct um_policy_ops *p = fresh();
    for (uint32_t f = 0; f < 4; f++)
        fill(p, f, 100 + f);
    assert_int_equal(evict(p), 0); /* each unmapped once, then the oldest evicted */
    fill(p, 0, 200);
    use(p, 1); /* block 101 is used again */
    unsigned before = evicted_before(p, 101);
    /* Plain second chance: gone within two rounds of the three other frames. */
    assert_true(before >= 12);
}

/* A frame coming back with the same block (a claim released) keeps its rounds; the same frame
 * filled with another block starts afresh. */
static void back_keeps_rounds_new_block_does_not(void **state)
{
    (void)state;
    const struct um_policy_ops *p = fresh();
    for (uint32_t f = 0; f < 4; f++)
        fill(p, f, 100 + f);
    assert_int_equal(evict(p), 0);
    fill(p, 0, 200);
    use(p, 1);
    p->remove(state_buf, 1); /* claimed (a write-back), then released */
    back(p, 1);
    assert_true(evicted_before(p, 101) >= 12);

    p = fresh();
    for (uint32_t f = 0; f < 4; f++)
        fill(p, f, 100 + f);
    assert_int_equal(evict(p), 0);
    fill(p, 0, 200);
    use(p, 1);
    p->remove(state_buf, 1); /* dropped; the frame takes another block */
    fill(p, 1, 300);
    assert_true(evicted_before(p, 300) <= 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(second_chance),
        cmocka_unit_test(all_touched_still_evicts),
        cmocka_unit_test(used_block_outlives_new_ones),
        cmocka_unit_test(back_keeps_rounds_new_block_does_not),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
