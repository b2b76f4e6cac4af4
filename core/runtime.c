#include "runtime.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "stats.h"
#include "uffd.h"

struct um_runtime um_rt = {.state = UM_OFF, .uffd = -1};

static pthread_mutex_t start_lock = PTHREAD_MUTEX_INITIALIZER;

void um_runtime_configure(char *const *env)
{
    if (um_config_parse(&um_rt.cfg, env) || um_rt.cfg.npaths == 0) {
        um_config_free(&um_rt.cfg);
        return;
    }
    if (um_registry_init(&um_rt.registry)) {
        um_warn("cannot set up the registry; paging stays off");
        return;
    }
    atomic_store(&um_rt.state, UM_IDLE);
}

static bool open_and_start(void)
{
    int fd = um_uffd_open(UFFD_FEATURE_THREAD_ID, &um_rt.features);
    if (fd < 0) {
        um_warn("userfaultfd is not available to this process (%s); files in UFFDMAP_PATHS "
                "are mapped by the kernel instead",
                strerror(errno));
        return false;
    }
    um_rt.uffd = fd;
    const struct um_config *cfg = &um_rt.cfg;
    if (um_cache_init(&um_rt.cache, cfg->bufsize, cfg->high_water, cfg->low_water, cfg->evict,
                      cfg->evictors > 0)) {
        um_warn("cannot allocate the page cache tables; files are mapped by the kernel instead");
        return false;
    }
    if (um_fork_install()) {
        um_warn("cannot install fork handlers; files are mapped by the kernel instead");
        return false;
    }
    if (um_threads_start()) {
        um_warn("cannot start handler threads; files are mapped by the kernel instead");
        return false;
    }
    return true;
}

bool um_runtime_start(void)
{
    if (atomic_load(&um_rt.state) == UM_RUNNING)
        return true;
    pthread_mutex_lock(&start_lock);
    if (atomic_load(&um_rt.state) == UM_IDLE)
        atomic_store(&um_rt.state, open_and_start() ? UM_RUNNING : UM_UNAVAILABLE);
    pthread_mutex_unlock(&start_lock);
    return atomic_load(&um_rt.state) == UM_RUNNING;
}

void um_runtime_exit(void)
{
    if (um_rt.cfg.stats)
        um_stats_print(STDERR_FILENO);
}
