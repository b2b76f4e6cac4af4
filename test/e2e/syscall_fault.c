/* A system call that reads from a managed page not yet filled (write(fd, mapped_ptr, n)) is
 * served, not failed with EFAULT: the shim handles kernel-mode faults. */
#include "common.h"

int main(int argc, char **argv)
{
    const char *dir = data_dir(argc, argv);
    uint64_t size = 64 * PAGE;
    char *path = make_file(dir, "syscall_fault.bin", size);
    int fd = open_ro(path);
    const uint8_t *p = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
    CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
    expect_managed(p);

    char out_path[4096];
    snprintf(out_path, sizeof out_path, "%s/syscall_fault.out", dir);
    int out = open(out_path, O_CREAT | O_TRUNC | O_RDWR, 0644);
    CHECK(out >= 0, "open %s", out_path);
    /* Nothing of the mapping has been touched from user space. */
    ssize_t n = write(out, p + 5 * PAGE + 10, 20 * PAGE);
    CHECK(n == (ssize_t)(20 * PAGE), "write from the mapping returned %zd (%s)", n,
          strerror(errno));
    uint8_t buf[PAGE];
    for (uint64_t i = 0; i < 20; i++) {
        CHECK(pread(out, buf, PAGE, (off_t)(i * PAGE)) == (ssize_t)PAGE, "pread");
        for (size_t j = 0; j < PAGE; j++)
            CHECK(buf[j] == pattern_at(5 * PAGE + 10 + i * PAGE + j), "byte %lu written wrong",
                  (unsigned long)(i * PAGE + j));
    }
    close(out);
    unlink(out_path);
    munmap((void *)p, size);
    unlink(path);
    printf("syscall_fault: write() from an unfilled managed page succeeded with the file's bytes\n");
    return 0;
}
