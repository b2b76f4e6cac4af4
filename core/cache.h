/* The bounded page cache: frames, the process-wide budget, and eviction.
 *
 * A frame is the bookkeeping for one resident block of a domain (its memory is the domain's
 * memfd, domain.h). Frames live in shards; a frame's state changes, its free-list and its place in the
 * eviction policy are guarded by its shard's lock, so fills and evictions on different shards
 * never contend. The budget is one atomic byte counter charged *before* a fill, so resident
 * bytes never exceed it, even transiently.
 *
 * Frame states and their transitions (the functions named):
 *   FREE --alloc--> FILLING --commit--> RESIDENT --claim--> BUSY --release--> RESIDENT
 *                      \--discard--> FREE                    \--drop--> FREE
 * BUSY means "claimed" by an evictor, a write-back or a teardown; whoever claimed it writes it
 * back, then releases it or drops it (punching its pages out of the memfd, clearing the block's
 * slot, freeing it). Readers on the fault path look at a slot and its frame's state without a
 * lock, and re-read the slot to be sure the frame still belongs to that block; a thread that
 * must wait for a FILLING or BUSY frame to settle waits on its state word (um_cache_wait).
 *
 * Eviction has two levels for policies that count references (touch): a victim still mapped
 * is first soft-evicted (unmapped, kept in the memfd, given back to the policy: back()); if
 * the program touches it again the minor fault references it, otherwise it is the victim again
 * and is evicted for good (written back, punched out of the memfd). The budget counts both.
 *
 * Lock order: registry (rwlock) -> shard lock -> view ranges_lock. Evictor threads take no
 * registry lock; nothing waits for a frame while holding a shard lock. */
#ifndef UM_CACHE_H
#define UM_CACHE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../policies/policy.h"
#include "shm.h"

struct um_domain;

/* Policy slots: one per policy (0 .. UM_NPOLICIES - 1) for frames under the process-wide
 * budget alone, then one per UFFDMAP_PATHS entry with its own budget share. */
#define UM_MAX_SHARES 8
#define UM_SLOTS (UM_NPOLICIES + UM_MAX_SHARES)

/* Frames evicted together at most (see evict_in()): by the evictor thread, and by any other
 * thread (a filler making room for its fill, on the fault's path). */
#define UM_EVICT_BATCH 512u
#define UM_EVICT_BATCH_INLINE 32u

enum um_frame_state {
    UM_FRAME_FREE,
    UM_FRAME_FILLING,
    UM_FRAME_RESIDENT,
    UM_FRAME_BUSY,
};

struct um_frame {
    _Atomic uint32_t state;
    uint32_t next_free;
    struct um_domain *_Atomic dom;
    size_t block;
    /* Bytes of the block from its start that the memfd holds (once RESIDENT; past them lies the
     * end of the file); also the frame's charge against the budget. Read without a lock. */
    _Atomic size_t len;
    unsigned policy; /* the policy slot this frame is ordered (and, with a share, charged) by */
    /* Stored-to chunks of the range (bit i: the i-th 1/64 of the block, or 4 KiB). Changed
     * only under the shard lock while RESIDENT, or by the owner of a BUSY frame. */
    _Atomic uint64_t dirty;
    /* Member processes that let stores through to the block since its last write-back: each
     * must write-protect it again before the next one (members.h). Changed like `dirty`. */
    _Atomic uint64_t writers;
    /* The member process that holds the frame FILLING or BUSY, and whether it started to drop
     * it: if that process dies, a thread waiting for the frame takes it over (um_cache_wait). */
    _Atomic uint32_t owner;
    _Atomic bool dropping;
    /* Soft-evicted: unmapped from this process's shared ranges, its pages kept in the memfd;
     * the next touch is a minor fault, a reference the policy sees (um_cache_touch). */
    _Atomic bool soft;
};

struct um_cache;
/* Write a BUSY frame's dirty chunks to its file: 0, or an errno (the chunks stay dirty). */
typedef int (*um_writeback_fn)(struct um_cache *c, uint32_t f);

struct um_shard {
    struct um_shm_mutex lock;
    uint32_t free_head;   /* returned frames */
    uint32_t next_unused; /* frames of this shard never used yet: shard + k * nshards */
    /* One state per policy slot in use, set up at first use; resident frames under each.
     * Victims come from the slot holding the most frames in the shard. */
    void *policy_state[UM_SLOTS];
    uint32_t policy_frames[UM_SLOTS];
} __attribute__((aligned(64)));

