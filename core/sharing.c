/* One file mapped by processes under the shim that do not share a cache: processes of other
 * groups, or with UFFDMAP_GROUP=none. Each such cache would keep its own copy of the file's
 * blocks, so stores through a shared writable mapping in one would not show in another: where
 * a writer meets any other mapping, the newcomer leaves its mapping to the kernel (below).
 * Processes of one group share the file's domain (group.h) and never conflict.
 *
 * Presence is told with open-file-description locks on a lock file of the file's own (device
 * and inode), never on the file itself: a lock the program takes on the whole file (length 0
 * reaches every offset) would conflict with any byte of it, OFD and POSIX locks conflicting
 * even within one process. The lock file is /dev/shm/uffdmap-DEV-INO.presence, one for every
 * user, so that processes of different users (whose groups never share a cache) see each
 * other. /dev/shm is world-writable and sticky: the lock file is opened without following a
 * link, must be a regular file, and is trusted only if this user or root owns it. Another
 * user's lock file (its owner could remove it while others hold it, and two processes would
 * then look at two files) counts as a conflict: the file goes to the kernel here and the mark
 * below tells the owner's caches to do the same. Another user can make files go to the kernel
 * this way, never make a cache trust what it should not. The lock file's bytes:
 *   GATE             every holder, shared; a process letting go of the file removes the lock
 *                    file only if it can lock it whole, so a holder's file is never removed;
 *   PRESENCE         a process without a group: shared lock if its mappings only read,
 *                    exclusive if one is shared writable;
 *   GROUPS + s       a process of group g of user u, s = u * 2^16 + h(g) (shared lock);
 *   WRITERS + s      such a process with a shared writable mapping (shared lock).
 *   KERNEL           a process that gave the file to the kernel because of such a conflict
 *                    (shared lock, for the rest of its life: its mappings of the file are
 *                    the kernel's, and a cache elsewhere would not see their stores).
 * A newcomer takes its own locks first and then looks for the others' (F_OFD_GETLK), so that of
 * two newcomers at once at least one sees the other.
 *
 * On a conflict every cache gives the file up, not only the newcomer's: the newcomer hands
 * its own ranges of the file to the kernel, marks KERNEL, drops its cache locks and waits (up
 * to HANDOVER_WAIT_MS) until the other caches have dropped theirs; each of them sees the mark
 * within POLL_MS (um_sharing_poll(), on its evictor thread), writes its stores back, hands its
 * ranges of the file to the kernel and drops its locks. From then on every mapping of the file
 * in those processes, and in later ones that see the mark, is the kernel's: one page cache. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "domain.h"
#include "domains.h"
#include "fds.h"
#include "group.h"
#include "log.h"
#include "mapping.h"
#include "os.h"
#include "runtime.h"

#define GATE ((off_t)0)
#define PRESENCE ((off_t)1)
#define KERNEL ((off_t)2)
#define GROUPS (PRESENCE + 16)
#define GROUP_SLOTS ((off_t)1 << 48) /* 2^32 users x 2^16 group hashes */
#define WRITERS (GROUPS + GROUP_SLOTS)
#define REOPEN_TRIES 8
#define GATE_WAIT_MS 1000
#define POLL_MS 100
#define HANDOVER_WAIT_MS 3000
#define MARKS 256

static bool writable_shared(int prot, int flags)
{
    return (prot & PROT_WRITE) && (flags & MAP_TYPE) != MAP_PRIVATE;
}

static off_t group_slot(const char *name)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *name; name++)
        h = (h ^ (unsigned char)*name) * 16777619u;
    return (off_t)geteuid() << 16 | (off_t)(h & 0xffff);
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

/* Whether v's file is marked KERNEL by some process. */
static bool held_kernel(const struct um_view *v)
{
    return v->presence_fd >= 0 && held(v->presence_fd, F_WRLCK, KERNEL, 1);
}

static void lock_path(dev_t dev, ino_t ino, char *out, size_t n)
{
    snprintf(out, n, "/dev/shm/uffdmap-%llx-%llx.presence", (unsigned long long)dev,
             (unsigned long long)ino);
}

/* Opened, created if missing, never through a link: read-write by its owner (and root), read
 * only by other users. Read locks are all another user's process needs, and with them it can
 * only make files go to the kernel: a lock that could keep others from taking theirs (the
 * gate's or the KERNEL mark's) takes write access. Opening an existing file without O_CREAT
 * first: with fs.protected_regular, O_CREAT of another user's file in a sticky directory fails
 * even when the file exists. */
static int open_or_create(const char *path)
{
    const int flags = O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC;
    for (int i = 0; i < REOPEN_TRIES; i++) {
        int fd = open(path, O_RDWR | flags);
        if (fd < 0 && errno == EACCES)
            fd = open(path, O_RDONLY | flags);
        if (fd >= 0 || errno != ENOENT)
            return fd;
        fd = open(path, O_RDWR | O_CREAT | O_EXCL | flags, 0644);
        if (fd >= 0) {
            fchmod(fd, 0644); /* others' processes read-lock it; the umask may have said less */
            return fd;
        }
        if (errno != EEXIST)
            return -1;
    }
    return -1;
}

