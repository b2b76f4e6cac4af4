/* The functions the shim passes calls on to: the next definitions in the lookup order
 * (normally libc's), resolved early; the raw system call before that. */
#ifndef UM_NEXT_H
#define UM_NEXT_H

#include <stddef.h>
#include <sys/types.h>

void um_next_resolve(void);
void *um_next_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
int um_next_munmap(void *addr, size_t len);
int um_next_msync(void *addr, size_t len, int flags);
int um_next_madvise(void *addr, size_t len, int advice);
int um_next_mprotect(void *addr, size_t len, int prot);
void *um_next_mremap(void *old, size_t old_len, size_t new_len, int flags, void *new_addr);
int um_next_mlock(const void *addr, size_t len);
int um_next_mlock2(const void *addr, size_t len, unsigned flags);

struct iovec;
ssize_t um_next_read(int fd, void *buf, size_t len);
ssize_t um_next_write(int fd, const void *buf, size_t len);
ssize_t um_next_pread(int fd, void *buf, size_t len, off_t off);
ssize_t um_next_pwrite(int fd, const void *buf, size_t len, off_t off);
ssize_t um_next_readv(int fd, const struct iovec *iov, int n);
ssize_t um_next_writev(int fd, const struct iovec *iov, int n);
ssize_t um_next_preadv(int fd, const struct iovec *iov, int n, off_t off);
ssize_t um_next_pwritev(int fd, const struct iovec *iov, int n, off_t off);
int um_next_ftruncate(int fd, off_t len);
int um_next_close(int fd);
int um_next_close_range(unsigned first, unsigned last, int flags);
int um_next_dup2(int old, int new);
int um_next_dup3(int old, int new, int flags);
int um_next_fallocate(int fd, int mode, off_t off, off_t len);

int um_next_openat(int dirfd, const char *path, int flags, mode_t mode);
int um_next_truncate(const char *path, off_t len);

pid_t um_next__Fork(void);
int um_next_clone(int (*fn)(void *), void *stack, int flags, void *arg, pid_t *parent_tid,
                  void *tls, pid_t *child_tid);
int um_next_execve(const char *path, char *const argv[], char *const envp[]);
int um_next_execveat(int dirfd, const char *path, char *const argv[], char *const envp[],
                     int flags);
int um_next_fexecve(int fd, char *const argv[], char *const envp[]);
int um_next_execvpe(const char *file, char *const argv[], char *const envp[]);

#endif
