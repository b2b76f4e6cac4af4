/* A file mapped by the shim and, a second time, in a way the shim leaves to the kernel
 * (MAP_LOCKED; PROT_EXEC): as with the kernel's one page cache, each mapping sees the other's
 * stores at once, and both reach the file. Also checked without the preload (the oracle):
 * E2E runs of this program under the kernel's mmap must pass too. */
#include <pthread.h>
#include <sys/wait.h>

#include "common.h"

#define SIZE (4 * MiB)

static void check_pair(const char *dir, const char *name, int second_prot, int second_flags)
{
    char *path = make_file(dir, name, SIZE);
    int fd = open(path, O_RDWR);
    CHECK(fd >= 0, "open: %s", strerror(errno));
    volatile uint8_t *a = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHECK(a != MAP_FAILED, "mmap: %s", strerror(errno));
    const bool preload = getenv("LD_PRELOAD") != NULL;
    if (preload)
        expect_managed((const void *)a);
    a[5 * PAGE + 1] = 0xa5; /* stored before the second mapping exists */
    volatile uint8_t *b = mmap(NULL, SIZE, second_prot, MAP_SHARED | second_flags, fd, 0);
    CHECK(b != MAP_FAILED, "second mmap: %s", strerror(errno));
    CHECK(b[5 * PAGE + 1] == 0xa5, "%s: the second mapping misses a store of the first", name);
    a[9 * PAGE + 2] = 0x5a; /* stored while both exist */
    CHECK(b[9 * PAGE + 2] == 0x5a, "%s: the second mapping misses a later store of the first",
          name);
    if (second_prot & PROT_WRITE) {
        b[13 * PAGE + 3] = 0x3c;
        CHECK(a[13 * PAGE + 3] == 0x3c, "%s: the first mapping misses a store of the second",
              name);
    }
    uint8_t byte;
    CHECK(pread(fd, &byte, 1, 9 * PAGE + 2) == 1 && byte == 0x5a,
          "%s: pread misses a store made through the first mapping", name);
    CHECK(munmap((void *)a, SIZE) == 0 && munmap((void *)b, SIZE) == 0, "munmap");
    CHECK(pread(fd, &byte, 1, 5 * PAGE + 1) == 1 && byte == 0xa5, "%s: store lost", name);
    if (second_prot & PROT_WRITE)
        CHECK(pread(fd, &byte, 1, 13 * PAGE + 3) == 1 && byte == 0x3c, "%s: store lost", name);
    close(fd);
    printf("%s: both mappings see each other's stores; the file has them\n", name);
}

static void *idle(void *arg)
{
    pause();
    return arg;
}

/* _Fork() beside another thread: the child cannot share the cache, so the parent's shared
 * writable mapping becomes the kernel's; a mapping of the file made after that must see its
 * stores (and the child's). */
static void after_fork_handover(const char *dir)
{
    char *path = make_file(dir, "forked", SIZE);
    int fd = open(path, O_RDWR);
    CHECK(fd >= 0, "open: %s", strerror(errno));
    pthread_t t;
    pthread_create(&t, NULL, idle, NULL);
    volatile uint8_t *a = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHECK(a != MAP_FAILED, "mmap: %s", strerror(errno));
    a[PAGE] = 0x11;
    pid_t child = _Fork();
    CHECK(child >= 0, "_Fork: %s", strerror(errno));
    if (child == 0) {
        a[2 * PAGE] = 0x22;
        _exit(0);
    }
    int status;
    CHECK(waitpid(child, &status, 0) == child && WIFEXITED(status) && !WEXITSTATUS(status),
          "child failed");
    volatile uint8_t *b = mmap(NULL, SIZE, PROT_READ, MAP_SHARED, fd, 0);
    CHECK(b != MAP_FAILED, "second mmap: %s", strerror(errno));
    CHECK(b[PAGE] == 0x11 && b[2 * PAGE] == 0x22, "forked: stores of parent or child missing");
    CHECK(b[3 * PAGE] == pattern_at(3 * PAGE), "forked: file bytes wrong");
    a[3 * PAGE] = 0x33; /* after b has read that page */
    CHECK(b[3 * PAGE] == 0x33, "forked: a later mapping misses a store of the first");
    munmap((void *)a, SIZE);
    munmap((void *)b, SIZE);
    close(fd);
    printf("forked: after _Fork() beside a thread, a later mapping sees the first one's stores\n");
}

int main(int argc, char **argv)
{
    const char *dir = data_dir(argc, argv);
    check_pair(dir, "locked", PROT_READ | PROT_WRITE, MAP_LOCKED);
    check_pair(dir, "exec", PROT_READ | PROT_EXEC, 0);
    after_fork_handover(dir);
    return 0;
}
