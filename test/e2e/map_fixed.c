/* One munmap() spanning several mappings; MAP_FIXED over a managed range, anonymous or another
 * managed file, and one the kernel refuses (the managed range must stay as it was); the same
 * file mapped twice; many files at once. */
#include <sys/syscall.h>

#include "common.h"

#define N 32 /* pages per mapping */

static const uint8_t *map_at(void *where, int fd, uint64_t off, int extra)
{
    const uint8_t *p = mmap(where, N * PAGE, PROT_READ, MAP_SHARED | extra, fd, (off_t)off);
    CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
    expect_managed(p);
    return p;
}

int main(int argc, char **argv)
{
    const char *dir = data_dir(argc, argv);
    char *a_path = make_file(dir, "map_fixed_a.bin", 4 * N * PAGE);
    int a = open_ro(a_path);

    /* Two managed mappings and an anonymous one side by side, unmapped in one call. */
    uint8_t *area = mmap(NULL, 3 * N * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(area != MAP_FAILED, "reserve");
    const uint8_t *m1 = map_at(area, a, 0, MAP_FIXED);
    const uint8_t *m2 = map_at(area + N * PAGE, a, 2 * N * PAGE, MAP_FIXED);
    expect_file_bytes(a, m1, 0, N * PAGE);
    expect_file_bytes(a, m2, 2 * N * PAGE, N * PAGE);
    CHECK(munmap(area, 3 * N * PAGE) == 0, "munmap across mappings: %s", strerror(errno));
    CHECK(msync(area, 3 * N * PAGE, MS_ASYNC) == -1 && errno == ENOMEM, "area still mapped");

    /* Anonymous MAP_FIXED over the middle of a managed mapping. */
    const uint8_t *m = map_at(NULL, a, 0, 0);
    expect_file_bytes(a, m, 0, N * PAGE);
    uint8_t *anon = mmap((void *)(m + 8 * PAGE), 8 * PAGE, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    CHECK(anon == m + 8 * PAGE, "MAP_FIXED anonymous: %s", strerror(errno));
    for (size_t i = 0; i < 8 * PAGE; i++)
        CHECK(anon[i] == 0, "fresh anonymous memory over a managed range is not zero");
    memset(anon, 0x5a, 8 * PAGE);
    expect_file_bytes(a, m, 0, 8 * PAGE);
    expect_file_bytes(a, m + 16 * PAGE, 16 * PAGE, 16 * PAGE);

    /* Another file MAP_FIXED over part of the first. */
    char *b_path = make_file(dir, "map_fixed_b.bin", N * PAGE);
    int b = open_ro(b_path);
    const uint8_t *over = mmap((void *)(m + 20 * PAGE), 4 * PAGE, PROT_READ, MAP_SHARED | MAP_FIXED,
                               b, 0);
    CHECK(over == m + 20 * PAGE, "MAP_FIXED file: %s", strerror(errno));
    expect_managed(over);
    expect_file_bytes(b, over, 0, 4 * PAGE);
    expect_file_bytes(a, m + 16 * PAGE, 16 * PAGE, 4 * PAGE);
    expect_file_bytes(a, m + 24 * PAGE, 24 * PAGE, 8 * PAGE);
    for (size_t i = 0; i < 8 * PAGE; i++)
        CHECK(anon[i] == 0x5a, "anonymous data changed");
    CHECK(munmap((void *)m, N * PAGE) == 0, "munmap");

    /* A MAP_FIXED the kernel refuses (write access to a shared mapping of a read-only file that
     * the shim does not manage): the same errno as the kernel's, and the managed range under
     * it, never touched yet, still reads the file. */
    char outside[4096];
    snprintf(outside, sizeof outside, "%s/../map_fixed_outside.bin", dir);
    free(make_file(dir, "../map_fixed_outside.bin", 4 * PAGE));
    int o = open_ro(outside);
    const uint8_t *fresh = map_at(NULL, a, 3 * N * PAGE, 0);
    void *scratch = mmap(NULL, 4 * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    errno = 0;
    long k = syscall(SYS_mmap, scratch, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
                     o, 0);
    int kerr = errno;
    CHECK(k == -1 && kerr != 0, "the kernel accepted a refused case");
    errno = 0;
    void *refused = mmap((void *)(fresh + 8 * PAGE), 4 * PAGE, PROT_READ | PROT_WRITE,
                         MAP_SHARED | MAP_FIXED, o, 0);
    CHECK(refused == MAP_FAILED && errno == kerr, "refused MAP_FIXED: errno %d, kernel %d", errno,
          kerr);
    expect_managed(fresh + 8 * PAGE);
    expect_file_bytes(a, fresh, 3 * N * PAGE, N * PAGE);
    munmap((void *)fresh, N * PAGE);
    munmap(scratch, 4 * PAGE);
    close(o);
    unlink(outside);

    /* The same file twice, at different offsets. */
    const uint8_t *x = map_at(NULL, a, 0, 0);
    const uint8_t *y = map_at(NULL, a, 4 * PAGE, 0);
    CHECK(!memcmp(x + 4 * PAGE, y, (N - 4) * PAGE), "two mappings of one file differ");
    expect_file_bytes(a, y, 4 * PAGE, N * PAGE);
    munmap((void *)x, N * PAGE);
    munmap((void *)y, N * PAGE);

    /* Many files at once. */
    enum { FILES = 64 };
    const uint8_t *maps[FILES];
    int fds[FILES];
    char *paths[FILES];
    for (int i = 0; i < FILES; i++) {
        char name[64];
        snprintf(name, sizeof name, "map_fixed_many_%d.bin", i);
        paths[i] = make_file(dir, name, (uint64_t)(i + 1) * PAGE + 17);
        fds[i] = open_ro(paths[i]);
        maps[i] = mmap(NULL, (size_t)(i + 1) * PAGE + 17, PROT_READ, MAP_PRIVATE, fds[i], 0);
        CHECK(maps[i] != MAP_FAILED, "mmap %d", i);
        expect_managed(maps[i]);
        close(fds[i]); /* the mapping outlives the descriptor, as with the kernel */
    }
    for (int i = FILES - 1; i >= 0; i--) {
        int fd = open_ro(paths[i]);
        expect_file_bytes(fd, maps[i], 0, (size_t)(i + 1) * PAGE + 17);
        close(fd);
        munmap((void *)maps[i], (size_t)(i + 1) * PAGE + 17);
        unlink(paths[i]);
    }
    unlink(a_path);
    unlink(b_path);
    printf("map_fixed: spanning munmap, MAP_FIXED replacements, double and many mappings\n");
    return 0;
}
