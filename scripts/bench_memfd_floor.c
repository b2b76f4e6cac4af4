/* bench-memfd-floor FILE [FILL [EVICT [BLOCK_KIB [ORDER [BUDGET_MIB [BATCH]]]]]]: the cost floor of
 * the memfd cache's mechanism on this machine, per 4 KiB page, with no fault round trip and no
 * bookkeeping.
 *
 * A memfd the size of FILE is the cache; a MAP_SHARED mapping of it, registered MISSING|MINOR,
 * stands for the program's range. Blocks of BLOCK_KIB (default 64) are visited in ORDER (seq,
 * default, or rand: a random permutation, three times as many blocks as the budget holds). Per
 * block: fill it (FILL), map it, read a byte of each 4 KiB page through the registered range.
 * When BUDGET_MIB (default 128) is full, the BATCH oldest blocks are evicted (default: a 64th
 * of the budget, at most 32 blocks, as the cache does) with EVICT; adjacent ones go together.
 *
 *   FILL:  copy    pread into a buffer, pwrite into the memfd, UFFDIO_CONTINUE (the cache's)
 *          ucopy   pread into a buffer, UFFDIO_COPY into the registered range: the kernel puts
 *                  the page into the memfd and maps it (store and map in one call: "map")
 *          splice  splice file -> pipe -> memfd, UFFDIO_CONTINUE
 *          view    pread straight into an unregistered mapping of the memfd (the core's view;
 *                  the pread's own faults allocate the pages), UFFDIO_CONTINUE
 *          none    pread into a buffer only: the read alone
 *          kernel  no cache: the file's own mapping (the kernel's faults, with fault-around),
 *                  evicted blocks dropped with MADV_DONTNEED: the kernel's own cost
 *   EVICT: zap     MADV_DONTNEED of the registered range (process_madvise, one call a batch),
 *                  then punch
 *          punch   fallocate(PUNCH_HOLE) alone (it unmaps the pages from every mapping itself)
 *
 * Prints the CPU time per 4 KiB page (user and system), then for each phase the median over
 * blocks (eviction: over batches) per 4 KiB page: on a loaded machine the medians leave out the
 * time other processes take. For FILL=none, "read" is the figure to subtract. The page cache
 * should hold FILE (cat it first). Root, or vm.unprivileged_userfaultfd=1. */
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#ifndef UFFD_FEATURE_MINOR_SHMEM
#define UFFD_FEATURE_MINOR_SHMEM (1 << 10)
#endif
#ifndef PIDFD_SELF_THREAD_GROUP
#define PIDFD_SELF_THREAD_GROUP -10000
#endif

enum { T_ZAP, T_PUNCH, T_READ, T_STORE, T_MAP, T_TOUCH, T_N };
static const char *const phase[T_N] = {"zap", "punch", "read", "store", "map", "touch"};
static float *took[T_N]; /* each block's time in each phase (eviction: each batch's) */
static size_t ntook[T_N];
static double last;
static size_t blk; /* bytes a block */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* The time since the last call goes to phase ph. */
static void account(int ph)
{
    double t = now();
    took[ph][ntook[ph]++] = (float)(t - last);
    last = t;
}

