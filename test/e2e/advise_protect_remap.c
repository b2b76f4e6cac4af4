/* madvise, mprotect and mremap on managed ranges behave as on the kernel's file mappings:
 * MADV_DONTNEED keeps shared stores and drops private ones; MADV_REMOVE punches a hole;
 * MADV_FREE is refused; mprotect refuses write access without a writable descriptor, writes
 * back when write access goes, and PROT_NONE faults; mremap grows, shrinks and moves. */
#include <setjmp.h>
#include <signal.h>
#include <sys/syscall.h>

#include "common.h"

#define N 32

static sigjmp_buf jump;
static void on_segv(int sig) { (void)sig; siglongjmp(jump, 1); }

static uint8_t file_byte(int fd, uint64_t off) /* the raw system call: no shim on the way */
{
    uint8_t b = 0;
    CHECK(syscall(SYS_pread64, fd, &b, 1, (off_t)off) == 1, "pread");
    return b;
}

int main(int argc, char **argv)
{
    const char *dir = data_dir(argc, argv);
    char *path = make_file(dir, "advise.bin", N * PAGE);
    int rw = open(path, O_RDWR), ro = open_ro(path);
    CHECK(rw >= 0, "open");

    uint8_t *s = mmap(NULL, N * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, rw, 0);
    CHECK(s != MAP_FAILED, "mmap shared");
    expect_managed(s);
    s[3 * PAGE] = 0x31;
    CHECK(madvise(s, 8 * PAGE, MADV_DONTNEED) == 0, "DONTNEED shared: %s", strerror(errno));
    CHECK(s[3 * PAGE] == 0x31, "DONTNEED lost a shared store");
    CHECK(file_byte(rw, 3 * PAGE) == 0x31, "shared store not written by DONTNEED");
    s[4 * PAGE + 8] = 0x32;
    CHECK(madvise(s + 4 * PAGE, PAGE, MADV_REMOVE) == 0, "REMOVE: %s", strerror(errno));
    CHECK(s[4 * PAGE + 8] == 0 && file_byte(rw, 4 * PAGE + 8) == 0, "REMOVE did not punch");
    errno = 0;
    CHECK(madvise(s, PAGE, MADV_FREE) == -1 && errno == EINVAL, "MADV_FREE: errno %d", errno);
    CHECK(madvise(s, N * PAGE, MADV_SEQUENTIAL) == 0, "SEQUENTIAL");

    /* Write access goes: stores are written back, without msync or munmap. */
    s[9 * PAGE + 1] = 0x33;
    CHECK(mprotect(s, N * PAGE, PROT_READ) == 0, "mprotect read-only");
    CHECK(file_byte(rw, 9 * PAGE + 1) == 0x33, "store not written when write access went");
    CHECK(mprotect(s, N * PAGE, PROT_READ | PROT_WRITE) == 0, "mprotect read-write");
    s[10 * PAGE] = 0x34;
    signal(SIGSEGV, on_segv);
    CHECK(mprotect(s, N * PAGE, PROT_NONE) == 0, "PROT_NONE");
    volatile bool faulted = false;
    if (sigsetjmp(jump, 1) == 0)
        (void)*(volatile uint8_t *)s;
    else
        faulted = true;
    CHECK(faulted, "no SIGSEGV under PROT_NONE");
    CHECK(mprotect(s, N * PAGE, PROT_READ) == 0, "back to read");
    CHECK(s[10 * PAGE] == 0x34 && s[9 * PAGE + 1] == 0x33, "bytes changed across mprotect");
    CHECK(munmap(s, N * PAGE) == 0, "munmap");
    CHECK(file_byte(rw, 10 * PAGE) == 0x34, "store made before PROT_NONE lost");

    /* WILLNEED reads pages in before they are touched. */
    uint8_t *w = mmap(NULL, N * PAGE, PROT_READ, MAP_SHARED, ro, 0);
    CHECK(w != MAP_FAILED, "mmap for WILLNEED");
    expect_managed(w);
    unsigned char vec[N];
    CHECK(mincore(w, N * PAGE, vec) == 0 && !(vec[20] & 1), "page present before WILLNEED");
    CHECK(madvise(w + 16 * PAGE, 8 * PAGE, MADV_WILLNEED) == 0, "WILLNEED: %s", strerror(errno));
    CHECK(mincore(w, N * PAGE, vec) == 0 && (vec[20] & 1), "page not read in by WILLNEED");
    expect_file_bytes(ro, w + 16 * PAGE, 16 * PAGE, 8 * PAGE);
    munmap(w, N * PAGE);

    /* A shared mapping of a read-only descriptor cannot be made writable. */
    uint8_t *r = mmap(NULL, N * PAGE, PROT_READ, MAP_SHARED, ro, 0);
    CHECK(r != MAP_FAILED, "mmap read-only");
    expect_managed(r);
    errno = 0;
    CHECK(mprotect(r, N * PAGE, PROT_READ | PROT_WRITE) == -1 && errno == EACCES,
          "mprotect write on a read-only descriptor: errno %d", errno);
    munmap(r, N * PAGE);

    /* Private: DONTNEED throws the program's own pages away; the file shows again. */
    uint8_t *p = mmap(NULL, N * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, ro, 0);
    CHECK(p != MAP_FAILED, "mmap private");
    expect_managed(p);
    p[20 * PAGE] = (uint8_t)(file_byte(rw, 20 * PAGE) + 1);
    CHECK(madvise(p + 16 * PAGE, 8 * PAGE, MADV_DONTNEED) == 0, "DONTNEED private");
    CHECK(p[20 * PAGE] == file_byte(rw, 20 * PAGE), "private page not reset by DONTNEED");
    munmap(p, N * PAGE);

    /* mremap: grow in place or move, shrink; the bytes stay the file's. */
    uint8_t *m = mmap(NULL, 8 * PAGE, PROT_READ, MAP_SHARED, ro, 0);
    CHECK(m != MAP_FAILED, "mmap small");
    expect_managed(m);
    CHECK(m[PAGE] == file_byte(rw, PAGE), "before mremap");
    uint8_t *g = mremap(m, 8 * PAGE, N * PAGE, MREMAP_MAYMOVE);
    CHECK(g != MAP_FAILED, "mremap grow: %s", strerror(errno));
    expect_file_bytes(ro, g, 0, N * PAGE);
    uint8_t *h = mremap(g, N * PAGE, 4 * PAGE, 0);
    CHECK(h == g, "mremap shrink: %s", strerror(errno));
    expect_file_bytes(ro, h, 0, 4 * PAGE);
    munmap(h, 4 * PAGE);
    unlink(path);
    printf("advise_protect_remap: madvise, mprotect and mremap as with the kernel\n");
    return 0;
}
