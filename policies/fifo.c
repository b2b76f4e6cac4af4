/* FIFO: evict the frame that became resident first. A doubly linked list through the nodes,
 * so that unmapping can take any frame out in O(1). */
#include "policy.h"

struct fifo {
    struct um_pnode *nodes;
    uint32_t head; /* oldest */
    uint32_t tail; /* newest */
};

static void fifo_init(void *state, struct um_pnode *nodes)
{
    struct fifo *q = state;
    q->nodes = nodes;
    q->head = q->tail = UM_NO_FRAME;
}

static void fifo_insert(void *state, uint32_t f)
{
    struct fifo *q = state;
    q->nodes[f].prev = q->tail;
    q->nodes[f].next = UM_NO_FRAME;
    if (q->tail == UM_NO_FRAME)
        q->head = f;
    else
        q->nodes[q->tail].next = f;
    q->tail = f;
}

static void fifo_remove(void *state, uint32_t f)
{
    struct fifo *q = state;
    struct um_pnode *n = &q->nodes[f];
    if (n->prev == UM_NO_FRAME)
        q->head = n->next;
    else
        q->nodes[n->prev].next = n->next;
    if (n->next == UM_NO_FRAME)
        q->tail = n->prev;
    else
        q->nodes[n->next].prev = n->prev;
    n->prev = n->next = UM_NO_FRAME;
}

static uint32_t fifo_victim(void *state)
{
    struct fifo *q = state;
    uint32_t f = q->head;
    if (f != UM_NO_FRAME)
        fifo_remove(q, f);
    return f;
}

const struct um_policy_ops um_policy_fifo = {
    .name = "fifo",
    .state_size = sizeof(struct fifo),
    .init = fifo_init,
    .insert = fifo_insert,
    .remove = fifo_remove,
    .victim = fifo_victim,
};
