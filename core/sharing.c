/* One file mapped by more than one process under the shim. Each process has its own cache of
 * it, so stores through a shared writable mapping in one would not show in another until
 * written back: such a second process leaves its mapping to the kernel (below). Within one
 * process, every mapping of a file shares its cache domain (domain.h). */
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "log.h"
#include "mapping.h"
#include "runtime.h"

static bool writable_shared(int prot, int flags)
{
    return (prot & PROT_WRITE) && (flags & MAP_TYPE) != MAP_PRIVATE;
}

/* Other processes: each managed mapping holds an open-file-description lock on one byte far
 * past any file's end (an OFD lock: held by our own descriptor, invisible to the program's
 * locks, which are on other bytes): a shared lock for read-only and private mappings, an
 * exclusive one for shared writable mappings, whose stores other processes would not see until
 * written back. A process that cannot get its lock leaves the mapping to the kernel. */
#define PRESENCE_BYTE ((off_t)1 << 62)

bool um_claim_presence(int fd, int prot, int flags, const char *path)
{
    struct flock fl = {
        .l_type = writable_shared(prot, flags) ? F_WRLCK : F_RDLCK,
        .l_whence = SEEK_SET,
        .l_start = PRESENCE_BYTE,
        .l_len = 1,
    };
    if (fcntl(fd, F_OFD_SETLK, &fl) == 0 || (errno != EAGAIN && errno != EACCES))
        return true; /* file systems without locks: nothing to learn */
    um_warn_once("%s is managed by another process in a way that cannot stay coherent with "
                 "this mapping: it is served by the kernel",
                 path);
    return false;
}
