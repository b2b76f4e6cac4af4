#include "members.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <unistd.h>

#include "cache.h"
#include "domain.h"
#include "group.h"
#include "log.h"
#include "os.h"
#include "runtime.h"
#include "shm.h"

#define RESERVED (-1)
#define RELEASED (-2) /* reserved for a child that never took it */

struct um_member {
    _Atomic int pid;          /* 0: never used; RESERVED: for a child being forked */
    /* Held by the member's agent thread for the life of the member's image: the kernel
     * releases a robust mutex whose holder exits, dies or exec()s, so a member that is gone
     * in any of these ways is seen at once (its pid may live on, or be a zombie). */
    pthread_mutex_t alive;
    _Atomic uint32_t holding; /* the agent holds `alive` (a futex word the joiner waits on) */
    _Atomic uint32_t leaving; /* its process is exiting: it will not use the group's files */
    /* Bumped each time the number serves a new process: a lock taken by a process that held
     * the number before is told from one taken by its present holder (um_member_token()). */
    _Atomic uint32_t generation;
    struct um_shm_mutex lock; /* one request at a time */
    _Atomic uint32_t req, ack; /* request numbers: posted, answered */
    /* The request: read by the agent after it sees `req` move, and again after it answered,
     * so that a request overwritten meanwhile (its poster gave up waiting) is answered too. */
    struct um_domain *_Atomic dom;
    _Atomic uint64_t off, len;
    _Atomic uint32_t refused; /* the request answered last could not be done */
};

static struct um_member *table;

/* `alive` is a robust process-shared pthread mutex: the kernel itself releases it when its
 * holder (the agent thread, which takes no other lock of the program's) exits. */
static void init_alive(pthread_mutex_t *m)
{
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_init(m, &attr);
    pthread_mutexattr_destroy(&attr);
}

int um_members_init(void)
{
    table = um_shm_alloc(UM_MAX_MEMBERS * sizeof *table);
    if (!table)
        return -1;
    for (unsigned i = 0; i < UM_MAX_MEMBERS; i++) {
        um_shm_mutex_init(&table[i].lock);
        init_alive(&table[i].alive);
    }
    atomic_store(&table[0].pid, getpid());
    um_domain_set_me(0);
    return 0;
}

/* Whether the robust mutex m is held by a thread that lives, read from its futex word: the
 * holder's thread id, which the kernel replaces by FUTEX_OWNER_DIED when that thread is gone.
 * Read, not trylock()ed: a lock taken, even for a moment, joins the caller's robust list, and
 * glibc then writes into the mutex before it on that list, which may be a program's mutex in
 * a page the caller's own fault is waiting for. (glibc keeps the futex word first in
 * pthread_mutex_t.) */
static bool held(pthread_mutex_t *m)
{
    uint32_t word = atomic_load((_Atomic uint32_t *)(void *)&m->__data.__lock);
    return (word & FUTEX_TID_MASK) && !(word & FUTEX_OWNER_DIED);
}

static bool alive_in(struct um_member *t, unsigned i)
{
    int pid = atomic_load(&t[i].pid);
    if (pid == RESERVED)
        return true;
    if (pid <= 0)
        return false;
    /* Joined, its agent not running yet: alive while its process is. */
    if (!atomic_load(&t[i].holding))
        return kill(pid, 0) == 0 || errno == EPERM;
    return held(&t[i].alive);
}

bool um_member_alive(unsigned i)
{
    if (!table)
        return true; /* one process, not set up yet (unit tests): this one */
    return alive_in(table, i);
}

static bool any_alive(struct um_member *t, int except, bool count_leaving)
{
    for (unsigned i = 0; i < UM_MAX_MEMBERS; i++)
        if ((int)i != except && (count_leaving || !atomic_load(&t[i].leaving)) && alive_in(t, i))
            return true;
    return false;
}

bool um_members_any_alive(void *shared_table, int except)
{
    return any_alive(shared_table, except, true);
}

bool um_members_any_staying(void *shared_table, int except)
{
    return any_alive(shared_table, except, false);
}

