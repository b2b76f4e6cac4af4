/* The fault path: find the entry, own the block, read it into the domain's memfd, map it.
 *
 * A missing fault (the memfd lacks the page) fills the whole block: the file is read into the
 * filler's buffer and put into the memfd at its offset, the faulting entry's part of it mapped
 * there at once (UFFDIO_COPY, for shared mappings) or after a pwrite (UFFDIO_CONTINUE). A minor fault (the page is in the memfd, but not mapped here: a
 * second mapping, a range moved by mremap(), pages zapped by madvise or eviction) is served
 * by UFFDIO_CONTINUE alone once the frame table says the block is resident; pages it does not
 * vouch for are never mapped. The registry's read lock is held from lookup to install, so the
 * entry cannot be cut or moved under us. */
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "filler.h"
#include "io.h"
#include "log.h"
#include "domain.h"
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

/* Hand [lo, hi) of e back to the kernel's own file mapping. Used past EOF and after read errors:
 * the kernel then raises SIGBUS (BUS_ADRERR) there exactly as it would without us, and if the
 * file grows it serves the new bytes. */
static void hand_to_kernel(const struct um_entry *e, uintptr_t lo, uintptr_t hi)
{
    if (lo >= hi)
        return;
    um_debug("%s: %#lx-%#lx (file offset %llu) handed to the kernel", e->map->dom->path,
             (unsigned long)lo, (unsigned long)hi, (unsigned long long)um_entry_off(e, lo));
    um_entry_to_kernel(e, lo, hi);
    um_uffd_wake(um_rt.uffd, lo, hi - lo);
}

/* Whether pages of e are mapped write-protected, so that stores fault and are recorded. */
static bool tracked(const struct um_entry *e)
{
    return e->map->shared && e->map->wp;
}

/* The dirty-mask bit of the chunk holding file offset `off`. */
static uint64_t chunk_bit(const struct um_domain *d, uint64_t off)
{
    return 1ULL << ((off & (d->pagesize - 1)) >> d->chunk_shift);
}

/* Mark the chunk of frame f holding file offset `off` dirty, and this process as one that let
 * stores through to it (members.h); true if the chunk was clean. */
static bool mark_dirty(const struct um_domain *d, uint32_t f, uint64_t off)
{
    struct um_frame *fr = &um_rt.cache->frames[f];
    uint64_t bit = chunk_bit(d, off);
    atomic_fetch_or(&fr->writers, 1ULL << um_domain_me());
    return !(atomic_fetch_or(&fr->dirty, bit) & bit);
}

/* The address range of the dirty-tracking chunk holding addr, clipped to [lo, hi). */
static void chunk_range(const struct um_entry *e, uintptr_t addr, uintptr_t lo, uintptr_t hi,
                        uintptr_t *clo, uintptr_t *chi)
{
    unsigned shift = e->map->dom->chunk_shift;
    uint64_t off = um_entry_off(e, addr) >> shift << shift;
    uintptr_t a = addr - (uintptr_t)(um_entry_off(e, addr) - off);
    uintptr_t b = a + ((uintptr_t)1 << shift);
    *clo = a > lo ? a : lo;
    *chi = b < hi ? b : hi;
}

/* Map [lo, lo + len): the memfd's pages there (src NULL), or a copy of src's bytes put into the
 * memfd on the way (um_uffd_copy()). The bytes mapped from lo on. */
static size_t install(uintptr_t lo, size_t len, bool wp, const char *src)
{
    return src ? um_uffd_copy(um_rt.uffd, lo, src, len, wp)
               : um_uffd_continue(um_rt.uffd, lo, len, wp);
}

/* Map [lo, lo + len) of e for frame f (FILLING, the caller's), from the memfd or from src (see
 * install()): write-protected where stores are tracked, except the chunk a store faulted in
 * (`store`; 0 if none), which goes in writable and is marked dirty first. That saves the store
 * a second fault and the un-protect a TLB shootdown (measured: 13 % of all CPU time of random
 * read-modify-write). It is safe because a FILLING frame cannot be written back. The bytes now
 * mapped from lo on. */
