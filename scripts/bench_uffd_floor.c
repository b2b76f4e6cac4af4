/* bench-uffd-floor FILE [buffered|direct [TOUCHES [THREADS [onecpu]]]]: the bare userfaultfd
 * round trip on this machine, the floor under the shim's random 4 KiB faults.
 *
 * One handler thread per CPU (pinned, as the shim's fillers are) serves missing-page faults on
 * an anonymous range the size of FILE with a pread of the same 4 KiB of FILE (buffered, or with
 * O_DIRECT) and a UFFDIO_COPY, with no bookkeeping at all, while THREADS threads (default 1)
 * touch TOUCHES random pages between them (default 100000), as bench-scan's rand mode does.
 * Compare its us_per_page with bench-scan under the preload (UFFDMAP_PAGESIZE=4K
 * UFFDMAP_READAHEAD=none), in the same minute: this VM's timings drift. With `onecpu`, one
 * handler and the touching threads all run on the first CPU: no fault or wake-up crosses
 * CPUs (compare the shim under `taskset -c 0`). Root, or vm.unprivileged_userfaultfd=1. */
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

static int uffd, file;
static uint64_t file_pages, touches_each;
static volatile unsigned char *range;

static void pin_to(int cpu)
{
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    sched_setaffinity(0, sizeof one, &one);
}

static void *serve(void *arg)
{
    pin_to((int)(intptr_t)arg);
    static _Thread_local char buf[4096] __attribute__((aligned(4096)));
    struct uffd_msg msgs[16];
    for (;;) {
        ssize_t n = read(uffd, msgs, sizeof msgs);
        for (ssize_t i = 0; i < n / (ssize_t)sizeof msgs[0]; i++) {
            uint64_t page = msgs[i].arg.pagefault.address & ~4095ULL;
            if (pread(file, buf, sizeof buf, (off_t)(page - (uintptr_t)range)) < 0)
                perror("pread");
            struct uffdio_copy copy = {.dst = page, .src = (uintptr_t)buf, .len = sizeof buf};
            ioctl(uffd, UFFDIO_COPY, &copy); /* EEXIST for a duplicate: fine */
        }
    }
    return NULL;
}

static void *touch(void *arg)
{
    uint64_t seed = 0x2545F4914F6CDD1DULL + (uint64_t)(intptr_t)arg * 0x9E3779B97F4A7C15ULL;
    uint64_t sum = 0;
    for (uint64_t i = 0; i < touches_each; i++) {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        sum += range[(seed % file_pages) * 4096];
    }
    return (void *)(uintptr_t)sum;
}

int main(int argc, char **argv)
{
    int direct = argc > 2 && !strcmp(argv[2], "direct");
    int onecpu = argc > 5 && !strcmp(argv[5], "onecpu");
    if (argc < 2 || (argc > 2 && !direct && strcmp(argv[2], "buffered")) || (argc > 5 && !onecpu)) {
        fprintf(stderr, "usage: %s FILE [buffered|direct [TOUCHES [THREADS [onecpu]]]]\n",
                argv[0]);
        return 2;
    }
    uint64_t touches = argc > 3 ? strtoull(argv[3], NULL, 10) : 100000;
    long threads = argc > 4 ? strtol(argv[4], NULL, 10) : 1;
    if (threads < 1 || threads > 64 || touches < (uint64_t)threads) {
        fprintf(stderr, "%s: 1..64 threads, at least one touch each\n", argv[0]);
        return 2;
    }
    touches_each = touches / (uint64_t)threads;
    file = open(argv[1], O_RDONLY | (direct ? O_DIRECT : 0));
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
    cpu_set_t allowed;
    if (sched_getaffinity(0, sizeof allowed, &allowed)) {
        perror("sched_getaffinity");
        return 1;
    }
    int first = 0;
    while (!CPU_ISSET(first, &allowed))
        first++;
    if (onecpu)
        pin_to(first); /* the touching threads inherit it */
    pthread_t handler, app[64];
    for (int cpu = first; cpu < CPU_SETSIZE; cpu++) {
        if (CPU_ISSET(cpu, &allowed))
            pthread_create(&handler, NULL, serve, (void *)(intptr_t)cpu);
        if (onecpu)
            break;
    }
    usleep(10000);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long t = 0; t < threads; t++)
        pthread_create(&app[t], NULL, touch, (void *)(intptr_t)t);
    uint64_t sum = 0;
    for (long t = 0; t < threads; t++) {
        void *part;
        pthread_join(app[t], &part);
        sum += (uintptr_t)part;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double us = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) /
                (double)(touches_each * (uint64_t)threads) / 1000;
    printf("reads=%s threads=%ld cpus=%s us_per_page=%.2f (sum %llu)\n",
           direct ? "direct" : "buffered", threads, onecpu ? "one" : "all", us,
           (unsigned long long)sum);
    return 0;
}
