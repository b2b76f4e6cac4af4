/* bench-scan FILE MODE [PAGES [THREADS]]: map FILE and touch one byte of 4 KiB pages.
 *
 *   seq      every page in file order (with THREADS, each thread scans its own slice)
 *   rand     PAGES random pages (default: as many as the file has)
 *   hot      random pages of the first eighth of the file 90 % of the time, of the rest 10 %
 *   scanhot  such hot accesses alternating with the pages of a sequential scan
 *   zipf     pages drawn from a Zipf distribution (theta 0.99, ranks shuffled over the file)
 *   rmw      random read-modify-write through a shared writable mapping, then msync()
 *   direct   no mapping: the pages rand would touch, read with O_DIRECT pread (the device's
 *            own speed for random 4 KiB reads, to compare the paging against)
 *   direct-rmw  no mapping: the pages rmw would touch, each read with O_DIRECT pread, its byte
 *            incremented and written back with O_DIRECT pwrite, then fdatasync() (the device's
 *            own speed for a read and a write per page, to compare rmw against)
 *   pread    no mapping: the file read in order with buffered pread, 64 KiB at a time (what a
 *            64 KiB fill reads, to tell the read from the rest of a fill's cost)
 *
 * PAGES is the total, split between THREADS threads (default 1), each with its own random
 * sequence. Prints the time per page touched, the throughput, and a checksum so that runs can
 * be compared. Run it with and without the preload (scripts/bench-read.sh and
 * scripts/bench-targets.sh do) for the ratio. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum mode { SEQ, RAND, HOT, SCANHOT, ZIPF, RMW, DIRECT, DIRECT_RMW, PREAD };
static const char *const mode_names[] = {"seq",    "rand",   "hot",        "scanhot", "zipf",
                                         "rmw",    "direct", "direct-rmw", "pread"};

struct job {
    enum mode mode;
    volatile uint8_t *map; /* NULL for direct */
    int fd;
    size_t npages, first, touches; /* seq: pages [first, first + touches) */
    const double *cdf;
    uint64_t seed, sum;
};

#define PREAD_CHUNK 65536

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Cumulative Zipf(theta) weights of ranks 1..n, normalised to 1. */
static double *zipf_cdf(size_t n, double theta)
{
    double *cdf = malloc(n * sizeof *cdf), sum = 0;
    for (size_t i = 0; i < n; i++)
        cdf[i] = sum += 1.0 / pow((double)(i + 1), theta);
    for (size_t i = 0; i < n; i++)
        cdf[i] /= sum;
    return cdf;
}

static size_t zipf_rank(const double *cdf, size_t n, double u)
{
    size_t lo = 0, hi = n - 1;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cdf[mid] < u)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static uint64_t next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* The page the i-th touch of job j goes to. */
static size_t pick(struct job *j, size_t i)
{
    size_t n = j->npages, page;
    switch (j->mode) {
    case SEQ:
    case PREAD:
        return j->first + i;
    case ZIPF: /* rank r lives at a page scattered by a fixed multiplicative hash */
        return (zipf_rank(j->cdf, n, (double)(next(&j->seed) >> 11) / 9007199254740992.0) *
                2654435761u) % n;
    default:
        page = next(&j->seed) % n;
        if ((j->mode == HOT || j->mode == SCANHOT) && next(&j->seed) % 10 != 0)
            page %= n / 8 ? n / 8 : 1;
        if (j->mode == SCANHOT && i % 2)
            page = (i / 2) % n; /* every other access: the scan */
        return page;
    }
}

static void *run_job(void *arg)
{
    struct job *j = arg;
    uint8_t *buf = NULL;
    if (j->map == NULL && posix_memalign((void **)&buf, 4096, PREAD_CHUNK))
        return NULL;
    for (size_t i = 0; i < j->touches; i++) {
        size_t page = pick(j, i), at = page * 4096 + (page % 4093);
        if (j->mode == PREAD) {
            if (page % (PREAD_CHUNK / 4096) == 0 || i == 0)
                if (pread(j->fd, buf, PREAD_CHUNK, (off_t)(page & ~(PREAD_CHUNK / 4096 - 1)) * 4096) < 0) {
                    perror("pread");
                    exit(1);
                }
            j->sum += buf[at % PREAD_CHUNK];
        } else if (j->mode == DIRECT || j->mode == DIRECT_RMW) {
            if (pread(j->fd, buf, 4096, (off_t)page * 4096) != 4096) {
                perror("pread");
                exit(1);
            }
            j->sum += j->mode == DIRECT ? buf[at % 4096] : buf[at % 4096]++;
            if (j->mode == DIRECT_RMW && pwrite(j->fd, buf, 4096, (off_t)page * 4096) != 4096) {
                perror("pwrite");
                exit(1);
            }
        } else if (j->mode == RMW) {
            j->sum += __atomic_fetch_add(&j->map[at], 1, __ATOMIC_RELAXED);
        } else {
            j->sum += j->map[at];
        }
    }
    free(buf);
    return NULL;
}

