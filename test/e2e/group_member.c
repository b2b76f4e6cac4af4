/* Helper of group_member_killed.sh: one role per run.
 *
 *   group_member make FILE SIZE
 *       FILE afresh: its 8-byte word w holds w (pass 0)
 *   group_member run FILE INDEX NPROC PASSES READY ACK
 *       map FILE MAP_SHARED read-write; PASSES times: store pass k's value into every word this
 *       member owns (slices of 512 bytes, slice s owned by member s % NPROC, so every 4 KiB page
 *       has words of every member) in a quarter of the pages (chosen by k, the page and the
 *       member), reading a word at a random place of the file after each slice (it must be
 *       some pass's value of that word: nothing else is ever stored); then read back all its
 *       own words (exactly what it stored last: nobody else stores them), msync(MS_SYNC) and
 *       acknowledge: ACK holds the last pass made durable. READY gets "PID managed|kernel" once
 *       the file is mapped.
 *   group_member verify FILE NPROC PASSES VICTIM ACKED
 *       every word of a member other than VICTIM holds the value its owner stored last; every
 *       word of VICTIM holds the one it stored last by pass ACKED or by pass ACKED+1 (a store of
 *       an unacknowledged pass may or may not have reached the file), and nothing else
 *
 * Word w's value in pass k is k << 40 | w. */
#include <sys/syscall.h>

#include "common.h"

#define SLICE 512
#define WORDS_PER_SLICE (SLICE / 8)
#define PASS_SHIFT 40
#define WORD_MASK ((1ULL << PASS_SHIFT) - 1)

static uint64_t value(uint64_t pass, uint64_t w)
{
    return pass << PASS_SHIFT | w;
}

/* Pass k stores into the member's words of a page in a quarter of the pages. */
static bool chosen(uint64_t k, uint64_t page, unsigned member)
{
    return mix64(k << 40 ^ page << 8 ^ member ^ 0x5eed) % 4 == 0;
}

/* The last pass <= k that stored the member's words of the page; 0: none. */
static uint64_t last_pass(uint64_t k, uint64_t page, unsigned member)
{
    for (; k > 0; k--)
        if (chosen(k, page, member))
            return k;
    return 0;
}

static unsigned owner(uint64_t w, unsigned nproc)
{
    return (unsigned)((w / WORDS_PER_SLICE) % nproc);
}

static uint64_t file_size(int fd)
{
    struct stat st;
    CHECK(fstat(fd, &st) == 0, "fstat: %s", strerror(errno));
    return (uint64_t)st.st_size;
}

static void write_small(const char *path, const char *text)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_CREAT | O_TRUNC | O_WRONLY, 0644);
    CHECK(fd >= 0, "%s: %s", tmp, strerror(errno));
    CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text), "write %s", tmp);
    close(fd);
    CHECK(rename(tmp, path) == 0, "rename %s: %s", path, strerror(errno));
}

static int make(const char *path, uint64_t size)
{
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
    CHECK(fd >= 0, "open %s: %s", path, strerror(errno));
    static uint64_t buf[1 << 17];
    for (uint64_t w = 0; w < size / 8;) {
        uint64_t n = size / 8 - w < (1 << 17) ? size / 8 - w : (1 << 17);
        for (uint64_t i = 0; i < n; i++)
            buf[i] = value(0, w + i);
        CHECK(write(fd, buf, n * 8) == (ssize_t)(n * 8), "write %s", path);
        w += n;
    }
    close(fd);
    return 0;
}

