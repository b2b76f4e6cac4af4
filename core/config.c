#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../policies/policy.h"
#include "../policies/readahead.h"

#define MAX_THREADS 64

enum verdict { OK, BAD_FATAL, BAD_DEFAULT };

struct var {
    const char *name;
    enum verdict (*parse)(struct um_config *cfg, const char *value);
    const char *accepted;
    enum verdict on_error; /* BAD_FATAL: shim off; BAD_DEFAULT: keep the default */
};

int um_parse_size(const char *text, size_t *out)
{
    if (!text || !isdigit((unsigned char)*text))
        return -1;
    errno = 0;
    char *end;
    unsigned long long n = strtoull(text, &end, 10);
    if (errno)
        return -1;
    unsigned shift = 0;
    switch (toupper((unsigned char)*end)) {
    case 'K': shift = 10; end++; break;
    case 'M': shift = 20; end++; break;
    case 'G': shift = 30; end++; break;
    case 'T': shift = 40; end++; break;
    default: break;
    }
    if (shift && (*end == 'i' || *end == 'I'))
        end++;
    if (*end == 'B' || *end == 'b')
        end++;
    if (*end || (shift && n > (SIZE_MAX >> shift)))
        return -1;
    *out = (size_t)(n << shift);
    return 0;
}

static int parse_uint(const char *text, unsigned lo, unsigned hi, unsigned *out)
{
    if (!text || !isdigit((unsigned char)*text))
        return -1;
    errno = 0;
    char *end;
    unsigned long n = strtoul(text, &end, 10);
    if (errno || *end || n < lo || n > hi)
        return -1;
    *out = (unsigned)n;
    return 0;
}

/* Make a pattern absolute and resolve symbolic links in its literal directory prefix, since
 * mappings are matched by their canonical path (/proc/self/fd/N). */
static char *canonical_pattern(const char *pattern)
{
    char buf[PATH_MAX * 2];
    if (pattern[0] == '/') {
        snprintf(buf, sizeof buf, "%s", pattern);
    } else {
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof cwd))
            return strdup(pattern);
        snprintf(buf, sizeof buf, "%s/%s", cwd, pattern);
    }
    size_t literal = strcspn(buf, "*?[");
    char *slash = NULL;
    for (size_t i = 0; i < literal; i++)
        if (buf[i] == '/')
            slash = buf + i;
    char real[PATH_MAX];
    if (slash && slash != buf) {
        *slash = '\0';
        if (realpath(buf, real)) {
            char out[PATH_MAX * 2];
            snprintf(out, sizeof out, "%s/%s", strcmp(real, "/") ? real : "", slash + 1);
            return strdup(out);
        }
        *slash = '/';
    }
    return strdup(buf);
}

static bool valid_pagesize(size_t n)
{
    return n >= 4096 && n <= (64u << 20) && !(n & (n - 1));
}

/* The index of value among the n names, or -1. */
static int name_index(const char *value, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(value, names[i]))
            return i;
    return -1;
}

static int readahead_mode(const char *value)
{
    static const char *const modes[] = {"none", "fixed", "adaptive"}; /* enum um_ra_mode */
    return name_index(value, modes, 3);
}

/* "{pagesize=64K,readahead=none}" after a pattern: fills rule; -1 on anything unknown. */
static int parse_rule(char *options, struct um_path_rule *rule)
{
    size_t len = strlen(options);
    if (options[0] != '{' || options[len - 1] != '}')
        return -1;
    options[len - 1] = '\0';
    char *save = NULL;
    for (char *opt = strtok_r(options + 1, ",", &save); opt; opt = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(opt, '=');
        if (!eq)
            return -1;
        *eq = '\0';
        const char *value = eq + 1;
        if (!strcmp(opt, "pagesize")) {
            if (um_parse_size(value, &rule->pagesize) || !valid_pagesize(rule->pagesize))
                return -1;
        } else if (!strcmp(opt, "readahead")) {
            if ((rule->readahead = readahead_mode(value)) < 0)
                return -1;
        } else if (!strcmp(opt, "readahead_max")) {
            if (um_parse_size(value, &rule->readahead_max))
                return -1;
        } else if (!strcmp(opt, "evict")) {
            if (!(rule->evict = um_policy_find(value)))
                return -1;
        } else if (!strcmp(opt, "share")) {
            if (um_parse_size(value, &rule->share) || rule->share == 0)
                return -1;
        } else {
            return -1;
        }
    }
    return 0;
}

