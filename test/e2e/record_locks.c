/* The program's POSIX record locks on a file survive its mappings: closing any descriptor of a
 * file drops every such lock the process holds on it, so the shim must never close one of its
 * own descriptors of the file while the program may hold locks (sqlite holds its database's
 * lock for the life of a connection). A lock taken, then the file mapped, read, unmapped,
 * mapped again and the mapping dropped again; each time another process must still see the
 * lock, as with the kernel. E2E_NO_MANAGED_CHECK=1 runs it without the preload. */
#include <sys/wait.h>

#include "common.h"

/* Whether another process sees a lock on bytes [100, 200) (F_GETLK from a child). */
static bool lock_seen(int fd)
{
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 100, .l_len = 100};
        if (fcntl(fd, F_GETLK, &fl))
            _exit(2);
        _exit(fl.l_type == F_RDLCK && fl.l_pid == getppid() ? 0 : 1);
    }
    int status;
    CHECK(waitpid(pid, &status, 0) == pid, "waitpid");
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) != 2, "F_GETLK failed");
    return WEXITSTATUS(status) == 0;
}

int main(int argc, char **argv)
{
    const char *dir = data_dir(argc, argv);
    const char *nm = getenv("E2E_NO_MANAGED_CHECK");
    bool check_managed = !(nm && *nm == '1');
    char *path = make_file(dir, "record_locks.bin", 64 * PAGE);
    int fd = open(path, O_RDWR);
    CHECK(fd >= 0, "open: %s", strerror(errno));
    struct flock fl = {.l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 100, .l_len = 100};
    CHECK(fcntl(fd, F_SETLK, &fl) == 0, "F_SETLK: %s", strerror(errno));
    CHECK(lock_seen(fd), "the lock is not there before any mapping");
    for (int round = 0; round < 2; round++) {
        uint8_t *p = mmap(NULL, 64 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
        if (check_managed)
            expect_managed(p);
        expect_file_bytes(fd, p, 0, 64 * PAGE);
        CHECK(lock_seen(fd), "round %d: the lock was dropped by mapping the file", round);
        CHECK(munmap(p, 64 * PAGE) == 0, "munmap");
        CHECK(lock_seen(fd), "round %d: the lock was dropped by unmapping the file", round);
    }
    printf("record_locks: the program's record lock outlived its mappings\n");
    return 0;
}
