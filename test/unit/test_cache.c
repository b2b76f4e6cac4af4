/* Frames and the budget over a real domain (a memfd caching a temporary file): charging,
 * committing, eviction punching blocks out of the memfd and clearing their slots, claims and
 * drops, waiting for a frame to settle, and all of it from several threads at once (run under
 * TSan too). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "cmocka_all.h"
#include "core/cache.h"
#include "core/domain.h"

/* A domain and this process's view of it, freed together. */
static void free_domain(struct um_domain *d)
{
    struct um_view *v = um_here(d);
    d->views[um_domain_me()] = NULL;
    um_view_free(v);
    um_domain_free(d);
}

#define P 4096UL
#define NPAGES 256 /* the file: 1 MiB */

static struct um_cache cache;
static struct um_domain *dom;
static unsigned char file_bytes[NPAGES * P]; /* what the file holds */

static unsigned char pattern(size_t k, size_t i)
{
    return (unsigned char)(1 + (k * 13 + i % 7) % 255); /* never 0: holes read as 0 */
}

/* A domain over a new temporary file of NPAGES pages, its blocks one page each, ordered by
 * `policy` (NULL: the cache's default, fifo). */
static struct um_domain *new_domain(const struct um_policy_ops *policy, ino_t ino)
{
    char path[] = "/tmp/um_test_cache.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    assert_int_equal(pwrite(fd, file_bytes, sizeof file_bytes, 0), (ssize_t)sizeof file_bytes);
    struct um_view *view = um_domain_new(fd, true, path, 1, ino, P, NPAGES * P);
    assert_non_null(view);
    struct um_domain *d = view->dom;
    d->policy = um_policy_index(policy ? policy : &um_policy_fifo);
    return d;
}

static int setup(void **state, size_t budget_pages)
{
    (void)state;
    for (size_t k = 0; k < NPAGES; k++)
        for (size_t i = 0; i < P; i++)
            file_bytes[k * P + i] = pattern(k, i);
    dom = new_domain(NULL, 1);
    return um_cache_init(&cache, budget_pages * P, 90, 80, um_policy_find("fifo"), false);
}

static int setup_small(void **state) { return setup(state, 8); }
static int setup_large(void **state) { return setup(state, 32); }
static int setup_64(void **state) { return setup(state, 64); }

static int teardown(void **state)
{
    (void)state;
    free_domain(dom);
    dom = NULL;
    return 0;
}

/* Whether block k of d's memfd is a hole: no data there, and it reads as zeros. */
static bool is_hole(struct um_domain *d, size_t k)
{
    off_t data = lseek(um_here(d)->memfd, (off_t)(k * P), SEEK_DATA);
    if (data < 0 ? errno != ENXIO : data < (off_t)((k + 1) * P))
        return false;
    unsigned char buf[P];
    if (pread(um_here(d)->memfd, buf, P, (off_t)(k * P)) != (ssize_t)P)
        return false;
    for (size_t i = 0; i < P; i++)
        if (buf[i])
            return false;
    return true;
}

/* Whether block k of d's memfd holds the file's bytes. */
static bool holds_file(struct um_domain *d, size_t k)
{
    unsigned char buf[P];
    return pread(um_here(d)->memfd, buf, P, (off_t)(k * P)) == (ssize_t)P &&
           memcmp(buf, file_bytes + k * P, P) == 0;
}

/* What the fault path does for block k of d once it owns a FILLING frame: copy the file's
 * bytes into the memfd, commit. */
static void store_commit(struct um_domain *d, uint32_t f, size_t k, size_t charged)
{
    assert_int_equal(um_domain_store(d, file_bytes + k * P, P, k * P), 0);
    um_cache_commit(&cache, f, d, k, P, charged);
}

/* Own block k of d (frame allocated in `slot`), fill it, commit. */
static uint32_t fill_in(struct um_domain *d, size_t k, unsigned slot)
{
    uint32_t f = um_cache_alloc_in(&cache, P, slot);
    assert_true(f < cache.nframes);
    assert_int_equal(atomic_load(&cache.frames[f].state), UM_FRAME_FILLING);
    uint32_t expected = 0;
    assert_true(atomic_compare_exchange_strong(&d->slots[k], &expected, f + 1));
    store_commit(d, f, k, P);
    return f;
}

