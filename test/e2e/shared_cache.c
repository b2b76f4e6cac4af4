/* One file, many mappings, one cache: on a file larger than UFFDMAP_BUFSIZE, every mapping of
 * the same file must be served by the shim and see the same bytes, as through the kernel:
 *   a. two MAP_SHARED mappings (read-write and read-only) see each other's stores at once;
 *   b. mremap(old, 0, n, MREMAP_MAYMOVE) duplicates a shared mapping: both see both's stores;
 *   c. a hard link to the file, mapped through both names, shares the stores;
 *   d. mremap growing (file extended first) and moving (MREMAP_FIXED) a shared mapping keeps
 *      its bytes and stores, and stores through the new range reach the file;
 *   e. MAP_PRIVATE copy-on-write is per 4 KiB page: after a store on page 0 of a 64 KiB block,
 *      pwrite()s to pages 1..15 show through the mapping (whether or not they were read
 *      before); page 0 keeps the store, which never reaches the file.
 * Every expected byte comes from pattern_at() and from what the program stored (the kernel's
 * behaviour). Optional second argument: the letters of the parts to run (default "abcde").
 * E2E_NO_MANAGED_CHECK=1 skips the "served by the shim" checks only, so that the program can
 * be run without LD_PRELOAD to show that the kernel passes every other check. */
#include "common.h"

static bool check_managed = true;
static uint64_t size, stride;
static uint8_t xs[3]; /* the byte at off is pattern_at(off) ^ xs[off % stride] (0: no store) */

/* expect_managed(), reporting the caller's line. */
#define managed(p)                                                                            \
    CHECK(!check_managed || is_managed(p), "%p is not served by the shim: %s", (const void *)(p), \
          maps_line(p))

static uint8_t want(uint64_t off)
{
    uint64_t m = off % stride;
    return (uint8_t)(pattern_at(off) ^ (m < 3 ? xs[m] : 0));
}

/* Store pattern ^ x at every stride (+ shift) through w and see each store through r at once. */
static void store_and_see(uint8_t *w, const uint8_t *r, uint64_t shift, uint8_t x)
{
    xs[shift] = x;
    for (uint64_t off = shift; off < size; off += stride) {
        w[off] = want(off);
        CHECK(r[off] == w[off], "store at %lu not seen through the other mapping: %u, want %u",
              (unsigned long)off, r[off], w[off]);
    }
}

/* Read [0, size) through p (every 256th byte and every stored one): the whole file, so the
 * budget churns. */
static void sweep(const char *what, const uint8_t *p)
{
    for (uint64_t off = 0; off < size; off++)
        if (off % 256 == 0 || off % stride < 3)
            CHECK(p[off] == want(off), "%s: byte %lu is %u, want %u", what, (unsigned long)off,
                  p[off], want(off));
}

/* The file through pread holds [0, size) as want() says. */
static void file_has(const char *what, int fd)
{
    static uint8_t buf[1 << 20];
    for (uint64_t base = 0; base < size; base += sizeof buf) {
        size_t n = size - base < sizeof buf ? (size_t)(size - base) : sizeof buf;
        CHECK(pread(fd, buf, n, (off_t)base) == (ssize_t)n, "pread: %s", strerror(errno));
        for (size_t i = 0; i < n; i++)
            CHECK(buf[i] == want(base + i), "%s: file byte %lu is %u, want %u", what,
                  (unsigned long)(base + i), buf[i], want(base + i));
    }
}

static uint8_t *map(int fd, uint64_t len, int prot, int flags)
{
    uint8_t *p = mmap(NULL, len, prot, flags, fd, 0);
    CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
    return p;
}

static int open_rw(const char *path)
{
    int fd = open(path, O_RDWR);
    CHECK(fd >= 0, "open %s: %s", path, strerror(errno));
    return fd;
}

static void two_mappings(const char *dir)
{
    char *path = make_file(dir, "shared_a.bin", size);
    int fw = open_rw(path), fr = open_ro(path);
    uint8_t *w = map(fw, size, PROT_READ | PROT_WRITE, MAP_SHARED);
    const uint8_t *r = map(fr, size, PROT_READ, MAP_SHARED);
    managed(w);
    managed(r);
    store_and_see(w, r, 0, 0x5a);
    sweep("a: read-only mapping", r);
    sweep("a: writable mapping", w);
    store_and_see(w, r, 1, 0x33); /* again, after the sweeps churned the budget */
    sweep("a: read-only mapping", r);
    CHECK(munmap(w, size) == 0 && munmap((void *)r, size) == 0, "munmap");
    file_has("a", fr);
    close(fw);
    close(fr);
    unlink(path);
}

