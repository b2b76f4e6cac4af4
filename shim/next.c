#include "next.h"

#include <dlfcn.h>
#include <errno.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

/* Each next function: the definition after ours in the lookup order, resolved once at load,
 * or the system call itself before that (or if there is none). */
#define NEXT(ret, name, params, args, sysargs)                   \
    typedef ret name##_fn params;                                \
    static name##_fn *next_##name;                               \
    ret um_next_##name params                                    \
    {                                                            \
        if (next_##name)                                         \
            return next_##name args;                             \
        return (ret)syscall sysargs;                             \
    }

NEXT(void *, mmap, (void *addr, size_t len, int prot, int flags, int fd, off_t off),
     (addr, len, prot, flags, fd, off), (SYS_mmap, addr, len, prot, flags, fd, off))
NEXT(int, munmap, (void *addr, size_t len), (addr, len), (SYS_munmap, addr, len))
NEXT(int, msync, (void *addr, size_t len, int flags), (addr, len, flags),
     (SYS_msync, addr, len, flags))
NEXT(int, madvise, (void *addr, size_t len, int advice), (addr, len, advice),
     (SYS_madvise, addr, len, advice))
NEXT(int, mprotect, (void *addr, size_t len, int prot), (addr, len, prot),
     (SYS_mprotect, addr, len, prot))
NEXT(void *, mremap, (void *old, size_t old_len, size_t new_len, int flags, void *new_addr),
     (old, old_len, new_len, flags, new_addr), (SYS_mremap, old, old_len, new_len, flags, new_addr))
NEXT(int, mlock, (const void *addr, size_t len), (addr, len), (SYS_mlock, addr, len))
NEXT(int, mlock2, (const void *addr, size_t len, unsigned flags), (addr, len, flags),
     (SYS_mlock2, addr, len, flags))
NEXT(ssize_t, read, (int fd, void *buf, size_t len), (fd, buf, len), (SYS_read, fd, buf, len))
NEXT(ssize_t, write, (int fd, const void *buf, size_t len), (fd, buf, len),
     (SYS_write, fd, buf, len))
NEXT(ssize_t, pread, (int fd, void *buf, size_t len, off_t off), (fd, buf, len, off),
     (SYS_pread64, fd, buf, len, off))
NEXT(ssize_t, pwrite, (int fd, const void *buf, size_t len, off_t off), (fd, buf, len, off),
     (SYS_pwrite64, fd, buf, len, off))
NEXT(ssize_t, readv, (int fd, const struct iovec *iov, int n), (fd, iov, n),
     (SYS_readv, fd, iov, n))
NEXT(ssize_t, writev, (int fd, const struct iovec *iov, int n), (fd, iov, n),
     (SYS_writev, fd, iov, n))
NEXT(ssize_t, preadv, (int fd, const struct iovec *iov, int n, off_t off), (fd, iov, n, off),
     (SYS_preadv, fd, iov, n, off, 0))
NEXT(ssize_t, pwritev, (int fd, const struct iovec *iov, int n, off_t off), (fd, iov, n, off),
     (SYS_pwritev, fd, iov, n, off, 0))
NEXT(int, close, (int fd), (fd), (SYS_close, fd))
NEXT(int, close_range, (unsigned first, unsigned last, int flags), (first, last, flags),
     (SYS_close_range, first, last, flags))
NEXT(int, dup2, (int old, int new), (old, new), (SYS_dup2, old, new))
NEXT(int, dup3, (int old, int new, int flags), (old, new, flags), (SYS_dup3, old, new, flags))
NEXT(int, ftruncate, (int fd, off_t len), (fd, len), (SYS_ftruncate, fd, len))
NEXT(int, fallocate, (int fd, int mode, off_t off, off_t len), (fd, mode, off, len),
     (SYS_fallocate, fd, mode, off, len))

/* Those without a system call of the same shape: ENOSYS if libc has none (then the program
 * could not have called ours either). */
#define NEXT_LIBC(ret, name, params, args)                       \
    typedef ret name##_fn params;                                \
    static name##_fn *next_##name;                               \
    ret um_next_##name params                                    \
    {                                                            \
        if (next_##name)                                         \
            return next_##name args;                             \
        errno = ENOSYS;                                          \
        return -1;                                               \
    }

NEXT(int, openat, (int dirfd, const char *path, int flags, mode_t mode), (dirfd, path, flags, mode),
     (SYS_openat, dirfd, path, flags, mode))
NEXT(int, truncate, (const char *path, off_t len), (path, len), (SYS_truncate, path, len))
NEXT(pid_t, _Fork, (void), (), (SYS_fork))
NEXT(int, execve, (const char *path, char *const argv[], char *const envp[]), (path, argv, envp),
     (SYS_execve, path, argv, envp))
NEXT(int, execveat,
     (int dirfd, const char *path, char *const argv[], char *const envp[], int flags),
     (dirfd, path, argv, envp, flags), (SYS_execveat, dirfd, path, argv, envp, flags))
NEXT_LIBC(int, clone,
          (int (*fn)(void *), void *stack, int flags, void *arg, pid_t *parent_tid, void *tls,
           pid_t *child_tid),
          (fn, stack, flags, arg, parent_tid, tls, child_tid))
NEXT_LIBC(int, fexecve, (int fd, char *const argv[], char *const envp[]), (fd, argv, envp))
NEXT_LIBC(int, execvpe, (const char *file, char *const argv[], char *const envp[]),
          (file, argv, envp))

#define RESOLVE(name) next_##name = (name##_fn *)dlsym(RTLD_NEXT, #name)

void um_next_resolve(void)
{
    RESOLVE(mmap);
    RESOLVE(munmap);
    RESOLVE(msync);
    RESOLVE(madvise);
    RESOLVE(mprotect);
    RESOLVE(mremap);
    RESOLVE(mlock);
    RESOLVE(mlock2);
    RESOLVE(read);
    RESOLVE(write);
    RESOLVE(pread);
    RESOLVE(pwrite);
    RESOLVE(readv);
    RESOLVE(writev);
    RESOLVE(preadv);
    RESOLVE(pwritev);
    RESOLVE(close);
    RESOLVE(close_range);
    RESOLVE(dup2);
    RESOLVE(dup3);
    RESOLVE(ftruncate);
    RESOLVE(fallocate);
    RESOLVE(openat);
    RESOLVE(truncate);
    RESOLVE(_Fork);
    RESOLVE(clone);
    RESOLVE(execve);
    RESOLVE(execveat);
    RESOLVE(fexecve);
    RESOLVE(execvpe);
}
