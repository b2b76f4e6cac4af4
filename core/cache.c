#include "cache.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>

#include "log.h"
#include "members.h"
#include "domain.h"
#include "foreign.h"
#include "os.h"
#include "shm.h"
#include "stats.h"

#define NSHARDS 8u
/* How long a fill waits for room that eviction cannot make before it charges over the
 * budget. */
#define OVERCOMMIT_AFTER_MS 2000u
#define ROOM_WAIT_MS 10u

static struct um_shard *shard_of(struct um_cache *c, uint32_t f)
{
    return &c->shards[f % c->nshards];
}

static void rebuild_shard(struct um_cache *c, struct um_shard *s);

/* Lock a shard. Its lock is shared with fork children: if a process died holding it (its
 * threads end wherever they are when one calls _exit()), the shard's lists may be half
 * updated, and are rebuilt from the frames' states, which are single words. */
static void lock_shard(struct um_cache *c, struct um_shard *s)
{
    if (um_shm_lock(&s->lock))
        rebuild_shard(c, s);
}

/* Policies by number: the cache is shared with processes whose copies of the policies' code
 * lie at other addresses, so it holds no function pointer. */
static inline const struct um_policy_ops *slot_ops(const struct um_cache *c, unsigned slot)
{
    return um_policy_at(c->slot_policy[slot]);
}

static um_writeback_fn cache_writeback; /* this process's; NULL: frames are never dirty */

void um_cache_set_writeback(um_writeback_fn fn) { cache_writeback = fn; }

int um_cache_init(struct um_cache *c, size_t budget, unsigned high_pct, unsigned low_pct,
                  const struct um_policy_ops *policy, bool background)
{
    memset(c, 0, sizeof *c);
    c->budget = budget;
    c->high = budget / 100 * high_pct;
    c->low = budget / 100 * low_pct;
    c->default_policy = um_policy_index(policy);
    for (unsigned p = 0; p < UM_NPOLICIES; p++)
        c->slot_policy[p] = p;
    c->background = background;
    c->nshards = NSHARDS;
    /* A frame holds at least one 4 KiB page, so this many frames can never run out before the
     * budget does. The tables are lazily backed: only frames ever used cost memory. They are
     * shared with fork children (shm.h), as are the locks. */
    c->nframes = (uint32_t)(budget / UM_PAGE + NSHARDS);
    c->frames = um_shm_alloc((size_t)c->nframes * sizeof *c->frames);
    c->nodes = um_shm_alloc((size_t)c->nframes * sizeof *c->nodes);
    c->shards = um_shm_alloc(NSHARDS * sizeof *c->shards);
    if (!c->frames || !c->nodes || !c->shards)
        return -1;
    for (unsigned s = 0; s < NSHARDS; s++) {
        struct um_shard *sh = &c->shards[s];
        um_shm_mutex_init(&sh->lock);
        sh->free_head = UM_NO_FRAME;
        sh->next_unused = s;
        sh->policy_state[c->default_policy] = um_shm_alloc(policy->state_size);
        if (!sh->policy_state[c->default_policy])
            return -1;
        policy->init(sh->policy_state[c->default_policy], c->nodes);
    }
    return 0;
}

/* With s->lock held: the state of policy p in shard s, set up at its first use (falling back
 * to the default policy if no memory can be had for it). */
static void *policy_state(struct um_cache *c, struct um_shard *s, unsigned *p)
{
    if (!s->policy_state[*p]) {
        const struct um_policy_ops *ops = slot_ops(c, *p);
        void *state = um_shm_alloc(ops->state_size);
        if (!state) {
            *p = c->default_policy;
            return s->policy_state[*p];
        }
        ops->init(state, c->nodes);
        s->policy_state[*p] = state;
    }
    return s->policy_state[*p];
}

/* Frame f into its policy: a new block, or one back (the policy's back(): after victim() or
 * remove() returned it, still holding the same block). */
static void policy_insert(struct um_cache *c, struct um_shard *s, uint32_t f, bool back)
{
    unsigned p = c->frames[f].policy;
    void *state = policy_state(c, s, &p);
    c->frames[f].policy = p;
    const struct um_policy_ops *ops = slot_ops(c, p);
    (back && ops->back ? ops->back : ops->insert)(state, f);
    s->policy_frames[p]++;
}

static void policy_remove(struct um_cache *c, struct um_shard *s, uint32_t f)
{
    unsigned p = c->frames[f].policy;
    slot_ops(c, p)->remove(s->policy_state[p], f);
    s->policy_frames[p]--;
}