/* The gate, shared. A process removing the lock file holds it exclusively for a moment; a
 * process of another user could hold it for ever, so the wait is bounded. */
static bool take_gate(int fd)
{
    for (unsigned ms = 0; ms < GATE_WAIT_MS; ms += 10) {
        if (set_lock(fd, F_RDLCK, GATE, 1, F_OFD_SETLK) == 0)
            return true;
        if (errno != EAGAIN && errno != EACCES)
            return false;
        usleep(10 * 1000);
    }
    return false;
}

/* The file's lock file, opened, its gate held, and still linked (the last holder of another
 * may have removed it between our open and our lock: then the new one). -1 if none; *foreign
 * set if it is another user's (see the top of this file). */
static int open_lock_file(dev_t dev, ino_t ino, bool *foreign)
{
    char path[96];
    lock_path(dev, ino, path, sizeof path);
    int fd = -1;
    struct stat st, linked;
    for (int i = 0; i < REOPEN_TRIES && fd < 0; i++) {
        fd = open_or_create(path);
        if (fd < 0)
            break;
        if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
            syscall(SYS_close, fd);
            return -1;
        }
        /* Another user's: not trusted, so not waited for either (its owner holds the gate as
         * long as it likes); only the KERNEL mark is taken on it. */
        *foreign = st.st_uid != geteuid() && st.st_uid != 0;
        if (*foreign)
            break;
        if (!take_gate(fd) || lstat(path, &linked) || linked.st_ino != st.st_ino ||
            linked.st_dev != st.st_dev) {
            syscall(SYS_close, fd);
            fd = -1;
        }
    }
    return fd < 0 ? -1 : um_fd_adopt(fd);
}

/* Files whose lock file's KERNEL byte this process holds: kept open to its end. The lock
 * orders additions; give_up() also runs under the registry's write lock, and the lock is
 * taken after it (never the other way). */
static struct {
    dev_t dev;
    ino_t ino;
    int fd;
} marks[MARKS];
static unsigned nmarks;
static pthread_mutex_t marks_lock = PTHREAD_MUTEX_INITIALIZER;

static int mark_locked(dev_t dev, ino_t ino, bool *fresh)
{
    *fresh = false;
    for (unsigned i = 0; i < nmarks; i++)
        if (marks[i].dev == dev && marks[i].ino == ino)
            return marks[i].fd;
    if (nmarks == MARKS)
        return -1; /* the file is the kernel's here all the same (handover.c) */
    bool foreign;
    int fd = open_lock_file(dev, ino, &foreign);
    if (fd < 0)
        return -1;
    if (set_lock(fd, F_RDLCK, KERNEL, 1, F_OFD_SETLK)) {
        um_fd_close(fd);
        return -1;
    }
    marks[nmarks].dev = dev;
    marks[nmarks].ino = ino;
    marks[nmarks++].fd = fd;
    *fresh = true;
    return fd;
}

/* This process maps the file by the kernel from now on: a cache of it elsewhere would not see
 * its stores. A descriptor of the lock file holding the mark, or -1; *fresh if the mark is new
 * (the other caches have been told before, otherwise). */
static int mark_kernel(dev_t dev, ino_t ino, bool *fresh)
{
    pthread_mutex_lock(&marks_lock);
    int fd = mark_locked(dev, ino, fresh);
    pthread_mutex_unlock(&marks_lock);
    return fd;
}

/* Whether a cache other than ours holds a lock on the file (fd: a descriptor of its lock file
 * that holds none of those). */
static bool cached_elsewhere(int fd)
{
    return held(fd, F_WRLCK, PRESENCE, 1) || held(fd, F_WRLCK, GROUPS, 2 * GROUP_SLOTS);
}

/* With the registry write lock held: v's file goes to the kernel here, for good, and this
 * process's cache gives up its claim on it. Returns the descriptor holding the mark, or -1. */
static int give_up(struct um_view *v)
{
    /* Ours from here: the view may go with the last range handed over. Closed only after the
     * hand-over wrote the stores back, so that a process waiting for the locks to go then
     * reads them from the file. */
    int fd = v->presence_fd;
    v->presence_fd = -1;
    bool fresh;
    int mark = mark_kernel(v->dom->dev, v->dom->ino, &fresh);
    um_kernel_file_add_locked(v->dom->dev, v->dom->ino);
    um_handover_kernel_files_locked();
    if (fd >= 0)
        um_fd_close(fd); /* every lock of this cache's on the file goes with it */
    return mark;
}

/* The lock file whose other caches the newcomer waits for (um_sharing_wait()), or -1. */
static _Thread_local int awaited = -1;

