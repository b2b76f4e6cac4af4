/* Helpers shared by the end-to-end test programs. Each program tests one behaviour, runs under
 * the preload (meson sets LD_PRELOAD and UFFDMAP_*), checks that its mappings really are served
 * by the shim, and exits non-zero with a message on the first wrong result. */
#ifndef E2E_COMMON_H
#define E2E_COMMON_H

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PAGE 4096UL
#define MiB (1UL << 20)

#define CHECK(cond, ...)                                                   \
    do {                                                                   \
        if (!(cond)) {                                                     \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                  \
            fprintf(stderr, "\n");                                         \
            exit(1);                                                       \
        }                                                                  \
    } while (0)

static inline uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* The byte every test file holds at offset off: distinct per page and per position. */
static inline uint8_t pattern_at(uint64_t off)
{
    return (uint8_t)(mix64(off >> 3) >> ((off & 7) * 8));
}

static inline void pattern_fill(uint8_t *buf, uint64_t off, size_t len)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = pattern_at(off + i);
}

/* dir/name, created afresh with `size` bytes of the pattern. */
static inline char *make_file(const char *dir, const char *name, uint64_t size)
{
    char *path = malloc(strlen(dir) + strlen(name) + 2);
    sprintf(path, "%s/%s", dir, name);
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
    CHECK(fd >= 0, "open %s: %s", path, strerror(errno));
    static uint8_t buf[1 << 20];
    for (uint64_t off = 0; off < size;) {
        size_t n = size - off < sizeof buf ? (size_t)(size - off) : sizeof buf;
        pattern_fill(buf, off, n);
        CHECK(write(fd, buf, n) == (ssize_t)n, "write %s", path);
        off += n;
    }
    close(fd);
    return path;
}

static inline int open_ro(const char *path)
{
    int fd = open(path, O_RDONLY);
    CHECK(fd >= 0, "open %s: %s", path, strerror(errno));
    return fd;
}

static inline uint64_t env_size(const char *name, uint64_t fallback)
{
    const char *v = getenv(name);
    if (!v)
        return fallback;
    char *end;
    uint64_t n = strtoull(v, &end, 10);
    switch (*end) {
    case 'K': n <<= 10; break;
    case 'M': n <<= 20; break;
    case 'G': n <<= 30; break;
    default: break;
    }
    return n;
}

/* Peak resident set in bytes (VmHWM). */
static inline uint64_t vm_hwm(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    uint64_t kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %lu kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb << 10;
}

/* The /proc/self/maps line containing addr, or "" if none. */
static inline const char *maps_line(const void *addr)
{
    static char line[4096];
    FILE *f = fopen("/proc/self/maps", "r");
    uintptr_t a = (uintptr_t)addr;
    while (f && fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 && lo <= a && a < hi) {
            fclose(f);
            return line;
        }
    }
    if (f)
        fclose(f);
    line[0] = '\0';
    return line;
}

/* Served by the shim: registered with userfaultfd for missing pages ("um" in the VMA's
 * VmFlags), whatever backs it (anonymous memory, or the shim's memfd, which has an inode); the
 * kernel's own file mappings never are. */
static inline bool is_managed(const void *addr)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    char line[4096];
    uintptr_t a = (uintptr_t)addr;
    bool inside = false, managed = false;
    while (f && fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        char perms[8];
        unsigned long off;
        char dev[16];
        unsigned long ino;
        if (sscanf(line, "%lx-%lx %7s %lx %15s %lu", &lo, &hi, perms, &off, dev, &ino) == 6) {
            inside = lo <= a && a < hi;
        } else if (inside && !strncmp(line, "VmFlags:", 8)) {
            managed = strstr(line, " um") != NULL;
            break;
        }
    }
    if (f)
        fclose(f);
    return managed;
}

static inline void expect_managed(const void *addr)
{
    CHECK(is_managed(addr), "mapping at %p is not served by the shim: %s", addr, maps_line(addr));
}

/* Compare len mapped bytes at file offset off with the file read through pread. */
static inline void expect_file_bytes(int fd, const uint8_t *mapped, uint64_t off, size_t len)
{
    uint8_t buf[PAGE];
    for (size_t done = 0; done < len; done += PAGE) {
        size_t n = len - done < PAGE ? len - done : PAGE;
        CHECK(pread(fd, buf, n, (off_t)(off + done)) == (ssize_t)n, "pread");
        if (memcmp(buf, mapped + done, n)) {
            for (size_t i = 0; i < n; i++)
                CHECK(buf[i] == mapped[done + i], "byte at file offset %lu: mapped %u, file %u",
                      (unsigned long)(off + done + i), mapped[done + i], buf[i]);
        }
    }
}

static inline const char *data_dir(int argc, char **argv)
{
    CHECK(argc >= 2, "usage: %s DATA_DIR", argv[0]);
    mkdir(argv[1], 0755);
    return argv[1];
}

/* A mapping made by the kernel itself (a raw system call the shim never sees): the oracle. */
static inline uint8_t *kernel_map(size_t len, int prot, int flags, int fd)
{
    long p = syscall(SYS_mmap, NULL, len, prot, flags, fd, 0);
    CHECK(p != -1, "kernel mmap: %s", strerror(errno));
    return (uint8_t *)p;
}

/* Read dir/name, a file of `size` bytes (more than the budget), through a mapping: the cache
 * evicts what it can. */
static inline void pressure(const char *dir, const char *name, size_t size)
{
    char *path = make_file(dir, name, size);
    int fd = open_ro(path);
    const volatile uint8_t *q = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
    CHECK(q != MAP_FAILED, "mmap: %s", strerror(errno));
    unsigned sum = 0;
    for (size_t off = 0; off < size; off += PAGE)
        sum += q[off];
    (void)sum;
    munmap((void *)q, size);
    close(fd);
    free(path);
}

/* Whether reading *p raises SIGSEGV (a PROT_NONE range, or no mapping). */
static sigjmp_buf e2e_fault_jump;

static inline void e2e_on_segv(int sig)
{
    (void)sig;
    siglongjmp(e2e_fault_jump, 1);
}

static inline bool read_faults(const volatile uint8_t *p)
{
    struct sigaction sa = {.sa_handler = e2e_on_segv}, old;
    sigaction(SIGSEGV, &sa, &old);
    bool faulted = sigsetjmp(e2e_fault_jump, 1) != 0;
    if (!faulted)
        (void)*p;
    sigaction(SIGSEGV, &old, NULL);
    return faulted;
}

#endif
