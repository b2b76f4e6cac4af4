/* close(), close_range() and closefrom(), interposed so that a program closing every descriptor (as daemons
 * do) leaves the core's own descriptors open: closing one of them reports success and does
 * nothing, as if it had been closed and not reused. dup2() and dup3() onto one of them move
 * the core's elsewhere first: the program gets the number it asked for, as without the shim. */
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>

#include "../core/fds.h"
#include "next.h"
#include "shim.h"

#define EXPORT __attribute__((visibility("default")))

EXPORT int close(int fd)
{
    if (um_fd_owned(fd))
        return 0;
    return um_next_close(fd);
}

EXPORT int close_range(unsigned first, unsigned last, int flags)
{
    if ((flags & CLOSE_RANGE_CLOEXEC) || first > last) /* ours are close-on-exec already; the */
        return um_next_close_range(first, last, flags); /* kernel refuses a reversed range */
    unsigned from = first;
    for (unsigned fd = first; fd <= last && fd < 65536; fd++) {
        if (!um_fd_owned((int)fd))
            continue;
        if (fd > from && um_next_close_range(from, fd - 1, flags))
            return -1;
        from = fd + 1;
        if (fd == last)
            return 0;
    }
    return from <= last ? um_next_close_range(from, last, flags) : 0;
}

EXPORT void closefrom(int lowfd)
{
    close_range(lowfd < 0 ? 0 : (unsigned)lowfd, ~0U, 0);
}

/* Whether dup3(old, new, flags) would fail without touching new, and with which errno: the
 * core's descriptors are not the program's (closed, as far as it knows). */
static int dup_error(int old, int new, int flags, bool is_dup3)
{
    if (is_dup3 && ((flags & ~O_CLOEXEC) || old == new)) /* the kernel's order */
        return EINVAL;
    if (um_fd_owned(old) || fcntl(old, F_GETFD) < 0)
        return EBADF;
    return 0;
}

static int dup_onto(int old, int new, int flags, bool is_dup3)
{
    if (!um_shim_depth && (um_fd_owned(new) || um_fd_owned(old))) {
        int saved = errno;
        int err = dup_error(old, new, flags, is_dup3);
        if (err) {
            errno = err;
            return -1;
        }
        struct um_shim_call call;
        um_shim_enter(&call);
        int vacated = um_fd_vacate(new);
        um_shim_leave(&call);
        if (vacated) {
            errno = EMFILE; /* no number left to move ours to: none for the program either */
            return -1;
        }
        errno = saved;
    }
    return is_dup3 ? um_next_dup3(old, new, flags) : um_next_dup2(old, new);
}

EXPORT int dup2(int old, int new)
{
    return dup_onto(old, new, 0, false);
}

EXPORT int dup3(int old, int new, int flags)
{
    return dup_onto(old, new, flags, true);
}
