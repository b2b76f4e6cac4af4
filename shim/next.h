/* The functions the shim passes calls on to: the next definitions in the lookup order
 * (normally libc's), resolved early; the raw system call before that. */
#ifndef UM_NEXT_H
#define UM_NEXT_H

#include <stddef.h>
#include <sys/types.h>

void um_next_resolve(void);
void *um_next_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
int um_next_munmap(void *addr, size_t len);
int um_next_msync(void *addr, size_t len, int flags);

#endif
