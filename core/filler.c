/* The fault path: find the mapping, own the block, read it, install it.
 *
 * The registry's read lock is held from lookup to install, so the entry and mapping cannot be
 * cut or freed under us, and no unmap can let a stale fill land in memory that has since been
 * given to another mapping. */
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "filler.h"
#include "io.h"
#include "log.h"
#include "mapping.h"
#include "os.h"
#include "runtime.h"
#include "stats.h"
#include "uffd.h"
#include "writeback.h"

/* Consecutive faults on one page outside every managed range before we stop retrying. */
#define MISS_LIMIT 1000

/* How far (in windows) streaming read-ahead may run ahead of the block the reader faulted on:
 * the window it waits for, one being read and one being copied. */
#define RA_LEAD 3

/* Hand [lo, hi) back to the kernel's own file mapping. Used past EOF and after read errors: the
 * kernel then raises SIGBUS (BUS_ADRERR) there exactly as it would without us, and if the file
 * grows it serves the new bytes. */
static void hand_to_kernel(const struct um_mapping *m, uintptr_t lo, uintptr_t hi)
{
    um_mapping_to_kernel(m, lo, hi);
    um_uffd_wake(um_rt.uffd, lo, hi - lo);
}

/* The part of block k this fill may populate: the block, clipped to the registry entry the
 * fault was found in (a munmap() inside a block leaves pieces in separate entries). */
static void fill_range(const struct um_mapping *m, const struct um_entry *e, size_t k,
                       uintptr_t *lo, uintptr_t *hi)
{
    um_mapping_block_range(m, k, lo, hi);
    if (*lo < e->start)
        *lo = e->start;
    if (*hi > e->end)
        *hi = e->end;
}

/* Install buf at [lo, lo + len) for frame f: write-protected where stores are tracked, except
 * the chunk a store faulted in (`store`; 0 if none) of a shared mapping. That chunk goes in
 * writable and is marked dirty, which saves the store a second fault and un-protecting the
 * page a TLB shootdown (measured: 13 % of all CPU time of random read-modify-write). Marking
 * it after the copy is safe: a FILLING frame cannot be written back or evicted. */
static size_t install(const struct um_mapping *m, uint32_t f, uintptr_t lo, const char *buf,
                      size_t len, uintptr_t store)
{
    int uffd = um_rt.uffd;
    if (!store || !m->wp || !m->shared || store - lo >= len)
        return um_uffd_copy(uffd, lo, buf, len, m->wp);
    unsigned chunk = (unsigned)((store - lo) >> m->chunk_shift);
    uintptr_t clo = lo + ((uintptr_t)chunk << m->chunk_shift);
    uintptr_t chi = clo + ((uintptr_t)1 << m->chunk_shift);
    chi = chi < lo + len ? chi : lo + len;
    size_t done = um_uffd_copy(uffd, lo, buf, clo - lo, true);
    if (done < clo - lo)
        return done;
    done += um_uffd_copy(uffd, clo, buf + (clo - lo), chi - clo, false);
    if (done < chi - lo)
        return done;
    atomic_fetch_or(&um_rt.cache.frames[f].dirty, 1ULL << chunk);
    um_stat_add(&um_stats.dirtied_pages, (chi - clo) / UM_PAGE);
    return done + um_uffd_copy(uffd, chi, buf + (chi - lo), lo + len - chi, true);
}

/* Populate [lo, hi) for the n consecutive blocks from k0, owned by frames[] (their slots
 * name them), with one read and one UFFDIO_COPY (three when a store faulted at `store`, see
 * install(); n is then 1). Every page of the range ends up present or handed to the kernel,
 * and either way its waiters are woken. */
static void fill_run(struct um_filler *self, struct um_mapping *m, size_t k0, size_t n,
                     const uint32_t *frames, uintptr_t lo, uintptr_t hi, uintptr_t store)
{
    size_t read_bytes;
    struct um_io_src src = um_mapping_io(m);
    if (self->streaming)
        src.stream = &m->stream_lock;
    size_t bytes = um_io_read(&src, self->buf, hi - lo, m->file_off + (lo - m->start),
                              &read_bytes);
    size_t present = bytes ? install(m, frames[0], lo, self->buf, bytes, store) : 0;
    uintptr_t filled = lo + present;
    for (size_t i = 0; i < n; i++) {
        uintptr_t blo, bhi;
        um_mapping_block_range(m, k0 + i, &blo, &bhi);
        blo = blo < lo ? lo : blo;
        bhi = bhi > hi ? hi : bhi;
        if (blo < filled) {
            size_t len = (bhi < filled ? bhi : filled) - blo;
            um_cache_commit(&um_rt.cache, frames[i], m, k0 + i, blo, len, m->pagesize);
            um_stat_add(&um_stats.fills, 1);
            um_stat_add(&m->stats->fills, 1);
        } else {
            atomic_store(&m->slots[k0 + i], 0);
            um_cache_discard(&um_rt.cache, frames[i], m->pagesize);
        }
    }
    um_stat_add(&um_stats.pages_filled, present / UM_PAGE);
    um_stat_add(&um_stats.bytes_read, read_bytes);
    um_stat_add(&m->stats->bytes_read, read_bytes);
    if (present < hi - lo)
        hand_to_kernel(m, filled, hi);
}

