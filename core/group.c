#include "group.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/file.h>
#include <sys/statfs.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"
#include "domain.h"
#include "fds.h"
#include "foreign.h"
#include "log.h"
#include "members.h"
#include "os.h"
#include "shm.h"

/* Where every member maps the region: above the core's private zone (os.c, from 32 TiB), far
 * below where the kernel places mappings. Lazily backed, as the private region is. */
#define GROUP_BASE 0x300000000000UL /* 48 TiB */
#define GROUP_BYTES ((size_t)16 << 40)
#define LOCK_WAIT_MS 10000
#define REOPEN_TRIES 8

static struct um_group *current;
static int dir_fd = -1, region_fd = -1;
static char group_name[64];

struct um_group *um_group_current(void) { return current; }

/* The user's private directory, checked: a directory we own that no one else may enter, not
 * reached through a link. -1 (said why) if it is not so. */
static int open_dir(void)
{
    char path[64];
    snprintf(path, sizeof path, "/dev/shm/uffdmap-%u", (unsigned)geteuid());
    if (mkdir(path, 0700) && errno != EEXIST) {
        um_warn("cannot create %s (%m): this process's cache is its own", path);
        return -1;
    }
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    struct statfs fs;
    if (fd >= 0 && fstatfs(fd, &fs) == 0 && fs.f_type != TMPFS_MAGIC) {
        /* Minor faults, which serve a second mapping from the cache, need shared memory. */
        um_warn("/dev/shm is not a tmpfs: this process's cache is its own");
        syscall(SYS_close, fd);
        return -1;
    }
    if (fd < 0 || fstat(fd, &st) || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
        (st.st_mode & 077)) {
        um_warn("%s is not a private directory of this user (mode 0700, not a link): this "
                "process's cache is its own",
                path);
        if (fd >= 0)
            syscall(SYS_close, fd);
        return -1;
    }
    return fd;
}


/* flock() with a bound: a member stopped while holding it must not hang the others. */
static bool lock_file(int fd)
{
    uint64_t deadline = um_os_now_ms() + LOCK_WAIT_MS;
    while (flock(fd, LOCK_EX | LOCK_NB)) {
        if (errno != EWOULDBLOCK || um_os_now_ms() > deadline)
            return false;
        struct timespec pause = {0, 2000000};
        nanosleep(&pause, NULL);
    }
    return true;
}

/* The group's region file, opened and locked, and still linked (a last member may have
 * removed it between our open and our lock). -1 if it cannot be had. */