static int by_value(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

static int by_size_t(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

static double median(int ph, double pages_each)
{
    if (!ntook[ph])
        return 0;
    qsort(took[ph], ntook[ph], sizeof took[ph][0], by_value);
    return took[ph][ntook[ph] / 2] / pages_each;
}

static void check(bool ok, const char *what)
{
    if (!ok) {
        perror(what);
        exit(1);
    }
}

static unsigned long touch(const volatile char *p)
{
    unsigned long sum = 0;
    for (size_t i = 0; i < blk; i += 4096)
        sum += (unsigned char)p[i];
    return sum;
}

/* The order blocks are visited in: all of them, or a random permutation. */
static size_t *visit_order(size_t nblocks, bool random, size_t *count)
{
    size_t *order = malloc(nblocks * sizeof *order);
    for (size_t i = 0; i < nblocks; i++)
        order[i] = i;
    *count = nblocks;
    if (!random)
        return order;
    uint64_t x = 0x2545F4914F6CDD1DULL;
    for (size_t i = nblocks - 1; i > 0; i--) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t j = (size_t)(x % (i + 1)), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    return order;
}

struct cache {
    char *prog, *view, *buf;
    int memfd, uffd, file, pipefd[2];
    const char *fill;
    bool zap;
};

/* Evict blocks victims[0..n) (sorted here): zap their pages in one call, then punch them. */
static void evict(struct cache *c, size_t *victims, size_t n)
{
    struct iovec r[n];
    size_t nr = 0;
    qsort(victims, n, sizeof *victims, by_size_t);
    for (size_t i = 0; i < n; i++) {
        if (nr && victims[i] == victims[i - 1] + 1)
            r[nr - 1].iov_len += blk;
        else
            r[nr++] = (struct iovec){c->prog + victims[i] * blk, blk};
    }
    if (c->zap) {
        long done = syscall(SYS_process_madvise, PIDFD_SELF_THREAD_GROUP, r, nr, MADV_DONTNEED, 0);
        for (size_t i = 0; done < 0 && i < nr; i++)
            check(madvise(r[i].iov_base, r[i].iov_len, MADV_DONTNEED) == 0, "MADV_DONTNEED");
        account(T_ZAP);
    }
    for (size_t i = 0; i < nr; i++)
        check(fallocate(c->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                        (char *)r[i].iov_base - c->prog, (off_t)r[i].iov_len) == 0, "punch");
    account(T_PUNCH);
}

static void map_continue(struct cache *c, off_t at)
{
    struct uffdio_continue cont = {.range = {.start = (uintptr_t)c->prog + at, .len = blk}};
    check(ioctl(c->uffd, UFFDIO_CONTINUE, &cont) == 0, "UFFDIO_CONTINUE");
    account(T_MAP);
}

/* Fill block k and map it; false for FILL=none (nothing mapped: the buffer was touched). */
static bool fill_block(struct cache *c, size_t k, unsigned long *sum)
{
    off_t at = (off_t)(k * blk);
    const char *f = c->fill;
    if (strcmp(f, "splice") == 0) {
        loff_t in = at, out = at;
        check(splice(c->file, &in, c->pipefd[1], NULL, blk, 0) == (ssize_t)blk, "splice");
        account(T_READ);
        check(splice(c->pipefd[0], NULL, c->memfd, &out, blk, 0) == (ssize_t)blk, "splice");
        account(T_STORE);
        map_continue(c, at);
        return true;
    }
    if (strcmp(f, "view") == 0) {
        check(pread(c->file, c->view + at, blk, at) == (ssize_t)blk, "pread");
        account(T_READ);
        map_continue(c, at);
        return true;
    }
    check(pread(c->file, c->buf, blk, at) == (ssize_t)blk, "pread");
    account(T_READ);
    if (strcmp(f, "none") == 0) {
        *sum += touch(c->buf);
        return false;
    }
    if (strcmp(f, "ucopy") == 0) {
        struct uffdio_copy cp = {.dst = (uintptr_t)c->prog + at, .src = (uintptr_t)c->buf,
                                 .len = blk};
        check(ioctl(c->uffd, UFFDIO_COPY, &cp) == 0, "UFFDIO_COPY");
        account(T_MAP);
        return true;
    }
    check(pwrite(c->memfd, c->buf, blk, at) == (ssize_t)blk, "pwrite");
    account(T_STORE);
    map_continue(c, at);
    return true;
}

static void setup(struct cache *c, size_t size)
{
    c->memfd = (int)syscall(SYS_memfd_create, "floor", 0);
    check(c->memfd >= 0 && ftruncate(c->memfd, (off_t)size) == 0, "memfd");
    c->prog = mmap(NULL, size, PROT_READ, MAP_SHARED, c->memfd, 0);
    c->view = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, c->memfd, 0);
    c->buf = aligned_alloc(4096, blk);
    check(c->prog != MAP_FAILED && c->view != MAP_FAILED && pipe(c->pipefd) == 0, "mmap");
    fcntl(c->pipefd[0], F_SETPIPE_SZ, (int)blk);
    c->uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC);
    struct uffdio_api api = {.api = UFFD_API, .features = UFFD_FEATURE_MINOR_SHMEM};
    check(c->uffd >= 0 && ioctl(c->uffd, UFFDIO_API, &api) == 0, "userfaultfd");
    struct uffdio_register reg = {
        .range = {.start = (uintptr_t)c->prog, .len = size},
        .mode = UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_MINOR};
    check(ioctl(c->uffd, UFFDIO_REGISTER, &reg) == 0, "UFFDIO_REGISTER");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE [copy|ucopy|splice|view|none|kernel [zap|punch "
                        "[BLOCK_KIB [seq|rand [BUDGET_MIB [BATCH]]]]]]\n", argv[0]);
        return 2;
    }
    struct cache c = {.fill = argc > 2 ? argv[2] : "copy"};
    c.zap = argc <= 3 || strcmp(argv[3], "zap") == 0;
    blk = (size_t)(argc > 4 ? atoi(argv[4]) : 64) << 10;
    bool random = argc > 5 && strcmp(argv[5], "rand") == 0;
    size_t budget = (size_t)(argc > 6 ? atoi(argv[6]) : 128) << 20;
    size_t nslots = budget / blk, batch = nslots / 64 < 32 ? nslots / 64 : 32;
    batch = argc > 7 ? (size_t)atoi(argv[7]) : batch ? batch : 1;
    c.file = open(argv[1], O_RDONLY);
    check(c.file >= 0, argv[1]);
    size_t size = (size_t)lseek(c.file, 0, SEEK_END), count;
    size_t *order = visit_order(size / blk, random, &count);
    if (random && count > 3 * nslots)
        count = 3 * nslots;
    for (int i = 0; i < T_N; i++)
        took[i] = calloc(count + 1, sizeof took[i][0]);
    bool kernel = strcmp(c.fill, "kernel") == 0;
    char *map = kernel ? mmap(NULL, size, PROT_READ, MAP_SHARED, c.file, 0) : NULL;
    check(map != MAP_FAILED, "mmap");
    if (!kernel)
        setup(&c, size);
    size_t *fifo = malloc(nslots * sizeof *fifo), head = 0, held = 0;
    unsigned long sum = 0;
    double t0 = now();
    for (size_t i = 0; i < count; i++) {
        size_t k = order[i];
        last = now();
        if (held == nslots) { /* full: evict the oldest batch */
            size_t victims[batch];
            for (size_t v = 0; v < batch; v++)
                victims[v] = fifo[(head + v) % nslots];
            head = (head + batch) % nslots;
            held -= batch;
            if (kernel) {
                for (size_t v = 0; v < batch; v++)
                    madvise(map + victims[v] * blk, blk, MADV_DONTNEED);
                account(T_ZAP);
            } else {
                evict(&c, victims, batch);
            }
        }
        if (kernel || fill_block(&c, k, &sum)) {
            fifo[(head + held++) % nslots] = k;
            sum += touch((kernel ? map : c.prog) + k * blk);
            account(T_TOUCH);
        }
    }
    double pages = (double)count * (double)(blk / 4096);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
                 (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
    printf("fill=%s evict=%s block=%zuK order=%s batch=%zu us_per_page=%.3f "
           "cpu_us_per_page=%.3f median:", c.fill, c.zap ? "zap" : "punch", blk >> 10,
           random ? "rand" : "seq", batch, (now() - t0) / pages, cpu / pages);
    double total = 0;
    for (int i = 0; i < T_N; i++) {
        double m = median(i, (double)(blk / 4096) * (i <= T_PUNCH ? (double)batch : 1.0));
        total += m;
        printf(" %s=%.3f", phase[i], m);
    }
    printf(" sum=%.3f checksum=%lu\n", total, sum);
    return 0;
}
