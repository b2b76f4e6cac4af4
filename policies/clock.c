/* CLOCK with rounds (in the manner of GCLOCK). The reference bit a kernel would take from the
 * page tables is not visible to user space; what the shim sees instead is a fault on a resident
 * block: a store's first write-protect fault, and the minor fault of a block the cache
 * soft-evicted (unmapped but kept, cache.h). So a frame the hand returns while it is mapped is
 * only unmapped by the cache and comes back (back()); its next use is then seen (touch()).
 *
 * A block used since the hand last passed it gets ROUNDS more turns: the hand passes it once
 * (the use mapped it: further uses would not be seen), returns it the next time (the cache
 * unmaps it), then passes it ROUNDS times while it stays unused, and returns it for eviction
 * after that; a use meanwhile starts again. A new block has no rounds: unmapped at its first
 * turn, evicted at its second unless used. Blocks in use thus outlive several turns without a
 * use seen, and blocks not used again go soon. */
#include "list.h"

#define ROUNDS 8u       /* turns of a used block: aux & ROUNDS_MASK counts them down */
#define ROUNDS_MASK 0xffu
#define USED 0x100u     /* used (touch()) since the hand passed */
#define UNMAPPED 0x200u /* returned by the hand, and not used since: a use would be seen */

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

static void clock_back(void *state, uint32_t f)
{
    struct clock *q = state;
    um_plist_push(q->nodes, &q->list, f); /* with its rounds */
}

static void clock_remove(void *state, uint32_t f)
{
    struct clock *q = state;
    um_plist_unlink(q->nodes, &q->list, f);
}

static void clock_touch(void *state, uint32_t f)
{
    struct clock *q = state;
    q->nodes[f].aux = (q->nodes[f].aux | USED) & ~UNMAPPED;
}

static uint32_t clock_victim(void *state)
{
    struct clock *q = state;
    /* Each frame is passed at most ROUNDS + 1 times before one is returned. */
    for (uint32_t turns = (ROUNDS + 1) * q->list.count + 1; turns--;) {
        uint32_t f = um_plist_pop(q->nodes, &q->list);
        if (f == UM_NO_FRAME)
            return UM_NO_FRAME;
        uint32_t *aux = &q->nodes[f].aux;
        if (*aux & USED)
            *aux = ROUNDS; /* mapped by its use: passed once */
        else if ((*aux & UNMAPPED) && (*aux & ROUNDS_MASK))
            (*aux)--; /* unmapped and unused: one round less */
        else {
            /* Mapped: the cache unmaps it and it comes back, with its rounds. Unmapped with
             * none left: evicted. */
            *aux |= UNMAPPED;
            return f;
        }
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
    .back = clock_back,
};