static int open_region(int dir, const char *name)
{
    char file[96];
    snprintf(file, sizeof file, "%s.cache", name);
    for (int i = 0; i < REOPEN_TRIES; i++) {
        int fd = openat(dir, file, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
            return -1;
        struct stat st;
        if (!lock_file(fd) || fstat(fd, &st) || !S_ISREG(st.st_mode) ||
            st.st_uid != geteuid()) {
            syscall(SYS_close, fd);
            return -1;
        }
        if (st.st_nlink > 0)
            return fd;
        syscall(SYS_close, fd); /* removed meanwhile: open the new one */
    }
    return -1;
}

static void page_file_name(const struct um_domain *d, uint64_t generation, char *out, size_t n)
{
    snprintf(out, n, "%s.%llx.%llu.pages", group_name, (unsigned long long)generation,
             (unsigned long long)d->id);
}

int um_group_open_pages(const struct um_domain *d, bool create)
{
    char file[160];
    page_file_name(d, current->generation, file, sizeof file);
    int flags = O_RDWR | O_NOFOLLOW | O_CLOEXEC | (create ? O_CREAT | O_EXCL : 0);
    int fd = openat(dir_fd, file, flags, 0600);
    return fd < 0 ? -1 : um_fd_adopt(fd);
}

int um_group_pages_fd(const struct um_domain *d)
{
    char file[160];
    page_file_name(d, current->generation, file, sizeof file);
    return openat(dir_fd, file, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
}

void um_group_unlink_pages(const struct um_domain *d)
{
    char file[160];
    page_file_name(d, current->generation, file, sizeof file);
    unlinkat(dir_fd, file, 0);
}

void um_group_lock(struct um_group *g)
{
    um_shm_lock(&g->lock); /* list links change with single stores: nothing to repair */
}

void um_group_unlock(struct um_group *g) { um_shm_unlock(&g->lock); }

struct um_domain *um_group_find(struct um_group *g, dev_t dev, ino_t ino)
{
    for (struct um_domain *d = g->domains; d; d = d->next)
        if (d->dev == dev && d->ino == ino)
            return d;
    return NULL;
}

void um_group_add(struct um_group *g, struct um_domain *d)
{
    d->id = g->next_id++;
    d->next = g->domains;
    g->domains = d;
}

void um_group_remove(struct um_group *g, struct um_domain *d)
{
    for (struct um_domain **at = &g->domains; *at; at = &(*at)->next) {
        if (*at == d) {
            *at = d->next;
            return;
        }
    }
}

/* Write back every dirty block the group's frames hold (no member alive may hold one):
 * the number of domains whose stores could not all be written (each said). */
static int write_back_all(struct um_group *g, uint64_t generation)
{
    struct um_cache *c = g->cache;
    int failures = 0;
    for (struct um_domain *d = g->domains; c && d; d = d->next) {
        char file[160];
        page_file_name(d, generation, file, sizeof file);
        int pages = openat(dir_fd, file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        int target = -1, err = 0;
        for (uint32_t f = 0; f < c->nframes && !err; f++) {
            if (atomic_load(&c->frames[f].dom) != d || !atomic_load(&c->frames[f].dirty) ||
                atomic_load(&c->frames[f].state) == UM_FRAME_FREE)
                continue;
            if (target < 0 && (pages < 0 || (target = um_foreign_open_file(d)) < 0))
                err = errno;
            else
                err = um_foreign_copy_dirty(c, f, pages, target);
        }
        if (target >= 0 && !err && fdatasync(target))
            err = errno;
        if (err) {
            um_error("%s: stores left by a process that died could not be written back (%s); "
                     "they stay in %s/%s",
                     d->path, strerror(err), "/dev/shm/uffdmap-UID", file);
            failures++;
        } else {
            unlinkat(dir_fd, file, 0);
        }
        if (pages >= 0)
            syscall(SYS_close, pages);
        if (target >= 0)
            um_fd_close_file(target);
    }
    return failures;
}

/* Set up a new region in fd (empty): its root, with this process to become member 0. */
static struct um_group *create(int fd)
{
    if (syscall(SYS_ftruncate, fd, (off_t)GROUP_BYTES) ||
        um_shm_attach(fd, GROUP_BASE, GROUP_BYTES, true)) {
        syscall(SYS_ftruncate, fd, (off_t)0); /* empty again: the next process creates it */
        return NULL;
    }
    struct um_group *g = um_shm_alloc(sizeof *g);
    if (!g) {
        um_shm_detach();
        return NULL;
    }
    um_shm_mutex_init(&g->lock);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    g->generation = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
    um_shm_set_root(g);
    return g;
}

/* Map an existing region; if every member is gone, write back what they left and start
 * afresh. NULL if it cannot be mapped here. */
static struct um_group *attach_existing(int fd, bool *fresh)
{
    if (um_shm_attach(fd, 0, 0, false)) {
        uint64_t magic = 0;
        um_os_pread(fd, &magic, sizeof magic, 0);
        if (magic != 0)
            return NULL; /* a region, at an address taken here */
        /* Its creator died before writing its header: nothing in it to keep. */
        *fresh = true;
        return syscall(SYS_ftruncate, fd, (off_t)0) ? NULL : create(fd);
    }
    struct um_group *g = um_shm_root();
    if (g && g->members && um_members_any_alive(g->members, -1)) {
        *fresh = false;
        return g;
    }
    if (g && g->members)
        write_back_all(g, g->generation);
    um_shm_detach();
    if (syscall(SYS_ftruncate, fd, (off_t)0))
        return NULL;
    *fresh = true;
    return create(fd);
}

struct um_group *um_group_join(const char *name, bool *fresh)
{
    snprintf(group_name, sizeof group_name, "%s", name);
    if ((dir_fd = open_dir()) < 0)
        return NULL;
    region_fd = open_region(dir_fd, name);
    struct stat st;
    struct um_group *g = NULL;
    if (region_fd >= 0 && fstat(region_fd, &st) == 0) {
        *fresh = st.st_size == 0;
        g = *fresh ? create(region_fd) : attach_existing(region_fd, fresh);
    }
    if (!g || (!*fresh && um_members_join(g->members, g) < 0)) {
        um_warn("cannot join the page cache of group '%s' (another program holds its address, "
                "or it is full): this process's cache is its own",
                name);
        if (g)
            um_shm_detach();
        if (region_fd >= 0)
            syscall(SYS_close, region_fd);
        syscall(SYS_close, dir_fd);
        dir_fd = region_fd = -1;
        *fresh = true; /* the caller sets up a cache of its own */
        return NULL;
    }
    dir_fd = um_fd_adopt(dir_fd);
    region_fd = um_fd_adopt(region_fd);
    current = g;
    return g;
}

void um_group_renumber(int from, int to)
{
    if (dir_fd == from)
        dir_fd = to;
    if (region_fd == from)
        region_fd = to;
}

void um_group_joined(void)
{
    if (region_fd >= 0)
        flock(region_fd, LOCK_UN);
}

void um_group_leave(void)
{
    struct um_group *g = current;
    if (!g || !lock_file(region_fd))
        return;
    /* Still a member until the process is gone (its threads may hold frames): judged as if
     * it were not, as are the others that are leaving (two members exiting at once would
     * otherwise each see the other alive and leave the files behind). */
    um_members_leaving();
    if (!um_members_any_staying(g->members, (int)um_domain_me())) {
        write_back_all(g, g->generation);
        char file[96];
        snprintf(file, sizeof file, "%s.cache", group_name);
        unlinkat(dir_fd, file, 0);
    }
    flock(region_fd, LOCK_UN);
}

int um_group_write_back_orphans(const char *name)
{
    snprintf(group_name, sizeof group_name, "%s", name);
    if ((dir_fd = open_dir()) < 0)
        return 1;
    char file[96];
    snprintf(file, sizeof file, "%s.cache", name);
    struct stat st;
    if (fstatat(dir_fd, file, &st, AT_SYMLINK_NOFOLLOW))
        return 0; /* no such group: nothing left behind */
    if ((region_fd = open_region(dir_fd, name)) < 0 || um_shm_attach(region_fd, 0, 0, false))
        return 1;
    struct um_group *g = um_shm_root();
    int rc = 0;
    if (g && g->members && um_members_any_alive(g->members, -1)) {
        rc = 2;
    } else {
        rc = g && g->members && write_back_all(g, g->generation) ? 1 : 0;
        if (rc == 0)
            unlinkat(dir_fd, file, 0);
    }
    flock(region_fd, LOCK_UN);
    return rc;
}
