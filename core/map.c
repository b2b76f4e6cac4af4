/* mmap() of a file: decide whether the shim serves it, then set the mapping up. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fds.h"
#include "log.h"
#include "mapping.h"
#include "os.h"
#include "runtime.h"
#include "stats.h"
#include "uffd.h"

#ifndef PR_SET_VMA
#define PR_SET_VMA 0x53564d41
#define PR_SET_VMA_ANON_NAME 0
#endif

/* Flags the shim reproduces on its anonymous mapping; MAP_POPULATE is a hint it drops (the
 * kernel would fill zeros), the rest are ignored by the kernel for file mappings. */
#define KEPT_FLAGS (MAP_FIXED | MAP_FIXED_NOREPLACE | MAP_32BIT | MAP_STACK)
#define SERVED_FLAGS (MAP_TYPE | KEPT_FLAGS | MAP_NORESERVE | MAP_POPULATE | MAP_DENYWRITE | \
                      MAP_EXECUTABLE | MAP_FILE)

static bool servable_request(int prot, int flags)
{
    int type = flags & MAP_TYPE;
    if (type != MAP_SHARED && type != MAP_PRIVATE && type != MAP_SHARED_VALIDATE)
        return false; /* the kernel's EINVAL */
    if (flags & ~SERVED_FLAGS) {
        um_warn_once("mmap flags %#x are not served by the shim; such mappings go to the kernel",
                     flags & ~SERVED_FLAGS);
        return false;
    }
    if (prot != PROT_READ && prot != (PROT_READ | PROT_WRITE)) {
        /* Executable, write-only and PROT_NONE mappings are not served yet. */
        um_warn_once("mappings with protection %#x are not served by the shim yet; such "
                     "mappings go to the kernel",
                     prot);
        return false;
    }
    return true;
}

/* Stores are tracked with write-protect faults; without them only read-only mappings can be
 * served. */
static bool can_track_stores(int prot)
{
    if (um_rt.features & UFFD_FEATURE_PAGEFAULT_FLAG_WP)
        return true;
    if (prot & PROT_WRITE)
        um_warn_once("this kernel's userfaultfd cannot write-protect: writable mappings go to "
                     "the kernel");
    return !(prot & PROT_WRITE);
}

/* The rule of the UFFDMAP_PATHS entry fd's file matches, or NULL. */
static const struct um_path_rule *matching_file(int fd, char *path, size_t size, struct stat *st)
{
    if (fstat(fd, st) || !S_ISREG(st->st_mode))
        return NULL;
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, size - 1);
    if (n <= 0)
        return NULL;
    path[n] = '\0';
    return um_config_match(&um_rt.cfg, path);
}

/* Ask the kernel itself whether it would accept this mapping, so that every invalid request
 * fails with exactly its errno (EACCES, EINVAL, ENODEV, EOVERFLOW, ...). Only a VMA is made. */
static int kernel_verdict(size_t len, int prot, int flags, int fd, off_t off)
{
    int probe_flags = flags & ~(MAP_FIXED | MAP_FIXED_NOREPLACE | MAP_POPULATE);
    void *p = um_os_mmap(NULL, len, prot, probe_flags, fd, off);
    if (p == MAP_FAILED)
        return errno;
    um_os_munmap(p, len);
    return 0;
}

/* Shows the mapping as [anon:uffdmap:PATH] in /proc/PID/maps where the kernel supports names. */
static void name_range(void *addr, size_t len, const char *path)
{
    char name[80];
    snprintf(name, sizeof name, "uffdmap:%.70s", path);
    for (char *c = name; *c; c++)
        if (*c < 0x20 || *c > 0x7e || *c == '[' || *c == ']' || *c == '\\' || *c == '$' ||
            *c == '`')
            *c = '?';
    prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, (unsigned long)addr, len, (unsigned long)name);
}

/* A new open file description of the file behind fd, with the access the mapping needs. */
static int reopen(int fd, int prot, int flags)
{
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    int access = (prot & PROT_WRITE) && (flags & MAP_TYPE) != MAP_PRIVATE ? O_RDWR : O_RDONLY;
    int mode = fcntl(fd, F_GETFL);
    if (mode >= 0 && (mode & O_ACCMODE) == O_RDWR)
        access = O_RDWR; /* keeps mprotect(PROT_WRITE) possible later, as with the kernel */
    int own = open(link, access | O_CLOEXEC);
    if (own < 0)
        own = fcntl(fd, F_DUPFD_CLOEXEC, 0); /* deleted or unreachable: share the program's */
    return own < 0 ? -1 : um_fd_adopt(own);
}

/* The file behind our descriptor opened again with O_DIRECT for fills the page cache does not
 * hold (core/io.c), unless UFFDMAP_IO=buffered; -1 where the file system refuses it, or when
 * the core already holds many descriptors (then reads go through the page cache). */
