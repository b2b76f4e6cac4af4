/* 2Q: scan-resistant eviction that learns from refaults.
 *
 * User space is never told which resident pages were read, so recency cannot come from access
 * bits. What it does see is a fault on a block it evicted: 2Q keeps the identities (keys) of
 * recently evicted blocks in a ghost list, and a block that faults again while its key is there
 * has proven to be reused. New blocks enter A1in, a FIFO held to a quarter of the frames;
 * reused blocks enter Am, which is evicted only when A1in is small. A scan passes through A1in
 * and out again without touching Am, the working set. (Johnson and Shasha, VLDB 1994.) */
#include <stdbool.h>

#include "list.h"

#define GHOSTS 4096       /* keys remembered per shard */
#define TABLE (2 * GHOSTS)
#define PROBES 16
#define A1IN 0u
#define AM 1u

struct twoq {
    struct um_pnode *nodes;
    struct um_plist list[2];
    uint64_t ring[GHOSTS]; /* evicted keys, oldest overwritten first */
    uint32_t ring_next;
    struct {
        uint64_t key;
        uint32_t at; /* ring index + 1; stale once the ring slot holds another key */
    } table[TABLE];
};

static void list_push(struct twoq *q, unsigned which, uint32_t f)
{
    q->nodes[f].aux = which;
    um_plist_push(q->nodes, &q->list[which], f);
}

static void list_unlink(struct twoq *q, uint32_t f)
{
    um_plist_unlink(q->nodes, &q->list[q->nodes[f].aux], f);
}

static uint32_t slot_of(uint64_t key, unsigned probe)
{
    uint64_t h = key * 0x9e3779b97f4a7c15ULL;
    return (uint32_t)((h >> 40) + probe) % TABLE;
}

static bool live(const struct twoq *q, uint32_t slot)
{
    uint32_t at = q->table[slot].at;
    return at && q->ring[at - 1] == q->table[slot].key;
}

static bool remembered(const struct twoq *q, uint64_t key)
{
    for (unsigned i = 0; i < PROBES; i++) {
        uint32_t s = slot_of(key, i);
        if (!q->table[s].at)
            return false;
        if (q->table[s].key == key && live(q, s))
            return true;
    }
    return false;
}

static void remember(struct twoq *q, uint64_t key)
{
    uint32_t idx = q->ring_next;
    q->ring_next = (q->ring_next + 1) % GHOSTS;
    q->ring[idx] = key;
    /* The first slot on the probe path that is empty, stale or this key's; else the home slot
     * (forgetting another key early: a policy may guess). */
    uint32_t target = slot_of(key, 0);
    for (unsigned i = 0; i < PROBES; i++) {
        uint32_t s = slot_of(key, i);
        if (!live(q, s) || q->table[s].key == key) {
            target = s;
            break;
        }
    }
    q->table[target].key = key;
    q->table[target].at = idx + 1;
}

static void twoq_init(void *state, struct um_pnode *nodes)
{
    struct twoq *q = state;
    q->nodes = nodes;
    for (unsigned i = 0; i < 2; i++)
        um_plist_init(&q->list[i]);
    q->ring_next = 0;
    for (unsigned i = 0; i < GHOSTS; i++)
        q->ring[i] = 0;
    for (unsigned i = 0; i < TABLE; i++) {
        q->table[i].key = 0;
        q->table[i].at = 0;
    }
}

static void twoq_insert(void *state, uint32_t f)
{
    struct twoq *q = state;
    uint64_t key = q->nodes[f].key;
    list_push(q, key && remembered(q, key) ? AM : A1IN, f);
}

static void twoq_remove(void *state, uint32_t f)
{
    list_unlink(state, f);
}

static uint32_t twoq_victim(void *state)
{
    struct twoq *q = state;
    uint32_t resident = q->list[A1IN].count + q->list[AM].count;
    bool from_in = q->list[AM].count == 0 ||
                   (q->list[A1IN].count > 0 && q->list[A1IN].count * 4 > resident);
    uint32_t f = q->list[from_in ? A1IN : AM].head;
    if (f == UM_NO_FRAME)
        return UM_NO_FRAME;
    list_unlink(q, f);
    if (from_in && q->nodes[f].key)
        remember(q, q->nodes[f].key);
    return f;
}

const struct um_policy_ops um_policy_2q = {
    .name = "2q",
    .state_size = sizeof(struct twoq),
    .init = twoq_init,
    .insert = twoq_insert,
    .remove = twoq_remove,
    .victim = twoq_victim,
};
