/* pthread_atfork() handlers the program registered before its first managed mmap() read the
 * mapping (pages never filled included): prepare in the parent, parent after the fork, child in
 * the child. They must read the file's bytes and not hang (an alarm turns a hang into a
 * failure). E2E_NO_MANAGED_CHECK=1 runs it without the preload. */
#include <pthread.h>
#include <sys/wait.h>

#include "common.h"

#define N 256

static const uint8_t *map;
static int map_fd;
static volatile int read_ok[3]; /* prepare, parent, child */

static bool page_right(size_t pg)
{
    uint8_t buf[PAGE];
    if (pread(map_fd, buf, PAGE, (off_t)(pg * PAGE)) != (ssize_t)PAGE)
        return false;
    return !memcmp(buf, map + pg * PAGE, PAGE);
}

static void prepare(void)
{
    if (map)
        read_ok[0] = page_right(N - 1) && page_right(N / 2);
}

static void parent(void)
{
    if (map)
        read_ok[1] = page_right(N - 2);
}

static void child(void)
{
    if (map)
        read_ok[2] = page_right(N - 3) && page_right(N / 3);
}

int main(int argc, char **argv)
{
    CHECK(pthread_atfork(prepare, parent, child) == 0, "pthread_atfork");
    const char *dir = data_dir(argc, argv);
    const char *nm = getenv("E2E_NO_MANAGED_CHECK");
    char *path = make_file(dir, "atfork_handlers.bin", N * PAGE);
    map_fd = open_ro(path);
    map = mmap(NULL, N * PAGE, PROT_READ, MAP_SHARED, map_fd, 0);
    CHECK(map != MAP_FAILED, "mmap: %s", strerror(errno));
    if (!(nm && *nm == '1'))
        expect_managed(map);
    CHECK(map[0] == pattern_at(0), "first byte");
    alarm(30);
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0)
        _exit(read_ok[2] ? 0 : 3);
    int status;
    CHECK(waitpid(pid, &status, 0) == pid, "waitpid");
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child handler read wrong bytes (%#x)",
          status);
    CHECK(read_ok[0], "prepare handler read wrong bytes");
    CHECK(read_ok[1], "parent handler read wrong bytes");
    printf("atfork_handlers: the program's fork handlers read the mapping\n");
    return 0;
}
