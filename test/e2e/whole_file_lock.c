/* Record locks on the whole file (length 0: to the end and beyond) taken after the file is
 * mapped: by the program itself (POSIX and OFD locks) and by another process, with fcntl()
 * and lockf(), as with a kernel mapping of the file, which takes no lock at all. The shim's own
 * rendezvous between processes must not conflict with any of them. Every wait is bounded. */
#include <sys/syscall.h>
#include <sys/wait.h>

#include "common.h"

#define PAGES 16

static int lock(int fd, int cmd, short type)
{
    struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    errno = 0;
    return fcntl(fd, cmd, &fl) ? errno : 0;
}

/* In a child: a POSIX lock on the whole file, without and with waiting, then lockf(). */
static int child_locks(const char *path)
{
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        alarm(20);
        int fd = open(path, O_RDWR);
        if (fd < 0 || lock(fd, F_SETLK, F_WRLCK) || lock(fd, F_SETLK, F_UNLCK) ||
            lock(fd, F_SETLKW, F_RDLCK) || lock(fd, F_SETLK, F_UNLCK) ||
            lockf(fd, F_LOCK, 0) || lockf(fd, F_ULOCK, 0))
            _exit(1);
        _exit(0);
    }
    int status;
    CHECK(waitpid(pid, &status, 0) == pid, "waitpid");
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Every way of locking the whole file: 0, or which one failed. */
static int whole_file_locks(int fd, const char *path)
{
    if (lock(fd, F_SETLK, F_WRLCK) || lock(fd, F_SETLK, F_UNLCK))
        return 1;
    if (lock(fd, F_SETLK, F_RDLCK) || lock(fd, F_SETLK, F_UNLCK))
        return 2;
    if (lockf(fd, F_TLOCK, 0) || lockf(fd, F_ULOCK, 0))
        return 3;
    int ofd = open(path, O_RDWR);
    CHECK(ofd >= 0, "open");
    int r = lock(ofd, F_OFD_SETLK, F_WRLCK) || lock(ofd, F_OFD_SETLK, F_UNLCK) ? 4 : 0;
    close(ofd);
    if (r)
        return r;
    return child_locks(path) ? 5 : 0;
}

static void case_of(const char *path, int prot, int flags)
{
    int fd = open(path, O_RDWR);
    CHECK(fd >= 0, "open: %s", strerror(errno));
    void *k = (void *)syscall(SYS_mmap, NULL, PAGES * PAGE, prot, flags, fd, 0);
    CHECK(k != MAP_FAILED, "kernel mmap");
    int kernel = whole_file_locks(fd, path);
    syscall(SYS_munmap, k, PAGES * PAGE);
    uint8_t *p = mmap(NULL, PAGES * PAGE, prot, flags, fd, 0);
    CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
    expect_managed(p);
    CHECK(p[0] == pattern_at(0), "first byte");
    int shim = whole_file_locks(fd, path);
    CHECK(shim == kernel, "prot %d flags %d: lock %d failed (%s) on a managed mapping, kernel's %d",
          prot, flags, shim, strerror(errno), kernel);
    CHECK(munmap(p, PAGES * PAGE) == 0, "munmap");
    close(fd);
}

int main(int argc, char **argv)
{
    alarm(120);
    const char *dir = data_dir(argc, argv);
    char *path = make_file(dir, "whole_file_lock.bin", PAGES * PAGE);
    case_of(path, PROT_READ, MAP_SHARED);
    case_of(path, PROT_READ | PROT_WRITE, MAP_SHARED);
    case_of(path, PROT_READ | PROT_WRITE, MAP_PRIVATE);
    unlink(path);
    printf("whole_file_lock: whole-file locks behave as with the kernel's mapping\n");
    return 0;
}