/* The next victim of slot p in shard s, or of the slot holding most frames if p is UM_SLOTS. */
static uint32_t policy_victim(struct um_cache *c, struct um_shard *s, unsigned p)
{
    if (p == UM_SLOTS) {
        p = 0;
        for (unsigned q = 1; q < UM_SLOTS; q++)
            if (s->policy_frames[q] > s->policy_frames[p])
                p = q;
    }
    if (!s->policy_frames[p])
        return UM_NO_FRAME;
    uint32_t f = slot_ops(c, p)->victim(s->policy_state[p]);
    if (f != UM_NO_FRAME)
        s->policy_frames[p]--;
    return f;
}

void um_cache_set_share(struct um_cache *c, unsigned slot, const struct um_policy_ops *ops,
                        size_t share)
{
    c->slot_policy[slot] = um_policy_index(ops);
    c->slot_share[slot] = share;
}


static void signal_pressure(struct um_cache *c)
{
    if (atomic_exchange(&c->pressure, 1))
        return;
    um_futex_wake(&c->pressure);
}

static unsigned evict_in(struct um_cache *c, unsigned slot, size_t want);

/* Charge bytes to counter (at most `limit`), evicting from `slot` (UM_SLOTS: any) while full.
 * False, nothing charged, if the cache is full, nothing can be evicted now and the caller
 * must not wait (!may_wait). */
static bool charge_to(struct um_cache *c, _Atomic size_t *counter, size_t limit, size_t bytes,
                      unsigned slot, bool may_wait)
{
    size_t cur = atomic_load(counter);
    uint64_t stuck_since = 0; /* ms; 0: eviction made room last time */
    bool over = false;
    for (;;) {
        if (cur + bytes <= limit || over) {
            if (atomic_compare_exchange_weak(counter, &cur, cur + bytes))
                break;
            continue;
        }
        /* Full: make room on this thread. When every frame is being filled or written back
         * there is nothing to evict yet: wait until one settles (each does without needing
         * us). When that lasts, dirty blocks cannot be written back (disk full, I/O errors) or
         * the budget is too small for the fills at once: go over the budget rather than drop
         * data or stop serving faults. `settled` is read before the attempt, so a frame that
         * settles after it ends the wait at once. */
        uint32_t seen = atomic_load(&c->settled);
        if (evict_in(c, slot, cur + bytes - limit)) {
            stuck_since = 0;
        } else if (!may_wait) {
            return false;
        } else {
            uint64_t now = um_os_now_ms();
            if (!stuck_since)
                stuck_since = now;
            if (now - stuck_since >= OVERCOMMIT_AFTER_MS) {
                over = true;
                um_warn_once("the page cache is over its budget: for %u s no block could be "
                             "evicted (all being filled or written back, or dirty blocks that "
                             "cannot be written)", OVERCOMMIT_AFTER_MS / 1000);
            } else {
                atomic_fetch_add(&c->room_waiters, 1);
                um_futex_wait_ms(&c->settled, seen, ROOM_WAIT_MS);
                atomic_fetch_sub(&c->room_waiters, 1);
            }
        }
        cur = atomic_load(counter);
    }
    return true;
}

static bool charge(struct um_cache *c, size_t bytes, unsigned slot, bool may_wait)
{
    bool share = c->slot_share[slot] != 0;
    if (share && !charge_to(c, &c->slot_charged[slot], c->slot_share[slot], bytes, slot,
                            may_wait))
        return false;
    if (!charge_to(c, &c->charged, c->budget, bytes, UM_SLOTS, may_wait)) {
        if (share)
            atomic_fetch_sub(&c->slot_charged[slot], bytes);
        return false;
    }
    size_t now = atomic_load(&c->charged);
    um_stat_peak(now);
    if (c->background && now > c->high)
        signal_pressure(c);
    return true;
}

static void uncharge(struct um_cache *c, unsigned slot, size_t bytes)
{
    if (c->slot_share[slot])
        atomic_fetch_sub(&c->slot_charged[slot], bytes);
    atomic_fetch_sub(&c->charged, bytes);
}

/* With s->lock held, after its holder died: the free list and the policies' order are
 * rebuilt from the frames' states (FILLING and BUSY frames are taken over by whoever waits for
 * them, um_cache_wait()). The policies start afresh: order is lost, never a frame. */
