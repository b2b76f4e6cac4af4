/* madvise() and mprotect() over a range with a hole in it (a part unmapped), on managed mappings
 * and on the kernel's own mappings of a copy of the file (raw system calls, unseen by the
 * shim): the kernel applies the advice to the mapped parts and fails with ENOMEM (mprotect()
 * stops at the hole); the shim must give the same result and then behave as the kernel did:
 * the same bytes (MADV_DONTNEED, MADV_REMOVE), the same ranges left out of a fork() child
 * (MADV_DONTFORK), the same protection in parent and child (mprotect()). Alarms turn a hang
 * into a failure. E2E_NO_MANAGED_CHECK=1 runs it without the preload. */
#include <sys/syscall.h>
#include <sys/wait.h>

#include "common.h"

#define N 64
#define HOLE_LO 20
#define HOLE_HI 24

static bool check_managed = true;

struct pair {
    uint8_t *m, *k;
    int mfd, kfd;
    const char *what;
};

static void punch_hole(struct pair *p)
{
    CHECK(munmap(p->m + HOLE_LO * PAGE, (HOLE_HI - HOLE_LO) * PAGE) == 0, "munmap");
    syscall(SYS_munmap, p->k + HOLE_LO * PAGE, (HOLE_HI - HOLE_LO) * PAGE);
}

static bool in_hole(size_t pg) { return pg >= HOLE_LO && pg < HOLE_HI; }

static void same_bytes(struct pair *p, const char *when)
{
    for (size_t pg = 0; pg < N; pg++)
        if (!in_hole(pg))
            CHECK(!memcmp(p->m + pg * PAGE, p->k + pg * PAGE, PAGE),
                  "%s %s: page %zu differs from the kernel's", p->what, when, pg);
}

static void same_files(struct pair *p)
{
    static uint8_t a[N * PAGE], b[N * PAGE];
    CHECK(pread(p->mfd, a, sizeof a, 0) == (ssize_t)sizeof a, "pread");
    CHECK(pread(p->kfd, b, sizeof b, 0) == (ssize_t)sizeof b, "pread");
    CHECK(!memcmp(a, b, sizeof a), "%s: the files differ", p->what);
}

static void advise(struct pair *p, size_t pg, size_t pages, int advice)
{
    errno = 0;
    int r = madvise(p->m + pg * PAGE, pages * PAGE, advice), e = errno;
    errno = 0;
    int kr = (int)syscall(SYS_madvise, p->k + pg * PAGE, pages * PAGE, advice);
    CHECK(r == kr && (r == 0 || e == errno), "%s: madvise(%d) gave %d (errno %d), kernel %d (%d)",
          p->what, advice, r, e, kr, errno);
}

static void protect(struct pair *p, size_t pg, size_t pages, int prot)
{
    errno = 0;
    int r = mprotect(p->m + pg * PAGE, pages * PAGE, prot), e = errno;
    errno = 0;
    int kr = (int)syscall(SYS_mprotect, p->k + pg * PAGE, pages * PAGE, prot);
    CHECK(r == kr && (r == 0 || e == errno), "%s: mprotect gave %d (errno %d), kernel %d (%d)",
          p->what, r, e, kr, errno);
}

static sigjmp_buf write_jump;

static void on_write_fault(int sig)
{
    (void)sig;
    siglongjmp(write_jump, 1);
}

/* Whether a store to *q faults (it stores back the byte there). */
static bool write_faults(volatile uint8_t *q)
{
    struct sigaction sa = {.sa_handler = on_write_fault}, old;
    sigaction(SIGSEGV, &sa, &old);
    bool faulted = sigsetjmp(write_jump, 1) != 0;
    if (!faulted)
        *q = *q;
    sigaction(SIGSEGV, &old, NULL);
    return faulted;
}

/* The first page that faults on a read, or on a store, in one mapping and not the other, or
 * -1; *stores says which. */
