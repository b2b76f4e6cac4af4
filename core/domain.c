#include "domain.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fds.h"
#include "group.h"
#include "os.h"
#include "runtime.h"
#include "shm.h"
#include "uffd.h"

static unsigned me;

unsigned um_domain_me(void) { return me; }
void um_domain_set_me(unsigned member) { me = member; }

/* Named after the file (its last component: the name shows in /proc/PID/maps). */
static int memfd_for(const char *path)
{
    const char *base = strrchr(path, '/');
    char name[64];
    snprintf(name, sizeof name, "uffdmap:%.50s", base ? base + 1 : path);
    int fd = (int)syscall(SYS_memfd_create, name, MFD_CLOEXEC);
    return fd < 0 ? -1 : um_fd_adopt(fd);
}

static struct um_view *view_new(struct um_domain *d, int memfd, int fd, bool writable)
{
    struct um_view *v = um_os_alloc(sizeof *v);
    if (!v)
        return NULL;
    v->dom = d;
    v->memfd = memfd;
    v->fd = fd;
    v->direct_fd = -1;
    v->presence_fd = -1;
    atomic_init(&v->wb_fd, -1);
    v->writable = writable;
    pthread_mutex_init(&v->stream_lock, NULL);
    pthread_mutex_init(&v->ranges_lock, NULL);
    return v;
}

struct um_view *um_domain_new(int fd, bool writable, const char *path, dev_t dev, ino_t ino,
                              size_t pagesize, uint64_t file_size)
{
    unsigned shift = (unsigned)__builtin_ctzl(pagesize);
    size_t nslots = (size_t)(UM_DOMAIN_MAX_BYTES >> shift);
    /* The slot table is lazily backed: a huge sparse file costs only the slots touched. */
    size_t alloc_len = sizeof(struct um_domain) + nslots * sizeof(_Atomic uint32_t);
    struct um_domain *d = um_shm_alloc(alloc_len);
    struct um_group *g = um_group_current();
    if (d && g)
        um_group_add(g, d); /* its id names the page file */
    int memfd = !d ? -1 : g ? um_group_open_pages(d, true) : memfd_for(path);
    struct um_view *v = memfd >= 0 ? view_new(d, memfd, fd, writable) : NULL;
    if (!v) {
        if (memfd >= 0)
            um_fd_close(memfd);
        if (d && g) {
            um_group_unlink_pages(d);
            um_group_remove(g, d);
        }
        um_shm_free(d, alloc_len);
        errno = ENOMEM;
        return NULL;
    }
    d->alloc_len = alloc_len;
    d->nslots = nslots;
    d->dev = dev;
    d->ino = ino;
    d->pagesize = pagesize;
    d->shift = shift;
    d->chunk_shift = shift > 18 ? shift - 6 : 12;
    atomic_init(&d->file_size, file_size);
    um_shm_mutex_init(&d->size_lock);
    snprintf(d->path, sizeof d->path, "%s", path);
    d->views[me] = v;
    atomic_store(&d->members, 1ULL << me);
    if (um_domain_resize(d, file_size)) {
        int err = errno;
        d->views[me] = NULL;
        um_fd_close(memfd);
        um_os_free(v, sizeof *v);
        if (g) {
            um_group_unlink_pages(d);
            um_group_remove(g, d);
        }
        um_shm_free(d, alloc_len);
        errno = err;
        return NULL;
    }
    return v;
}

struct um_view *um_domain_attach(struct um_domain *d, int fd, bool writable)
{
    int pages = um_group_open_pages(d, false);
    struct um_view *v = pages >= 0 ? view_new(d, pages, fd, writable) : NULL;
    if (!v) {
        if (pages >= 0)
            um_fd_close(pages);
        errno = ENOMEM;
        return NULL;
    }
    d->views[me] = v;
    atomic_fetch_or(&d->members, 1ULL << me);
    return v;
}

int um_domain_resize(struct um_domain *d, uint64_t file_size)
{
    uint64_t size = um_page_up(file_size);
    if (size > UM_DOMAIN_MAX_BYTES) {
        errno = EFBIG;
        return -1;
    }
    um_shm_lock(&d->size_lock); /* the size is set after the ftruncate: nothing to repair */
    int rc = 0;
    if (size != atomic_load(&d->memfd_size)) {
        rc = (int)syscall(SYS_ftruncate, um_here(d)->memfd, (off_t)size);
        if (rc == 0)
            atomic_store(&d->memfd_size, size);
    }
    um_shm_unlock(&d->size_lock);
    return rc;
}

