/* UFFDMAP_* environment variables, parsed once into one struct. */
#ifndef UM_CONFIG_H
#define UM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "log.h"

struct um_policy_ops;

/* UFFDMAP_IO: auto reads what the page cache holds through it and the rest with O_DIRECT
 * (no second copy cached outside the budget); buffered and direct force one way. */
enum um_io_mode { UM_IO_AUTO, UM_IO_BUFFERED, UM_IO_DIRECT };

#define UM_CONFIG_MAX_SHARES 8 /* as the cache's UM_MAX_SHARES */

/* Settings one UFFDMAP_PATHS entry may carry, as
 * PATTERN{pagesize=…,readahead=…,readahead_max=…,evict=…,share=…}; 0, -1 or NULL means the
 * process-wide value. */
struct um_path_rule {
    size_t pagesize;
    int readahead;
    size_t readahead_max;
    const struct um_policy_ops *evict; /* NULL: the process-wide UFFDMAP_EVICT */
    size_t share;   /* bytes of the budget this entry's mappings keep to; 0: none */
    unsigned slot;  /* the cache's policy slot for a share (set up at start) */
};

struct um_config {
    char **paths; /* absolute fnmatch(3) patterns; none = nothing is managed */
    struct um_path_rule *rules; /* one per pattern */
    size_t npaths;
    size_t bufsize;  /* process-wide budget of resident managed bytes */
    size_t pagesize; /* fill granularity, a power of two >= 4 KiB */
    unsigned fillers;
    unsigned evictors;
    unsigned high_water; /* percent of bufsize where background eviction starts */
    unsigned low_water;  /* percent of bufsize where it stops */
    const struct um_policy_ops *evict;
    int readahead;          /* enum um_ra_mode (policies/readahead.h) */
    size_t readahead_max;   /* bytes read ahead of a fault at most */
    enum um_io_mode io;     /* how fills read the file */
    enum { UM_STATS_OFF, UM_STATS_TEXT, UM_STATS_JSON, UM_STATS_FILE } stats;
    char stats_path[256]; /* UM_STATS_FILE: JSON written there at exit ("%p": the pid) */
    unsigned stats_interval; /* seconds between rewrites of that file while running; 0: none */
    enum um_log_level log_level;
    /* Processes of this user with the same group share one cache (group.c); "": none, the
     * cache is the process's and its fork children's. */
    char group[64];
};

/* Fill cfg from env (a NULL-terminated "NAME=value" array, as environ).
 * Returns 0 if paging may run, -1 if a variable that shapes paging is bad: every problem has
 * then been reported on stderr and the shim must stay off. Bad cosmetic variables
 * (UFFDMAP_STATS, UFFDMAP_LOG) are reported and keep their defaults. */
int um_config_parse(struct um_config *cfg, char *const *env);
void um_config_free(struct um_config *cfg);

bool um_config_matches(const struct um_config *cfg, const char *path);
/* The rule of the first pattern path matches, or NULL. */
const struct um_path_rule *um_config_match(const struct um_config *cfg, const char *path);
/* The settings a mapping of path gets: its rule's, or the process-wide ones. */
size_t um_config_pagesize(const struct um_config *cfg, const struct um_path_rule *rule);
int um_config_readahead(const struct um_config *cfg, const struct um_path_rule *rule);
size_t um_config_readahead_max(const struct um_config *cfg, const struct um_path_rule *rule);
const struct um_policy_ops *um_config_evict(const struct um_config *cfg,
                                            const struct um_path_rule *rule);
/* The largest page size and read-ahead any mapping may get (for buffer sizes). */
size_t um_config_max_pagesize(const struct um_config *cfg);
size_t um_config_max_run(const struct um_config *cfg);

/* "123", "64K", "256M", "2G", "1T" (binary units, case-insensitive, optional "B"/"iB"). */
int um_parse_size(const char *text, size_t *out);

#endif