static void rebuild_shard(struct um_cache *c, struct um_shard *s)
{
    unsigned index = (unsigned)(s - c->shards);
    um_debug("a process sharing the page cache died holding shard %u's lock; rebuilt", index);
    for (unsigned p = 0; p < UM_SLOTS; p++) {
        if (s->policy_state[p])
            slot_ops(c, p)->init(s->policy_state[p], c->nodes);
        s->policy_frames[p] = 0;
    }
    s->free_head = UM_NO_FRAME;
    for (uint32_t f = index; f < s->next_unused && f < c->nframes; f += c->nshards) {
        uint32_t state = atomic_load(&c->frames[f].state);
        if (state == UM_FRAME_FREE) {
            c->frames[f].next_free = s->free_head;
            s->free_head = f;
        } else if (state == UM_FRAME_RESIDENT) {
            policy_insert(c, s, f, false);
        }
    }
}

/* After a frame's state changed: wake threads waiting for it to settle, if any. */
static void wake_waiters(struct um_cache *c, uint32_t f)
{
    if (atomic_load(&c->waiters))
        um_futex_wake(&c->frames[f].state);
    /* A frame that settles may be a victim now: wake fills waiting for room (charge_to()). */
    atomic_fetch_add(&c->settled, 1);
    if (atomic_load(&c->room_waiters))
        um_futex_wake(&c->settled);
}

/* With the frame's shard lock held, before it becomes BUSY. */
static void mark_owned(struct um_frame *fr)
{
    atomic_store(&fr->owner, um_domain_me());
    atomic_store(&fr->dropping, false);
}

static uint32_t take_free_frame(struct um_cache *c)
{
    unsigned start = atomic_fetch_add_explicit(&c->alloc_cursor, 1, memory_order_relaxed);
    for (unsigned i = 0; i < c->nshards; i++) {
        struct um_shard *s = &c->shards[(start + i) % c->nshards];
        lock_shard(c, s);
        uint32_t f = s->free_head;
        if (f != UM_NO_FRAME) {
            s->free_head = c->frames[f].next_free;
        } else if (s->next_unused < c->nframes) {
            f = s->next_unused;
            s->next_unused += c->nshards;
        }
        if (f != UM_NO_FRAME) {
            atomic_store(&c->frames[f].dirty, 0);
            atomic_store(&c->frames[f].writers, 0);
            atomic_store(&c->frames[f].owner, um_domain_me());
            atomic_store(&c->frames[f].soft, false);
            atomic_store(&c->frames[f].dom, NULL);
            atomic_store(&c->frames[f].state, UM_FRAME_FILLING);
        }
        um_shm_unlock(&s->lock);
        if (f != UM_NO_FRAME)
            return f;
    }
    return UM_NO_FRAME;
}

static uint32_t alloc_charged(struct um_cache *c, unsigned slot);

uint32_t um_cache_alloc_in(struct um_cache *c, size_t bytes, unsigned slot)
{
    charge(c, bytes, slot, true);
    return alloc_charged(c, slot);
}

uint32_t um_cache_try_alloc_in(struct um_cache *c, size_t bytes, unsigned slot)
{
    return charge(c, bytes, slot, false) ? alloc_charged(c, slot) : UM_NO_FRAME;
}

static uint32_t alloc_charged(struct um_cache *c, unsigned slot)
{
    /* With the budget charged, at least nshards frames are free at any instant (nframes
     * covers the budget in 4 KiB frames, plus nshards). One pass over the shards can still
     * miss them all while other threads pop and push behind it, so pass again. */
    uint32_t f;
    while ((f = take_free_frame(c)) == UM_NO_FRAME)
        sched_yield(); /* a pass over the shards lost races with frees: rare and momentary */
    c->frames[f].policy = slot;
    return f;
}

uint32_t um_cache_alloc(struct um_cache *c, size_t bytes)
{
    return um_cache_alloc_in(c, bytes, c->default_policy);
}

static void free_frame(struct um_cache *c, uint32_t f, size_t charged)
{
    /* Read before the frame is back on the free list: another thread may take it at once. */
    unsigned slot = c->frames[f].policy;
    struct um_shard *s = shard_of(c, f);
    lock_shard(c, s);
    atomic_store(&c->frames[f].state, UM_FRAME_FREE);
    c->frames[f].next_free = s->free_head;
    s->free_head = f;
    um_shm_unlock(&s->lock);
    uncharge(c, slot, charged);
    wake_waiters(c, f);
}

