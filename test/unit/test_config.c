/* Parsing of UFFDMAP_* variables: values, defaults, and what a bad value does. */
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmocka_all.h"
#include "core/config.h"
#include "policies/policy.h"
#include "policies/readahead.h"

static int parse(struct um_config *cfg, const char *a, const char *b, const char *c)
{
    char *env[] = {(char *)a, (char *)b, (char *)c, NULL};
    return um_config_parse(cfg, env);
}

static void sizes(void **state)
{
    (void)state;
    size_t n;
    assert_int_equal(um_parse_size("4096", &n), 0);
    assert_int_equal(n, 4096);
    assert_int_equal(um_parse_size("64K", &n), 0);
    assert_int_equal(n, 64 << 10);
    assert_int_equal(um_parse_size("256m", &n), 0);
    assert_int_equal(n, 256UL << 20);
    assert_int_equal(um_parse_size("2GiB", &n), 0);
    assert_int_equal(n, 2UL << 30);
    assert_int_equal(um_parse_size("1TB", &n), 0);
    assert_int_equal(n, 1UL << 40);
    assert_int_equal(um_parse_size("", &n), -1);
    assert_int_equal(um_parse_size("-1M", &n), -1);
    assert_int_equal(um_parse_size("12Q", &n), -1);
    assert_int_equal(um_parse_size("1M2", &n), -1);
    assert_int_equal(um_parse_size("99999999999999999999", &n), -1);
    assert_int_equal(um_parse_size("17179869184G", &n), -1); /* overflows 64 bits */
}

static void defaults(void **state)
{
    (void)state;
    struct um_config cfg;
    assert_int_equal(parse(&cfg, "HOME=/root", NULL, NULL), 0);
    assert_int_equal(cfg.npaths, 0);
    assert_int_equal(cfg.bufsize, 1UL << 30);
    assert_int_equal(cfg.pagesize, 64 << 10);
    cpu_set_t allowed;
    assert_int_equal(sched_getaffinity(0, sizeof allowed, &allowed), 0);
    assert_int_equal(cfg.fillers, CPU_COUNT(&allowed));
    assert_int_equal(cfg.evictors, 1);
    assert_ptr_equal(cfg.evict, &um_policy_fifo);
    assert_int_equal(cfg.stats, UM_STATS_OFF);
    assert_int_equal(cfg.io, UM_IO_AUTO);
    assert_int_equal(cfg.readahead_max, 4UL << 20);
    assert_string_equal(cfg.group, "default");
    um_config_free(&cfg);
}

static void values(void **state)
{
    (void)state;
    struct um_config cfg;
    assert_int_equal(parse(&cfg, "UFFDMAP_BUFSIZE=256M", "UFFDMAP_PAGESIZE=4K",
                           "UFFDMAP_STATS=1"),
                     0);
    assert_int_equal(cfg.bufsize, 256UL << 20);
    assert_int_equal(cfg.pagesize, 4096);
    assert_int_equal(cfg.stats, UM_STATS_TEXT);
    um_config_free(&cfg);
    assert_int_equal(parse(&cfg, "UFFDMAP_FILLERS=4", "UFFDMAP_EVICTORS=0", "UFFDMAP_EVICT=fifo"),
                     0);
    assert_int_equal(cfg.fillers, 4);
    assert_int_equal(cfg.evictors, 0);
    um_config_free(&cfg);
    assert_int_equal(parse(&cfg, "UFFDMAP_IO=direct", NULL, NULL), 0);
    assert_int_equal(cfg.io, UM_IO_DIRECT);
    um_config_free(&cfg);
    assert_int_equal(parse(&cfg, "UFFDMAP_IO=buffered", NULL, NULL), 0);
    assert_int_equal(cfg.io, UM_IO_BUFFERED);
    um_config_free(&cfg);
    assert_int_equal(parse(&cfg, "UFFDMAP_GROUP=job-7.a_b", NULL, NULL), 0);
    assert_string_equal(cfg.group, "job-7.a_b");
    um_config_free(&cfg);
    assert_int_equal(parse(&cfg, "UFFDMAP_GROUP=none", NULL, NULL), 0);
    assert_string_equal(cfg.group, "");
    um_config_free(&cfg);
}