static uint32_t fill(size_t k)
{
    return fill_in(dom, k, cache.default_policy);
}

static void commit_charges_budget(void **state)
{
    (void)state;
    uint32_t f = fill(3);
    assert_int_equal(atomic_load(&cache.frames[f].state), UM_FRAME_RESIDENT);
    assert_ptr_equal(cache.frames[f].dom, dom);
    assert_int_equal(cache.frames[f].block, 3);
    assert_int_equal(cache.frames[f].len, P);
    assert_int_equal(um_cache_charged(&cache), P);
    assert_true(holds_file(dom, 3));
    /* A fill shorter than charged returns the difference. */
    uint32_t g = um_cache_alloc(&cache, 4 * P);
    assert_int_equal(um_cache_charged(&cache), 5 * P);
    atomic_store(&dom->slots[4], g + 1);
    store_commit(dom, g, 4, 4 * P);
    assert_int_equal(um_cache_charged(&cache), 2 * P);
    assert_int_equal(cache.frames[g].len, P);
}

static void full_budget_evicts_oldest(void **state)
{
    (void)state;
    for (size_t k = 0; k < 8; k++)
        fill(k);
    assert_int_equal(um_cache_charged(&cache), 8 * P);
    fill(8); /* budget full: block 0, the oldest, must go */
    assert_int_equal(um_cache_charged(&cache), 8 * P);
    assert_int_equal(atomic_load(&dom->slots[0]), 0);
    assert_true(is_hole(dom, 0)); /* its page was punched out of the memfd */
    for (size_t k = 1; k <= 8; k++) {
        assert_int_not_equal(atomic_load(&dom->slots[k]), 0);
        assert_true(holds_file(dom, k));
    }
}

/* um_cache_evict() takes victims in fill order, punches them (adjacent blocks together) and
 * zaps them from the domain's shared ranges; other blocks keep their pages. */
static void evict_punches_and_zaps(void **state)
{
    (void)state;
    /* A shared range of the domain, as a MAP_SHARED mapping of the file would be. */
    unsigned char *a = mmap(NULL, NPAGES * P, PROT_READ, MAP_SHARED, um_here(dom)->memfd, 0);
    assert_true(a != MAP_FAILED);
    assert_int_equal(um_view_reserve_ranges(um_here(dom), 1), 0);
    struct um_dom_range *r = um_view_ranges_begin(um_here(dom));
    r[0] = (struct um_dom_range){.start = (uintptr_t)a, .end = (uintptr_t)a + NPAGES * P,
                                 .off = 0, .shared = true};
    um_view_ranges_end(um_here(dom), 1);
    for (size_t k = 0; k < 6; k++)
        fill(k);
    for (size_t k = 0; k < 6; k++)
        assert_int_equal(a[k * P + 1], pattern(k, 1)); /* mapped from the memfd */
    assert_int_equal(um_cache_evict(&cache, P), 1);
    assert_int_equal(atomic_load(&dom->slots[0]), 0);
    assert_true(is_hole(dom, 0));
    assert_int_equal(um_cache_charged(&cache), 5 * P);
    assert_int_equal(um_cache_evict(&cache, 3 * P), 3); /* blocks 1..3, in one punch */
    for (size_t k = 1; k < 4; k++) {
        assert_int_equal(atomic_load(&dom->slots[k]), 0);
        assert_true(is_hole(dom, k));
    }
    for (size_t k = 4; k < 6; k++) {
        assert_int_not_equal(atomic_load(&dom->slots[k]), 0);
        assert_true(holds_file(dom, k));
        assert_int_equal(a[k * P + 1], pattern(k, 1));
    }
    assert_int_equal(um_cache_charged(&cache), 2 * P);
    /* The evicted pages are gone from the shared range (checked after the holes: a read
     * through a shared mapping would put a page of zeros into the memfd). */
    assert_int_equal(a[0], 0);
    assert_int_equal(a[2 * P + 1], 0);
    um_view_ranges_begin(um_here(dom));
    um_view_ranges_end(um_here(dom), 0);
    munmap(a, NPAGES * P);
    /* Evicting everything empties the cache; then there is nothing left. */
    assert_int_equal(um_cache_evict(&cache, 8 * P), 2);
    assert_int_equal(um_cache_charged(&cache), 0);
    assert_int_equal(um_cache_evict(&cache, P), 0);
}

