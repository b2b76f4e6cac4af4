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
/* A copy of one of ours at another high number (close-on-exec), remembered; -1 with errno if
 * none can be had. */
int um_fd_copy(int fd);
/* Close a descriptor of ours and forget it. */
void um_fd_close(int fd);
/* A descriptor of one of the program's files (not a memfd, nor a file of the core's own):
 * remembered where open() put it. Moving it high (dup, then close) is not possible: closing any
 * descriptor of a file drops every POSIX record lock the process holds on it (fcntl(2)), such
 * as sqlite's lock on its database -- a program that maps such a file would lose its locks. */
int um_fd_adopt_file(int fd);
/* Close such a descriptor, unless the program still has the file open (then it may hold
 * locks on it, which the close would drop): it is then kept, still the core's, until exit. */
void um_fd_close_file(int fd);
bool um_fd_owned(int fd);
/* Whether the core may take another descriptor that is only an optimisation (the O_DIRECT one
 * of a mapping): while it holds less than an eighth of RLIMIT_NOFILE, so that programs keep the
 * descriptors they count on. */
bool um_fd_room_for_extra(void);
/* Whether the core may set up one more domain (its descriptors): while it would hold at most a
 * quarter of RLIMIT_NOFILE. Beyond, new files go to the kernel's mmap, which holds none. */
bool um_fd_room_for_domain(void);
/* Before the program's dup2()/dup3() onto fd, one of ours: move it to another number, each
 * holder of it told (the registry write-locked meanwhile), and close fd. 0, or -1 with errno
 * (then fd is unchanged). Defined in vacate.c. */
int um_fd_vacate(int fd);

#endif
