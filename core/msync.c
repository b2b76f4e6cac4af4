/* msync() of managed ranges: write back what was stored, make it durable with MS_SYNC, and
 * drop clean blocks with MS_INVALIDATE so later reads see the file. The kernel has validated the
 * arguments and the range first (on the memfd, where msync does nothing else). */
#include <errno.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "domain.h"
#include "mapping.h"
#include "os.h"
#include "runtime.h"
#include "writeback.h"

#define MAX_SYNCED 16

struct msync_walk {
    int flags;
    int err;
    struct um_domain *synced[MAX_SYNCED]; /* files to fdatasync, each once */
    size_t nsynced;
};

/* By system call: not a cancellation point, and never the program's interposed one. */
static int data_sync(const struct um_domain *d)
{
    return (int)syscall(SYS_fdatasync, um_here(d)->fd);
}

static void note_for_sync(struct msync_walk *w, struct um_domain *d)
{
    for (size_t i = 0; i < w->nsynced; i++)
        if (w->synced[i] == d)
            return;
    if (w->nsynced < MAX_SYNCED) {
        w->synced[w->nsynced++] = d;
    } else if (data_sync(d) && !w->err) {
        w->err = errno;
    }
}

static void flush_piece(const struct um_entry *e, uintptr_t lo, uintptr_t hi, void *arg)
{
    struct msync_walk *w = arg;
    struct um_mapping *m = e->map;
    if (!m->shared)
        return; /* private stores never reach the file */
    enum um_flush_mode mode = w->flags & MS_INVALIDATE ? UM_FLUSH_INVALIDATE : UM_FLUSH_RELEASE;
    uint64_t off = um_entry_off(e, lo);
    int err = um_domain_flush(m->dom, off, off + (hi - lo), mode);
    if (err == EAGAIN)
        err = EIO; /* another member stopped answering (said on stderr): not msync's errno */
    /* An error met by an earlier write-back (on eviction) is reported once, here. */
    int earlier = atomic_exchange(&m->dom->wb_error, 0);
    if (!w->err)
        w->err = err ? err : earlier;
    if (w->flags & MS_SYNC)
        note_for_sync(w, m->dom);
}

bool um_msync(void *addr, size_t len, int flags, int *result)
{
    uintptr_t lo = (uintptr_t)addr, hi = lo + um_page_up(len);
    if (len == 0 || um_registry_empty(&um_rt.registry))
        return false;
    struct msync_walk w = {.flags = flags};
    um_registry_rdlock(&um_rt.registry);
    bool ours = um_registry_overlaps(&um_rt.registry, lo, hi);
    if (ours) {
        um_registry_for_each(&um_rt.registry, lo, hi, flush_piece, &w);
        for (size_t i = 0; i < w.nsynced; i++)
            if (data_sync(w.synced[i]) && !w.err)
                w.err = errno;
    }
    um_registry_unlock(&um_rt.registry);
    if (ours) {
        *result = w.err ? -1 : 0;
        if (w.err)
            errno = w.err;
    }
    return ours;
}
