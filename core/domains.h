/* The process's cache domains, one per managed file (device and inode), and the copies of the
 * registry's ranges each keeps (domain.h). All with the registry write lock held. */
#ifndef UM_DOMAINS_H
#define UM_DOMAINS_H

#include <stdint.h>
#include <sys/types.h>

#include "domain.h"

/* The domain of the file with this identity, or NULL. */
struct um_domain *um_domains_find(dev_t dev, ino_t ino);
void um_domains_add(struct um_domain *d);
/* A mapping of d is added (use) or gone (unuse; d is freed by um_domains_collect()). */
void um_domain_use(struct um_domain *d);
void um_domain_unuse(struct um_domain *d);
/* Write back and free every domain no mapping uses any more. */
void um_domains_collect(void);
/* Rebuild the range lists of the domains that [lo, hi) of the registry maps (all domains if
 * more than a few), leaving out [except_lo, except_hi): call before those addresses are
 * unmapped or moved, and again after the registry changed. -1 (ENOMEM, nothing changed) if room
 * for the lists cannot be had. */
int um_domains_refresh(uintptr_t lo, uintptr_t hi, uintptr_t except_lo, uintptr_t except_hi);
/* Write back every domain's stores (at exit). The first errno, or 0. */
int um_domains_flush_all(void);
/* Close every domain's descriptors and forget them, writing nothing back (a fork() child: the
 * blocks are the parent's). */
void um_domains_close_all(void);

#endif
