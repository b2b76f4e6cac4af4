/* A daemon that closed its stderr and opened a data file that got descriptor 2: the shim's
 * notices must not be written into that file. A mapping the shim leaves to the kernel with a
 * notice (PROT_EXEC) is made after the reopen; the data file must keep exactly its bytes, as
 * it does without the preload. */
#include "common.h"

int main(int argc, char **argv)
{
    const char *dir = data_dir(argc, argv);
    char *mapped = make_file(dir, "stderr_reused.bin", 16 * PAGE);
    char *data = make_file(dir, "stderr_reused.data", 2 * PAGE);
    int fd = open_ro(mapped);
    CHECK(close(STDERR_FILENO) == 0, "close(2)");
    int dfd = open(data, O_RDWR);
    CHECK(dfd == STDERR_FILENO, "the data file got descriptor %d, not 2", dfd);
    void *p = mmap(NULL, 16 * PAGE, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0);
    CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
    CHECK(*(volatile uint8_t *)p == pattern_at(0), "mapped bytes");
    uint8_t buf[2 * PAGE];
    CHECK(pread(dfd, buf, sizeof buf, 0) == (ssize_t)sizeof buf, "pread");
    for (size_t i = 0; i < sizeof buf; i++)
        CHECK(buf[i] == pattern_at(i), "data file byte %zu overwritten (%u)", i, buf[i]);
    struct stat st;
    CHECK(fstat(dfd, &st) == 0 && st.st_size == (off_t)sizeof buf, "data file size %ld",
          (long)st.st_size);
    printf("stderr_reused: the data file at descriptor 2 kept its bytes\n");
    return 0;
}
