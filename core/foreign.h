/* Blocks of a group's domain (group.h) that this process has no view of: the domain of a file
 * only other processes map, or one whose processes all died. They are written back and punched
 * through the domain's page file and the file itself, both opened by name for the moment, so
 * that one budget can be kept across processes that map different files, and stores of a dead
 * process are never dropped. */
#ifndef UM_FOREIGN_H
#define UM_FOREIGN_H

#include <stdbool.h>
#include <stdint.h>

struct um_cache;
struct um_domain;

/* Whether blocks of d can be evicted without a view of it: d belongs to a group. */
bool um_foreign_evictable(const struct um_domain *d);
/* BUSY frame f (claimed by the caller) of such a domain: have its writers protect it, write
 * its dirty chunks to the file, and punch it out of the page file if `punch`. 0 (after a punch
 * the caller frees the frame), or -1: it stays, dirty (a writer did not answer, or the file is
 * out of reach). */
int um_foreign_write_back(struct um_cache *c, uint32_t f, bool punch);

/* Frame f's dirty chunks, copied from descriptor `pages` (the page file) to `file`: 0, or an
 * errno. */
int um_foreign_copy_dirty(const struct um_cache *c, uint32_t f, int pages, int file);
/* d's file opened read-write, if it still is that file (device and inode): -1 otherwise.
 * Close it with um_fd_close_file() (fds.h). */
int um_foreign_open_file(const struct um_domain *d);

#endif
