#include "writeback.h"

#include <errno.h>
#include <string.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache.h"
#include "log.h"
#include "mapping.h"
#include "os.h"
#include "runtime.h"
#include "stats.h"
#include "uffd.h"

/* Write [lo, hi) of m's memory to its file, never past the file's current end: like the
 * kernel's write-back, stores beyond EOF are not written and do not extend the file. */
static int write_range(struct um_mapping *m, uintptr_t lo, uintptr_t hi)
{
    struct stat st;
    if (fstat(m->fd, &st))
        return errno;
    uint64_t off = m->file_off + (lo - m->start);
    if (off >= (uint64_t)st.st_size)
        return 0;
    size_t len = hi - lo;
    if (off + len > (uint64_t)st.st_size)
        len = (size_t)((uint64_t)st.st_size - off);
    size_t done = 0;
    while (done < len) {
        ssize_t n = um_os_pwrite(m->fd, (const char *)lo + done, len - done, (off_t)(off + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? errno : EIO;
        done += (size_t)n;
    }
    um_stat_add(&um_stats.writeback_bytes, len);
    return 0;
}

int um_writeback_frame(struct um_cache *c, uint32_t f)
{
    struct um_frame *fr = &c->frames[f];
    uint64_t dirty = atomic_load(&fr->dirty);
    if (!dirty)
        return 0;
    struct um_mapping *m = fr->map;
    uintptr_t addr = fr->addr, end = fr->addr + fr->len;
    um_uffd_writeprotect(um_rt.uffd, addr, fr->len, true);
    atomic_store(&fr->dirty, 0);
    uint64_t failed = 0;
    int err = 0;
    unsigned shift = m->chunk_shift;
    for (unsigned i = 0; i < 64 && dirty >> i;) {
        if (!(dirty >> i & 1)) {
            i++;
            continue;
        }
        unsigned j = i;
        while (j < 64 && (dirty >> j & 1))
            j++;
        uintptr_t lo = addr + ((uintptr_t)i << shift);
        uintptr_t hi = addr + ((uintptr_t)j << shift);
        int e = write_range(m, lo, hi < end ? hi : end);
        if (e) {
            failed |= (j == 64 ? ~0ULL : (1ULL << j) - 1) & ~((1ULL << i) - 1);
            err = e;
        }
        i = j;
    }
    if (failed) {
        atomic_fetch_or(&fr->dirty, failed);
        atomic_store(&m->wb_error, err);
    }
    return err;
}

static void settle(uint32_t f, int wb_err, enum um_flush_mode mode)
{
    struct um_cache *c = &um_rt.cache;
    if (mode == UM_FLUSH_KEEP_CLAIMED)
        atomic_store(&c->frames[f].state, UM_FRAME_HELD);
    else if (mode == UM_FLUSH_RELEASE || (mode == UM_FLUSH_INVALIDATE && wb_err))
        um_cache_release(c, f);
    else if (mode == UM_FLUSH_INVALIDATE)
        um_cache_drop(c, f, 0, 0);
}

int um_claim_and_flush(struct um_mapping *m, uintptr_t lo, uintptr_t hi, enum um_flush_mode mode)
{
    int err = 0;
    size_t last = um_mapping_block(m, hi - 1);
    for (size_t k = um_mapping_block(m, lo); k <= last; k++) {
        for (;;) {
            uint32_t s = atomic_load(&m->slots[k]);
            if (um_slot_frame(s) == UM_NO_FRAME)
                break;
            if (atomic_load(&um_rt.cache.frames[s - 1].state) == UM_FRAME_HELD)
                break; /* a block this unmap met in another piece already */
            if (um_cache_claim(&um_rt.cache, s - 1)) {
                int e = um_writeback_frame(&um_rt.cache, s - 1);
                settle(s - 1, e, mode);
                if (e && !err)
                    err = e;
                break;
            }
            /* Being evicted (it writes itself back) or filled: wait until it settles. */
            sched_yield();
        }
    }
    return err;
}

static uint32_t claimed_frame(struct um_mapping *m, size_t k)
{
    uint32_t f = um_slot_frame(atomic_load(&m->slots[k]));
    if (f != UM_NO_FRAME && atomic_load(&um_rt.cache.frames[f].state) == UM_FRAME_HELD)
        return f;
    return UM_NO_FRAME;
}

void um_release_claimed(struct um_mapping *m, uintptr_t lo, uintptr_t hi)
{
    size_t last = um_mapping_block(m, hi - 1);
    for (size_t k = um_mapping_block(m, lo); k <= last; k++) {
        uint32_t f = claimed_frame(m, k);
        if (f != UM_NO_FRAME)
            um_cache_release(&um_rt.cache, f);
    }
}

void um_drop_claimed(struct um_mapping *m, uintptr_t lo, uintptr_t hi, uintptr_t keep_lo,
                     uintptr_t keep_hi)
{
    size_t last = um_mapping_block(m, hi - 1);
    for (size_t k = um_mapping_block(m, lo); k <= last; k++) {
        uint32_t f = claimed_frame(m, k);
        if (f == UM_NO_FRAME)
            continue;
        uint64_t lost = atomic_load(&um_rt.cache.frames[f].dirty);
        if (lost)
            um_error("%s: stores to file offsets near %llu are lost: write-back failed (%s)",
                     m->path,
                     (unsigned long long)(m->file_off + (um_rt.cache.frames[f].addr - m->start)),
                     strerror(atomic_load(&m->wb_error)));
        um_cache_drop(&um_rt.cache, f, keep_lo, keep_hi);
    }
}
