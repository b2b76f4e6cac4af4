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
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "../core/runtime.h"
#include "bounce.h"
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
    bool managed = false;
    if (fstat(fd, st) == 0 && S_ISREG(st->st_mode)) {
        struct um_shim_call call;
        um_shim_enter(&call);
        managed = um_file_managed(st);
        um_shim_leave(&call);
    }
    errno = saved;
    return managed;
}

/* The n iovecs at iov, copied to out[] without trusting the pointer (as the kernel does: a bad
 * one must give the program EFAULT, not SIGSEGV), and their total length. False if the kernel
 * would refuse them (then the call goes straight to it, which says why). */
static bool iov_copy(const struct iovec *iov, int n, struct iovec *out, uint64_t *total)
{
    if (n < 0 || n > IOV_MAX)
        return false;
    struct iovec local = {out, (size_t)n * sizeof *out};
    struct iovec remote = {(void *)iov, local.iov_len};
    if (n && process_vm_readv(getpid(), &local, 1, &remote, 1, 0) != (ssize_t)local.iov_len)
        return false;
    *total = 0;
    for (int i = 0; i < n; i++) {
        if (out[i].iov_len > SSIZE_MAX - *total)
            return false; /* the kernel's EINVAL */
        *total += out[i].iov_len;
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
    struct um_shim_call call;
    um_shim_enter(&call);
    um_file_sync(st, (uint64_t)off, len, write);
    um_shim_leave(&call);
    errno = saved;
}

/* Reads: into any buffer (the descriptor need not be managed: an O_DIRECT read pins the
 * buffer), after stores to the bytes read, if the file is managed, are written back. off < 0:
 * at the file position. */
static ssize_t read_into(int fd, const struct iovec *iov, int n, uint64_t total, off_t off)
{
    struct stat st;
    if (managed_file(fd, &st))
        sync_range(&st, off < 0 ? position(fd, &st, false) : off, total, false);
    if (um_bounce_needed(fd, iov, n, total))
        return um_bounce_read(fd, iov, n, total, off);
    if (off < 0)
        return n == 1 ? um_next_read(fd, iov[0].iov_base, iov[0].iov_len) : um_next_readv(fd, iov, n);
    return n == 1 ? um_next_pread(fd, iov[0].iov_base, iov[0].iov_len, off)
                  : um_next_preadv(fd, iov, n, off);
}

/* Writes to a managed file: stores to the bytes written are written back first and the blocks
 * dropped after. off < 0: at the file position. */
static ssize_t write_managed(int fd, const struct stat *st, const struct iovec *iov, int n,
                             uint64_t total, off_t off)
{
    off_t at = off < 0 ? position(fd, st, true) : off;
    sync_range(st, at, total, true);
    ssize_t done;
    if (um_bounce_needed(fd, iov, n, total))
        done = um_bounce_write(fd, iov, n, total, off);
    else if (off < 0)
        done = n == 1 ? um_next_write(fd, iov[0].iov_base, iov[0].iov_len) : um_next_writev(fd, iov, n);
    else
        done = n == 1 ? um_next_pwrite(fd, iov[0].iov_base, iov[0].iov_len, off)
                      : um_next_pwritev(fd, iov, n, off);
    if (done > 0)
        sync_range(st, at, (uint64_t)done, true);
    return done;
}

EXPORT ssize_t pread(int fd, void *buf, size_t len, off_t off)
{
    if (!um_runtime_active() || um_registry_empty(&um_rt.registry) || off < 0)
        return um_next_pread(fd, buf, len, off);
    struct iovec one = {buf, len};
    return read_into(fd, &one, 1, len, off);
}

EXPORT ssize_t pread64(int fd, void *buf, size_t len, off_t off) __attribute__((alias("pread")));

EXPORT ssize_t read(int fd, void *buf, size_t len)
{
    if (!um_runtime_active() || um_registry_empty(&um_rt.registry))
        return um_next_read(fd, buf, len);
    struct iovec one = {buf, len};
    return read_into(fd, &one, 1, len, -1);
}

/* The vector calls, once something is managed: the iovecs are copied first (a small array on
 * the stack, larger ones in memory of their own, kept off the fast path: threads with small
 * stacks and signal handlers call these too). off < 0: at the file position. */
#define SMALL_IOV 64

__attribute__((noinline)) static ssize_t vector_call(bool reading, int fd,
                                                     const struct iovec *iov, int n, off_t off)
{
    struct iovec small[SMALL_IOV], *copy = small;
    size_t bytes = (size_t)(n > 0 ? n : 0) * sizeof *copy;
    if (n > SMALL_IOV && n <= IOV_MAX &&
        (copy = um_next_mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                             -1, 0)) == MAP_FAILED)
        copy = NULL;
    uint64_t len;
    struct stat st;
    ssize_t done = -2; /* the kernel's call, below */
    if (!reading && !managed_file(fd, &st))
        ;
    else if (!copy || !iov_copy(iov, n, copy, &len))
        ;
    else if (reading)
        done = read_into(fd, copy, n, len, off);
    else
        done = write_managed(fd, &st, copy, n, len, off);
    int err = errno;
    if (copy && copy != small)
        um_next_munmap(copy, bytes);
    errno = err;
    if (done != -2)
        return done;
    if (reading)
        return off < 0 ? um_next_readv(fd, iov, n) : um_next_preadv(fd, iov, n, off);
    return off < 0 ? um_next_writev(fd, iov, n) : um_next_pwritev(fd, iov, n, off);
}

