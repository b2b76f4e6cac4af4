/* close(), close_range() and closefrom(), interposed so that a program closing every descriptor (as daemons
 * do) leaves the core's own descriptors open: closing one of them reports success and does
 * nothing, as if it had been closed and not reused. */
#include <errno.h>
#include <linux/close_range.h>

#include "../core/fds.h"
#include "next.h"

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
