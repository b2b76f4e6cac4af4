/* mmap() of a file: decide whether the shim serves it, then set the mapping up. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "domains.h"
#include "fds.h"
#include "group.h"
#include "writeback.h"
#include "log.h"
#include "mapping.h"
#include "os.h"
#include "runtime.h"
#include "stats.h"
#include "uffd.h"


/* Flags the shim reproduces on its mapping of the memfd; MAP_POPULATE is a hint it drops, the
 * rest are ignored by the kernel for file mappings. */
#define KEPT_FLAGS (MAP_FIXED | MAP_FIXED_NOREPLACE | MAP_32BIT | MAP_STACK)
#define SERVED_FLAGS (MAP_TYPE | KEPT_FLAGS | MAP_NORESERVE | MAP_POPULATE | MAP_DENYWRITE | \
                      MAP_EXECUTABLE | MAP_FILE)

/* A mapping that never made it into the registry. */
static void release(struct um_mapping *m)
{
    um_view_unuse(um_here(m->dom));
    um_mapping_free(m);
    um_domains_collect();
}

static bool valid_type(int flags)
{
    int type = flags & MAP_TYPE;
    return type == MAP_SHARED || type == MAP_PRIVATE || type == MAP_SHARED_VALIDATE;
}

static bool servable_request(int prot, int flags)
{
    if (!valid_type(flags))
        return false; /* the kernel's EINVAL */
    if (flags & ~SERVED_FLAGS) {
        um_warn_once("mmap flags %#x are not served by the shim; such mappings, and the other "
                     "mappings of their files, go to the kernel",
                     flags & ~SERVED_FLAGS);
        return false;
    }
    if (prot != PROT_READ && prot != (PROT_READ | PROT_WRITE)) {
        /* Executable, write-only and PROT_NONE mappings are not served yet. */
        um_warn_once("mappings with protection %#x are not served by the shim yet; such "
                     "mappings, and the other mappings of their files, go to the kernel",
                     prot);
        return false;
    }
    return true;
}

/* Stores are tracked with write-protect faults; without them only read-only mappings can be
 * served. */