int um_domain_punch(struct um_domain *d, uint64_t off, uint64_t len)
{
    /* By system call: the shim interposes fallocate(). */
    return (int)syscall(SYS_fallocate, um_here(d)->memfd,
                        FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len);
}

int um_domain_store(struct um_domain *d, const void *buf, size_t len, uint64_t off)
{
    /* Never past the memfd's end: a write there would grow it, and with it the range where
     * the kernel lets the program touch pages instead of raising SIGBUS. */
    uint64_t end = atomic_load(&d->memfd_size);
    len = off >= end ? 0 : (end - off < len ? (size_t)(end - off) : len);
    int memfd = um_here(d)->memfd;
    size_t done = 0;
    while (done < len) {
        ssize_t n = um_os_pwrite(memfd, (const char *)buf + done, len - done,
                                 (off_t)(off + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? errno : EIO;
        done += (size_t)n;
    }
    return 0;
}

void um_view_close(struct um_view *v)
{
    um_fd_close(v->memfd);
    if (v->fd >= 0)
        um_fd_close_file(v->fd);
    if (v->direct_fd >= 0)
        um_fd_close_file(v->direct_fd);
    if (atomic_load(&v->wb_fd) >= 0)
        um_fd_close_file(atomic_load(&v->wb_fd));
    if (v->presence_fd >= 0)
        um_fd_close(v->presence_fd); /* a fork child's may be its parent's too: kept linked */
}

void um_view_free(struct um_view *v)
{
    if (!v)
        return;
    um_release_presence(v);
    um_view_close(v);
    um_os_free(v->ranges, v->ranges_cap * sizeof *v->ranges);
    um_os_free(v, sizeof *v);
}

void um_domain_free(struct um_domain *d)
{
    struct um_group *g = um_group_current();
    if (g) {
        um_group_unlink_pages(d);
        um_group_remove(g, d);
    }
    um_shm_free(d, d->alloc_len);
}

int um_view_reserve_ranges(struct um_view *v, size_t n)
{
    if (n <= v->ranges_cap)
        return 0;
    size_t cap = n < 8 ? 8 : n * 2;
    struct um_dom_range *a = um_os_alloc(cap * sizeof *a);
    if (!a)
        return -1;
    pthread_mutex_lock(&v->ranges_lock);
    for (size_t i = 0; i < v->nranges; i++)
        a[i] = v->ranges[i];
    struct um_dom_range *old = v->ranges;
    size_t old_cap = v->ranges_cap;
    v->ranges = a;
    v->ranges_cap = cap;
    pthread_mutex_unlock(&v->ranges_lock);
    um_os_free(old, old_cap * sizeof *old);
    return 0;
}

struct um_dom_range *um_view_ranges_begin(struct um_view *v)
{
    pthread_mutex_lock(&v->ranges_lock);
    return v->ranges;
}

void um_view_ranges_end(struct um_view *v, size_t n)
{
    v->nranges = n;
    pthread_mutex_unlock(&v->ranges_lock);
}

/* The address range of file bytes [off, off + len) in r: false if r maps none of them. */
static bool clip(const struct um_dom_range *r, uint64_t off, uint64_t len, uintptr_t *lo,
                 uintptr_t *hi)
{
    uint64_t r_end = r->off + (r->end - r->start);
    uint64_t a = off > r->off ? off : r->off;
    uint64_t b = off + len < r_end ? off + len : r_end;
    *lo = r->start + (uintptr_t)(a - r->off);
    *hi = r->start + (uintptr_t)(b - r->off);
    return a < b;
}

int um_view_protect(struct um_view *v, int uffd, uint64_t off, uint64_t len)
{
    int rc = 0;
    pthread_mutex_lock(&v->ranges_lock);
    for (size_t i = 0; i < v->nranges; i++) {
        uintptr_t lo, hi;
        if (v->ranges[i].tracked && clip(&v->ranges[i], off, len, &lo, &hi) &&
            um_uffd_stop_stores(uffd, lo, hi - lo))
            rc = -1;
    }
    pthread_mutex_unlock(&v->ranges_lock);
    return rc;
}

unsigned um_domain_mapped(struct um_domain *d, uint64_t off, uint64_t len, struct iovec *out,
                          unsigned n, unsigned most)
{
    struct um_view *v = um_here(d);
    if (!v)
        return n;
    pthread_mutex_lock(&v->ranges_lock);
    for (size_t i = 0; i < v->nranges && n < most; i++) {
        uintptr_t lo, hi;
        if (v->ranges[i].shared && clip(&v->ranges[i], off, len, &lo, &hi))
            out[n++] = (struct iovec){.iov_base = (void *)lo, .iov_len = hi - lo};
    }
    pthread_mutex_unlock(&v->ranges_lock);
    return n;
}
