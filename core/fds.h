/* Descriptors the core holds (the userfaultfd, one or two per mapping). Programs that close every
 * descriptor (daemons) must not close these: the shim's close() and close_range() skip them.
 * They are also moved to high numbers, out of the way of programs that expect open() to return
 * the lowest free numbers. */
#ifndef UM_FDS_H
#define UM_FDS_H

#include <stdbool.h>

/* Move fd to a high number (close-on-exec) and remember it; returns the new number, or fd
 * itself if it cannot be moved. */
int um_fd_adopt(int fd);
/* Close a descriptor of ours and forget it. */
void um_fd_close(int fd);
bool um_fd_owned(int fd);
/* Whether the core may take another descriptor that is only an optimisation (the O_DIRECT one
 * of a mapping): while it holds less than an eighth of RLIMIT_NOFILE, so that programs keep the
 * descriptors they count on. */
bool um_fd_room_for_extra(void);

#endif
