/* A UFFDMAP_PATHS entry with its own budget share: scanning a big file under a share evicts
 * only that file's pages, while another file's resident pages stay (the shim's per-file
 * statistics count no eviction for it). share.sh runs it with and without a share on the big
 * file. */
#include "common.h"

int main(int argc, char **argv)
{
    const char *dir = data_dir(argc, argv);
    uint64_t budget = env_size("UFFDMAP_BUFSIZE", 16 * MiB);
    char *small_path = make_file(dir, "share_small.bin", budget / 2);
    char *big_path = make_file(dir, "share_big.bin", 4 * budget);
    int small_fd = open_ro(small_path), big_fd = open_ro(big_path);
    const uint8_t *small = mmap(NULL, budget / 2, PROT_READ, MAP_SHARED, small_fd, 0);
    const uint8_t *big = mmap(NULL, 4 * budget, PROT_READ, MAP_SHARED, big_fd, 0);
    CHECK(small != MAP_FAILED && big != MAP_FAILED, "mmap");
    expect_managed(small);
    expect_managed(big);
    expect_file_bytes(small_fd, small, 0, budget / 2); /* all resident */
    const volatile uint8_t *scan = big;
    for (uint64_t off = 0; off < 4 * budget; off += PAGE)
        (void)scan[off];
    expect_file_bytes(big_fd, big + 4 * budget - 8 * PAGE, 4 * budget - 8 * PAGE, 8 * PAGE);
    expect_file_bytes(small_fd, small, 0, budget / 2);
    printf("share: scanned %lu MiB under a share\n", (unsigned long)(4 * budget >> 20));
    unlink(small_path);
    unlink(big_path);
    return 0;
}