static bool can_track_stores(int prot)
{
    uint64_t wp = UFFD_FEATURE_PAGEFAULT_FLAG_WP | UFFD_FEATURE_WP_HUGETLBFS_SHMEM;
    if ((um_rt.features & wp) == wp)
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

/* A new open file description of the file behind fd, read-write where the file can be opened
 * so (write-back needs it, and a later writable mapping may come), else read-only. Our own, not
 * a dup of the program's: the presence lock must not be shared with, nor released by, the
 * program's descriptors, nor its position moved. */
static int reopen(int fd, bool *writable)
{
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    int mode = fcntl(fd, F_GETFL);
    int own = -1;
    if (mode >= 0 && (mode & O_ACCMODE) == O_RDWR)
        own = open(link, O_RDWR | O_CLOEXEC);
    *writable = own >= 0;
    if (own < 0)
        own = open(link, O_RDONLY | O_CLOEXEC);
    if (own < 0) { /* deleted or unreachable: share the program's */
        own = fcntl(fd, F_DUPFD_CLOEXEC, 0);
        *writable = own >= 0 && mode >= 0 && (mode & O_ACCMODE) == O_RDWR;
    }
    return own < 0 ? -1 : um_fd_adopt_file(own);
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
    return um_fd_adopt_file(fd);
}

/* This process's view of st's file's domain, made on its first mapping; NULL if none can be
 * had. A file first mapped read-only whose new mapping may write it back gets a read-write
 * descriptor now. */
static struct um_view *view_for(int fd, const struct stat *st, const char *path,
                                const struct um_path_rule *rule)
{
    struct um_view *v = um_domains_find(st->st_dev, st->st_ino);
    bool writable;
    if (v) {
        if (um_domain_follow_file(v->dom, true) < 0)
            return NULL;
        if (!v->writable) {
            int own = reopen(fd, &writable);
            if (own >= 0 && writable) {
                um_fd_close_file(v->fd);
                v->fd = own;
                v->writable = true;
            } else if (own >= 0) {
                um_fd_close_file(own);
            }
        }
        return v;
    }
    int own = reopen(fd, &writable);
    if (own < 0)
        return NULL;
    /* In a group, another process may have the file's domain already: this one joins it. */
    struct um_group *g = um_group_current();
    if (g)
        um_group_lock(g);
    struct um_domain *shared = g ? um_group_find(g, st->st_dev, st->st_ino) : NULL;
    if (shared)
        v = um_domain_attach(shared, own, writable);
    else
        v = um_domain_new(own, writable, path, st->st_dev, st->st_ino,
                          um_config_pagesize(&um_rt.cfg, rule), (uint64_t)st->st_size);
    if (v && !shared)
        v->dom->policy = rule && rule->share
                             ? rule->slot
                             : um_policy_index(um_config_evict(&um_rt.cfg, rule));
    if (g)
        um_group_unlock(g);
    if (!v) {
        um_fd_close_file(own);
        return NULL;
    }
    if (shared && um_domain_follow_file(v->dom, true) < 0)
        um_warn_once("%s: the size of the group's copy could not follow the file", path);
    v->direct_fd = open_direct(own, path);
    v->direct_always = um_rt.cfg.io == UM_IO_DIRECT;
    v->stats = um_stats_file(path);
    um_domains_add(v);
    return v;
}

/* Whether stores through this mapping may reach the file: then they are tracked. */
static bool needs_tracking(int prot, int flags, const struct um_view *v)
{
    (void)prot; /* a read-only shared mapping may be made writable by mprotect() later */
    return (flags & MAP_TYPE) != MAP_PRIVATE && v->writable;
}

/* With the registry write-locked: map the domain's memfd where the program asked, track the
 * range, register it. Registering before the range is returned means no access can reach the
 * memfd unregistered; the registry entry first means no fault reaches a handler before the
 * range is known. */
static enum um_map_result install(void *addr, size_t len, int prot, int flags, int fd, off_t off,
                                  const struct stat *st, const char *path,
                                  const struct um_path_rule *rule, void **out)
{
    if (um_kernel_file(st->st_dev, st->st_ino))
        return UM_PASS; /* given to the kernel since the caller looked (handover.c) */
    if ((flags & MAP_FIXED) && um_forget_locked(addr, len))
        return UM_FAILED;
    if ((uint64_t)off + len > UM_DOMAIN_MAX_BYTES) {
        um_warn_once("%s: mappings past %llu GiB of a file are not served; they go to the kernel",
                     path, (unsigned long long)(UM_DOMAIN_MAX_BYTES >> 30));
        return UM_PASS;
    }
    if (!um_domains_find(st->st_dev, st->st_ino) && !um_fd_room_for_domain()) {
        um_warn_once("the shim holds a quarter of RLIMIT_NOFILE's descriptors: mappings of "
                     "further files go to the kernel, so that the program keeps the rest");
        return UM_PASS;
    }
    struct um_view *v = view_for(fd, st, path, rule);
    if (!v) {
        um_warn_once("%s: cannot set up its cache (%m); such mappings go to the kernel", path);
        return UM_PASS;
    }
    if (!um_claim_presence(v, prot, flags, path)) {
        um_domains_collect();
        return UM_PASS;
    }
    struct um_mapping *m = um_mapping_new(v->dom, prot, flags);
    if (!m) {
        um_domains_collect();
        return UM_PASS;
    }
    um_view_use(v);
    m->ra_mode = um_config_readahead(&um_rt.cfg, rule);
    m->ra_max = um_config_readahead_max(&um_rt.cfg, rule);
    m->wp = needs_tracking(prot, flags, v);
    int mode = fcntl(fd, F_GETFL);
    struct statvfs vfs;
    m->maywrite = m->shared && mode >= 0 && (mode & O_ACCMODE) == O_RDWR;
    m->mayexec = fstatvfs(fd, &vfs) || !(vfs.f_flag & ST_NOEXEC);
    /* MAP_SHARED_VALIDATE kept: the kernel refuses flags (MAP_FIXED_NOREPLACE among them)
     * with EOPNOTSUPP only once the address is known, as it does for the file itself. */
    int map_flags = (flags & MAP_TYPE) == MAP_PRIVATE ? MAP_PRIVATE : flags & MAP_TYPE;
    map_flags |= MAP_NORESERVE | (flags & KEPT_FLAGS);
    void *p = um_os_mmap(addr, len, prot, map_flags, v->memfd, off);
    if (p == MAP_FAILED) {
        int err = errno;
        release(m);
        if (err == ENOMEM) {
            /* The kernel accepted the request (kernel_verdict()): what the core itself holds
             * (RLIMIT_AS, vm.max_map_count) left no room. The kernel's mapping may fit. */
            um_warn_once("%s: no address space left for the cache's mapping; such mappings "
                         "go to the kernel",
                         path);
            return UM_PASS;
        }
        errno = err;
        return UM_FAILED;
    }
    uintptr_t lo = (uintptr_t)p;
    /* Room for the entry, for a cut of it and for the domain's copy of the ranges, taken only
     * now: memory the core takes and keeps before the program's mapping is made could leave
     * too little address space (RLIMIT_AS) for the kernel's mapping when this one fails. */
    if (um_registry_reserve(&um_rt.registry, 2) ||
        um_view_reserve_ranges(v, um_rt.registry.count + 2)) {
        um_os_munmap(p, len);
        release(m);
        return UM_PASS;
    }
    if (um_registry_insert(&um_rt.registry, lo, lo + len, (uint64_t)off, prot, m)) {
        um_os_munmap(p, len);
        release(m);
        return UM_PASS;
    }
    if (um_uffd_register(um_rt.uffd, lo, len, m->wp) || um_domains_refresh(lo, lo + len, 0, 0)) {
        um_warn_once("UFFDIO_REGISTER failed (%m); such mappings go to the kernel");
        um_cut_locked(lo, lo + len, true);
        return UM_PASS;
    }
    *out = p;
    return UM_MANAGED;
}

/* A mapping of the file goes to the kernel (a request the shim does not serve, or one under
 * mlockall(MCL_FUTURE), which the kernel would lock and populate before it is registered:
 * lock.c). A file mapped partly by the kernel and partly from the cache would show each side's
 * stores late or never on the other: the whole file goes, its managed ranges with it
 * (handover.c), and its later mappings. */
static void file_to_kernel(const struct stat *st, const char *path)
{
    um_registry_wrlock(&um_rt.registry);
    um_sharing_to_kernel_locked(path, st->st_dev, st->st_ino);
    um_registry_unlock(&um_rt.registry);
    um_sharing_wait();
}

enum um_map_result um_map(void *addr, size_t len, int prot, int flags, int fd, off_t off,
                          void **out)
{
    char path[PATH_MAX];
    struct stat st;
    const struct um_path_rule *rule = matching_file(fd, path, sizeof path, &st);
    if (!rule)
        return UM_PASS;
    /* A memfd that may still be sealed: F_SEAL_WRITE must fail (EBUSY) while a writable
     * mapping of it exists, which the kernel can tell only of its own mappings. */
    int seals = fcntl(fd, F_GET_SEALS);
    if (seals >= 0 && !(seals & F_SEAL_SEAL)) {
        um_warn_once("%s can be sealed: its mappings go to the kernel", path);
        um_stat_add(&um_stats.passed, 1);
        return UM_PASS;
    }
    if (!servable_request(prot, flags)) {
        /* Its other mappings must see this one's stores, and it theirs. */
        if (valid_type(flags))
            file_to_kernel(&st, path);
        um_stat_add(&um_stats.passed, 1);
        return UM_PASS;
    }
    int err = kernel_verdict(len, prot, flags, fd, off);
    if (err) {
        errno = err;
        return UM_FAILED;
    }
    if (um_lock_future()) {
        um_warn_once("files mapped while mlockall(MCL_FUTURE) is in effect are locked in "
                     "memory, which a bounded cache cannot do; they are mapped by the kernel "
                     "from then on");
        file_to_kernel(&st, path);
        um_stat_add(&um_stats.passed, 1);
        return UM_PASS;
    }
    if (um_kernel_file(st.st_dev, st.st_ino)) {
        /* Handed over here already: nothing of it is managed; other caches are told once. */
        um_sharing_kernel_mapped(path, st.st_dev, st.st_ino);
        um_sharing_wait();
        um_stat_add(&um_stats.passed, 1);
        return UM_PASS;
    }
    if (!um_runtime_start() || !can_track_stores(prot)) {
        /* Mapped by the kernel here, so by the kernel everywhere (its other mappings here:
         * handover.c; other processes' caches: sharing.c). */
        file_to_kernel(&st, path);
        um_stat_add(&um_stats.passed, 1);
        return UM_PASS;
    }
    size_t rounded = um_page_up(len);
    um_registry_wrlock(&um_rt.registry);
    enum um_map_result r = install(addr, rounded, prot, flags, fd, off, &st, path, rule, out);
    um_registry_unlock(&um_rt.registry);
    um_sharing_wait();
    if (r == UM_MANAGED) {
        um_stat_add(&um_stats.mappings, 1);
        um_debug("serving %s at %p (+%zu)", path, *out, rounded);
    } else if (r == UM_PASS) {
        um_stat_add(&um_stats.passed, 1);
    }
    return r;
}
