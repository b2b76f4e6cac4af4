/* The read/write family, interposed so that file I/O and managed mappings of the same file see
 * each other's bytes (core/coherence.c). With nothing managed, each call costs a load and a
 * branch; with managed mappings, an fstat() on top for descriptors that are not regular files.
 *
 * Meson builds with _FILE_OFFSET_BITS=64; off_t is 64 bits here either way, and the *64 names
 * are defined as aliases. */
#undef _FILE_OFFSET_BITS
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "../core/runtime.h"
#include "next.h"
#include "shim.h"

#define EXPORT __attribute__((visibility("default")))

/* The identity of fd if it is a file the shim maps, in *st; false for everything else. errno
 * is left as it was: the call the program made sets it, or not. */
static bool managed_file(int fd, struct stat *st)
{
    if (um_shim_depth || !um_runtime_active() || um_registry_empty(&um_rt.registry))
        return false;
    int saved = errno;
    um_shim_depth++;
    bool managed = fstat(fd, st) == 0 && um_file_managed(st);
    um_shim_depth--;
    errno = saved;
    return managed;
}

/* The bytes n iovecs at iov name, read without trusting the pointer (as the kernel does: a bad
 * one must give the program EFAULT, not SIGSEGV). False if the kernel would refuse them (then
 * the call goes straight to it, which says why). */
static bool iov_bytes(const struct iovec *iov, int n, uint64_t *total)
{
    if (n < 0 || n > IOV_MAX)
        return false;
    *total = 0;
    struct iovec chunk[64];
    for (int i = 0; i < n;) {
        int k = n - i < 64 ? n - i : 64;
        struct iovec local = {chunk, (size_t)k * sizeof chunk[0]};
        struct iovec remote = {(void *)(iov + i), (size_t)k * sizeof chunk[0]};
        if (process_vm_readv(getpid(), &local, 1, &remote, 1, 0) != (ssize_t)local.iov_len)
            return false;
        for (int j = 0; j < k; j++)
            *total += chunk[j].iov_len;
        i += k;
    }
    return true;
}

/* Where a read or write without an offset happens: the file position, or the end for
 * O_APPEND writes. Neither lookup moves the position. */
static off_t position(int fd, const struct stat *st, bool write)
{
    if (write && (fcntl(fd, F_GETFL) & O_APPEND))
        return st->st_size;
    return lseek(fd, 0, SEEK_CUR);
}

static void sync_range(const struct stat *st, off_t off, uint64_t len, bool write)
{
    if (off < 0)
        return;
    int saved = errno;
    um_shim_depth++;
    um_file_sync(st, (uint64_t)off, len, write);
    um_shim_depth--;
    errno = saved;
}

static void after_write(const struct stat *st, off_t off, ssize_t done)
{
    if (done > 0)
        sync_range(st, off, (uint64_t)done, true);
}

EXPORT ssize_t pread(int fd, void *buf, size_t len, off_t off)
{
    struct stat st;
    if (managed_file(fd, &st))
        sync_range(&st, off, len, false);
    return um_next_pread(fd, buf, len, off);
}

EXPORT ssize_t pread64(int fd, void *buf, size_t len, off_t off) __attribute__((alias("pread")));

EXPORT ssize_t read(int fd, void *buf, size_t len)
{
    struct stat st;
    if (managed_file(fd, &st))
        sync_range(&st, position(fd, &st, false), len, false);
    return um_next_read(fd, buf, len);
}

EXPORT ssize_t preadv(int fd, const struct iovec *iov, int n, off_t off)
{
    struct stat st;
    uint64_t len;
    if (managed_file(fd, &st) && iov_bytes(iov, n, &len))
        sync_range(&st, off, len, false);
    return um_next_preadv(fd, iov, n, off);
}

EXPORT ssize_t preadv64(int fd, const struct iovec *iov, int n, off_t off)
    __attribute__((alias("preadv")));

EXPORT ssize_t readv(int fd, const struct iovec *iov, int n)
{
    struct stat st;
    uint64_t len;
    if (managed_file(fd, &st) && iov_bytes(iov, n, &len))
        sync_range(&st, position(fd, &st, false), len, false);
    return um_next_readv(fd, iov, n);
}

EXPORT ssize_t pwrite(int fd, const void *buf, size_t len, off_t off)
{
    struct stat st;
    if (!managed_file(fd, &st))
        return um_next_pwrite(fd, buf, len, off);
    sync_range(&st, off, len, true);
    ssize_t done = um_next_pwrite(fd, buf, len, off);
    after_write(&st, off, done);
    return done;
}

EXPORT ssize_t pwrite64(int fd, const void *buf, size_t len, off_t off)
    __attribute__((alias("pwrite")));

EXPORT ssize_t write(int fd, const void *buf, size_t len)
{
    struct stat st;
    if (!managed_file(fd, &st))
        return um_next_write(fd, buf, len);
    off_t off = position(fd, &st, true);
    sync_range(&st, off, len, true);
    ssize_t done = um_next_write(fd, buf, len);
    after_write(&st, off, done);
    return done;
}

EXPORT ssize_t pwritev(int fd, const struct iovec *iov, int n, off_t off)
{
    struct stat st;
    uint64_t len;
    if (!managed_file(fd, &st) || !iov_bytes(iov, n, &len))
        return um_next_pwritev(fd, iov, n, off);
    sync_range(&st, off, len, true);
    ssize_t done = um_next_pwritev(fd, iov, n, off);
    after_write(&st, off, done);
    return done;
}

