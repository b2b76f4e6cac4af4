/* Handing managed ranges to the kernel's own mapping of the file, in place, for calls the shim
 * does not serve itself (mremap) and for files it cannot keep coherent (sharing.c). Stores are
 * written back first; shared ranges are replaced whole; in private ranges the pages the program
 * made its own by storing to them are kept, and the rest is replaced. With the registry write
 * lock held. */
#include <sys/mman.h>

#include "cache.h"
#include "log.h"
#include "mapping.h"
#include "os.h"
#include "runtime.h"
#include "writeback.h"

/* Private pieces: file over every page that is not the program's own. Frames hold file bytes
 * (a private block stored to has no frame), and pages not present hold nothing. */
static void replace_private(struct um_mapping *m, uintptr_t lo, uintptr_t hi)
{
    size_t last = um_mapping_block(m, hi - 1);
    for (size_t k = um_mapping_block(m, lo); k <= last; k++) {
        uint32_t f = um_slot_frame(atomic_load(&m->slots[k]));
        if (f == UM_NO_FRAME)
            continue;
        const struct um_frame *fr = &um_rt.cache.frames[f];
        uintptr_t a = fr->addr > lo ? fr->addr : lo;
        uintptr_t b = fr->addr + fr->len < hi ? fr->addr + fr->len : hi;
        um_mapping_to_kernel(m, a, b);
    }
    um_mapping_to_kernel_where_missing(m, lo, hi);
}

static void replace_piece(struct um_mapping *m, uintptr_t lo, uintptr_t hi, void *arg)
{
    (void)arg;
    um_claim_and_flush(m, lo, hi, UM_FLUSH_KEEP_CLAIMED);
    if (m->shared)
        um_mapping_to_kernel(m, lo, hi);
    else
        replace_private(m, lo, hi);
}

void um_handover_locked(uintptr_t lo, uintptr_t hi)
{
    um_registry_for_each(&um_rt.registry, lo, hi, replace_piece, NULL);
    /* Drops the claimed frames, keeping no pages (they were replaced or are the program's),
     * cuts the range from the registry and wakes stores that waited. */
    um_forget_locked((void *)lo, hi - lo);
}