static void bad_values_disable(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "UFFDMAP_BUFSIZE=lots", "UFFDMAP_BUFSIZE=512K", "UFFDMAP_PAGESIZE=3K",
        "UFFDMAP_PAGESIZE=2K",  "UFFDMAP_FILLERS=0",    "UFFDMAP_FILLERS=many",
        "UFFDMAP_EVICTORS=-1",  "UFFDMAP_EVICT=lru9",   "UFFDMAP_HIGH_WATER=101",
        "UFFDMAP_IO=fast",      "UFFDMAP_GROUP=",       "UFFDMAP_GROUP=../x",
        "UFFDMAP_GROUP=.hidden", "UFFDMAP_GROUP=a/b",
        "UFFDMAP_GROUP=0123456789012345678901234567890123456789012345678901234567890123",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct um_config cfg;
        assert_int_equal(parse(&cfg, "UFFDMAP_PATHS=/x/*", bad[i], NULL), -1);
        um_config_free(&cfg);
    }
}

static void bad_combinations_disable(void **state)
{
    (void)state;
    struct um_config cfg;
    assert_int_equal(parse(&cfg, "UFFDMAP_HIGH_WATER=50", "UFFDMAP_LOW_WATER=60", NULL), -1);
    um_config_free(&cfg);
    /* 1 MiB cannot hold a 1 MiB block for each of two fillers plus room to evict. */
    assert_int_equal(parse(&cfg, "UFFDMAP_BUFSIZE=1M", "UFFDMAP_PAGESIZE=1M", NULL), -1);
    um_config_free(&cfg);
}

static void bad_cosmetic_keeps_default(void **state)
{
    (void)state;
    struct um_config cfg;
    assert_int_equal(parse(&cfg, "UFFDMAP_STATS=yes please", "UFFDMAP_LOG=loud", NULL), 0);
    assert_int_equal(cfg.stats, UM_STATS_OFF);
    assert_int_equal(cfg.log_level, UM_LOG_WARN);
    um_config_free(&cfg);
}

static void stats_destinations(void **state)
{
    (void)state;
    struct um_config cfg;
    assert_int_equal(parse(&cfg, "UFFDMAP_STATS=json", NULL, NULL), 0);
    assert_int_equal(cfg.stats, UM_STATS_JSON);
    um_config_free(&cfg);
    assert_int_equal(parse(&cfg, "UFFDMAP_STATS=/tmp/s-%p.json", NULL, NULL), 0);
    assert_int_equal(cfg.stats, UM_STATS_FILE);
    assert_string_equal(cfg.stats_path, "/tmp/s-%p.json");
    um_config_free(&cfg);
    assert_int_equal(parse(&cfg, "UFFDMAP_STATS=relative.json", NULL, NULL), 0);
    assert_int_equal(cfg.stats, UM_STATS_OFF); /* reported, default kept */
    um_config_free(&cfg);
}

