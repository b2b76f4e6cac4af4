/* fork(): a child inherits the managed ranges but neither the handler threads nor a
 * userfaultfd that serves its address space, and a mapping of the cache's memfd that no
 * userfaultfd serves must never be left: a touch of a page the cache has punched would put a
 * page of zeros into the memfd, for every mapping of it. So before the fork, shared writable
 * mappings are handed to the kernel in the parent (parent and child must see each other's
 * stores); in the child, every inherited range becomes the kernel's own mapping of the file
 * (private ranges keep the pages the program made its own, as the kernel's copy-on-write does).
 * The child's own new mappings are managed afresh. */
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>

#include "domains.h"
#include "fds.h"
#include "log.h"
#include "mapping.h"
#include "os.h"
#include "runtime.h"
#include "stats.h"

struct range {
    uintptr_t lo, hi;
};

static void find_shared_writable(const struct um_entry *e, uintptr_t lo, uintptr_t hi,
                                 void *arg)
{
    struct range *r = arg;
    if (!r->hi && e->map->shared && (e->map->prot & PROT_WRITE)) {
        r->lo = lo;
        r->hi = hi;
    }
}

/* Holding the write lock across fork() means no fill is in flight and the registry is
 * consistent when the child copies it. */
static void before_fork(void)
{
    um_registry_wrlock(&um_rt.registry);
    for (;;) {
        struct range r = {0, 0};
        um_registry_for_each(&um_rt.registry, 0, UINTPTR_MAX, find_shared_writable, &r);
        if (!r.hi)
            break;
        um_warn_once("fork(): shared writable mappings are handed to the kernel, so that parent "
                     "and child see each other's stores");
        um_handover_locked(r.lo, r.hi);
    }
}

static void after_fork_parent(void) { um_registry_unlock(&um_rt.registry); }

static void after_fork_child(void)
{
    struct um_registry *r = &um_rt.registry;
    for (size_t i = 0; i < r->count; i++) {
        const struct um_entry *e = &r->entries[i];
        if (e->map->shared)
            um_entry_to_kernel(e, e->start, e->end);
        else
            um_entry_to_kernel_keeping_private(e, e->start, e->end);
    }
    /* The inherited ranges now belong to the kernel; the parent's domains are its own. Their
     * descriptors are closed here; their tables are left as they are (copies). */
    r->count = 0;
    atomic_store(&r->published_count, 0);
    um_registry_init_lock(r);
    um_domains_close_all();
    if (um_rt.uffd >= 0)
        um_fd_close(um_rt.uffd);
    um_rt.uffd = -1;
    /* The child's own mappings are managed afresh: a new userfaultfd, cache and threads at its
     * first matching mmap(). Its summary counts only its own work. */
    memset(&um_stats, 0, sizeof um_stats);
    um_runtime_reset_after_fork();
}

int um_fork_install(void)
{
    /* Once per process image: a child that starts afresh inherits the handlers. */
    static bool installed;
    if (installed)
        return 0;
    installed = true;
    return pthread_atfork(before_fork, after_fork_parent, after_fork_child);
}
