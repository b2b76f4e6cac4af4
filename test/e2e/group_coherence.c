/* UFFDMAP_GROUP: two unrelated processes of one group see each other's changes to a file at once,
 * as through the kernel's page cache, though the file is twice the budget.
 *
 * A reader maps the file read-only MAP_SHARED, reads all of it, then holds the blocks about to
 * change resident (it reads them last) and tells the writer. The writer maps the file
 * MAP_SHARED read-write and
 *   1. stores at scattered offsets and msync(MS_SYNC)s: the reader sees the new bytes through
 *      its mapping;
 *   2. pwrite()s other scattered offsets: the reader sees them through its mapping;
 *   3. ftruncate()s the file larger (to a size that is not a whole page), stores into the new
 *      tail through a new mapping and pwrite()s its last bytes: the reader maps the file again
 *      and sees the tail (the rest of the last page reads zero), and its first mapping still
 *      agrees.
 * Every check compares the mapping with pread() of the file and with the bytes the writer is
 * known to have written. Run under the preload, both mappings must be served by the shim.
 * The two are this program re-executed with a role argument, joined by two pipes.
 *
 * usage: group_coherence DATA_DIR [LIBUFFDMAP_SO]   (empty LIBUFFDMAP_SO or E2E_NO_PRELOAD=1:
 *        the kernel's mmap, which must pass too) */
#include "group_common.h"

#define TARGETS 16 /* scattered ranges per phase */
#define TAIL (1 * MiB)

struct layout {
    uint64_t size, new_size;
    uint8_t *model; /* new_size bytes: what the file holds after the phase the run is at */
};

struct range {
    uint64_t off, len;
};

/* Phase 1 (stores) and 2 (pwrite): TARGETS ranges each, some across a page or block edge. */
static struct range target(const struct layout *l, int phase, unsigned i)
{
    uint64_t seed = (uint64_t)phase << 20 | i;
    uint64_t page = mix64(seed) % (l->size / PAGE);
    uint64_t off = page * PAGE + (i % 4 == 0 ? PAGE - 7 : mix64(seed + 1000) % PAGE);
    uint64_t len = 1 + mix64(seed + 2000) % 300;
    if (off + len > l->size)
        len = l->size - off;
    return (struct range){off, len};
}

static uint8_t new_byte(int phase, uint64_t off)
{
    return (uint8_t)(pattern_at(off) ^ (phase == 1 ? 0xa5 : phase == 2 ? 0x3c : 0x77));
}

/* The model after `phase` (0: the file as made). */
static void model_apply(struct layout *l, int phase)
{
    if (phase == 1 || phase == 2) {
        for (unsigned i = 0; i < TARGETS; i++) {
            struct range r = target(l, phase, i);
            for (uint64_t j = 0; j < r.len; j++)
                l->model[r.off + j] = new_byte(phase, r.off + j);
        }
    } else if (phase == 3) {
        for (uint64_t o = l->size; o < l->new_size; o++)
            l->model[o] = 0;
        for (uint64_t o = l->size; o < l->size + TAIL; o++)
            l->model[o] = new_byte(3, o);
        for (uint64_t o = l->new_size - 100; o < l->new_size; o++)
            l->model[o] = (uint8_t)~pattern_at(o);
    }
}

static void layout_init(struct layout *l, uint64_t size)
{
    l->size = size;
    l->new_size = size + TAIL + 3 * PAGE + 123;
    l->model = malloc(l->new_size);
    CHECK(l->model, "malloc");
    pattern_fill(l->model, 0, size);
    memset(l->model + size, 0, l->new_size - size);
}

/* The mapping at [off, off + len) equals pread() of the file and the model. */
static void check_range(const char *who, const char *what, int fd, const uint8_t *map,
                        const struct layout *l, uint64_t off, uint64_t len)
{
    uint8_t buf[PAGE];
    for (uint64_t done = 0; done < len;) {
        size_t n = len - done < PAGE ? (size_t)(len - done) : PAGE;
        CHECK(pread(fd, buf, n, (off_t)(off + done)) == (ssize_t)n, "%s: pread at %lu: %s", who,
              (unsigned long)(off + done), strerror(errno));
        for (size_t i = 0; i < n; i++) {
            uint64_t o = off + done + i;
            CHECK(map[o] == l->model[o], "%s, %s: mapping byte at %lu is %#x, the writer wrote %#x"
                  " (pread of the file gives %#x)", who, what, (unsigned long)o, map[o],
                  l->model[o], buf[i]);
            CHECK(buf[i] == l->model[o], "%s, %s: pread byte at %lu is %#x, the writer wrote %#x",
                  who, what, (unsigned long)o, buf[i], l->model[o]);
        }
        done += n;
    }
}

