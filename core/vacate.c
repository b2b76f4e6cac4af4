/* The program's dup2()/dup3() onto a number the core holds (a program that picks its own
 * numbers, or that closed every descriptor and reuses the numbers: the shim's close() left
 * ours open). The kernel would replace the core's descriptor, and write-back would then go
 * into the program's file, or the userfaultfd would be gone (unfilled pages reading zeros).
 * So the core's descriptor moves to another number first, and every holder of it is told;
 * the number is then free, as it is for the program without the shim.
 *
 * Fills, mappings and fork() hold the registry lock while they use a number, and group
 * write-back the group lock: both are held here. Threads that take neither (the fillers'
 * read of the userfaultfd, an evictor's punch of a memfd) load the number just before the
 * system call; one that loaded it in the instant before the move may still use the old
 * number once. */
#include <errno.h>

#include "domains.h"
#include "fds.h"
#include "group.h"
#include "runtime.h"

int um_fd_vacate(int fd)
{
    um_registry_wrlock(&um_rt.registry);
    struct um_group *g = um_group_current();
    if (g)
        um_group_lock(g);
    int rc = 0;
    if (um_fd_owned(fd)) {
        int moved = um_fd_copy(fd);
        if (moved < 0) {
            rc = -1;
        } else {
            if (um_rt.uffd == fd)
                um_rt.uffd = moved;
            um_domains_renumber(fd, moved);
            um_group_renumber(fd, moved);
            um_fd_close(fd);
        }
    }
    if (g)
        um_group_unlock(g);
    um_registry_unlock(&um_rt.registry);
    return rc;
}
