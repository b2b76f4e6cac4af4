#include "io.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
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

size_t um_io_read(int fd, _Atomic uint64_t *size_cache, void *buf, size_t want, uint64_t off,
                  size_t *bytes_read)
{
    uint64_t size = file_size(fd, size_cache, off + want);
    size_t avail = size > off ? (size - off < want ? (size_t)(size - off) : want) : 0;
    size_t got = 0;
    while (got < avail) {
        ssize_t n = um_os_pread(fd, (char *)buf + got, avail - got, (off_t)(off + got));
        if (n > 0)
            got += (size_t)n;
        else if (n == 0 || errno != EINTR)
            break; /* shrunk under us, or EIO: the caller hands the rest to the kernel */
    }
    *bytes_read = got;
    /* Zero-fill the last page only at true EOF; after an error or a shrink a partial page is
     * left out, and the kernel, serving it instead, reads it or raises SIGBUS itself. */
    size_t install = got == avail ? um_page_up(got) : um_page_down(got);
    if (install < got)
        return install;
    memset((char *)buf + got, 0, install - got);
    return install;
}