static bool anything_managed(void)
{
    return um_runtime_active() && !um_registry_empty(&um_rt.registry);
}

EXPORT ssize_t preadv(int fd, const struct iovec *iov, int n, off_t off)
{
    if (!anything_managed() || off < 0)
        return um_next_preadv(fd, iov, n, off);
    return vector_call(true, fd, iov, n, off);
}

EXPORT ssize_t preadv64(int fd, const struct iovec *iov, int n, off_t off)
    __attribute__((alias("preadv")));

EXPORT ssize_t readv(int fd, const struct iovec *iov, int n)
{
    if (!anything_managed())
        return um_next_readv(fd, iov, n);
    return vector_call(true, fd, iov, n, -1);
}

EXPORT ssize_t pwrite(int fd, const void *buf, size_t len, off_t off)
{
    struct stat st;
    if (off < 0 || !managed_file(fd, &st))
        return um_next_pwrite(fd, buf, len, off);
    struct iovec one = {(void *)buf, len};
    return write_managed(fd, &st, &one, 1, len, off);
}

EXPORT ssize_t pwrite64(int fd, const void *buf, size_t len, off_t off)
    __attribute__((alias("pwrite")));

EXPORT ssize_t write(int fd, const void *buf, size_t len)
{
    struct stat st;
    if (!managed_file(fd, &st))
        return um_next_write(fd, buf, len);
    struct iovec one = {(void *)buf, len};
    return write_managed(fd, &st, &one, 1, len, -1);
}

EXPORT ssize_t pwritev(int fd, const struct iovec *iov, int n, off_t off)
{
    if (!anything_managed() || off < 0)
        return um_next_pwritev(fd, iov, n, off);
    return vector_call(false, fd, iov, n, off);
}

EXPORT ssize_t pwritev64(int fd, const struct iovec *iov, int n, off_t off)
    __attribute__((alias("pwritev")));

EXPORT ssize_t writev(int fd, const struct iovec *iov, int n)
{
    if (!anything_managed())
        return um_next_writev(fd, iov, n);
    return vector_call(false, fd, iov, n, -1);
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
    struct um_shim_call call;
    um_shim_enter(&call);
    bool managed = fstatat(dirfd, path, st, 0) == 0 && um_file_managed(st);
    if (managed && (uint64_t)st->st_size > size)
        um_file_truncating(st, size);
    um_shim_leave(&call);
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