static void claim_and_drop(void **state)
{
    (void)state;
    uint32_t f = fill(5);
    assert_true(um_cache_claim(&cache, f));
    assert_int_equal(atomic_load(&cache.frames[f].state), UM_FRAME_BUSY);
    assert_false(um_cache_claim(&cache, f)); /* claimed once only */
    um_cache_drop(&cache, f);
    assert_true(is_hole(dom, 5));
    assert_int_equal(atomic_load(&dom->slots[5]), 0);
    assert_int_equal(atomic_load(&cache.frames[f].state), UM_FRAME_FREE);
    assert_int_equal(um_cache_charged(&cache), 0);
    /* A claimed frame is out of the policy: nothing left to evict. */
    assert_int_equal(um_cache_evict(&cache, 1), 0);
}

static void claim_and_release(void **state)
{
    (void)state;
    uint32_t f = fill(6);
    assert_true(um_cache_claim(&cache, f));
    assert_int_equal(um_cache_evict(&cache, 1), 0); /* out of the policy while BUSY */
    um_cache_release(&cache, f);
    assert_int_equal(atomic_load(&cache.frames[f].state), UM_FRAME_RESIDENT);
    assert_true(holds_file(dom, 6)); /* a release keeps the pages */
    assert_int_equal(um_cache_evict(&cache, 1), 1); /* back in the policy */
    assert_true(is_hole(dom, 6));
    assert_int_equal(atomic_load(&dom->slots[6]), 0);
}

static void discard_returns_charge(void **state)
{
    (void)state;
    uint32_t f = um_cache_alloc(&cache, 2 * P);
    assert_int_equal(um_cache_charged(&cache), 2 * P);
    um_cache_discard(&cache, f, 2 * P);
    assert_int_equal(um_cache_charged(&cache), 0);
    assert_int_equal(atomic_load(&cache.frames[f].state), UM_FRAME_FREE);
}

/* Dirty victims are written back first; a victim whose write-back fails stays resident. */
static int wb_result, wb_calls;
static uint32_t wb_frame;

static int fake_writeback(struct um_cache *c, uint32_t f)
{
    assert_ptr_equal(c, &cache);
    assert_int_equal(atomic_load(&c->frames[f].state), UM_FRAME_BUSY);
    wb_calls++;
    wb_frame = f;
    if (!wb_result)
        atomic_store(&c->frames[f].dirty, 0);
    return wb_result;
}

static void dirty_victims_written_back(void **state)
{
    (void)state;
    um_cache_set_writeback(fake_writeback);
    uint32_t f = fill(2);
    atomic_store(&cache.frames[f].dirty, 1);
    wb_result = EIO;
    assert_int_equal(um_cache_evict(&cache, P), 0);
    assert_int_equal(wb_calls, 1);
    assert_int_equal(wb_frame, f);
    assert_int_equal(atomic_load(&cache.frames[f].state), UM_FRAME_RESIDENT);
    assert_int_equal(atomic_load(&dom->slots[2]), f + 1);
    assert_true(holds_file(dom, 2));
    wb_result = 0;
    assert_int_equal(um_cache_evict(&cache, P), 1);
    assert_int_equal(wb_calls, 2);
    assert_true(is_hole(dom, 2));
    /* Clean victims need no write-back. */
    fill(3);
    assert_int_equal(um_cache_evict(&cache, P), 1);
    assert_int_equal(wb_calls, 2);
    um_cache_set_writeback(NULL);
}