void um_members_leaving(void)
{
    if (table)
        atomic_store(&table[um_domain_me()].leaving, 1);
}

void *um_members_table(void) { return table; }

#define GENERATIONS (UINT32_MAX / 2 / UM_MAX_MEMBERS - 1) /* tokens stay below bit 31 */

uint32_t um_member_token(void)
{
    unsigned me = um_domain_me();
    uint32_t gen = table ? atomic_load(&table[me].generation) % GENERATIONS : 0;
    return 1 + me + UM_MAX_MEMBERS * gen;
}

bool um_member_token_alive(uint32_t token)
{
    unsigned member = (token - 1) % UM_MAX_MEMBERS;
    uint32_t gen = (token - 1) / UM_MAX_MEMBERS;
    if (!table)
        return true;
    return atomic_load(&table[member].generation) % GENERATIONS == gen && um_member_alive(member);
}

/* Member i is gone: before its number serves again, nothing may name it any more. Its
 * domains' views were its own memory; its claims on frames are taken over. Group lock order:
 * taken here, then shard locks. */
static void reclaim(unsigned i, struct um_group *g)
{
    /* Locks it held are taken over by whoever locks them next, while its number still reads
     * as gone: each is locked once here, before the number serves again. */
    um_group_lock(g);
    for (struct um_domain *d = g->domains; d; d = d->next) {
        atomic_fetch_and(&d->members, ~(1ULL << i));
        d->views[i] = NULL;
        um_shm_lock(&d->size_lock);
        um_shm_unlock(&d->size_lock);
    }
    um_group_unlock(g);
    for (unsigned j = 0; j < UM_MAX_MEMBERS; j++) {
        um_shm_lock(&table[j].lock);
        um_shm_unlock(&table[j].lock);
    }
    um_shm_settle();
    if (g->cache)
        um_cache_forget_member(g->cache, i);
}

int um_members_join(void *shared_table, struct um_group *g)
{
    table = shared_table;
    /* Joiners are one at a time (group.c); fork() takes only numbers never used. */
    for (unsigned i = 0; i < UM_MAX_MEMBERS; i++) {
        int pid = atomic_load(&table[i].pid);
        if (pid == RESERVED || alive_in(table, i))
            continue;
        if (!atomic_compare_exchange_strong(&table[i].pid, &pid, RESERVED))
            continue;
        /* Under its new generation from here on: locks its last holder left read as held by
         * a process that is gone, and are taken over (reclaim()). */
        atomic_fetch_add(&table[i].generation, 1);
        um_domain_set_me(i);
        if (pid != 0)
            reclaim(i, g);
        atomic_store(&table[i].holding, 0);
        um_members_adopt(i);
        return (int)i;
    }
    return -1;
}

int um_members_reserve(void)
{
    /* Numbers are never reused: frames and domains may still name a member that is gone
     * (its claims are taken over when met), and a newcomer must not inherit them. */
    for (unsigned i = 0; i < UM_MAX_MEMBERS; i++) {
        int never_used = 0;
        if (atomic_compare_exchange_strong(&table[i].pid, &never_used, RESERVED))
            return (int)i;
    }
    return -1;
}

void um_members_adopt(unsigned slot)
{
    atomic_store(&table[slot].holding, 0);
    atomic_store(&table[slot].leaving, 0);
    atomic_store(&table[slot].req, 0);
    atomic_store(&table[slot].ack, 0);
    atomic_store(&table[slot].pid, getpid());
    um_domain_set_me(slot);
}

void um_members_release(unsigned slot)
{
    /* Not reused either (a failed fork() cannot be told from the parent's side): the slot
     * stays with a pid that is not a member, whose `alive` no one holds. */
    int reserved = RESERVED;
    atomic_compare_exchange_strong(&table[slot].pid, &reserved, RELEASED);
}


/* Post a request to member i and wait for its answer: 0, EIO if it could not protect the
 * range, or EAGAIN after `wait_ms`. */
