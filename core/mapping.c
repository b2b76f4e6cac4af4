#include "mapping.h"

#include <errno.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fds.h"
#include "log.h"
#include "os.h"

struct um_mapping *um_mapping_new(uintptr_t start, size_t len, uint64_t file_off, size_t pagesize,
                                  int fd, int prot, int flags, uint64_t file_size)
{
    unsigned shift = (unsigned)__builtin_ctzl(pagesize);
    uint64_t first = file_off >> shift;
    uint64_t last = (file_off + len - 1) >> shift;
    size_t nblocks = (size_t)(last - first + 1);
    if (nblocks >= UINT32_MAX) {
        errno = ENOMEM;
        return NULL;
    }
    /* The slot table is lazily backed: a huge sparse mapping costs only the slots touched. */
    size_t alloc_len = sizeof(struct um_mapping) + nblocks * sizeof(_Atomic uint32_t);
    struct um_mapping *m = um_os_alloc(alloc_len);
    if (!m)
        return NULL;
    m->start = start;
    m->end = start + len;
    m->file_off = file_off;
    m->first_block = first;
    m->nblocks = nblocks;
    m->pagesize = pagesize;
    m->shift = shift;
    m->fd = fd;
    m->prot = prot;
    m->flags = flags;
    m->shared = (flags & MAP_TYPE) != MAP_PRIVATE;
    m->chunk_shift = shift > 18 ? shift - 6 : 12;
    atomic_init(&m->file_size, file_size);
    m->direct_fd = -1;
    pthread_mutex_init(&m->stream_lock, NULL);
    m->alloc_len = alloc_len;
    return m;
}

void um_mapping_set_path(struct um_mapping *m, const char *path)
{
    snprintf(m->path, sizeof m->path, "%s", path);
}

int um_mapping_to_kernel(const struct um_mapping *m, uintptr_t lo, uintptr_t hi)
{
    if (lo >= hi)
        return 0;
    uint64_t off = m->file_off + (lo - m->start);
    int flags = (m->flags & (MAP_SHARED | MAP_PRIVATE)) | MAP_FIXED;
    if (um_os_mmap((void *)lo, hi - lo, m->prot, flags, m->fd, (off_t)off) != MAP_FAILED)
        return 0;
    um_warn("cannot hand %#lx-%#lx of %s to the kernel (%m)", (unsigned long)lo,
            (unsigned long)hi, m->path);
    return -1;
}

#define PROBE_PAGES 4096

void um_mapping_to_kernel_where_missing(const struct um_mapping *m, uintptr_t lo, uintptr_t hi)
{
    unsigned char vec[PROBE_PAGES];
    for (uintptr_t at = lo; at < hi;) {
        size_t pages = (hi - at) / UM_PAGE < PROBE_PAGES ? (hi - at) / UM_PAGE : PROBE_PAGES;
        if (mincore((void *)at, pages * UM_PAGE, vec)) {
            um_mapping_to_kernel(m, at, at + pages * UM_PAGE);
        } else {
            for (size_t i = 0; i < pages;) {
                size_t j = i;
                while (j < pages && !(vec[j] & 1))
                    j++;
                um_mapping_to_kernel(m, at + i * UM_PAGE, at + j * UM_PAGE);
                i = j + 1;
            }
        }
        at += pages * UM_PAGE;
    }
}

void um_mapping_free(struct um_mapping *m)
{
    if (!m)
        return;
    if (m->fd >= 0)
        um_fd_close(m->fd);
    if (m->direct_fd >= 0)
        um_fd_close(m->direct_fd);
    um_os_free(m, m->alloc_len);
}