void um_cache_commit(struct um_cache *c, uint32_t f, struct um_domain *d, size_t block,
                     size_t len, size_t charged)
{
    struct um_frame *fr = &c->frames[f];
    fr->dom = d;
    fr->block = block;
    fr->len = len;
    fr->policy = d->policy;
    if (charged > len)
        uncharge(c, fr->policy, charged - len);
    /* The block's identity for policies that remember evicted blocks: file and offset. */
    uint64_t key = ((uint64_t)d->dev * 0x9e3779b97f4a7c15ULL) ^
                   ((uint64_t)d->ino * 0xbf58476d1ce4e5b9ULL) ^ um_domain_block_off(d, block);
    c->nodes[f].key = key ? key : 1;
    struct um_shard *s = shard_of(c, f);
    lock_shard(c, s);
    atomic_store(&fr->state, UM_FRAME_RESIDENT);
    policy_insert(c, s, f, false);
    um_shm_unlock(&s->lock);
    wake_waiters(c, f);
}

void um_cache_discard(struct um_cache *c, uint32_t f, size_t charged)
{
    free_frame(c, f, charged);
}

bool um_cache_claim(struct um_cache *c, uint32_t f)
{
    struct um_shard *s = shard_of(c, f);
    lock_shard(c, s);
    bool claimed = atomic_load(&c->frames[f].state) == UM_FRAME_RESIDENT;
    if (claimed) {
        mark_owned(&c->frames[f]);
        atomic_store(&c->frames[f].state, UM_FRAME_BUSY);
        policy_remove(c, s, f);
    }
    um_shm_unlock(&s->lock);
    return claimed;
}

void um_cache_drop(struct um_cache *c, uint32_t f)
{
    struct um_frame *fr = &c->frames[f];
    struct um_domain *d = fr->dom;
    atomic_store(&fr->dropping, true);
    um_domain_punch(d, um_domain_block_off(d, fr->block), d->pagesize);
    /* Pages first, slot second: a fault between the two sees BUSY and waits, then refills. */
    atomic_store(&d->slots[fr->block], 0);
    free_frame(c, f, fr->len);
}

/* With the shard lock held: frame f is `state` and its owner died (members.h). Finish or undo
 * what it was doing. A fill: the block was never vouched for; free it, unless a store was let
 * through to it (then the memfd held the block already: keep it). A claim: the dirty bits
 * are those not yet written (writeback.c clears them only once written); release it. A drop:
 * punch again (punching twice is harmless) and free it. */
static void take_over_locked(struct um_cache *c, struct um_shard *s, uint32_t f, uint32_t state)
{
    struct um_frame *fr = &c->frames[f];
    struct um_domain *d = atomic_load(&fr->dom);
    /* Routine for fork() workers that leave with _exit() (their threads stop wherever they
     * are): said at debug level only. */
    um_debug("a process sharing the page cache ended (exit, exec or a signal) while it held "
             "block %zu to fill or evict it; taken over",
             fr->block);
    if (state == UM_FRAME_BUSY && !atomic_load(&fr->dropping)) {
        atomic_store(&fr->state, UM_FRAME_RESIDENT);
        policy_insert(c, s, f, true);
        return;
    }
    if (state == UM_FRAME_FILLING && d && atomic_load(&fr->dirty)) {
        /* A store was let through (the block was in the memfd by then): keep the block. */
        if (d->pagesize > atomic_load(&fr->len))
            uncharge(c, fr->policy, d->pagesize - atomic_load(&fr->len));
        atomic_store(&fr->state, UM_FRAME_RESIDENT);
        policy_insert(c, s, f, false);
        return;
    }
    if (d && state == UM_FRAME_BUSY && um_here(d))
        um_domain_punch(d, um_domain_block_off(d, fr->block), d->pagesize);
    if (d) {
        uint32_t expected = f + 1;
        atomic_compare_exchange_strong(&d->slots[fr->block], &expected, 0);
    }
    size_t charged = state == UM_FRAME_FILLING ? (d ? d->pagesize : atomic_load(&fr->len))
                                               : atomic_load(&fr->len);
    unsigned slot = fr->policy;
    atomic_store(&fr->state, UM_FRAME_FREE);
    fr->next_free = s->free_head;
    s->free_head = f;
    uncharge(c, slot, charged);
}

void um_cache_forget_member(struct um_cache *c, unsigned member)
{
    for (unsigned i = 0; i < c->nshards; i++) {
        lock_shard(c, &c->shards[i]); /* rebuilt if the member died holding it */
        um_shm_unlock(&c->shards[i].lock);
    }
    for (uint32_t f = 0; f < c->nframes; f++) {
        struct um_frame *fr = &c->frames[f];
        atomic_fetch_and(&fr->writers, ~(1ULL << member));
        uint32_t state = atomic_load(&fr->state);
        if (atomic_load(&fr->owner) != member ||
            (state != UM_FRAME_FILLING && state != UM_FRAME_BUSY))
            continue;
        struct um_shard *s = shard_of(c, f);
        lock_shard(c, s);
        state = atomic_load(&fr->state);
        if (atomic_load(&fr->owner) == member &&
            (state == UM_FRAME_FILLING || state == UM_FRAME_BUSY))
            take_over_locked(c, s, f, state);
        um_shm_unlock(&s->lock);
        wake_waiters(c, f);
    }
}