static enum verdict parse_paths(struct um_config *cfg, const char *value)
{
    char *copy = strdup(value);
    if (!copy)
        return BAD_FATAL;
    size_t n = 1;
    for (const char *p = value; *p; p++)
        n += *p == ':';
    cfg->paths = calloc(n, sizeof *cfg->paths);
    cfg->rules = calloc(n, sizeof *cfg->rules);
    if (!cfg->paths || !cfg->rules) {
        free(copy);
        return BAD_FATAL;
    }
    enum verdict verdict = OK;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ":", &save); tok; tok = strtok_r(NULL, ":", &save)) {
        struct um_path_rule rule = {.pagesize = 0, .readahead = -1, .readahead_max = 0,
                                    .evict = NULL, .share = 0, .slot = 0};
        char *brace = strchr(tok, '{');
        if (brace) {
            if (parse_rule(brace, &rule))
                verdict = BAD_FATAL;
            *brace = '\0';
        }
        char *pattern = canonical_pattern(tok);
        if (pattern) {
            cfg->rules[cfg->npaths] = rule;
            cfg->paths[cfg->npaths++] = pattern;
        }
    }
    free(copy);
    return verdict;
}

static enum verdict parse_bufsize(struct um_config *cfg, const char *value)
{
    size_t n;
    if (um_parse_size(value, &n) || n < (1u << 20))
        return BAD_FATAL;
    cfg->bufsize = n;
    return OK;
}

static enum verdict parse_pagesize(struct um_config *cfg, const char *value)
{
    size_t n;
    if (um_parse_size(value, &n) || !valid_pagesize(n))
        return BAD_FATAL;
    cfg->pagesize = n;
    return OK;
}

static enum verdict parse_fillers(struct um_config *cfg, const char *value)
{
    return parse_uint(value, 1, MAX_THREADS, &cfg->fillers) ? BAD_FATAL : OK;
}

static enum verdict parse_evictors(struct um_config *cfg, const char *value)
{
    return parse_uint(value, 0, MAX_THREADS, &cfg->evictors) ? BAD_FATAL : OK;
}

static enum verdict parse_high(struct um_config *cfg, const char *value)
{
    return parse_uint(value, 1, 100, &cfg->high_water) ? BAD_FATAL : OK;
}

static enum verdict parse_low(struct um_config *cfg, const char *value)
{
    return parse_uint(value, 0, 99, &cfg->low_water) ? BAD_FATAL : OK;
}

static enum verdict parse_evict(struct um_config *cfg, const char *value)
{
    const struct um_policy_ops *ops = um_policy_find(value);
    if (!ops)
        return BAD_FATAL;
    cfg->evict = ops;
    return OK;
}

static enum verdict parse_readahead(struct um_config *cfg, const char *value)
{
    int mode = readahead_mode(value);
    if (mode < 0)
        return BAD_FATAL;
    cfg->readahead = mode;
    return OK;
}

static enum verdict parse_io(struct um_config *cfg, const char *value)
{
    static const char *const names[] = {"auto", "buffered", "direct"}; /* enum um_io_mode */
    int i = name_index(value, names, 3);
    if (i < 0)
        return BAD_FATAL;
    cfg->io = (enum um_io_mode)i;
    return OK;
}

static enum verdict parse_readahead_max(struct um_config *cfg, const char *value)
{
    size_t n;
    if (um_parse_size(value, &n))
        return BAD_FATAL;
    cfg->readahead_max = n;
    return OK;
}