static int run(const char *path, unsigned index, unsigned nproc, uint64_t passes,
               const char *ready, const char *ack)
{
    alarm(50); /* a member that hangs dies, and the test says so */
    int fd = open(path, O_RDWR);
    CHECK(fd >= 0, "open %s: %s", path, strerror(errno));
    uint64_t size = file_size(fd), words = size / 8, slices = words / WORDS_PER_SLICE;
    volatile uint64_t *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
    char text[64];
    snprintf(text, sizeof text, "%d %s\n", (int)getpid(),
             is_managed((const void *)p) ? "managed" : "kernel");
    write_small(ready, text);
    uint64_t rng = mix64(getpid() * 7919ULL + index);
    for (uint64_t k = 1; k <= passes; k++) {
        /* Own slices, from a different place each pass, so members collide on blocks. */
        uint64_t first = mix64(rng + k) % slices;
        for (uint64_t n = 0; n < slices; n++) {
            uint64_t s = (first + n) % slices;
            if (s % nproc != index || !chosen(k, s * SLICE / PAGE, index))
                continue;
            for (uint64_t w = s * WORDS_PER_SLICE; w < (s + 1) * WORDS_PER_SLICE; w++)
                p[w] = value(k, w);
            uint64_t r = mix64(rng ^ (k << 32 | n)) % words, v = p[r];
            CHECK((v & WORD_MASK) == r && (v >> PASS_SHIFT) < (1ULL << 20),
                  "member %u, pass %lu: word %lu (of member %u) reads %#lx, which no one stored",
                  index, (unsigned long)k, (unsigned long)r, owner(r, nproc), (unsigned long)v);
        }
        for (uint64_t s = index; s < slices; s += nproc) {
            uint64_t want = last_pass(k, s * SLICE / PAGE, index);
            for (uint64_t w = s * WORDS_PER_SLICE; w < (s + 1) * WORDS_PER_SLICE; w++)
                CHECK(p[w] == value(want, w),
                      "member %u, pass %lu: its own word %lu reads %#lx, it stored %#lx",
                      index, (unsigned long)k, (unsigned long)w, (unsigned long)p[w],
                      (unsigned long)value(want, w));
        }
        CHECK(msync((void *)p, size, MS_SYNC) == 0, "msync: %s", strerror(errno));
        snprintf(text, sizeof text, "%lu\n", (unsigned long)k);
        write_small(ack, text);
    }
    return 0;
}

static int verify(const char *path, unsigned nproc, uint64_t passes, unsigned victim,
                  uint64_t acked)
{
    int fd = open_ro(path);
    uint64_t size = file_size(fd), words = size / 8;
    uint64_t *buf = malloc(size);
    CHECK(buf, "malloc");
    for (uint64_t done = 0; done < size;) {
        ssize_t n = syscall(SYS_pread64, fd, (uint8_t *)buf + done, size - done, (off_t)done);
        CHECK(n > 0, "pread: %s", strerror(errno));
        done += (uint64_t)n;
    }
    uint64_t bad = 0, old = 0, fresh = 0;
    for (uint64_t w = 0; w < words; w++) {
        unsigned o = owner(w, nproc);
        uint64_t v = buf[w], page = w * 8 / PAGE;
        bool good;
        if (o != victim) {
            good = v == value(last_pass(passes, page, o), w);
        } else {
            uint64_t a = last_pass(acked, page, o), b = last_pass(acked + 1, page, o);
            good = v == value(a, w) || v == value(b, w);
            old += a != b && v == value(a, w);
            fresh += a != b && v == value(b, w);
        }
        if (!good && bad++ < 5)
            fprintf(stderr, "word %lu (member %u%s) holds %#lx: pass %lu of word %lu; want pass "
                    "%lu%s\n", (unsigned long)w, o, o == victim ? ", killed" : "",
                    (unsigned long)v, (unsigned long)(v >> PASS_SHIFT),
                    (unsigned long)(v & WORD_MASK),
                    (unsigned long)last_pass(o == victim ? acked : passes, page, o),
                    o == victim ? " or the next pass's" : "");
    }
    printf("%lu words wrong; of the killed member's words that pass %lu was storing, %lu still "
           "hold pass %lu or before, %lu the new value\n", (unsigned long)bad,
           (unsigned long)acked + 1, (unsigned long)old, (unsigned long)acked, (unsigned long)fresh);
    return bad != 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "make"))
        return make(argv[2], strtoull(argv[3], NULL, 10));
    if (argc == 8 && !strcmp(argv[1], "run"))
        return run(argv[2], (unsigned)atoi(argv[3]), (unsigned)atoi(argv[4]),
                   strtoull(argv[5], NULL, 10), argv[6], argv[7]);
    if (argc == 7 && !strcmp(argv[1], "verify"))
        return verify(argv[2], (unsigned)atoi(argv[3]), strtoull(argv[4], NULL, 10),
                      (unsigned)atoi(argv[5]), strtoull(argv[6], NULL, 10));
    fprintf(stderr, "usage: %s make FILE SIZE | run FILE INDEX NPROC PASSES READY ACK | "
            "verify FILE NPROC PASSES VICTIM ACKED\n", argv[0]);
    return 2;
}
