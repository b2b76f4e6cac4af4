/* Helper of group_sigkill.sh: one role per run.
 *
 *   group_store make FILE SIZE          FILE afresh with SIZE bytes of the test pattern
 *   group_store store FILE SEED READY   map FILE MAP_SHARED read-write, store a pattern (given by
 *                                       SEED) at scattered offsets, no msync; write
 *                                       "PID managed|kernel" to READY, then wait to be killed
 *   group_store hold FILE rw|ro READY   map FILE MAP_SHARED (read-write or read-only), read it
 *                                       all, write READY likewise, then wait to be killed
 *   group_store check FILE SEED         the file, read with pread(), holds exactly the stores
 *                                       (run without the preload); exit 1 and say where if not
 *   group_store mapcheck FILE SEED [SECONDS]  map FILE read-only: the mapping holds the stores
 *                                       (say "managed" or "kernel" on stdout), and the file read
 *                                       with the raw pread system call (past the shim) holds them
 *                                       within SECONDS (default 10)
 *
 * The stores touch STORES pages scattered over the file, 16 bytes each, so that all of them
 * fit in a 4M budget at 64K blocks (nothing is written back by eviction before the kill). */
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>

#include "common.h"

#define STORES 24
#define LEN 16

static uint64_t file_size(int fd)
{
    struct stat st;
    CHECK(fstat(fd, &st) == 0, "fstat: %s", strerror(errno));
    return (uint64_t)st.st_size;
}

/* The i-th store's offset: a distinct page each, 8-byte aligned inside it. */
static uint64_t store_off(uint64_t size, unsigned seed, unsigned i)
{
    uint64_t pages = size / PAGE, slot = pages / STORES;
    return (i * slot + mix64((uint64_t)seed << 16 | i) % slot) * PAGE +
           (mix64((uint64_t)seed << 24 | i) % (PAGE / 8 - 2)) * 8;
}

static uint8_t stored_byte(unsigned seed, uint64_t off)
{
    return (uint8_t)(pattern_at(off) ^ (0x11 + seed % 200));
}

/* What the file holds after the stores. */
static uint8_t *model(uint64_t size, unsigned seed)
{
    uint8_t *m = malloc(size);
    CHECK(m, "malloc");
    for (uint64_t w = 0; w < size / 8; w++) { /* pattern_fill, a word at a time */
        uint64_t v = mix64(w);
        memcpy(m + w * 8, &v, 8);
    }
    pattern_fill(m + size / 8 * 8, size / 8 * 8, size % 8);
    for (unsigned i = 0; i < STORES; i++) {
        uint64_t off = store_off(size, seed, i);
        for (unsigned j = 0; j < LEN; j++)
            m[off + j] = stored_byte(seed, off + j);
    }
    return m;
}

static void ready(const char *path, const void *map)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    CHECK(f, "%s: %s", tmp, strerror(errno));
    fprintf(f, "%d %s\n", (int)getpid(), is_managed(map) ? "managed" : "kernel");
    CHECK(fclose(f) == 0 && rename(tmp, path) == 0, "%s: %s", path, strerror(errno));
}

/* Compares a buffer (the file or a mapping) with the model; returns the first difference or -1. */
static int64_t first_diff(const uint8_t *got, const uint8_t *want, uint64_t size)
{
    if (!memcmp(got, want, size))
        return -1;
    for (uint64_t o = 0;; o++)
        if (got[o] != want[o])
            return (int64_t)o;
}

static int report(const char *what, const uint8_t *got, const uint8_t *want, uint64_t size,
                  unsigned seed)
{
    int64_t d = first_diff(got, want, size);
    if (d < 0)
        return 0;
    unsigned missing = 0;
    for (unsigned i = 0; i < STORES; i++) {
        uint64_t off = store_off(size, seed, i);
        missing += memcmp(got + off, want + off, LEN) != 0;
    }
    fprintf(stderr, "%s: byte %ld is %#x, want %#x (the pattern there is %#x); %u of %u stores "
            "missing or wrong\n", what, (long)d, got[d], want[d], pattern_at((uint64_t)d),
            missing, STORES);
    return 1;
}