static enum verdict parse_stats(struct um_config *cfg, const char *value)
{
    if (!strcmp(value, "0") || !strcmp(value, ""))
        cfg->stats = UM_STATS_OFF;
    else if (!strcmp(value, "1") || !strcmp(value, "text"))
        cfg->stats = UM_STATS_TEXT;
    else if (!strcmp(value, "json"))
        cfg->stats = UM_STATS_JSON;
    else if (value[0] == '/' && strlen(value) < sizeof cfg->stats_path) {
        cfg->stats = UM_STATS_FILE;
        snprintf(cfg->stats_path, sizeof cfg->stats_path, "%s", value);
    } else
        return BAD_DEFAULT;
    return OK;
}

static enum verdict parse_stats_interval(struct um_config *cfg, const char *value)
{
    return parse_uint(value, 0, 86400, &cfg->stats_interval) ? BAD_DEFAULT : OK;
}

static enum verdict parse_log(struct um_config *cfg, const char *value)
{
    static const char *const names[] = {"quiet", "warn", "debug"}; /* enum um_log_level */
    int i = name_index(value, names, 3);
    if (i < 0)
        return BAD_DEFAULT;
    cfg->log_level = (enum um_log_level)i;
    return OK;
}

/* A group name: letters, digits, '_', '-' and '.', not starting with '.'; "none": no group. */
static enum verdict parse_group(struct um_config *cfg, const char *value)
{
    size_t len = strlen(value);
    if (!strcmp(value, "none")) {
        cfg->group[0] = '\0';
        return OK;
    }
    if (len == 0 || len >= sizeof cfg->group || value[0] == '.')
        return BAD_FATAL;
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)value[i]) && !strchr("_-.", value[i]))
            return BAD_FATAL;
    memcpy(cfg->group, value, len + 1);
    return OK;
}

static const struct var vars[] = {
    {"UFFDMAP_PATHS", parse_paths,
     "colon-separated fnmatch patterns, each optionally followed by "
     "{pagesize=SIZE,readahead=none|fixed|adaptive,readahead_max=SIZE,evict=fifo|clock|2q,"
     "share=SIZE}",
     BAD_FATAL},
    {"UFFDMAP_BUFSIZE", parse_bufsize, "a size of at least 1M, e.g. 256M or 2G", BAD_FATAL},
    {"UFFDMAP_PAGESIZE", parse_pagesize, "a power of two from 4K to 64M, e.g. 4K or 64K", BAD_FATAL},
    {"UFFDMAP_FILLERS", parse_fillers, "a whole number from 1 to 64", BAD_FATAL},
    {"UFFDMAP_EVICTORS", parse_evictors, "a whole number from 0 to 64", BAD_FATAL},
    {"UFFDMAP_HIGH_WATER", parse_high, "a percentage from 1 to 100", BAD_FATAL},
    {"UFFDMAP_LOW_WATER", parse_low, "a percentage from 0 to 99, below UFFDMAP_HIGH_WATER", BAD_FATAL},
    {"UFFDMAP_EVICT", parse_evict, "one of: fifo, clock, 2q", BAD_FATAL},
    {"UFFDMAP_READAHEAD", parse_readahead, "none, fixed or adaptive", BAD_FATAL},
    {"UFFDMAP_READAHEAD_MAX", parse_readahead_max, "a size, e.g. 0, 256K or 2M", BAD_FATAL},
    {"UFFDMAP_IO", parse_io, "auto, buffered or direct", BAD_FATAL},
    {"UFFDMAP_GROUP", parse_group,
     "none, or a name of up to 63 letters, digits, '_', '-' and '.' (not starting with '.')",
     BAD_FATAL},
    {"UFFDMAP_STATS", parse_stats, "0, 1 (or text), json, or an absolute file path for JSON",
     BAD_DEFAULT},
    {"UFFDMAP_STATS_INTERVAL", parse_stats_interval,
     "whole seconds from 0 to 86400 (with UFFDMAP_STATS=/path)", BAD_DEFAULT},
    {"UFFDMAP_LOG", parse_log, "quiet, warn or debug", BAD_DEFAULT},
};
#define NVARS (sizeof vars / sizeof vars[0])

