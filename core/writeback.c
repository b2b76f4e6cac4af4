#include "writeback.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cache.h"
#include "domain.h"
#include "fds.h"
#include "io.h"
#include "log.h"
#include "members.h"
#include "os.h"
#include "runtime.h"
#include "stats.h"

/* Write file bytes [off, off + len) from d's memfd to its file, never past the file's current
 * end: like the kernel's write-back, stores beyond EOF are not written and do not extend it. */
/* A descriptor of v's file open for writing: v's own, or one opened now. A member that mapped
 * the file read-only may still be the one left to write back what another member, now gone,
 * stored (as any process can that may write the file). -1 if the file cannot be written. */
static int writable_fd(struct um_view *v)
{
    if (v->writable)
        return v->fd;
    int fd = atomic_load(&v->wb_fd);
    if (fd >= 0)
        return fd;
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", v->fd);
    int own = (int)syscall(SYS_openat, AT_FDCWD, link, O_WRONLY | O_CLOEXEC);
    if (own < 0)
        return -1;
    own = um_fd_adopt_file(own);
    int none = -1;
    if (!atomic_compare_exchange_strong(&v->wb_fd, &none, own)) {
        um_fd_close_file(own); /* another thread opened one first */
        return none;
    }
    return own;
}

static int write_range(struct um_domain *d, uint64_t off, size_t len)
{
    struct um_view *v = um_here(d);
    struct stat st;
    if (fstat(v->fd, &st))
        return errno;
    if (off >= (uint64_t)st.st_size)
        return 0;
    if (off + len > (uint64_t)st.st_size)
        len = (size_t)((uint64_t)st.st_size - off);
    int fd = writable_fd(v);
    if (fd < 0)
        return errno ? errno : EACCES;
    int err = um_io_copy(v->memfd, fd, off, len);
    if (!err)
        um_stat_add(&um_stats.writeback_bytes, len);
    return err;
}

/* The chunks i..j-1 of a 64-bit dirty mask. */
static uint64_t chunk_bits(unsigned i, unsigned j)
{
    return (j == 64 ? ~0ULL : (1ULL << j) - 1) & ~((1ULL << i) - 1);
}

/* Stop every store to the block, in every member, before its dirty bits are cleared: the
 * other members that let stores through protect it again at this one's request (members.h),
 * then this one does. EAGAIN if a member did not answer, EIO if a member or this one could
 * not. */
static int protect_everywhere(struct um_frame *fr, uint64_t base, size_t len, bool patient)
{
    struct um_domain *d = fr->dom;
    uint64_t writers = atomic_load(&fr->writers);
    int err = um_members_protect(d, writers, base, len, patient);
    if (err)
        return err;
    if (um_view_protect(um_here(d), um_rt.uffd, base, len)) {
        /* A store could slip past the copy: keep the chunks dirty and the frame resident. */
        um_error("%s: cannot write-protect before write-back (%m); its stores stay cached",
                 d->path);
        return EIO;
    }
    atomic_store(&fr->writers, 0);
    return 0;
}

static int write_back(struct um_cache *c, uint32_t f, bool patient)
{
    struct um_frame *fr = &c->frames[f];
    uint64_t dirty = atomic_load(&fr->dirty);
    if (!dirty)
        return 0;
    struct um_domain *d = fr->dom;
    struct um_view *v = um_here(d);
    if (!v)
        return EAGAIN; /* another member's domain: its job */
    uint64_t base = um_domain_block_off(d, fr->block);
    size_t len = atomic_load(&fr->len);
    int err = protect_everywhere(fr, base, len, patient);
    if (err)
        return err;
    /* The dirty bits are cleared once the chunks are written, not before: a member that dies
     * in the middle of this leaves them set, and whoever takes the frame over writes them
     * again (cache.c, um_cache_wait()). No store can set one meanwhile: the frame is BUSY. */
    uint64_t failed = 0;
    unsigned shift = d->chunk_shift;
    for (unsigned i = 0; i < 64 && dirty >> i;) {
        if (!(dirty >> i & 1)) {
            i++;
            continue;
        }
        unsigned j = i;
        while (j < 64 && (dirty >> j & 1))
            j++;
        uint64_t lo = (uint64_t)i << shift, hi = (uint64_t)j << shift;
        hi = hi < len ? hi : len;
        int e = lo < hi ? write_range(d, base + lo, (size_t)(hi - lo)) : 0;
        if (e) {
            failed |= chunk_bits(i, j);
            err = e;
        }
        i = j;
    }
    atomic_fetch_and(&fr->dirty, failed);
    if (failed)
        atomic_store(&d->wb_error, err);
    return err;
}

