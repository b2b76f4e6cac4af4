/* One file mapped more than once in the process. Every managed mapping has its own pages, so
 * two mappings of one file would not see each other's stores, while through the kernel they
 * share its page cache. Where that matters (a shared writable mapping and any other mapping
 * of the same file) all of them are served by the kernel instead: the managed ones are written
 * back and replaced in place by the kernel's own mapping of the file, and the new one is left
 * to the kernel. Read-only and private mappings of one file stay managed together: nothing
 * stored through one can show through another. */
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "log.h"
#include "mapping.h"
#include "runtime.h"

struct same_file {
    dev_t dev;
    ino_t ino;
    bool found, writable_shared;
};

static bool writable_shared(int prot, int flags)
{
    return (prot & PROT_WRITE) && (flags & MAP_TYPE) != MAP_PRIVATE;
}

static void look(struct um_mapping *m, uintptr_t lo, uintptr_t hi, void *arg)
{
    (void)lo;
    (void)hi;
    struct same_file *q = arg;
    if (m->dev != q->dev || m->ino != q->ino)
        return;
    q->found = true;
    q->writable_shared |= writable_shared(m->prot, m->flags);
}

struct handover {
    dev_t dev;
    ino_t ino;
    uintptr_t lo, hi; /* one range found, handed over by the caller's loop */
};

static void find_one(struct um_mapping *m, uintptr_t lo, uintptr_t hi, void *arg)
{
    struct handover *h = arg;
    if (!h->hi && m->dev == h->dev && m->ino == h->ino) {
        h->lo = lo;
        h->hi = hi;
    }
}

/* Other processes: each managed mapping holds an open-file-description lock on one byte far
 * past any file's end (an OFD lock: held by our own descriptor, invisible to the program's
 * locks, which are on other bytes): a shared lock for read-only and private mappings, an
 * exclusive one for shared writable mappings, whose stores other processes would not see until
 * written back. A process that cannot get its lock leaves the mapping to the kernel. */
#define PRESENCE_BYTE ((off_t)1 << 62)

bool um_claim_presence(int fd, int prot, int flags, const char *path)
{
    struct flock fl = {
        .l_type = writable_shared(prot, flags) ? F_WRLCK : F_RDLCK,
        .l_whence = SEEK_SET,
        .l_start = PRESENCE_BYTE,
        .l_len = 1,
    };
    if (fcntl(fd, F_OFD_SETLK, &fl) == 0 || (errno != EAGAIN && errno != EACCES))
        return true; /* file systems without locks: nothing to learn */
    um_warn_once("%s is managed by another process in a way that cannot stay coherent with "
                 "this mapping: it is served by the kernel",
                 path);
    return false;
}

bool um_share_with_kernel(const struct stat *st, int prot, int flags, const char *path)
{
    struct same_file q = {.dev = st->st_dev, .ino = st->st_ino};
    um_registry_for_each(&um_rt.registry, 0, UINTPTR_MAX, look, &q);
    if (!q.found || (!q.writable_shared && !writable_shared(prot, flags)))
        return false;
    um_warn_once("%s is mapped more than once with a shared writable mapping among them: such "
                 "files are served by the kernel, so that the mappings see each other's stores",
                 path);
    for (;;) {
        struct handover h = {.dev = st->st_dev, .ino = st->st_ino};
        um_registry_for_each(&um_rt.registry, 0, UINTPTR_MAX, find_one, &h);
        if (!h.hi)
            return true;
        um_handover_locked(h.lo, h.hi);
    }
}