static void path_rules(void **state)
{
    (void)state;
    struct um_config cfg;
    assert_int_equal(parse(&cfg, "UFFDMAP_PATHS=/d/*.idx{pagesize=4K,readahead=none}:/d/*.bin",
                           "UFFDMAP_PAGESIZE=64K", NULL),
                     0);
    const struct um_path_rule *idx = um_config_match(&cfg, "/d/a.idx");
    const struct um_path_rule *bin = um_config_match(&cfg, "/d/a.bin");
    assert_non_null(idx);
    assert_non_null(bin);
    assert_null(um_config_match(&cfg, "/d/a.txt"));
    assert_int_equal(um_config_pagesize(&cfg, idx), 4096);
    assert_int_equal(um_config_readahead(&cfg, idx), UM_RA_NONE);
    assert_int_equal(um_config_pagesize(&cfg, bin), 64 << 10);
    assert_int_equal(um_config_readahead(&cfg, bin), UM_RA_ADAPTIVE);
    um_config_free(&cfg);
    assert_int_equal(parse(&cfg, "UFFDMAP_PATHS=/d/*.idx{evict=clock}:/d/*", "UFFDMAP_EVICT=2q",
                           NULL),
                     0);
    assert_ptr_equal(um_config_evict(&cfg, um_config_match(&cfg, "/d/a.idx")), &um_policy_clock);
    assert_ptr_equal(um_config_evict(&cfg, um_config_match(&cfg, "/d/a.dat")), &um_policy_2q);
    um_config_free(&cfg);
    assert_int_equal(parse(&cfg, "UFFDMAP_PATHS=/d/*{pagesize=1M,readahead_max=4M}",
                           "UFFDMAP_BUFSIZE=64M", NULL),
                     0);
    assert_int_equal(um_config_max_pagesize(&cfg), 1 << 20);
    assert_int_equal(um_config_max_run(&cfg), 4 << 20);
    um_config_free(&cfg);
    static const char *const bad[] = {
        "UFFDMAP_PATHS=/d/*{pagesize=3K}", "UFFDMAP_PATHS=/d/*{readahead=some}",
        "UFFDMAP_PATHS=/d/*{colour=blue}", "UFFDMAP_PATHS=/d/*{pagesize=4K",
        "UFFDMAP_PATHS=/d/*{pagesize}", "UFFDMAP_PATHS=/d/*{evict=mru}",
        "UFFDMAP_PATHS=/d/*{share=0}", "UFFDMAP_PATHS=/d/*{share=lots}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(parse(&cfg, bad[i], NULL, NULL), -1);
        um_config_free(&cfg);
    }
    assert_int_equal(parse(&cfg, "UFFDMAP_PATHS=/d/*.log{share=4M}:/d/*", "UFFDMAP_BUFSIZE=64M",
                           NULL),
                     0);
    assert_int_equal(um_config_match(&cfg, "/d/a.log")->share, 4 << 20);
    assert_int_equal(um_config_match(&cfg, "/d/a.dat")->share, 0);
    um_config_free(&cfg);
    /* Shares must fit the budget, and hold a block per filler and two. */
    assert_int_equal(parse(&cfg, "UFFDMAP_PATHS=/a{share=40M}:/b{share=40M}",
                           "UFFDMAP_BUFSIZE=64M", NULL),
                     -1);
    um_config_free(&cfg);
    assert_int_equal(parse(&cfg, "UFFDMAP_PATHS=/a{share=64K}", "UFFDMAP_BUFSIZE=64M", NULL), -1);
    um_config_free(&cfg);
    /* A rule's page size counts in the budget check. */
    assert_int_equal(parse(&cfg, "UFFDMAP_PATHS=/d/*{pagesize=8M}", "UFFDMAP_BUFSIZE=16M", NULL),
                     -1);
    um_config_free(&cfg);
}

static void paths_match(void **state)
{
    (void)state;
    struct um_config cfg;
    assert_int_equal(parse(&cfg, "UFFDMAP_PATHS=/data/*.bin::/srv/db/[ab].idx", NULL, NULL), 0);
    assert_int_equal(cfg.npaths, 2);
    assert_true(um_config_matches(&cfg, "/data/big.bin"));
    assert_false(um_config_matches(&cfg, "/data/sub/big.bin")); /* '*' stops at '/' */
    assert_false(um_config_matches(&cfg, "/data/big.bin.old"));
    assert_true(um_config_matches(&cfg, "/srv/db/a.idx"));
    assert_false(um_config_matches(&cfg, "/srv/db/c.idx"));
    um_config_free(&cfg);
}

static void relative_paths_are_absolute(void **state)
{
    (void)state;
    char cwd[PATH_MAX], real[PATH_MAX], want[PATH_MAX + 16];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_non_null(realpath(cwd, real));
    snprintf(want, sizeof want, "%s/x.bin", real);
    struct um_config cfg;
    assert_int_equal(parse(&cfg, "UFFDMAP_PATHS=x.bin", NULL, NULL), 0);
    assert_string_equal(cfg.paths[0], want);
    assert_true(um_config_matches(&cfg, want));
    um_config_free(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sizes),
        cmocka_unit_test(defaults),
        cmocka_unit_test(values),
        cmocka_unit_test(bad_values_disable),
        cmocka_unit_test(bad_combinations_disable),
        cmocka_unit_test(bad_cosmetic_keeps_default),
        cmocka_unit_test(stats_destinations),
        cmocka_unit_test(path_rules),
        cmocka_unit_test(paths_match),
        cmocka_unit_test(relative_paths_are_absolute),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