static void check_targets(const char *what, int fd, const uint8_t *map, const struct layout *l,
                          int phase)
{
    for (unsigned i = 0; i < TARGETS; i++) {
        struct range r = target(l, phase, i);
        check_range("reader", what, fd, map, l, r.off, r.len);
    }
}

/* Reads every target range so that its blocks are resident in the reader's view. */
static uint64_t touch_targets(const uint8_t *map, const struct layout *l)
{
    uint64_t sum = 0;
    for (int phase = 1; phase <= 2; phase++)
        for (unsigned i = 0; i < TARGETS; i++) {
            struct range r = target(l, phase, i);
            for (uint64_t j = 0; j < r.len; j++)
                sum += map[r.off + j];
        }
    return sum;
}

static int reader(const char *path, uint64_t size, int in, int out)
{
    group_alarm(50);
    group_catch_sigbus();
    struct layout l;
    layout_init(&l, size);
    int fd = open_ro(path);
    uint8_t *map = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
    CHECK(map != MAP_FAILED, "reader: mmap: %s", strerror(errno));
    bool managed = is_managed(map);
    check_range("reader", "before any change", fd, map, &l, 0, size);
    touch_targets(map, &l);
    group_send(out, 'R');

    group_expect(in, '1', "the writer's stores");
    model_apply(&l, 1);
    check_targets("stores + msync by the writer", fd, map, &l, 1);
    check_targets("ranges not yet written", fd, map, &l, 2);
    touch_targets(map, &l);
    group_send(out, 'R');

    group_expect(in, '2', "the writer's pwrites");
    model_apply(&l, 2);
    check_targets("pwrite by the writer", fd, map, &l, 2);
    check_targets("stores + msync by the writer, again", fd, map, &l, 1);
    group_send(out, 'R');

    group_expect(in, '3', "the writer's ftruncate and tail");
    model_apply(&l, 3);
    struct stat st;
    CHECK(fstat(fd, &st) == 0 && (uint64_t)st.st_size == l.new_size,
          "reader: fstat gives size %ld, the writer made it %lu", (long)st.st_size,
          (unsigned long)l.new_size);
    uint64_t mapped = (l.new_size + PAGE - 1) / PAGE * PAGE;
    uint8_t *grown = mmap(NULL, mapped, PROT_READ, MAP_SHARED, fd, 0);
    CHECK(grown != MAP_FAILED, "reader: mmap of the grown file: %s", strerror(errno));
    managed = managed && is_managed(grown);
    check_range("reader", "the tail after ftruncate (new mapping)", fd, grown, &l, size,
                l.new_size - size);
    for (uint64_t o = l.new_size; o < mapped; o++)
        CHECK(grown[o] == 0, "reader: byte %lu past the new end of file reads %#x, not 0",
              (unsigned long)o, grown[o]);
    check_targets("stores after ftruncate (first mapping)", fd, map, &l, 1);
    check_targets("pwrites after ftruncate (first mapping)", fd, map, &l, 2);
    check_range("reader", "the whole grown file (new mapping)", fd, grown, &l, 0, l.new_size);
    check_range("reader", "the whole first mapping", fd, map, &l, 0, size);
    if (group_preloaded())
        CHECK(managed, "reader: its mappings are not served by the shim: %s", maps_line(map));
    group_send(out, 'D');
    return 0;
}

