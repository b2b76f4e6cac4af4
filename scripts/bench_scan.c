/* bench-scan FILE seq|rand|hot|scanhot|zipf|rmw [PAGES]: map FILE and touch one byte of each 4 KiB page, in
 * file order (seq) or in a random order (PAGES of them; default all); hot touches random pages
 * of the first eighth of the file 90 % of the time and of the rest 10 %; scanhot alternates
 * such hot accesses with the pages of a sequential scan of the whole file; zipf draws pages from
 * a Zipf distribution (theta 0.99, page ranks shuffled over the file); rmw maps it shared
 * and writable and increments the byte (random read-modify-write), then msync()s. Prints the time per page
 * touched, the throughput over the bytes mapped, and a checksum so that runs can be compared.
 * Run it with and without the preload (scripts/bench-read.sh does) for the ratio. */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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

int main(int argc, char **argv)
{
    if (argc < 3 || (strcmp(argv[2], "seq") && strcmp(argv[2], "rand") && strcmp(argv[2], "hot") &&
                     strcmp(argv[2], "scanhot") && strcmp(argv[2], "zipf") && strcmp(argv[2], "rmw"))) {
        fprintf(stderr, "usage: %s FILE seq|rand|hot|scanhot|zipf|rmw [PAGES]\n", argv[0]);
        return 2;
    }
    bool rmw = !strcmp(argv[2], "rmw");
    int fd = open(argv[1], rmw ? O_RDWR : O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st)) {
        fprintf(stderr, "%s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    size_t size = (size_t)st.st_size, npages = size / 4096;
    size_t touches = argc > 3 ? strtoul(argv[3], NULL, 10) : npages;
    volatile uint8_t *p = mmap(NULL, size, PROT_READ | (rmw ? PROT_WRITE : 0), MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    bool random = strcmp(argv[2], "seq") != 0;
    bool scanhot = !strcmp(argv[2], "scanhot");
    bool zipf = !strcmp(argv[2], "zipf");
    double *cdf = zipf ? zipf_cdf(npages, 0.99) : NULL;
    bool hot = scanhot || !strcmp(argv[2], "hot");
    uint64_t seed = 0x2545F4914F6CDD1DULL, sum = 0;
    double t0 = now();
    for (size_t i = 0; i < touches; i++) {
        size_t page = random ? next(&seed) % npages : i % npages;
        if (hot && next(&seed) % 10 != 0)
            page %= npages / 8 ? npages / 8 : 1;
        if (scanhot && i % 2)
            page = (i / 2) % npages; /* every other access: the scan */
        if (zipf) /* rank r lives at a page scattered by a fixed multiplicative hash */
            page = (zipf_rank(cdf, npages, (double)(next(&seed) >> 11) / 9007199254740992.0) *
                    2654435761u) % npages;
        size_t at = page * 4096 + (page % 4093);
        sum += p[at];
        if (rmw)
            p[at] = (uint8_t)(p[at] + 1);
    }
    if (rmw)
        msync((void *)p, size, MS_SYNC);
    double dt = now() - t0;
    printf("mode=%s pages=%zu us_per_page=%.3f MBps=%.0f checksum=%llu\n", argv[2], touches,
           dt * 1e6 / (double)touches, (double)touches * 4096 / dt / 1e6,
           (unsigned long long)sum);
    return 0;
}
