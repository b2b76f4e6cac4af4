/* Two processes under the shim that cannot share a cache map one file shared and writable:
 * first two of different UFFDMAP_GROUPs, then (as root) two of different users in the same
 * group name, whose caches are apart all the same. Every cache gives the file to the kernel
 * when the second comes, not only the newcomer's: each sees the other's stores, as with the
 * kernel's one page cache (here within a bounded wait of 5 s; the shim's own bound is 3 s).
 * Without the preload (the oracle) the same must hold at once. Also: the lock file a process
 * marks when it maps a file by the kernel is removed when the last such process exits, and not
 * before (a fork child outliving its parent keeps it).
 * usage: cache_conflict DATA_DIR [child FILE] */
#include <grp.h>
#include <pwd.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>

#include "common.h"

#define SIZE (2 * MiB)

extern char **environ;

static bool sees(volatile uint8_t *p, uint8_t want)
{
    for (int i = 0; i < 500; i++) {
        if (*p == want)
            return true;
        struct timespec ten = {0, 10 * 1000 * 1000};
        nanosleep(&ten, NULL);
    }
    return false;
}

static volatile uint8_t *map_rw(const char *path, int *fd)
{
    *fd = open(path, O_RDWR);
    CHECK(*fd >= 0, "open: %s", strerror(errno));
    volatile uint8_t *p = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
    CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
    return p;
}

static int child(const char *path)
{
    int fd;
    volatile uint8_t *p = map_rw(path, &fd);
    CHECK(p[PAGE] == 0xa1, "child: the parent's store before it came is missing");
    CHECK(write(1, "r", 1) == 1, "write");
    CHECK(sees(p + 2 * PAGE, 0xa2), "child: the parent's later store is missing");
    p[3 * PAGE] = 0xb3;
    CHECK(write(1, "d", 1) == 1, "write");
    return 0;
}

/* The child, as the user `nobody`, in this process's group (name). */
static pid_t spawn_other_user(char **args, int out)
{
    struct passwd *pw = getpwnam("nobody");
    CHECK(pw, "no user nobody");
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        if (dup2(out, 1) < 0 || setgroups(0, NULL) || setgid(pw->pw_gid) || setuid(pw->pw_uid))
            _exit(111);
        execve("/proc/self/exe", args, environ);
        _exit(112);
    }
    return pid;
}

static pid_t spawn_other_group(char **args, int out)
{
    const char *group = getenv("UFFDMAP_GROUP");
    static char other[128];
    snprintf(other, sizeof other, "UFFDMAP_GROUP=%s-other", group ? group : "conflict");
    char *saved = getenv("UFFDMAP_GROUP") ? strdup(group) : NULL;
    putenv(other);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out, 1);
    pid_t pid;
    CHECK(posix_spawn(&pid, "/proc/self/exe", &fa, NULL, args, environ) == 0, "spawn");
    if (saved)
        setenv("UFFDMAP_GROUP", saved, 1);
    else
        unsetenv("UFFDMAP_GROUP");
    free(saved);
    return pid;
}

#define UNPRIVILEGED_UFFD "/proc/sys/vm/unprivileged_userfaultfd"

static char read_sysctl(void)
{
    char c = 0;
    int fd = open(UNPRIVILEGED_UFFD, O_RDONLY);
    if (fd >= 0 && read(fd, &c, 1) != 1)
        c = 0;
    if (fd >= 0)
        close(fd);
    return c;
}

static bool write_sysctl(char c)
{
    int fd = open(UNPRIVILEGED_UFFD, O_WRONLY);
    bool ok = fd >= 0 && write(fd, &c, 1) == 1;
    if (fd >= 0)
        close(fd);
    return ok;
}

static void restore_sysctl(void)
{
    write_sysctl('0');
}

/* The file's lock file (the parent still holds its mark) cannot be opened for writing by
 * another user: with read locks alone, no process of another user can keep one of this user's
 * from taking its locks. */
static void lock_file_read_only_to_others(const char *path)
{
    struct stat st;
    CHECK(stat(path, &st) == 0, "stat");
    char lock[128];
    snprintf(lock, sizeof lock, "/dev/shm/uffdmap-%llx-%llx.presence",
             (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
    CHECK(access(lock, F_OK) == 0, "no lock file %s while this process marks the file", lock);
    struct passwd *pw = getpwnam("nobody");
    CHECK(pw, "no user nobody");
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        if (setgroups(0, NULL) || setgid(pw->pw_gid) || setuid(pw->pw_uid))
            _exit(2);
        _exit(open(lock, O_RDWR) < 0 && errno == EACCES ? 0 : 1);
    }
    int status;
    CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && !WEXITSTATUS(status),
          "user nobody could open %s for writing", lock);
}

static void pair(char **argv, const char *name, bool other_user)
{
    char *path = make_file(argv[1], name, SIZE);
    CHECK(chmod(path, 0666) == 0, "chmod");
    int fd;
    volatile uint8_t *p = map_rw(path, &fd);
    if (getenv("LD_PRELOAD"))
        expect_managed((const void *)p);
    p[PAGE] = 0xa1;
    (void)p[2 * PAGE];
    (void)p[3 * PAGE]; /* both cached here before the child comes */
    int out[2];
    CHECK(pipe(out) == 0, "pipe");
    char *args[] = {argv[0], argv[1], "child", path, NULL};
    pid_t pid = other_user ? spawn_other_user(args, out[1]) : spawn_other_group(args, out[1]);
    close(out[1]);
    char c;
    CHECK(read(out[0], &c, 1) == 1 && c == 'r', "child failed before its first check");
    p[2 * PAGE] = 0xa2;
    CHECK(read(out[0], &c, 1) == 1 && c == 'd', "child failed");
    CHECK(sees(p + 3 * PAGE, 0xb3), "parent: the child's store is missing");
    int status;
    CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && !WEXITSTATUS(status),
          "child failed");
    munmap((void *)p, SIZE);
    uint8_t b[3];
    CHECK(pread(fd, &b[0], 1, PAGE) == 1 && pread(fd, &b[1], 1, 2 * PAGE) == 1 &&
              pread(fd, &b[2], 1, 3 * PAGE) == 1,
          "pread");
    CHECK(b[0] == 0xa1 && b[1] == 0xa2 && b[2] == 0xb3, "the file lacks a store");
    close(out[0]);
    close(fd);
    if (other_user && getenv("LD_PRELOAD"))
        lock_file_read_only_to_others(path);
    printf("two caches of one file (%s): each process sees the other's stores; the file has "
           "them\n",
           other_user ? "two users" : "two groups");
}

