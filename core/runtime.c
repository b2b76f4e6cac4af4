#include "runtime.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "fds.h"
#include "group.h"
#include "log.h"
#include "domains.h"
#include "mapping.h"
#include "members.h"
#include "os.h"
#include "shm.h"
#include "stats.h"
#include "uffd.h"
#include "writeback.h"

struct um_runtime um_rt = {.state = UM_OFF, .uffd = -1};

static pthread_mutex_t start_lock = PTHREAD_MUTEX_INITIALIZER;

void um_runtime_configure(char *const *env)
{
    um_log_init();
    if (um_config_parse(&um_rt.cfg, env) || um_rt.cfg.npaths == 0) {
        um_config_free(&um_rt.cfg);
        return;
    }
    if (um_registry_init(&um_rt.registry)) {
        um_warn("cannot set up the registry; paging stays off");
        return;
    }
    /* Now, before the program's own: fork() runs prepare handlers in reverse order of
     * registration and the others in order, so the program's handlers run with the cache
     * working (ours takes the registry lock last and gives it up first). */
    if (um_fork_install()) {
        um_warn("cannot install fork handlers; paging stays off");
        return;
    }
    atomic_store(&um_rt.state, UM_IDLE);
}

#define WANTED_FEATURES                                                                    \
    (UFFD_FEATURE_THREAD_ID | UFFD_FEATURE_PAGEFAULT_FLAG_WP | UFFD_FEATURE_MINOR_SHMEM |     \
     UFFD_FEATURE_WP_HUGETLBFS_SHMEM)

int um_runtime_reopen_uffd(void)
{
    uint64_t features;
    int fd = um_uffd_open(WANTED_FEATURES, &features);
    if (fd < 0 || features != um_rt.features) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    um_rt.uffd = um_fd_adopt(fd);
    return 0;
}

void um_runtime_child_locks(void)
{
    /* Another parent thread may have held it at fork(); nothing else runs in the child yet. */
    pthread_mutex_init(&start_lock, NULL);
}

/* The group's shared memory, joined as a member (group.h); NULL if there is none (UFFDMAP_GROUP
 * is none, sanitizer builds, or it cannot be had): then the cache is this process's. */
static struct um_group *join_group(bool *fresh)
{
#ifdef UM_OS_NO_ZONE
    (void)fresh;
    return NULL; /* sanitizer runtimes own the address space */
#else
    return um_rt.cfg.group[0] ? um_group_join(um_rt.cfg.group, fresh) : NULL;
#endif
}

/* A new cache: in the group's memory (g) or the process's own. */
static bool set_up_cache(struct um_group *g)
{
    const struct um_config *cfg = &um_rt.cfg;
    if ((!g && um_shm_init()) || um_members_init() ||
        !(um_rt.cache = um_shm_alloc(sizeof *um_rt.cache)) ||
        um_cache_init(um_rt.cache, cfg->bufsize, cfg->high_water, cfg->low_water, cfg->evict,
                      cfg->evictors > 0))
        return false;
    if (g) {
        g->budget = cfg->bufsize;
        g->cache = um_rt.cache;
        g->members = um_members_table(); /* last: a joiner sees a complete group */
    }
    return true;
}

static bool start_paging(void)
{
    int fd = um_uffd_open(WANTED_FEATURES, &um_rt.features);
    if (fd < 0) {
        um_warn("userfaultfd is not available to this process (%s); files in UFFDMAP_PATHS "
                "are mapped by the kernel instead",
                strerror(errno));
        return false;
    }
    um_rt.uffd = um_fd_adopt(fd);
    if (!(um_rt.features & UFFD_FEATURE_MINOR_SHMEM)) {
        um_warn("this kernel's userfaultfd has no minor faults on shared memory (Linux 5.13); "
                "files in UFFDMAP_PATHS are mapped by the kernel instead");
        return false;
    }
    const struct um_config *cfg = &um_rt.cfg;
    bool fresh = true;
    struct um_group *g = join_group(&fresh);
    if (fresh && !set_up_cache(g)) {
        um_warn("cannot allocate the page cache tables; files are mapped by the kernel instead");
        return false;
    }
    if (!fresh)
        um_rt.cache = g->cache;
    if (g && g->budget != cfg->bufsize)
        um_warn_once("UFFDMAP_BUFSIZE differs from the budget of group '%s' (%zu MiB), set by "
                     "its first process: the group's applies",
                     cfg->group, g->budget >> 20);
    um_cache_set_writeback(um_writeback_frame);
    /* Entries with a budget share get a policy slot of their own (a group's are its first
     * process's). */
    unsigned next_slot = UM_NPOLICIES;
    for (size_t i = 0; i < cfg->npaths; i++) {
        struct um_path_rule *r = &um_rt.cfg.rules[i];
        if (r->share && next_slot < UM_SLOTS) {
            r->slot = next_slot++;
            if (fresh)
                um_cache_set_share(um_rt.cache, r->slot, um_config_evict(cfg, r), r->share);
        }
    }
    if (um_threads_start()) {
        um_warn("cannot start handler threads; files are mapped by the kernel instead");
        return false;
    }
    return true;
}