void um_cache_wait(struct um_cache *c, uint32_t f, uint32_t state)
{
    /* Sequentially consistent with the state stores in wake_waiters()'s callers: either they
     * see waiters > 0 and wake, or the wait below sees the new state and returns at once. */
    atomic_fetch_add(&c->waiters, 1);
    um_futex_wait(&c->frames[f].state, state);
    atomic_fetch_sub(&c->waiters, 1);
    struct um_frame *fr = &c->frames[f];
    if (atomic_load(&fr->state) != state || um_member_alive(atomic_load(&fr->owner)))
        return;
    struct um_shard *s = shard_of(c, f);
    lock_shard(c, s);
    if (atomic_load(&fr->state) == state && !um_member_alive(atomic_load(&fr->owner)))
        take_over_locked(c, s, f, state);
    um_shm_unlock(&s->lock);
    wake_waiters(c, f);
}

/* Claim victims of slot `slot` (UM_SLOTS: of any) until they hold `want` bytes or `most`
 * are taken, one per shard in the turn frames were handed out in (alloc_cursor), so that the
 * batch follows the policy's order across shards. They come back BUSY, out of their policy. */
static unsigned claim_victims(struct um_cache *c, unsigned slot, size_t want, uint32_t *out,
                              unsigned most)
{
    unsigned got = 0, empty = 0, i = 0;
    size_t bytes = 0;
    while (got < most && bytes < want && empty < c->nshards) {
        /* The next shard in the turn; past an empty one, the shard after it, so that a turn
         * visits every shard even while other threads advance the cursor. */
        i = empty ? i + 1 : atomic_fetch_add_explicit(&c->victim_cursor, 1, memory_order_relaxed);
        struct um_shard *s = &c->shards[i % c->nshards];
        lock_shard(c, s);
        uint32_t f = policy_victim(c, s, slot);
        if (f != UM_NO_FRAME) {
            mark_owned(&c->frames[f]);
            atomic_store(&c->frames[f].state, UM_FRAME_BUSY);
        }
        um_shm_unlock(&s->lock);
        if (f == UM_NO_FRAME) {
            empty++; /* a whole turn without one: nothing left to take */
            continue;
        }
        empty = 0;
        out[got++] = f;
        bytes += c->frames[f].len;
    }
    return got;
}

static int by_address(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)((const struct iovec *)a)->iov_base;
    uintptr_t y = (uintptr_t)((const struct iovec *)b)->iov_base;
    return x < y ? -1 : x > y;
}

/* Sort ranges by address and merge the adjacent ones: the kernel flushes the TLB at least once
 * per range it zaps (for every batch of dirty file pages, which pages mapped with
 * UFFDIO_CONTINUE are), so a sequential batch must go as one range. Measured: a quarter of all
 * CPU time of a warm sequential scan in TLB flushes with one range per 64 KiB block. */
static unsigned merge_ranges(struct iovec *r, unsigned n)
{
    qsort(r, n, sizeof r[0], by_address);
    unsigned merged = 0;
    for (unsigned i = 0; i < n; i++) {
        struct iovec *last = merged ? &r[merged - 1] : NULL;
        if (last && (char *)last->iov_base + last->iov_len == r[i].iov_base)
            last->iov_len += r[i].iov_len;
        else
            r[merged++] = r[i];
    }
    return merged;
}

static int by_block(const void *a, const void *b, void *arg)
{
    const struct um_frame *frames = arg;
    const struct um_frame *x = &frames[*(const uint32_t *)a], *y = &frames[*(const uint32_t *)b];
    if (x->dom != y->dom)
        return (uintptr_t)x->dom < (uintptr_t)y->dom ? -1 : 1;
    return x->block < y->block ? -1 : x->block > y->block;
}

/* Whether frame f's pages in this process's shared ranges are unmapped now. MADV_DONTNEED
 * fails (EINVAL) on pages locked in memory: an mlock() the shim did not see (lock.c). */
static bool unmap_frame(struct um_cache *c, uint32_t f)
{
    struct iovec mapped[UM_EVICT_BATCH_INLINE * 2];
    const struct um_frame *fr = &c->frames[f];
    unsigned n = um_domain_mapped(fr->dom, um_domain_block_off(fr->dom, fr->block),
                                  atomic_load(&fr->len), mapped, 0, UM_EVICT_BATCH_INLINE * 2);
    for (unsigned i = 0; i < n; i++)
        if (um_os_madvise(mapped[i].iov_base, mapped[i].iov_len, MADV_DONTNEED) &&
            errno == EINVAL) /* ENOMEM: part of it is not mapped (any more), the rest is done */
            return false;
    return true;
}

