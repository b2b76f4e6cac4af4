#include "foreign.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cache.h"
#include "domain.h"
#include "fds.h"
#include "group.h"
#include "io.h"
#include "members.h"
#include "os.h"

bool um_foreign_evictable(const struct um_domain *d)
{
    (void)d;
    return um_group_current() != NULL; /* every domain of a group process is the group's */
}

int um_foreign_open_file(const struct um_domain *d)
{
    int fd = (int)syscall(SYS_openat, AT_FDCWD, d->path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return -1;
    fd = um_fd_adopt_file(fd); /* closed with um_fd_close_file(): the program's locks stay */
    struct stat st;
    if (fstat(fd, &st) || st.st_dev != d->dev || st.st_ino != d->ino) {
        um_fd_close_file(fd);
        errno = ESTALE;
        return -1;
    }
    return fd;
}

int um_foreign_copy_dirty(const struct um_cache *c, uint32_t f, int pages, int file)
{
    const struct um_frame *fr = &c->frames[f];
    const struct um_domain *d = atomic_load(&fr->dom);
    uint64_t dirty = atomic_load(&fr->dirty), base = (uint64_t)fr->block << d->shift;
    size_t chunk = (size_t)1 << d->chunk_shift, len = atomic_load(&fr->len);
    for (unsigned b = 0; b < 64; b++) {
        size_t from = (size_t)b * chunk;
        if (!(dirty >> b & 1) || from >= len)
            continue;
        int err = um_io_copy(pages, file, base + from, len - from < chunk ? len - from : chunk);
        if (err)
            return err;
    }
    return 0;
}

int um_foreign_write_back(struct um_cache *c, uint32_t f, bool punch)
{
    struct um_frame *fr = &c->frames[f];
    struct um_domain *d = atomic_load(&fr->dom);
    uint64_t off = (uint64_t)fr->block << d->shift;
    int pages = um_group_pages_fd(d);
    if (pages < 0)
        return -1;
    int rc = 0;
    if (atomic_load(&fr->dirty)) {
        /* As writeback.c does: no store may land between the copy and the clean mark. */
        int file = -1;
        if (um_members_protect(d, atomic_load(&fr->writers), off, d->pagesize, false) ||
            (file = um_foreign_open_file(d)) < 0 || um_foreign_copy_dirty(c, f, pages, file)) {
            rc = -1;
        } else {
            atomic_store(&fr->dirty, 0);
            atomic_store(&fr->writers, 0);
        }
        if (file >= 0)
            um_fd_close_file(file);
    }
    if (rc == 0 && punch)
        syscall(SYS_fallocate, pages, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
                (off_t)d->pagesize);
    syscall(SYS_close, pages);
    return rc;
}
