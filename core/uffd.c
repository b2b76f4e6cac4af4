#include "uffd.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "os.h"

static int open_raw(void)
{
    /* /dev/userfaultfd grants kernel-mode fault handling to whoever may open it; the system
     * call needs CAP_SYS_PTRACE or vm.unprivileged_userfaultfd=1 for that. */
    int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
    if (dev >= 0) {
        int fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC);
        int saved = errno;
        close(dev);
        if (fd >= 0)
            return fd;
        errno = saved;
    }
    return (int)syscall(SYS_userfaultfd, O_CLOEXEC);
}

int um_uffd_open(uint64_t wanted, uint64_t *features)
{
    /* UFFDIO_API may be called once per descriptor: ask what exists on a throwaway one. */
    int probe = open_raw();
    if (probe < 0)
        return -1;
    struct uffdio_api api = {.api = UFFD_API, .features = 0};
    int rc = ioctl(probe, UFFDIO_API, &api);
    int saved = errno;
    close(probe);
    if (rc) {
        errno = saved;
        return -1;
    }
    int fd = open_raw();
    if (fd < 0)
        return -1;
    struct uffdio_api want = {.api = UFFD_API, .features = wanted & api.features};
    if (ioctl(fd, UFFDIO_API, &want)) {
        saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    if (!(want.ioctls & (1ULL << _UFFDIO_REGISTER))) {
        close(fd);
        errno = ENOSYS;
        return -1;
    }
    *features = want.features;
    return fd;
}

int um_uffd_register(int uffd, uintptr_t addr, size_t len, bool wp)
{
    struct uffdio_register reg = {
        .range = {.start = addr, .len = len},
        .mode = UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_MINOR |
                (wp ? UFFDIO_REGISTER_MODE_WP : 0),
    };
    if (ioctl(uffd, UFFDIO_REGISTER, &reg))
        return -1;
    uint64_t need = (1ULL << _UFFDIO_CONTINUE) | (wp ? 1ULL << _UFFDIO_WRITEPROTECT : 0);
    if ((reg.ioctls & need) != need) {
        errno = ENOSYS;
        return -1;
    }
    return 0;
}

size_t um_uffd_continue(int uffd, uintptr_t dst, size_t len, bool wp)
{
    size_t done = 0, step = len;
    while (done < len) {
        size_t want = len - done < step ? len - done : step;
        struct uffdio_continue cont = {
            .range = {.start = dst + done, .len = want},
            .mode = wp ? UFFDIO_CONTINUE_MODE_WP : 0,
        };
        if (ioctl(uffd, UFFDIO_CONTINUE, &cont) == 0) {
            done += want;
            continue;
        }
        int err = errno;
        if (cont.mapped > 0)
            done += (size_t)cont.mapped;
        if (err == EAGAIN) /* a mapping change is pending, or a page was present: go on */
            continue;
        if (err == EEXIST) { /* a page is mapped already (a racing fault): step over it */
            done += UM_PAGE;
            continue;
        }
        if (err == ENOENT && step > UM_PAGE) {
            /* The range reaches into another mapping (a piece handed to the kernel): go page
             * by page up to it. */
            step = UM_PAGE;
            continue;
        }
        break;
    }
    return done > len ? len : done;
}

size_t um_uffd_copy(int uffd, uintptr_t dst, const void *src, size_t len, bool wp)
{
    size_t done = 0;
    while (done < len) {
        struct uffdio_copy copy = {
            .dst = dst + done,
            .src = (uintptr_t)src + done,
            .len = len - done,
            .mode = wp ? UFFDIO_COPY_MODE_WP : 0,
        };
        if (ioctl(uffd, UFFDIO_COPY, &copy) == 0)
            return len;
        if (copy.copy > 0)
            done += (size_t)copy.copy;
        if (errno != EAGAIN) /* EAGAIN: a mapping change is pending, or partly done: go on */
            break;
    }
    return done;
}

int um_uffd_writeprotect(int uffd, uintptr_t addr, size_t len, bool protect)
{
    struct uffdio_writeprotect wp = {
        .range = {.start = addr, .len = len},
        .mode = protect ? UFFDIO_WRITEPROTECT_MODE_WP : 0,
    };
    return ioctl(uffd, UFFDIO_WRITEPROTECT, &wp);
}

/* Said once: every write-back and every first store after one then costs a fault more. */
static void note_refused(void)
{
    um_warn_once("UFFDIO_WRITEPROTECT failed (%m): stores are stopped by unmapping pages "
                 "instead (slower)");
}

int um_uffd_stop_stores(int uffd, uintptr_t addr, size_t len)
{
    if (um_uffd_writeprotect(uffd, addr, len, true) == 0)
        return 0;
    note_refused();
    /* A write-protected page zapped keeps a marker in its page-table entry: a touch there
     * faults as on an empty entry, minor since the page is in the memfd. */
    return um_os_madvise((void *)addr, len, MADV_DONTNEED);
}

void um_uffd_let_store(int uffd, uintptr_t lo, size_t len, uintptr_t addr)
{
    if (um_uffd_writeprotect(uffd, lo, len, false) == 0)
        return;
    uintptr_t page = addr & ~(UM_PAGE - 1);
    note_refused();
    /* Mapped again writable (UFFDIO_CONTINUE wakes). Should another thread's minor fault map
     * it write-protected first, the store faults again and comes back here. */
    if (um_os_madvise((void *)page, UM_PAGE, MADV_DONTNEED) ||
        um_uffd_continue(uffd, page, UM_PAGE, false) < UM_PAGE)
        um_uffd_wake(uffd, page, UM_PAGE);
}

void um_uffd_wake(int uffd, uintptr_t addr, size_t len)
{
    struct uffdio_range range = {.start = addr, .len = len};
    ioctl(uffd, UFFDIO_WAKE, &range);
}