/* After a batched MADV_DONTNEED of frames[0..n) failed: the frames whose pages stay mapped
 * (locked) stay resident and charged, over the budget if need be, released back to their
 * policy; the others are left first in frames[]. Their number. */
static unsigned keep_locked(struct um_cache *c, uint32_t *frames, unsigned n)
{
    unsigned left = 0;
    for (unsigned i = 0; i < n; i++) {
        if (unmap_frame(c, frames[i])) {
            frames[left++] = frames[i];
            continue;
        }
        atomic_store(&c->frames[frames[i]].dropping, false);
        um_cache_release(c, frames[i]);
    }
    if (left < n)
        um_warn_once("pages of a managed range are locked in memory (an mlock() the shim did "
                     "not see): they stay resident, over the budget if need be");
    return left;
}

/* The arrays of one eviction batch, `most` frames: the victims, the soft evictions' and the
 * address ranges to unmap (two for each frame). */
struct evict_work {
    unsigned most;
    uint32_t *victims, *soft;
    struct iovec *mapped, *soft_mapped;
};

/* Drop frames[0..n) (BUSY, clean): first unmap their pages from this process's shared ranges in
 * one batched MADV_DONTNEED, which flushes the TLB once for the batch, then punch them out of
 * their memfds, adjacent blocks of a domain together (a punch of pages no longer mapped costs
 * no flush: measured 0.34 us per 4 KiB against 3-4.8 while mapped). Then clear their slots and
 * free them: pages first, slots second, as in um_cache_drop(). Frames whose pages are locked
 * are kept (a punch would zap them all the same). The number dropped. */
static unsigned drop_frames(struct um_cache *c, uint32_t *frames, unsigned n,
                            const struct evict_work *w)
{
    struct iovec *mapped = w->mapped;
    unsigned nmapped = 0;
    qsort_r(frames, n, sizeof frames[0], by_block, c->frames);
    for (unsigned i = 0; i < n; i++) {
        struct um_frame *fr = &c->frames[frames[i]];
        uint64_t off = um_domain_block_off(fr->dom, fr->block);
        atomic_store(&fr->dropping, true);
        nmapped = um_domain_mapped(fr->dom, off, fr->len, mapped, nmapped, w->most * 2);
    }
    if (!um_os_dontneed_ranges(mapped, merge_ranges(mapped, nmapped)))
        n = keep_locked(c, frames, n); /* frames stays sorted */
    for (unsigned i = 0; i < n;) {
        const struct um_frame *fr = &c->frames[frames[i]];
        unsigned j = i + 1;
        while (j < n && c->frames[frames[j]].dom == fr->dom &&
               c->frames[frames[j]].block == c->frames[frames[j - 1]].block + 1)
            j++;
        struct um_domain *d = fr->dom;
        um_domain_punch(d, um_domain_block_off(d, fr->block), (uint64_t)(j - i) << d->shift);
        i = j;
    }
    for (unsigned i = 0; i < n; i++) {
        struct um_frame *fr = &c->frames[frames[i]];
        struct um_file_stats *fs = um_here(fr->dom)->stats;
        atomic_store(&fr->dom->slots[fr->block], 0);
        free_frame(c, frames[i], fr->len);
        um_stat_add(&um_stats.evictions, 1);
        if (fs)
            um_stat_add(&fs->evictions, 1);
    }
    return n;
}

/* Whether no living process has a view of d (members.h): then its memfd is gone, and its
 * frames are bookkeeping only. */
static bool domain_abandoned(struct um_domain *d)
{
    uint64_t members = atomic_load(&d->members);
    for (unsigned i = 0; i < UM_MAX_MEMBERS; i++)
        if ((members >> i & 1) && um_member_alive(i))
            return false;
    return true;
}

static void forget_frame(struct um_cache *c, uint32_t f)
{
    struct um_frame *fr = &c->frames[f];
    atomic_store(&fr->dom->slots[fr->block], 0);
    free_frame(c, f, fr->len);
    um_stat_add(&um_stats.evictions, 1);
}

/* Evict BUSY frame f of a domain this process has no view of, or keep it (still dirty, or
 * its files out of reach). */
static void foreign_evict(struct um_cache *c, uint32_t f)
{
    if (um_foreign_write_back(c, f, true))
        um_cache_release(c, f);
    else
        forget_frame(c, f);
}

