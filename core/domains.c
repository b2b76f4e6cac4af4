#include "domains.h"

#include <errno.h>

#include "fds.h"
#include "log.h"
#include "mapping.h"
#include "runtime.h"
#include "writeback.h"

static struct um_domain *domains;

struct um_domain *um_domains_find(dev_t dev, ino_t ino)
{
    for (struct um_domain *d = domains; d; d = d->next)
        if (d->dev == dev && d->ino == ino)
            return d;
    return NULL;
}

void um_domains_add(struct um_domain *d)
{
    d->next = domains;
    domains = d;
}

void um_domain_use(struct um_domain *d) { d->users++; }
void um_domain_unuse(struct um_domain *d) { d->users--; }

void um_domains_collect(void)
{
    for (struct um_domain **at = &domains; *at;) {
        struct um_domain *d = *at;
        if (d->users) {
            at = &d->next;
            continue;
        }
        *at = d->next;
        um_domain_flush(d, 0, UINT64_MAX, UM_FLUSH_DROP);
        um_domain_free(d);
    }
}

#define FEW_DOMAINS 8

struct touched {
    struct um_domain *d[FEW_DOMAINS];
    unsigned n;
    bool all;
};

static void note(const struct um_entry *e, uintptr_t lo, uintptr_t hi, void *arg)
{
    (void)lo;
    (void)hi;
    struct touched *t = arg;
    for (unsigned i = 0; i < t->n; i++)
        if (t->d[i] == e->map->dom)
            return;
    if (t->n < FEW_DOMAINS)
        t->d[t->n++] = e->map->dom;
    else
        t->all = true;
}

static bool wanted(const struct touched *t, const struct um_domain *d)
{
    if (t->all)
        return true;
    for (unsigned i = 0; i < t->n; i++)
        if (t->d[i] == d)
            return true;
    return false;
}

static struct um_dom_range range_of(const struct um_entry *e, uintptr_t lo, uintptr_t hi)
{
    const struct um_mapping *m = e->map;
    return (struct um_dom_range){.start = lo, .end = hi, .off = um_entry_off(e, lo),
                                 .shared = m->shared, .tracked = m->shared && m->wp};
}

/* d's ranges: every registry entry of d, less [xlo, xhi). Room for one more range than there
 * are entries was reserved: only one entry can reach past both ends of [xlo, xhi). */
static void rebuild(struct um_domain *d, uintptr_t xlo, uintptr_t xhi)
{
    const struct um_registry *r = &um_rt.registry;
    struct um_dom_range *out = um_domain_ranges_begin(d);
    size_t n = 0;
    for (size_t i = 0; i < r->count; i++) {
        const struct um_entry *e = &r->entries[i];
        if (e->map->dom != d)
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
    um_domain_ranges_end(d, n);
}

int um_domains_refresh(uintptr_t lo, uintptr_t hi, uintptr_t except_lo, uintptr_t except_hi)
{
    struct touched t = {.n = 0};
    um_registry_for_each(&um_rt.registry, lo, hi, note, &t);
    /* An entry may split in two around [except_lo, except_hi). */
    size_t room = um_rt.registry.count + 1;
    for (struct um_domain *d = domains; d; d = d->next)
        if (wanted(&t, d) && um_domain_reserve_ranges(d, room)) {
            errno = ENOMEM;
            return -1;
        }
    for (struct um_domain *d = domains; d; d = d->next)
        if (wanted(&t, d))
            rebuild(d, except_lo, except_hi);
    return 0;
}

int um_domains_flush_all(void)
{
    int err = 0;
    for (struct um_domain *d = domains; d; d = d->next) {
        int e = um_domain_flush(d, 0, UINT64_MAX, UM_FLUSH_RELEASE);
        err = err ? err : e;
    }
    return err;
}

void um_domains_close_all(void)
{
    for (struct um_domain *d = domains; d; d = d->next) {
        um_fd_close(d->memfd);
        if (d->fd >= 0)
            um_fd_close(d->fd);
        if (d->direct_fd >= 0)
            um_fd_close(d->direct_fd);
    }
    domains = NULL;
}
