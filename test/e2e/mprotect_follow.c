/* A mapping's protection follows mprotect(), as the kernel's does: a shared mapping made
 * read-only and then writable again keeps every store (in the file after exit(), seen by a fork
 * child, kept by mremap()), and a range made PROT_NONE stays so in a fork child. Checked
 * against the file; E2E_NO_MANAGED_CHECK=1 runs it without the preload. */

#include <sched.h>
#include <sys/wait.h>

#include "common.h"

static bool check_managed = true;

static uint8_t file_byte(int fd, uint64_t off)
{
    uint8_t b;
    CHECK(pread(fd, &b, 1, (off_t)off) == 1, "pread: %s", strerror(errno));
    return b;
}

static void wait_ok(pid_t pid)
{
    int status;
    CHECK(waitpid(pid, &status, 0) == pid, "waitpid");
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child failed (status %#x)", status);
}

/* In a child: map read-only, make writable, store, exit() without msync or munmap. */
static void stores_reach_file_at_exit(int rw, size_t len)
{
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        uint8_t *p = mmap(NULL, len, PROT_READ, MAP_SHARED, rw, 0);
        CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
        if (check_managed)
            expect_managed(p);
        CHECK(mprotect(p, len, PROT_READ | PROT_WRITE) == 0, "mprotect: %s", strerror(errno));
        for (size_t off = 0; off < len; off += 7 * PAGE + 13)
            p[off] = (uint8_t)(pattern_at(off) ^ 0xff);
        exit(0);
    }
    wait_ok(pid);
    for (size_t off = 0; off < len; off += 7 * PAGE + 13) {
        uint8_t want = (uint8_t)(pattern_at(off) ^ 0xff), got = file_byte(rw, off);
        CHECK(got == want, "store at %zu lost at exit", off);
    }
}

static uint8_t *clone_map;

/* A clone() child (no CLONE_VM) is no member of the cache: the protection it inherits must
 * still be the one mprotect() set, and its stores must reach the parent. */
static int clone_main(void *arg)
{
    (void)arg;
    if (!read_faults(clone_map + 41 * PAGE) || read_faults(clone_map + 50 * PAGE))
        return 2;
    clone_map[22 * PAGE + 1] = 0x44;
    return clone_map[20 * PAGE] == 0x41 ? 0 : 3;
}

static void clone_child(uint8_t *p)
{
    size_t stack_len = 256 * 1024;
    char *stack = malloc(stack_len);
    CHECK(stack, "malloc");
    clone_map = p;
    pid_t pid = clone(clone_main, stack + stack_len, SIGCHLD, NULL);
    CHECK(pid > 0, "clone: %s", strerror(errno));
    wait_ok(pid);
    free(stack);
    CHECK(p[22 * PAGE + 1] == 0x44, "parent does not see the clone() child's store");
}

int main(int argc, char **argv)
{
    const char *dir = data_dir(argc, argv);
    const char *nm = getenv("E2E_NO_MANAGED_CHECK");
    check_managed = !(nm && *nm == '1');
    size_t len = 64 * PAGE;
    char *path = make_file(dir, "mprotect_follow.bin", len);
    int rw = open(path, O_RDWR);
    CHECK(rw >= 0, "open: %s", strerror(errno));
    stores_reach_file_at_exit(rw, len);

    uint8_t *p = mmap(NULL, len, PROT_READ, MAP_SHARED, rw, 0);
    CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
    CHECK(mprotect(p + 16 * PAGE, 16 * PAGE, PROT_READ | PROT_WRITE) == 0, "mprotect rw");
    p[20 * PAGE] = 0x41;
    CHECK(mprotect(p + 40 * PAGE, 8 * PAGE, PROT_NONE) == 0, "mprotect none");
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        CHECK(p[20 * PAGE] == 0x41, "child does not see the parent's store");
        p[21 * PAGE] = 0x42;
        CHECK(read_faults(p + 41 * PAGE), "PROT_NONE range readable in the child");
        CHECK(!read_faults(p + 50 * PAGE), "readable range faults in the child");
        _exit(0);
    }
    wait_ok(pid);
    CHECK(p[21 * PAGE] == 0x42, "parent does not see the child's store");
    CHECK(read_faults(p + 41 * PAGE), "PROT_NONE range readable in the parent");
    clone_child(p);
    /* Grow the writable part in place or by moving it; its stores go with it. */
    uint8_t *q = mremap(p + 16 * PAGE, 16 * PAGE, 20 * PAGE, MREMAP_MAYMOVE);
    CHECK(q != MAP_FAILED, "mremap: %s", strerror(errno));
    CHECK(q[4 * PAGE] == 0x41 && q[5 * PAGE] == 0x42, "stores lost by mremap");
    q[6 * PAGE] = 0x43;
    CHECK(msync(q, 16 * PAGE, MS_SYNC) == 0, "msync: %s", strerror(errno));
    CHECK(file_byte(rw, 20 * PAGE) == 0x41 && file_byte(rw, 21 * PAGE) == 0x42 &&
              file_byte(rw, 22 * PAGE) == 0x43 && file_byte(rw, 22 * PAGE + 1) == 0x44,
          "stores not in the file");
    printf("mprotect_follow: protection changes kept every store and PROT_NONE\n");
    return 0;
}
