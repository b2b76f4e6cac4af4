/* msync() of managed ranges: write back what was stored, make it durable with MS_SYNC, and
 * drop clean pages with MS_INVALIDATE so later reads see the file. The kernel has validated the
 * arguments and the range first (on the anonymous memory, where msync does nothing else). */
#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mapping.h"
#include "os.h"
#include "runtime.h"
#include "writeback.h"

#define MAX_SYNCED 16

struct msync_walk {
    int flags;
    int err;
    struct um_mapping *synced[MAX_SYNCED]; /* mappings to fdatasync, each once */
    size_t nsynced;
};

static void note_for_sync(struct msync_walk *w, struct um_mapping *m)
{
    for (size_t i = 0; i < w->nsynced; i++)
        if (w->synced[i] == m)
            return;
    if (w->nsynced < MAX_SYNCED) {
        w->synced[w->nsynced++] = m;
    } else if (fdatasync(m->fd) && !w->err) {
        w->err = errno;
    }
}

static void flush_piece(struct um_mapping *m, uintptr_t lo, uintptr_t hi, void *arg)
{
    struct msync_walk *w = arg;
    if (!m->shared)
        return; /* private stores never reach the file */
    enum um_flush_mode mode = w->flags & MS_INVALIDATE ? UM_FLUSH_INVALIDATE : UM_FLUSH_RELEASE;
    int e = um_claim_and_flush(m, lo, hi, mode);
    /* An error met by an earlier write-back (on eviction) is reported once, here. */
    int earlier = atomic_exchange(&m->wb_error, 0);
    if (!w->err)
        w->err = e ? e : earlier;
    if (w->flags & MS_SYNC)
        note_for_sync(w, m);
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
            if (fdatasync(w.synced[i]->fd) && !w.err)
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
