/* A system call that reads into or writes from managed memory faults on it inside the kernel,
 * and the fill then runs while the kernel holds what the call took:
 * - write() to a managed file holds the file's inode lock while it copies from the buffer; a
 *   fill that reads the file with O_DIRECT, or writes back that file's dirty blocks to make
 *   room, needs the same lock: deadlock.
 * - an O_DIRECT read() pins the buffer's pages for the device to fill; evicting them meanwhile
 *   loses the device's bytes.
 * So the kernel gets a buffer of the shim's own, never managed, and the bytes are moved between
 * it and the program's buffers by process_vm_readv/writev: faults there are served like any
 * other (the thread holds nothing), and a bad address gives EFAULT as the kernel's call would,
 * not SIGSEGV. Large calls go in pieces of CHUNK bytes: a regular file's read or write may be
 * split so (a concurrent writer to the same bytes may see the pieces apart, as across pages
 * with the kernel's own copy); other descriptors get one piece (a short read, which they allow). */
#include "bounce.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/runtime.h"
#include "next.h"
#include "shim.h"

#define CHUNK (8UL << 20)

static uintptr_t managed_run(uintptr_t lo, uintptr_t hi, int *prot)
{
    struct um_shim_call call;
    um_shim_enter(&call);
    uintptr_t end = um_managed_run(lo, hi, prot);
    um_shim_leave(&call);
    return end;
}

static bool any_managed(const struct iovec *iov, int n)
{
    struct um_registry *r = &um_rt.registry;
    bool found = false;
    for (int i = 0; i < n && !found; i++) {
        uintptr_t lo = (uintptr_t)iov[i].iov_base, len = iov[i].iov_len;
        uintptr_t hi = lo + len < lo ? UINTPTR_MAX : lo + len;
        int prot;
        if (len && um_registry_may_overlap(r, lo, hi))
            found = managed_run(lo, hi, &prot) < hi || prot >= 0;
    }
    return found;
}

/* O_DIRECT with buffers, length or offset the kernel refuses: it refuses before touching them,
 * and must still be the one to say so. */
static bool direct_misaligned(int fd, const struct iovec *iov, int n, uint64_t total)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || !(fl & O_DIRECT))
        return false;
    struct statx sx;
    unsigned mem = 512, off = 512;
    if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx) == 0 && (sx.stx_mask & STATX_DIOALIGN) &&
        sx.stx_dio_mem_align) {
        mem = sx.stx_dio_mem_align;
        off = sx.stx_dio_offset_align;
    }
    for (int i = 0; i < n; i++)
        if ((uintptr_t)iov[i].iov_base % mem || iov[i].iov_len % off)
            return true;
    return total % off != 0;
}

bool um_bounce_needed(int fd, const struct iovec *iov, int n, uint64_t total)
{
    /* Beyond MAX_RW_COUNT the kernel shortens the call itself: left to it. */
    if (um_shim_depth || !um_runtime_active() || total == 0 || total > 0x7ffff000u ||
        !any_managed(iov, n))
        return false;
    int saved = errno;
    bool needed = !direct_misaligned(fd, iov, n, total);
    errno = saved;
    return needed;
}

/* Up to len bytes of the program's buffers from byte `skip` of them on, as a slice of iov in
 * out[] (at most n entries); returns its length in entries. */
static int slice(const struct iovec *iov, int n, uint64_t skip, size_t len, struct iovec *out)
{
    int k = 0;
    for (int i = 0; i < n && len; i++) {
        if (skip >= iov[i].iov_len) {
            skip -= iov[i].iov_len;
            continue;
        }
        size_t take = iov[i].iov_len - skip < len ? iov[i].iov_len - skip : len;
        out[k++] = (struct iovec){(char *)iov[i].iov_base + skip, take};
        len -= take;
        skip = 0;
    }
    return k;
}

/* Copy len bytes from buf to the program's memory at dst; returns how many arrived (fewer at
 * a bad address). Writable managed memory gets plain stores: process_vm_writev() would pin its
 * pages, and a block evicted under the pin would lose the bytes (as an O_DIRECT read's would).
 * The rest may be anything (read-only managed memory included) and gets process_vm_writev(),
 * which says EFAULT where the kernel's read would. */
