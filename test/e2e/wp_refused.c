/* wp_refused FILE MODE: stores through a shared mapping of FILE (1 MiB) after a seccomp filter
 * made every UFFDIO_WRITEPROTECT (or UFFDIO_CONTINUE, UFFDIO_COPY) fail with ENOMEM, in all threads of the
 * process (the shim's too). Prints "managed" or "kernel" (the mapping's server when the filter went in), then the
 * result of each msync(). wp_refused.sh runs it with and without the preload and compares the
 * output and the file: write-back stops stores with write-protection, and where the kernel
 * refuses that, no store may be lost, no msync() may fail and no thread may hang.
 *   written: the process stores again to pages it stored to before, msyncs, stores, exits.
 *   read:    the same, then stores to pages it had only read (mapped write-protected).
 *   fork:    a fork child stores, refuses write-protection to itself; the parent msyncs
 *            (asking the child to protect its pages); the child stores again to the same
 *            pages and exits; the parent msyncs again.
 *   continue: UFFDIO_CONTINUE and UFFDIO_COPY refused instead, from the start: the process
 *            stores, msyncs, stores and exits.
 *   copy:    the same with UFFDIO_COPY alone refused.
 *   minor:   UFFDIO_CONTINUE refused after a store: a second mapping reads and stores. */
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <linux/userfaultfd.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "common.h"

#define SIZE MiB

/* Every ioctl(..., cmd) and ioctl(..., cmd2) fails with ENOMEM from now on, in every thread of
 * the process. */
static void refuse_ioctls(uint32_t cmd, uint32_t cmd2)
{
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_ioctl, 0, 4),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1])),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, cmd, 1, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, cmd2, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOMEM),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = sizeof code / sizeof code[0], .filter = code};
    CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0, "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
    CHECK(syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog) == 0,
          "seccomp: %s", strerror(errno));
}

static void refuse_writeprotect(void)
{
    refuse_ioctls((uint32_t)UFFDIO_WRITEPROTECT, (uint32_t)UFFDIO_WRITEPROTECT);
}

static void report_msync(uint8_t *p)
{
    int rc = msync(p, SIZE, MS_SYNC);
    printf("msync %s\n", rc ? strerrorname_np(errno) : "0");
    fflush(stdout);
}

static void read_all(const volatile uint8_t *p)
{
    unsigned sum = 0;
    for (size_t off = 0; off < SIZE; off += PAGE)
        sum += p[off];
    (void)sum;
}

static void one(uint8_t *p, bool read_pages)
{
    read_all(p); /* every page mapped write-protected */
    p[0] = 1;
    p[300 * 1024] = 1;
    refuse_writeprotect();
    p[0] = 2;
    report_msync(p);
    p[0] = 3;
    p[300 * 1024] = 3;
    if (!read_pages)
        return;
    p[5 * PAGE + 1] = 3;         /* only read so far: mapped protected */
    p[700 * 1024 + 2] = 3;
    report_msync(p);
    p[0] = 4;
    p[5 * PAGE + 1] = 4;
    p[300 * 1024] = 4;
    p[900 * 1024 + 3] = 4;
}

static void forked(uint8_t *p)
{
    read_all(p);
    int to_parent[2], to_child[2];
    CHECK(pipe(to_parent) == 0 && pipe(to_child) == 0, "pipe");
    fflush(stdout);
    pid_t pid = fork();
    CHECK(pid >= 0, "fork: %s", strerror(errno));
    char c = 0;
    if (pid == 0) {
        p[3 * PAGE] = 1;
        p[400 * 1024] = 1;
        refuse_writeprotect();
        CHECK(write(to_parent[1], &c, 1) == 1, "write");
        CHECK(read(to_child[0], &c, 1) == 1, "read");
        p[3 * PAGE] = 2;         /* the parent's msync had it write-protected here */
        p[400 * 1024] = 2;
        _exit(0);
    }
    CHECK(read(to_parent[0], &c, 1) == 1, "read");
    report_msync(p);
    CHECK(write(to_child[1], &c, 1) == 1, "write");
    int status;
    CHECK(waitpid(pid, &status, 0) == pid, "waitpid");
    printf("child %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    report_msync(p);
}

/* The ways to map a filled page refused before any page was mapped (UFFDIO_COPY and
 * UFFDIO_CONTINUE; `copy`: UFFDIO_COPY alone, then fills write into the memfd and map with
 * UFFDIO_CONTINUE): each fault's block goes to the kernel. */
static void no_continue(uint8_t *p, bool copy_only)
{
    refuse_ioctls((uint32_t)UFFDIO_COPY, copy_only ? (uint32_t)UFFDIO_COPY : (uint32_t)UFFDIO_CONTINUE);
    p[200 * 1024] = 1; /* the store's fill is in the cache, but only the kernel can map it */
    report_msync(p);
    p[200 * 1024 + 1] = 2;
    p[700 * 1024] = p[500 * 1024] + 1;
    report_msync(p);
}

/* UFFDIO_CONTINUE refused once the first block is in the cache and stored to: a second mapping
 * of the file reads it (a minor fault, which only UFFDIO_CONTINUE can serve from the cache). */
static void minor(uint8_t *p, int fd)
{
    p[100] = 7;
    refuse_ioctls((uint32_t)UFFDIO_CONTINUE, (uint32_t)UFFDIO_CONTINUE);
    uint8_t *q = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHECK(q != MAP_FAILED, "mmap: %s", strerror(errno));
    printf("second mapping reads %d\n", q[100]);
    q[101] = 8;
    report_msync(q);
    printf("first mapping reads %d %d\n", p[100], p[101]);
    CHECK(munmap(q, SIZE) == 0, "munmap");
}

int main(int argc, char **argv)
{
    CHECK(argc == 3, "usage: %s FILE written|read|fork|continue|copy|minor", argv[0]);
    int fd = open(argv[1], O_RDWR);
    CHECK(fd >= 0, "open %s: %s", argv[1], strerror(errno));
    uint8_t *p = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
    printf("%s\n", is_managed(p) ? "managed" : "kernel");
    if (!strcmp(argv[2], "fork"))
        forked(p);
    else if (!strcmp(argv[2], "minor"))
        minor(p, fd);
    else if (!strcmp(argv[2], "continue") || !strcmp(argv[2], "copy"))
        no_continue(p, !strcmp(argv[2], "copy"));
    else
        one(p, !strcmp(argv[2], "read"));
    CHECK(munmap(p, SIZE) == 0, "munmap");
    close(fd);
    return 0;
}