static size_t map_filled(const struct um_entry *e, uint32_t f, uintptr_t lo, size_t len,
                         uintptr_t store, const char *src)
{
    bool wp = tracked(e);
    if (!store || !wp || !(e->prot & PROT_WRITE) || store - lo >= len)
        return install(lo, len, wp, src);
    uintptr_t clo, chi;
    chunk_range(e, store, lo, lo + len, &clo, &chi);
    /* What the memfd holds of the block, known before the store can land: if this process
     * dies before the commit, whoever takes the frame over keeps it (cache.c). */
    struct um_domain *d = e->map->dom;
    size_t held = (size_t)(um_entry_off(e, lo + len) - um_domain_block_off(d, um_entry_block(e, lo)));
    atomic_store(&um_rt.cache->frames[f].len, held < d->pagesize ? held : d->pagesize);
    bool fresh = mark_dirty(d, f, um_entry_off(e, store));
    size_t done = install(lo, clo - lo, true, src);
    if (done == clo - lo)
        done += install(clo, chi - clo, false, src ? src + (clo - lo) : NULL);
    if (done <= clo - lo) {
        /* None of the chunk is mapped: the kernel refused (the caller hands it to the kernel,
         * whose page cache takes the store; left dirty, the memfd's older bytes would be
         * written over it), or a copy stopped short of it (store_run() maps the rest from the
         * memfd, and marks it again). No one else can have marked it: the frame is FILLING. */
        atomic_fetch_and(&um_rt.cache->frames[f].dirty, ~chunk_bit(d, um_entry_off(e, store)));
        return done;
    }
    if (fresh)
        um_stat_add(&um_stats.dirtied_pages, (chi - clo) / UM_PAGE);
    if (done < chi - lo)
        return done;
    return done + install(chi, lo + len - chi, true, src ? src + (chi - lo) : NULL);
}

/* Put the `bytes` read into buf (from file offset off) into the memfd and map [lo, filled) of
 * e, the entry's part of them, for frame f (the run's first). Where e maps all of them
 * MAP_SHARED, UFFDIO_COPY does both at once, the store and the map: one system call and one
 * walk of the memfd's pages fewer than pwrite() and UFFDIO_CONTINUE, measured per 4 KiB as
 * 0.79-0.86 us against 1.05-1.16 with 64 KiB blocks, 10 against 12 us with single 4 KiB pages
 * (bench-memfd-floor). What it could not copy (a page the memfd has already, that the table
 * never filled) is written and mapped as before. Returns the bytes from off on now in the
 * memfd, all of them unless it cannot take more (a memory cgroup limit): the caller then
 * treats the rest as a short read. *present is the bytes mapped from lo on. */
static size_t store_run(const struct um_entry *e, uint32_t f, const char *buf, uint64_t off,
                        size_t bytes, uintptr_t lo, uintptr_t filled, uintptr_t store,
                        size_t *present)
{
    struct um_domain *d = e->map->dom;
    size_t done = 0;
    *present = 0;
    /* Not for a store's fill: a copy that stopped inside the store's chunk would leave part of
     * it mapped writable, and map_filled() could then not take the chunk's dirty mark back. */
    if (!store && e->map->shared && um_entry_off(e, lo) == off && filled - lo == bytes)
        *present = done = map_filled(e, f, lo, bytes, 0, buf);
    if (done < bytes && um_domain_store(d, buf + done, bytes - done, off + done))
        return done; /* whatever pwrite() put there is never mapped: frames vouch for done */
    if (filled > lo + *present)
        *present += map_filled(e, f, lo + *present, filled - lo - *present, store, NULL);
    return bytes;
}

/* Fill the n consecutive blocks from k0, owned by frames[] (their slots name them), with one
 * read, then store them into the memfd and map [lo, hi) of entry e (their part of e) with one
 * UFFDIO_COPY (store_run(); three when a store faulted at `store`, see map_filled(); n is
 * then 1). Every
 * page of [lo, hi) ends up mapped or handed to the kernel, and either way its waiters are
 * woken. */