static void duplicate(const char *dir)
{
    char *path = make_file(dir, "shared_b.bin", size);
    int fd = open_rw(path);
    uint8_t *p = map(fd, size, PROT_READ | PROT_WRITE, MAP_SHARED);
    managed(p);
    p[0] = p[0]; /* the original is in use before it is duplicated */
    uint8_t *q = mremap(p, 0, size, MREMAP_MAYMOVE);
    CHECK(q != MAP_FAILED, "mremap(old, 0, n): %s", strerror(errno));
    managed(p);
    managed(q);
    store_and_see(p, q, 0, 0x5a);
    store_and_see(q, p, 1, 0x33);
    sweep("b: duplicate", q);
    sweep("b: original", p);
    CHECK(munmap(p, size) == 0 && munmap(q, size) == 0, "munmap");
    file_has("b", fd);
    close(fd);
    unlink(path);
}

static void hard_link(const char *dir)
{
    char *path = make_file(dir, "shared_c.bin", size);
    char *other = malloc(strlen(path) + 6);
    sprintf(other, "%s.link", path);
    unlink(other);
    CHECK(link(path, other) == 0, "link: %s", strerror(errno));
    int f1 = open_rw(path), f2 = open_rw(other);
    uint8_t *p = map(f1, size, PROT_READ | PROT_WRITE, MAP_SHARED);
    uint8_t *q = map(f2, size, PROT_READ | PROT_WRITE, MAP_SHARED);
    managed(p);
    managed(q);
    store_and_see(p, q, 0, 0x5a);
    store_and_see(q, p, 1, 0x33);
    sweep("c: through the link", q);
    sweep("c: through the name", p);
    CHECK(munmap(p, size) == 0 && munmap(q, size) == 0, "munmap");
    file_has("c", f1);
    close(f1);
    close(f2);
    unlink(other);
    unlink(path);
}

/* The grown part [size, 2 size): zeros from ftruncate, or 0x80 | page at every stride. */
static void grown_part(const char *what, const uint8_t *p, int fd, bool stored)
{
    for (uint64_t off = size; off < 2 * size; off += 4096 + 17)
        CHECK(p[off] == 0 || (stored && off >= size + 5 && (off - size - 5) % stride == 0), "%s: byte %lu is %u, want 0", what, (unsigned long)off, p[off]);
    for (uint64_t off = size + 5; stored && off < 2 * size; off += stride) {
        uint8_t b = (uint8_t)(0x80 | (off >> 12));
        CHECK(p[off] == b, "%s: byte %lu is %u, want %u", what, (unsigned long)off, p[off], b);
        if (fd >= 0)
            CHECK(pread(fd, &b, 1, (off_t)off) == 1 && b == p[off],
                  "%s: store at %lu not in the file", what, (unsigned long)off);
    }
}

static void grow_and_move(const char *dir)
{
    char *path = make_file(dir, "shared_d.bin", size);
    int fd = open_rw(path), fr = open_ro(path);
    uint8_t *p = map(fd, size, PROT_READ | PROT_WRITE, MAP_SHARED);
    managed(p);
    store_and_see(p, p, 0, 0x5a);
    /* Grow to 2x: the new half reads the zeros ftruncate() added. */
    uint64_t big = 2 * size;
    CHECK(ftruncate(fd, (off_t)big) == 0, "ftruncate: %s", strerror(errno));
    uint8_t *q = mremap(p, size, big, MREMAP_MAYMOVE);
    CHECK(q != MAP_FAILED, "mremap grow: %s", strerror(errno));
    managed(q);
    managed(q + size + PAGE);
    sweep("d: grown, old part", q);
    grown_part("d: grown, new part", q, -1, false);
    store_and_see(q, q, 1, 0x33);
    for (uint64_t off = size + 5; off < big; off += stride)
        q[off] = (uint8_t)(0x80 | (off >> 12));
    CHECK(msync(q, big, MS_SYNC) == 0, "msync: %s", strerror(errno));
    file_has("d: grown", fr);
    grown_part("d: grown, after msync", q, fr, true);
    /* Move it whole to a reserved address. */
    uint64_t len = (big + PAGE - 1) & ~(PAGE - 1);
    uint8_t *to = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(to != MAP_FAILED, "reserve: %s", strerror(errno));
    uint8_t *r = mremap(q, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, to);
    CHECK(r == to, "mremap fixed: %s", r == MAP_FAILED ? strerror(errno) : "elsewhere");
    managed(r);
    managed(r + size + PAGE);
    sweep("d: moved", r);
    grown_part("d: moved, new part", r, -1, true);
    store_and_see(r, r, 2, 0x0f);
    CHECK(msync(r, big, MS_SYNC) == 0, "msync: %s", strerror(errno));
    file_has("d: moved", fr);
    CHECK(munmap(r, len) == 0, "munmap");
    file_has("d: unmapped", fr);
    close(fd);
    close(fr);
    unlink(path);
}

