/* Stores left without msync() or munmap() reach the file when the process ends by returning
 * from main(), by exit() called from another thread while the main thread still runs, and by
 * quick_exit() (which runs no destructor, only at_quick_exit() handlers). Each
 * case runs in a child process (re-executed under the same preload); the parent reads the
 * file afterwards. */
#include <pthread.h>
#include <sys/wait.h>

#include "common.h"

#define SIZE (64 * PAGE)

static uint8_t *map_rw(const char *path)
{
    int fd = open(path, O_RDWR);
    CHECK(fd >= 0, "open");
    uint8_t *p = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
    expect_managed(p);
    return p;
}

static void *exit_from_thread(void *arg)
{
    (void)arg;
    exit(0);
}

static int child(const char *mode, const char *path)
{
    uint8_t *p = map_rw(path);
    memset(p + 10 * PAGE, 0xee, 3 * PAGE);
    p[40 * PAGE + 7] = 0x11;
    if (!strcmp(mode, "thread-exit")) {
        p[50 * PAGE] = 0x22;
        pthread_t t;
        pthread_create(&t, NULL, exit_from_thread, NULL);
        for (;;)
            p[50 * PAGE] = 0x22; /* the main thread keeps storing while the process exits */
    }
    if (!strcmp(mode, "quick_exit"))
        quick_exit(0);
    return 0;
}

static void expect_stores(const char *path, bool main_thread_stored)
{
    int fd = open_ro(path);
    uint8_t buf[SIZE];
    CHECK(pread(fd, buf, SIZE, 0) == SIZE, "pread");
    for (size_t i = 0; i < SIZE; i++) {
        uint8_t want = pattern_at(i);
        if (i >= 10 * PAGE && i < 13 * PAGE)
            want = 0xee;
        else if (i == 40 * PAGE + 7)
            want = 0x11;
        else if (i == 50 * PAGE && main_thread_stored)
            want = 0x22;
        CHECK(buf[i] == want, "file byte %zu is %u, want %u", i, buf[i], want);
    }
    close(fd);
}

int main(int argc, char **argv)
{
    if (argc == 4)
        return child(argv[2], argv[3]);
    const char *dir = data_dir(argc, argv);
    static const char *const modes[] = {"return", "thread-exit", "quick_exit"};
    for (int i = 0; i < 3; i++) {
        char *path = make_file(dir, "exit_writeback.bin", SIZE);
        pid_t pid = fork();
        CHECK(pid >= 0, "fork");
        if (pid == 0) {
            execl("/proc/self/exe", argv[0], dir, modes[i], path, (char *)NULL);
            _exit(127);
        }
        int status;
        CHECK(waitpid(pid, &status, 0) == pid, "waitpid");
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: child status %#x", modes[i],
              status);
        expect_stores(path, i == 1);
        unlink(path);
        free(path);
    }
    printf("exit_writeback: stores reached the file at return from main, at exit() from a "
           "thread and at quick_exit()\n");
    return 0;
}
