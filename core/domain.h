/* A cache domain: the resident blocks of one file, held once, in a memfd at their file offsets.
 *
 * Every managed mapping of the file maps that memfd (MAP_SHARED or MAP_PRIVATE, as the program
 * asked), whatever path, descriptor or address it was mapped under, and in every process that
 * inherited the domain through fork(): all of them see the same pages, as through the kernel's
 * page cache. The core never maps the memfd itself: fills put pages into it with UFFDIO_COPY
 * through the program's shared range or pwrite(), and write-back copies out of it by file I/O, so no mapping of it is ever left unregistered (a touch there would put
 * a page of zeros into the memfd).
 *
 * The domain (struct um_domain) lives in memory shared with fork children (shm.h): blocks are
 * `pagesize` bytes of the file at file offsets that are multiples of it; slots[k] is the frame
 * holding block k, plus one, or 0. A frame's state says whether the memfd's pages of the block
 * may be trusted (cache.h); pages the table did not fill never are. Each member process has its
 * own view of it (struct um_view): its descriptors and the address ranges where it maps the
 * domain, which evictors zap and write-back protects.
 *
 * Views are created, found and freed under the registry write lock (map.c, domains.c); fills and
 * evictions touch only slots (atomics), the range list (its own lock) and the size (its own). */
#ifndef UM_DOMAIN_H
#define UM_DOMAIN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "io.h"
#include "shm.h"
#include "stats.h"

/* File offsets a domain can serve (its slot table is reserved for this many bytes). */
#define UM_DOMAIN_MAX_BYTES ((uint64_t)1 << 40)
/* Processes sharing the cache at once (a parent and its fork children). */
#define UM_MAX_MEMBERS 64

/* An address range of this process mapping the domain (a registry entry, copied so that
 * evictors and write-back need no registry lock). */
struct um_dom_range {
    uintptr_t start, end;
    uint64_t off;
    bool shared;   /* MAP_SHARED: its pages are the memfd's, zapped before a punch */
    bool tracked;  /* registered for write-protect faults: protected before a write-back */
};

struct um_domain;

/* One member process's view of a domain (private memory). */
struct um_view {
    struct um_view *next;   /* the process's views (registry write lock) */
    struct um_domain *dom;
    int memfd;
    int fd;                 /* the file, read-write where it can be opened so */
    int direct_fd;          /* the file opened O_DIRECT for cold fills; -1: none */
    int presence_fd;        /* the file's lock file (sharing.c), or -1 */
    bool direct_always;     /* UFFDMAP_IO=direct */
    bool writable;          /* fd is open for writing: write-back possible from here */
    _Atomic int wb_fd;      /* else the file opened for writing on demand, or -1 (writeback.c) */
    unsigned users;         /* this process's mappings of the domain (registry write lock) */
    bool lingering;         /* none left, kept for other members (domains.c) */
    struct um_file_stats *stats;
    pthread_mutex_t stream_lock; /* streaming read-ahead's device reads, one at a time (io.h) */
    pthread_mutex_t ranges_lock; /* guards ranges[]: a leaf lock, taken last */
    struct um_dom_range *ranges;
    size_t nranges, ranges_cap;
};

struct um_domain {
    dev_t dev;
    ino_t ino;
    struct um_domain *next; /* the group's domains (group.h) */
    uint64_t id;            /* names its page file in a group */
    /* The file's size, rounded up to whole pages: past it, a touch of a mapping raises SIGBUS
     * (BUS_ADRERR) in the kernel itself, exactly as past the end of the file. Follows the size
     * changes made through member processes (coherence.c), under size_lock. */
    _Atomic uint64_t memfd_size;
    struct um_shm_mutex size_lock;
    size_t pagesize;
    unsigned shift;         /* log2(pagesize) */
    unsigned chunk_shift;   /* log2 of the dirty-tracking unit: max(4 KiB, pagesize / 64) */
    unsigned policy;        /* eviction policy slot (cache.h) */
    _Atomic uint64_t file_size; /* last size seen; refreshed when a fill reaches past it */
    _Atomic int wb_error;   /* errno of a write-back that failed, until msync() reports it */
    _Atomic uint64_t members; /* bit i: member process i has a view (members.h) */
    struct um_view *views[UM_MAX_MEMBERS]; /* each member's own, meaningful to it alone */
    char path[192];
    size_t nslots;
    size_t alloc_len;
    _Atomic uint32_t slots[];
};

