/* mlockall() and the mappings of managed files, against the kernel's own mapping of the same
 * file in the same process (raw system calls, which the shim does not see): after
 * mlockall(MCL_FUTURE) a new mapping reads the file and keeps its stores (the kernel populates
 * a new mapping at once, which must not happen to a range before the shim registers it); after
 * munlockall() mappings are served again; after mlockall(MCL_CURRENT | MCL_ONFAULT) the pages
 * of a mapping made before stay resident under pressure, as locked pages do. MCL_ONFAULT keeps
 * a regression from populating the shim's own (lazily backed, huge) memory. An alarm turns a
 * hang into a failure. E2E_NO_MANAGED_CHECK=1 runs it without the preload. */
#include <sys/syscall.h>

#include "common.h"

#define N 64
#define PRESSURE (32 * MiB) /* twice the tests' budget */

static bool check_managed = true;

/* A mapping made under MCL_FUTURE reads what the kernel's does and keeps its stores. */
static void future_mapping(int rw, int type, uint8_t tag)
{
    uint8_t *k = kernel_map(N * PAGE, PROT_READ | PROT_WRITE, type, rw);
    uint8_t *p = mmap(NULL, N * PAGE, PROT_READ | PROT_WRITE, type, rw, 0);
    CHECK(p != MAP_FAILED, "mmap under MCL_FUTURE: %s", strerror(errno));
    CHECK(!memcmp(p, k, N * PAGE), "%s mapping under MCL_FUTURE: bytes differ from the kernel's",
          type == MAP_SHARED ? "shared" : "private");
    expect_file_bytes(rw, p, 0, N * PAGE);
    for (size_t pg = 0; pg < N; pg += 5)
        p[pg * PAGE + 11] = tag;
    for (size_t pg = 0; pg < N; pg += 5) {
        CHECK(p[pg * PAGE + 11] == tag, "store to page %zu lost", pg);
        if (type == MAP_SHARED)
            CHECK(k[pg * PAGE + 11] == tag, "store to page %zu not in the file's pages", pg);
        else
            CHECK(k[pg * PAGE + 11] != tag, "private store to page %zu shows elsewhere", pg);
    }
    CHECK(munmap(p, N * PAGE) == 0, "munmap");
    syscall(SYS_munmap, k, N * PAGE);
}

static void expect_resident(const uint8_t *p, size_t len, const char *what)
{
    unsigned char vec[N];
    CHECK(mincore((void *)p, len, vec) == 0, "mincore: %s", strerror(errno));
    for (size_t pg = 0; pg < len / PAGE; pg++)
        CHECK(vec[pg] & 1, "%s: locked page %zu is not resident", what, pg);
}

int main(int argc, char **argv)
{
    alarm(120);
    const char *dir = data_dir(argc, argv);
    const char *nm = getenv("E2E_NO_MANAGED_CHECK");
    check_managed = !(nm && *nm == '1');
    char *path = make_file(dir, "mlock_future.bin", N * PAGE);
    int rw = open(path, O_RDWR);
    CHECK(rw >= 0, "open: %s", strerror(errno));

    /* A mapping before: the shim is at work when mlockall() comes. */
    uint8_t *before = mmap(NULL, N * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, rw, 0);
    CHECK(before != MAP_FAILED, "mmap: %s", strerror(errno));
    if (check_managed)
        expect_managed(before);
    expect_file_bytes(rw, before, 0, N * PAGE);

    if (mlockall(MCL_FUTURE)) {
        printf("mlock_future: mlockall() not allowed here (%s): skipped\n", strerror(errno));
        return 77;
    }
    future_mapping(rw, MAP_SHARED, 0xa1);
    future_mapping(rw, MAP_PRIVATE, 0xa2);
    /* The mapping made before sees the stores made under MCL_FUTURE, as on the kernel. */
    CHECK(before[5 * PAGE + 11] == 0xa1, "store made under MCL_FUTURE not seen");
    expect_file_bytes(rw, before, 0, N * PAGE);
    CHECK(munlockall() == 0, "munlockall: %s", strerror(errno));

    /* Another file is served again; the one mapped meanwhile may stay the kernel's. */
    char *path2 = make_file(dir, "mlock_future2.bin", N * PAGE);
    int rw2 = open(path2, O_RDWR);
    CHECK(rw2 >= 0, "open: %s", strerror(errno));
    uint8_t *after = mmap(NULL, N * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, rw2, 0);
    CHECK(after != MAP_FAILED, "mmap: %s", strerror(errno));
    if (check_managed)
        expect_managed(after);
    expect_file_bytes(rw2, after, 0, N * PAGE);
    uint8_t *again = mmap(NULL, N * PAGE, PROT_READ, MAP_SHARED, rw, 0);
    CHECK(again != MAP_FAILED, "mmap: %s", strerror(errno));
    CHECK(again[5 * PAGE + 11] == 0xa1, "store made under MCL_FUTURE lost");
    expect_file_bytes(rw, again, 0, N * PAGE);

    /* Locked where it is: resident whatever else is read, and every store kept. */
    uint8_t *k = kernel_map(N * PAGE, PROT_READ, MAP_SHARED, rw2);
    CHECK(mlockall(MCL_CURRENT | MCL_ONFAULT) == 0, "mlockall(MCL_CURRENT): %s",
          strerror(errno));
    for (size_t pg = 0; pg < N; pg++)
        after[pg * PAGE + 12] = 0xb1;
    pressure(dir, "mlock_future_pressure.bin", PRESSURE);
    expect_resident(after, N * PAGE, "mapping made before mlockall(MCL_CURRENT)");
    for (size_t pg = 0; pg < N; pg++)
        CHECK(after[pg * PAGE + 12] == 0xb1 && k[pg * PAGE + 12] == 0xb1,
              "store to page %zu lost", pg);
    CHECK(munlockall() == 0, "munlockall: %s", strerror(errno));
    CHECK(msync(after, N * PAGE, MS_SYNC) == 0, "msync: %s", strerror(errno));
    expect_file_bytes(rw2, after, 0, N * PAGE);
    uint8_t b;
    CHECK(pread(rw2, &b, 1, 7 * PAGE + 12) == 1 && b == 0xb1, "store not in the file");
    printf("mlock_future: mappings under mlockall() read and keep what the kernel's do\n");
    return 0;
}