static int ask(unsigned i, struct um_domain *d, uint64_t off, uint64_t len, uint64_t wait_ms)
{
    struct um_member *m = &table[i];
    um_shm_lock(&m->lock); /* guards only the request: nothing to repair */
    atomic_store(&m->dom, d);
    atomic_store(&m->off, off);
    atomic_store(&m->len, len);
    uint32_t seq = atomic_fetch_add(&m->req, 1) + 1;
    um_futex_wake(&m->req);
    uint64_t deadline = um_os_now_ms() + wait_ms;
    int rc = 0;
    for (;;) {
        uint32_t ack = atomic_load(&m->ack);
        if ((int32_t)(ack - seq) >= 0) {
            rc = atomic_load(&m->refused) ? EIO : 0; /* written before the ack */
            break;
        }
        if (!um_member_alive(i))
            break;
        if (um_os_now_ms() > deadline) {
            rc = EAGAIN;
            break;
        }
        um_futex_wait(&m->ack, ack);
    }
    um_shm_unlock(&m->lock);
    return rc;
}

/* Whether process pid is stopped (SIGSTOP, or by a debugger): /proc/PID/stat's state. */
static bool process_stopped(int pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    int fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = syscall(SYS_read, fd, buf, sizeof buf - 1);
    syscall(SYS_close, fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    const char *state = strrchr(buf, ')');
    return state && (state[2] == 'T' || state[2] == 't');
}

int um_members_protect(struct um_domain *d, uint64_t writers, uint64_t off, uint64_t len,
                       bool patient)
{
    unsigned me = um_domain_me();
    for (unsigned i = 0; i < UM_MAX_MEMBERS; i++) {
        if (i == me || !(writers >> i & 1) || !um_member_alive(i))
            continue;
        int rc = ask(i, d, off, len, patient ? 10000 : 100);
        if (rc == EIO)
            return EIO; /* said by that member */
        if (rc) {
            /* At eviction another victim is taken: said only of a member that is stopped,
             * not of one merely slow to be scheduled on a busy machine. */
            int pid = atomic_load(&table[i].pid);
            if (patient || process_stopped(pid))
                um_warn_once("process %d shares the page cache but does not answer (stopped?): "
                             "blocks it stored to cannot be written back meanwhile",
                             pid);
            return EAGAIN;
        }
    }
    return 0;
}

/* Write-protect what the request names in this process's ranges: true if done. No registry
 * lock: a view is freed only once no other member is left to ask (domains.c), so waiting on one
 * here could only stall the asker. */
static bool answer(struct um_member *self)
{
    struct um_domain *d = atomic_load(&self->dom);
    struct um_view *v = d ? um_here(d) : NULL;
    if (v && um_view_protect(v, um_rt.uffd, atomic_load(&self->off), atomic_load(&self->len))) {
        um_error("%s: cannot write-protect a block another process writes back (%m); its "
                 "stores stay cached", d->path);
        return false;
    }
    return true;
}

#define AGENT_START_MS 2000

void um_members_wait_agent(void)
{
    struct um_member *self = &table[um_domain_me()];
    uint64_t deadline = um_os_now_ms() + AGENT_START_MS;
    while (!atomic_load(&self->holding) && um_os_now_ms() < deadline)
        um_futex_wait(&self->holding, 0);
}

void *um_members_agent(void *arg)
{
    (void)arg;
    struct um_member *me = &table[um_domain_me()];
    /* Held for good. An earlier holder of this number (a group member that died, whose
     * number was reclaimed) left it owner-dead: it is ours all the same. */
    if (pthread_mutex_lock(&me->alive) == EOWNERDEAD)
        pthread_mutex_consistent(&me->alive);
    atomic_store(&me->holding, 1);
    um_futex_wake(&me->holding);
    for (;;) {
        struct um_member *self = &table[um_domain_me()];
        uint32_t req = atomic_load(&self->req);
        if (req == atomic_load(&self->ack)) {
            um_futex_wait(&self->req, req);
            continue;
        }
        /* The asker must not mark the block clean while stores here could slip past. */
        atomic_store(&self->refused, !answer(self));
        atomic_store(&self->ack, req);
        um_futex_wake(&self->ack);
    }
    return NULL;
}