int um_writeback_frame(struct um_cache *c, uint32_t f)
{
    return write_back(c, f, false);
}

static void report_lost(struct um_domain *d, uint32_t f)
{
    struct um_frame *fr = &um_rt.cache->frames[f];
    if (atomic_load(&fr->dirty))
        um_error("%s: stores to file offsets near %llu are lost: write-back failed (%s)", d->path,
                 (unsigned long long)um_domain_block_off(d, fr->block),
                 strerror(atomic_load(&d->wb_error)));
}

static void settle(struct um_domain *d, uint32_t f, int wb_err, enum um_flush_mode mode)
{
    struct um_cache *c = um_rt.cache;
    if (mode == UM_FLUSH_RELEASE || (mode == UM_FLUSH_INVALIDATE && wb_err)) {
        um_cache_release(c, f);
        return;
    }
    if (mode == UM_FLUSH_DROP)
        report_lost(d, f);
    um_cache_drop(c, f);
}

/* Claim block k's frame, waiting while it is being filled or evicted. UM_NO_FRAME if the block
 * is not resident (any more). */
static uint32_t claim_block(struct um_domain *d, size_t k)
{
    for (;;) {
        uint32_t s = atomic_load(&d->slots[k]);
        if (s == 0)
            return UM_NO_FRAME;
        if (um_cache_claim(um_rt.cache, s - 1))
            return s - 1;
        uint32_t state = atomic_load(&um_rt.cache->frames[s - 1].state);
        if (atomic_load(&d->slots[k]) == s && state != UM_FRAME_RESIDENT)
            um_cache_wait(um_rt.cache, s - 1, state);
    }
}

int um_domain_flush(struct um_domain *d, uint64_t lo, uint64_t hi, enum um_flush_mode mode)
{
    /* Blocks are filled only where mapped, and the memfd covers every mapping. */
    uint64_t limit = atomic_load(&d->memfd_size) + d->pagesize;
    hi = hi < limit ? hi : limit;
    int err = 0;
    for (size_t k = um_domain_block(d, lo); lo < hi && um_domain_block_off(d, k) < hi; k++) {
        uint32_t f = claim_block(d, k);
        if (f == UM_NO_FRAME)
            continue;
        int e = 0;
        if (mode == UM_FLUSH_DISCARD)
            atomic_store(&um_rt.cache->frames[f].dirty, 0); /* the kernel drops them too */
        else
            e = write_back(um_rt.cache, f, true);
        settle(d, f, e, mode);
        if (e && !err)
            err = e;
    }
    return err;
}

int um_domain_follow_file(struct um_domain *d, bool exclusive)
{
    struct stat st;
    if (fstat(um_here(d)->fd, &st))
        return -1;
    uint64_t size = (uint64_t)st.st_size;
    atomic_store(&d->file_size, size);
    if (um_page_up(size) >= atomic_load(&d->memfd_size))
        return um_domain_resize(d, size);
    if (!exclusive)
        return 1;
    /* The block holding the new end goes too: its frame may vouch for pages the truncation
     * of the memfd is about to remove. */
    um_domain_flush(d, um_domain_block_off(d, um_domain_block(d, size)), UINT64_MAX,
                    UM_FLUSH_DROP);
    return um_domain_resize(d, size);
}
