/* Eviction policies: one small interface.
 *
 * A policy orders the resident frames of one cache shard. The cache calls it under that shard's
 * lock, so a policy is plain single-threaded code. Policies keep their per-frame links in the
 * node array the cache hands them (one node per frame, indexed by frame number) and never see
 * frames themselves, which keeps them testable on their own. */
#ifndef UM_POLICY_H
#define UM_POLICY_H

#include <stddef.h>
#include <stdint.h>

#define UM_NO_FRAME UINT32_MAX

struct um_pnode {
    uint32_t prev, next;
    uint32_t aux; /* free for the policy: reference bits, list tags, ... */
    uint64_t key; /* set by the cache before insert: the block's identity (file and offset),
                     the same each time that block is filled again */
};

struct um_policy_ops {
    const char *name;
    size_t state_size;
    void (*init)(void *state, struct um_pnode *nodes);
    /* A frame became resident with a block (a fill). */
    void (*insert)(void *state, uint32_t frame);
    /* A resident frame leaves for another reason than eviction (unmap). */
    void (*remove)(void *state, uint32_t frame);
    /* Remove and return the frame to evict next, or UM_NO_FRAME when none is resident. */
    uint32_t (*victim)(void *state);
    /* Optional: the program used a resident frame in a way user space sees: a store's first
     * write-protect fault, or the minor fault of a frame the cache soft-evicted (cache.h). The
     * cache soft-evicts victims of policies with this op. */
    void (*touch)(void *state, uint32_t frame);
    /* Optional (else insert): a frame that victim() or remove() returned is resident again with
     * the same block: soft-evicted, or kept (its eviction failed, a claim released it). */
    void (*back)(void *state, uint32_t frame);
};

const struct um_policy_ops *um_policy_find(const char *name);
/* Policies by number: 0 .. UM_NPOLICIES - 1. */
#define UM_NPOLICIES 3
const struct um_policy_ops *um_policy_at(unsigned index);
unsigned um_policy_index(const struct um_policy_ops *ops);

extern const struct um_policy_ops um_policy_fifo;
extern const struct um_policy_ops um_policy_2q;
extern const struct um_policy_ops um_policy_clock;

#endif
