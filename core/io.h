/* Reading file contents for a fill. */
#ifndef UM_IO_H
#define UM_IO_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* Read up to `want` bytes at `off` into buf, stopping at end of file (the size cached in
 * *size, refreshed with fstat when the read reaches past it) or at an I/O error. The tail of
 * the last page read is zeroed, as the kernel does past EOF. Returns the bytes of buf to
 * install: a multiple of 4 KiB, 0 if `off` is at or past EOF. *bytes_read gets the file bytes. */
size_t um_io_read(int fd, _Atomic uint64_t *size, void *buf, size_t want, uint64_t off,
                  size_t *bytes_read);

#endif
