/* Truncation by name drops the stores it truncates, as the kernel drops its truncated pages:
 * open(O_TRUNC) of a file with unwritten stores in a shared mapping, then new contents written
 * at its start and its old end (the file is as long again, zeros between) by system calls the
 * shim does not see (as stdio's own writes are); creat() likewise;
 * truncate(path) to a smaller size keeps the stores below it. Each time the mapping is unmapped
 * afterwards (which writes back what is dirty) and the file must hold the new contents only.
 * E2E_NO_MANAGED_CHECK=1 runs it without the preload. */
#include <sys/syscall.h>

#include "common.h"

#define N 32

static bool check_managed = true;

static uint8_t *map_rw(const char *path, int *fd)
{
    *fd = open(path, O_RDWR);
    CHECK(*fd >= 0, "open: %s", strerror(errno));
    uint8_t *p = mmap(NULL, N * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
    CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
    if (check_managed)
        expect_managed(p);
    return p;
}

/* "fresh" at 0, 'z' at the last byte of N pages, zeros between. */
static void expect_new_contents(const char *path)
{
    int fd = open_ro(path);
    struct stat st;
    CHECK(fstat(fd, &st) == 0 && st.st_size == N * PAGE, "size %ld", (long)st.st_size);
    static uint8_t buf[N * PAGE];
    CHECK(pread(fd, buf, sizeof buf, 0) == (ssize_t)sizeof buf, "pread");
    for (size_t i = 0; i < sizeof buf; i++) {
        uint8_t want = i < 5 ? (uint8_t)"fresh"[i] : i == sizeof buf - 1 ? 'z' : 0;
        CHECK(buf[i] == want, "byte %zu is %#x, want %#x: a truncated store came back", i,
              buf[i], want);
    }
    close(fd);
}

/* Stores everywhere, then `replace` truncates and writes "fresh". */
static void stores_then_replace(const char *dir, const char *name, int (*replace)(const char *))
{
    char *path = make_file(dir, name, N * PAGE);
    int fd;
    uint8_t *p = map_rw(path, &fd);
    for (size_t pg = 0; pg < N; pg++)
        p[pg * PAGE + 1] = 0xa5;
    int nfd = replace(path);
    CHECK(nfd >= 0, "%s: reopening: %s", name, strerror(errno));
    CHECK(syscall(SYS_pwrite64, nfd, "fresh", 5, 0) == 5, "write");
    CHECK(syscall(SYS_pwrite64, nfd, "z", 1, N * PAGE - 1) == 1, "pwrite");
    close(nfd);
    CHECK(munmap(p, N * PAGE) == 0, "munmap");
    close(fd);
    expect_new_contents(path);
    unlink(path);
    free(path);
}

static int with_o_trunc(const char *path) { return open(path, O_WRONLY | O_TRUNC); }
static int with_creat(const char *path) { return creat(path, 0644); }

int main(int argc, char **argv)
{
    const char *dir = data_dir(argc, argv);
    const char *nm = getenv("E2E_NO_MANAGED_CHECK");
    check_managed = !(nm && *nm == '1');
    stores_then_replace(dir, "truncate_o_trunc.bin", with_o_trunc);
    stores_then_replace(dir, "truncate_creat.bin", with_creat);

    /* truncate(path) to 3 pages: the store below the new end stays, those past it go. */
    char *path = make_file(dir, "truncate_path.bin", N * PAGE);
    int fd;
    uint8_t *p = map_rw(path, &fd);
    p[PAGE + 2] = 0x5a;
    for (size_t pg = 3; pg < N; pg++)
        p[pg * PAGE] = 0xa5;
    CHECK(truncate(path, 3 * PAGE) == 0, "truncate: %s", strerror(errno));
    CHECK(munmap(p, N * PAGE) == 0, "munmap");
    close(fd);
    fd = open_ro(path);
    struct stat st;
    CHECK(fstat(fd, &st) == 0 && st.st_size == 3 * PAGE, "size %ld after truncate",
          (long)st.st_size);
    uint8_t buf[3 * PAGE];
    CHECK(pread(fd, buf, sizeof buf, 0) == (ssize_t)sizeof buf, "pread");
    for (size_t i = 0; i < sizeof buf; i++) {
        uint8_t want = i == PAGE + 2 ? 0x5a : pattern_at(i);
        CHECK(buf[i] == want, "byte %zu is %u, want %u", i, buf[i], want);
    }
    close(fd);
    unlink(path);
    printf("truncate_discard: truncation by name dropped the stores it truncated\n");
    return 0;
}
