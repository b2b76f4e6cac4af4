/* mlock(), mlock2() and mlockall(): memory locked in memory.
 *
 * Locked pages stay resident, and MADV_DONTNEED, how eviction unmaps a page, fails on them: a
 * bounded cache cannot serve a locked range. So a managed range about to be locked is handed
 * to the kernel's mapping of its file first, with every other range of that file (handover.c:
 * stores written back), and the kernel locks it.
 *
 * mlockall(MCL_FUTURE) makes the kernel lock, and at once populate, every later mapping: a new
 * managed range would be populated from the memfd before it is registered (zeros, and stores
 * never tracked), and the core's lazily backed regions (terabytes reserved) backed whole. While
 * it is in effect, files are mapped by the kernel, and stay so (map.c). The state is the process image's:
 * the kernel clears it in a fork() child and at exec.
 *
 * mlockall(MCL_CURRENT) is done mapping by mapping, for the same reason leaving out the core's
 * own memory (managed ranges are handed to the kernel first). The kernel's call checks the lock
 * limit against all mappings at once; here a mapping the limit refuses makes the call fail with
 * ENOMEM, the mappings locked before it staying locked. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "os.h"
#include "runtime.h"
#include "shm.h"

#ifndef MCL_ONFAULT
#define MCL_ONFAULT 4 /* Linux 4.4 */
#endif
#ifndef MLOCK_ONFAULT
#define MLOCK_ONFAULT 1
#endif
#define MCL_ALL (MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT)

static _Atomic bool future;

bool um_lock_future(void)
{
    return atomic_load_explicit(&future, memory_order_relaxed);
}

void um_lock_reset_after_fork(void)
{
    atomic_store(&future, false);
}

/* With the registry write lock held: managed ranges of [lo, hi) go to the kernel. */
static void hand_over_locked(uintptr_t lo, uintptr_t hi)
{
    if (!um_registry_overlaps(&um_rt.registry, lo, hi))
        return;
    um_warn_once("mlock() or mlockall() of managed ranges: locked pages cannot be evicted, so "
                 "their files are mapped by the kernel from then on");
    um_handover_files_locked(lo, hi, true);
}

void um_lock_range(const void *addr, size_t len)
{
    uintptr_t lo = um_page_down((uintptr_t)addr), hi = um_page_up((uintptr_t)addr + len);
    if (!len || hi <= lo || um_registry_empty(&um_rt.registry))
        return;
    um_registry_wrlock(&um_rt.registry);
    hand_over_locked(lo, hi);
    um_registry_unlock(&um_rt.registry);
}

/* Memory of the core's own, which must never be locked (nor populated). */
static bool core_memory(uintptr_t lo, uintptr_t hi)
{
    return um_core_memory(lo, hi) || um_registry_overlaps(&um_rt.registry, lo, hi);
}

struct lock_pass {
    unsigned flags; /* for mlock2() */
    int err;        /* the first error that counts */
    bool strict;    /* only the pass setting the flags reports errors */
};

static void lock_one(uintptr_t lo, uintptr_t hi, struct lock_pass *p)
{
    if (lo >> 63 || core_memory(lo, hi)) /* [vsyscall] is no mapping mlock() knows */
        return;
    if (syscall(SYS_mlock2, lo, hi - lo, p->flags) == 0 || !p->strict || p->err)
        return;
    /* ENOMEM: the limit (or a mapping gone meanwhile); EPERM: no locking allowed at all. */
    if (errno == ENOMEM || errno == EAGAIN || errno == EPERM)
        p->err = errno == EAGAIN ? ENOMEM : errno;
}

/* Each mapping of /proc/self/maps, by system calls only (no allocator: the registry lock is
 * held). -1 if it cannot be read. */
static int for_each_mapping(struct lock_pass *p)
{
    int fd = (int)syscall(SYS_openat, AT_FDCWD, "/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    char buf[8192]; /* more than a line: a path is at most PATH_MAX */
    size_t have = 0;
    ssize_t n;
    while ((n = um_os_read(fd, buf + have, sizeof buf - 1 - have)) > 0) {
        have += (size_t)n;
        buf[have] = '\0';
        char *line = buf, *nl;
        while ((nl = strchr(line, '\n'))) {
            char *end;
            uintptr_t lo = strtoul(line, &end, 16);
            if (*end == '-')
                lock_one(lo, strtoul(end + 1, NULL, 16), p);
            line = nl + 1;
        }
        have = (size_t)(buf + have - line);
        memmove(buf, line, have);
    }
    syscall(SYS_close, fd);
    return n < 0 ? -1 : 0;
}

/* MCL_CURRENT, with the registry write lock held (no managed range appears meanwhile). The
 * flags first, without populating (its errors, as the kernel's, are the limit's only), then,
 * unless MCL_ONFAULT, the pages, as the kernel does ignoring what cannot be populated. */
static int lock_current(int flags)
{
    struct lock_pass set = {.flags = MLOCK_ONFAULT, .strict = true};
    if (for_each_mapping(&set))
        return -1;
    if (set.err) {
        errno = set.err;
        return -1;
    }
    struct lock_pass populate = {.flags = 0};
    if (!(flags & MCL_ONFAULT))
        for_each_mapping(&populate);
    return 0;
}

/* The kernel's mlockall(), its state remembered. */
static int kernel_mlockall(int flags)
{
    int rc = (int)syscall(SYS_mlockall, flags);
    if (rc == 0)
        atomic_store(&future, (flags & MCL_FUTURE) != 0);
    return rc;
}

int um_mlockall(int flags)
{
    if (!flags || (flags & ~MCL_ALL) || flags == MCL_ONFAULT) {
        errno = EINVAL;
        return -1;
    }
    if (!(flags & MCL_CURRENT))
        return kernel_mlockall(flags);
    if (!um_shm_overlaps(0, UINTPTR_MAX) && um_registry_empty(&um_rt.registry))
        return kernel_mlockall(flags); /* the cache was never set up: nothing to leave out */
    um_registry_wrlock(&um_rt.registry);
    hand_over_locked(0, UINTPTR_MAX);
    /* The kernel's own call for the future part: it sets the process's state (clears it:
     * munlockall()) and says EPERM where locking is not allowed. */
    int rc = (int)(flags & MCL_FUTURE ? syscall(SYS_mlockall, flags & ~MCL_CURRENT)
                                      : syscall(SYS_munlockall));
    if (rc == 0) {
        atomic_store(&future, (flags & MCL_FUTURE) != 0);
        rc = lock_current(flags);
    }
    um_registry_unlock(&um_rt.registry);
    return rc;
}

int um_munlockall(void)
{
    int rc = (int)syscall(SYS_munlockall);
    if (rc == 0)
        atomic_store(&future, false);
    return rc;
}
