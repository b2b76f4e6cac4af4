#include "mapping.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "os.h"

struct um_mapping *um_mapping_new(struct um_domain *d, int prot, int flags)
{
    struct um_mapping *m = um_os_alloc(sizeof *m);
    if (!m)
        return NULL;
    m->dom = d;
    m->prot = prot;
    m->flags = flags;
    m->shared = (flags & MAP_TYPE) != MAP_PRIVATE;
    return m;
}

void um_mapping_free(struct um_mapping *m)
{
    um_os_free(m, sizeof *m);
}

int um_entry_to_kernel(const struct um_entry *e, uintptr_t lo, uintptr_t hi)
{
    if (lo >= hi)
        return 0;
    const struct um_mapping *m = e->map;
    int flags = (m->flags & (MAP_SHARED | MAP_PRIVATE)) | MAP_FIXED;
    off_t off = (off_t)um_entry_off(e, lo);
    if (um_os_mmap((void *)lo, hi - lo, e->prot, flags, um_here(m->dom)->fd, off) != MAP_FAILED)
        return 0;
    um_warn("cannot hand %#lx-%#lx of %s to the kernel (%m)", (unsigned long)lo,
            (unsigned long)hi, m->dom->path);
    return -1;
}

#define PAGEMAP_PRESENT (1ULL << 63)
#define PAGEMAP_FILE (1ULL << 61) /* a page of a file or of shared memory: not a private copy */
#define PROBE_PAGES 512

static bool private_copy(uint64_t entry)
{
    return (entry & PAGEMAP_PRESENT) && !(entry & PAGEMAP_FILE);
}

/* [lo, hi) to the kernel, and told. */
static void replace_run(const struct um_entry *e, uintptr_t lo, uintptr_t hi,
                        void (*replaced)(uintptr_t lo, uintptr_t hi))
{
    if (lo < hi && um_entry_to_kernel(e, lo, hi) == 0 && replaced)
        replaced(lo, hi);
}

void um_entry_to_kernel_keeping_private(const struct um_entry *e, uintptr_t lo, uintptr_t hi,
                                        void (*replaced)(uintptr_t lo, uintptr_t hi))
{
    int pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    uint64_t vec[PROBE_PAGES];
    for (uintptr_t at = lo; at < hi;) {
        size_t pages = (hi - at) / UM_PAGE < PROBE_PAGES ? (hi - at) / UM_PAGE : PROBE_PAGES;
        off_t where = (off_t)(at / UM_PAGE * sizeof vec[0]);
        if (pm < 0 || um_os_pread(pm, vec, pages * sizeof vec[0], where) !=
                          (ssize_t)(pages * sizeof vec[0])) {
            replace_run(e, at, at + pages * UM_PAGE, replaced);
        } else {
            for (size_t i = 0; i < pages;) {
                size_t j = i;
                while (j < pages && !private_copy(vec[j]))
                    j++;
                replace_run(e, at + i * UM_PAGE, at + j * UM_PAGE, replaced);
                i = j + 1;
            }
        }
        at += pages * UM_PAGE;
    }
    if (pm >= 0)
        syscall(SYS_close, pm);
}
