/* The process-wide state of the shim's core, and the operations the shim calls. */
#ifndef UM_RUNTIME_H
#define UM_RUNTIME_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cache.h"
#include "config.h"
#include "registry.h"

enum um_state {
    UM_OFF,         /* no paths configured, or a bad variable: everything passes through */
    UM_IDLE,        /* configured; userfaultfd opened at the first matching mmap */
    UM_RUNNING,     /* handler threads serve faults */
    UM_UNAVAILABLE, /* userfaultfd cannot serve here: matching mmaps go to the kernel */
};

struct um_runtime {
    _Atomic int state;
    struct um_config cfg;
    int uffd;
    uint64_t features;
    struct um_registry registry;
    struct um_cache *cache; /* shared with fork children (shm.h) */
};

extern struct um_runtime um_rt;

/* Parse the environment; called once from the shim's constructor. */
void um_runtime_configure(char *const *env);
/* Open userfaultfd and start threads; false if that is impossible (then UM_UNAVAILABLE). */
bool um_runtime_start(void);
void um_runtime_exit(void);
/* In a fork() child that is not a member of its parent's cache: start afresh at the next
 * matching mmap() (fork.c). */
void um_runtime_reset_after_fork(void);
/* In a fork() child: locks another parent thread may have held. */
void um_runtime_child_locks(void);
/* In a fork() child: a userfaultfd of its own, with the parent's features, as um_rt.uffd.
 * 0, or -1 (um_rt.uffd unchanged). */
int um_runtime_reopen_uffd(void);

/* Whether UFFDMAP_PATHS was given (and valid): the shim has work in this process. */
static inline bool um_runtime_configured(void)
{
    return atomic_load_explicit(&um_rt.state, memory_order_acquire) != UM_OFF;
}

static inline bool um_runtime_active(void)
{
    int s = atomic_load_explicit(&um_rt.state, memory_order_acquire);
    return s == UM_IDLE || s == UM_RUNNING;
}

/* Make fork() children safe (fork.c). */
int um_fork_install(void);
/* Around a fork the pthread_atfork() handlers do not see (_Fork(), clone() without CLONE_VM):
 * prepare, then the parent's or the child's half. The child becomes a member of the cache if
 * `member` (and there is room), or else gets its inherited ranges as the kernel's mappings of
 * the files, as the parent does its shared writable ones. `shares_fds`: the child shares the
 * parent's descriptor table (CLONE_FILES), so it closes none of them. */
void um_fork_prepare(bool member, bool shares_fds);
void um_fork_parent(void);
void um_fork_child(void);
/* Whether a child of _Fork() may become a member: no thread but ours runs beside the caller. */
bool um_fork_may_join(void);
/* Before execve() and the like: write stores back and hand shared writable mappings to the
 * kernel, as at exit (the new program image has none of the cache). */
void um_runtime_before_exec(void);

/* Start the handler threads (threads.c); how many of them run. */
int um_threads_start(void);
unsigned um_threads_count(void);

enum um_map_result { UM_PASS, UM_MANAGED, UM_FAILED };
/* mmap() of a file: UM_MANAGED with *out set, UM_FAILED with errno as the kernel would set it,
 * or UM_PASS when the kernel should map it (not matching, or not servable). */
enum um_map_result um_map(void *addr, size_t len, int prot, int flags, int fd, off_t off,
                          void **out);
/* munmap() of a range touching managed mappings: true with *result set; false to pass. */
bool um_unmap(void *addr, size_t len, int *result);
/* Registry write lock held: hand [lo, hi) to the kernel's mapping of the file (handover.c).
 * 0, the errno of a write-back that failed, or -1 (ENOMEM, nothing done). */
int um_handover_locked(uintptr_t lo, uintptr_t hi);
/* The same; private copies in [lo, hi) are dropped unless keep_private. */
int um_handover_range_locked(uintptr_t lo, uintptr_t hi, bool keep_private);
/* Files that are the kernel's in this process (handover.c): their later mappings pass. Whether
 * a file is one; make one (registry write lock held; its ranges are not handed over yet); hand
 * over every managed range of those files; make the files mapped in [lo, hi) such files and
 * hand over all their ranges, those in [lo, hi) first (dropping private copies there unless
 * keep_private). */
bool um_kernel_file(dev_t dev, ino_t ino);
void um_kernel_file_add_locked(dev_t dev, ino_t ino);
void um_handover_kernel_files_locked(void);
int um_handover_files_locked(uintptr_t lo, uintptr_t hi, bool keep_private);
/* Registry write lock held: cut [lo, hi) out of the registry (unmapping it if `unmap`); -1
 * with errno if that cannot be done (unmap.c). */
int um_cut_locked(uintptr_t lo, uintptr_t hi, bool unmap);

struct stat;

/* Take this process's presence locks for a new mapping of v's file (sharing.c); false if
 * another process's managed mappings conflict, or that cannot be told: the mapping goes to the
 * kernel. */
struct um_view;
bool um_claim_presence(struct um_view *v, int prot, int flags, const char *path);
/* Drop them, and remove the file's lock file if no other process holds it: no member process
 * other than this one may share v's descriptors any more. */
