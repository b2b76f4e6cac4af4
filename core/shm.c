#include "shm.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>

#include "domain.h"
#include "members.h"
#include "os.h"

/* Lazily backed: only what is used costs memory. Domains reserve their slot tables here
 * (domain.h), hence the size. */
#define REGION_BYTES ((size_t)16 << 40)
#define MIN_REGION_BYTES ((size_t)64 << 30)
#define FREE_CLASSES 16

struct free_block {
    struct free_block *next;
};

/* Bumped whenever a structure that lives in a shared region changes: a process of another
 * build then keeps a cache of its own instead of misreading the group's (group.c). */
#define ARENA_MAGIC 0x756666646d617033ULL /* "uffdmap3" */

struct arena {
    /* Read by a process attaching to a named region before it maps it (um_shm_attach()). */
    uint64_t magic;
    uint64_t base, len;
    void *root; /* the region's owner's entry point (group.c) */
    struct um_shm_mutex lock;
    size_t next; /* offset of the first byte never handed out */
    struct {
        size_t len;
        struct free_block *head;
    } free[FREE_CLASSES];
};

static struct arena *arena;
static size_t region_bytes;

int um_shm_init(void)
{
    if (arena)
        return 0;
    /* Smaller where the address space is (sanitizer runtimes reserve most of it). */
    size_t len = REGION_BYTES;
    void *p = um_os_reserve_shared(len);
    while (!p && len > MIN_REGION_BYTES) {
        len /= 16;
        p = um_os_reserve_shared(len);
    }
    if (!p)
        return -1;
    struct arena *a = p;
    um_shm_mutex_init(&a->lock);
    a->next = um_page_up(sizeof *a);
    region_bytes = len;
    arena = a;
    return 0;
}

int um_shm_attach(int fd, uintptr_t base, size_t len, bool fresh)
{
    if (arena)
        return -1;
    uint64_t head[3];
    if (!fresh) {
        /* Where the region's creator put it: every pointer in it is an address there. */
        if (um_os_pread(fd, head, sizeof head, 0) != (ssize_t)sizeof head ||
            head[0] != ARENA_MAGIC || head[2] < MIN_REGION_BYTES)
            return -1;
        base = (uintptr_t)head[1];
        len = (size_t)head[2];
    }
    void *p = um_os_mmap((void *)base, len, PROT_READ | PROT_WRITE,
                         MAP_SHARED | MAP_NORESERVE | MAP_FIXED_NOREPLACE, fd, 0);
    if (p != (void *)base) {
        if (p != MAP_FAILED) /* a kernel without MAP_FIXED_NOREPLACE took it as a hint */
            um_os_munmap(p, len);
        return -1;
    }
    struct arena *a = p;
    if (fresh) {
        um_shm_mutex_init(&a->lock);
        a->next = um_page_up(sizeof *a);
        a->base = base;
        a->len = len;
        atomic_thread_fence(memory_order_release);
        a->magic = ARENA_MAGIC;
    }
    region_bytes = len;
    arena = a;
    return 0;
}

void um_shm_detach(void)
{
    if (arena)
        um_os_munmap(arena, region_bytes);
    arena = NULL;
}

bool um_shm_overlaps(uintptr_t lo, uintptr_t hi)
{
    uintptr_t base = (uintptr_t)arena;
    return arena && lo < base + region_bytes && base < hi;
}

void *um_shm_root(void) { return arena ? arena->root : NULL; }
void um_shm_set_root(void *root) { arena->root = root; }

/* With the lock held: a block of exactly len bytes given back earlier, or NULL. */
static void *reuse(struct arena *a, size_t len)
{
    for (unsigned i = 0; i < FREE_CLASSES; i++) {
        if (a->free[i].len == len && a->free[i].head) {
            struct free_block *b = a->free[i].head;
            a->free[i].head = b->next;
            b->next = NULL;
            return b;
        }
    }
    return NULL;
}

void *um_shm_alloc(size_t len)
{
    if (!arena)
        return um_os_alloc(len);
    len = um_page_up(len);
    um_shm_lock(&arena->lock); /* a bump and list pushes: nothing to repair */
    void *p = reuse(arena, len);
    if (!p && arena->next + len <= region_bytes) {
        p = (char *)arena + arena->next;
        arena->next += len;
    }
    um_shm_unlock(&arena->lock);
    return p;
}

void um_shm_free(void *p, size_t len)
{
    if (!p)
        return;
    if (!arena) {
        um_os_free(p, len);
        return;
    }
    len = um_page_up(len);
    /* Its pages go back to the system and read as zeros when it is handed out again. */
    um_os_madvise(p, len, MADV_REMOVE);
    um_shm_lock(&arena->lock); /* a bump and list pushes: nothing to repair */
    for (unsigned i = 0; i < FREE_CLASSES; i++) {
        /* The class of that size, or an empty one; a block finding neither is left unused. */
        if (arena->free[i].len == len || !arena->free[i].head) {
            struct free_block *b = p;
            b->next = arena->free[i].head;
            arena->free[i].head = b;
            arena->free[i].len = len;
            break;
        }
    }
    um_shm_unlock(&arena->lock);
}

#define WAITERS 0x80000000u
#define DEAD_OWNER_CHECK_MS 50

void um_shm_mutex_init(struct um_shm_mutex *m) { atomic_store(&m->word, 0); }

bool um_shm_lock(struct um_shm_mutex *m)
{
    uint32_t me = um_member_token();
    for (;;) {
        uint32_t w = 0;
        if (atomic_compare_exchange_strong(&m->word, &w, me))
            return false;
        if (!(w & WAITERS) && !atomic_compare_exchange_strong(&m->word, &w, w | WAITERS))
            continue; /* changed meanwhile: look again */
        um_futex_wait_ms(&m->word, w | WAITERS, DEAD_OWNER_CHECK_MS);
        /* Woken, or a while passed: a holder that is gone never unlocks. Taken over with the
         * waiters bit kept, so that unlocking wakes the others. */
        w = atomic_load(&m->word);
        uint32_t owner = w & ~WAITERS;
        if (owner && owner != me && !um_member_token_alive(owner) &&
            atomic_compare_exchange_strong(&m->word, &w, me | WAITERS))
            return true;
    }
}

void um_shm_unlock(struct um_shm_mutex *m)
{
    if (atomic_exchange(&m->word, 0) & WAITERS)
        um_futex_wake(&m->word);
}

void um_shm_settle(void)
{
    if (!arena)
        return;
    um_shm_lock(&arena->lock);
    um_shm_unlock(&arena->lock);
}
