#include "domains.h"

#include <errno.h>

#include "group.h"
#include "log.h"
#include "mapping.h"
#include "members.h"
#include "runtime.h"
#include "writeback.h"

static struct um_view *views;

struct um_view *um_domains_find(dev_t dev, ino_t ino)
{
    for (struct um_view *v = views; v; v = v->next)
        if (v->dom->dev == dev && v->dom->ino == ino)
            return v;
    return NULL;
}

void um_domains_add(struct um_view *v)
{
    v->next = views;
    views = v;
}

void um_view_use(struct um_view *v)
{
    v->users++;
    v->lingering = false;
}
void um_view_unuse(struct um_view *v) { v->users--; }

/* Whether members other than this one that are still alive have a view of d; the bits of
 * members that died are cleared on the way. */
static bool others_remain(struct um_domain *d)
{
    uint64_t members = atomic_load(&d->members) & ~(1ULL << um_domain_me());
    for (unsigned i = 0; i < UM_MAX_MEMBERS; i++)
        if ((members >> i & 1) && !um_member_alive(i))
            atomic_fetch_and(&d->members, ~(1ULL << i));
    return (atomic_load(&d->members) & ~(1ULL << um_domain_me())) != 0;
}

/* This process lets go of v's domain: the last member standing writes back and frees it.
 * While other members remain, the view stays (with no mapping): the others may still store to
 * blocks that only a member with the file open for writing can write back, and may ask this
 * one to protect them; it goes once they are gone (a later collection, or exit). False if it
 * stays. */
static bool leave(struct um_view *v)
{
    struct um_domain *d = v->dom;
    /* In a group, under its lock: no process attaches to d while it is judged, or freed. */
    struct um_group *g = um_group_current();
    if (g)
        um_group_lock(g);
    bool stays = others_remain(d);
    if (stays) {
        if (v->writable && !v->lingering)
            um_domain_flush(d, 0, UINT64_MAX, UM_FLUSH_RELEASE);
        v->lingering = true;
    } else {
        um_domain_flush(d, 0, UINT64_MAX, UM_FLUSH_DROP);
        atomic_fetch_and(&d->members, ~(1ULL << um_domain_me()));
        d->views[um_domain_me()] = NULL;
        um_view_free(v);
        um_domain_free(d);
    }
    if (g)
        um_group_unlock(g);
    return !stays;
}

void um_domains_collect(void)
{
    for (struct um_view **at = &views; *at;) {
        struct um_view *v = *at;
        struct um_view *next = v->next;
        if (v->users || !leave(v)) {
            at = &v->next;
            continue;
        }
        *at = next;
    }
}

#define FEW_VIEWS 8

struct touched {
    struct um_view *v[FEW_VIEWS];
    unsigned n;
    bool all;
};

static void note(const struct um_entry *e, uintptr_t lo, uintptr_t hi, void *arg)
{
    (void)lo;
    (void)hi;
    struct touched *t = arg;
    struct um_view *v = um_here(e->map->dom);
    for (unsigned i = 0; i < t->n; i++)
        if (t->v[i] == v)
            return;
    if (t->n < FEW_VIEWS)
        t->v[t->n++] = v;
    else
        t->all = true;
}

static bool wanted(const struct touched *t, const struct um_view *v)
{
    if (t->all)
        return true;
    for (unsigned i = 0; i < t->n; i++)
        if (t->v[i] == v)
            return true;
    return false;
}

static struct um_dom_range range_of(const struct um_entry *e, uintptr_t lo, uintptr_t hi)
{
    const struct um_mapping *m = e->map;
    return (struct um_dom_range){.start = lo, .end = hi, .off = um_entry_off(e, lo),
                                 .shared = m->shared, .tracked = m->shared && m->wp};
}

/* v's ranges: every registry entry of its domain, less [xlo, xhi). Room for one more range
 * than there are entries was reserved: only one entry can reach past both ends of the gap. */
static void rebuild(struct um_view *v, uintptr_t xlo, uintptr_t xhi)
{
    const struct um_registry *r = &um_rt.registry;
    struct um_dom_range *out = um_view_ranges_begin(v);
    size_t n = 0;
    for (size_t i = 0; i < r->count; i++) {
        const struct um_entry *e = &r->entries[i];
        if (e->map->dom != v->dom)
            continue;
        if (xlo >= xhi) {
            out[n++] = range_of(e, e->start, e->end);
            continue;
        }
        if (e->start < xlo)
            out[n++] = range_of(e, e->start, e->end < xlo ? e->end : xlo);
        if (e->end > xhi)
            out[n++] = range_of(e, e->start > xhi ? e->start : xhi, e->end);
    }
    um_view_ranges_end(v, n);
}

int um_domains_refresh(uintptr_t lo, uintptr_t hi, uintptr_t except_lo, uintptr_t except_hi)
{
    struct touched t = {.n = 0};
    um_registry_for_each(&um_rt.registry, lo, hi, note, &t);
    size_t room = um_rt.registry.count + 1;
    for (struct um_view *v = views; v; v = v->next)
        if (wanted(&t, v) && um_view_reserve_ranges(v, room)) {
            errno = ENOMEM;
            return -1;
        }
    for (struct um_view *v = views; v; v = v->next)
        if (wanted(&t, v))
            rebuild(v, except_lo, except_hi);
    return 0;
}

int um_domains_flush_all(void)
{
    int err = 0;
    for (struct um_view *v = views; v; v = v->next) {
        int e = um_domain_flush(v->dom, 0, UINT64_MAX, UM_FLUSH_RELEASE);
        err = err ? err : e;
    }
    return err;
}

void um_domains_fork_prepare(unsigned child)
{
    for (struct um_view *v = views; v; v = v->next)
        atomic_fetch_or(&v->dom->members, 1ULL << child);
}

void um_domains_fork_child(unsigned child)
{
    for (struct um_view *v = views; v; v = v->next) {
        v->dom->views[child] = v;
        pthread_mutex_init(&v->stream_lock, NULL);
        pthread_mutex_init(&v->ranges_lock, NULL);
    }
}

struct um_view *um_domains_marked_kernel(bool (*marked)(const struct um_view *v))
{
    for (struct um_view *v = views; v; v = v->next)
        if (marked(v))
            return v;
    return NULL;
}

void um_domains_release_presence(void)
{
    for (struct um_view *v = views; v; v = v->next)
        if (!others_remain(v->dom))
            um_release_presence(v);
}

static void renumber(int *fd, int from, int to)
{
    if (*fd == from)
        *fd = to;
}

void um_domains_renumber(int from, int to)
{
    for (struct um_view *v = views; v; v = v->next) {
        renumber(&v->memfd, from, to);
        renumber(&v->fd, from, to);
        renumber(&v->direct_fd, from, to);
        renumber(&v->presence_fd, from, to);
        int wb = from;
        atomic_compare_exchange_strong(&v->wb_fd, &wb, to);
    }
}

void um_domains_abandon(unsigned child, bool close_fds)
{
    for (struct um_view *v = views; v; v = v->next) {
        if (child < UM_MAX_MEMBERS) /* UM_MAX_MEMBERS: no number was reserved for it */
            atomic_fetch_and(&v->dom->members, ~(1ULL << child));
        if (close_fds)
            um_view_close(v);
    }
    views = NULL;
}