/* Take block k for a fill of [lo, hi): a frame whose slot CAS succeeded, or UM_NO_FRAME if
 * another frame got there first. */
static uint32_t take_block(struct um_mapping *m, size_t k, uintptr_t lo, uintptr_t hi)
{
    uint32_t f = um_cache_alloc_in(&um_rt.cache, m->pagesize,
                                   m->policy_set ? m->policy : um_rt.cache.default_policy);
    /* Publish the range about to be filled before the slot, so that a filler handling a
     * duplicate event can tell whether this fill will wake its thread. */
    struct um_frame *fr = &um_rt.cache.frames[f];
    fr->addr = lo;
    fr->len = hi - lo;
    uint32_t expected = 0;
    if (atomic_compare_exchange_strong(&m->slots[k], &expected, f + 1))
        return f;
    um_cache_discard(&um_rt.cache, f, m->pagesize);
    return UM_NO_FRAME;
}

static void serve_write(const struct um_entry *e, uintptr_t addr);

/* Fill block k ([lo, hi)) for a fault (of a store at `store`, or 0). False if another frame
 * got there first. */
static bool claim_block(struct um_filler *self, struct um_mapping *m, size_t k, uintptr_t lo,
                        uintptr_t hi, uintptr_t store)
{
    uint32_t f = take_block(m, k, lo, hi);
    if (f == UM_NO_FRAME)
        return false;
    fill_run(self, m, k, 1, &f, lo, hi, store);
    return true;
}

/* A missing page in a block the program made its own (pages dropped by MADV_DONTNEED, or never
 * filled): the file's bytes go in unprotected and unbudgeted, like the rest of the block; the
 * pages still present are skipped by UFFDIO_COPY. */
static void fill_private_gap(struct um_filler *self, struct um_mapping *m, uintptr_t lo,
                             uintptr_t hi)
{
    size_t read_bytes;
    struct um_io_src src = um_mapping_io(m);
    size_t bytes = um_io_read(&src, self->buf, hi - lo, m->file_off + (lo - m->start),
                              &read_bytes);
    size_t present = bytes ? um_uffd_copy(um_rt.uffd, lo, self->buf, bytes, false) : 0;
    if (present < hi - lo)
        hand_to_kernel(m, lo + present, hi);
}

/* Fill up to n blocks from `first` within the registry entry as one run (one read, one copy),
 * stopping at the first block already taken. */
static void fill_ahead(struct um_filler *self, const struct um_entry *e, size_t first, size_t n)
{
    struct um_mapping *m = e->map;
    size_t got = 0;
    uintptr_t lo = 0, hi = 0;
    for (size_t next = first; next < first + n && next < m->nblocks; next++) {
        uintptr_t blo, bhi;
        fill_range(m, e, next, &blo, &bhi);
        if (blo >= bhi || atomic_load(&m->slots[next]) != 0)
            break;
        uint32_t f = take_block(m, next, blo, bhi);
        if (f == UM_NO_FRAME)
            break;
        self->run[got++] = f;
        lo = got == 1 ? blo : lo;
        hi = bhi;
    }
    if (got) {
        fill_run(self, m, first, got, self->run, lo, hi, 0);
        um_stat_add(&um_stats.readahead_fills, got);
    }
}

/* The longest read-ahead window for mapping m, in blocks. */
static unsigned ra_most(const struct um_filler *self, const struct um_mapping *m)
{
    size_t most = m->ra_max; /* the run buffer holds the largest of these */
    if (most > self->run_bytes)
        most = self->run_bytes;
    /* Read-ahead must not evict what it reads; three windows may be in flight and one being
     * read by the program. A mapping with a budget share (UFFDMAP_PATHS {share=}) reads ahead
     * within it. */
    size_t budget = um_rt.cache.budget;
    if (m->policy_set && m->policy < UM_SLOTS && um_rt.cache.slot_share[m->policy])
        budget = um_rt.cache.slot_share[m->policy];
    if (most > budget / 8)
        most = budget / 8;
    return (unsigned)(most / m->pagesize);
}

/* After the faulting block is in (and its thread woken), fill the next blocks the read-ahead
 * policy asks for while the program goes on. */