static int parse_mode(const char *s)
{
    for (int m = 0; m < (int)(sizeof mode_names / sizeof mode_names[0]); m++)
        if (!strcmp(s, mode_names[m]))
            return m;
    return -1;
}

int main(int argc, char **argv)
{
    int mode = argc >= 3 ? parse_mode(argv[2]) : -1;
    if (mode < 0) {
        fprintf(stderr,
                "usage: %s FILE seq|rand|hot|scanhot|zipf|rmw|direct|direct-rmw|pread [PAGES "
                "[THREADS]]\n",
                argv[0]);
        return 2;
    }
    int flags = mode == RMW ? O_RDWR : mode == DIRECT ? O_RDONLY | O_DIRECT : O_RDONLY;
    int fd = open(argv[1], mode == DIRECT_RMW ? O_RDWR | O_DIRECT : flags);
    struct stat st;
    if (fd < 0 || fstat(fd, &st)) {
        fprintf(stderr, "%s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    size_t size = (size_t)st.st_size, npages = size / 4096;
    size_t touches = argc > 3 ? strtoul(argv[3], NULL, 10) : npages;
    size_t nthreads = argc > 4 ? strtoul(argv[4], NULL, 10) : 1;
    if (nthreads < 1 || nthreads > 64 || ((mode == SEQ || mode == PREAD) && touches > npages)) {
        fprintf(stderr, "%s: 1..64 threads; seq touches at most every page once\n", argv[0]);
        return 2;
    }
    volatile uint8_t *map = NULL;
    if (mode != DIRECT && mode != DIRECT_RMW && mode != PREAD) {
        map = mmap(NULL, size, PROT_READ | (mode == RMW ? PROT_WRITE : 0), MAP_SHARED, fd, 0);
        if (map == MAP_FAILED) {
            perror("mmap");
            return 1;
        }
    }
    double *cdf = mode == ZIPF ? zipf_cdf(npages, 0.99) : NULL;
    struct job jobs[64];
    pthread_t tids[64];
    double t0 = now();
    for (size_t t = 0; t < nthreads; t++) {
        size_t share = touches / nthreads + (t < touches % nthreads);
        jobs[t] = (struct job){.mode = (enum mode)mode, .map = map, .fd = fd, .npages = npages,
                               .first = t * (touches / nthreads) + (t < touches % nthreads ? t : touches % nthreads),
                               .touches = share, .cdf = cdf,
                               /* thread 0 keeps the single-threaded sequence of earlier runs */
                               .seed = 0x2545F4914F6CDD1DULL + t * 0x9E3779B97F4A7C15ULL};
        if (pthread_create(&tids[t], NULL, run_job, &jobs[t])) {
            perror("pthread_create");
            return 1;
        }
    }
    uint64_t sum = 0;
    for (size_t t = 0; t < nthreads; t++) {
        pthread_join(tids[t], NULL);
        sum += jobs[t].sum;
    }
    double t_sync = now();
    if (mode == RMW)
        msync((void *)map, size, MS_SYNC);
    if (mode == DIRECT_RMW)
        fdatasync(fd);
    double dt = now() - t0;
    if (mode == RMW || mode == DIRECT_RMW)
        printf("msync_s=%.3f ", dt - (t_sync - t0));
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("mode=%s pages=%zu threads=%zu us_per_page=%.3f MBps=%.0f maxrss_kib=%ld checksum=%llu\n",
           mode_names[mode], touches, nthreads, dt * 1e6 / (double)touches,
           (double)touches * 4096 / dt / 1e6, ru.ru_maxrss, (unsigned long long)sum);
    return 0;
}
