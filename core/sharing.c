/* One file mapped by processes under the shim that do not share a cache: processes of other
 * groups, or with UFFDMAP_GROUP=none. Each such cache would keep its own copy of the file's
 * blocks, so stores through a shared writable mapping in one would not show in another: where
 * a writer meets any other mapping, the newcomer leaves its mapping to the kernel (below).
 * Processes of one group share the file's domain (group.h) and never conflict.
 *
 * Presence is told with open-file-description locks on a lock file of the file's own (device
 * and inode) in the user's directory /dev/shm/uffdmap-UID, never on the file itself: a lock
 * the program takes on the whole file (length 0 reaches every offset) would conflict with any
 * byte of it, OFD and POSIX locks conflicting even within one process. So processes of other
 * users are not seen. The lock file's bytes:
 *   GATE             every holder, shared; a process letting go of the file removes the lock
 *                    file only if it can lock it whole, so a holder's file is never removed;
 *   PRESENCE         a process without a group: shared lock if its mappings only read,
 *                    exclusive if one is shared writable;
 *   GROUPS + h(g)    a process of group g (shared lock);
 *   WRITERS + h(g)   a process of group g with a shared writable mapping (shared lock).
 * A newcomer takes its own locks first and then looks for the others' (F_OFD_GETLK), so that of
 * two newcomers at once at least one sees the other. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "domain.h"
#include "fds.h"
#include "group.h"
#include "log.h"
#include "mapping.h"
#include "runtime.h"

#define GATE ((off_t)0)
#define PRESENCE ((off_t)1)
#define GROUPS (PRESENCE + 16)
#define GROUP_SLOTS ((off_t)1 << 16)
#define WRITERS (GROUPS + GROUP_SLOTS)
#define REOPEN_TRIES 8

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

static int set_lock(int fd, short type, off_t start, off_t len, int cmd)
{
    struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len};
    return fcntl(fd, cmd, &fl);
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
    if (set_lock(fd, F_RDLCK, GROUPS + mine, 1, F_OFD_SETLK) ||
        (writer && set_lock(fd, F_RDLCK, WRITERS + mine, 1, F_OFD_SETLK)))
        return true; /* cannot tell */
    if (held(fd, writer ? F_WRLCK : F_RDLCK, PRESENCE, 1))
        return true; /* a process without a group that writes, or any, if we write */
    return other_group(fd, F_WRLCK, WRITERS, mine) ||
           (writer && other_group(fd, F_WRLCK, GROUPS, mine));
}

static bool conflicts_alone(int fd, bool writer)
{
    if (set_lock(fd, writer ? F_WRLCK : F_RDLCK, PRESENCE, 1, F_OFD_SETLK))
        return true; /* another's lock there, or it cannot be told */
    return held(fd, F_WRLCK, writer ? GROUPS : WRITERS, GROUP_SLOTS);
}

static void lock_name(dev_t dev, ino_t ino, char *out, size_t n)
{
    snprintf(out, n, "%llx-%llx.presence", (unsigned long long)dev, (unsigned long long)ino);
}

/* The user's private directory (created if need be), checked as group.c checks it. */
static int open_dir(void)
{
    char path[64];
    snprintf(path, sizeof path, "/dev/shm/uffdmap-%u", (unsigned)geteuid());
    mkdir(path, 0700);
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (fd >= 0 && (fstat(fd, &st) || st.st_uid != geteuid() || (st.st_mode & 077))) {
        syscall(SYS_close, fd);
        return -1;
    }
    return fd;
}

/* The file's lock file, opened, its gate held, and still linked (the last holder of another
 * may have removed it between our open and our lock: then the new one). -1 if none. */
static int open_lock_file(dev_t dev, ino_t ino)
{
    int dir = open_dir();
    if (dir < 0)
        return -1;
    char name[64];
    lock_name(dev, ino, name, sizeof name);
    int fd = -1;
    for (int i = 0; i < REOPEN_TRIES && fd < 0; i++) {
        fd = openat(dir, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
            break;
        /* Waits only while a process that lets go of the file removes it. */
        struct stat st, linked;
        int rc;
        while ((rc = set_lock(fd, F_RDLCK, GATE, 1, F_OFD_SETLKW)) && errno == EINTR)
            ;
        if (rc || fstat(fd, &st) || !S_ISREG(st.st_mode) ||
            fstatat(dir, name, &linked, AT_SYMLINK_NOFOLLOW) || linked.st_ino != st.st_ino) {
            syscall(SYS_close, fd);
            fd = -1;
        }
    }
    syscall(SYS_close, dir);
    return fd < 0 ? -1 : um_fd_adopt(fd);
}

bool um_claim_presence(struct um_view *v, int prot, int flags, const char *path)
{
    if (v->presence_fd < 0)
        v->presence_fd = open_lock_file(v->dom->dev, v->dom->ino);
    if (v->presence_fd < 0) {
        um_warn_once("%s: whether other processes map it cannot be told (no lock file in "
                     "/dev/shm/uffdmap-UID): it is served by the kernel",
                     path);
        return false;
    }
    bool writer = writable_shared(prot, flags);
    int fd = v->presence_fd;
    bool conflict = um_group_current() ? conflicts_in_group(fd, writer, um_rt.cfg.group)
                                       : conflicts_alone(fd, writer);
    if (!conflict)
        return true;
    um_warn_once("%s is managed by another process in a way that cannot stay coherent with "
                 "this mapping: it is served by the kernel",
                 path);
    return false;
}

void um_release_presence(struct um_view *v)
{
    int fd = v->presence_fd;
    if (fd < 0)
        return;
    v->presence_fd = -1;
    /* Whole: no other process holds any lock on it (our own are replaced). */
    if (set_lock(fd, F_WRLCK, 0, 0, F_OFD_SETLK) == 0) {
        char name[64], path[160];
        lock_name(v->dom->dev, v->dom->ino, name, sizeof name);
        snprintf(path, sizeof path, "/dev/shm/uffdmap-%u/%s", (unsigned)geteuid(), name);
        unlink(path);
    }
    um_fd_close(fd);
}