static int compare_access(struct pair *p, bool *stores)
{
    for (size_t pg = 0; pg < N; pg++) {
        if (in_hole(pg))
            continue;
        bool mr = read_faults(p->m + pg * PAGE);
        *stores = false;
        if (mr != read_faults(p->k + pg * PAGE))
            return (int)pg;
        *stores = true;
        if (!mr && write_faults(p->m + pg * PAGE) != write_faults(p->k + pg * PAGE))
            return (int)pg;
    }
    return -1;
}

/* The same in the process and in a fork() child. */
static void same_access(struct pair *p, const char *when)
{
    bool stores;
    int pg = compare_access(p, &stores);
    CHECK(pg < 0, "%s %s: page %d %s differently from the kernel's", p->what, when, pg,
          stores ? "takes stores" : "reads");
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        alarm(30);
        _exit(compare_access(p, &stores) < 0 ? 0 : 1);
    }
    int status;
    CHECK(waitpid(pid, &status, 0) == pid, "waitpid");
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
          "%s %s: a fork child sees the mapping differently from the kernel's (status %#x)",
          p->what, when, status);
}

static void run(const char *dir, int type, const char *what)
{
    char name[64];
    snprintf(name, sizeof name, "madv_hole_%s.bin", what);
    char *mpath = make_file(dir, name, N * PAGE);
    snprintf(name, sizeof name, "madv_hole_%s.kernel.bin", what);
    char *kpath = make_file(dir, name, N * PAGE);
    struct pair p = {.mfd = open(mpath, O_RDWR), .kfd = open(kpath, O_RDWR), .what = what};
    CHECK(p.mfd >= 0 && p.kfd >= 0, "open: %s", strerror(errno));
    p.m = mmap(NULL, N * PAGE, PROT_READ | PROT_WRITE, type, p.mfd, 0);
    p.k = (uint8_t *)syscall(SYS_mmap, NULL, N * PAGE, PROT_READ | PROT_WRITE, type, p.kfd, 0);
    CHECK(p.m != MAP_FAILED && p.k != MAP_FAILED, "mmap: %s", strerror(errno));
    if (check_managed)
        expect_managed(p.m);
    for (size_t pg = 0; pg < N; pg++) {
        p.m[pg * PAGE + 3] = 0x61;
        p.k[pg * PAGE + 3] = 0x61;
    }
    punch_hole(&p);
    advise(&p, 8, 24, MADV_DONTNEED);
    same_bytes(&p, "after MADV_DONTNEED");
    if (type == MAP_SHARED) {
        advise(&p, 16, 12, MADV_REMOVE);
        same_bytes(&p, "after MADV_REMOVE");
        CHECK(msync(p.m, HOLE_LO * PAGE, MS_SYNC) == 0 &&
                  msync(p.m + HOLE_HI * PAGE, (N - HOLE_HI) * PAGE, MS_SYNC) == 0,
              "msync: %s", strerror(errno));
        same_files(&p);
    }
    advise(&p, 12, 16, MADV_DONTFORK);
    same_access(&p, "after MADV_DONTFORK");
    advise(&p, 12, 16, MADV_DOFORK);
    protect(&p, 8, 24, PROT_READ);
    same_access(&p, "after mprotect(PROT_READ)");
    protect(&p, 0, N, PROT_READ | PROT_WRITE);
    same_access(&p, "after mprotect(PROT_READ | PROT_WRITE)");
    same_bytes(&p, "at the end");
    CHECK(munmap(p.m, N * PAGE) == 0, "munmap");
    if (type == MAP_SHARED)
        same_files(&p);
    syscall(SYS_munmap, p.k, N * PAGE);
    close(p.mfd);
    close(p.kfd);
    free(mpath);
    free(kpath);
}

int main(int argc, char **argv)
{
    alarm(120);
    const char *dir = data_dir(argc, argv);
    const char *nm = getenv("E2E_NO_MANAGED_CHECK");
    check_managed = !(nm && *nm == '1');
    run(dir, MAP_PRIVATE, "private");
    run(dir, MAP_SHARED, "shared");
    printf("madv_hole: advice over a hole did what the kernel's does\n");
    return 0;
}
