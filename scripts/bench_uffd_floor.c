/* bench-uffd-floor FILE [THREADS]: the bare userfaultfd round trip on this machine, the floor
 * under the shim's warm 4 KiB fault. One handler thread per CPU (pinned, as the shim's fillers
 * are; THREADS=1: a single unpinned one) serves missing-page faults on an anonymous range the
 * size of FILE with a buffered pread of the same 4 KiB of FILE and a UFFDIO_COPY, with no
 * bookkeeping at all; the main thread touches 100000 random pages, as bench-scan does. Compare its us/fault with
 *   UFFDMAP_PAGESIZE=4K UFFDMAP_READAHEAD=none bench-scan FILE rand 100000
 * under the preload, in the same minute (this VM's timings drift). Run as root or with
 * vm.unprivileged_userfaultfd=1. */
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define TOUCHES 100000

static int uffd, file;
static uint64_t file_pages;
static volatile char *range;

struct handler {
    pthread_t thread;
    int cpu; /* -1: not pinned */
};

static void *serve(void *arg)
{
    const struct handler *h = arg;
    if (h->cpu >= 0) {
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(h->cpu, &one);
        sched_setaffinity(0, sizeof one, &one);
    }
    static _Thread_local char buf[4096] __attribute__((aligned(4096)));
    struct uffd_msg msgs[16];
    for (;;) {
        ssize_t n = read(uffd, msgs, sizeof msgs);
        for (ssize_t i = 0; i < n / (ssize_t)sizeof msgs[0]; i++) {
            uint64_t page = (msgs[i].arg.pagefault.address & ~4095ULL);
            if (pread(file, buf, sizeof buf, (off_t)(page - (uintptr_t)range)) < 0)
                perror("pread");
            struct uffdio_copy copy = {.dst = page, .src = (uintptr_t)buf, .len = sizeof buf};
            ioctl(uffd, UFFDIO_COPY, &copy); /* EEXIST for a duplicate: fine */
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE [THREADS]\n", argv[0]);
        return 2;
    }
    file = open(argv[1], O_RDONLY);
    off_t size = file < 0 ? 0 : lseek(file, 0, SEEK_END);
    file_pages = (uint64_t)size / 4096;
    uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC);
    struct uffdio_api api = {.api = UFFD_API};
    if (file_pages == 0 || uffd < 0 || ioctl(uffd, UFFDIO_API, &api)) {
        perror(file_pages == 0 ? argv[1] : "userfaultfd");
        return 1;
    }
    range = mmap(NULL, file_pages * 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    struct uffdio_register reg = {.range = {(uintptr_t)range, file_pages * 4096},
                                  .mode = UFFDIO_REGISTER_MODE_MISSING};
    if (range == MAP_FAILED || ioctl(uffd, UFFDIO_REGISTER, &reg)) {
        perror("register");
        return 1;
    }
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    long threads = argc > 2 ? strtol(argv[2], NULL, 10) : cpus;
    static struct handler handlers[64];
    for (long i = 0; i < threads && i < 64; i++) {
        handlers[i].cpu = threads == 1 ? -1 : (int)(i % cpus);
        pthread_create(&handlers[i].thread, NULL, serve, &handlers[i]);
    }
    usleep(10000);
    struct timespec t0, t1;
    uint64_t seed = 1, sum = 0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < TOUCHES; i++) {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        sum += range[(seed % file_pages) * 4096];
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double us = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) /
                TOUCHES / 1000;
    printf("handlers=%ld us_per_fault=%.2f (sum %llu)\n", threads, us, (unsigned long long)sum);
    return 0;
}
