/* 2Q: scan-resistant eviction that learns from refaults and from uses it sees.
 *
 * User space is never told which resident pages were read, so recency cannot come from access
 * bits. What it does see is a fault on a block it evicted, and the minor fault of a block the
 * cache soft-evicted (unmapped but kept, cache.h). New blocks enter A1in, a FIFO held to a
 * quarter of the frames. Reused blocks enter Am, which is evicted only when A1in is small: a
 * block used after A1in's turn unmapped it, or one that faults again while its key is in a
 * ghost list of blocks evicted from A1in. A scan passes through A1in and out again without
 * touching Am, the working set. (Johnson and Shasha, VLDB 1994.) Am is a clock with rounds, as
 * the clock policy (clock.c): the hand unmaps what it passes, and a block used since gets ROUNDS
 * more turns. A frame the cache soft-evicted comes back to the list it left (back()). */
#include <stdbool.h>

#include "list.h"

#define GHOSTS 4096       /* keys remembered per shard */
#define TABLE (2 * GHOSTS)
#define PROBES 16
#define A1IN 0u           /* aux & LIST: the list a frame is on */
#define AM 1u
#define LIST 1u
#define USED 2u           /* used (touch()) since the hand passed */
#define UNMAPPED 4u       /* returned by victim(), and not used since: a use would be seen */
#define ROUNDS 8u         /* turns a used block has (in Am): aux >> ROUND_SHIFT counts them */
#define ROUND_SHIFT 8
#define ROUND (1u << ROUND_SHIFT)

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

/* Frame f to the back of the list aux names, with aux as its state. */
static void list_push(struct twoq *q, uint32_t aux, uint32_t f)
{
    q->nodes[f].aux = aux;
    um_plist_push(q->nodes, &q->list[aux & LIST], f);
}

static void list_unlink(struct twoq *q, uint32_t f)
{
    um_plist_unlink(q->nodes, &q->list[q->nodes[f].aux & LIST], f);
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

static void twoq_back(void *state, uint32_t f)
{
    struct twoq *q = state;
    list_push(q, q->nodes[f].aux, f); /* to the list it left, with its state */
}

static void twoq_remove(void *state, uint32_t f)
{
    list_unlink(state, f);
}

static void twoq_touch(void *state, uint32_t f)
{
    struct twoq *q = state;
    q->nodes[f].aux = (q->nodes[f].aux | USED) & ~UNMAPPED;
}

/* The frame at the head of A1in or Am (from_in) leaves: returned (true) or kept (false). */
static bool step(struct twoq *q, bool from_in, uint32_t f)
{
    struct um_pnode *n = &q->nodes[f];
    uint32_t aux = n->aux;
    list_unlink(q, f);
    if (aux & USED) {
        list_push(q, AM | ROUNDS << ROUND_SHIFT, f); /* reused: to Am, or kept there */
        return false;
    }
    if ((aux & UNMAPPED) && aux >= ROUND) {
        list_push(q, aux - ROUND, f); /* unmapped and unused: one round less */
        return false;
    }
    /* Mapped: the cache unmaps it and it comes back (back()). Unmapped (with no rounds left
     * in Am): evicted. The policy cannot tell which the cache will do (a block may have no
     * mapping to unmap in this process): a block leaving A1in is remembered either way, once. */
    if (from_in && n->key && !remembered(q, n->key))
        remember(q, n->key);
    n->aux = aux | UNMAPPED;
    return true;
}

static uint32_t twoq_victim(void *state)
{
    struct twoq *q = state;
    /* Each frame is passed at most ROUNDS + 1 times before it is returned. */
    for (uint32_t turns = (ROUNDS + 1) * (q->list[A1IN].count + q->list[AM].count) + 1;
         turns--;) {
        uint32_t resident = q->list[A1IN].count + q->list[AM].count;
        bool from_in = q->list[AM].count == 0 ||
                       (q->list[A1IN].count > 0 && q->list[A1IN].count * 4 > resident);
        uint32_t f = q->list[from_in ? A1IN : AM].head;
        if (f == UM_NO_FRAME)
            return UM_NO_FRAME;
        if (step(q, from_in, f))
            return f;
    }
    return UM_NO_FRAME;
}

const struct um_policy_ops um_policy_2q = {
    .name = "2q",
    .state_size = sizeof(struct twoq),
    .init = twoq_init,
    .insert = twoq_insert,
    .remove = twoq_remove,
    .victim = twoq_victim,
    .touch = twoq_touch,
    .back = twoq_back,
};
