/* dup2() and dup3() onto the numbers of the shim's own descriptors (the userfaultfd, memfds,
 * its descriptors of the files, the group's): the program gets exactly the kernel's result --
 * the number it asked for, now its own file, and the kernel's errno for calls that fail --
 * while the mapping's unfilled pages still read the file and its stores still reach the file
 * (not the one dup2() put there). The shim's numbers are the ones the first managed mmap()
 * opened; a number the process does not hold is the kernel's oracle for a failing call. */
#include <dirent.h>
#include <sys/syscall.h>

#include "common.h"

/* A byte the file does not hold there. */
static uint8_t flipped(uint64_t off)
{
    return (uint8_t)(pattern_at(off) ^ 0xff);
}

#define PAGES 64
#define MAX_FDS 256

/* The descriptors open now, but for the listing's own. */
static int open_fds(int *out)
{
    DIR *d = opendir("/proc/self/fd");
    CHECK(d, "opendir");
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < MAX_FDS)
        if (e->d_name[0] != '.' && atoi(e->d_name) != dirfd(d))
            out[n++] = atoi(e->d_name);
    closedir(d);
    return n;
}

static bool contains(const int *fds, int n, int fd)
{
    for (int i = 0; i < n; i++)
        if (fds[i] == fd)
            return true;
    return false;
}

static void same_file(int fd, const struct stat *want)
{
    struct stat st;
    CHECK(fstat(fd, &st) == 0, "fstat(%d): %s", fd, strerror(errno));
    CHECK(st.st_dev == want->st_dev && st.st_ino == want->st_ino,
          "descriptor %d is not the program's file", fd);
}

/* Calls that fail leave n alone and give the kernel's errno (from a free number). */
static void failing_calls(int n, int other)
{
    int closed = dup(other), free_fd = dup(other);
    close(closed);
    close(free_fd);
    struct {
        const char *what;
        long k;
        int kerr;
        int s;
        int serr;
    } c[4];
    errno = 0;
    c[0].k = syscall(SYS_dup2, closed, free_fd), c[0].kerr = errno, errno = 0;
    c[0].s = dup2(closed, n), c[0].serr = errno, c[0].what = "dup2(closed, n)";
    c[1].k = syscall(SYS_dup3, other, free_fd, 0x4), c[1].kerr = errno, errno = 0;
    c[1].s = dup3(other, n, 0x4), c[1].serr = errno, c[1].what = "dup3(other, n, bad flags)";
    c[2].k = syscall(SYS_dup3, free_fd, free_fd, 0), c[2].kerr = errno, errno = 0;
    c[2].s = dup3(n, n, 0), c[2].serr = errno, c[2].what = "dup3(n, n)";
    c[3].k = syscall(SYS_dup2, free_fd, free_fd), c[3].kerr = errno, errno = 0;
    c[3].s = dup2(n, n), c[3].serr = errno, c[3].what = "dup2(n, n)";
    for (int i = 0; i < 4; i++)
        CHECK(c[i].k == -1 && c[i].s == -1 && c[i].serr == c[i].kerr,
              "%s: %d errno %d, kernel %ld errno %d", c[i].what, c[i].s, c[i].serr, c[i].k,
              c[i].kerr);
}

int main(int argc, char **argv)
{
    alarm(120); /* a hang fails the test */
    const char *dir = data_dir(argc, argv);
    char *path = make_file(dir, "fd_overwrite.bin", PAGES * PAGE);
    char *other_path = make_file(dir, "fd_overwrite_other.bin", 4 * PAGE);
    struct stat other_st;
    CHECK(stat(other_path, &other_st) == 0, "stat");
    int before[MAX_FDS], after[MAX_FDS], ours[MAX_FDS];
    int nbefore = open_fds(before);
    int fd = open(path, O_RDWR);
    CHECK(fd >= 0, "open: %s", strerror(errno));
    uint8_t *p = mmap(NULL, PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
    expect_managed(p);
    CHECK(p[0] == pattern_at(0), "first byte");
    int nafter = open_fds(after), nours = 0;
    for (int i = 0; i < nafter; i++)
        if (after[i] != fd && !contains(before, nbefore, after[i]))
            ours[nours++] = after[i];
    CHECK(nours > 0, "the shim holds no descriptor");

    for (int i = 0; i < nours; i++) {
        int n = ours[i];
        int other = open(other_path, O_RDONLY);
        CHECK(other >= 0, "open other");
        if (i == 0)
            failing_calls(n, other);
        int saved_errno = errno = EDOM;
        int r = i % 2 ? dup3(other, n, O_CLOEXEC) : dup2(other, n);
        CHECK(r == n, "dup%s(other, %d) returned %d: %s", i % 2 ? "3" : "2", n, r,
              strerror(errno));
        CHECK(errno == saved_errno, "errno changed by a dup that succeeded: %d", errno);
        same_file(n, &other_st);
        int fl = fcntl(n, F_GETFD);
        CHECK(fl == (i % 2 ? FD_CLOEXEC : 0), "descriptor flags %d", fl);
        close(other);
    }

    /* Pages never touched are read from the file, and stores reach it. */
    expect_file_bytes(fd, p, 0, PAGES * PAGE);
    for (size_t i = 0; i < PAGES; i++)
        p[i * PAGE + 7] = flipped(i * PAGE + 7);
    CHECK(msync(p, PAGES * PAGE, MS_SYNC) == 0, "msync: %s", strerror(errno));
    int check = open(path, O_RDONLY);
    CHECK(check >= 0, "open");
    for (size_t i = 0; i < PAGES; i++) {
        uint8_t b;
        CHECK(pread(check, &b, 1, (off_t)(i * PAGE + 7)) == 1, "pread");
        CHECK(b == flipped(i * PAGE + 7), "page %zu: the store did not reach the "
              "file", i);
    }
    int other = open(other_path, O_RDONLY);
    for (size_t off = 0; off < 4 * PAGE; off++) {
        uint8_t b;
        CHECK(pread(other, &b, 1, (off_t)off) == 1 && b == pattern_at(off),
              "the other file was written at %zu", off);
    }
    /* The numbers are the program's: closing them closes them. */
    for (int i = 0; i < nours; i++) {
        CHECK(close(ours[i]) == 0, "close(%d): %s", ours[i], strerror(errno));
        errno = 0;
        CHECK(fcntl(ours[i], F_GETFD) == -1 && errno == EBADF, "%d still open", ours[i]);
    }
    CHECK(munmap(p, PAGES * PAGE) == 0, "munmap");
    unlink(path);
    unlink(other_path);
    printf("fd_overwrite: dup2/dup3 onto %d of the shim's descriptors gave the kernel's results\n",
           nours);
    return 0;
}
