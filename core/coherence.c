/* read()/write() and the like on a file that is also mapped here must agree with the mapping,
 * as they do through the kernel's one page cache. A managed file is known by device and inode,
 * whatever descriptor or path is used. Before a read of a range, stores made through mappings
 * of it are written back; around a write (or a size change), they are written back and the
 * clean pages dropped, so the next access through a mapping reads the file again. The second
 * pass after the call drops pages a fault may have refilled from the old bytes meanwhile. */
#include <sys/stat.h>

#include "mapping.h"
#include "os.h"
#include "runtime.h"
#include "writeback.h"

struct sync_request {
    dev_t dev;
    ino_t ino;
    uint64_t lo, hi; /* file offsets */
    enum um_flush_mode mode;
};

static void sync_piece(struct um_mapping *m, uintptr_t lo, uintptr_t hi, void *arg)
{
    const struct sync_request *q = arg;
    if (m->dev != q->dev || m->ino != q->ino)
        return;
    uint64_t piece_lo = m->file_off + (lo - m->start);
    uint64_t piece_hi = piece_lo + (hi - lo);
    uint64_t a = piece_lo > q->lo ? piece_lo : q->lo;
    uint64_t b = piece_hi < q->hi ? piece_hi : q->hi;
    if (a >= b)
        return;
    uintptr_t alo = lo + (uintptr_t)(a - piece_lo);
    uintptr_t ahi = lo + (uintptr_t)(b - piece_lo);
    um_claim_and_flush(m, alo & ~(uintptr_t)(UM_PAGE - 1), ahi, q->mode);
}

static void find_file(struct um_mapping *m, uintptr_t lo, uintptr_t hi, void *arg)
{
    (void)lo;
    (void)hi;
    struct sync_request *q = arg;
    if (m->dev == q->dev && m->ino == q->ino)
        q->lo = 1;
}

bool um_file_managed(const struct stat *st)
{
    if (!S_ISREG(st->st_mode) || um_registry_empty(&um_rt.registry))
        return false;
    struct sync_request q = {.dev = st->st_dev, .ino = st->st_ino};
    um_registry_rdlock(&um_rt.registry);
    um_registry_for_each(&um_rt.registry, 0, UINTPTR_MAX, find_file, &q);
    um_registry_unlock(&um_rt.registry);
    return q.lo != 0;
}

void um_file_sync(const struct stat *st, uint64_t off, uint64_t len, bool invalidate)
{
    if (len == 0)
        return;
    struct sync_request q = {
        .dev = st->st_dev,
        .ino = st->st_ino,
        .lo = off,
        .hi = off + len < off ? UINT64_MAX : off + len,
        .mode = invalidate ? UM_FLUSH_INVALIDATE : UM_FLUSH_RELEASE,
    };
    um_registry_rdlock(&um_rt.registry);
    um_registry_for_each(&um_rt.registry, 0, UINTPTR_MAX, sync_piece, &q);
    um_registry_unlock(&um_rt.registry);
}