/* Two domains ordered by different policies in one cache: each frame goes to its domain's
 * policy, and victims come from the one holding the most frames. */
static void policies_side_by_side(void **state)
{
    (void)state;
    struct um_domain *other = new_domain(&um_policy_clock, 2);
    uint32_t a = fill(0), b = fill(1); /* dom: fifo, the cache's default */
    uint32_t f = fill_in(other, 0, cache.default_policy);
    assert_int_equal(cache.frames[f].policy, um_policy_index(&um_policy_clock));
    assert_int_equal(cache.frames[a].policy, um_policy_index(&um_policy_fifo));
    assert_true(holds_file(other, 0));
    /* Evictions empty the larger group first; all three go in the end. */
    int evicted = 0;
    while (um_cache_evict(&cache, 1))
        evicted++;
    assert_int_equal(evicted, 3);
    assert_int_equal(atomic_load(&other->slots[0]), 0);
    assert_int_equal(atomic_load(&dom->slots[0]) | atomic_load(&dom->slots[1]), 0);
    assert_true(is_hole(other, 0));
    assert_true(is_hole(dom, 0));
    assert_true(is_hole(dom, 1));
    (void)b;
    free_domain(other);
}

/* CLOCK: a touched frame gets a second chance against an untouched one of its shard. */
static void touch_gives_second_chance(void **state)
{
    (void)state;
    struct um_domain *other = new_domain(&um_policy_clock, 2);
    uint32_t frames[9];
    for (size_t k = 0; k < 9; k++)
        frames[k] = fill_in(other, k, cache.default_policy);
    /* Frames are handed out from the shards in turn: blocks 0 and 8 share one. */
    assert_int_equal(frames[0] % cache.nshards, frames[8] % cache.nshards);
    um_cache_touch(&cache, frames[0]);
    int gone0 = -1, gone8 = -1;
    for (int i = 0; i < 9; i++) {
        assert_int_equal(um_cache_evict(&cache, 1), 1);
        if (gone0 < 0 && !atomic_load(&other->slots[0]))
            gone0 = i;
        if (gone8 < 0 && !atomic_load(&other->slots[8]))
            gone8 = i;
    }
    assert_true(gone0 >= 0 && gone8 >= 0);
    assert_true(gone8 < gone0);
    assert_int_equal(um_cache_charged(&cache), 0);
    /* A touch on a frame that is not resident is ignored. */
    uint32_t f = fill_in(other, 1, cache.default_policy);
    assert_true(um_cache_claim(&cache, f));
    um_cache_touch(&cache, f);
    um_cache_release(&cache, f);
    assert_int_equal(um_cache_evict(&cache, 1), 1);
    free_domain(other);
}

/* A slot with a budget share evicts its own frames when the share is full, never others'. */
static void share_evicts_its_own(void **state)
{
    (void)state;
    unsigned slot = UM_NPOLICIES;
    um_cache_set_share(&cache, slot, &um_policy_fifo, 2 * P);
    struct um_domain *shared = new_domain(NULL, 2);
    shared->policy = slot;
    uint32_t a = fill(0), b = fill(1); /* two frames under the budget alone */
    for (size_t k = 0; k < 4; k++) {
        fill_in(shared, k, slot);
        assert_true(atomic_load(&cache.slot_charged[slot]) <= 2 * P);
    }
    /* The share held two frames; its older blocks went, the others stayed. */
    assert_int_equal(atomic_load(&shared->slots[0]), 0);
    assert_int_equal(atomic_load(&shared->slots[1]), 0);
    assert_true(is_hole(shared, 0));
    assert_true(is_hole(shared, 1));
    assert_int_not_equal(atomic_load(&shared->slots[3]), 0);
    assert_true(holds_file(shared, 3));
    assert_int_equal(atomic_load(&dom->slots[0]), a + 1);
    assert_int_equal(atomic_load(&dom->slots[1]), b + 1);
    assert_true(holds_file(dom, 0));
    assert_int_equal(um_cache_charged(&cache), 4 * P);
    assert_int_equal(atomic_load(&cache.slot_charged[slot]), 2 * P);
    while (um_cache_evict(&cache, 1))
        ;
    assert_int_equal(atomic_load(&cache.slot_charged[slot]), 0);
    free_domain(shared);
}

