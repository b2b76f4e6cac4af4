/* fork(): the child becomes a member of the cache it inherits (members.h). The cache's tables
 * and the domains are in memory shared with it (shm.h), its mappings map the same memfds, and
 * so parent and child see the same pages and share one budget. A child inherits neither the
 * handler threads nor a userfaultfd registration, and a mapping of a memfd that no userfaultfd
 * serves must never be left: a touch of a page the cache punched would put a page of zeros into
 * the memfd, for every mapping of it. So the child, before fork() returns in it, opens its own
 * userfaultfd, registers every inherited range and starts its threads.
 *
 * A child that cannot be a member (the table is full, or its userfaultfd cannot be had) gets
 * every inherited range as the kernel's own mapping of the file instead (private ranges keep
 * the pages the program made its own, as the kernel's copy-on-write does), and the parent hands
 * its shared writable mappings to the kernel first, so that both see each other's stores. */
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>

#include "domains.h"
#include "fds.h"
#include "log.h"
#include "mapping.h"
#include "members.h"
#include "os.h"
#include "runtime.h"
#include "stats.h"
#include "uffd.h"

static int child_member = -1;    /* reserved in um_fork_prepare() */
static bool child_shares_fds;    /* clone(CLONE_FILES): the child's descriptors are ours */

struct range {
    uintptr_t lo, hi;
};

static void find_shared_writable(const struct um_entry *e, uintptr_t lo, uintptr_t hi,
                                 void *arg)
{
    struct range *r = arg;
    if (!r->hi && e->map->shared && (e->prot & PROT_WRITE)) {
        r->lo = lo;
        r->hi = hi;
    }
}

static void hand_shared_writable_to_kernel(bool no_room)
{
    for (;;) {
        struct range r = {0, 0};
        um_registry_for_each(&um_rt.registry, 0, UINTPTR_MAX, find_shared_writable, &r);
        if (!r.hi)
            break;
        if (no_room)
            um_warn_once("fork(): no room for another process in the page cache: shared "
                         "writable mappings (their files) are handed to the kernel, so that "
                         "parent and child see each other's stores");
        else
            um_warn_once("a child made by clone(), or by _Fork() beside other threads, cannot "
                         "share the page cache: shared writable mappings (their files) are handed "
                         "to the kernel, so that parent and child see each other's stores");
        /* The whole file, and its later mappings here: a second mapping served from the
         * cache would not see the stores made through the kernel's (handover.c). */
        if (um_handover_files_locked(r.lo, r.hi, true) && um_registry_overlaps(&um_rt.registry,
                                                                               r.lo, r.hi))
            break; /* no memory to replace it: the child goes alone beside it, as before */
    }
}

/* Holding the registry's write lock across fork() means no fill is in flight here and the
 * registry is consistent when the child copies it. */
void um_fork_prepare(bool member, bool shares_fds)
{
    um_registry_wrlock(&um_rt.registry);
    child_shares_fds = shares_fds;
    bool running = atomic_load(&um_rt.state) == UM_RUNNING;
    child_member = running && member ? um_members_reserve() : -1;
    if (child_member >= 0)
        um_domains_fork_prepare((unsigned)child_member);
    else if (running)
        hand_shared_writable_to_kernel(member);
}

void um_fork_parent(void) { um_registry_unlock(&um_rt.registry); }

/* Register every inherited range with the child's own userfaultfd. */
static bool register_inherited(void)
{
    struct um_registry *r = &um_rt.registry;
    for (size_t i = 0; i < r->count; i++) {
        const struct um_entry *e = &r->entries[i];
        if (um_uffd_register(um_rt.uffd, e->start, e->end - e->start, e->map->wp))
            return false;
    }
    return true;
}

/* The child as a full member: 0, or -1 if it cannot be one (nothing changed but the uffd). */
static int join(unsigned member)
{
    int old = um_rt.uffd;
    if (um_runtime_reopen_uffd())
        return -1;
    if (!register_inherited()) {
        um_fd_close(um_rt.uffd);
        um_rt.uffd = old;
        return -1;
    }
    if (old >= 0)
        um_fd_close(old);
    um_members_adopt(member);
    um_domains_fork_child(member);
    if (um_threads_start()) {
        /* No filler: its registered ranges would never be served. */
        um_warn("fork(): cannot start handler threads in the child; its inherited mappings "
                "are the kernel's");
        return -1;
    }
    return 0;
}

/* Not a member: every inherited range becomes the kernel's. */
static void go_alone(int member)
{
    struct um_registry *r = &um_rt.registry;
    for (size_t i = 0; i < r->count; i++) {
        const struct um_entry *e = &r->entries[i];
        if (e->map->shared)
            um_entry_to_kernel(e, e->start, e->end);
        else
            um_entry_to_kernel_keeping_private(e, e->start, e->end, NULL);
    }
    r->count = 0;
    atomic_store(&r->published_count, 0);
    um_domains_abandon(member < 0 ? UM_MAX_MEMBERS : (unsigned)member, !child_shares_fds);
    if (member >= 0)
        um_members_release((unsigned)member);
    if (um_rt.uffd >= 0 && !child_shares_fds)
        um_fd_close(um_rt.uffd);
    um_rt.uffd = -1;
    um_runtime_reset_after_fork();
}

/* Ranges the program marked MADV_DONTFORK: the kernel left them out of the child. */
static void drop_dontfork(void)
{
    struct um_registry *r = &um_rt.registry;
    for (size_t i = 0; i < r->count;) {
        const struct um_entry *e = &r->entries[i];
        if (!e->dontfork) {
            i++;
            continue;
        }
        uintptr_t lo = e->start, hi = e->end;
        if (um_domains_refresh(lo, hi, lo, hi) ||
            um_registry_cut(r, lo, hi, NULL, um_mapping_release, NULL))
            i++; /* no memory: kept, and registering it fails (the child goes alone) */
    }
}

void um_fork_child(void)
{
    um_lock_reset_after_fork(); /* the kernel does not pass mlockall(MCL_FUTURE) on */
    um_registry_init_lock(&um_rt.registry);
    drop_dontfork();
    /* The child's summary counts only its own work. */
    memset(&um_stats, 0, sizeof um_stats);
    um_runtime_child_locks();
    if (atomic_load(&um_rt.state) != UM_RUNNING)
        return;
    if (child_member >= 0 && join((unsigned)child_member) == 0)
        return;
    go_alone(child_member);
}

/* fork()'s handlers: the registry's write lock is held from before_fork() to the parent's or
 * the child's handler, with no signal handler or cancellation in between (os.h). A thread
 * forks at a time: the lock waits for the others. */
static _Thread_local struct um_os_quiet fork_quiet;

static void before_fork(void)
{
    um_os_quiet_begin(&fork_quiet);
    um_fork_prepare(true, false);
}

static void after_fork_parent(void)
{
    um_fork_parent();
    um_os_quiet_end(&fork_quiet);
}

static void after_fork_child(void)
{
    um_fork_child();
    um_os_quiet_end(&fork_quiet);
}

bool um_fork_may_join(void)
{
    /* Joining starts threads, and pthread_create() may allocate: after _Fork() that is safe
     * only if no other thread of the program could have held an allocator lock. */
    return um_os_thread_count() == 1 + um_threads_count();
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
