/* Past the end of the file: the rest of the last page reads zero, and a whole page past EOF
 * raises SIGBUS with BUS_ADRERR at the faulting address, as the kernel does. */
#include <setjmp.h>
#include <signal.h>

#include "common.h"

static sigjmp_buf jump;
static volatile siginfo_t caught;

static void on_sigbus(int sig, siginfo_t *info, void *ctx)
{
    (void)sig;
    (void)ctx;
    caught = *info;
    siglongjmp(jump, 1);
}

static void expect_sigbus(const volatile uint8_t *addr)
{
    memset((void *)&caught, 0, sizeof caught);
    if (sigsetjmp(jump, 1) == 0) {
        uint8_t v = *addr;
        CHECK(0, "read at %p past EOF returned %u instead of raising SIGBUS", (void *)addr, v);
    }
    CHECK(caught.si_signo == SIGBUS, "signal %d", caught.si_signo);
    CHECK(caught.si_code == BUS_ADRERR, "si_code %d, expected BUS_ADRERR", caught.si_code);
    CHECK(caught.si_addr == (void *)addr, "si_addr %p, expected %p", caught.si_addr,
          (void *)addr);
}

int main(int argc, char **argv)
{
    const char *dir = data_dir(argc, argv);
    uint64_t size = 3 * PAGE + 100;
    char *path = make_file(dir, "sigbus_eof.bin", size);
    int fd = open_ro(path);
    struct sigaction sa = {.sa_sigaction = on_sigbus, .sa_flags = SA_SIGINFO};
    sigaction(SIGBUS, &sa, NULL);

    size_t len = 40 * PAGE; /* beyond one 64 KiB block too */
    const volatile uint8_t *p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
    CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
    expect_managed((const void *)p);
    /* Fault past EOF first, before any page of the file is filled. */
    expect_sigbus(p + 20 * PAGE + 7);
    expect_file_bytes(fd, (const uint8_t *)p, 0, size);
    for (uint64_t off = size; off < 4 * PAGE; off++)
        CHECK(p[off] == 0, "byte %lu past EOF is %u", (unsigned long)off, p[off]);
    expect_sigbus(p + 4 * PAGE);
    expect_sigbus(p + 39 * PAGE + 4095);
    munmap((void *)p, len);

    /* A mapping that starts past EOF. */
    p = mmap(NULL, 4 * PAGE, PROT_READ, MAP_PRIVATE, fd, 16 * PAGE);
    CHECK(p != MAP_FAILED, "mmap past EOF: %s", strerror(errno));
    expect_sigbus(p + PAGE);
    munmap((void *)p, 4 * PAGE);
    unlink(path);
    printf("sigbus_eof: zero tail and SIGBUS/BUS_ADRERR as the kernel\n");
    return 0;
}