EXPORT ssize_t pwritev64(int fd, const struct iovec *iov, int n, off_t off)
    __attribute__((alias("pwritev")));

EXPORT ssize_t writev(int fd, const struct iovec *iov, int n)
{
    struct stat st;
    uint64_t len;
    if (!managed_file(fd, &st) || !iov_bytes(iov, n, &len))
        return um_next_writev(fd, iov, n);
    off_t off = position(fd, &st, true);
    sync_range(&st, off, len, true);
    ssize_t done = um_next_writev(fd, iov, n);
    after_write(&st, off, done);
    return done;
}

/* A size change: everything from the lower of the old and new ends on may change. */
static int resize(int fd, off_t from, int (*call)(void *), void *arg)
{
    struct stat st;
    if (!managed_file(fd, &st))
        return call(arg);
    off_t lo = st.st_size < from ? st.st_size : from;
    sync_range(&st, lo, UINT64_MAX - (uint64_t)lo, true);
    int rc = call(arg);
    if (rc == 0)
        sync_range(&st, lo, UINT64_MAX - (uint64_t)lo, true);
    return rc;
}

struct truncate_args {
    int fd;
    off_t len;
};

static int call_ftruncate(void *arg)
{
    struct truncate_args *a = arg;
    return um_next_ftruncate(a->fd, a->len);
}

EXPORT int ftruncate(int fd, off_t len)
{
    struct truncate_args a = {fd, len};
    return resize(fd, len, call_ftruncate, &a);
}

EXPORT int ftruncate64(int fd, off_t len) __attribute__((alias("ftruncate")));

struct fallocate_args {
    int fd, mode;
    off_t off, len;
};

static int call_fallocate(void *arg)
{
    struct fallocate_args *a = arg;
    return um_next_fallocate(a->fd, a->mode, a->off, a->len);
}

EXPORT int fallocate(int fd, int mode, off_t off, off_t len)
{
    struct fallocate_args a = {fd, mode, off, len};
    return resize(fd, off, call_fallocate, &a);
}

EXPORT int fallocate64(int fd, int mode, off_t off, off_t len) __attribute__((alias("fallocate")));

/* Truncation by name: open() with O_TRUNC, creat(), truncate(). The kernel drops the truncated
 * pages of its page cache, stores and all: so does the cache, before the call (else a later
 * write-back would put them into the new file); after it, the mappings follow the new size. */
static bool truncating(int dirfd, const char *path, uint64_t size, struct stat *st)
{
    if (um_shim_depth || !um_runtime_active() || um_registry_empty(&um_rt.registry))
        return false;
    int saved = errno;
    um_shim_depth++;
    bool managed = fstatat(dirfd, path, st, 0) == 0 && um_file_managed(st);
    if (managed && (uint64_t)st->st_size > size)
        um_file_truncating(st, size);
    um_shim_depth--;
    errno = saved;
    return managed;
}

static void truncated(const struct stat *st, uint64_t size)
{
    sync_range(st, (off_t)size, UINT64_MAX - size, true);
}

static int open_file(int dirfd, const char *path, int flags, mode_t mode)
{
    struct stat st;
    if (!(flags & O_TRUNC) || !truncating(dirfd, path, 0, &st))
        return um_next_openat(dirfd, path, flags, mode);
    int fd = um_next_openat(dirfd, path, flags, mode);
    if (fd >= 0)
        truncated(&st, 0);
    return fd;
}

/* open()'s mode argument is there only with O_CREAT or O_TMPFILE. */
#define MODE_ARG(flags, last)                                                   \
    mode_t mode = 0;                                                            \
    if ((flags) & O_CREAT || ((flags) & O_TMPFILE) == O_TMPFILE) {              \
        va_list ap;                                                             \
        va_start(ap, last);                                                     \
        mode = (mode_t)va_arg(ap, int);                                         \
        va_end(ap);                                                             \
    }

EXPORT int open(const char *path, int flags, ...)
{
    MODE_ARG(flags, flags);
    return open_file(AT_FDCWD, path, flags, mode);
}

EXPORT int open64(const char *path, int flags, ...) __attribute__((alias("open")));

EXPORT int openat(int dirfd, const char *path, int flags, ...)
{
    MODE_ARG(flags, flags);
    return open_file(dirfd, path, flags, mode);
}

EXPORT int openat64(int dirfd, const char *path, int flags, ...) __attribute__((alias("openat")));

EXPORT int creat(const char *path, mode_t mode)
{
    return open_file(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}

EXPORT int creat64(const char *path, mode_t mode) __attribute__((alias("creat")));

EXPORT int truncate(const char *path, off_t len)
{
    struct stat st;
    if (len < 0 || !truncating(AT_FDCWD, path, (uint64_t)len, &st))
        return um_next_truncate(path, len);
    int rc = um_next_truncate(path, len);
    if (rc == 0)
        truncated(&st, (uint64_t)len < (uint64_t)st.st_size ? (uint64_t)len : (uint64_t)st.st_size);
    return rc;
}

EXPORT int truncate64(const char *path, off_t len) __attribute__((alias("truncate")));
