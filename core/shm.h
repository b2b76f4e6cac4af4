/* Memory shared with fork() children: the cache's tables and the domains live here, so that a
 * child is a full member of the cache it inherits (same frames, same budget, same policy).
 *
 * One MAP_SHARED anonymous region, made before any fork, backs every allocation: what either
 * process allocates after a fork is at the same address, in the same memory, for both. Its
 * bookkeeping (a bump pointer and free lists by size) lives at its start under a
 * process-shared lock. Without the region (unit tests, or before um_shm_init()), allocations
 * are private (um_os_alloc()). */
#ifndef UM_SHM_H
#define UM_SHM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Reserve the shared region (lazily backed). 0, or -1 if it cannot be had. */
int um_shm_init(void);
/* Instead: the region in file fd, shared with unrelated processes (group.c), mapped at the same
 * address in each of them: at `base` (len bytes, the file that long) if `fresh`, else where its
 * creator put it. 0, or -1 (that address is taken here, or the file is not such a region). */
int um_shm_attach(int fd, uintptr_t base, size_t len, bool fresh);
/* Unmap it again (an attach that could not be completed). */
void um_shm_detach(void);
/* Whether [lo, hi) overlaps the region. */
bool um_shm_overlaps(uintptr_t lo, uintptr_t hi);
/* The region's entry point, set by its creator. */
void *um_shm_root(void);
void um_shm_set_root(void *root);
/* Zeroed memory shared with the process's fork children; NULL on failure. */
void *um_shm_alloc(size_t len);
/* Give back an allocation of len bytes (its pages are released at once). */
void um_shm_free(void *p, size_t len);
/* A lock that works across processes and survives its holder's death: when the member process
 * holding it is gone (members.h), the next locker takes it with the holder's work half done.
 *
 * Not a robust pthread mutex: locking one makes glibc link it into the calling thread's robust
 * list, which writes to the mutex locked before it -- and a program's robust mutex may live in
 * a managed mapping (LMDB's lock file). A program thread holding one and calling into the core
 * would fault on its own write-protected page while holding a cache lock the fault's filler
 * needs: a deadlock (seen). This lock touches nothing but its own word. */
struct um_shm_mutex {
    _Atomic uint32_t word; /* 0: free; else the holder's member token, | waiters bit */
};
void um_shm_mutex_init(struct um_shm_mutex *m);
/* Lock m: true if its previous holder died holding it (the caller repairs what it guards). */
bool um_shm_lock(struct um_shm_mutex *m);
void um_shm_unlock(struct um_shm_mutex *m);
/* Lock and unlock the region's own lock (taking it over from a holder that is gone). */
void um_shm_settle(void);

#endif