static void read_ahead(struct um_filler *self, const struct um_entry *e, size_t k)
{
    struct um_mapping *m = e->map;
    /* A fault right after the last window means the program read through all of it. */
    um_stat_add(&um_stats.readahead_used, um_ra_used(&m->ra, k));
    unsigned window = um_ra_on_fault(&m->ra, k, ra_most(self, m), (enum um_ra_mode)m->ra_mode);
    fill_ahead(self, e, k + 1, window);
}

/* A second fault on block k while its read-ahead fill is in flight: the program has caught
 * up. If it is streaming, fill windows after the latest until the read-ahead leads k by
 * RA_LEAD windows (another filler may claim some meanwhile). Both fillers then take windows;
 * their device reads go one at a time (io.h `stream`), so that one filler reads while the
 * other copies. Cold 2 GiB scan, 256M budget, 9 runs alternating with the previous scheme (two
 * windows, read concurrently): 1.9-2.7 GB/s against 1.5-2.2 GB/s. */
static void read_ahead_on_catch_up(struct um_filler *self, const struct um_entry *e, size_t k)
{
    struct um_mapping *m = e->map;
    unsigned most = ra_most(self, m), window;
    size_t start;
    while ((window = um_ra_on_catch_up(&m->ra, k, most, (size_t)RA_LEAD * most, &start))) {
        um_stat_add(&um_stats.readahead_async, 1);
        self->streaming = true;
        fill_ahead(self, e, start, window);
        self->streaming = false;
    }
}

/* Serve a missing-page fault. Pages are installed write-protected when stores are tracked; a
 * store's own chunk of a shared mapping goes in writable and dirty (install()), and a store to
 * a private mapping continues as a write-protect fault on the block just filled. */
static void serve_missing(struct um_filler *self, const struct um_entry *e, uintptr_t addr,
                          bool write)
{
    struct um_mapping *m = e->map;
    size_t k = um_mapping_block(m, addr);
    uintptr_t lo, hi;
    fill_range(m, e, k, &lo, &hi);
    for (;;) {
        uint32_t s = atomic_load(&m->slots[k]);
        if (s == 0) {
            if (!claim_block(self, m, k, lo, hi, write ? addr : 0))
                continue;
            if (write && m->wp && !m->shared)
                serve_write(e, addr); /* the block becomes the program's own */
            read_ahead(self, e, k);
            return;
        }
        if (s == UM_SLOT_PRIVATE) {
            fill_private_gap(self, m, lo, hi);
            return;
        }
        const struct um_frame *fr = &um_rt.cache.frames[s - 1];
        uint32_t state = atomic_load(&fr->state);
        bool covers = addr - fr->addr < fr->len;
        if (atomic_load(&m->slots[k]) != s)
            continue; /* the frame changed hands while we looked: look again */
        if (state == UM_FRAME_FILLING && covers) {
            /* A duplicate event: that fill wakes this thread too. */
            read_ahead_on_catch_up(self, e, k);
            return;
        }
        if (state == UM_FRAME_RESIDENT && covers) {
            /* A stale event for a page filled meanwhile; wake in case it was missed. */
            um_uffd_wake(um_rt.uffd, um_page_down(addr), UM_PAGE);
            return;
        }
        if (state == UM_FRAME_RESIDENT) {
            /* The frame holds another piece of a block split by munmap() (or the fault is a
             * stale one for a page handed to the kernel): give it up and fill this piece. */
            if (um_cache_claim(&um_rt.cache, s - 1)) {
                if (um_writeback_frame(&um_rt.cache, s - 1)) {
                    /* Its stores cannot be written: keep them, and let the thread retry
                     * rather than spin here. */
                    um_cache_release(&um_rt.cache, s - 1);
                    um_uffd_wake(um_rt.uffd, um_page_down(addr), UM_PAGE);
                    return;
                }
                um_cache_drop(&um_rt.cache, s - 1, 0, 0);
            }
            continue;
        }
        /* Being filled for another piece, or evicted: wait for the slot to settle. */
        sched_yield();
    }
}

/* A store to a private mapping: the block's pages become the program's own (anonymous, as
 * with the kernel's copy-on-write). They leave the page cache and its budget for good: never
 * evicted, never written to the file. */
static bool detach_private(uint32_t f)
{
    if (!um_cache_claim(&um_rt.cache, f))
        return false;
    struct um_frame *fr = &um_rt.cache.frames[f];
    um_uffd_writeprotect(um_rt.uffd, fr->addr, fr->len, false);
    um_stat_add(&um_stats.private_pages, fr->len / UM_PAGE);
    um_cache_detach(&um_rt.cache, f);
    return true;
}

/* Under the frame's shard lock, so that no write-back can claim the frame between marking the
 * chunk dirty and letting the store through. */
