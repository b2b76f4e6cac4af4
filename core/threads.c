/* Handler threads: fillers read fault events and serve them; evictors keep the budget's
 * watermarks. They block every signal, so that signals meant for the application's threads
 * are never run on them. */
#include <errno.h>
#include <sched.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "filler.h"
#include "log.h"
#include "members.h"
#include "os.h"
#include "runtime.h"
#include "stats.h"
#include "uffd.h"

#define EVENTS_PER_READ 16
#define THREAD_STACK (1u << 20) /* lazily backed; sanitizer runtimes need most of it */

/* Filler i runs on the i-th CPU the process may use. Every reader of the userfaultfd is woken
 * for an event, and the one on the faulting thread's CPU (woken without an interprocessor
 * interrupt) usually takes it: the fault is then served and the thread resumed on one CPU,
 * without waking a halted one. Measured here: 4 KiB faults ~15 us pinned, ~25 us not. */
static void pin_to_cpu(unsigned index)
{
    cpu_set_t allowed, one;
    if (sched_getaffinity(0, sizeof allowed, &allowed))
        return;
    int count = CPU_COUNT(&allowed);
    if (count <= 1)
        return;
    int want = (int)(index % (unsigned)count);
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
        if (CPU_ISSET(cpu, &allowed) && want-- == 0) {
            CPU_ZERO(&one);
            CPU_SET(cpu, &one);
            sched_setaffinity(0, sizeof one, &one);
            return;
        }
    }
}

static void *filler_main(void *arg)
{
    struct um_filler *self = arg;
    struct uffd_msg msgs[EVENTS_PER_READ];
    pin_to_cpu(self->index);
    for (;;) {
        ssize_t n = um_os_read(um_rt.uffd, msgs, sizeof msgs);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            um_warn("reading userfaultfd failed (%s); faults on managed mappings can no longer "
                    "be served",
                    strerror(errno));
            return NULL;
        }
        for (size_t i = 0; i < (size_t)n / sizeof msgs[0]; i++) {
            if (msgs[i].event != UFFD_EVENT_PAGEFAULT)
                continue;
            um_stat_add(&um_stats.faults, 1);
            struct timespec t0, t1;
            clock_gettime(CLOCK_MONOTONIC, &t0);
            um_filler_serve(self, (uintptr_t)msgs[i].arg.pagefault.address,
                            msgs[i].arg.pagefault.flags, msgs[i].arg.pagefault.feat.ptid);
            clock_gettime(CLOCK_MONOTONIC, &t1);
            um_stat_latency((uint64_t)((t1.tv_sec - t0.tv_sec) * 1000000000L +
                                       (t1.tv_nsec - t0.tv_nsec)));
        }
    }
}

static _Noreturn void *evictor_main(void *arg)
{
    (void)arg;
    for (;;) {
        um_cache_evictor_step(um_rt.cache, 100);
        um_sharing_poll();
    }
}

/* With no evictor, a thread of its own looks for files that another cache gave to the kernel
 * (sharing.c). */
static _Noreturn void *watch_main(void *arg)
{
    (void)arg;
    for (;;) {
        usleep(100 * 1000);
        um_sharing_poll();
    }
}

/* The live statistics file, rewritten every UFFDMAP_STATS_INTERVAL seconds. */
static _Noreturn void *stats_main(void *arg)
{
    (void)arg;
    for (;;) {
        sleep(um_rt.cfg.stats_interval);
        um_stats_write_file(um_rt.cfg.stats_path);
    }
}

/* Threads started in this process (um_fork_may_join()). */
static _Atomic unsigned started;

unsigned um_threads_count(void) { return atomic_load(&started); }

static int spawn(void *(*body)(void *), void *arg, const char *name)
{
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    /* Our own stack, from the core's zone, for the reason given in os.c. */
    void *stack = um_os_alloc(THREAD_STACK);
    if (!stack || pthread_attr_setstack(&attr, stack, THREAD_STACK)) {
        pthread_attr_destroy(&attr);
        return -1;
    }
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&t, &attr, body, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (rc == 0) {
        pthread_setname_np(t, name);
        atomic_fetch_add(&started, 1);
    }
    return rc;
}

int um_threads_start(void)
{
    const struct um_config *cfg = &um_rt.cfg;
    atomic_store(&started, 0); /* a fork child's count starts from none */
    struct um_filler *fillers = um_os_alloc(cfg->fillers * sizeof *fillers);
    if (!fillers)
        return -1;
    for (unsigned i = 0; i < cfg->fillers; i++) {
        fillers[i].index = i;
        /* One block of the largest page size, or the longest read-ahead run of any rule; a
         * run has at most one frame per 4 KiB. */
        fillers[i].run_bytes = um_config_max_run(cfg);
        fillers[i].buf = um_os_alloc_io(fillers[i].run_bytes);
        fillers[i].run = um_os_alloc(fillers[i].run_bytes / UM_PAGE * sizeof(uint32_t));
        if (!fillers[i].buf || !fillers[i].run || spawn(filler_main, &fillers[i], "uffdmap-fill"))
            return i == 0 ? -1 : 0; /* fewer fillers still serve; none cannot */
    }
    if (spawn(um_members_agent, NULL, "uffdmap-agent"))
        um_warn("could not start the agent thread: other processes sharing the cache cannot "
                "write back blocks this one stored to");
    else
        um_members_wait_agent(); /* a member is seen alive once its agent runs */
    unsigned evictors = 0;
    for (unsigned i = 0; i < cfg->evictors; i++)
        if (spawn(evictor_main, NULL, "uffdmap-evict"))
            um_warn("could not start evictor %u; fillers evict for themselves", i);
        else
            evictors++;
    if (!evictors && spawn(watch_main, NULL, "uffdmap-watch"))
        um_warn("could not start the watch thread: a file another process gives to the "
                "kernel is not given up here");
    if (cfg->stats == UM_STATS_FILE && cfg->stats_interval &&
        spawn(stats_main, NULL, "uffdmap-stats"))
        um_warn("could not start the statistics thread: no live statistics");
    return 0;
}