struct um_cache {
    size_t budget, high, low;
    _Atomic size_t charged;
    uint32_t nframes;
    unsigned nshards;
    struct um_frame *frames;
    struct um_pnode *nodes;
    struct um_shard *shards;
    unsigned default_policy; /* for frames whose mapping names none */
    unsigned slot_policy[UM_SLOTS];      /* policy number (policy.h) of each slot */
    size_t slot_share[UM_SLOTS];          /* bytes; 0: only the process-wide budget */
    _Atomic size_t slot_charged[UM_SLOTS];
    /* Frames are handed out from the shards in turn, and victims taken from them in the same
     * turn: every shard's policy then orders a like sample of the frames, so one victim per
     * shard in turn follows the policy across the whole cache (within one frame per shard). */
    _Atomic unsigned alloc_cursor, victim_cursor;
    /* Background eviction: woken when charged bytes cross `high`. */
    /* A futex word, not a condition variable: the waiters may be in several processes, and a
     * process-shared condition variable hangs its broadcasters once a waiter dies (seen). */
    _Atomic uint32_t pressure;
    _Atomic unsigned waiters; /* threads in um_cache_wait(): state changes wake them only then */
    _Atomic uint32_t settled; /* bumped as a frame settles: a futex word for fills awaiting room */
    _Atomic unsigned room_waiters;
    bool background; /* evictor threads exist */
};

/* How this process writes a dirty frame back (a function pointer cannot live in the shared
 * cache: other processes map this library elsewhere). NULL: frames are never dirty. */
void um_cache_set_writeback(um_writeback_fn fn);

int um_cache_init(struct um_cache *c, size_t budget, unsigned high_pct, unsigned low_pct,
                  const struct um_policy_ops *policy, bool background);

/* Charge `bytes` and hand out a FILLING frame, evicting on the caller's thread if the budget is
 * full; never fails. */
uint32_t um_cache_alloc(struct um_cache *c, size_t bytes);
/* The same for a frame of policy slot `slot`, charged to its share too if it has one. */
uint32_t um_cache_alloc_in(struct um_cache *c, size_t bytes, unsigned slot);
/* The same for a block no fault waits for (read-ahead): UM_NO_FRAME, without waiting, when
 * the cache is full and nothing can be evicted now. A filler holding read-ahead frames it is
 * filling must not wait for room: the others may be doing the same. */
uint32_t um_cache_try_alloc_in(struct um_cache *c, size_t bytes, unsigned slot);
/* Give policy slot `slot` (>= UM_NPOLICIES) policy ops and a budget share of `share` bytes. */
void um_cache_set_share(struct um_cache *c, unsigned slot, const struct um_policy_ops *ops,
                        size_t share);
/* A fill completed: the frame now holds the first len bytes of block `block` of d. The charge
 * shrinks to len if the fill was shorter than charged. Wakes um_cache_wait()ers. */
void um_cache_commit(struct um_cache *c, uint32_t f, struct um_domain *d, size_t block,
                     size_t len, size_t charged);
/* A FILLING frame that will not be used: free it and return `charged` bytes. */
void um_cache_discard(struct um_cache *c, uint32_t f, size_t charged);

/* RESIDENT -> BUSY, out of the policy. False if the frame was not RESIDENT. */
bool um_cache_claim(struct um_cache *c, uint32_t f);
/* BUSY -> RESIDENT again, back into the policy (a claim that did not drop). */
void um_cache_release(struct um_cache *c, uint32_t f);
/* With frame f's shard lock held: the program stored to f (for policies that care). */
void um_cache_touch_locked(struct um_cache *c, uint32_t f);
/* The program touched resident frame f (a minor fault): a reference for policies that care. */
void um_cache_touch(struct um_cache *c, uint32_t f);
/* The lock that guards frame f's state and dirty bits. */
void um_cache_lock_frame(struct um_cache *c, uint32_t f);
void um_cache_unlock_frame(struct um_cache *c, uint32_t f);

/* Finish dropping a BUSY frame: punch its pages out of the memfd, clear its slot, free it. */
void um_cache_drop(struct um_cache *c, uint32_t f);
/* Member `member` is gone and its number serves again: clear its writer bits and take over
 * the frames it held FILLING or BUSY. */
void um_cache_forget_member(struct um_cache *c, unsigned member);
/* Wait until frame f's state is no longer `state` (FILLING or BUSY), or a moment has passed:
 * the caller looks again either way. A frame whose owner died is taken over: a fill is
 * abandoned, a claim released (its dirty bits are still set), a drop finished. */
void um_cache_wait(struct um_cache *c, uint32_t f, uint32_t state);

/* Evict at least `want` bytes (a batch: more, see evict_in()) of the policies' next victims,
 * writing dirty ones back first. The number of frames evicted: 0 when nothing could be (nothing
 * resident, or no dirty victim could be written back). */
unsigned um_cache_evict(struct um_cache *c, size_t want);
/* Background evictor body: wait for pressure (up to `wait_ms`), then evict down to the low
 * watermark. */
void um_cache_evictor_step(struct um_cache *c, unsigned wait_ms);

static inline size_t um_cache_charged(struct um_cache *c)
{
    return atomic_load_explicit(&c->charged, memory_order_relaxed);
}

#endif
