/* FIFO: evict the frame that became resident first. A doubly linked list through the nodes,
 * so that unmapping can take any frame out in O(1). */
#include "list.h"

struct fifo {
    struct um_pnode *nodes;
    struct um_plist list;
};

static void fifo_init(void *state, struct um_pnode *nodes)
{
    struct fifo *q = state;
    q->nodes = nodes;
    um_plist_init(&q->list);
}

static void fifo_insert(void *state, uint32_t f)
{
    struct fifo *q = state;
    um_plist_push(q->nodes, &q->list, f);
}

static void fifo_remove(void *state, uint32_t f)
{
    struct fifo *q = state;
    um_plist_unlink(q->nodes, &q->list, f);
}

static uint32_t fifo_victim(void *state)
{
    struct fifo *q = state;
    return um_plist_pop(q->nodes, &q->list);
}

const struct um_policy_ops um_policy_fifo = {
    .name = "fifo",
    .state_size = sizeof(struct fifo),
    .init = fifo_init,
    .insert = fifo_insert,
    .remove = fifo_remove,
    .victim = fifo_victim,
};
