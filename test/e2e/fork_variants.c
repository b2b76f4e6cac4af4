/* Children that fork()'s handlers do not see, and a new program image, each checked against
 * the file (the kernel's answer):
 * - a _Fork() child of a process with no other thread stays a member of the cache: it reads
 *   every inherited page as the file holds it (pages never filled included, never zeros), its
 *   mappings stay served by the shim, and its stores through a shared mapping and its pwrite()
 *   are seen by the parent and reach the file;
 * - a _Fork() child of a process with another thread, and a clone() child (no CLONE_VM), read
 *   the file's bytes too, and their stores through a shared mapping reach the parent and the
 *   file;
 * - stores made just before execve() reach the file: the new image (this program, with
 *   "exec-check") reads them back.
 * E2E_NO_MANAGED_CHECK=1 skips the "served by the shim" checks, so that the program can run
 * without the preload and show that the kernel gives the same results. */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>

#include "common.h"

static bool check_managed = true;

struct files {
    int fd, rw;
    uint64_t size;
    const uint8_t *p;  /* read-only MAP_PRIVATE of a file twice the budget */
    uint8_t *shared;   /* MAP_SHARED read-write of a small file */
};

static void maybe_managed(const void *addr)
{
    if (check_managed)
        expect_managed(addr);
}

/* What every child checks and does; `tag` makes its stores its own. */
static int child_work(struct files *f, uint8_t tag, bool member)
{
    const uint8_t *unfilled = f->p + f->size - PAGE;
    if (member)
        maybe_managed(unfilled);
    CHECK(*unfilled == pattern_at(f->size - PAGE), "child's unfilled page reads %u", *unfilled);
    expect_file_bytes(f->fd, f->p + f->size / 2, f->size / 2, 64 * PAGE);
    CHECK(f->shared[PAGE] == 0x5a, "child does not see the parent's store");
    f->shared[2 * PAGE + tag] = tag;
    uint8_t b = (uint8_t)(tag + 1);
    CHECK(pwrite(f->rw, &b, 1, 3 * PAGE + tag) == 1, "child pwrite");
    CHECK(f->shared[3 * PAGE + tag] == b, "child's pwrite not seen through its mapping");
    return 0;
}

static void expect_child_stores(struct files *f, pid_t child, uint8_t tag)
{
    int status;
    CHECK(child > 0, "fork: %s", strerror(errno));
    CHECK(waitpid(child, &status, __WALL) == child, "waitpid: %s", strerror(errno));
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child %u failed (status %#x)", tag,
          status);
    CHECK(f->shared[2 * PAGE + tag] == tag, "parent does not see child %u's store", tag);
    CHECK(f->shared[3 * PAGE + tag] == (uint8_t)(tag + 1), "parent does not see child %u's pwrite",
          tag);
    uint8_t b;
    CHECK(pread(f->rw, &b, 1, 2 * PAGE + tag) == 1 && b == tag,
          "child %u's store is not in the file", tag);
}

static void fork_alone(struct files *f)
{
    pid_t child = _Fork();
    if (child == 0)
        _exit(child_work(f, 1, true));
    expect_child_stores(f, child, 1);
    maybe_managed(f->p);
    maybe_managed(f->shared);
}

static void *sleeper(void *arg)
{
    (void)arg;
    pause();
    return NULL;
}

static void fork_beside_a_thread(struct files *f)
{
    pthread_t t;
    CHECK(pthread_create(&t, NULL, sleeper, NULL) == 0, "pthread_create");
    pid_t child = _Fork();
    if (child == 0)
        _exit(child_work(f, 2, false));
    expect_child_stores(f, child, 2);
    pthread_cancel(t);
    pthread_join(t, NULL);
}

static struct files *clone_files;

static int clone_main(void *arg)
{
    (void)arg;
    return child_work(clone_files, 3, false);
}

static void clone_child(struct files *f)
{
    size_t stack_len = 256 * 1024;
    char *stack = malloc(stack_len);
    CHECK(stack, "malloc");
    clone_files = f;
    pid_t child = clone(clone_main, stack + stack_len, SIGCHLD, NULL);
    expect_child_stores(f, child, 3);
    free(stack);
}

/* Store, then become this program again, which checks the file. */
static void exec_after_stores(struct files *f, const char *self, const char *dir)
{
    pid_t child = fork();
    CHECK(child >= 0, "fork");
    if (child == 0) {
        f->shared[5 * PAGE] = 0x77;
        f->shared[9 * PAGE + 9] = 0x78;
        execl(self, self, "exec-check", dir, (char *)NULL);
        _exit(127);
    }
    int status;
    CHECK(waitpid(child, &status, 0) == child, "waitpid");
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "exec'd image failed (status %#x)",
          status);
}

static int exec_check(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/fork_variants_shared.bin", dir);
    int fd = open_ro(path);
    uint8_t b[2];
    CHECK(pread(fd, &b[0], 1, 5 * PAGE) == 1 && pread(fd, &b[1], 1, 9 * PAGE + 9) == 1, "pread");
    CHECK(b[0] == 0x77 && b[1] == 0x78, "stores made before execve() are not in the file: %x %x",
          b[0], b[1]);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "exec-check"))
        return exec_check(argv[2]);
    const char *dir = data_dir(argc, argv);
    const char *nm = getenv("E2E_NO_MANAGED_CHECK");
    check_managed = !(nm && *nm == '1');
    struct files f;
    f.size = 2 * env_size("UFFDMAP_BUFSIZE", 16 * MiB) + 5000;
    char *path = make_file(dir, "fork_variants.bin", f.size);
    f.fd = open_ro(path);
    f.p = mmap(NULL, f.size, PROT_READ, MAP_PRIVATE, f.fd, 0);
    CHECK(f.p != MAP_FAILED, "mmap: %s", strerror(errno));
    maybe_managed(f.p);
    expect_file_bytes(f.fd, f.p, 0, 64 * PAGE); /* some pages filled before the forks */
    char *shared_path = make_file(dir, "fork_variants_shared.bin", 16 * PAGE);
    f.rw = open(shared_path, O_RDWR);
    CHECK(f.rw >= 0, "open O_RDWR");
    f.shared = mmap(NULL, 16 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, f.rw, 0);
    CHECK(f.shared != MAP_FAILED, "mmap shared: %s", strerror(errno));
    maybe_managed(f.shared);
    f.shared[PAGE] = 0x5a;

    fork_alone(&f);
    fork_beside_a_thread(&f);
    clone_child(&f);
    exec_after_stores(&f, argv[0], dir);
    expect_file_bytes(f.fd, f.p + f.size / 2, f.size / 2, f.size / 2);
    printf("fork_variants: _Fork() and clone() children read the file's bytes and share stores; "
           "stores before execve() reached the file\n");
    return 0;
}