/* Blocks [first, first + n) filled in order on a thread of their own (as one filler would). */
struct fill_run {
    size_t first, n;
};

static void *fill_on_thread(void *arg)
{
    const struct fill_run *r = arg;
    for (size_t k = r->first; k < r->first + r->n; k++) {
        uint32_t f = um_cache_alloc(&cache, P);
        atomic_store(&dom->slots[k], f + 1);
        if (um_domain_store(dom, file_bytes + k * P, P, k * P))
            abort();
        um_cache_commit(&cache, f, dom, k, P, P);
    }
    return NULL;
}

static void fill_on_new_thread(size_t first, size_t n)
{
    struct fill_run r = {first, n};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, fill_on_thread, &r), 0);
    pthread_join(t, NULL);
}

/* Evictions follow the order blocks were filled in across the whole cache, whichever thread
 * filled them, give or take one block per shard: 64 blocks fill the budget (32 by one thread,
 * then 32 by another), 16 more evict 16 of the oldest. With frames taken from a shard chosen
 * by the filling thread, the second thread's blocks were evicted as early as the first's. */
static void eviction_follows_fill_order(void **state)
{
    (void)state;
    fill_on_new_thread(0, 32);
    fill_on_new_thread(32, 32);
    fill_on_new_thread(64, 16);
    unsigned evicted = 0;
    for (size_t k = 0; k < 80; k++) {
        bool resident = atomic_load(&dom->slots[k]) != 0;
        evicted += !resident;
        if (k >= 16 + cache.nshards)
            assert_true(resident);
        assert_true(resident ? holds_file(dom, k) : is_hole(dom, k));
    }
    assert_int_equal(evicted, 16);
}

/* um_cache_wait() returns once another thread settles the frame (a fill committing, a claim
 * released), well before any bound a lost wake-up would suggest. */
struct settle {
    uint32_t f;
    size_t k;
    bool release; /* release a claim rather than commit a fill */
};

static void *settle_later(void *arg)
{
    const struct settle *s = arg;
    nanosleep(&(struct timespec){.tv_nsec = 50 * 1000 * 1000}, NULL);
    if (s->release) {
        um_cache_release(&cache, s->f);
    } else {
        if (um_domain_store(dom, file_bytes + s->k * P, P, s->k * P))
            abort();
        um_cache_commit(&cache, s->f, dom, s->k, P, P);
    }
    return NULL;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Wait as the fault path does: until f is no longer in `state`; the seconds it took. */
static double wait_while(uint32_t f, uint32_t state)
{
    double t0 = now_s();
    while (atomic_load(&cache.frames[f].state) == state && now_s() - t0 < 2.0)
        um_cache_wait(&cache, f, state);
    return now_s() - t0;
}

static void wait_returns_when_settled(void **state)
{
    (void)state;
    /* Not in that state: returns at once. */
    uint32_t g = fill(9);
    double t0 = now_s();
    um_cache_wait(&cache, g, UM_FRAME_FILLING);
    assert_true(now_s() - t0 < 1.0);
    /* A fill committed by another thread. */
    uint32_t f = um_cache_alloc(&cache, P);
    atomic_store(&dom->slots[10], f + 1);
    struct settle s = {f, 10, false};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, settle_later, &s), 0);
    double took = wait_while(f, UM_FRAME_FILLING);
    assert_int_equal(atomic_load(&cache.frames[f].state), UM_FRAME_RESIDENT);
    assert_true(took < 1.0);
    pthread_join(t, NULL);
    assert_true(holds_file(dom, 10));
    assert_int_equal(atomic_load(&cache.waiters), 0);
    /* A claim released by another thread. */
    assert_true(um_cache_claim(&cache, f));
    struct settle r = {f, 10, true};
    assert_int_equal(pthread_create(&t, NULL, settle_later, &r), 0);
    took = wait_while(f, UM_FRAME_BUSY);
    assert_int_equal(atomic_load(&cache.frames[f].state), UM_FRAME_RESIDENT);
    assert_true(took < 1.0);
    pthread_join(t, NULL);
    assert_int_equal(atomic_load(&cache.waiters), 0);
}