static int read_file(int fd, uint8_t *buf, uint64_t size, bool raw)
{
    for (uint64_t done = 0; done < size;) {
        ssize_t n = raw ? syscall(SYS_pread64, fd, buf + done, size - done, (off_t)done)
                        : pread(fd, buf + done, size - done, (off_t)done);
        CHECK(n > 0, "pread: %s", n < 0 ? strerror(errno) : "end of file");
        done += (uint64_t)n;
    }
    return 0;
}

int main(int argc, char **argv)
{
    CHECK(argc >= 4, "usage: %s make|store|hold|check|mapcheck FILE ARG [READY]", argv[0]);
    const char *role = argv[1], *path = argv[2];
    alarm(120); /* never outlive a test that lost track of us */
    if (!strcmp(role, "make")) {
        const char *slash = strrchr(path, '/');
        CHECK(slash, "make: FILE needs a directory");
        char *dir = strndup(path, (size_t)(slash - path));
        make_file(dir, slash + 1, strtoull(argv[3], NULL, 10));
        return 0;
    }
    if (!strcmp(role, "store")) {
        CHECK(argc == 5, "store FILE SEED READY");
        unsigned seed = (unsigned)atoi(argv[3]);
        int fd = open(path, O_RDWR);
        CHECK(fd >= 0, "open %s: %s", path, strerror(errno));
        uint64_t size = file_size(fd);
        volatile uint8_t *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
        for (unsigned i = 0; i < STORES; i++) {
            uint64_t off = store_off(size, seed, i);
            for (unsigned j = 0; j < LEN; j++)
                p[off + j] = stored_byte(seed, off + j);
        }
        ready(argv[4], (const void *)p);
        for (;;)
            pause();
    }
    if (!strcmp(role, "hold")) {
        CHECK(argc == 5, "hold FILE rw|ro READY");
        bool rw = !strcmp(argv[3], "rw");
        int fd = open(path, rw ? O_RDWR : O_RDONLY);
        CHECK(fd >= 0, "open %s: %s", path, strerror(errno));
        uint64_t size = file_size(fd);
        volatile uint8_t *p = mmap(NULL, size, PROT_READ | (rw ? PROT_WRITE : 0), MAP_SHARED, fd, 0);
        CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
        uint64_t sum = 0;
        for (uint64_t o = 0; o < size; o += PAGE)
            sum += p[o];
        (void)sum;
        ready(argv[4], (const void *)p);
        for (;;)
            pause();
    }
    unsigned seed = (unsigned)atoi(argv[3]);
    int fd = open_ro(path);
    uint64_t size = file_size(fd);
    uint8_t *want = model(size, seed), *buf = malloc(size);
    CHECK(buf, "malloc");
    if (!strcmp(role, "check")) {
        read_file(fd, buf, size, false);
        return report("the file", buf, want, size, seed);
    }
    CHECK(!strcmp(role, "mapcheck"), "unknown role %s", role);
    double limit = argc > 4 ? atof(argv[4]) : 10;
    const uint8_t *p = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
    CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
    printf("%s\n", is_managed(p) ? "managed" : "kernel");
    fflush(stdout);
    int bad = report("the mapping of the next process", p, want, size, seed);
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        read_file(fd, buf, size, true);
        if (first_diff(buf, want, size) < 0)
            break;
        clock_gettime(CLOCK_MONOTONIC, &t);
        if (t.tv_sec - t0.tv_sec + (t.tv_nsec - t0.tv_nsec) * 1e-9 > limit) {
            bad |= report("the file while the next process maps it", buf, want, size, seed);
            break;
        }
        usleep(50 * 1000);
    }
    return bad;
}
