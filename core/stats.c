#include "stats.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "os.h"

struct um_stats um_stats;

void um_stat_peak(uint64_t resident)
{
    uint64_t seen = atomic_load_explicit(&um_stats.peak_resident, memory_order_relaxed);
    while (resident > seen &&
           !atomic_compare_exchange_weak_explicit(&um_stats.peak_resident, &seen, resident,
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

static uint64_t get(_Atomic uint64_t *counter)
{
    return atomic_load_explicit(counter, memory_order_relaxed);
}

static pthread_mutex_t files_lock = PTHREAD_MUTEX_INITIALIZER;

struct um_file_stats *um_stats_file(const char *path)
{
    pthread_mutex_lock(&files_lock);
    unsigned n = atomic_load(&um_stats.nfiles), i = 0;
    while (i < n && strcmp(um_stats.files[i].path, path))
        i++;
    if (i == n) {
        i = n < UM_STATS_FILES ? n : UM_STATS_FILES - 1;
        if (n < UM_STATS_FILES) {
            snprintf(um_stats.files[i].path, sizeof um_stats.files[i].path, "%s",
                     n == UM_STATS_FILES - 1 ? "(other files)" : path);
            atomic_store(&um_stats.nfiles, n + 1);
        }
    }
    pthread_mutex_unlock(&files_lock);
    atomic_fetch_add_explicit(&um_stats.files[i].mappings, 1, memory_order_relaxed);
    return &um_stats.files[i];
}

/* A path as a JSON string body: quotes, backslashes and control characters escaped. */
static size_t json_escape(char *out, size_t size, const char *in)
{
    size_t n = 0;
    for (; *in && n + 7 < size; in++) {
        unsigned char c = (unsigned char)*in;
        if (c == '"' || c == '\\')
            n += (size_t)snprintf(out + n, size - n, "\\%c", c);
        else if (c < 0x20)
            n += (size_t)snprintf(out + n, size - n, "\\u%04x", c);
        else
            out[n++] = (char)c;
    }
    out[n < size ? n : size - 1] = '\0';
    return n;
}

static unsigned bucket_of(uint64_t ns)
{
    if (ns < 4)
        return (unsigned)ns;
    unsigned log = 63u - (unsigned)__builtin_clzll(ns);
    unsigned quarter = (unsigned)(ns >> (log - 2)) & 3u;
    unsigned b = log * 4 + quarter;
    return b < UM_LATENCY_BUCKETS ? b : UM_LATENCY_BUCKETS - 1;
}

static uint64_t bucket_floor(unsigned b)
{
    if (b < 4)
        return b;
    return (uint64_t)(4 + b % 4) << (b / 4 - 2);
}

void um_stat_latency(uint64_t ns)
{
    atomic_fetch_add_explicit(&um_stats.latency[bucket_of(ns)], 1, memory_order_relaxed);
    uint64_t seen = atomic_load_explicit(&um_stats.latency_max_ns, memory_order_relaxed);
    while (ns > seen &&
           !atomic_compare_exchange_weak_explicit(&um_stats.latency_max_ns, &seen, ns,
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

/* The lower bound of the bucket holding the given fraction of fault services, in µs. */
static double percentile_us(double fraction)
{
    uint64_t total = 0;
    for (unsigned b = 0; b < UM_LATENCY_BUCKETS; b++)
        total += get(&um_stats.latency[b]);
    if (!total)
        return 0;
    uint64_t want = (uint64_t)((double)total * fraction), seen = 0;
    for (unsigned b = 0; b < UM_LATENCY_BUCKETS; b++) {
        seen += get(&um_stats.latency[b]);
        if (seen > want)
            return (double)bucket_floor(b) / 1000.0;
    }
    return (double)get(&um_stats.latency_max_ns) / 1000.0;
}

static const struct {
    const char *name;
    _Atomic uint64_t *value;
} counters[] = {
    {"mappings", &um_stats.mappings},           {"passed", &um_stats.passed},
    {"faults", &um_stats.faults},               {"fills", &um_stats.fills},
    {"readahead_fills", &um_stats.readahead_fills},
    {"readahead_used", &um_stats.readahead_used},
    {"readahead_async", &um_stats.readahead_async},
    {"pages_filled", &um_stats.pages_filled},   {"bytes_read", &um_stats.bytes_read},
    {"evictions", &um_stats.evictions},         {"soft_evictions", &um_stats.soft_evictions},
    {"minor_faults", &um_stats.minor_faults},
    {"wp_faults", &um_stats.wp_faults},         {"dirtied_pages", &um_stats.dirtied_pages},
    {"writeback_bytes", &um_stats.writeback_bytes},
    {"peak_resident", &um_stats.peak_resident},
};

static size_t format(char *out, size_t size, bool json)
{
    size_t n = 0;
#define PUT(...) n += (size_t)snprintf(out + n, n < size ? size - n : 0, __VA_ARGS__)
    if (json)
        PUT("{\"pid\":%d,\"prog\":\"%s\"", (int)getpid(), program_invocation_short_name);
    else
        PUT("uffdmap: stats: pid=%d prog=%s", (int)getpid(), program_invocation_short_name);
    for (size_t i = 0; i < sizeof counters / sizeof counters[0]; i++)
        PUT(json ? ",\"%s\":%llu" : " %s=%llu", counters[i].name,
            (unsigned long long)get(counters[i].value));
    double p50 = percentile_us(0.5), p90 = percentile_us(0.9), p99 = percentile_us(0.99);
    double max = (double)get(&um_stats.latency_max_ns) / 1000.0;
    if (json) {
        PUT(",\"fault_us\":{\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,\"max\":%.1f},\"files\":[",
            p50, p90, p99, max);
        unsigned nfiles = atomic_load(&um_stats.nfiles);
        for (unsigned i = 0; i < nfiles; i++) {
            struct um_file_stats *f = &um_stats.files[i];
            char path[400];
            json_escape(path, sizeof path, f->path);
            PUT("%s{\"path\":\"%s\",\"mappings\":%llu,\"faults\":%llu,\"fills\":%llu,"
                "\"bytes_read\":%llu,\"evictions\":%llu}",
                i ? "," : "", path, (unsigned long long)get(&f->mappings),
                (unsigned long long)get(&f->faults), (unsigned long long)get(&f->fills),
                (unsigned long long)get(&f->bytes_read), (unsigned long long)get(&f->evictions));
        }
        PUT("]}\n");
    }
    else
        PUT(" fault_us_p50=%.1f fault_us_p90=%.1f fault_us_p99=%.1f fault_us_max=%.1f\n", p50,
            p90, p99, max);
#undef PUT
    return n < size ? n : size - 1;
}

static bool worth_printing(void)
{
    /* Wrappers and shells started under the preload map nothing: stay quiet for them. */
    return get(&um_stats.mappings) + get(&um_stats.passed) != 0;
}

void um_stats_print(int fd, bool json)
{
    if (!worth_printing())
        return;
    char text[16384];
    size_t n = format(text, sizeof text, json);
    ssize_t ignored = um_os_write(fd, text, n);
    (void)ignored;
}

void um_stats_write_file(const char *pattern)
{
    if (!worth_printing())
        return;
    char path[512];
    size_t n = 0;
    for (const char *c = pattern; *c && n < sizeof path - 24; c++) {
        if (c[0] == '%' && c[1] == 'p') {
            n += (size_t)snprintf(path + n, sizeof path - n, "%d", (int)getpid());
            c++;
        } else {
            path[n++] = *c;
        }
    }
    path[n] = '\0';
    int fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
        um_error("UFFDMAP_STATS: not writing %s: %s", path,
                 fd < 0 ? strerror(errno) : "not a regular file of this user");
        if (fd >= 0)
            close(fd);
        return;
    }
    char text[16384];
    size_t len = format(text, sizeof text, true);
    if (syscall(SYS_ftruncate, fd, 0) || um_os_write(fd, text, len) != (ssize_t)len)
        um_error("UFFDMAP_STATS: writing %s failed: %s", path, strerror(errno));
    close(fd);
}