static void not_marked(const char *path)
{
    um_warn_once("%s is mapped by the kernel here and cannot be marked so (no usable lock file, "
                 "or too many files): a cache of it in another process is not told",
                 path);
}

/* With the registry write lock held: give v's file up (give_up()), and have the caller's
 * um_sharing_wait() wait for the other caches of it. */
static void give_up_and_wait(struct um_view *v)
{
    awaited = give_up(v);
    if (awaited < 0)
        not_marked(v->dom->path);
}

void um_sharing_wait(void)
{
    int fd = awaited;
    awaited = -1;
    /* An OFD lock cannot be waited for with a bound: its state is looked at every 10 ms. */
    for (unsigned ms = 0; fd >= 0 && cached_elsewhere(fd) && ms < HANDOVER_WAIT_MS; ms += 10)
        usleep(10 * 1000);
    if (fd >= 0 && cached_elsewhere(fd))
        um_warn_once("another process still caches a file this one maps (stopped?): it may "
                     "see this process's stores late");
}

void um_sharing_release_marks(void)
{
    pthread_mutex_lock(&marks_lock);
    for (unsigned i = 0; i < nmarks; i++) {
        struct stat held, now;
        bool known = fstat(marks[i].fd, &held) == 0;
        /* The mark stays if a fork child shares its open file description: a whole lock on a
         * description of our own then fails, and the lock file is left to the child. */
        um_fd_close(marks[i].fd);
        char path[96];
        lock_path(marks[i].dev, marks[i].ino, path, sizeof path);
        int fd = known ? open(path, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC) : -1;
        if (fd < 0)
            continue;
        if (fstat(fd, &now) == 0 && now.st_dev == held.st_dev && now.st_ino == held.st_ino &&
            set_lock(fd, F_WRLCK, 0, 0, F_OFD_SETLK) == 0)
            unlink(path); /* no process holds a lock on it: the owner's or root's to remove */
        syscall(SYS_close, fd);
    }
    nmarks = 0;
    pthread_mutex_unlock(&marks_lock);
}

void um_sharing_to_kernel_locked(const char *path, dev_t dev, ino_t ino)
{
    struct um_view *v = um_domains_find(dev, ino);
    if (v) {
        give_up_and_wait(v);
        return;
    }
    um_kernel_file_add_locked(dev, ino);
    um_handover_kernel_files_locked();
    um_sharing_kernel_mapped(path, dev, ino);
}

void um_sharing_kernel_mapped(const char *path, dev_t dev, ino_t ino)
{
    bool fresh;
    int fd = mark_kernel(dev, ino, &fresh);
    /* Waited for once: a cache that has not let go since (stopped) is not waited for at
     * every mapping. */
    awaited = fresh ? fd : -1;
    if (fd < 0)
        not_marked(path);
}

void um_sharing_poll(void)
{
    static _Atomic uint64_t last; /* one evictor of several looks */
    uint64_t ms = um_os_now_ms();
    uint64_t then = atomic_load(&last);
    if (ms - then < POLL_MS || !atomic_compare_exchange_strong(&last, &then, ms))
        return;
    /* Looked for under the read lock: the write lock, which faults wait behind, only when a
     * file is to be given up (then looked for again). */
    um_registry_rdlock(&um_rt.registry);
    bool found = um_domains_marked_kernel(held_kernel) != NULL;
    um_registry_unlock(&um_rt.registry);
    if (!found)
        return;
    um_registry_wrlock(&um_rt.registry);
    for (struct um_view *v; (v = um_domains_marked_kernel(held_kernel));) {
        um_warn_once("a process that cannot share this one's cache maps a file this one "
                     "caches, and one of them writes: the file is handed to the kernel");
        (void)give_up(v);
    }
    um_registry_unlock(&um_rt.registry);
}

bool um_claim_presence(struct um_view *v, int prot, int flags, const char *path)
{
    bool foreign = false;
    if (v->presence_fd < 0)
        v->presence_fd = open_lock_file(v->dom->dev, v->dom->ino, &foreign);
    if (v->presence_fd < 0) {
        um_warn_once("%s: whether other processes map it cannot be told (no usable lock file "
                     "/dev/shm/uffdmap-DEV-INO.presence): it is served by the kernel",
                     path);
        return false;
    }
    bool writer = writable_shared(prot, flags);
    int fd = v->presence_fd;
    bool conflict = foreign || held(fd, F_WRLCK, KERNEL, 1) ||
                    (um_group_current() ? conflicts_in_group(fd, writer, um_rt.cfg.group)
                                        : conflicts_alone(fd, writer));
    if (!conflict)
        return true;
    um_warn_once("%s is managed by another process in a way that cannot stay coherent with "
                 "this mapping: it is served by the kernel, in every process that maps it",
                 path);
    give_up_and_wait(v);
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
        char path[96];
        lock_path(v->dom->dev, v->dom->ino, path, sizeof path);
        unlink(path); /* the owner's or root's to remove */
    }
    um_fd_close(fd);
}