struct soft_batch {
    uint32_t *frames;
    struct iovec *mapped;
    unsigned n, nmapped, most;
};

/* Whether BUSY victim f is soft-evicted rather than evicted: its policy counts references, it
 * was not soft-evicted since it was last touched, and this process maps it shared (there is
 * something to unmap). If so it joins the batch. */
static bool soft_candidate(struct um_cache *c, uint32_t f, struct soft_batch *b)
{
    struct um_frame *fr = &c->frames[f];
    if (!slot_ops(c, fr->policy)->touch || atomic_load(&fr->soft) || !um_here(fr->dom))
        return false;
    struct um_domain *d = fr->dom;
    unsigned before = b->nmapped;
    b->nmapped = um_domain_mapped(d, um_domain_block_off(d, fr->block), atomic_load(&fr->len),
                                  b->mapped, b->nmapped, b->most * 2);
    if (b->nmapped == before)
        return false;
    b->frames[b->n++] = f;
    return true;
}

/* Unmap the batch's pages with one batched MADV_DONTNEED, then put the frames back in their
 * policies, unreferenced (those whose pages are locked, and stay mapped, as they were). The
 * number soft-evicted. */
static unsigned soften(struct um_cache *c, struct soft_batch *b)
{
    if (!b->n)
        return 0;
    unsigned n = b->n;
    if (!um_os_dontneed_ranges(b->mapped, merge_ranges(b->mapped, b->nmapped)))
        n = keep_locked(c, b->frames, n);
    for (unsigned i = 0; i < n; i++) {
        atomic_store(&c->frames[b->frames[i]].soft, true);
        um_cache_release(c, b->frames[i]);
    }
    um_stat_add(&um_stats.soft_evictions, n);
    return n;
}

/* Evict at least `want` bytes of slot `slot` (UM_SLOTS: of any) where there are, writing dirty
 * frames back first, in one batch of at most w->most frames. Evictions go in batches of a 64th
 * of the budget so that the TLB shootdowns they cost -- measured as a quarter of all CPU time of
 * a sequential scan when paid per block -- are paid once per batch. The number evicted. */
static unsigned evict_batch(struct um_cache *c, unsigned slot, size_t want,
                            const struct evict_work *w)
{
    uint32_t *victims = w->victims;
    struct soft_batch soft = {.frames = w->soft, .mapped = w->soft_mapped, .most = w->most};
    if (want < c->budget / 64)
        want = c->budget / 64;
    unsigned n = claim_victims(c, slot, want, victims, w->most), kept = 0;
    for (unsigned i = 0; i < n; i++) {
        uint32_t f = victims[i];
        if (soft_candidate(c, f, &soft))
            continue;
        if (!um_here(c->frames[f].dom) && um_foreign_evictable(c->frames[f].dom))
            foreign_evict(c, f); /* a group's: through its page file (foreign.c) */
        else if (!um_here(c->frames[f].dom) && domain_abandoned(c->frames[f].dom))
            forget_frame(c, f); /* its memfd went with the last process that had it */
        else if (!um_here(c->frames[f].dom))
            um_cache_release(c, f); /* another member's own domain: that member evicts it */
        else if (atomic_load(&c->frames[f].dirty) && cache_writeback && cache_writeback(c, f))
            um_cache_release(c, f); /* kept, still dirty; msync() will report the error */
        else
            victims[kept++] = f;
    }
    return soften(c, &soft) + drop_frames(c, victims, kept, w);
}

/* A batch on the caller's stack: UM_EVICT_BATCH_INLINE frames (a fill making room on the
 * fault's path, or a program's thread in madvise(MADV_WILLNEED), whose stack may be small). */
static unsigned evict_in(struct um_cache *c, unsigned slot, size_t want)
{
    uint32_t victims[UM_EVICT_BATCH_INLINE], soft[UM_EVICT_BATCH_INLINE];
    struct iovec mapped[UM_EVICT_BATCH_INLINE * 2], soft_mapped[UM_EVICT_BATCH_INLINE * 2];
    struct evict_work w = {UM_EVICT_BATCH_INLINE, victims, soft, mapped, soft_mapped};
    return evict_batch(c, slot, want, &w);
}

/* The evictor's batches: up to UM_EVICT_BATCH frames, so a 64th of the budget in 4 KiB frames
 * too. Victims of random access are scattered, and each costs a shootdown of its own (pages
 * mapped by UFFDIO_CONTINUE are dirty: the kernel flushes per range); in one larger call the
 * rest of the work is shared. Measured with bench-memfd-floor (4 KiB blocks, random order,
 * 128 MiB): 21-26 us of MADV_DONTNEED per victim in batches of 512 against 42-56 in batches of
 * 32. Off the fault path, the evictor can take the time a larger batch needs. */