static size_t put(char *dst, const char *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        int prot;
        uintptr_t lo = (uintptr_t)dst + done;
        size_t run = managed_run(lo, lo + (len - done), &prot) - lo;
        if (prot >= 0 && (prot & PROT_WRITE)) {
            memcpy(dst + done, buf + done, run);
        } else {
            struct iovec local = {(void *)(buf + done), run}, remote = {dst + done, run};
            ssize_t n = process_vm_writev(getpid(), &local, 1, &remote, 1, 0);
            if (n != (ssize_t)run)
                return done + (n > 0 ? (size_t)n : 0);
        }
        done += run;
    }
    return done;
}

/* Move len bytes between buf and the program's buffers from byte `at` of them on; returns how
 * many moved (fewer at a bad address). Reading the program's memory by process_vm_readv() is
 * safe anywhere: a block evicted under its pin still holds the bytes it had. */
static size_t move(bool to_program, void *buf, const struct iovec *iov, int n, uint64_t at,
                   size_t len)
{
    struct iovec remote[n > 0 ? n : 1];
    int k = slice(iov, n, at, len, remote);
    if (!to_program) {
        struct iovec local = {buf, len};
        ssize_t moved = process_vm_readv(getpid(), &local, 1, remote, (unsigned long)k, 0);
        return moved > 0 ? (size_t)moved : 0;
    }
    size_t moved = 0;
    for (int i = 0; i < k; i++) {
        size_t got = put(remote[i].iov_base, (char *)buf + moved, remote[i].iov_len);
        moved += got;
        if (got < remote[i].iov_len)
            break;
    }
    return moved;
}

static bool regular(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
}

static void unmap_buffer(void *arg)
{
    void **buf = arg;
    um_next_munmap(buf[0], (size_t)(uintptr_t)buf[1]);
}

/* One read or write of len bytes at byte `done` of the call: off < 0 for the file position. */
static ssize_t io(bool reading, int fd, void *buf, size_t len, off_t off, uint64_t done)
{
    if (off < 0)
        return reading ? um_next_read(fd, buf, len) : um_next_write(fd, buf, len);
    return reading ? um_next_pread(fd, buf, len, off + (off_t)done)
                   : um_next_pwrite(fd, buf, len, off + (off_t)done);
}

/* The call, piece by piece through buf (cap bytes): the bytes moved, and *err for the first
 * failure (a count short of `total` with *err 0: the end of the file, or a short write). */
static uint64_t transfer(bool reading, int fd, const struct iovec *iov, int n, uint64_t total,
                         off_t off, void *buf, size_t cap, int *err)
{
    bool pieces = regular(fd);
    uint64_t done = 0;
    while (done < total) {
        size_t want = total - done < cap ? (size_t)(total - done) : cap;
        if (!reading && (want = move(false, buf, iov, n, done, want)) == 0) {
            *err = EFAULT;
            break;
        }
        ssize_t got = io(reading, fd, buf, want, off, done);
        if (got < 0) {
            *err = errno;
            break;
        }
        size_t kept = reading ? move(true, buf, iov, n, done, (size_t)got) : (size_t)got;
        done += kept;
        if (kept < (size_t)got) {
            /* A bad address in the program's buffers: the kernel's read stops there, and the
             * file position moves only by what reached them. */
            *err = EFAULT;
            if (off < 0 && pieces)
                lseek(fd, -(off_t)((size_t)got - kept), SEEK_CUR);
        }
        if (kept < want || !pieces)
            break;
    }
    return done;
}

static ssize_t bounce(bool reading, int fd, const struct iovec *iov, int n, uint64_t total,
                      off_t off)
{
    size_t cap = total < CHUNK ? (size_t)total : CHUNK;
    void *buf = um_next_mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (buf == MAP_FAILED)
        return -1; /* ENOMEM, as the kernel may say when it cannot pin the buffer */
    void *cleanup[2] = {buf, (void *)(uintptr_t)cap};
    int err = 0;
    uint64_t done;
    /* read() and write() are cancellation points: the buffer goes with the thread. */
    pthread_cleanup_push(unmap_buffer, cleanup);
    done = transfer(reading, fd, iov, n, total, off, buf, cap, &err);
    pthread_cleanup_pop(1);
    if (done == 0 && err) {
        errno = err;
        return -1;
    }
    return (ssize_t)done;
}

ssize_t um_bounce_read(int fd, const struct iovec *iov, int n, uint64_t total, off_t off)
{
    return bounce(true, fd, iov, n, total, off);
}

ssize_t um_bounce_write(int fd, const struct iovec *iov, int n, uint64_t total, off_t off)
{
    return bounce(false, fd, iov, n, total, off);
}
