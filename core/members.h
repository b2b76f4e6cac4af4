/* The processes sharing one cache: a parent and the fork() children that inherited it.
 *
 * Each member has a number (its bit in a domain's `members` and a frame's `writers`) and a
 * mailbox in shared memory. A page-table entry belongs to one process, so before a member
 * writes a block back, every other member that let stores through to it (its bit in the frame's
 * `writers`) must write-protect it again: the writer posts the request in that member's mailbox
 * and that member's agent thread does it and answers. A member that is gone has no page tables
 * left to protect; one that does not answer in time (stopped) makes the write-back fail with
 * EAGAIN, and the caller picks another victim or says why it gave up. */
#ifndef UM_MEMBERS_H
#define UM_MEMBERS_H

#include <stdbool.h>
#include <stdint.h>

struct um_domain;

/* Set up the table with this process as its first member. 0, or -1. */
int um_members_init(void);
/* The table, for a group's root (group.h). */
void *um_members_table(void);
/* Join the table of a group as a new member: a number never used, or that of a member gone
 * (cleared first). The number, or -1 if the table is full. */
struct um_group;
int um_members_join(void *shared_table, struct um_group *g);
/* Whether any member of that table but `except` (-1: none) is alive (or joining); the same,
 * not counting those that are leaving (exiting). */
bool um_members_any_alive(void *shared_table, int except);
bool um_members_any_staying(void *shared_table, int except);
/* This process is exiting: members that leave after it need not wait for it to be gone. */
void um_members_leaving(void);
/* Before fork(): a member number for the child, never used before, or -1 if none is left. */
int um_members_reserve(void);
/* In the child: become member `slot`. */
void um_members_adopt(unsigned slot);
/* A reservation the child never took (fork() failed, or the child left). */
void um_members_release(unsigned slot);
/* This process as a lock holder (shm.h): its member number and that number's generation, so
 * that a lock left by an earlier holder of the number reads as held by a process gone. */
uint32_t um_member_token(void);
bool um_member_token_alive(uint32_t token);
/* Whether member i may still have page tables: its image runs (not exited, killed, or
 * replaced by exec). */
bool um_member_alive(unsigned i);

/* Have every member in `writers` other than this one write-protect file bytes [off, off + len)
 * of d. `patient`: wait for a stopped member up to 10 s (msync, exit), else 100 ms (eviction).
 * 0, EAGAIN if a member did not answer, or EIO if one could not protect its pages. */
int um_members_protect(struct um_domain *d, uint64_t writers, uint64_t off, uint64_t len,
                       bool patient);

/* The agent thread's body: marks this member alive, then answers its requests. A new member
 * waits for it before it may be seen as alive. */
void um_members_wait_agent(void);
void *um_members_agent(void *arg);

#endif
