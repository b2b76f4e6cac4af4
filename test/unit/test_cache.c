/* Frames and the budget: charging, committing, FIFO eviction dropping pages and slots, claims
 * by unmap, and all of it from several threads at once (run under TSan too). */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>

#include "cmocka_all.h"
#include "core/cache.h"
#include "core/mapping.h"

#define P 4096UL
#define NPAGES 256

static struct um_cache cache;
static struct um_mapping *map;
static unsigned char *mem;

static int setup(void **state, size_t budget_pages)
{
    (void)state;
    mem = mmap(NULL, NPAGES * P, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(mem != MAP_FAILED);
    map = um_mapping_new((uintptr_t)mem, NPAGES * P, 0, P, -1, PROT_READ, MAP_PRIVATE, 0);
    assert_non_null(map);
    return um_cache_init(&cache, budget_pages * P, 90, 80, um_policy_find("fifo"), false);
}

static int setup_small(void **state) { return setup(state, 8); }
static int setup_large(void **state) { return setup(state, 32); }
static int setup_64(void **state) { return setup(state, 64); }

static int teardown(void **state)
{
    (void)state;
    um_mapping_free(map);
    munmap(mem, NPAGES * P);
    return 0;
}

/* What the fault path does for block k: own it, "fill" it, commit. */
static uint32_t fill(size_t k, unsigned char byte)
{
    uint32_t f = um_cache_alloc(&cache, P);
    assert_true(f < cache.nframes);
    assert_int_equal(atomic_load(&cache.frames[f].state), UM_FRAME_FILLING);
    uint32_t expected = 0;
    assert_true(atomic_compare_exchange_strong(&map->slots[k], &expected, f + 1));
    memset(mem + k * P, byte, P);
    um_cache_commit(&cache, f, map, k, (uintptr_t)(mem + k * P), P, P);
    return f;
}

static void commit_charges_budget(void **state)
{
    (void)state;
    uint32_t f = fill(3, 0x11);
    assert_int_equal(atomic_load(&cache.frames[f].state), UM_FRAME_RESIDENT);
    assert_int_equal(um_cache_charged(&cache), P);
    /* A fill shorter than charged returns the difference. */
    uint32_t g = um_cache_alloc(&cache, 4 * P);
    assert_int_equal(um_cache_charged(&cache), 5 * P);
    atomic_store(&map->slots[4], g + 1);
    um_cache_commit(&cache, g, map, 4, (uintptr_t)(mem + 4 * P), P, 4 * P);
    assert_int_equal(um_cache_charged(&cache), 2 * P);
}

static void full_budget_evicts_oldest(void **state)
{
    (void)state;
    for (size_t k = 0; k < 8; k++)
        fill(k, 0xaa);
    assert_int_equal(um_cache_charged(&cache), 8 * P);
    fill(8, 0xbb); /* budget full: block 0, the oldest, must go */
    assert_int_equal(um_cache_charged(&cache), 8 * P);
    assert_int_equal(atomic_load(&map->slots[0]), 0);
    assert_int_equal(mem[0], 0); /* its page was released */
    assert_int_not_equal(atomic_load(&map->slots[1]), 0);
    assert_int_equal(mem[P], 0xaa);
    assert_int_equal(mem[8 * P], 0xbb);
}

static void claim_and_drop_keep_range(void **state)
{
    (void)state;
    uint32_t f = fill(5, 0x33);
    assert_true(um_cache_claim(&cache, f));
    assert_int_equal(atomic_load(&cache.frames[f].state), UM_FRAME_BUSY);
    assert_false(um_cache_claim(&cache, f)); /* claimed once only */
    /* The caller unmaps the page itself: drop must leave it alone. */
    um_cache_drop(&cache, f, (uintptr_t)(mem + 5 * P), (uintptr_t)(mem + 6 * P));
    assert_int_equal(mem[5 * P], 0x33);
    assert_int_equal(atomic_load(&map->slots[5]), 0);
    assert_int_equal(atomic_load(&cache.frames[f].state), UM_FRAME_FREE);
    assert_int_equal(um_cache_charged(&cache), 0);
    /* A claimed frame is out of the policy: nothing left to evict. */
    assert_int_equal(um_cache_evict(&cache, 1), 0);
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

/* Two mappings ordered by different policies in one cache: each frame goes to its mapping's
 * policy, and victims come from the one holding the most frames. */
static void policies_side_by_side(void **state)
{
    (void)state;
    unsigned char *mem2 = mmap(NULL, NPAGES * P, PROT_READ | PROT_WRITE,
                               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    struct um_mapping *other = um_mapping_new((uintptr_t)mem2, NPAGES * P, 0, P, -1, PROT_READ,
                                              MAP_PRIVATE, 0);
    other->policy = um_policy_index(um_policy_find("clock"));
    other->policy_set = true;
    uint32_t a = fill(0, 1), b = fill(1, 1); /* map: fifo, the cache's default */
    uint32_t f = um_cache_alloc(&cache, P);
    atomic_store(&other->slots[0], f + 1);
    um_cache_commit(&cache, f, other, 0, (uintptr_t)mem2, P, P);
    assert_int_equal(cache.frames[f].policy, um_policy_index(&um_policy_clock));
    assert_int_equal(cache.frames[a].policy, um_policy_index(&um_policy_fifo));
    /* Evictions empty the larger group first; all three go in the end. */
    int evicted = 0;
    while (um_cache_evict(&cache, 1))
        evicted++;
    assert_int_equal(evicted, 3);
    assert_int_equal(atomic_load(&other->slots[0]), 0);
    assert_int_equal(atomic_load(&map->slots[0]) | atomic_load(&map->slots[1]), 0);
    (void)b;
    um_mapping_free(other);
    munmap(mem2, NPAGES * P);
}

/* A slot with a budget share evicts its own frames when the share is full, never others'. */
static void share_evicts_its_own(void **state)
{
    (void)state;
    unsigned slot = UM_NPOLICIES;
    um_cache_set_share(&cache, slot, &um_policy_fifo, 2 * P);
    unsigned char *mem2 = mmap(NULL, NPAGES * P, PROT_READ | PROT_WRITE,
                               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    struct um_mapping *shared = um_mapping_new((uintptr_t)mem2, NPAGES * P, 0, P, -1, PROT_READ,
                                               MAP_PRIVATE, 0);
    shared->policy = slot;
    shared->policy_set = true;
    uint32_t a = fill(0, 1), b = fill(1, 1); /* two frames under the budget alone */
    for (size_t k = 0; k < 4; k++) {
        uint32_t f = um_cache_alloc_in(&cache, P, slot);
        atomic_store(&shared->slots[k], f + 1);
        um_cache_commit(&cache, f, shared, k, (uintptr_t)(mem2 + k * P), P, P);
        assert_true(atomic_load(&cache.slot_charged[slot]) <= 2 * P);
    }
    /* The share held two frames; its older blocks went, the others stayed. */
    assert_int_equal(atomic_load(&shared->slots[0]), 0);
    assert_int_equal(atomic_load(&shared->slots[1]), 0);
    assert_int_not_equal(atomic_load(&shared->slots[3]), 0);
    assert_int_equal(atomic_load(&map->slots[0]), a + 1);
    assert_int_equal(atomic_load(&map->slots[1]), b + 1);
    assert_int_equal(um_cache_charged(&cache), 4 * P);
    um_mapping_free(shared);
    munmap(mem2, NPAGES * P);
}

/* Several threads fill random blocks, as fillers do, while one claims and drops, as unmap
 * does; the budget holds throughout, and at the end charges equal resident frames. */
/* Blocks [first, first + n) filled in order on a thread of their own (as one filler would). */
struct fill_run {
    size_t first, n;
};

static void *fill_on_thread(void *arg)
{
    const struct fill_run *r = arg;
    for (size_t k = r->first; k < r->first + r->n; k++) {
        uint32_t f = um_cache_alloc(&cache, P);
        atomic_store(&map->slots[k], f + 1);
        um_cache_commit(&cache, f, map, k, (uintptr_t)(mem + k * P), P, P);
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
        bool resident = atomic_load(&map->slots[k]) != 0;
        evicted += !resident;
        if (k >= 16 + cache.nshards)
            assert_true(resident);
    }
    assert_int_equal(evicted, 16);
}

#define WORKERS 4
#define ROUNDS 4000
static atomic_bool over_budget;

static void *worker(void *arg)
{
    uint64_t seed = (uintptr_t)arg * 0x9e3779b97f4a7c15ULL;
    for (int i = 0; i < ROUNDS; i++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        size_t k = (seed >> 33) % NPAGES;
        uint32_t s = atomic_load(&map->slots[k]);
        if (s == 0) {
            uint32_t f = um_cache_alloc(&cache, P);
            uint32_t expected = 0;
            if (atomic_compare_exchange_strong(&map->slots[k], &expected, f + 1))
                um_cache_commit(&cache, f, map, k, (uintptr_t)(mem + k * P), P, P);
            else
                um_cache_discard(&cache, f, P);
        } else if ((seed & 7) == 0 && um_cache_claim(&cache, s - 1)) {
            um_cache_drop(&cache, s - 1, 0, 0);
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
        uint32_t s = atomic_load(&map->slots[k]);
        if (s) {
            assert_int_equal(atomic_load(&cache.frames[s - 1].state), UM_FRAME_RESIDENT);
            assert_int_equal(cache.frames[s - 1].block, k);
            resident += cache.frames[s - 1].len;
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
        cmocka_unit_test_setup_teardown(claim_and_drop_keep_range, setup_small, teardown),
        cmocka_unit_test_setup_teardown(discard_returns_charge, setup_small, teardown),
        cmocka_unit_test_setup_teardown(policies_side_by_side, setup_small, teardown),
        cmocka_unit_test_setup_teardown(share_evicts_its_own, setup_small, teardown),
        cmocka_unit_test_setup_teardown(eviction_follows_fill_order, setup_64, teardown),
        cmocka_unit_test_setup_teardown(concurrent_fills_and_unmaps, setup_large, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
