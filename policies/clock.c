/* CLOCK (second chance). The reference bit a kernel would take from the page tables is not
 * visible to user space; what the shim does see is a store's first write-protect fault on a
 * resident block, so that is what sets the bit here: a block the program wrote to gets one more
 * round before eviction (and evicting it would cost a write-back). Blocks only read age as in
 * FIFO; for read-heavy reuse the refault-learning 2q policy is the better choice. */
#include "policy.h"

struct clock {
    struct um_pnode *nodes;
    uint32_t hand; /* the oldest frame: the next the hand looks at */
    uint32_t tail;
    uint32_t count;
};

static void push(struct clock *q, uint32_t f)
{
    q->nodes[f].prev = q->tail;
    q->nodes[f].next = UM_NO_FRAME;
    if (q->tail == UM_NO_FRAME)
        q->hand = f;
    else
        q->nodes[q->tail].next = f;
    q->tail = f;
    q->count++;
}

static void unlink_frame(struct clock *q, uint32_t f)
{
    struct um_pnode *n = &q->nodes[f];
    if (n->prev == UM_NO_FRAME)
        q->hand = n->next;
    else
        q->nodes[n->prev].next = n->next;
    if (n->next == UM_NO_FRAME)
        q->tail = n->prev;
    else
        q->nodes[n->next].prev = n->prev;
    n->prev = n->next = UM_NO_FRAME;
    q->count--;
}

static void clock_init(void *state, struct um_pnode *nodes)
{
    struct clock *q = state;
    q->nodes = nodes;
    q->hand = q->tail = UM_NO_FRAME;
    q->count = 0;
}

static void clock_insert(void *state, uint32_t f)
{
    struct clock *q = state;
    q->nodes[f].aux = 0;
    push(q, f);
}

static void clock_remove(void *state, uint32_t f)
{
    unlink_frame(state, f);
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
    for (uint32_t turns = q->count + 1; turns-- && q->hand != UM_NO_FRAME;) {
        uint32_t f = q->hand;
        unlink_frame(q, f);
        if (!q->nodes[f].aux)
            return f;
        q->nodes[f].aux = 0; /* second chance: to the back */
        push(q, f);
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
