/* read() into managed memory, and write() from it to a managed file, through a buffer of the
 * shim's own (bounce.c). */
#ifndef UM_BOUNCE_H
#define UM_BOUNCE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

/* Whether a read into the n buffers of iov, or a write from them to fd (a managed file), must
 * go through a bounce buffer: some byte of them is managed memory. */
bool um_bounce_needed(int fd, const struct iovec *iov, int n, uint64_t total);

/* The call itself, through the bounce buffer: off < 0 for the file position. Returns what the
 * kernel's call would (count, or -1 with errno). */
ssize_t um_bounce_read(int fd, const struct iovec *iov, int n, uint64_t total, off_t off);
ssize_t um_bounce_write(int fd, const struct iovec *iov, int n, uint64_t total, off_t off);

#endif