void um_runtime_reset_after_fork(void)
{
    atomic_store(&um_rt.state, UM_IDLE);
}

bool um_runtime_start(void)
{
    if (atomic_load(&um_rt.state) == UM_RUNNING)
        return true;
    pthread_mutex_lock(&start_lock);
    if (atomic_load(&um_rt.state) == UM_IDLE) {
        atomic_store(&um_rt.state, start_paging() ? UM_RUNNING : UM_UNAVAILABLE);
        um_group_joined(); /* with its agent running (or not at all), others may join */
    }
    pthread_mutex_unlock(&start_lock);
    return atomic_load(&um_rt.state) == UM_RUNNING;
}

/* At exit, stores made through shared mappings are written back, and shared writable mappings
 * are handed to the kernel's own mapping of the file: whatever threads still store after this
 * reaches the kernel's page cache, and so the file, as without the shim. */
struct exit_walk {
    uintptr_t lo, hi;
};

static void find_writable(const struct um_entry *e, uintptr_t lo, uintptr_t hi, void *arg)
{
    struct exit_walk *w = arg;
    if (!w->hi && e->map->shared && (e->prot & PROT_WRITE)) {
        w->lo = lo;
        w->hi = hi;
    }
}

static void write_back_before_leaving(const char *when)
{
    int err = um_domains_flush_all();
    for (uintptr_t from = 0;;) {
        struct exit_walk w = {0, 0};
        um_registry_for_each(&um_rt.registry, from, UINTPTR_MAX, find_writable, &w);
        if (!w.hi)
            break;
        int e = um_handover_locked(w.lo, w.hi);
        err = err ? err : e;
        from = w.hi;
    }
    if (err > 0)
        um_error("stores could not be written back %s: %s", when, strerror(err));
}

#define EXIT_LOCK_SECONDS 5

/* Leaving the process image (exit, exec): nothing of the cache survives in it. */
static void leave_image(const char *when, bool exiting)
{
    if (atomic_load(&um_rt.state) != UM_RUNNING)
        return;
    bool mapped = !um_registry_empty(&um_rt.registry);
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += EXIT_LOCK_SECONDS;
    /* Bounded: exit() from a signal handler that interrupted a munmap() of ours must not
     * hang the process. */
    if (pthread_rwlock_timedwrlock(&um_rt.registry.lock, &deadline) == 0) {
        if (mapped)
            write_back_before_leaving(when);
        if (exiting) /* not before an exec, which may fail: the mappings would stay */
            um_domains_release_presence(); /* views kept for other members too */
        um_registry_unlock(&um_rt.registry);
    } else if (mapped) {
        um_error("could not write back stores %s: the registry stayed locked", when);
    }
}

void um_runtime_before_exec(void)
{
    leave_image("before exec", false);
}

void um_runtime_exit(void)
{
    leave_image("at exit", true);
    /* After the presence locks (whose holder would keep the lock files), and in a process that
     * never paged too: its kernel mappings marked files all the same. */
    um_sharing_release_marks();
    if (atomic_load(&um_rt.state) == UM_RUNNING)
        um_group_leave();
    if (um_rt.cfg.stats == UM_STATS_TEXT || um_rt.cfg.stats == UM_STATS_JSON)
        um_stats_print(STDERR_FILENO, um_rt.cfg.stats == UM_STATS_JSON);
    else if (um_rt.cfg.stats == UM_STATS_FILE)
        um_stats_write_file(um_rt.cfg.stats_path);
}
