/* Two processes under the preload mapping one file. In one group (the default) they share one
 * cache: every mapping is managed in both, and a store through the second's shared writable
 * mapping is in the first's. A process outside the group (UFFDMAP_GROUP=none: a cache of its
 * own) cannot stay coherent with the group's cache if either writes: the file then goes to the
 * kernel in every process (with a notice), and stays the kernel's while a process that gave it
 * up lives. The second process is this program re-executed with a mode argument. */
#include <sys/wait.h>

#include "common.h"

static int second(const char *path, const char *mode)
{
    bool writable = !strcmp(mode, "rw");
    int fd = open(path, writable ? O_RDWR : O_RDONLY);
    CHECK(fd >= 0, "open");
    uint8_t *p = mmap(NULL, 16 * PAGE, PROT_READ | (writable ? PROT_WRITE : 0), MAP_SHARED, fd, 0);
    CHECK(p != MAP_FAILED, "mmap");
    expect_file_bytes(fd, p, 0, 16 * PAGE);
    if (writable)
        p[3 * PAGE + 3] = 0x33; /* the first reads it in the group's cache, or the kernel's */
    printf("%s\n", is_managed(p) ? "managed" : "kernel");
    fflush(stdout);
    return 0;
}

/* The second process's verdict; alone: outside the first's group. */
static const char *run_second(const char *self, const char *dir, const char *path, const char *mode,
                              bool alone)
{
    static char line[64];
    int out[2];
    CHECK(pipe(out) == 0, "pipe");
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        dup2(out[1], 1);
        if (alone)
            setenv("UFFDMAP_GROUP", "none", 1);
        execl(self, self, dir, path, mode, (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    ssize_t n = read(out[0], line, sizeof line - 1);
    line[n > 0 ? n : 0] = '\0';
    close(out[0]);
    int status;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "second process failed: %#x", status);
    return line;
}

int main(int argc, char **argv)
{
    if (argc == 4)
        return second(argv[2], argv[3]);
    const char *dir = data_dir(argc, argv);
    char *path = make_file(dir, "two_processes.bin", 16 * PAGE);
    int fd = open(path, O_RDWR);
    uint8_t *p = mmap(NULL, 16 * PAGE, PROT_READ, MAP_SHARED, fd, 0);
    CHECK(p != MAP_FAILED, "mmap");
    expect_managed(p);
    CHECK(!strcmp(run_second("/proc/self/exe", dir, path, "ro", false), "managed\n"),
          "a second reader was not managed");
    CHECK(!strcmp(run_second("/proc/self/exe", dir, path, "rw", false), "managed\n"),
          "a writer of the same group was not managed");
    CHECK(p[3 * PAGE + 3] == 0x33, "the first does not see the store of its group's writer");
    expect_managed(p);
    /* A writer outside the group: the file is the kernel's everywhere once it has mapped. */
    CHECK(!strcmp(run_second("/proc/self/exe", dir, path, "rw", true), "kernel\n"),
          "a writer outside the group beside a managed reader was managed");
    CHECK(!is_managed(p), "the first kept caching a file a writer outside its group maps");
    expect_file_bytes(fd, p, 0, 16 * PAGE);
    CHECK(!strcmp(run_second("/proc/self/exe", dir, path, "rw", false), "kernel\n"),
          "a writer of the group was managed while the first maps the file by the kernel");
    uint8_t *q = mmap(NULL, 16 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHECK(q != MAP_FAILED, "mmap rw");
    CHECK(!is_managed(q), "the first's later mapping of the file was managed");
    q[5 * PAGE] = 0x55;
    CHECK(p[5 * PAGE] == 0x55, "two mappings of the first disagree");
    munmap(q, 16 * PAGE);
    munmap(p, 16 * PAGE);
    unlink(path);
    printf("two_processes: one group shares one cache; a conflicting cache outside it sends the "
           "file to the kernel in both\n");
    return 0;
}
