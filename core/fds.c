#include "fds.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/resource.h>
#include <unistd.h>

#define TRACKED 65536 /* descriptors above this are not protected */
#define HIGH_START 1024
#define DOMAIN_FDS 4 /* the most one more domain takes: memfd, file, O_DIRECT file, presence */

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

bool um_fd_room_for_domain(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur == RLIM_INFINITY)
        return true;
    return (rlim_t)(atomic_load(&owned_count) + DOMAIN_FDS) * 4 <= rl.rlim_cur;
}

/* A copy of fd at a high number, close-on-exec; -1 if none can be had. */
static int high_copy(int fd)
{
    struct rlimit rl;
    int start = HIGH_START;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur <= (rlim_t)start * 2)
        start = (int)(rl.rlim_cur / 2);
    return fcntl(fd, F_DUPFD_CLOEXEC, start);
}

int um_fd_adopt(int fd)
{
    int high = high_copy(fd);
    if (high >= 0) {
        close(fd);
        fd = high;
    }
    mark(fd, true);
    return fd;
}

int um_fd_copy(int fd)
{
    int high = high_copy(fd);
    if (high >= 0)
        mark(high, true);
    return high;
}

void um_fd_close(int fd)
{
    mark(fd, false);
    close(fd);
}

int um_fd_adopt_file(int fd)
{
    mark(fd, true);
    return fd;
}

struct linux_dirent64 {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

/* Whether a descriptor of the program's (not one of ours, not `except`) is open on the file
 * with that identity, read from /proc/self/fd without allocating. True if it cannot be told. */
static bool program_has_file(dev_t dev, ino_t ino, int except)
{
    int dir = (int)syscall(SYS_openat, AT_FDCWD, "/proc/self/fd", O_RDONLY | O_DIRECTORY |
                                                                     O_CLOEXEC);
    if (dir < 0)
        return true;
    char buf[4096];
    bool found = false;
    long n;
    while (!found && (n = syscall(SYS_getdents64, dir, buf, sizeof buf)) > 0) {
        for (long at = 0; at < n && !found;) {
            struct linux_dirent64 *e = (struct linux_dirent64 *)(buf + at);
            at += e->d_reclen;
            if (e->d_name[0] < '0' || e->d_name[0] > '9')
                continue;
            int fd = atoi(e->d_name);
            struct stat st;
            if (fd == dir || fd == except || um_fd_owned(fd) || syscall(SYS_fstat, fd, &st))
                continue;
            found = st.st_dev == dev && st.st_ino == ino;
        }
    }
    syscall(SYS_close, dir);
    return found || n < 0;
}

void um_fd_close_file(int fd)
{
    struct stat st;
    if (syscall(SYS_fstat, fd, &st) == 0 && program_has_file(st.st_dev, st.st_ino, fd))
        return; /* kept (and still ours): closing it would drop the program's record locks */
    um_fd_close(fd);
}