static const char *env_value(char *const *env, const char *name)
{
    size_t len = strlen(name);
    for (; env && *env; env++)
        if (!strncmp(*env, name, len) && (*env)[len] == '=')
            return *env + len + 1;
    return NULL;
}

static unsigned edit_distance(const char *a, size_t la, const char *b)
{
    size_t lb = strlen(b);
    unsigned row[64];
    if (lb >= 64)
        return UINT_MAX;
    for (size_t j = 0; j <= lb; j++)
        row[j] = (unsigned)j;
    for (size_t i = 1; i <= la; i++) {
        unsigned diag = row[0];
        row[0] = (unsigned)i;
        for (size_t j = 1; j <= lb; j++) {
            unsigned up = row[j];
            unsigned cost = a[i - 1] != b[j - 1];
            unsigned best = diag + cost;
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

static void warn_unknown_names(char *const *env)
{
    for (; env && *env; env++) {
        if (strncmp(*env, "UFFDMAP_", 8))
            continue;
        size_t len = strcspn(*env, "=");
        const char *best = NULL;
        unsigned best_d = 4;
        bool known = false;
        for (size_t i = 0; i < NVARS; i++) {
            if (strlen(vars[i].name) == len && !strncmp(*env, vars[i].name, len))
                known = true;
            unsigned d = edit_distance(*env, len, vars[i].name);
            if (d < best_d) {
                best_d = d;
                best = vars[i].name;
            }
        }
        if (known)
            continue;
        if (best)
            um_warn("unknown variable %.*s ignored; did you mean %s?", (int)len, *env, best);
        else
            um_warn("unknown variable %.*s ignored", (int)len, *env);
    }
}

/* One filler per CPU the process may run on (see threads.c for why). */
static unsigned default_fillers(void)
{
    cpu_set_t allowed;
    if (sched_getaffinity(0, sizeof allowed, &allowed))
        return 2;
    int n = CPU_COUNT(&allowed);
    return n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : (unsigned)n;
}

static void set_defaults(struct um_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->bufsize = 1UL << 30;
    cfg->pagesize = 64UL << 10;
    cfg->fillers = default_fillers();
    cfg->evictors = 1;
    /* Evicting down to 90 % leaves a tenth of the budget unused much of the time: on a Zipf
     * workload (BENCHMARKS.md) that costs more hit ratio than the policy's own choices. 95 % to
     * 90 % still leaves three eviction batches (a 64th of the budget each) of headroom before
     * a filler has to evict for itself. */
    cfg->high_water = 95;
    cfg->low_water = 90;
    cfg->evict = um_policy_find("fifo");
    cfg->readahead = UM_RA_ADAPTIVE;
    cfg->readahead_max = 4UL << 20;
    cfg->log_level = UM_LOG_WARN;
    strcpy(cfg->group, "default");
}

static int check_combination(const struct um_config *cfg)
{
    int bad = 0;
    if (cfg->stats_interval && cfg->stats != UM_STATS_FILE)
        um_warn("UFFDMAP_STATS_INTERVAL needs UFFDMAP_STATS=/path: no live statistics");
    if (cfg->low_water >= cfg->high_water) {
        um_error("UFFDMAP_LOW_WATER=%u must be below UFFDMAP_HIGH_WATER=%u; paging stays off",
                 cfg->low_water, cfg->high_water);
        bad = -1;
    }
    /* A share holds at least as much as the budget must (below), and shares fit in the budget. */
    size_t shares = 0;
    unsigned nshares = 0;
    for (size_t i = 0; i < cfg->npaths; i++) {
        const struct um_path_rule *r = &cfg->rules[i];
        if (!r->share)
            continue;
        size_t page = r->pagesize ? r->pagesize : cfg->pagesize;
        if (r->share < page * (cfg->fillers + 2)) {
            um_error("UFFDMAP_PATHS: share=%zu of %s is below %zu bytes (a block per filler and "
                     "two); paging stays off",
                     r->share, cfg->paths[i], page * (cfg->fillers + 2));
            bad = -1;
        }
        shares += r->share;
        nshares++;
    }
    if (shares > cfg->bufsize || nshares > UM_CONFIG_MAX_SHARES) {
        um_error("UFFDMAP_PATHS: %u shares of %zu bytes in all do not fit UFFDMAP_BUFSIZE=%zu "
                 "(at most %d shares); paging stays off",
                 nshares, shares, cfg->bufsize, UM_CONFIG_MAX_SHARES);
        bad = -1;
    }
    /* Every filler may hold one page being filled; the budget must leave room beyond that. */
    size_t least = um_config_max_pagesize(cfg) * (cfg->fillers + 2);
    if (cfg->bufsize < least) {
        um_error("UFFDMAP_BUFSIZE=%zu is too small for page size %zu with %u fillers: "
                 "need at least %zu bytes; paging stays off",
                 cfg->bufsize, um_config_max_pagesize(cfg), cfg->fillers, least);
        bad = -1;
    }
    return bad;
}

int um_config_parse(struct um_config *cfg, char *const *env)
{
    set_defaults(cfg);
    /* UFFDMAP_LOG first so that it governs the notices the others may print. */
    const char *log = env_value(env, "UFFDMAP_LOG");
    if (log && parse_log(cfg, log) == OK)
        um_log_set_level(cfg->log_level);
    int result = 0;
    for (size_t i = 0; i < NVARS; i++) {
        const char *value = env_value(env, vars[i].name);
        if (!value || vars[i].parse(cfg, value) == OK)
            continue;
        if (vars[i].on_error == BAD_FATAL) {
            um_error("%s='%s' is not valid: expected %s; paging stays off", vars[i].name, value,
                     vars[i].accepted);
            result = -1;
        } else {
            um_error("%s='%s' is not valid: expected %s; using the default", vars[i].name, value,
                     vars[i].accepted);
        }
    }
    warn_unknown_names(env);
    if (result == 0)
        result = check_combination(cfg);
    return result;
}

void um_config_free(struct um_config *cfg)
{
    for (size_t i = 0; i < cfg->npaths; i++)
        free(cfg->paths[i]);
    free(cfg->paths);
    free(cfg->rules);
    cfg->paths = NULL;
    cfg->rules = NULL;
    cfg->npaths = 0;
}

const struct um_path_rule *um_config_match(const struct um_config *cfg, const char *path)
{
    for (size_t i = 0; i < cfg->npaths; i++)
        if (fnmatch(cfg->paths[i], path, FNM_PATHNAME) == 0)
            return &cfg->rules[i];
    return NULL;
}

bool um_config_matches(const struct um_config *cfg, const char *path)
{
    return um_config_match(cfg, path) != NULL;
}

size_t um_config_pagesize(const struct um_config *cfg, const struct um_path_rule *rule)
{
    return rule && rule->pagesize ? rule->pagesize : cfg->pagesize;
}

int um_config_readahead(const struct um_config *cfg, const struct um_path_rule *rule)
{
    return rule && rule->readahead >= 0 ? rule->readahead : cfg->readahead;
}

size_t um_config_readahead_max(const struct um_config *cfg, const struct um_path_rule *rule)
{
    return rule && rule->readahead_max ? rule->readahead_max : cfg->readahead_max;
}

const struct um_policy_ops *um_config_evict(const struct um_config *cfg,
                                            const struct um_path_rule *rule)
{
    return rule && rule->evict ? rule->evict : cfg->evict;
}

size_t um_config_max_pagesize(const struct um_config *cfg)
{
    size_t most = cfg->pagesize;
    for (size_t i = 0; i < cfg->npaths; i++)
        if (cfg->rules[i].pagesize > most)
            most = cfg->rules[i].pagesize;
    return most;
}

size_t um_config_max_run(const struct um_config *cfg)
{
    size_t most = cfg->readahead_max;
    for (size_t i = 0; i < cfg->npaths; i++)
        if (cfg->rules[i].readahead_max > most)
            most = cfg->rules[i].readahead_max;
    size_t page = um_config_max_pagesize(cfg);
    return most > page ? (most + 4095) & ~(size_t)4095 : page;
}
