/* A thousand files mapped at once under RLIMIT_NOFILE 1024, each descriptor closed once its
 * file is mapped: the kernel's mappings hold no descriptor, so every open() succeeds, and the
 * program can still open most of its limit. The shim's descriptors must not take the
 * program's: past its share, further files go to the kernel. */
#include <sys/resource.h>

#include "common.h"

#define FILES 1000
#define LIMIT 1024

int main(int argc, char **argv)
{
    alarm(240);
    const char *dir = data_dir(argc, argv);
    struct rlimit rl = {LIMIT, LIMIT};
    CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0, "setrlimit: %s", strerror(errno));
    static uint8_t *maps[FILES];
    static char *paths[FILES];
    int managed = 0;
    for (int i = 0; i < FILES; i++) {
        char name[32];
        snprintf(name, sizeof name, "many_files.%d", i);
        paths[i] = make_file(dir, name, PAGE);
        int fd = open(paths[i], O_RDONLY);
        CHECK(fd >= 0, "open of file %d: %s", i, strerror(errno));
        maps[i] = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, 0);
        CHECK(maps[i] != MAP_FAILED, "mmap of file %d: %s", i, strerror(errno));
        CHECK(close(fd) == 0, "close");
        managed += is_managed(maps[i]);
    }
    CHECK(managed > 0, "no file was served by the shim");
    for (int i = 0; i < FILES; i++)
        CHECK(maps[i][5] == pattern_at(5), "file %d: byte", i);
    /* Three quarters of the limit, at least, are the program's. */
    static int fds[LIMIT];
    int n = 0;
    while (n < LIMIT && (fds[n] = open("/dev/null", O_RDONLY)) >= 0)
        n++;
    CHECK(n >= LIMIT * 3 / 4 - 3, "only %d descriptors could be opened: %s", n, strerror(errno));
    while (n > 0)
        close(fds[--n]);
    for (int i = 0; i < FILES; i++) {
        munmap(maps[i], PAGE);
        unlink(paths[i]);
    }
    printf("many_files: %d files mapped (%d by the shim) under RLIMIT_NOFILE %d\n", FILES, managed,
           LIMIT);
    return 0;
}
