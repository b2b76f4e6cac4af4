/* File I/O and a managed mapping of the same file see each other's bytes, through any
 * descriptor, as with the kernel's one page cache: pwrite/write/pwritev then a load through the
 * map; a store through the map then pread/read/preadv; ftruncate shrinking (SIGBUS past the new
 * end, zeros after it in the last page) and growing (new bytes visible); fallocate punching a
 * hole. And a second mapping of a file mapped shared and writable sees the first one's stores
 * (both stay served by the shim: they map the same cache). */
#include <setjmp.h>
#include <signal.h>
#include <sys/uio.h>

#include "common.h"

#define N 32

static sigjmp_buf jump;
static void on_sigbus(int sig) { (void)sig; siglongjmp(jump, 1); }

static bool faults(const volatile uint8_t *addr)
{
    if (sigsetjmp(jump, 1) == 0) {
        (void)*addr;
        return false;
    }
    return true;
}

int main(int argc, char **argv)
{
    const char *dir = data_dir(argc, argv);
    char *path = make_file(dir, "coherence.bin", N * PAGE);
    int fd = open(path, O_RDWR);
    int other = open(path, O_RDWR); /* a second descriptor of the same file */
    CHECK(fd >= 0 && other >= 0, "open");
    signal(SIGBUS, on_sigbus);
    uint8_t *p = mmap(NULL, N * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
    expect_managed(p);
    expect_file_bytes(other, p, 0, N * PAGE); /* everything resident */

    uint8_t v = 0xc1;
    CHECK(pwrite(other, &v, 1, 3 * PAGE + 9) == 1, "pwrite");
    CHECK(p[3 * PAGE + 9] == 0xc1, "pwrite not seen through the map: %u", p[3 * PAGE + 9]);

    p[5 * PAGE + 1] = 0xd2; /* a store, no msync */
    uint8_t b = 0;
    CHECK(pread(other, &b, 1, 5 * PAGE + 1) == 1 && b == 0xd2, "store not seen by pread: %u", b);
    p[6 * PAGE] = 0xd3;
    CHECK(lseek(other, 6 * PAGE, SEEK_SET) == 6 * PAGE && read(other, &b, 1) == 1 && b == 0xd3,
          "store not seen by read: %u", b);
    p[8 * PAGE + 2] = 0xd4;
    struct iovec iov = {&b, 1};
    CHECK(preadv(other, &iov, 1, 8 * PAGE + 2) == 1 && b == 0xd4, "store not seen by preadv");

    v = 0xe5;
    CHECK(lseek(other, 7 * PAGE + 3, SEEK_SET) >= 0 && write(other, &v, 1) == 1, "write");
    CHECK(p[7 * PAGE + 3] == 0xe5, "write not seen through the map");
    v = 0xe6;
    iov = (struct iovec){&v, 1};
    CHECK(pwritev(other, &iov, 1, 9 * PAGE) == 1, "pwritev");
    CHECK(p[9 * PAGE] == 0xe6, "pwritev not seen through the map");

    /* Shrink: the rest of the new last page reads zero, pages after it raise SIGBUS. */
    CHECK(ftruncate(other, 10 * PAGE + 100) == 0, "ftruncate");
    CHECK(p[10 * PAGE + 99] == pattern_at(10 * PAGE + 99), "byte before the new end");
    CHECK(p[10 * PAGE + 100] == 0, "byte after the new end is %u", p[10 * PAGE + 100]);
    CHECK(faults(p + 11 * PAGE), "no SIGBUS past the new end");
    CHECK(faults(p + 20 * PAGE), "no SIGBUS far past the new end");
    CHECK(p[5 * PAGE + 1] == 0xd2, "store before the end lost by the shrink");
    /* Grow: the new bytes (zeros, then written ones) show through the existing mapping. */
    CHECK(ftruncate(other, N * PAGE) == 0, "ftruncate grow");
    CHECK(!faults(p + 20 * PAGE) && p[20 * PAGE] == 0, "grown page not readable as zero");
    v = 0xf7;
    CHECK(pwrite(other, &v, 1, 25 * PAGE) == 1 && p[25 * PAGE] == 0xf7, "grown page write");
    CHECK(p[10 * PAGE + 100] == 0, "the old tail is not zero after growing");

    /* Punch a hole: zeros through the map. */
    CHECK(fallocate(other, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 2 * PAGE, PAGE) == 0,
          "fallocate: %s", strerror(errno));
    for (size_t i = 0; i < PAGE; i++)
        CHECK(p[2 * PAGE + i] == 0, "punched byte %zu is %u", i, p[2 * PAGE + i]);
    expect_file_bytes(other, p, 0, N * PAGE);

    p[12 * PAGE + 5] = 0x9a; /* a store pending write-back */
    const uint8_t *q = mmap(NULL, N * PAGE, PROT_READ, MAP_SHARED, other, 0);
    CHECK(q != MAP_FAILED, "second mmap");
    CHECK(is_managed(q) && is_managed(p), "a second mapping of the file is not managed");
    CHECK(q[12 * PAGE + 5] == 0x9a, "the pending store is not seen by the second mapping");
    p[13 * PAGE] = 0x9b;
    CHECK(q[13 * PAGE] == 0x9b, "a later store is not seen by the second mapping");
    CHECK(p[5 * PAGE + 1] == 0xd2 && p[25 * PAGE] == 0xf7, "earlier bytes lost");
    munmap((void *)q, N * PAGE);
    munmap(p, N * PAGE);
    unlink(path);
    printf("coherence: file I/O and the mapping agree both ways, through size changes\n");
    return 0;
}
