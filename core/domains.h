/* This process's views of cache domains, one per managed file (device and inode), and the copies
 * of the registry's ranges each keeps (domain.h). All with the registry write lock held, except
 * where said. */
#ifndef UM_DOMAINS_H
#define UM_DOMAINS_H

#include <stdint.h>
#include <sys/types.h>

#include "domain.h"

/* This process's view of the file with this identity, or NULL. A registry lock held. */
struct um_view *um_domains_find(dev_t dev, ino_t ino);
void um_domains_add(struct um_view *v);
/* A mapping of v's domain is added (use) or gone (unuse; see um_domains_collect()). */
void um_view_use(struct um_view *v);
void um_view_unuse(struct um_view *v);
/* Leave every domain no mapping here uses any more: its stores are written back, and the
 * domain is freed with its blocks once no living member has a view of it. */
void um_domains_collect(void);
/* Rebuild the range lists of the views that [lo, hi) of the registry maps (all of them if more
 * than a few), leaving out [except_lo, except_hi): call before those addresses are unmapped or
 * moved, and again after the registry changed. -1 (ENOMEM, nothing changed) if room for the
 * lists cannot be had. */
int um_domains_refresh(uintptr_t lo, uintptr_t hi, uintptr_t except_lo, uintptr_t except_hi);
/* Write back every domain's stores (msync of everything; at exit). The first errno, or 0. */
int um_domains_flush_all(void);

/* fork(): before it, make member `child` a member of every domain here; in the child, become
 * that member's views (the child's copies of this process's). */
void um_domains_fork_prepare(unsigned child);
void um_domains_fork_child(unsigned child);
/* In a child that cannot be a member: close its descriptors of the domains (unless it shares
 * the parent's descriptor table) and forget them, writing nothing back (the blocks are the
 * parent's). */
void um_domains_abandon(unsigned child, bool close_fds);
/* Leaving the process image: drop the presence locks (sharing.c) of the views no other living
 * member shares. */
void um_domains_release_presence(void);
/* The first view here for which marked() is true, or NULL. Registry lock held. */
struct um_view *um_domains_marked_kernel(bool (*marked)(const struct um_view *v));
/* Descriptor `from`, held by views, is now `to` (vacate.c). */
void um_domains_renumber(int from, int to);

#endif