static void fill_run(struct um_filler *self, const struct um_entry *e, size_t k0, size_t n,
                     const uint32_t *frames, uintptr_t lo, uintptr_t hi, uintptr_t store)
{
    struct um_domain *d = e->map->dom;
    uint64_t off = um_domain_block_off(d, k0);
    size_t read_bytes;
    struct um_io_src src = um_domain_io(d);
    if (self->streaming)
        src.stream = &um_here(d)->stream_lock;
    size_t bytes = um_io_read(&src, self->buf, n << d->shift, off, &read_bytes);
    uint64_t end = atomic_load(&d->memfd_size); /* the size this process last saw */
    bytes = off >= end ? 0 : (end - off < bytes ? (size_t)(end - off) : bytes);
    /* The entry's pages holding file bytes: [lo, filled). */
    uint64_t lo_off = um_entry_off(e, lo);
    uintptr_t filled = off + bytes > lo_off ? lo + (uintptr_t)(off + bytes - lo_off) : lo;
    filled = filled < hi ? filled : hi;
    size_t present = 0;
    if (bytes) /* short if the memfd cannot take it all (memory cgroup limit): the kernel serves */
        bytes = store_run(e, frames[0], self->buf, off, bytes, lo, filled, store, &present);
    for (size_t i = 0; i < n; i++) {
        size_t in = (size_t)i << d->shift;
        size_t len = bytes > in ? (bytes - in < d->pagesize ? bytes - in : d->pagesize) : 0;
        if (len) {
            um_cache_commit(um_rt.cache, frames[i], d, k0 + i, len, d->pagesize);
            um_stat_add(&um_stats.fills, 1);
            um_stat_add(&um_here(d)->stats->fills, 1);
        } else {
            atomic_store(&d->slots[k0 + i], 0);
            um_cache_discard(um_rt.cache, frames[i], d->pagesize);
        }
    }
    um_stat_add(&um_stats.pages_filled, bytes / UM_PAGE);
    um_stat_add(&um_stats.bytes_read, read_bytes);
    um_stat_add(&um_here(d)->stats->bytes_read, read_bytes);
    /* Past the memfd's end the kernel raises SIGBUS itself; short of it, a read error (or a
     * file shrunk by another process) leaves pages only the kernel can answer for. */
    uintptr_t end_addr = end > lo_off ? lo + (uintptr_t)(end - lo_off) : lo;
    if (present < hi - lo)
        hand_to_kernel(e, lo + present, end_addr < hi ? end_addr : hi);
    if (end_addr < hi)
        um_uffd_wake(um_rt.uffd, end_addr, hi - end_addr);
}

/* Take block k of d for a fill: a frame whose slot CAS succeeded, or UM_NO_FRAME if another
 * frame got there first (or, for read-ahead, if no room can be made now). */
static uint32_t take_block(struct um_domain *d, size_t k, bool ahead)
{
    uint32_t f = ahead ? um_cache_try_alloc_in(um_rt.cache, d->pagesize, d->policy)
                       : um_cache_alloc_in(um_rt.cache, d->pagesize, d->policy);
    if (f == UM_NO_FRAME)
        return f;
    /* Known before the slot names the frame: whoever takes a dead owner's fill over clears
     * the slot through them (cache.c). */
    um_rt.cache->frames[f].block = k;
    atomic_store(&um_rt.cache->frames[f].dom, d);
    uint32_t expected = 0;
    if (atomic_compare_exchange_strong(&d->slots[k], &expected, f + 1))
        return f;
    um_cache_discard(um_rt.cache, f, d->pagesize);
    return UM_NO_FRAME;
}

/* Fill block k, mapping [lo, hi) of e, for a fault (of a store at `store`, or 0). False if
 * another frame got there first. */
static bool claim_block(struct um_filler *self, const struct um_entry *e, size_t k,
                        uintptr_t lo, uintptr_t hi, uintptr_t store)
{
    uint32_t f = take_block(e->map->dom, k, false);
    if (f == UM_NO_FRAME)
        return false;
    fill_run(self, e, k, 1, &f, lo, hi, store);
    return true;
}

