/* Mappings of a domain: blocks are aligned in file offsets, whatever the address, clipped to
 * each registry entry; and handing a range back to the kernel keeps the program's private
 * copies. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cmocka_all.h"
#include "core/domain.h"
#include "core/mapping.h"

/* A domain and this process's view of it, freed together. */
static void free_domain(struct um_domain *d)
{
    struct um_view *v = um_here(d);
    d->views[um_domain_me()] = NULL;
    um_view_free(v);
    um_domain_free(d);
}

#define P 4096UL

/* A domain of `pagesize` blocks with no view, memfd or slots: enough for block arithmetic. */
static struct um_domain *fake_domain(size_t pagesize)
{
    static struct um_domain d;
    memset(&d, 0, sizeof d);
    d.pagesize = pagesize;
    d.shift = (unsigned)__builtin_ctzl(pagesize);
    return &d;
}

static void new_sets_sharing(void **state)
{
    (void)state;
    struct um_domain *d = fake_domain(16 * P);
    struct um_mapping *m = um_mapping_new(d, PROT_READ, MAP_PRIVATE);
    assert_non_null(m);
    assert_ptr_equal(m->dom, d);
    assert_int_equal(m->prot, PROT_READ);
    assert_int_equal(m->flags, MAP_PRIVATE);
    assert_false(m->shared);
    assert_false(um_mapping_writes_file(m));
    assert_int_equal(m->entries, 0);
    um_mapping_free(m);
    m = um_mapping_new(d, PROT_READ | PROT_WRITE, MAP_SHARED);
    assert_true(m->shared);
    assert_false(um_mapping_writes_file(m)); /* not write-tracked */
    m->wp = true;
    assert_true(um_mapping_writes_file(m));
    um_mapping_free(m);
    m = um_mapping_new(d, PROT_READ, MAP_SHARED_VALIDATE);
    assert_true(m->shared);
    um_mapping_free(m);
}

static void blocks_follow_file_offsets(void **state)
{
    (void)state;
    /* 64 KiB blocks; the entry starts 3 pages into a block of the file. */
    struct um_mapping *m = um_mapping_new(fake_domain(16 * P), PROT_READ, MAP_PRIVATE);
    assert_non_null(m);
    uintptr_t base = 0x100000000UL;
    /* File pages 3..42: blocks 0, 1, 2. */
    struct um_entry e = {.start = base, .end = base + 40 * P, .off = 3 * P, .prot = PROT_READ,
                         .map = m};
    assert_int_equal(um_entry_off(&e, base + 5 * P), 8 * P);
    assert_int_equal(um_entry_block(&e, base), 0);
    assert_int_equal(um_entry_block(&e, base + 12 * P), 0);
    assert_int_equal(um_entry_block(&e, base + 13 * P), 1);
    assert_int_equal(um_entry_block(&e, base + 40 * P - 1), 2);
    uintptr_t lo, hi;
    um_entry_block_range(&e, 0, &lo, &hi);
    assert_int_equal(lo, base); /* clipped: the block starts before the entry */
    assert_int_equal(hi, base + 13 * P);
    um_entry_block_range(&e, 1, &lo, &hi);
    assert_int_equal(lo, base + 13 * P);
    assert_int_equal(hi, base + 29 * P);
    um_entry_block_range(&e, 2, &lo, &hi);
    assert_int_equal(lo, base + 29 * P);
    assert_int_equal(hi, base + 40 * P); /* clipped at the end */
    um_mapping_free(m);
}

/* A piece of a mapping (left by a partial munmap() or moved by mremap()) at an address that
 * says nothing of its file offset: blocks follow the offset alone. */
static void unaligned_piece(void **state)
{
    (void)state;
    struct um_mapping *m = um_mapping_new(fake_domain(16 * P), PROT_READ, MAP_SHARED);
    uintptr_t base = 0x7f0000001000UL; /* not 64 KiB aligned */
    /* File bytes [37 P, 67 P): the tail of block 2, block 3, the head of block 4. */
    struct um_entry e = {.start = base, .end = base + 30 * P, .off = 37 * P, .prot = PROT_READ,
                         .map = m};
    assert_int_equal(um_entry_block(&e, base), 2);
    assert_int_equal(um_entry_block(&e, base + 11 * P - 1), 2);
    assert_int_equal(um_entry_block(&e, base + 11 * P), 3);
    assert_int_equal(um_entry_block(&e, base + 27 * P - 1), 3);
    assert_int_equal(um_entry_block(&e, base + 27 * P), 4);
    uintptr_t lo, hi;
    um_entry_block_range(&e, 2, &lo, &hi);
    assert_int_equal(lo, base);
    assert_int_equal(hi, base + 11 * P);
    um_entry_block_range(&e, 3, &lo, &hi);
    assert_int_equal(lo, base + 11 * P);
    assert_int_equal(hi, base + 27 * P);
    um_entry_block_range(&e, 4, &lo, &hi);
    assert_int_equal(lo, base + 27 * P);
    assert_int_equal(hi, base + 30 * P);
    /* Blocks the entry does not map: empty ranges. */
    um_entry_block_range(&e, 0, &lo, &hi);
    assert_true(lo >= hi);
    um_entry_block_range(&e, 1, &lo, &hi);
    assert_true(lo >= hi);
    um_entry_block_range(&e, 5, &lo, &hi);
    assert_true(lo >= hi);
    um_entry_block_range(&e, 1000, &lo, &hi);
    assert_true(lo >= hi);
    /* An entry ending exactly on a block boundary does not map the next block. */
    struct um_entry f = {.start = base, .end = base + 11 * P, .off = 37 * P, .prot = PROT_READ,
                         .map = m};
    um_entry_block_range(&f, 3, &lo, &hi);
    assert_true(lo >= hi);
    um_mapping_free(m);
}

