/* The core holds locks while a program's thread is inside mmap(), munmap(), msync(): neither a
 * signal handler that touches managed memory on that thread nor pthread_cancel() of it may
 * hang the process. With the kernel's mmap neither does.
 *
 * Signals: thread T maps and unmaps a managed file over and over; the main thread sends it
 * signals whose handler reads pages of a second managed mapping, larger than the budget (each
 * read may need a fill). Cancellation: threads storing, msync()ing and unmapping a managed
 * file are cancelled; then the main thread maps it again. A hang ends the test by SIGALRM. */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "common.h"

static const uint8_t *big;
static size_t big_len;
static const char *small_path;
static atomic_uint handler_reads, handler_wrong;
static atomic_bool stop;

static void on_usr1(int sig)
{
    (void)sig;
    unsigned k = atomic_fetch_add(&handler_reads, 1);
    uint64_t off = ((uint64_t)k * 7919 % (big_len / PAGE)) * PAGE + (k % PAGE);
    if (big[off] != pattern_at(off))
        atomic_fetch_add(&handler_wrong, 1);
}

static void *map_unmap_loop(void *arg)
{
    (void)arg;
    int fd = open_ro(small_path);
    while (!atomic_load(&stop)) {
        uint8_t *p = mmap(NULL, MiB, PROT_READ, MAP_SHARED, fd, 0);
        CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
        CHECK(p[PAGE + 1] == pattern_at(PAGE + 1), "byte 4097 of the small file");
        CHECK(munmap(p, MiB) == 0, "munmap: %s", strerror(errno));
    }
    close(fd);
    return NULL;
}

static void signal_handlers(void)
{
    struct sigaction sa = {.sa_handler = on_usr1, .sa_flags = SA_RESTART};
    sigaction(SIGUSR1, &sa, NULL);
    pthread_t t;
    pthread_create(&t, NULL, map_unmap_loop, NULL);
    struct timespec gap = {0, 200 * 1000};
    for (int i = 0; i < 3000; i++) {
        pthread_kill(t, SIGUSR1);
        nanosleep(&gap, NULL);
    }
    atomic_store(&stop, true);
    pthread_join(t, NULL);
    CHECK(atomic_load(&handler_wrong) == 0, "%u of %u reads in the handler gave wrong bytes",
          atomic_load(&handler_wrong), atomic_load(&handler_reads));
    printf("signals: %u handler reads on a thread mapping and unmapping, all right\n",
           atomic_load(&handler_reads));
}

static void *store_sync_loop(void *arg)
{
    int fd = *(int *)arg;
    for (unsigned i = 0;; i++) {
        uint8_t *p = mmap(NULL, MiB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED)
            continue;
        p[(i % 256) * PAGE] = pattern_at((i % 256) * PAGE);
        msync(p, MiB, MS_SYNC);
        munmap(p, MiB);
    }
    return NULL;
}

static void cancellation(void)
{
    int fd = open(small_path, O_RDWR);
    CHECK(fd >= 0, "open: %s", strerror(errno));
    for (int i = 0; i < 40; i++) {
        pthread_t t;
        pthread_create(&t, NULL, store_sync_loop, &fd);
        struct timespec run = {0, (1 + i % 7) * 1000 * 1000};
        nanosleep(&run, NULL);
        pthread_cancel(t);
        pthread_join(t, NULL);
        uint8_t *p = mmap(NULL, MiB, PROT_READ, MAP_SHARED, fd, 0);
        CHECK(p != MAP_FAILED, "mmap after a cancellation: %s", strerror(errno));
        expect_managed(p);
        expect_file_bytes(fd, p, 0, MiB);
        munmap(p, MiB);
    }
    close(fd);
    printf("cancellation: 40 threads cancelled inside mmap/msync/munmap loops; mapping after "
           "each works\n");
}

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "hang: a signal handler or a cancelled thread blocked the shim\n";
    write(2, msg, sizeof msg - 1);
    _exit(1);
}

int main(int argc, char **argv)
{
    const char *dir = data_dir(argc, argv);
    big_len = 64 * MiB;
    char *big_path = make_file(dir, "big", big_len);
    small_path = make_file(dir, "small", MiB);
    signal(SIGALRM, on_alarm);
    alarm(60);
    int fd = open_ro(big_path);
    big = mmap(NULL, big_len, PROT_READ, MAP_SHARED, fd, 0);
    CHECK(big != MAP_FAILED, "mmap: %s", strerror(errno));
    expect_managed(big);
    signal_handlers();
    cancellation();
    return 0;
}
