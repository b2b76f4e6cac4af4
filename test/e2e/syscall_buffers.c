/* System calls whose buffer is managed memory, compared with the kernel's page cache:
 * - write() to a managed file from a managed page not filled yet, while the fill needs the
 *   file's inode lock that the writing kernel holds (reading the file with O_DIRECT, or writing
 *   back its dirty blocks to make room in a budget full of them): must not hang;
 * - an O_DIRECT read() into a managed mapping larger than the budget: the pages the device
 *   fills must not be evicted under it (the bytes must arrive, in the mapping and the file).
 * The oracle for the bytes: a plain copy of what the file must hold, checked with pread(). A
 * hang ends the test by SIGALRM. */
#include <pthread.h>

#include "common.h"

#define SIZE (64 * MiB) /* 4x the budget the tests run with */

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "hang: a system call on a managed buffer never returned\n";
    write(2, msg, sizeof msg - 1);
    _exit(1);
}

static void expect_file(int fd, const uint8_t *want, const char *what)
{
    static uint8_t buf[MiB];
    for (uint64_t off = 0; off < SIZE; off += sizeof buf) {
        CHECK(pread(fd, buf, sizeof buf, (off_t)off) == (ssize_t)sizeof buf, "pread");
        if (memcmp(buf, want + off, sizeof buf) == 0)
            continue;
        for (size_t i = 0; i < sizeof buf; i++)
            CHECK(buf[i] == want[off + i], "%s: file byte %lu is %u, not %u", what,
                  (unsigned long)(off + i), buf[i], want[off + i]);
    }
}

/* Every 16th page of the file is written from the mapping's page 8 pages on (not filled
 * yet); before that, the first `dirty` bytes of the mapping are stored to. */
static void write_from_mapping(const char *dir, const char *name, uint64_t dirty)
{
    char *path = make_file(dir, name, SIZE);
    uint8_t *want = malloc(SIZE);
    pattern_fill(want, 0, SIZE);
    int fd = open(path, O_RDWR);
    CHECK(fd >= 0, "open: %s", strerror(errno));
    uint8_t *p = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
    expect_managed(p);
    for (uint64_t off = 0; off < dirty; off += PAGE) {
        p[off] = want[off] = (uint8_t)(off >> 12) ^ 0x5a;
    }
    for (uint64_t off = dirty; off + 9 * PAGE <= SIZE; off += 16 * PAGE) {
        /* want[] copies what the mapping holds at the source now: the file's bytes */
        memcpy(want + off, want + off + 8 * PAGE, PAGE);
        CHECK(pwrite(fd, p + off + 8 * PAGE, PAGE, (off_t)off) == (ssize_t)PAGE,
              "pwrite from the mapping: %s", strerror(errno));
    }
    CHECK(munmap(p, SIZE) == 0, "munmap");
    expect_file(fd, want, name);
    printf("%s: write() of a managed file from its unfilled pages (%lu MiB dirty first): "
           "file right\n", name, (unsigned long)(dirty / MiB));
    close(fd);
    free(want);
}

/* O_DIRECT reads of a file of the kernel's into a managed mapping of another file, 1 MiB each,
 * while a second thread touches the mapping elsewhere (more eviction). */
static volatile uint8_t *touched;
static volatile int touching;

static void *toucher(void *arg)
{
    (void)arg;
    unsigned sum = 0;
    for (uint64_t k = 0; touching; k++)
        sum += touched[(k * 7919 % (SIZE / PAGE)) * PAGE];
    return (void *)(uintptr_t)sum;
}

static void direct_read_into_mapping(const char *dir)
{
    char *src_path = make_file(dir, "direct_src", SIZE);
    int src = open(src_path, O_RDONLY | O_DIRECT);
    if (src < 0) {
        printf("direct: O_DIRECT not supported here (%s): skipped\n", strerror(errno));
        return;
    }
    /* The target holds other bytes: zeros. */
    char path[4096];
    snprintf(path, sizeof path, "%s/direct_dst", dir);
    int fd = open(path, O_CREAT | O_TRUNC | O_RDWR, 0644);
    CHECK(fd >= 0 && ftruncate(fd, SIZE) == 0, "create %s", path);
    uint8_t *p = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
    expect_managed(p);
    touched = p;
    touching = 1;
    pthread_t t;
    pthread_create(&t, NULL, toucher, NULL);
    for (uint64_t off = 0; off < SIZE; off += MiB)
        CHECK(read(src, p + off, MiB) == (ssize_t)MiB, "O_DIRECT read into the mapping: %s",
              strerror(errno));
    touching = 0;
    pthread_join(t, NULL);
    uint8_t *want = malloc(SIZE);
    pattern_fill(want, 0, SIZE);
    uint64_t wrong = 0;
    for (uint64_t off = 0; off < SIZE; off += PAGE)
        wrong += memcmp(p + off, want + off, PAGE) != 0;
    CHECK(wrong == 0, "%lu pages of the mapping lack the bytes read into them", (unsigned long)wrong);
    CHECK(munmap(p, SIZE) == 0, "munmap");
    expect_file(fd, want, "direct_dst");
    printf("direct: O_DIRECT read() of 64 MiB into a managed mapping: mapping and file right\n");
    close(fd);
    close(src);
    free(want);
}

int main(int argc, char **argv)
{
    const char *dir = data_dir(argc, argv);
    signal(SIGALRM, on_alarm);
    alarm(120);
    write_from_mapping(dir, "clean", 0);
    write_from_mapping(dir, "dirty", SIZE / 2);
    direct_read_into_mapping(dir);
    return 0;
}
