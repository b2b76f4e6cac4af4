#include "domain.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fds.h"
#include "os.h"
#include "uffd.h"

/* Named after the file (its last component: the name shows in /proc/PID/maps). */
static int memfd_for(const char *path)
{
    const char *base = strrchr(path, '/');
    char name[64];
    snprintf(name, sizeof name, "uffdmap:%.50s", base ? base + 1 : path);
    int fd = (int)syscall(SYS_memfd_create, name, MFD_CLOEXEC);
    return fd < 0 ? -1 : um_fd_adopt(fd);
}

struct um_domain *um_domain_new(int fd, bool writable, const char *path, dev_t dev, ino_t ino,
                                size_t pagesize, uint64_t file_size)
{
    unsigned shift = (unsigned)__builtin_ctzl(pagesize);
    size_t nslots = (size_t)(UM_DOMAIN_MAX_BYTES >> shift);
    /* The slot table is lazily backed: a huge sparse file costs only the slots touched. */
    size_t alloc_len = sizeof(struct um_domain) + nslots * sizeof(_Atomic uint32_t);
    struct um_domain *d = um_os_alloc(alloc_len);
    if (!d)
        return NULL;
    d->memfd = memfd_for(path);
    if (d->memfd < 0) {
        um_os_free(d, alloc_len);
        return NULL;
    }
    d->alloc_len = alloc_len;
    d->nslots = nslots;
    d->dev = dev;
    d->ino = ino;
    d->fd = fd;
    d->direct_fd = -1;
    d->writable = writable;
    d->pagesize = pagesize;
    d->shift = shift;
    d->chunk_shift = shift > 18 ? shift - 6 : 12;
    atomic_init(&d->file_size, file_size);
    pthread_mutex_init(&d->stream_lock, NULL);
    pthread_mutex_init(&d->ranges_lock, NULL);
    pthread_mutex_init(&d->size_lock, NULL);
    snprintf(d->path, sizeof d->path, "%s", path);
    if (um_domain_resize(d, file_size)) {
        int err = errno;
        um_fd_close(d->memfd);
        um_os_free(d, alloc_len);
        errno = err;
        return NULL;
    }
    return d;
}

int um_domain_resize(struct um_domain *d, uint64_t file_size)
{
    uint64_t size = um_page_up(file_size);
    if (size > UM_DOMAIN_MAX_BYTES) {
        errno = EFBIG;
        return -1;
    }
    pthread_mutex_lock(&d->size_lock);
    int rc = 0;
    if (size != atomic_load(&d->memfd_size)) {
        rc = (int)syscall(SYS_ftruncate, d->memfd, (off_t)size);
        if (rc == 0)
            atomic_store(&d->memfd_size, size);
    }
    pthread_mutex_unlock(&d->size_lock);
    return rc;
}

int um_domain_punch(struct um_domain *d, uint64_t off, uint64_t len)
{
    /* By system call: the shim interposes fallocate(). */
    return (int)syscall(SYS_fallocate, d->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                        (off_t)off, (off_t)len);
}

int um_domain_store(struct um_domain *d, const void *buf, size_t len, uint64_t off)
{
    /* Never past the memfd's end: a write there would grow it, and with it the range where
     * the kernel lets the program touch pages instead of raising SIGBUS. */
    uint64_t end = atomic_load(&d->memfd_size);
    len = off >= end ? 0 : (end - off < len ? (size_t)(end - off) : len);
    size_t done = 0;
    while (done < len) {
        ssize_t n = um_os_pwrite(d->memfd, (const char *)buf + done, len - done,
                                 (off_t)(off + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? errno : EIO;
        done += (size_t)n;
    }
    return 0;
}

void um_domain_free(struct um_domain *d)
{
    if (!d)
        return;
    um_fd_close(d->memfd);
    if (d->fd >= 0)
        um_fd_close(d->fd);
    if (d->direct_fd >= 0)
        um_fd_close(d->direct_fd);
    um_os_free(d->ranges, d->ranges_cap * sizeof *d->ranges);
    um_os_free(d, d->alloc_len);
}

int um_domain_reserve_ranges(struct um_domain *d, size_t n)
{
    if (n <= d->ranges_cap)
        return 0;
    size_t cap = n < 8 ? 8 : n * 2;
    struct um_dom_range *a = um_os_alloc(cap * sizeof *a);
    if (!a)
        return -1;
    pthread_mutex_lock(&d->ranges_lock);
    for (size_t i = 0; i < d->nranges; i++)
        a[i] = d->ranges[i];
    struct um_dom_range *old = d->ranges;
    size_t old_cap = d->ranges_cap;
    d->ranges = a;
    d->ranges_cap = cap;
    pthread_mutex_unlock(&d->ranges_lock);
    um_os_free(old, old_cap * sizeof *old);
    return 0;
}

struct um_dom_range *um_domain_ranges_begin(struct um_domain *d)
{
    pthread_mutex_lock(&d->ranges_lock);
    return d->ranges;
}

void um_domain_ranges_end(struct um_domain *d, size_t n)
{
    d->nranges = n;
    pthread_mutex_unlock(&d->ranges_lock);
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

int um_domain_protect(struct um_domain *d, int uffd, uint64_t off, uint64_t len)
{
    int rc = 0;
    pthread_mutex_lock(&d->ranges_lock);
    for (size_t i = 0; i < d->nranges; i++) {
        uintptr_t lo, hi;
        if (d->ranges[i].tracked && clip(&d->ranges[i], off, len, &lo, &hi) &&
            um_uffd_writeprotect(uffd, lo, hi - lo, true))
            rc = -1;
    }
    pthread_mutex_unlock(&d->ranges_lock);
    return rc;
}

unsigned um_domain_mapped(struct um_domain *d, uint64_t off, uint64_t len, struct iovec *out,
                          unsigned n, unsigned most)
{
    pthread_mutex_lock(&d->ranges_lock);
    for (size_t i = 0; i < d->nranges && n < most; i++) {
        uintptr_t lo, hi;
        if (d->ranges[i].shared && clip(&d->ranges[i], off, len, &lo, &hi))
            out[n++] = (struct iovec){.iov_base = (void *)lo, .iov_len = hi - lo};
    }
    pthread_mutex_unlock(&d->ranges_lock);
    return n;
}