static bool mark_dirty_and_unprotect(const struct um_mapping *m, uint32_t f, uintptr_t addr)
{
    struct um_frame *fr = &um_rt.cache.frames[f];
    um_cache_lock_frame(&um_rt.cache, f);
    bool ok = atomic_load(&fr->state) == UM_FRAME_RESIDENT && addr - fr->addr < fr->len;
    if (ok) {
        unsigned chunk = (unsigned)((addr - fr->addr) >> m->chunk_shift);
        uintptr_t lo = fr->addr + ((uintptr_t)chunk << m->chunk_shift);
        uintptr_t hi = lo + ((uintptr_t)1 << m->chunk_shift);
        if (hi > fr->addr + fr->len)
            hi = fr->addr + fr->len;
        if (!(atomic_fetch_or(&fr->dirty, 1ULL << chunk) & 1ULL << chunk))
            um_stat_add(&um_stats.dirtied_pages, (hi - lo) / UM_PAGE);
        um_cache_touch_locked(&um_rt.cache, f);
        um_uffd_writeprotect(um_rt.uffd, lo, hi - lo, false); /* wakes the writer */
    }
    um_cache_unlock_frame(&um_rt.cache, f);
    return ok;
}

/* A store to a write-protected page: record it (shared) or detach the block (private). */
static void serve_write(const struct um_entry *e, uintptr_t addr)
{
    struct um_mapping *m = e->map;
    size_t k = um_mapping_block(m, addr);
    for (;;) {
        uint32_t s = atomic_load(&m->slots[k]);
        if (um_slot_frame(s) == UM_NO_FRAME) {
            /* A private block made the program's own (writable already), or a stale event. */
            um_uffd_wake(um_rt.uffd, um_page_down(addr), UM_PAGE);
            return;
        }
        uint32_t f = s - 1;
        if (m->shared ? mark_dirty_and_unprotect(m, f, addr) : detach_private(f))
            return;
        const struct um_frame *fr = &um_rt.cache.frames[f];
        uint32_t state = atomic_load(&fr->state);
        bool covers = addr - fr->addr < fr->len;
        if (atomic_load(&m->slots[k]) != s)
            continue;
        if (state == UM_FRAME_RESIDENT && !covers) {
            um_uffd_wake(um_rt.uffd, um_page_down(addr), UM_PAGE); /* stale */
            return;
        }
        /* FILLING (the store raced the fill's commit) or BUSY (being written back or
         * evicted): wait, then look again; after an eviction the store faults as missing. */
        sched_yield();
    }
}

void um_prefetch_locked(const struct um_entry *e, uintptr_t lo, uintptr_t hi, void *buf,
                        size_t most)
{
    struct um_mapping *m = e->map;
    struct um_filler self = {.index = 0, .buf = buf};
    size_t last = um_mapping_block(m, hi - 1), done = 0;
    for (size_t k = um_mapping_block(m, lo); k <= last && done < most; k++) {
        if (atomic_load(&m->slots[k]))
            continue;
        uintptr_t blo, bhi;
        fill_range(m, e, k, &blo, &bhi);
        claim_block(&self, m, k, blo, bhi, 0); /* lost to a racing fault: fine as well */
        done += bhi - blo;
    }
}

/* A fault outside every managed range: a stale event for a range unmapped meanwhile (waking
 * the thread lets it retry and find whatever is there now), or a range moved by a call the
 * shim does not follow, which no retry can fix: after many, the thread gets SIGBUS rather than
 * spinning forever or reading wrong bytes. */
static void serve_miss(struct um_filler *self, uintptr_t addr, uint32_t tid)
{
    uintptr_t page = um_page_down(addr);
    self->misses = page == self->last_miss ? self->misses + 1 : 1;
    self->last_miss = page;
    if (self->misses >= MISS_LIMIT) {
        um_warn_once("fault at %#lx lies in no mapping the shim knows (moved by an "
                     "unsupported call?); raising SIGBUS",
                     (unsigned long)addr);
        pid_t pid = getpid();
        syscall(SYS_tgkill, pid, tid ? (pid_t)tid : pid, SIGBUS);
        self->misses = 0;
    }
    um_uffd_wake(um_rt.uffd, page, UM_PAGE);
}

void um_filler_serve(struct um_filler *self, uintptr_t addr, uint64_t flags, uint32_t tid)
{
    um_registry_rdlock(&um_rt.registry);
    const struct um_entry *e = um_registry_find(&um_rt.registry, addr);
    if (e) {
        self->misses = 0;
        um_stat_add(&e->map->stats->faults, 1);
        if (flags & UFFD_PAGEFAULT_FLAG_WP) {
            um_stat_add(&um_stats.wp_faults, 1);
            serve_write(e, addr);
        } else {
            serve_missing(self, e, addr, flags & UFFD_PAGEFAULT_FLAG_WRITE);
        }
    }
    um_registry_unlock(&um_rt.registry);
    if (!e)
        serve_miss(self, addr, tid);
}