/* Whether `nobody` can run this program, under the preload, on files in dir: a checkout in a
 * private home directory cannot be reached. */
static bool other_user_can_run(const char *dir)
{
    struct passwd *pw = getpwnam("nobody");
    if (!pw)
        return false;
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return false;
    exe[n] = 0;
    const char *so = getenv("LD_PRELOAD");
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        bool ok = setgroups(0, NULL) == 0 && setgid(pw->pw_gid) == 0 &&
                  setuid(pw->pw_uid) == 0 && access(exe, X_OK) == 0 &&
                  access(dir, R_OK | X_OK) == 0 && (!so || access(so, R_OK) == 0);
        _exit(ok ? 0 : 1);
    }
    int status;
    CHECK(waitpid(pid, &status, 0) == pid, "waitpid");
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* A process that maps a file by the kernel (MAP_LOCKED: the shim leaves it so) marks the file's
 * lock file; when it exits, with no other holder, the lock file is gone (none is left behind in
 * /dev/shm). Without the preload there is never one. */
static void mark_removed_at_exit(const char *dir)
{
    fflush(stdout); /* the children exit() */
    char *path = make_file(dir, "marked.bin", PAGE);
    struct stat st;
    CHECK(stat(path, &st) == 0, "stat");
    char lock[128];
    snprintf(lock, sizeof lock, "/dev/shm/uffdmap-%llx-%llx.presence",
             (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        int fd = open(path, O_RDONLY);
        void *p = mmap(NULL, PAGE, PROT_READ, MAP_SHARED | MAP_LOCKED, fd, 0);
        exit(fd >= 0 && p != MAP_FAILED && *(volatile uint8_t *)p == pattern_at(0) ? 0 : 1);
    }
    int status;
    CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && !WEXITSTATUS(status),
          "the MAP_LOCKED child failed");
    CHECK(access(lock, F_OK) != 0, "%s left behind by a process that exited", lock);
    printf("a file's lock file is removed when the last process marking it exits\n");
}

/* The same, with the marking process forking first and ending before its child: the child
 * still maps the file by the kernel, so its mark (and the lock file) must outlive the parent. */
static void mark_kept_for_fork_child(const char *dir)
{
    fflush(stdout); /* the children exit() */
    char *path = make_file(dir, "marked-fork.bin", PAGE);
    struct stat st;
    CHECK(stat(path, &st) == 0, "stat");
    char lock[128];
    snprintf(lock, sizeof lock, "/dev/shm/uffdmap-%llx-%llx.presence",
             (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
    int go[2], gone[2];
    CHECK(pipe(go) == 0 && pipe(gone) == 0, "pipe");
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        int fd = open(path, O_RDONLY);
        void *p = mmap(NULL, PAGE, PROT_READ, MAP_SHARED | MAP_LOCKED, fd, 0);
        if (fd < 0 || p == MAP_FAILED)
            _exit(1);
        close(gone[0]);
        if (fork() == 0) { /* holds gone[1] until its end: EOF there once its exit ran */
            char c;
            close(go[1]);
            exit(read(go[0], &c, 1) == 1 && *(volatile uint8_t *)p == pattern_at(0) ? 0 : 1);
        }
        exit(0);
    }
    close(go[0]);
    close(gone[1]);
    int status;
    CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && !WEXITSTATUS(status),
          "the MAP_LOCKED parent failed");
    bool kept = !getenv("LD_PRELOAD") || access(lock, F_OK) == 0;
    CHECK(write(go[1], "x", 1) == 1, "write");
    char c;
    CHECK(read(gone[0], &c, 1) == 0, "read");
    CHECK(kept, "%s removed while a fork child still maps the file by the kernel", lock);
    CHECK(access(lock, F_OK) != 0, "%s left behind once the fork child exited", lock);
    close(go[1]);
    close(gone[0]);
    printf("a forked child keeps the lock file marked after its parent exits\n");
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[2], "child"))
        return child(argv[3]);
    data_dir(argc, argv);
    pair(argv, "conflict.bin", false);
    mark_removed_at_exit(argv[1]);
    mark_kept_for_fork_child(argv[1]);
    if (geteuid() != 0) {
        printf("not root: the two-user cases are not run\n");
        return 0;
    }
    if (!other_user_can_run(argv[1])) {
        printf("user nobody cannot reach this program, its library or %s: the two-user cases "
               "are not run\n",
               argv[1]);
        return 0;
    }
    /* Other users get no userfaultfd by default: the child's mapping is the kernel's. */
    pair(argv, "conflict-user.bin", true);
    /* With it, both cache: two caches of the same group name. The setting is the machine's,
     * put back at exit. */
    if (read_sysctl() == '0' && write_sysctl('1')) {
        atexit(restore_sysctl);
        pair(argv, "conflict-users.bin", true);
    }
    return 0;
}