static int temp_file(size_t pages, char *path)
{
    strcpy(path, "/tmp/um_test_mapping.XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    unsigned char page[P];
    for (size_t i = 0; i < pages; i++) {
        memset(page, 'A' + (int)i, P);
        assert_int_equal(pwrite(fd, page, P, (off_t)(i * P)), (ssize_t)P);
    }
    return fd;
}

static void slots_start_empty(void **state)
{
    (void)state;
    char path[64];
    int fd = temp_file(1, path);
    /* The slot table covers UM_DOMAIN_MAX_BYTES, lazily backed, and reads as empty. */
    struct um_view *view = um_domain_new(fd, true, path, 1, 2, P, 3 * P + 5);
    assert_non_null(view);
    struct um_domain *d = view->dom;
    assert_int_equal(d->nslots, UM_DOMAIN_MAX_BYTES / P);
    assert_int_equal(d->shift, 12);
    assert_int_equal(atomic_load(&d->slots[0]), 0);
    assert_int_equal(atomic_load(&d->slots[d->nslots - 1]), 0);
    /* The memfd is sized to the file, in whole pages. */
    assert_int_equal(atomic_load(&d->memfd_size), 4 * P);
    assert_int_equal(lseek(um_here(d)->memfd, 0, SEEK_END), (off_t)(4 * P));
    assert_int_equal(um_domain_resize(d, 1 << 20), 0);
    assert_int_equal(lseek(um_here(d)->memfd, 0, SEEK_END), 1 << 20);
    assert_int_equal(um_domain_resize(d, 2 * P), 0);
    assert_int_equal(atomic_load(&d->memfd_size), 2 * P);
    assert_int_equal(lseek(um_here(d)->memfd, 0, SEEK_END), (off_t)(2 * P));
    /* Stores stop at the memfd's end rather than grow it. */
    unsigned char buf[2 * P];
    memset(buf, 7, sizeof buf);
    assert_int_equal(um_domain_store(d, buf, sizeof buf, P), 0);
    assert_int_equal(lseek(um_here(d)->memfd, 0, SEEK_END), (off_t)(2 * P));
    errno = 0;
    assert_int_equal(um_domain_resize(d, UM_DOMAIN_MAX_BYTES + 1), -1);
    assert_int_equal(errno, EFBIG);
    free_domain(d);
}

/* A private mapping of the cache (the memfd, as the core maps it): one page the program read,
 * one it stored to, two it never touched. Handing it all to the kernel keeps the stored page
 * and maps the file under the others. */
static void to_kernel_keeps_private_copies(void **state)
{
    (void)state;
    char path[64];
    int fd = temp_file(4, path);
    struct um_view *view = um_domain_new(fd, true, path, 1, 2, P, 4 * P);
    assert_non_null(view);
    struct um_domain *d = view->dom;
    unsigned char cached[P];
    memset(cached, 'X', P);
    assert_int_equal(um_domain_store(d, cached, P, 0), 0); /* page 0 "filled" with X */
    struct um_mapping *m = um_mapping_new(d, PROT_READ | PROT_WRITE, MAP_PRIVATE);
    unsigned char *a = mmap(NULL, 4 * P, PROT_READ | PROT_WRITE, MAP_PRIVATE, um_here(d)->memfd, 0);
    assert_true(a != MAP_FAILED);
    assert_int_equal(a[0], 'X');   /* read: the memfd's page */
    a[P + 7] = 0x5a;               /* stored: a private copy */
    struct um_entry e = {.start = (uintptr_t)a, .end = (uintptr_t)a + 4 * P, .off = 0,
                         .prot = PROT_READ | PROT_WRITE, .map = m};
    assert_int_equal(um_entry_to_kernel(&e, (uintptr_t)a, (uintptr_t)a), 0); /* empty: nothing */
    um_entry_to_kernel_keeping_private(&e, e.start, e.end, NULL);
    assert_int_equal(a[P + 7], 0x5a); /* the private copy stayed */
    assert_int_equal(a[P], 0);        /* with the rest of what it held */
    assert_int_equal(a[0], 'A');      /* the file, through the kernel */
    assert_int_equal(a[2 * P], 'C');
    assert_int_equal(a[4 * P - 1], 'D');
    /* The kernel's private mapping: a store now makes a copy, never reaching the file. */
    a[2 * P] = 'z';
    unsigned char b;
    assert_int_equal(pread(fd, &b, 1, 2 * P), 1);
    assert_int_equal(b, 'C');
    munmap(a, 4 * P);
    um_mapping_free(m);
    free_domain(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(new_sets_sharing),
        cmocka_unit_test(blocks_follow_file_offsets),
        cmocka_unit_test(unaligned_piece),
        cmocka_unit_test(slots_start_empty),
        cmocka_unit_test(to_kernel_keeps_private_copies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
