#include "fds.h"

#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/resource.h>
#include <unistd.h>

#define TRACKED 65536 /* descriptors above this are not protected */
#define HIGH_START 1024

static _Atomic uint64_t owned[TRACKED / 64];
static _Atomic int owned_count;

static void mark(int fd, bool on)
{
    if (fd < 0 || fd >= TRACKED)
        return;
    uint64_t bit = 1ULL << (fd % 64);
    uint64_t was = on ? atomic_fetch_or(&owned[fd / 64], bit)
                      : atomic_fetch_and(&owned[fd / 64], ~bit);
    if (on != !!(was & bit))
        atomic_fetch_add(&owned_count, on ? 1 : -1);
}

bool um_fd_room_for_extra(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur == RLIM_INFINITY)
        return true;
    return (rlim_t)atomic_load(&owned_count) * 8 < rl.rlim_cur;
}

bool um_fd_owned(int fd)
{
    return fd >= 0 && fd < TRACKED && (atomic_load(&owned[fd / 64]) >> (fd % 64) & 1);
}

int um_fd_adopt(int fd)
{
    struct rlimit rl;
    int start = HIGH_START;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur <= (rlim_t)start * 2)
        start = (int)(rl.rlim_cur / 2);
    int high = fcntl(fd, F_DUPFD_CLOEXEC, start);
    if (high >= 0) {
        close(fd);
        fd = high;
    }
    mark(fd, true);
    return fd;
}

void um_fd_close(int fd)
{
    mark(fd, false);
    close(fd);
}
