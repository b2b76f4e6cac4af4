/* CLOCK (second chance). The reference bit a kernel would take from the page tables is not
 * visible to user space; what the shim sees instead is a fault on a resident block: a store's
 * first write-protect fault, and the minor fault of a block the cache soft-evicted (unmapped
 * but kept, cache.h) when the hand first passed it. Either sets the bit here. */
#include "list.h"

struct clock {
    struct um_pnode *nodes;
    struct um_plist list; /* its head is where the hand points */
};

static void clock_init(void *state, struct um_pnode *nodes)
{
    struct clock *q = state;
    q->nodes = nodes;
    um_plist_init(&q->list);
}

static void clock_insert(void *state, uint32_t f)
{
    struct clock *q = state;
    q->nodes[f].aux = 0;
    um_plist_push(q->nodes, &q->list, f);
}

static void clock_remove(void *state, uint32_t f)
{
    struct clock *q = state;
    um_plist_unlink(q->nodes, &q->list, f);
}

static void clock_touch(void *state, uint32_t f)
{
    struct clock *q = state;
    q->nodes[f].aux = 1;
}

static uint32_t clock_victim(void *state)
{
    struct clock *q = state;
    /* At most one full turn: every frame passed loses its bit, so the turn ends. */
    for (uint32_t turns = q->list.count + 1; turns-- && q->list.head != UM_NO_FRAME;) {
        uint32_t f = um_plist_pop(q->nodes, &q->list);
        if (!q->nodes[f].aux)
            return f;
        q->nodes[f].aux = 0; /* second chance: to the back */
        um_plist_push(q->nodes, &q->list, f);
    }
    return UM_NO_FRAME;
}

const struct um_policy_ops um_policy_clock = {
    .name = "clock",
    .state_size = sizeof(struct clock),
    .init = clock_init,
    .insert = clock_insert,
    .remove = clock_remove,
    .victim = clock_victim,
    .touch = clock_touch,
};
