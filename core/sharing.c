/* One file mapped by processes under the shim that do not share a cache: processes of other
 * groups, of other users, or with UFFDMAP_GROUP=none. Each such cache would keep its own copy
 * of the file's blocks, so stores through a shared writable mapping in one would not show in
 * another: where a writer meets any other mapping, the newcomer leaves its mapping to the
 * kernel (below). Processes of one group share the file's domain (group.h) and never conflict.
 *
 * Presence is told with open-file-description locks (held by our own descriptor, invisible to
 * the program's locks, which are on other bytes) far past any file's end:
 *   PRESENCE         a process without a group: shared lock if its mappings only read,
 *                    exclusive if one is shared writable;
 *   GROUPS + h(g)    a process of group g (shared lock);
 *   WRITERS + h(g)   a process of group g with a shared writable mapping (shared lock).
 * A newcomer takes its own locks first and then looks for the others' (F_OFD_GETLK), so that of
 * two newcomers at once at least one sees the other. */
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "group.h"
#include "log.h"
#include "mapping.h"
#include "runtime.h"

#define PRESENCE ((off_t)1 << 62)
#define GROUPS (PRESENCE + 16)
#define GROUP_SLOTS ((off_t)1 << 16)
#define WRITERS (GROUPS + GROUP_SLOTS)

static bool writable_shared(int prot, int flags)
{
    return (prot & PROT_WRITE) && (flags & MAP_TYPE) != MAP_PRIVATE;
}

static off_t group_slot(const char *name)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *name; name++)
        h = (h ^ (unsigned char)*name) * 16777619u;
    return (off_t)(h % GROUP_SLOTS);
}

/* 0, or -1 if the file system has no locks (then nothing can be learnt: no conflict). */
static int set_lock(int fd, short type, off_t start)
{
    struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = 1};
    return fcntl(fd, F_OFD_SETLK, &fl);
}

/* Whether another open file description holds a lock on [start, start + len) that a lock of
 * `type` would conflict with. */
static bool held(int fd, short type, off_t start, off_t len)
{
    if (len <= 0)
        return false;
    struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len};
    return fcntl(fd, F_OFD_GETLK, &fl) == 0 && fl.l_type != F_UNLCK;
}

/* Another group's lock in [base, base + GROUP_SLOTS), other than ours at base + mine. */
static bool other_group(int fd, short type, off_t base, off_t mine)
{
    return held(fd, type, base, mine) || held(fd, type, base + mine + 1, GROUP_SLOTS - mine - 1);
}

static bool conflicts_in_group(int fd, bool writer, const char *group)
{
    off_t mine = group_slot(group);
    if (set_lock(fd, F_RDLCK, GROUPS + mine) || (writer && set_lock(fd, F_RDLCK, WRITERS + mine)))
        return false; /* no locks here */
    if (held(fd, writer ? F_WRLCK : F_RDLCK, PRESENCE, 1))
        return true; /* a process without a group that writes, or any, if we write */
    return other_group(fd, F_WRLCK, WRITERS, mine) ||
           (writer && other_group(fd, F_WRLCK, GROUPS, mine));
}

static bool conflicts_alone(int fd, bool writer)
{
    if (set_lock(fd, writer ? F_WRLCK : F_RDLCK, PRESENCE))
        return errno == EAGAIN || errno == EACCES;
    return held(fd, F_WRLCK, writer ? GROUPS : WRITERS, GROUP_SLOTS);
}

bool um_claim_presence(int fd, int prot, int flags, const char *path)
{
    bool writer = writable_shared(prot, flags);
    bool conflict = um_group_current() ? conflicts_in_group(fd, writer, um_rt.cfg.group)
                                       : conflicts_alone(fd, writer);
    if (!conflict)
        return true;
    um_warn_once("%s is managed by another process in a way that cannot stay coherent with "
                 "this mapping: it is served by the kernel",
                 path);
    return false;
}
