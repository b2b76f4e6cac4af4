/* Reading file contents for a fill. */
#ifndef UM_IO_H
#define UM_IO_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Where a fill reads from. */
struct um_io_src {
    int fd;                 /* buffered reads, and fstat for the size */
    int direct_fd;          /* the same file opened O_DIRECT; -1: none */
    bool direct_always;     /* UFFDMAP_IO=direct: do not ask what the page cache holds */
    _Atomic uint64_t *size; /* the size last seen, refreshed when a read reaches past it */
    pthread_mutex_t *stream; /* if set, held across direct reads: streaming read-ahead */
};

/* Read up to `want` bytes at `off` (4 KiB aligned, as buf) into buf, stopping at end of file
 * or at an I/O error. Bytes the page cache holds are read through it; with a direct_fd the
 * rest are read with O_DIRECT, so that the file's pages are not cached a second time outside
 * the budget. The tail of the last page read is zeroed, as the kernel does past EOF. Returns
 * the bytes of buf to install: a multiple of 4 KiB, 0 if `off` is at or past EOF.
 * *bytes_read gets the file bytes. */
size_t um_io_read(const struct um_io_src *src, void *buf, size_t want, uint64_t off,
                  size_t *bytes_read);

/* Copy bytes [off, off + len) of file `from` to the same offsets of file `to`: 0 or an errno. */
int um_io_copy(int from, int to, uint64_t off, size_t len);

#endif
