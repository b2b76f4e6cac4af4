/* userfaultfd: opening, probing, and the few ioctls the core needs.
 *
 * Kernel headers here may be older than the running kernel, so constants newer than them are
 * defined behind #ifndef; whether the kernel has them is decided by probing UFFDIO_API. */
#ifndef UM_UFFD_H
#define UM_UFFD_H

#include <linux/userfaultfd.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1 << 13)
#endif
#ifndef UFFD_FEATURE_POISON
#define UFFD_FEATURE_POISON (1 << 14)
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif
#ifndef UFFD_FEATURE_MOVE
#define UFFD_FEATURE_MOVE (1 << 16)
#endif
#ifndef UFFDIO_CONTINUE_MODE_WP
#define UFFDIO_CONTINUE_MODE_WP ((__u64)1 << 1) /* Linux 6.2 */
#endif
#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC 0xAA
#define USERFAULTFD_IOC_NEW _IO(USERFAULTFD_IOC, 0x00)
#endif

/* Open a userfaultfd that handles kernel-mode faults too (never UFFD_USER_MODE_ONLY: a
 * write(fd, mapped_ptr, n) must work), enabling the wanted features the kernel offers.
 * Returns the descriptor, or -1 with errno set (EPERM/EACCES: not permitted here). */
int um_uffd_open(uint64_t wanted, uint64_t *features);

/* Register a mapping of the cache's memfd for missing and minor faults (pages not in the memfd,
 * and pages in it but not mapped here), and for write-protect faults too when `wp`. */
int um_uffd_register(int uffd, uintptr_t addr, size_t len, bool wp);
/* Map the memfd's pages behind [dst, dst + len) there (write-protected when `wp`) and wake
 * waiters. Returns the number of bytes now present from dst on (pages already present count);
 * less than len on error. */
size_t um_uffd_continue(int uffd, uintptr_t dst, size_t len, bool wp);
/* Put a copy of [src, src + len) into the pages of the memfd behind [dst, dst + len), which
 * must have none, and map them there (write-protected when `wp`), waking waiters: the store and
 * the map of a fill in one call. Only for MAP_SHARED mappings (in a private one the kernel
 * would make anonymous pages). Returns the number of bytes copied from dst on; less than len
 * where the kernel refused (a page present in the memfd or mapped, no memory, a mapping that
 * changed), for the caller to finish another way. */
size_t um_uffd_copy(int uffd, uintptr_t dst, const void *src, size_t len, bool wp);
/* Write-protect [addr, addr + len), or lift the protection and wake the writers waiting. */
int um_uffd_writeprotect(int uffd, uintptr_t addr, size_t len, bool protect);
/* Make every store to [addr, addr + len), part of a shared mapping of a cache memfd, fault from
 * now on: write-protect it, or, where the kernel refuses that (a seccomp filter, say), unmap its
 * pages. They stay in the memfd, and the next touch is a minor fault, mapped write-protected
 * again once its frame is resident. 0, or -1 if neither could be done. */
int um_uffd_stop_stores(int uffd, uintptr_t addr, size_t len);
/* Let the store that faulted at `addr`, write-protected in [lo, lo + len) (part of a shared
 * mapping of a cache memfd, resident), through and wake its writer: lift the protection of the
 * range, or, where the kernel refuses that, unmap the store's page and map it again writable. */
void um_uffd_let_store(int uffd, uintptr_t lo, size_t len, uintptr_t addr);
void um_uffd_wake(int uffd, uintptr_t addr, size_t len);

#endif