void um_release_presence(struct um_view *v);
/* Another process left a file this one caches to the kernel because the two caches conflict:
 * hand it to the kernel here too (sharing.c). Every POLL_MS at most; from the evictor. */
void um_sharing_poll(void);
/* After a mapping that met such a conflict went to the kernel, with no lock held: wait (with a
 * bound) until the other caches of its file have given it up (sharing.c). */
void um_sharing_wait(void);

/* With the registry write lock held: path (dev, ino), a file in UFFDMAP_PATHS, is mapped by
 * the kernel in this process from now on, its managed ranges handed over (handover.c), and
 * caches of it in other processes give it up (as on a conflict) before um_sharing_wait()
 * returns (sharing.c). */
void um_sharing_to_kernel_locked(const char *path, dev_t dev, ino_t ino);
/* A mapping of a file already handed to the kernel here: its mark, taken once (sharing.c). */
void um_sharing_kernel_mapped(const char *path, dev_t dev, ino_t ino);
/* At exit, after the presence locks: remove the lock files of marked files no other process
 * holds. */
void um_sharing_release_marks(void);

/* The file fstat() described is about to be truncated to `size` bytes (O_TRUNC, truncate(),
 * a shrinking ftruncate()): stores past it are dropped, not written back (coherence.c). */
void um_file_truncating(const struct stat *st, uint64_t size);
/* Whether the file fstat() described is mapped by the shim (coherence.c). */
bool um_file_managed(const struct stat *st);
/* The end of the run of [lo, hi) that starts at lo and is all one managed range (*prot its
 * protection) or all not managed (*prot -1) (coherence.c). */
uintptr_t um_managed_run(uintptr_t lo, uintptr_t hi, int *prot);
/* Before a read (invalidate false) or around a write or size change (invalidate true) of
 * bytes [off, off + len) of that file: keep its managed mappings coherent with it. */
void um_file_sync(const struct stat *st, uint64_t off, uint64_t len, bool invalidate);

/* msync() of a range touching managed mappings, after the kernel accepted it: true with
 * *result set (-1 and errno for a failed write-back); false if nothing managed is touched. */
bool um_msync(void *addr, size_t len, int flags, int *result);
/* madvise() touching managed ranges (advise.c): true with *result set when the shim handled
 * it; false to pass it on. */
bool um_madvise(void *addr, size_t len, int advice, int *result);
/* Before mprotect(): 0, or the errno the kernel would give (EACCES). Writes back stores when
 * write access is taken away. */
int um_mprotect_prepare(void *addr, size_t len, int prot);
/* mprotect() touching managed ranges, after um_mprotect_prepare(): true with *result set (the
 * kernel's), the ranges' recorded protection following it; false to pass it on. */
bool um_mprotect(void *addr, size_t len, int prot, int *result);
/* mremap() of a managed range (remap.c): true with *result set (MAP_FAILED and errno on
 * failure); false if old is not managed. */
bool um_mremap(void *old, size_t old_len, size_t new_len, int flags, void *new_addr,
               void **result);
/* A MAP_FIXED mmap() the kernel serves over managed ranges: true with *result set (the
 * kernel's answer; the managed ranges there are forgotten only if it succeeded); false if
 * nothing managed is there. */
bool um_map_fixed_over(void *addr, size_t len, int prot, int flags, int fd, off_t off,
                       void **result);
/* A MAP_FIXED mapping (or MREMAP_FIXED move) onto [addr, addr + len) that would replace the
 * core's own memory: true, with the notice said once and errno = ENOMEM (the call fails: its
 * tables, gone, would crash the program later). */
bool um_fixed_over_core(void *addr, size_t len);
/* Whether [lo, hi) overlaps memory of the core's own: its zone, or the shared region. */
bool um_core_memory(uintptr_t lo, uintptr_t hi);
/* Before a MAP_FIXED mapping replaces [addr, addr + len): forget managed pages there. */
void um_forget(void *addr, size_t len);
int um_forget_locked(void *addr, size_t len); /* registry write lock held; -1 ENOMEM */

/* MADV_WILLNEED (filler.c): fill, on the caller's thread, the blocks of [lo, hi) in entry e
 * not resident yet, up to `most` bytes, with buf a bounce buffer of one block. Registry read
 * lock held. */
void um_prefetch_locked(const struct um_entry *e, uintptr_t lo, uintptr_t hi, void *buf,
                        size_t most);

/* Locking memory (lock.c). Before mlock()/mlock2() of [addr, addr + len): managed ranges
 * there are handed to the kernel. mlockall()/munlockall() as the kernel's, leaving the core's
 * own memory unlocked (0, or -1 and errno). Whether mlockall(MCL_FUTURE) is in effect: files
 * are then mapped by the kernel. */
void um_lock_range(const void *addr, size_t len);
int um_mlockall(int flags);
int um_munlockall(void);
bool um_lock_future(void);
void um_lock_reset_after_fork(void);

/* Serve one page fault (filler.c). */
struct um_filler;
void um_filler_serve(struct um_filler *self, uintptr_t addr, uint64_t flags, uint32_t tid);

#endif
