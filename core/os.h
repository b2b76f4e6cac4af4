/* Raw system calls for the core.
 *
 * The core never calls the interposed mmap family (that would recurse into the shim) nor the
 * application's allocator (a handler thread must never take a lock the application may hold),
 * so every memory operation it needs goes straight to the kernel here. */
#ifndef UM_OS_H
#define UM_OS_H

#include <signal.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#define UM_PAGE 4096UL

void *um_os_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
int um_os_munmap(void *addr, size_t len);
int um_os_madvise(void *addr, size_t len, int advice);
void *um_os_mremap(void *old, size_t old_len, size_t new_len, int flags, void *new_addr);

/* MADV_DONTNEED on n ranges (address order, none overlapping), in one system call where the
 * kernel allows it, so that the TLB is flushed once for all of them. False if some range was
 * refused (EINVAL: its pages are locked in memory, and stay mapped). */
bool um_os_dontneed_ranges(const struct iovec *ranges, unsigned n);
/* The end of the mapped part of [lo, hi) that starts at lo (lo itself if lo is not mapped),
 * found with mincore(): where the kernel stops an mprotect() that meets a hole. */
uintptr_t um_os_mapped_end(uintptr_t lo, uintptr_t hi);

/* File I/O by system call: the shim interposes the libc functions of the same names. */
ssize_t um_os_pread(int fd, void *buf, size_t len, off_t off);
ssize_t um_os_pwrite(int fd, const void *buf, size_t len, off_t off);
ssize_t um_os_read(int fd, void *buf, size_t len);
ssize_t um_os_write(int fd, const void *buf, size_t len);

/* Wait while *word == expected: until woken, or for at most a few milliseconds (the caller
 * looks again either way, so a missed wake-up costs time, never progress). */
void um_futex_wait(_Atomic uint32_t *word, uint32_t expected);
/* The same, for at most `ms` milliseconds. */
void um_futex_wait_ms(_Atomic uint32_t *word, uint32_t expected, unsigned ms);
/* Wake every thread waiting on word. */
void um_futex_wake(_Atomic uint32_t *word);

/* A program's thread inside the core may hold locks that the fault handlers need. No signal
 * handler of the program may run meanwhile: it may touch managed memory, and its fault would
 * wait for those locks forever. Nor may the thread be cancelled: glibc would unwind it at a
 * cancellation point the core calls (open, close, fdatasync) with the locks still held.
 * Signals the thread raises itself (a fault, a trap) stay deliverable: blocked, the kernel
 * would kill the process instead. Between begin and end, neither can happen. */
struct um_os_quiet {
    sigset_t mask;
    int cancel;
};
void um_os_quiet_begin(struct um_os_quiet *q);
void um_os_quiet_end(const struct um_os_quiet *q);

/* Milliseconds on the monotonic clock, never 0 (a caller may keep 0 for "not yet"). */
uint64_t um_os_now_ms(void);

/* Threads in this process (/proc/self/stat), by system calls only (async-signal-safe); 0 if
 * unknown. */
unsigned um_os_thread_count(void);

/* Zeroed, lazily backed memory for the core's own tables; NULL on failure. */
void *um_os_alloc(size_t len);
void um_os_free(void *p, size_t len);
/* A lazily backed MAP_SHARED anonymous region of len bytes in the core's zone (shared with
 * fork children); NULL on failure. */
void *um_os_reserve_shared(size_t len);
/* Whether [lo, hi) overlaps the address zone the core's own memory is placed in. */
bool um_os_zone_overlaps(uintptr_t lo, uintptr_t hi);
/* The same, for read buffers: aligned to and backed by transparent huge pages where the
 * kernel has them (never freed). */
void *um_os_alloc_io(size_t len);

static inline size_t um_page_up(size_t n) { return (n + UM_PAGE - 1) & ~(UM_PAGE - 1); }
static inline size_t um_page_down(size_t n) { return n & ~(UM_PAGE - 1); }

#endif
