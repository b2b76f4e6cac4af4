/* The doubly linked FIFO list the policies keep their frames in, through the node array. */
#ifndef UM_POLICY_LIST_H
#define UM_POLICY_LIST_H

#include "policy.h"

struct um_plist {
    uint32_t head; /* oldest */
    uint32_t tail; /* newest */
    uint32_t count;
};

static inline void um_plist_init(struct um_plist *l)
{
    l->head = l->tail = UM_NO_FRAME;
    l->count = 0;
}

static inline void um_plist_push(struct um_pnode *nodes, struct um_plist *l, uint32_t f)
{
    nodes[f].prev = l->tail;
    nodes[f].next = UM_NO_FRAME;
    if (l->tail == UM_NO_FRAME)
        l->head = f;
    else
        nodes[l->tail].next = f;
    l->tail = f;
    l->count++;
}

static inline void um_plist_unlink(struct um_pnode *nodes, struct um_plist *l, uint32_t f)
{
    struct um_pnode *n = &nodes[f];
    if (n->prev == UM_NO_FRAME)
        l->head = n->next;
    else
        nodes[n->prev].next = n->next;
    if (n->next == UM_NO_FRAME)
        l->tail = n->prev;
    else
        nodes[n->next].prev = n->prev;
    n->prev = n->next = UM_NO_FRAME;
    l->count--;
}

/* Remove and return the oldest frame, or UM_NO_FRAME. */
static inline uint32_t um_plist_pop(struct um_pnode *nodes, struct um_plist *l)
{
    uint32_t f = l->head;
    if (f != UM_NO_FRAME)
        um_plist_unlink(nodes, l, f);
    return f;
}

#endif
