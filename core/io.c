#include "io.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "os.h"

static uint64_t file_size(int fd, _Atomic uint64_t *cached, uint64_t need)
{
    uint64_t size = atomic_load_explicit(cached, memory_order_relaxed);
    if (size >= need)
        return size;
    struct stat st;
    if (fstat(fd, &st) == 0) {
        size = (uint64_t)st.st_size;
        atomic_store_explicit(cached, size, memory_order_relaxed);
    }
    return size;
}

#ifndef SYS_cachestat
#define SYS_cachestat 451
#endif
struct um_cachestat_range { uint64_t off, len; };
struct um_cachestat { uint64_t nr_cache, nr_dirty, nr_writeback, nr_evicted, nr_recently_evicted; };

/* Whether [off, off + len) is better read with O_DIRECT: when the page cache holds less than
 * half of it (cachestat(2), Linux 6.5). A read of cached bytes stays buffered: it costs a copy
 * from memory instead of a trip to the device. Without cachestat, never. */
static bool read_direct(const struct um_io_src *src, uint64_t off, size_t len)
{
    static _Atomic bool no_cachestat;
    if (src->direct_fd < 0)
        return false;
    if (src->direct_always)
        return true;
    if (atomic_load_explicit(&no_cachestat, memory_order_relaxed))
        return false;
    struct um_cachestat_range range = {off, len};
    struct um_cachestat cs;
    if (syscall(SYS_cachestat, src->fd, &range, &cs, 0)) {
        if (errno == ENOSYS)
            atomic_store_explicit(&no_cachestat, true, memory_order_relaxed);
        return false;
    }
    return cs.nr_cache * UM_PAGE * 2 < len;
}

/* Read [off, off + avail) into buf; the bytes read. Direct reads cover whole pages (the file
 * system's alignment) and fall back to buffered ones where O_DIRECT is refused. */
static size_t read_range(const struct um_io_src *src, void *buf, size_t avail, uint64_t off)
{
    if (avail == 0)
        return 0;
    bool direct = read_direct(src, off, avail);
    /* Streaming read-ahead reads one window at a time from the device, so that one filler
     * reads while another copies. Measured with 4 MiB O_DIRECT reads into huge pages here:
     * 2.6-3.4 GB/s with one in flight, 2.4-3.2 GB/s with two. */
    pthread_mutex_t *stream = direct ? src->stream : NULL;
    if (stream)
        pthread_mutex_lock(stream);
    size_t got = 0;
    while (got < avail) {
        size_t len = direct ? um_page_up(avail - got) : avail - got;
        ssize_t n = um_os_pread(direct ? src->direct_fd : src->fd, (char *)buf + got, len,
                                (off_t)(off + got));
        if (n > 0) {
            got += (size_t)n;
            if (direct && (size_t)n % UM_PAGE)
                break; /* end of file inside the page */
        } else if (n < 0 && direct && errno == EINVAL) {
            direct = false;
        } else if (n == 0 || errno != EINTR) {
            break; /* shrunk under us, or EIO: the caller hands the rest to the kernel */
        }
    }
    if (stream)
        pthread_mutex_unlock(stream);
    return got < avail ? got : avail; /* a direct read may pass a file grown meanwhile */
}

size_t um_io_read(const struct um_io_src *src, void *buf, size_t want, uint64_t off,
                  size_t *bytes_read)
{
    uint64_t size = file_size(src->fd, src->size, off + want);
    size_t avail = size > off ? (size - off < want ? (size_t)(size - off) : want) : 0;
    size_t got = read_range(src, buf, avail, off);
    *bytes_read = got;
    /* Zero-fill the last page only at true EOF; after an error or a shrink a partial page is
     * left out, and the kernel, serving it instead, reads it or raises SIGBUS itself. */
    size_t install = got == avail ? um_page_up(got) : um_page_down(got);
    if (install < got)
        return install;
    memset((char *)buf + got, 0, install - got);
    return install;
}

/* Without copy_file_range() between these files: through a buffer on the caller's stack (the
 * callers are handler threads and the program's threads in msync() and the like). */
static int copy_through_buffer(int from, int to, uint64_t off, size_t len)
{
    char buf[16384];
    for (size_t done = 0; done < len;) {
        size_t want = len - done < sizeof buf ? len - done : sizeof buf;
        ssize_t n = um_os_pread(from, buf, want, (off_t)(off + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? errno : EIO;
        for (ssize_t put = 0; put < n;) {
            ssize_t w = um_os_pwrite(to, buf + put, (size_t)(n - put), (off_t)(off + done) + put);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                return w < 0 ? errno : EIO;
            put += w;
        }
        done += (size_t)n;
    }
    return 0;
}

int um_io_copy(int from, int to, uint64_t off, size_t len)
{
    static _Atomic bool no_copy_range;
    if (atomic_load_explicit(&no_copy_range, memory_order_relaxed))
        return copy_through_buffer(from, to, off, len);
    size_t done = 0;
    while (done < len) {
        loff_t in = (loff_t)(off + done), out = in;
        ssize_t n = syscall(SYS_copy_file_range, from, &in, to, &out, len - done, 0);
        if (n > 0) {
            done += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS ||
                      errno == EOPNOTSUPP || errno == EBADF)) {
            atomic_store_explicit(&no_copy_range, true, memory_order_relaxed);
            return copy_through_buffer(from, to, off + done, len - done);
        }
        return n < 0 ? errno : EIO;
    }
    return 0;
}