/* Several threads fill random blocks, as fillers do, while they also claim and drop, as unmap
 * does; the budget holds throughout, and at the end charges equal resident frames, each block
 * with a slot holds the file's bytes and every other block is a hole. */
#define WORKERS 4
#define ROUNDS 4000
static atomic_bool over_budget;

static void *worker(void *arg)
{
    uint64_t seed = (uintptr_t)arg * 0x9e3779b97f4a7c15ULL;
    for (int i = 0; i < ROUNDS; i++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        size_t k = (seed >> 33) % NPAGES;
        uint32_t s = atomic_load(&dom->slots[k]);
        if (s == 0) {
            uint32_t f = um_cache_alloc(&cache, P);
            uint32_t expected = 0;
            if (atomic_compare_exchange_strong(&dom->slots[k], &expected, f + 1)) {
                if (um_domain_store(dom, file_bytes + k * P, P, k * P))
                    abort();
                um_cache_commit(&cache, f, dom, k, P, P);
            } else {
                um_cache_discard(&cache, f, P);
            }
        } else if ((seed & 7) == 0 && um_cache_claim(&cache, s - 1)) {
            um_cache_drop(&cache, s - 1);
        }
        if (um_cache_charged(&cache) > cache.budget)
            atomic_store(&over_budget, true);
    }
    return NULL;
}

static void concurrent_fills_and_unmaps(void **state)
{
    (void)state;
    pthread_t t[WORKERS];
    for (uintptr_t i = 0; i < WORKERS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, worker, (void *)(i + 1)), 0);
    for (int i = 0; i < WORKERS; i++)
        pthread_join(t[i], NULL);
    assert_false(atomic_load(&over_budget));
    size_t resident = 0;
    for (size_t k = 0; k < NPAGES; k++) {
        uint32_t s = atomic_load(&dom->slots[k]);
        if (s) {
            assert_int_equal(atomic_load(&cache.frames[s - 1].state), UM_FRAME_RESIDENT);
            assert_ptr_equal(cache.frames[s - 1].dom, dom);
            assert_int_equal(cache.frames[s - 1].block, k);
            resident += cache.frames[s - 1].len;
            assert_true(holds_file(dom, k));
        } else {
            assert_true(is_hole(dom, k));
        }
    }
    assert_int_equal(resident, um_cache_charged(&cache));
    assert_true(resident <= cache.budget);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(commit_charges_budget, setup_small, teardown),
        cmocka_unit_test_setup_teardown(full_budget_evicts_oldest, setup_small, teardown),
        cmocka_unit_test_setup_teardown(evict_punches_and_zaps, setup_small, teardown),
        cmocka_unit_test_setup_teardown(claim_and_drop, setup_small, teardown),
        cmocka_unit_test_setup_teardown(claim_and_release, setup_small, teardown),
        cmocka_unit_test_setup_teardown(discard_returns_charge, setup_small, teardown),
        cmocka_unit_test_setup_teardown(dirty_victims_written_back, setup_small, teardown),
        cmocka_unit_test_setup_teardown(policies_side_by_side, setup_small, teardown),
        cmocka_unit_test_setup_teardown(touch_gives_second_chance, setup_large, teardown),
        cmocka_unit_test_setup_teardown(share_evicts_its_own, setup_small, teardown),
        cmocka_unit_test_setup_teardown(eviction_follows_fill_order, setup_64, teardown),
        cmocka_unit_test_setup_teardown(wait_returns_when_settled, setup_small, teardown),
        cmocka_unit_test_setup_teardown(concurrent_fills_and_unmaps, setup_large, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