/* This process's member number (members.c), and its view of d, or NULL if it has none. */
unsigned um_domain_me(void);
void um_domain_set_me(unsigned me);
static inline struct um_view *um_here(const struct um_domain *d)
{
    return d->views[um_domain_me()];
}

/* Where d's fills read from here (io.h). */
static inline struct um_io_src um_domain_io(struct um_domain *d)
{
    struct um_view *v = um_here(d);
    return (struct um_io_src){.fd = v->fd, .direct_fd = v->direct_fd,
                              .direct_always = v->direct_always, .size = &d->file_size};
}

static inline size_t um_domain_block(const struct um_domain *d, uint64_t off)
{
    return (size_t)(off >> d->shift);
}

static inline uint64_t um_domain_block_off(const struct um_domain *d, size_t k)
{
    return (uint64_t)k << d->shift;
}

/* A new domain for the file behind fd (of that identity and size), with this process's view of
 * it, taking ownership of fd. NULL with errno on failure (fd then still the caller's). */
struct um_view *um_domain_new(int fd, bool writable, const char *path, dev_t dev, ino_t ino,
                              size_t pagesize, uint64_t file_size);
/* This process's view of domain d, another process's (a group's, group.h), taking ownership of
 * fd. NULL with errno on failure (fd then still the caller's). Group lock held. */
struct um_view *um_domain_attach(struct um_domain *d, int fd, bool writable);
/* Size the memfd for a file of file_size bytes: 0, or -1 with errno (EFBIG past
 * UM_DOMAIN_MAX_BYTES). Growing is safe at any time; before shrinking, the caller drops the
 * blocks past the new end with no fill in flight in any member. */
int um_domain_resize(struct um_domain *d, uint64_t file_size);
/* Release the memfd's pages of [off, off + len) (zapping them from every mapping of every
 * member). */
int um_domain_punch(struct um_domain *d, uint64_t off, uint64_t len);
/* Copy buf into the memfd at off, never past its end: 0 or an errno. */
int um_domain_store(struct um_domain *d, const void *buf, size_t len, uint64_t off);
/* Close this process's descriptors of v's domain (close), and free v too (free). */
void um_view_close(struct um_view *v);
void um_view_free(struct um_view *v);
/* Free a domain no member has a view of; its frames must all be gone (in a group: group lock
 * held; its page file goes too). */
void um_domain_free(struct um_domain *d);

/* Room for n ranges (call before changing the registry, so that recording cannot fail). */
int um_view_reserve_ranges(struct um_view *v, size_t n);
/* Rewrite the range list (registry write lock held; room reserved): begin returns it locked,
 * end sets its length and unlocks. */
struct um_dom_range *um_view_ranges_begin(struct um_view *v);
void um_view_ranges_end(struct um_view *v, size_t n);
/* Stop stores to file bytes [off, off + len) in every tracked range of v, through uffd
 * (um_uffd_stop_stores()): 0, or -1 if that failed for a range (then stores there may go
 * unseen). */
int um_view_protect(struct um_view *v, int uffd, uint64_t off, uint64_t len);
/* Append to out (room for `most`) the address ranges of file bytes [off, off + len) in this
 * process's shared ranges of d: the pages a punch would zap. Returns the new count. */
unsigned um_domain_mapped(struct um_domain *d, uint64_t off, uint64_t len, struct iovec *out,
                          unsigned n, unsigned most);

#endif