static int writer(const char *path, uint64_t size, int in, int out)
{
    group_alarm(50);
    group_catch_sigbus();
    struct layout l;
    layout_init(&l, size);
    int fd = open(path, O_RDWR);
    CHECK(fd >= 0, "writer: open: %s", strerror(errno));
    group_expect(in, 'R', "the reader's first scan");
    uint8_t *map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHECK(map != MAP_FAILED, "writer: mmap: %s", strerror(errno));
    bool managed = is_managed(map);

    for (unsigned i = 0; i < TARGETS; i++) { /* 1: stores, then msync */
        struct range r = target(&l, 1, i);
        for (uint64_t j = 0; j < r.len; j++)
            map[r.off + j] = new_byte(1, r.off + j);
    }
    CHECK(msync(map, size, MS_SYNC) == 0, "writer: msync: %s", strerror(errno));
    model_apply(&l, 1);
    group_send(out, '1');

    group_expect(in, 'R', "the reader's checks of the stores");
    for (unsigned i = 0; i < TARGETS; i++) { /* 2: pwrite */
        struct range r = target(&l, 2, i);
        uint8_t buf[512];
        for (uint64_t j = 0; j < r.len; j++)
            buf[j] = new_byte(2, r.off + j);
        CHECK(pwrite(fd, buf, r.len, (off_t)r.off) == (ssize_t)r.len, "writer: pwrite: %s",
              strerror(errno));
    }
    model_apply(&l, 2);
    check_range("writer", "its own pwrites", fd, map, &l, 0, size);
    group_send(out, '2');

    group_expect(in, 'R', "the reader's checks of the pwrites");
    CHECK(ftruncate(fd, (off_t)l.new_size) == 0, "writer: ftruncate: %s", strerror(errno));
    uint64_t mapped = (l.new_size + PAGE - 1) / PAGE * PAGE;
    uint8_t *grown = mmap(NULL, mapped, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHECK(grown != MAP_FAILED, "writer: mmap of the grown file: %s", strerror(errno));
    managed = managed && is_managed(grown);
    for (uint64_t o = size; o < size + TAIL; o++)
        grown[o] = new_byte(3, o);
    uint8_t last[100];
    for (unsigned j = 0; j < 100; j++)
        last[j] = (uint8_t)~pattern_at(l.new_size - 100 + j);
    CHECK(pwrite(fd, last, 100, (off_t)(l.new_size - 100)) == 100, "writer: pwrite tail: %s",
          strerror(errno));
    CHECK(msync(grown, mapped, MS_SYNC) == 0, "writer: msync: %s", strerror(errno));
    model_apply(&l, 3);
    check_range("writer", "its own tail", fd, grown, &l, 0, l.new_size);
    group_send(out, '3');

    group_expect(in, 'D', "the reader's checks of the tail");
    if (group_preloaded())
        CHECK(managed, "writer: its mappings are not served by the shim: %s", maps_line(map));
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 7 && !strcmp(argv[1], "--role")) {
        uint64_t size = strtoull(argv[4], NULL, 10);
        int in = atoi(argv[5]), out = atoi(argv[6]);
        return !strcmp(argv[2], "reader") ? reader(argv[3], size, in, out)
                                          : writer(argv[3], size, in, out);
    }
    const char *dir = group_setup(argc, argv, "group_coherence");
    group_alarm(60);
    uint64_t budget = env_size("UFFDMAP_BUFSIZE", 4 * MiB);
    uint64_t size = 2 * budget;
    char *path = make_file(dir, "group_coherence.bin", size);
    int to_reader[2], to_writer[2];
    CHECK(pipe2(to_reader, O_CLOEXEC) == 0 && pipe2(to_writer, O_CLOEXEC) == 0, "pipe");
    char sz[32], r_in[16], r_out[16], w_in[16], w_out[16];
    snprintf(sz, sizeof sz, "%lu", (unsigned long)size);
    snprintf(r_in, sizeof r_in, "%d", to_reader[0]);
    snprintf(r_out, sizeof r_out, "%d", to_writer[1]);
    snprintf(w_in, sizeof w_in, "%d", to_writer[0]);
    snprintf(w_out, sizeof w_out, "%d", to_reader[1]);
    pid_t r = group_spawn((char *[]){"--role", "reader", path, sz, r_in, r_out, NULL},
                          to_reader[0], to_writer[1]);
    pid_t w = group_spawn((char *[]){"--role", "writer", path, sz, w_in, w_out, NULL},
                          to_writer[0], to_reader[1]);
    close(to_reader[0]);
    close(to_reader[1]);
    close(to_writer[0]);
    close(to_writer[1]);
    bool ok = group_wait(r, "reader");
    ok = group_wait(w, "writer") && ok;
    CHECK(ok, "a role process failed");

    /* The file itself, read here with no mapping of it. */
    struct layout l;
    layout_init(&l, size);
    for (int phase = 1; phase <= 3; phase++)
        model_apply(&l, phase);
    int fd = open_ro(path);
    struct stat st;
    CHECK(fstat(fd, &st) == 0 && (uint64_t)st.st_size == l.new_size, "file size %ld",
          (long)st.st_size);
    uint8_t *buf = malloc(l.new_size);
    CHECK(pread(fd, buf, l.new_size, 0) == (ssize_t)l.new_size, "pread");
    for (uint64_t o = 0; o < l.new_size; o++)
        CHECK(buf[o] == l.model[o], "file byte %lu is %#x, want %#x", (unsigned long)o, buf[o],
              l.model[o]);
    close(fd);
    unlink(path);
    printf("group_coherence: stores + msync, pwrite and ftruncate + tail by one process were seen "
           "at once by another's mapping (%s)\n",
           group_preloaded() ? "one group cache" : "kernel mmap");
    return 0;
}
