/* madvise() advice about fork() on a managed mapping behaves as on the kernel's: MADV_DONTFORK
 * leaves the range out of a fork child (a touch there raises SIGSEGV) while the rest reads the
 * file; MADV_DOFORK gives it back; MADV_WIPEONFORK is refused on a file mapping (EINVAL).
 * E2E_NO_MANAGED_CHECK=1 runs it without the preload: the kernel gives the same results. */
#include <sys/wait.h>

#include "common.h"

#define N 64


/* In a child: whether page `hole` faults and the others read the file. */
static void child_sees(int fd, const uint8_t *p, size_t hole_lo, size_t hole_hi)
{
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        for (size_t pg = 0; pg < N; pg++) {
            bool in_hole = pg >= hole_lo && pg < hole_hi;
            if (read_faults(p + pg * PAGE) != in_hole)
                _exit(10 + (int)pg);
            if (!in_hole)
                expect_file_bytes(fd, p + pg * PAGE, pg * PAGE, PAGE);
        }
        _exit(0);
    }
    int status;
    CHECK(waitpid(pid, &status, 0) == pid, "waitpid");
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child: status %#x (page %d wrong)",
          status, WIFEXITED(status) ? WEXITSTATUS(status) - 10 : -1);
}

int main(int argc, char **argv)
{
    const char *dir = data_dir(argc, argv);
    const char *nm = getenv("E2E_NO_MANAGED_CHECK");
    bool check_managed = !(nm && *nm == '1');
    char *path = make_file(dir, "dontfork.bin", N * PAGE);
    int fd = open_ro(path);
    const uint8_t *p = mmap(NULL, N * PAGE, PROT_READ, MAP_SHARED, fd, 0);
    CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
    if (check_managed)
        expect_managed(p);
    errno = 0;
    CHECK(madvise((void *)p, 4 * PAGE, MADV_WIPEONFORK) == -1 && errno == EINVAL,
          "MADV_WIPEONFORK on a file mapping: errno %d, want EINVAL", errno);
    CHECK(madvise((void *)(p + 16 * PAGE), 8 * PAGE, MADV_DONTFORK) == 0, "MADV_DONTFORK: %s",
          strerror(errno));
    child_sees(fd, p, 16, 24);
    CHECK(madvise((void *)(p + 16 * PAGE), 8 * PAGE, MADV_DOFORK) == 0, "MADV_DOFORK: %s",
          strerror(errno));
    child_sees(fd, p, 0, 0);
    expect_file_bytes(fd, p, 0, N * PAGE);
    printf("dontfork: fork advice kept as the kernel keeps it\n");
    return 0;
}
