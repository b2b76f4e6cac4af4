/* fork(): a child inherits the managed ranges but neither the handler threads nor a
 * userfaultfd that serves its address space, so pages not yet filled would read as zeros.
 * Until the child gets handlers of its own, every managed range is handed to the kernel's own
 * mapping of the file in the child, at the same address: the child reads the file's bytes
 * (served, and bounded, by the kernel), and the parent is untouched. */
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"
#include "mapping.h"
#include "os.h"
#include "runtime.h"
#include "stats.h"

/* Holding the write lock across fork() means no fill is in flight and the registry is
 * consistent when the child copies it. */
static void before_fork(void) { um_registry_wrlock(&um_rt.registry); }

static void after_fork_parent(void) { um_registry_unlock(&um_rt.registry); }

static void hand_entry_to_kernel(const struct um_entry *e)
{
    const struct um_mapping *m = e->map;
    uint64_t off = m->file_off + (e->start - m->start);
    int flags = (m->flags & (MAP_SHARED | MAP_PRIVATE)) | MAP_FIXED;
    if (um_os_mmap((void *)e->start, e->end - e->start, m->prot, flags, m->fd, (off_t)off) ==
        MAP_FAILED)
        um_warn("child: cannot map %#lx-%#lx from its file (%m)", (unsigned long)e->start,
                (unsigned long)e->end);
}

static void after_fork_child(void)
{
    struct um_registry *r = &um_rt.registry;
    for (size_t i = 0; i < r->count; i++)
        hand_entry_to_kernel(&r->entries[i]);
    /* Descriptors are closed after all remapping: entries may share a mapping's. */
    for (size_t i = 0; i < r->count; i++) {
        struct um_mapping *m = r->entries[i].map;
        if (m->fd >= 0) {
            close(m->fd);
            m->fd = -1;
        }
    }
    if (um_rt.uffd >= 0)
        close(um_rt.uffd);
    um_rt.uffd = -1;
    r->count = 0;
    atomic_store(&r->published_count, 0);
    /* Everything the child maps from now on goes to the kernel; its summary starts afresh. */
    memset(&um_stats, 0, sizeof um_stats);
    atomic_store(&um_rt.state, UM_OFF);
}

int um_fork_install(void)
{
    return pthread_atfork(before_fork, after_fork_parent, after_fork_child);
}