/* 64 KiB block at blk: page 0 holds the store at blk + 7, pages 1..15 the pwrite()n bytes. */
static uint8_t block_byte(uint64_t blk, uint64_t off)
{
    if (off >= blk + PAGE)
        return (uint8_t)(pattern_at(off) ^ 0xa5);
    return (uint8_t)(pattern_at(off) ^ (off == blk + 7 ? 0x5a : 0));
}

/* Store on page 0 of the block (after reading pages 1..15 if read_first), pwrite pages 1..15. */
static void private_block(uint8_t *p, int fw, uint64_t blk, bool read_first)
{
    uint8_t page[PAGE];
    volatile uint8_t sink = 0;
    (void)sink;
    for (uint64_t i = 1; read_first && i < 16; i++)
        sink ^= p[blk + i * PAGE + 5];
    p[blk + 7] = block_byte(blk, blk + 7);
    for (uint64_t i = 1; i < 16; i++) {
        for (size_t j = 0; j < PAGE; j++)
            page[j] = block_byte(blk, blk + i * PAGE + j);
        CHECK(pwrite(fw, page, PAGE, (off_t)(blk + i * PAGE)) == (ssize_t)PAGE, "pwrite");
    }
}

static void private_check(const char *when, const uint8_t *p, int fd, uint64_t blk)
{
    for (uint64_t off = blk; off < blk + 16 * PAGE; off++)
        CHECK(p[off] == block_byte(blk, off), "e: %s: private byte %lu (page %lu of its 64 KiB "
              "block) is %u, want %u", when, (unsigned long)off,
              (unsigned long)((off - blk) / PAGE), p[off], block_byte(blk, off));
    uint8_t b;
    CHECK(pread(fd, &b, 1, (off_t)(blk + 7)) == 1 && b == pattern_at(blk + 7),
          "e: %s: the private store reached the file", when);
}

static void private_pages(const char *dir)
{
    char *path = make_file(dir, "shared_e.bin", size);
    int fd = open_ro(path), fw = open_rw(path);
    uint8_t *p = map(fd, size, PROT_READ | PROT_WRITE, MAP_PRIVATE);
    managed(p);
    uint64_t b1 = (size / 4) & ~(uint64_t)0xffff, b2 = (size / 2) & ~(uint64_t)0xffff;
    private_block(p, fw, b1, false);
    private_block(p, fw, b2, true);
    private_check("untouched block", p, fd, b1);
    private_check("block read first", p, fd, b2);
    volatile uint8_t sink = 0;
    for (uint64_t off = 0; off < size; off += 512) /* churn the budget */
        sink ^= p[off];
    private_check("untouched block, after a sweep", p, fd, b1);
    private_check("block read first, after a sweep", p, fd, b2);
    CHECK(munmap(p, size) == 0, "munmap");
    close(fd);
    close(fw);
    unlink(path);
}

int main(int argc, char **argv)
{
    const char *dir = data_dir(argc, argv);
    const char *parts = argc > 2 ? argv[2] : "abcde";
    const char *nm = getenv("E2E_NO_MANAGED_CHECK");
    check_managed = !(nm && !strcmp(nm, "1"));
    uint64_t budget = env_size("UFFDMAP_BUFSIZE", 16 * MiB);
    size = 2 * budget + 5000;
    stride = 37 * PAGE + 123;
    void (*fn[])(const char *) = {two_mappings, duplicate, hard_link, grow_and_move, private_pages};
    for (int i = 0; i < 5; i++)
        if (strchr(parts, 'a' + i)) {
            memset(xs, 0, sizeof xs);
            fn[i](dir);
            printf("shared_cache: part %c passed\n", 'a' + i);
        }
    return 0;
}
