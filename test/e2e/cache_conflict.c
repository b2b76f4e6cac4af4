/* Two processes under the shim that cannot share a cache (different UFFDMAP_GROUPs) map one
 * file shared and writable. Every cache gives the file to the kernel when the second comes,
 * not only the newcomer's: each sees the other's stores, as with the kernel's one page cache
 * (here within a bounded wait of 5 s; the shim's own bound is 3 s). Without the preload (the
 * oracle) the same must hold at once.
 * usage: cache_conflict DATA_DIR [child FILE] */
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

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[2], "child"))
        return child(argv[3]);
    const char *dir = data_dir(argc, argv);
    char *path = make_file(dir, "conflict.bin", SIZE);
    int fd;
    volatile uint8_t *p = map_rw(path, &fd);
    const char *group = getenv("UFFDMAP_GROUP");
    if (getenv("LD_PRELOAD"))
        expect_managed((const void *)p);
    p[PAGE] = 0xa1;
    (void)p[2 * PAGE];
    (void)p[3 * PAGE]; /* both cached here before the child comes */
    char other[128];
    snprintf(other, sizeof other, "UFFDMAP_GROUP=%s-other", group ? group : "conflict");
    putenv(other);
    int out[2];
    CHECK(pipe(out) == 0, "pipe");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    char *args[] = {argv[0], argv[1], "child", path, NULL};
    pid_t pid;
    CHECK(posix_spawn(&pid, "/proc/self/exe", &fa, NULL, args, environ) == 0, "spawn");
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
    printf("two caches of one file: each process sees the other's stores; the file has them\n");
    return 0;
}