/* Fill up to n blocks from `first` that e maps as one run (one read, one write, one map),
 * stopping at the first block already taken. */
static void fill_ahead(struct um_filler *self, const struct um_entry *e, size_t first, size_t n)
{
    struct um_domain *d = e->map->dom;
    size_t got = 0;
    uintptr_t lo = 0, hi = 0;
    for (size_t next = first; next < first + n; next++) {
        uintptr_t blo, bhi;
        um_entry_block_range(e, next, &blo, &bhi);
        if (blo >= bhi || (got && blo != hi) || atomic_load(&d->slots[next]) != 0)
            break;
        uint32_t f = take_block(d, next, true);
        if (f == UM_NO_FRAME)
            break;
        self->run[got++] = f;
        lo = got == 1 ? blo : lo;
        hi = bhi;
    }
    if (got) {
        fill_run(self, e, first, got, self->run, lo, hi, 0);
        um_stat_add(&um_stats.readahead_fills, got);
    }
}

/* The longest read-ahead window for entry e's mapping, in blocks. */
static unsigned ra_most(const struct um_filler *self, const struct um_mapping *m)
{
    size_t most = m->ra_max; /* the run buffer holds the largest of these */
    if (most > self->run_bytes)
        most = self->run_bytes;
    /* Read-ahead must not evict what it reads; three windows may be in flight and one being
     * read by the program. A file with a budget share (UFFDMAP_PATHS {share=}) reads ahead
     * within it. */
    size_t budget = um_rt.cache->budget;
    unsigned slot = m->dom->policy;
    if (slot < UM_SLOTS && um_rt.cache->slot_share[slot])
        budget = um_rt.cache->slot_share[slot];
    if (most > budget / 8)
        most = budget / 8;
    return (unsigned)(most / m->dom->pagesize);
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

/* Whether block k of d is resident whole in frame s - 1, and not soft-evicted (the fault of a
 * soft-evicted block is the use its policy counts: it must fault). */
static bool resident_whole(const struct um_domain *d, size_t k, uint32_t s)
{
    const struct um_frame *fr = &um_rt.cache->frames[s - 1];
    return atomic_load(&fr->state) == UM_FRAME_RESIDENT && !atomic_load(&fr->soft) &&
           atomic_load(&fr->len) == d->pagesize && atomic_load(&d->slots[k]) == s;
}

/* Map block k of entry e if it is resident whole. Under the frame's shard lock, which eviction
 * and write-back take to claim a frame: checked and mapped before any claim, so that no page
 * of a block evicted meanwhile (and perhaps being filled again, half written) is mapped. */
static bool map_if_resident(const struct um_entry *e, size_t k, uintptr_t lo, uintptr_t hi)
{
    struct um_domain *d = e->map->dom;
    uint32_t s = atomic_load(&d->slots[k]);
    if (!s)
        return false;
    um_cache_lock_frame(um_rt.cache, s - 1);
    bool ok = resident_whole(d, k, s);
    if (ok)
        ok = um_uffd_continue(um_rt.uffd, lo, hi - lo, tracked(e)) == hi - lo;
    um_cache_unlock_frame(um_rt.cache, s - 1);
    return ok;
}

/* After a minor fault on block k: if it continues a read-ahead stream, map the resident blocks
 * that follow, as many as read-ahead would fill, one UFFDIO_CONTINUE each. A reader that follows
 * another through one cache (a group's) then takes as few faults as the one reading the file,
 * not one per block, and keeps up with it; one that fell behind by more than the budget would
 * read the file again. As in map_resident(), a block evicted meanwhile is a hole that
 * UFFDIO_CONTINUE stops at. */
static void map_ahead(const struct um_filler *self, const struct um_entry *e, size_t k)
{
    struct um_mapping *m = e->map;
    unsigned window = um_ra_on_fault(&m->ra, k, ra_most(self, m), (enum um_ra_mode)m->ra_mode);
    size_t n = 0;
    for (; n < window; n++) {
        uintptr_t blo, bhi;
        um_entry_block_range(e, k + 1 + n, &blo, &bhi);
        if (blo >= bhi || !map_if_resident(e, k + 1 + n, blo, bhi))
            break;
    }
    /* Stopped short (at the block the reader of the file is filling, say): a fault there
     * continues the stream rather than starting one with no read-ahead. */
    if (n < window)
        um_ra_stopped(&m->ra, k + window + 1, k + 1 + n);
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

/* Map [lo, hi) of e from frame f, resident with block k, up to what the frame holds. Not under a lock: if the
 * frame is evicted meanwhile, UFFDIO_CONTINUE finds a hole and fails (it never allocates), and
 * the thread, woken, faults again as missing. A minor fault is a read reference the policy
 * could not see before: it is counted as one. */
static size_t map_resident(const struct um_entry *e, uint32_t f, size_t k, uintptr_t lo,
                           uintptr_t hi)
{
    const struct um_frame *fr = &um_rt.cache->frames[f];
    const struct um_domain *d = e->map->dom;
    uint64_t end_off = um_domain_block_off(d, k) + atomic_load(&fr->len);
    uint64_t lo_off = um_entry_off(e, lo);
    uintptr_t end = end_off > lo_off ? lo + (uintptr_t)(end_off - lo_off) : lo;
    end = end < hi ? end : hi;
    size_t present = end > lo ? um_uffd_continue(um_rt.uffd, lo, end - lo, tracked(e)) : 0;
    if (present < hi - lo)
        um_uffd_wake(um_rt.uffd, lo, hi - lo);
    um_stat_add(&um_stats.minor_faults, 1);
    atomic_store(&um_rt.cache->frames[f].soft, false);
    um_cache_touch(um_rt.cache, f);
    return present;
}

/* A resident frame whose faulting page cannot be mapped from it: the block was filled up to an
 * end of file that has since moved, or the kernel refused to map it. Write it back and drop
 * it, so that the next fill reads the file as it is now. False if it stays (its stores cannot
 * be written): the thread retries later. */
static bool refresh_block(const struct um_domain *d, size_t k, uint32_t f, uintptr_t addr)
{
    if (!um_cache_claim(um_rt.cache, f))
        return true; /* another thread took it: look again */
    if (atomic_load(&d->slots[k]) != f + 1) {
        um_cache_release(um_rt.cache, f); /* evicted and reused meanwhile: look again */
        return true;
    }
    if (um_writeback_frame(um_rt.cache, f)) {
        um_cache_release(um_rt.cache, f);
        um_uffd_wake(um_rt.uffd, um_page_down(addr), UM_PAGE);
        return false;
    }
    um_cache_drop(um_rt.cache, f);
    return true;
}

/* Serve a missing or minor fault. Pages of tracked mappings go in write-protected; a store's
 * own chunk of a shared mapping goes in writable and dirty (map_filled()). */
static void serve_fault(struct um_filler *self, const struct um_entry *e, uintptr_t addr,
                        bool write)
{
    struct um_domain *d = e->map->dom;
    uint64_t off = um_entry_off(e, addr);
    size_t k = um_domain_block(d, off);
    uintptr_t lo, hi;
    um_entry_block_range(e, k, &lo, &hi);
    for (;;) {
        uint32_t s = atomic_load(&d->slots[k]);
        if (s == 0) {
            if (!claim_block(self, e, k, lo, hi, write ? addr : 0))
                continue;
            read_ahead(self, e, k);
            return;
        }
        uint32_t f = s - 1;
        const struct um_frame *fr = &um_rt.cache->frames[f];
        uint32_t state = atomic_load(&fr->state);
        if (atomic_load(&d->slots[k]) != s)
            continue; /* the frame changed hands while we looked: look again */
        if (state == UM_FRAME_RESIDENT) {
            if (off - um_domain_block_off(d, k) < atomic_load(&fr->len)) {
                /* The faulting page not mapped though the frame holds it: evicted meanwhile,
                 * or the kernel refused UFFDIO_CONTINUE. Refaulting would find the same, for
                 * ever: the block is written back and dropped, and filled again. */
                if (map_resident(e, f, k, lo, hi) <= addr - lo && refresh_block(d, k, f, addr))
                    continue;
                map_ahead(self, e, k);
                return;
            }
            if (!refresh_block(d, k, f, addr))
                return;
            continue;
        }
        if (state == UM_FRAME_FILLING)
            read_ahead_on_catch_up(self, e, k); /* the program caught up with read-ahead */
        um_cache_wait(um_rt.cache, f, state); /* being filled or evicted: let it settle */
    }
}

/* A store to a write-protected page of a shared mapping: record it, then let it through. Under
 * the frame's shard lock, so that no write-back can claim the frame between marking the chunk
 * dirty and un-protecting the page. */
static bool record_store(const struct um_entry *e, uint32_t f, size_t k, uintptr_t addr)
{
    struct um_domain *d = e->map->dom;
    struct um_frame *fr = &um_rt.cache->frames[f];
    uintptr_t lo, hi;
    um_entry_block_range(e, k, &lo, &hi);
    um_cache_lock_frame(um_rt.cache, f);
    /* Still block k's: a frame is reused only after its slot was cleared. */
    bool ok = atomic_load(&fr->state) == UM_FRAME_RESIDENT && atomic_load(&d->slots[k]) == f + 1;
    if (ok) {
        uintptr_t clo, chi;
        chunk_range(e, addr, lo, hi, &clo, &chi);
        if (mark_dirty(d, f, um_entry_off(e, addr)))
            um_stat_add(&um_stats.dirtied_pages, (chi - clo) / UM_PAGE);
        um_cache_touch_locked(um_rt.cache, f);
        um_uffd_let_store(um_rt.uffd, clo, chi - clo, addr);
    }
    um_cache_unlock_frame(um_rt.cache, f);
    return ok;
}

static void serve_write(const struct um_entry *e, uintptr_t addr)
{
    struct um_domain *d = e->map->dom;
    size_t k = um_entry_block(e, addr);
    for (;;) {
        uint32_t s = atomic_load(&d->slots[k]);
        if (s == 0) {
            /* Evicted since the fault: the page is gone, and the store faults as missing. */
            um_uffd_wake(um_rt.uffd, um_page_down(addr), UM_PAGE);
            return;
        }
        uint32_t f = s - 1;
        if (record_store(e, f, k, addr))
            return;
        uint32_t state = atomic_load(&um_rt.cache->frames[f].state);
        if (atomic_load(&d->slots[k]) != s)
            continue;
        /* FILLING (the store raced the fill's commit) or BUSY (being written back or
         * evicted): wait, then look again; after an eviction the store faults as missing. */
        if (state != UM_FRAME_RESIDENT)
            um_cache_wait(um_rt.cache, f, state);
    }
}

void um_prefetch_locked(const struct um_entry *e, uintptr_t lo, uintptr_t hi, void *buf,
                        size_t most)
{
    struct um_domain *d = e->map->dom;
    struct um_filler self = {.index = 0, .buf = buf};
    size_t last = um_entry_block(e, hi - 1), done = 0;
    for (size_t k = um_entry_block(e, lo); k <= last && done < most; k++) {
        if (atomic_load(&d->slots[k]))
            continue;
        uintptr_t blo, bhi;
        um_entry_block_range(e, k, &blo, &bhi);
        claim_block(&self, e, k, blo, bhi, 0); /* lost to a racing fault: fine as well */
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
        um_stat_add(&um_here(e->map->dom)->stats->faults, 1);
        if (flags & UFFD_PAGEFAULT_FLAG_WP) {
            um_stat_add(&um_stats.wp_faults, 1);
            serve_write(e, addr);
        } else {
            serve_fault(self, e, addr, flags & UFFD_PAGEFAULT_FLAG_WRITE);
        }
    }
    um_registry_unlock(&um_rt.registry);
    if (!e)
        serve_miss(self, addr, tid);
}
