/* A page cache shared by unrelated processes: the group.
 *
 * Processes of one user that name the same group (UFFDMAP_GROUP, "default" unless set) share
 * one cache: one domain per file, one budget, one policy, as fork() children share their
 * parent's (members.h). Its shared memory is a file in a private directory,
 * /dev/shm/uffdmap-UID (mode 0700, owned by the user, never followed through a link), mapped
 * at the same address in every member, so that the pointers in it mean the same everywhere;
 * each domain's pages are a file there too (in place of a memfd), so that they outlive a
 * member killed with SIGKILL: its dirty blocks are written back by a surviving member, or, when
 * none survives, by the next process that attaches to the group (or `uffdmap --writeback`).
 *
 * Attaching, joining as a member and leaving are serialised by an flock() on the region's
 * file; the last member to leave removes the group's files. The domain list is under the
 * group's lock (a robust mutex). Lock order: registry -> group lock -> shard locks. */
#ifndef UM_GROUP_H
#define UM_GROUP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "shm.h"

struct um_cache;
struct um_domain;

/* The group's shared state: the region's root. */
struct um_group {
    struct um_shm_mutex lock;  /* the domain list */
    struct um_domain *domains; /* linked through um_domain.next */
    uint64_t next_id;          /* names the domains' page files */
    uint64_t generation;       /* distinguishes this region's page files from older ones' */
    struct um_cache *cache;
    void *members;             /* members.c's table */
    size_t budget;             /* the first member's UFFDMAP_BUFSIZE */
};

/* Attach to group `name` (creating it, or writing back and starting afresh a group whose
 * members all died), then become a member (members.h). On success the region is this
 * process's shared memory (shm.h) and *fresh says whether the caller must set the group up
 * (g->cache, g->members). -1 (said why) if the group cannot be had: the cache is then this
 * process's own. */
struct um_group *um_group_join(const char *name, bool *fresh);
/* The group this process belongs to, or NULL. */
struct um_group *um_group_current(void);
/* Announce that the member set up by um_group_join() is ready (ends the join's lock). */
void um_group_joined(void);

void um_group_lock(struct um_group *g);
void um_group_unlock(struct um_group *g);
/* With the group lock held: the domain of that file, or NULL. */
struct um_domain *um_group_find(struct um_group *g, dev_t dev, ino_t ino);
/* With the group lock held: add d (giving it an id), or take it out. */
void um_group_add(struct um_group *g, struct um_domain *d);
void um_group_remove(struct um_group *g, struct um_domain *d);
/* The page file of domain d, created (create) or opened; -1 with errno. */
int um_group_open_pages(const struct um_domain *d, bool create);
/* The same, a descriptor of the caller's (not the core's own: close it by system call). */
int um_group_pages_fd(const struct um_domain *d);
/* Remove d's page file (its last member let go of it). */
void um_group_unlink_pages(const struct um_domain *d);

/* Descriptor `from` of the group's is now `to` (vacate.c). */
void um_group_renumber(int from, int to);

/* At exit: leave the group; the last member removes its files, after writing back what dead
 * members left dirty. */
void um_group_leave(void);

/* Write back, for `uffdmap --writeback`, the dirty blocks of group `name` if no member of it
 * is alive, and remove its files. 0 when everything reached the files (or there was nothing),
 * 1 if some could not (said on stderr), 2 if members are alive. */
int um_group_write_back_orphans(const char *name);

#endif
