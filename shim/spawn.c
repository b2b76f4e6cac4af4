/* New processes the pthread_atfork() handlers do not see, and new program images.
 *
 * _Fork() and clone() without CLONE_VM copy the address space without running the handlers
 * that make a fork() child a member of the cache (core/fork.c); a child left with unregistered
 * mappings of the cache's memfds would read zeros from pages not yet filled, and put pages of
 * zeros into the memfds for every process. So they are wrapped: a _Fork() child joins like a
 * fork() child when nothing else runs beside the caller (joining starts threads, which may
 * allocate), and otherwise — and always for clone(), whose child runs on the caller's copy of a
 * thread that glibc did not set up — its inherited ranges become the kernel's mappings of the
 * files. A system call made without glibc (syscall(SYS_clone)) is beyond reach.
 *
 * execve() and the rest of the family: the new image keeps nothing of the cache, so stores are
 * written back first, as at exit. */
#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stddef.h>
#include <unistd.h>

#include "../core/runtime.h"
#include "next.h"
#include "shim.h"

#define EXPORT __attribute__((visibility("default")))

extern char **environ;

static bool fork_wrapped(void) { return !um_shim_depth && um_runtime_active(); }

EXPORT pid_t _Fork(void)
{
    if (!fork_wrapped())
        return um_next__Fork();
    struct um_shim_call call;
    um_shim_enter(&call);
    um_fork_prepare(um_fork_may_join(), false);
    pid_t pid = um_next__Fork();
    int err = errno;
    if (pid == 0)
        um_fork_child();
    else
        um_fork_parent();
    um_shim_leave(&call);
    errno = err;
    return pid;
}

struct clone_start {
    int (*fn)(void *);
    void *arg;
    struct um_shim_call call;
};

/* The child's first steps, on its own stack. `start` is in the caller's frame, which the child
 * has a copy of (no CLONE_VM). */
static int clone_child(void *p)
{
    struct clone_start *start = p;
    um_fork_child();
    um_shim_leave(&start->call);
    return start->fn(start->arg);
}

EXPORT int clone(int (*fn)(void *), void *stack, int flags, void *arg, ...)
{
    /* Passed on as given: clone() reads them only where flags ask for them. */
    va_list ap;
    va_start(ap, arg);
    pid_t *parent_tid = va_arg(ap, pid_t *);
    void *tls = va_arg(ap, void *);
    pid_t *child_tid = va_arg(ap, pid_t *);
    va_end(ap);
    if ((flags & CLONE_VM) || !fork_wrapped())
        return um_next_clone(fn, stack, flags, arg, parent_tid, tls, child_tid);
    struct clone_start start = {.fn = fn, .arg = arg};
    um_shim_enter(&start.call);
    um_fork_prepare(false, flags & CLONE_FILES);
    int pid = um_next_clone(clone_child, stack, flags, &start, parent_tid, tls, child_tid);
    int err = errno;
    um_fork_parent();
    um_shim_leave(&start.call);
    errno = err;
    return pid;
}

static void before_exec(void)
{
    if (um_shim_depth || !um_runtime_active())
        return;
    int err = errno;
    struct um_shim_call call;
    um_shim_enter(&call);
    um_runtime_before_exec();
    um_shim_leave(&call);
    errno = err;
}

EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
    before_exec();
    return um_next_execve(path, argv, envp);
}

EXPORT int execveat(int dirfd, const char *path, char *const argv[], char *const envp[],
                    int flags)
{
    before_exec();
    return um_next_execveat(dirfd, path, argv, envp, flags);
}

EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
    before_exec();
    return um_next_fexecve(fd, argv, envp);
}

EXPORT int execv(const char *path, char *const argv[])
{
    before_exec();
    return um_next_execve(path, argv, environ);
}

EXPORT int execvp(const char *file, char *const argv[])
{
    before_exec();
    return um_next_execvpe(file, argv, environ);
}

EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
    before_exec();
    return um_next_execvpe(file, argv, envp);
}

/* execl(), execlp(), execle(): the arguments up to the NULL, as an array on the stack (as libc
 * does), with `ap` left just past the NULL (execle()'s environment follows it). */
#define COLLECT_ARGS(argv, first, ap)                           \
    va_list ap;                                                 \
    va_start(ap, first);                                        \
    size_t argc = 1;                                            \
    while (va_arg(ap, char *))                                  \
        argc++;                                                 \
    va_end(ap);                                                 \
    char *argv[argc + 1];                                       \
    argv[0] = (char *)(first);                                  \
    va_start(ap, first);                                        \
    for (size_t i = 1; i <= argc; i++)                          \
        argv[i] = va_arg(ap, char *)

EXPORT int execl(const char *path, const char *arg, ...)
{
    COLLECT_ARGS(argv, arg, ap);
    va_end(ap);
    return execve(path, argv, environ);
}

EXPORT int execlp(const char *file, const char *arg, ...)
{
    COLLECT_ARGS(argv, arg, ap);
    va_end(ap);
    return execvpe(file, argv, environ);
}

EXPORT int execle(const char *path, const char *arg, ...)
{
    COLLECT_ARGS(argv, arg, ap);
    char *const *envp = va_arg(ap, char *const *);
    va_end(ap);
    return execve(path, argv, envp);
}