static int open_direct(int own_fd, const char *path)
{
    if (um_rt.cfg.io == UM_IO_BUFFERED || !um_fd_room_for_extra())
        return -1;
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", own_fd);
    int fd = open(link, O_RDONLY | O_DIRECT | O_CLOEXEC);
    if (fd < 0) {
        if (um_rt.cfg.io == UM_IO_DIRECT)
            um_warn_once("UFFDMAP_IO=direct: %s cannot be opened with O_DIRECT (%m); such files "
                         "are read through the page cache",
                         path);
        return -1;
    }
    return um_fd_adopt(fd);
}

/* With the registry write-locked: make the anonymous range, track it, register it. Registering
 * last means no fault reaches a handler before the range is in the registry. */
static enum um_map_result install(void *addr, size_t len, int prot, int flags, int fd, off_t off,
                                  const struct stat *st, const char *path,
                                  const struct um_path_rule *rule, void **out)
{
    if ((flags & MAP_FIXED) && um_forget_locked(addr, len))
        return UM_FAILED;
    if (um_share_with_kernel(st, prot, flags, path))
        return UM_PASS;
    int anon_flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | (flags & KEPT_FLAGS);
    void *p = um_os_mmap(addr, len, prot, anon_flags, -1, 0);
    if (p == MAP_FAILED)
        return UM_FAILED;
    /* Our own open file description (not a dup of the program's): the presence lock must not
     * be shared with, nor released by, the program's descriptors. */
    int own_fd = reopen(fd, prot, flags);
    if (own_fd >= 0 && !um_claim_presence(own_fd, prot, flags, path)) {
        um_fd_close(own_fd);
        um_os_munmap(p, len);
        return UM_PASS;
    }
    struct um_mapping *m = own_fd < 0 ? NULL
                           : um_mapping_new((uintptr_t)p, len, (uint64_t)off,
                                            um_config_pagesize(&um_rt.cfg, rule),
                                            own_fd, prot, flags, (uint64_t)st->st_size);
    if (!m) {
        if (own_fd >= 0)
            um_fd_close(own_fd);
        um_os_munmap(p, len);
        return UM_PASS;
    }
    um_mapping_set_path(m, path);
    m->direct_fd = open_direct(own_fd, path);
    m->direct_always = um_rt.cfg.io == UM_IO_DIRECT;
    m->stats = um_stats_file(path);
    m->ra_mode = um_config_readahead(&um_rt.cfg, rule);
    m->ra_max = um_config_readahead_max(&um_rt.cfg, rule);
    m->policy = rule && rule->share ? rule->slot : um_policy_index(um_config_evict(&um_rt.cfg, rule));
    m->policy_set = true;
    m->dev = st->st_dev;
    m->ino = st->st_ino;
    if (um_registry_insert(&um_rt.registry, m->start, m->end, m)) {
        um_mapping_free(m);
        um_os_munmap(p, len);
        return UM_PASS;
    }
    m->wp = (um_rt.features & UFFD_FEATURE_PAGEFAULT_FLAG_WP) != 0;
    if (um_uffd_register(um_rt.uffd, m->start, len, m->wp)) {
        um_warn_once("UFFDIO_REGISTER failed (%m); such mappings go to the kernel");
        um_forget_locked(p, len);
        um_os_munmap(p, len);
        return UM_PASS;
    }
    *out = p;
    return UM_MANAGED;
}

enum um_map_result um_map(void *addr, size_t len, int prot, int flags, int fd, off_t off,
                          void **out)
{
    char path[PATH_MAX];
    struct stat st;
    const struct um_path_rule *rule = matching_file(fd, path, sizeof path, &st);
    if (!rule)
        return UM_PASS;
    if (!servable_request(prot, flags)) {
        um_stat_add(&um_stats.passed, 1);
        return UM_PASS;
    }
    int err = kernel_verdict(len, prot, flags, fd, off);
    if (err) {
        errno = err;
        return UM_FAILED;
    }
    if (!um_runtime_start() || !can_track_stores(prot)) {
        um_stat_add(&um_stats.passed, 1);
        return UM_PASS;
    }
    size_t rounded = um_page_up(len);
    um_registry_wrlock(&um_rt.registry);
    enum um_map_result r = install(addr, rounded, prot, flags, fd, off, &st, path, rule, out);
    um_registry_unlock(&um_rt.registry);
    if (r == UM_MANAGED) {
        name_range(*out, rounded, path);
        um_stat_add(&um_stats.mappings, 1);
        um_debug("serving %s at %p (+%zu)", path, *out, rounded);
    } else if (r == UM_PASS) {
        um_stat_add(&um_stats.passed, 1);
    }
    return r;
}