static unsigned evict_large(struct um_cache *c, size_t want)
{
    static _Thread_local struct evict_work w;
    if (!w.most) {
        size_t frames = UM_EVICT_BATCH * sizeof(uint32_t);
        size_t ranges = UM_EVICT_BATCH * 2 * sizeof(struct iovec);
        char *p = um_os_alloc(2 * frames + 2 * ranges); /* kept for the thread's life */
        if (!p)
            return evict_in(c, UM_SLOTS, want);
        w = (struct evict_work){UM_EVICT_BATCH, (uint32_t *)p, (uint32_t *)(p + frames),
                                (struct iovec *)(p + 2 * frames),
                                (struct iovec *)(p + 2 * frames + ranges)};
    }
    return evict_batch(c, UM_SLOTS, want, &w);
}

unsigned um_cache_evict(struct um_cache *c, size_t want)
{
    return evict_in(c, UM_SLOTS, want);
}

void um_cache_release(struct um_cache *c, uint32_t f)
{
    struct um_shard *s = shard_of(c, f);
    lock_shard(c, s);
    atomic_store(&c->frames[f].state, UM_FRAME_RESIDENT);
    policy_insert(c, s, f, true);
    um_shm_unlock(&s->lock);
    wake_waiters(c, f);
}

void um_cache_touch_locked(struct um_cache *c, uint32_t f)
{
    unsigned p = c->frames[f].policy;
    if (slot_ops(c, p)->touch)
        slot_ops(c, p)->touch(shard_of(c, f)->policy_state[p], f);
}

void um_cache_touch(struct um_cache *c, uint32_t f)
{
    /* The frame may have been evicted and reused since the caller looked: its policy is read
     * under the lock, once it is known to be resident. */
    struct um_shard *s = shard_of(c, f);
    lock_shard(c, s);
    if (atomic_load(&c->frames[f].state) == UM_FRAME_RESIDENT)
        um_cache_touch_locked(c, f);
    um_shm_unlock(&s->lock);
}

void um_cache_lock_frame(struct um_cache *c, uint32_t f)
{
    lock_shard(c, shard_of(c, f));
}

void um_cache_unlock_frame(struct um_cache *c, uint32_t f)
{
    um_shm_unlock(&shard_of(c, f)->lock);
}

/* Whether a member in `writers` is gone. */
static bool has_gone_writer(uint64_t writers)
{
    for (unsigned i = 0; writers; i++, writers >>= 1)
        if ((writers & 1) && !um_member_alive(i))
            return true;
    return false;
}

/* Write back the blocks that a member which is gone (killed by SIGKILL, say) stored to, as the
 * kernel's flusher writes its dirty pages within seconds: the stores reach the file while the
 * others run on, and processes outside the cache see them. */
static void write_back_gone_writers(struct um_cache *c)
{
    for (uint32_t f = 0; f < c->nframes; f++) {
        struct um_frame *fr = &c->frames[f];
        if (atomic_load(&fr->state) != UM_FRAME_RESIDENT || !atomic_load(&fr->dirty) ||
            !has_gone_writer(atomic_load(&fr->writers)) || !um_cache_claim(c, f))
            continue;
        if (um_here(fr->dom))
            (void)(cache_writeback && cache_writeback(c, f)); /* an error stays for msync */
        else if (um_foreign_evictable(fr->dom))
            um_foreign_write_back(c, f, false);
        um_cache_release(c, f);
    }
}

#define GONE_WRITERS_MS 1000

void um_cache_evictor_step(struct um_cache *c, unsigned wait_ms)
{
    static _Thread_local uint64_t last_sweep;
    if (!atomic_load(&c->pressure))
        um_futex_wait_ms(&c->pressure, 0, wait_ms);
    uint64_t ms = um_os_now_ms();
    if (ms - last_sweep >= GONE_WRITERS_MS) {
        last_sweep = ms;
        write_back_gone_writers(c);
    }
    if (!atomic_load(&c->pressure))
        return;
    for (size_t now; (now = um_cache_charged(c)) > c->low && evict_large(c, now - c->low);)
        ;
    atomic_store(&c->pressure, 0);
    /* A fill may have crossed `high` after the loop ended but before the flag dropped, and
     * seen the flag still set: look again rather than sleep through it. */
    if (um_cache_charged(c) > c->high)
        atomic_store(&c->pressure, 1);
}
